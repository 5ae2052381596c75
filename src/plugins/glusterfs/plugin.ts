// plugin.ts: the GlusterFS volume plugin shipped with stowage, built on the SDK.
//
// One Gluster volume holds every stowage volume, each a directory in it:
//   <gluster>/volumes/NAME           the volume's data
//   <gluster>/.stowage/NAME.json     what it was made with (options, creation time)
// The Gluster volume is mounted once per host with the GlusterFS FUSE client
// (`mount -t glusterfs server:/VOLUME <root>/gluster`, other servers as
// backup-volfile-servers), on first need. A Mount binds the volume's directory onto
// <root>/mounts/NAME (its own mount, so the container sees only its volume) and
// returns that path; the bind goes with the last Unmount. Which container ids hold a
// volume is kept in <root>/state/NAME.json, so a restarted plugin still knows.
// Scope is global: every host that mounts the same Gluster volume sees the same data.
//
// Options: size (a Gluster directory quota, e.g. 10G; the Gluster volume needs quota
// enabled, which the plugin turns on), uid, gid (owner of the volume's root
// directory), mode (octal permissions of it).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, chownSync, chmodSync, renameSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PluginVolume, VolumePlugin } from '../sdk.js';

export interface GlusterConfig {
  /** Gluster servers (host or host:port is not supported by the FUSE client: hosts only). */
  servers: string[];
  /** The Gluster volume every stowage volume lives in. */
  volume: string;
  /** The plugin's folder on this host (mounts, state, logs). */
  root: string;
  /** Extra arguments for the gluster CLI (e.g. --glusterd-sock=…); default: --remote-host=<first server>. */
  glusterArgs?: string[];
}

const OPTIONS = ['size', 'uid', 'gid', 'mode'];
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function sh(cmd: string, args: string[], what: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new Error(`${what}: ${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what}: ${cmd} ${args.join(' ')} exited ${r.status}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

function isMountPoint(p: string): boolean {
  const want = p.replace(/\/+$/, '');
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4]?.replace(/\\040/g, ' ');
    if (mp === want) return true;
  }
  return false;
}

function parseSize(s: string): string {
  if (!/^\d+(\.\d+)?\s*([KMGTP]i?B?|[kmgtp]|B)?$/i.test(s.trim())) throw new Error(`invalid size ${JSON.stringify(s)}: use a number with an optional unit (K, M, G, T)`);
  const m = /^(\d+(?:\.\d+)?)\s*([KMGTP])?/i.exec(s.trim())!;
  return `${m[1]}${(m[2] ?? '').toUpperCase()}${m[2] ? 'B' : ''}`;
}

export class GlusterfsPlugin implements VolumePlugin {
  readonly base: string;

  constructor(readonly cfg: GlusterConfig) {
    if (cfg.servers.length === 0) throw new Error('glusterfs plugin: at least one server is needed (--servers)');
    if (!/^[A-Za-z0-9_.-]+$/.test(cfg.volume)) throw new Error(`glusterfs plugin: invalid Gluster volume name ${JSON.stringify(cfg.volume)}`);
    this.base = join(cfg.root, 'gluster');
  }

  private data(name: string): string { return join(this.base, 'volumes', name); }
  private meta(name: string): string { return join(this.base, '.stowage', `${name}.json`); }
  private mountpoint(name: string): string { return join(this.cfg.root, 'mounts', name); }
  private statePath(name: string): string { return join(this.cfg.root, 'state', `${name}.json`); }

  private check(name: string): void {
    if (!NAME.test(name)) throw new Error(`invalid volume name ${JSON.stringify(name)}`);
  }

  /** Mounts the Gluster volume (once). */
  ensureBase(): void {
    if (isMountPoint(this.base)) return;
    mkdirSync(this.base, { recursive: true, mode: 0o700 });
    mkdirSync(join(this.cfg.root, 'log'), { recursive: true });
    const [first, ...rest] = this.cfg.servers;
    const o = [`log-file=${join(this.cfg.root, 'log', 'fuse.log')}`];
    if (rest.length) o.push(`backup-volfile-servers=${rest.join(':')}`);
    sh('mount', ['-t', 'glusterfs', '-o', o.join(','), `${first}:/${this.cfg.volume}`, this.base], `mounting Gluster volume ${this.cfg.volume} from ${first}`);
    mkdirSync(join(this.base, 'volumes'), { recursive: true });
    mkdirSync(join(this.base, '.stowage'), { recursive: true });
  }

  private holders(name: string): string[] {
    try { return JSON.parse(readFileSync(this.statePath(name), 'utf8')).ids ?? []; } catch { return []; }
  }

  private setHolders(name: string, ids: string[]): void {
    const p = this.statePath(name);
    mkdirSync(join(this.cfg.root, 'state'), { recursive: true });
    if (ids.length === 0) { rmSync(p, { force: true }); return; }
    writeFileSync(p + '.tmp', JSON.stringify({ ids }));
    renameSync(p + '.tmp', p);
  }

  private gluster(args: string[]): string {
    const extra = this.cfg.glusterArgs ?? [`--remote-host=${this.cfg.servers[0]}`];
    return sh('gluster', [...extra, '--mode=script', ...args], 'gluster');
  }

  create(name: string, options: Record<string, string>): void {
    this.check(name);
    for (const k of Object.keys(options)) if (!OPTIONS.includes(k)) throw new Error(`invalid option ${JSON.stringify(k)}: the glusterfs driver takes ${OPTIONS.join(', ')}`);
    const num = (k: string) => {
      const v = options[k];
      if (v === undefined) return undefined;
      if (!/^\d+$/.test(v)) throw new Error(`option ${k} must be a number, not ${JSON.stringify(v)}`);
      return Number(v);
    };
    const uid = num('uid'), gid = num('gid');
    let mode: number | undefined;
    if (options.mode !== undefined) {
      if (!/^[0-7]{3,4}$/.test(options.mode)) throw new Error(`option mode must be octal permissions such as 0755, not ${JSON.stringify(options.mode)}`);
      mode = parseInt(options.mode, 8);
    }
    const size = options.size !== undefined ? parseSize(options.size) : undefined;
    this.ensureBase();
    const dir = this.data(name);
    if (existsSync(this.meta(name))) return; // made before (by this host or another): Create is idempotent, as Docker expects
    mkdirSync(dir, { recursive: true });
    if (uid !== undefined || gid !== undefined) chownSync(dir, uid ?? 0, gid ?? 0);
    if (mode !== undefined) chmodSync(dir, mode);
    if (size) {
      try { this.gluster(['volume', 'quota', this.cfg.volume, 'enable']); } catch (err) { if (!/already enabled/i.test((err as Error).message)) throw err; }
      this.gluster(['volume', 'quota', this.cfg.volume, 'limit-usage', `/volumes/${name}`, size]);
    }
    writeFileSync(this.meta(name), JSON.stringify({ createdAt: new Date().toISOString(), options }));
  }

  remove(name: string): void {
    this.check(name);
    this.ensureBase();
    if (!existsSync(this.meta(name)) && !existsSync(this.data(name))) throw new Error(`no such volume: ${name}`);
    const ids = this.holders(name);
    if (ids.length) throw new Error(`volume ${name} is in use by ${ids.join(', ')}`);
    let opts: Record<string, string> = {};
    try { opts = JSON.parse(readFileSync(this.meta(name), 'utf8')).options ?? {}; } catch { /* none */ }
    if (opts.size) { try { this.gluster(['volume', 'quota', this.cfg.volume, 'remove', `/volumes/${name}`]); } catch { /* the quota goes with the directory */ } }
    rmSync(this.data(name), { recursive: true, force: true });
    rmSync(this.meta(name), { force: true });
  }

  mount(name: string, id: string): string {
    this.check(name);
    this.ensureBase();
    if (!existsSync(this.meta(name))) throw new Error(`no such volume: ${name}`);
    const mp = this.mountpoint(name);
    if (!isMountPoint(mp)) {
      mkdirSync(mp, { recursive: true });
      sh('mount', ['--bind', this.data(name), mp], `binding volume ${name}`);
    }
    const ids = this.holders(name);
    if (!ids.includes(id)) this.setHolders(name, [...ids, id]);
    return mp;
  }

  unmount(name: string, id: string): void {
    this.check(name);
    const ids = this.holders(name).filter((x) => x !== id);
    this.setHolders(name, ids);
    if (ids.length > 0) return;
    const mp = this.mountpoint(name);
    if (isMountPoint(mp)) sh('umount', [mp], `unbinding volume ${name}`);
    try { rmdirSync(mp); } catch { /* not there */ }
  }

  path(name: string): string {
    this.check(name);
    return isMountPoint(this.mountpoint(name)) ? this.mountpoint(name) : '';
  }

  get(name: string): PluginVolume | null {
    this.check(name);
    this.ensureBase();
    let m: { createdAt?: string; options?: Record<string, string> };
    try { m = JSON.parse(readFileSync(this.meta(name), 'utf8')); } catch { return null; }
    const mp = this.path(name);
    const v: PluginVolume = { name, status: { server: this.cfg.servers.join(','), volume: this.cfg.volume, directory: `/volumes/${name}`, options: m.options ?? {}, mountedFor: this.holders(name) } };
    if (mp) v.mountpoint = mp;
    if (m.createdAt) v.createdAt = m.createdAt;
    return v;
  }

  list(): PluginVolume[] {
    this.ensureBase();
    let names: string[] = [];
    try { names = readdirSync(join(this.base, '.stowage')).filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -5)); } catch { /* none */ }
    return names.sort().map((n) => { const mp = this.path(n); return mp ? { name: n, mountpoint: mp } : { name: n }; });
  }

  capabilities(): { scope: 'global' } { return { scope: 'global' }; }

  /** On shutdown: unbind every volume and unmount the Gluster volume (lazily: containers keep their own binds). */
  shutdown(): void {
    let names: string[] = [];
    try { names = readdirSync(join(this.cfg.root, 'mounts')); } catch { /* none */ }
    for (const n of names) {
      const mp = this.mountpoint(n);
      if (isMountPoint(mp)) spawnSync('umount', ['-l', mp]);
      try { rmdirSync(mp); } catch { /* busy or gone */ }
    }
    if (isMountPoint(this.base)) spawnSync('umount', ['-l', this.base]);
  }
}
