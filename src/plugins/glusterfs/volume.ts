// volume.ts: one Gluster volume as stowage lays volumes out in it, shared by the
// Docker volume plugin (plugin.ts) and the CSI server's GlusterFS backend
// (csi/gluster.ts), so a volume either one makes is seen by the other:
//   <gluster>/volumes/NAME           a volume's data (a directory, with a Gluster quota for its size)
//   <gluster>/.stowage/NAME.json     what it was made with: { createdAt, options, csi? }
// `csi` is present on volumes the CSI server made (their CSI name and capacity); the
// Docker plugin lists them like its own and refuses to remove them (the orchestrator
// owns them). Mounting uses the GlusterFS FUSE client, the first server as the volfile
// server and the others as backup-volfile-servers; quotas use the gluster CLI.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../drivers/fsutil.js';
import { isMountPoint } from '../../drivers/mount.js';

/** Names of volumes inside the Gluster volume (Docker's volume name rule). */
export const GLUSTER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Gluster volume names and server host names (IPv4 or DNS; the FUSE client takes hosts, not ports). */
export const GLUSTER_VOLUME_NAME = /^[A-Za-z0-9_.-]+$/;
export const GLUSTER_HOST = /^[A-Za-z0-9][A-Za-z0-9.-]*$/;

export interface GlusterTarget {
  servers: string[];
  volume: string;
  /** Extra arguments for the gluster CLI (e.g. --glusterd-sock=…); default: --remote-host=<first server>. */
  glusterArgs?: string[];
}

export interface VolumeMeta {
  createdAt: string;
  options: Record<string, string>;
  /** Set on volumes made by `stowage csi`. */
  csi?: { name: string; capacity: number };
}

export function sh(cmd: string, args: string[], what: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new Error(`${what}: ${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what}: ${cmd} ${args.join(' ')} exited ${r.status}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

export { isMountPoint };

/** A size option ("10G", "512M", "1.5T") in the form the gluster CLI takes ("10GB"). */
export function parseSize(s: string): string {
  if (!/^\d+(\.\d+)?\s*([KMGTP]i?B?|[kmgtp]|B)?$/i.test(s.trim())) throw new Error(`invalid size ${JSON.stringify(s)}: use a number with an optional unit (K, M, G, T)`);
  const m = /^(\d+(?:\.\d+)?)\s*([KMGTP])?/i.exec(s.trim())!;
  return `${m[1]}${(m[2] ?? '').toUpperCase()}${m[2] ? 'B' : ''}`;
}

/** The argument list of a FUSE mount of the Gluster volume at target (log under logFile). */
export function glusterMountArgs(t: GlusterTarget, target: string, logFile: string, extra: readonly string[] = []): string[] {
  const [first, ...rest] = t.servers;
  const o = [`log-file=${logFile}`, ...extra];
  if (rest.length) o.push(`backup-volfile-servers=${rest.join(':')}`);
  return ['-t', 'glusterfs', '-o', o.join(','), `${first}:/${t.volume}`, target];
}

/** The stowage layout inside a Gluster volume mounted at `base`. */
export class GlusterLayout {
  constructor(readonly target: GlusterTarget, readonly base: string) {}

  data(name: string): string { return join(this.base, 'volumes', name); }
  meta(name: string): string { return join(this.base, '.stowage', `${name}.json`); }
  /** The directory's path as the gluster CLI names it (quotas). */
  static quotaPath(name: string): string { return `/volumes/${name}`; }

  /** Mounts the Gluster volume at base unless it is mounted already; makes the layout's folders. */
  mount(logFile: string): void {
    if (!isMountPoint(this.base)) {
      mkdirSync(this.base, { recursive: true, mode: 0o700 });
      sh('mount', glusterMountArgs(this.target, this.base, logFile), `mounting Gluster volume ${this.target.volume} from ${this.target.servers[0]}`);
    }
    mkdirSync(join(this.base, 'volumes'), { recursive: true });
    mkdirSync(join(this.base, '.stowage'), { recursive: true });
  }

  readMeta(name: string): VolumeMeta | null {
    try { return JSON.parse(readFileSync(this.meta(name), 'utf8')) as VolumeMeta; } catch { return null; }
  }

  writeMeta(name: string, m: VolumeMeta): void {
    // Staged under a name of this process's own: another node's controller may write the
    // same volume's metadata on the shared Gluster volume at this instant.
    writeFileAtomic(this.meta(name), JSON.stringify(m));
  }

  /** Volume names, from the metadata files (a directory without one is not a volume yet). */
  names(): string[] {
    try {
      return readdirSync(join(this.base, '.stowage')).filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -5)).filter((n) => GLUSTER_NAME.test(n)).sort();
    } catch { return []; }
  }

  private gluster(args: string[]): string {
    const extra = this.target.glusterArgs ?? [`--remote-host=${this.target.servers[0]}`];
    return sh('gluster', [...extra, '--mode=script', ...args], 'gluster');
  }

  /** Limits the directory of volume `name` to `size` (gluster form, e.g. "10GB"); turns quota on for the Gluster volume first. */
  setQuota(name: string, size: string): void {
    try { this.gluster(['volume', 'quota', this.target.volume, 'enable']); } catch (err) { if (!/already enabled/i.test((err as Error).message)) throw err; }
    this.gluster(['volume', 'quota', this.target.volume, 'limit-usage', GlusterLayout.quotaPath(name), size]);
  }

  /** Drops the directory's quota; a quota that is not there is fine (it also goes with the directory). */
  removeQuota(name: string): void {
    try { this.gluster(['volume', 'quota', this.target.volume, 'remove', GlusterLayout.quotaPath(name)]); } catch { /* none set */ }
  }

  /** Removes the volume's data and metadata (metadata last, so a half-removed volume is still listed and can be removed again). */
  removeVolume(name: string): void {
    rmSync(this.data(name), { recursive: true, force: true });
    rmSync(this.meta(name), { force: true });
  }

  exists(name: string): boolean { return existsSync(this.meta(name)) || existsSync(this.data(name)); }
}
