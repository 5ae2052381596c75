// zfs.ts: layers as ZFS datasets. A base layer is a new filesystem dataset; a child
// is a clone of a snapshot of its parent, so it starts as the parent's whole
// filesystem sharing every block, and only what it changes takes new ones.
//
//   dataset    <D>/<id>          D: the dataset that holds the driver folder
//   mountpoint <home>/<id>       the layer's whole filesystem, mounted by ZFS itself
//   snapshot   <D>/<parent>@<id> the origin of a child's clone, destroyed with it
//
// Differences from Docker's zfs driver (moby daemon/graphdriver/zfs), and why:
// - Docker sets mountpoint=legacy and mounts a dataset with mount(2) type "zfs" when
//   it is used. With zfs-fuse (ZFS in userspace, what Debian offers on a kernel
//   without the zfs module) there is no "zfs" filesystem type to mount(2), so each
//   dataset gets a real mountpoint under the driver folder and ZFS mounts it; the
//   driver's Mount descriptions are binds of that directory, as for btrfs and vfs.
//   With the kernel module this works the same way.
// - The origin snapshot is destroyed with `zfs destroy -d` (deferred) right after the
//   clone is made, as Docker does: ZFS keeps it while the clone lives and drops it
//   with the clone, so no snapshot ever needs tracking.
// - The parent of a layer is read back from the clone's `origin` property: the
//   dataset is the only record, so a crash can leave no record without a dataset.
import { existsSync, rmdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type {
  ApplyTarget, ChangeSource, DriverStatus, Mount, PersistentMounts, StorageDriver, Usage,
} from './driver.js';
import { alreadyExists, failedPrecondition, notFound } from '../errors.js';
import { backingFs, checkId, diskUsage, bindMounts, fullChangeSource, mountOf } from './fsutil.js';
import { mountsUnder, unmount } from './mount.js';
import { haveCommand, run, runSync } from './exec.js';

export interface ZfsProbe { ok: boolean; reason: string; dataset: string | null; implementation: string }

/** The ZFS dataset that holds path, and whether it is zfs-fuse's ("fuse.zfs") or the kernel's. */
export function zfsDatasetOf(path: string): { dataset: string; implementation: 'zfs-fuse' | 'kernel' } | null {
  const m = mountOf(path);
  if (!m) return null;
  if (m.fsType === 'zfs') return { dataset: m.source, implementation: 'kernel' };
  if (m.fsType === 'fuse.zfs') return { dataset: m.source, implementation: 'zfs-fuse' };
  return null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ZfsDriver implements StorageDriver, PersistentMounts {
  readonly name = 'zfs';
  /** Clones do not stack at mount time: depth costs a dataset per layer, nothing more. */
  readonly maxDepth = 1000;
  /** Parents read from `origin`, kept: a layer's parent never changes. */
  private readonly parentCache = new Map<string, string | null>();

  constructor(readonly home: string) {}

  static probe(home: string): ZfsProbe {
    const found = zfsDatasetOf(home);
    if (!found) {
      return { ok: false, reason: `the data root is on ${backingFs(home)}, not on a ZFS dataset (layers are clones of datasets in the same pool)`, dataset: null, implementation: '' };
    }
    if (!haveCommand('zfs')) return { ok: false, reason: 'the zfs command (Debian package zfs-fuse or zfsutils-linux) is not installed', dataset: found.dataset, implementation: found.implementation };
    if (process.getuid?.() !== 0) return { ok: false, reason: 'the zfs driver needs root to create and destroy datasets', dataset: found.dataset, implementation: found.implementation };
    return { ok: true, reason: `the data root is on ZFS dataset ${found.dataset} (${found.implementation})`, dataset: found.dataset, implementation: found.implementation };
  }

  /** The dataset holding home; layers are its children. */
  private base(): string {
    const found = zfsDatasetOf(this.home);
    if (!found) throw failedPrecondition(`${this.home} is not on a ZFS dataset`, { name: this.home });
    return found.dataset;
  }

  private dataset(id: string): string {
    checkId(id);
    return `${this.base()}/${id}`;
  }

  private dir(id: string): string {
    checkId(id);
    return join(this.home, id);
  }

  private exists(id: string): boolean {
    return this.list().includes(id);
  }

  private existing(id: string): string {
    const dir = this.dir(id);
    // Cheap check first (mountinfo): the dataset mounted on its directory.
    const m = existsSync(dir) ? mountOf(dir) : undefined;
    if (m && m.mountPoint === dir && m.source === this.dataset(id)) return dir;
    if (!this.exists(id)) throw notFound(`layer ${id} not found in ${this.home}`, { name: id });
    // The dataset is there but not mounted (the pool was imported with -N, or zfs-fuse restarted).
    runSync('zfs', ['mount', this.dataset(id)], { op: 'mount' });
    return dir;
  }

  status(): DriverStatus {
    const found = zfsDatasetOf(this.home);
    const details: Array<[string, string]> = [['Backing Filesystem', backingFs(this.home)]];
    if (found) {
      details.push(['Parent Dataset', found.dataset], ['Implementation', found.implementation]);
      try {
        const pool = found.dataset.split('/')[0]!;
        const [health = '', size = ''] = runSync('zpool', ['list', '-H', '-o', 'health,size', pool]).stdout.trim().split('\t');
        details.push(['Zpool', pool], ['Zpool Health', health], ['Zpool Size', size]);
      } catch {
        details.push(['Zpool', 'unavailable']);
      }
    }
    return { details };
  }

  async create(id: string, parent: string | null): Promise<void> {
    const ds = this.dataset(id);
    const dir = this.dir(id);
    if (this.exists(id)) throw alreadyExists(`layer ${id} already exists`, { name: id });
    if (parent !== null && !this.exists(parent)) throw notFound(`parent layer ${parent} not found`, { name: parent });
    const mp = `mountpoint=${dir}`;
    if (parent === null) {
      await run('zfs', ['create', '-o', mp, ds], { op: 'create' });
    } else {
      const snap = `${this.dataset(parent)}@${id}`;
      await run('zfs', ['snapshot', snap], { op: 'create' });
      try {
        await run('zfs', ['clone', '-o', mp, snap, ds], { op: 'create' });
      } finally {
        // Deferred: the snapshot goes when its clone does (or now, if the clone failed).
        await run('zfs', ['destroy', '-d', snap], { op: 'create' }).catch(() => undefined);
      }
    }
    this.parentCache.set(id, parent);
  }

  applyTarget(id: string): ApplyTarget {
    return { root: this.existing(id), whiteouts: 'remove' };
  }

  mounts(id: string, opts: { readonly?: boolean } = {}): Mount[] {
    const dir = this.existing(id);
    return bindMounts(dir, opts.readonly);
  }

  private parentOf(id: string): string | null {
    const cached = this.parentCache.get(id);
    if (cached !== undefined) return cached;
    const origin = runSync('zfs', ['get', '-H', '-o', 'value', 'origin', this.dataset(id)], { op: 'changes' }).stdout.trim();
    // "<D>/<parent>@<id>", or "-" for a base layer.
    const m = /^(.*)\/([^/@]+)@[^@]+$/.exec(origin);
    const parent = m && m[1] === this.base() ? m[2]! : null;
    this.parentCache.set(id, parent);
    return parent;
  }

  changeSource(id: string): ChangeSource {
    const dir = this.existing(id);
    const parent = this.parentOf(id);
    return fullChangeSource(dir, parent === null ? null : this.dir(parent));
  }

  async remove(id: string): Promise<void> {
    const dir = this.dir(id);
    if (!this.exists(id)) {
      if (existsSync(dir)) rmEmptyDir(dir);
      return;
    }
    const ds = this.dataset(id);
    // Our own binds of this layer first (anything mounted below its mountpoint).
    for (const mp of mountsUnder(dir)) if (mp !== dir) unmount(mp);
    // zfs-fuse answers "dataset is busy" for a moment after the last use of a mount;
    // unmounting through zfs and retrying briefly (10 × 100 ms) rides it out. Any
    // other failure (a child's clone depends on this layer) is final and leaves the
    // layer as it was, mounted.
    for (let attempt = 0; ; attempt++) {
      try {
        await run('zfs', ['destroy', '-r', ds], { op: 'remove' });
        break;
      } catch (err) {
        if (!this.exists(id)) break;
        if (attempt >= 10 || !/busy/.test(String((err as Error).message))) throw err;
        await run('zfs', ['unmount', ds], { op: 'remove' }).catch(() => undefined);
        await sleep(100);
      }
    }
    this.parentCache.delete(id);
    if (existsSync(dir)) rmEmptyDir(dir);
  }

  /**
   * Bytes: the dataset's `used`, the blocks only it holds (a clone shares its
   * origin's); ZFS updates it when a transaction group commits (every few
   * seconds), so a throwaway snapshot forces the commit first. Inodes: a walk.
   */
  async usage(id: string): Promise<Usage> {
    const dir = this.existing(id);
    const ds = this.dataset(id);
    const snap = `${ds}@usage-${randomBytes(4).toString('hex')}`;
    await run('zfs', ['snapshot', snap], { op: 'usage' });
    await run('zfs', ['destroy', snap], { op: 'usage' });
    const used = Number((await run('zfs', ['get', '-Hp', '-o', 'value', 'used', ds], { op: 'usage' })).stdout.trim());
    const walked = await diskUsage(dir);
    return { bytes: Number.isFinite(used) ? used : walked.bytes, inodes: walked.inodes };
  }

  /** A layer's dataset mounted on its own directory (PersistentMounts). */
  isOwnMount(path: string): boolean {
    if (dirname(path) !== this.home) return false;
    const m = mountOf(path);
    return m !== undefined && m.mountPoint === path && (m.fsType === 'zfs' || m.fsType === 'fuse.zfs');
  }

  /** Child datasets of the parent dataset mounted under home: those are this driver's layers. */
  list(): string[] {
    if (!existsSync(this.home)) return []; // cheap check before reading mountinfo
    const found = zfsDatasetOf(this.home);
    if (!found) return [];
    const out = runSync('zfs', ['list', '-H', '-o', 'name,mountpoint', '-r', '-d', '1', '-t', 'filesystem', found.dataset], { op: 'list' }).stdout;
    const prefix = found.dataset + '/';
    const ids: string[] = [];
    for (const line of out.split('\n')) {
      const [name, mp] = line.split('\t');
      if (!name?.startsWith(prefix) || mp === undefined) continue;
      const id = name.slice(prefix.length);
      if (mp === join(this.home, id) && !id.startsWith('.')) ids.push(id);
    }
    return ids.sort();
  }
}

function rmEmptyDir(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty or already gone: leave it
  }
}
