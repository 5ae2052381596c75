// fsutil.ts: small filesystem helpers the drivers share: id validation, atomic
// small-file writes, du-like usage walks and mount-safe tree removal.
import { promises as fsp, writeFileSync, renameSync, rmSync, statfsSync, existsSync, readFileSync, realpathSync, readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, basename } from 'node:path';
import { errnoCode, invalidArgument } from '../errors.js';
import { mountsUnder, unmount } from './mount.js';
import type { ChangeSource, Mount, Usage } from './driver.js';
import { ownerAlive, ownerToken } from '../store/owner.js';
import { failpoint } from '../util/failpoint.js';

/**
 * Layer ids name directories and appear in overlay option strings, where ',' ':'
 * '=' and '\' are syntax: allow a conservative set (the layer store uses 64 hex).
 */
export function checkId(id: string, reserved: readonly string[] = []): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(id) || reserved.includes(id)) {
    throw invalidArgument(`invalid layer id ${JSON.stringify(id)}`, { name: id });
  }
}

/**
 * A name for staging next to `final`: hidden (list() skips dot names), unique, and
 * owned: ".TAG-PID_START-NAME-RAND" carries the owner token, so a cleanup sweep
 * removes only what a dead process left (isStaleStaging), never a live one's work.
 */
export function stagingName(final: string, tag: string): string {
  // At most 180 bytes of the final name: with the tag, the owner token and the random
  // part the staging name stays under NAME_MAX even for a 255-byte final name.
  return join(dirname(final), `.${tag}-${ownerToken().replace(':', '_')}-${Buffer.from(basename(final)).subarray(0, 180).toString()}-${randomBytes(4).toString('hex')}`);
}

const STAGING_RE = /^\.(tmp|rm)-(?:(\d+)_(\d+)-)?(.*)-[0-9a-f]{8}$/;

/** For a staging name of `tag`: whether its owner is gone (names of older stowages, without a token, count as stale). */
export function isStaleStaging(name: string, tags: readonly string[] = ['tmp', 'rm']): boolean {
  const m = STAGING_RE.exec(name);
  if (!m || !tags.includes(m[1]!)) return false;
  if (m[2] === undefined) return true;
  return !ownerAlive(`${m[2]}:${m[3]}`);
}

/** The final name a staging name is for (the layer id of ".tmp-PID_START-ID-RAND"), or undefined. */
export function stagingTarget(name: string): string | undefined {
  return STAGING_RE.exec(name)?.[4];
}

/** Writes a small file so that readers see the old content or the new, never a torn one. */
export function writeFileAtomic(path: string, data: string, mode = 0o644): void {
  const tmp = stagingName(path, 'tmp');
  writeFileSync(tmp, data, { mode });
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** The Mount description presenting dir itself (drivers whose layers are whole filesystems). */
export function bindMounts(dir: string, readonly = false): Mount[] {
  return [{ type: 'bind', source: dir, options: readonly ? ['rbind', 'ro'] : ['rbind'] }];
}

/** A 'full' change source: dir compared with parentDir (null for a base layer). */
export function fullChangeSource(dir: string, parentDir: string | null): ChangeSource {
  return { kind: 'full', dir, parentDir };
}

/** Bytes (st_blocks × 512, each inode once) and inodes under dir, not crossing into mounts. */
export async function diskUsage(dir: string): Promise<Usage> {
  const top = await fsp.lstat(dir, { bigint: true });
  const seen = new Set<string>();
  let bytes = 0;
  let inodes = 0;
  const visit = async (path: string, st: import('node:fs').BigIntStats): Promise<void> => {
    const key = `${st.dev}:${st.ino}`;
    if (!seen.has(key)) {
      seen.add(key);
      inodes++;
      bytes += Number(st.blocks) * 512;
    }
    // A different device is a mount point (e.g. a merged overlay): count the
    // directory, not what is mounted on it.
    if (!st.isDirectory() || st.dev !== top.dev) return;
    let names: string[];
    try {
      names = await fsp.readdir(path);
    } catch {
      return; // removed while walking
    }
    for (const name of names) {
      const p = join(path, name);
      let cst;
      try {
        cst = await fsp.lstat(p, { bigint: true });
      } catch {
        continue;
      }
      await visit(p, cst);
    }
  };
  await visit(dir, top);
  return { bytes, inodes };
}

/**
 * Removes dir and everything in it. Anything mounted below it is unmounted first:
 * a recursive delete would otherwise walk into the mount and delete what it shows.
 * The directory is renamed to a hidden name first, so a crash midway leaves a name
 * that list() ignores and a cleanup sweep finds.
 */
export async function removeTree(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const mp of mountsUnder(dir)) unmount(mp);
  const doomed = stagingName(dir, 'rm');
  try {
    renameSync(dir, doomed);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  failpoint('tree:renamed');
  await fsp.rm(doomed, { recursive: true, force: true, maxRetries: 3 });
}

/** Sync variant for sweeps at start-up. */
export function removeTreeSync(dir: string): void {
  for (const mp of mountsUnder(dir)) unmount(mp);
  rmSync(dir, { recursive: true, force: true });
}

/** Filesystem names by statfs f_type magic, as Docker's `info` spells them. */
const FS_NAMES: Record<number, string> = {
  0xef53: 'extfs',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x01021994: 'tmpfs',
  0x794c7630: 'overlayfs',
  0x2fc12fc1: 'zfs',
  0x6969: 'nfs',
  0xf2f52010: 'f2fs',
  0x858458f6: 'ramfs',
  0x73717368: 'squashfs',
  0x65735546: 'fuse',
  0x61756673: 'aufs',
  0xf15f: 'ecryptfs',
  0x5346544e: 'ntfs',
  0x4d44: 'vfat',
  0x01021997: 'v9fs',
  0xca451a4e: 'bcachefs',
};

/** The backing filesystem's name at path (or its nearest existing ancestor). */
export function backingFs(path: string): string {
  let p = path;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  try {
    const type = Number(statfsSync(p).type) >>> 0;
    // FUSE filesystems share one magic: name the one behind it (zfs-fuse mounts are "fuse.zfs").
    if (type === 0x65735546) {
      const sub = mountOf(p)?.fsType.replace(/^fuse(blk)?\./, '');
      if (sub === 'zfs') return 'zfs';
      if (sub && sub !== 'fuse' && sub !== 'fuseblk') return `fuse.${sub}`;
    }
    return FS_NAMES[type] ?? `<unknown 0x${type.toString(16)}>`;
  } catch {
    return '<unknown>';
  }
}

export interface MountInfo {
  /** Where the filesystem holding the path is mounted. */
  mountPoint: string;
  /** mountinfo's type: "ext4", "btrfs", "zfs", "fuse.zfs" (zfs-fuse), "fuse.fuse-overlayfs" … */
  fsType: string;
  /** mountinfo's source: a device, or for zfs the dataset name. */
  source: string;
}

/**
 * The mount that holds path (or its nearest existing ancestor): the last mountinfo
 * entry whose mount point is the longest prefix of the path's real location.
 * statfs alone cannot tell zfs-fuse from any other FUSE filesystem; mountinfo can.
 */
export function mountOf(path: string): MountInfo | undefined {
  let p = path;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  let real: string;
  try {
    real = realpathSync(p);
  } catch {
    return undefined;
  }
  let best: MountInfo | undefined;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (sep < 0 || f[4] === undefined) continue;
    const mp = f[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (!(real === mp || mp === '/' || real.startsWith(mp + '/'))) continue;
    if (best && mp.length < best.mountPoint.length) continue;
    best = { mountPoint: mp, fsType: f[sep + 1] ?? '', source: (f[sep + 2] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) };
  }
  return best;
}

/**
 * The parent of each layer, for drivers whose layers are whole filesystems (vfs,
 * btrfs) and so carry no chain of their own: one small file per layer under
 * `<home>/parent/<id>`, empty for a base layer.
 */
export class ParentRecords {
  constructor(private readonly dir: string) {}

  get(id: string): string | null {
    try {
      const p = readFileSync(join(this.dir, id), 'utf8').trim();
      return p === '' ? null : p;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return null;
      throw err;
    }
  }

  set(id: string, parent: string | null): void {
    writeFileAtomic(join(this.dir, id), parent ?? '');
  }

  remove(id: string): void {
    rmSync(join(this.dir, id), { force: true });
  }

  /**
   * After a crash: removes records whose layer directory is gone and staging files of
   * dead writers. Records first, layer names second: a create writes its record after
   * making its staging directory, so a layer being created now keeps its record.
   */
  sweep(layersDir: string): string[] {
    const removed: string[] = [];
    let records: string[];
    try { records = readdirSync(this.dir); } catch { return removed; }
    let layers: string[] = [];
    try { layers = readdirSync(layersDir); } catch { /* none */ }
    const present = new Set(layers.filter((n) => !n.startsWith('.')));
    for (const n of layers) if (n.startsWith('.tmp-') && !isStaleStaging(n)) present.add(stagingTarget(n) ?? '');
    for (const n of records) {
      const stale = n.startsWith('.') ? isStaleStaging(n) : !present.has(n);
      if (!stale) continue;
      rmSync(join(this.dir, n), { force: true });
      removed.push(n);
    }
    return removed;
  }
}
