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
// The layout and the quota code are volume.ts's, shared with the CSI server's GlusterFS backend.
//
// Options: size (a Gluster directory quota, e.g. 10G; the Gluster volume needs quota
// enabled, which the plugin turns on), uid, gid (owner of the volume's root
// directory), mode (octal permissions of it).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, chownSync, chmodSync, renameSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PluginVolume, VolumePlugin } from '../sdk.js';
import { GLUSTER_NAME, GLUSTER_VOLUME_NAME, GlusterLayout, isMountPoint, parseSize, sh } from './volume.js';

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

export class GlusterfsPlugin implements VolumePlugin {
  readonly base: string;
  private readonly g: GlusterLayout;

  constructor(readonly cfg: GlusterConfig) {
    if (cfg.servers.length === 0) throw new Error('glusterfs plugin: at least one server is needed (--servers)');
    if (!GLUSTER_VOLUME_NAME.test(cfg.volume)) throw new Error(`glusterfs plugin: invalid Gluster volume name ${JSON.stringify(cfg.volume)}`);
    this.base = join(cfg.root, 'gluster');
    this.g = new GlusterLayout({ servers: cfg.servers, volume: cfg.volume, ...(cfg.glusterArgs ? { glusterArgs: cfg.glusterArgs } : {}) }, this.base);
  }

  private data(name: string): string { return this.g.data(name); }
  private meta(name: string): string { return this.g.meta(name); }
  private mountpoint(name: string): string { return join(this.cfg.root, 'mounts', name); }
  private statePath(name: string): string { return join(this.cfg.root, 'state', `${name}.json`); }

  private check(name: string): void {
    if (!GLUSTER_NAME.test(name)) throw new Error(`invalid volume name ${JSON.stringify(name)}`);
  }

  /** Mounts the Gluster volume (once). */
  ensureBase(): void {
    mkdirSync(join(this.cfg.root, 'log'), { recursive: true });
    this.g.mount(join(this.cfg.root, 'log', 'fuse.log'));
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
    if (size) this.g.setQuota(name, size);
    this.g.writeMeta(name, { createdAt: new Date().toISOString(), options });
  }

  remove(name: string): void {
    this.check(name);
    this.ensureBase();
    if (!existsSync(this.meta(name)) && !existsSync(this.data(name))) throw new Error(`no such volume: ${name}`);
    const ids = this.holders(name);
    if (ids.length) throw new Error(`volume ${name} is in use by ${ids.join(', ')}`);
    const m = this.g.readMeta(name);
    // A CSI volume belongs to the orchestrator that asked for it: it goes through DeleteVolume.
    if (m?.csi) throw new Error(`volume ${name} was made by stowage csi (CSI volume ${m.csi.name}); delete it through the orchestrator`);
    if (m?.options?.size) this.g.removeQuota(name);
    this.g.removeVolume(name);
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
    const m = this.g.readMeta(name);
    if (!m) return null;
    const mp = this.path(name);
    const v: PluginVolume = { name, status: { server: this.cfg.servers.join(','), volume: this.cfg.volume, directory: GlusterLayout.quotaPath(name), options: m.options ?? {}, mountedFor: this.holders(name), ...(m.csi ? { csi: m.csi } : {}) } };
    if (mp) v.mountpoint = mp;
    if (m.createdAt) v.createdAt = m.createdAt;
    return v;
  }

  list(): PluginVolume[] {
    this.ensureBase();
    return this.g.names().map((n) => { const mp = this.path(n); return mp ? { name: n, mountpoint: mp } : { name: n }; });
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
