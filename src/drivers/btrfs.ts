// btrfs.ts: layers as btrfs subvolumes. A base layer is a new, empty subvolume; a
// child is a snapshot of its parent's subvolume, so it starts as the parent's whole
// filesystem at the cost of a little metadata, and only what it changes takes new
// extents. Layout (Docker's btrfs layout, plus the parent records vfs keeps):
//
//   <home>/subvolumes/<id>   the layer's subvolume: its whole filesystem
//   <home>/parent/<id>       the parent's id ("" for a base layer), for changeSource
//
// The data root must itself be on btrfs (a snapshot cannot cross filesystems).
//
// Subvolumes are made with btrfs-progs (`btrfs subvolume create|snapshot|delete`)
// rather than the BTRFS_IOC_* ioctls: each is one call per layer (~3 ms of process
// start against a load that untars the layer), the tool's error messages are the
// ones an operator will search for, and no new native code has to be written and
// reviewed. The ioctls would matter only for thousands of layers a second.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type {
  ApplyTarget, ChangeSource, DriverStatus, Mount, StorageDriver, Usage,
} from './driver.js';
import { alreadyExists, errnoCode, failedPrecondition, notFound } from '../errors.js';
import { backingFs, checkId, diskUsage, bindMounts, fullChangeSource, stagingName, isStaleStaging, ParentRecords } from './fsutil.js';
import { mountsUnder, unmount } from './mount.js';
import { haveCommand, run } from './exec.js';

/** The inode number of every subvolume's root directory (BTRFS_FIRST_FREE_OBJECTID). */
const SUBVOL_ROOT_INO = 256;

export interface BtrfsProbe { ok: boolean; reason: string; backingFs: string }

export class BtrfsDriver implements StorageDriver {
  readonly name = 'btrfs';
  /** Snapshots do not stack at mount time: depth costs nothing but records. */
  readonly maxDepth = 1000;

  private readonly parentRecords: ParentRecords;

  constructor(readonly home: string) {
    this.parentRecords = new ParentRecords(this.parents);
  }

  /** btrfs works when home (or its nearest existing ancestor) is on btrfs and btrfs-progs is installed. */
  static probe(home: string): BtrfsProbe {
    const fs = backingFs(home);
    if (fs !== 'btrfs') return { ok: false, reason: `the data root is on ${fs}, not btrfs (subvolume snapshots need the layers on a btrfs filesystem)`, backingFs: fs };
    if (!haveCommand('btrfs')) return { ok: false, reason: 'the btrfs command (Debian package btrfs-progs) is not installed', backingFs: fs };
    if (process.getuid?.() !== 0) return { ok: false, reason: 'the btrfs driver needs root to create and delete subvolumes', backingFs: fs };
    return { ok: true, reason: 'the data root is on btrfs', backingFs: fs };
  }

  private get subvols(): string { return join(this.home, 'subvolumes'); }
  private get parents(): string { return join(this.home, 'parent'); }

  private dir(id: string): string {
    checkId(id);
    return join(this.subvols, id);
  }

  private existing(id: string): string {
    const dir = this.dir(id);
    if (!existsSync(dir)) throw notFound(`layer ${id} not found in ${this.home}`, { name: id });
    return dir;
  }

  private parentOf(id: string): string | null {
    return this.parentRecords.get(id);
  }

  status(): DriverStatus {
    return { details: [['Backing Filesystem', backingFs(this.home)], ['Layers', 'subvolume snapshots']] };
  }

  async create(id: string, parent: string | null): Promise<void> {
    const dir = this.dir(id);
    if (existsSync(dir)) throw alreadyExists(`layer ${id} already exists`, { name: id });
    let pdir: string | null = null;
    if (parent !== null) {
      pdir = this.dir(parent);
      if (!existsSync(pdir)) throw notFound(`parent layer ${parent} not found`, { name: parent });
    }
    mkdirSync(this.subvols, { recursive: true, mode: 0o700 });
    mkdirSync(this.parents, { recursive: true, mode: 0o700 });
    const fs = backingFs(this.subvols);
    if (fs !== 'btrfs') throw failedPrecondition(`${this.home} is on ${fs}, not btrfs`, { name: id });
    // Made under a hidden name and renamed into place (a subvolume renames like a
    // directory): a crash leaves a hidden subvolume that cleanup() deletes.
    const stage = stagingName(dir, 'tmp');
    try {
      if (pdir === null) await run('btrfs', ['subvolume', 'create', stage], { op: 'create' });
      else await run('btrfs', ['subvolume', 'snapshot', pdir, stage], { op: 'create' });
      this.parentRecords.set(id, parent);
      renameSync(stage, dir);
    } catch (err) {
      if (existsSync(stage)) await deleteSubvolume(stage).catch(() => undefined);
      if (!existsSync(dir)) this.parentRecords.remove(id);
      const code = errnoCode(err);
      if (code === 'ENOTEMPTY' || code === 'EEXIST') throw alreadyExists(`layer ${id} already exists`, { name: id, cause: err });
      throw err;
    }
  }

  applyTarget(id: string): ApplyTarget {
    return { root: this.existing(id), whiteouts: 'remove' };
  }

  mounts(id: string, opts: { readonly?: boolean } = {}): Mount[] {
    const dir = this.existing(id);
    return bindMounts(dir, opts.readonly);
  }

  changeSource(id: string): ChangeSource {
    const dir = this.existing(id);
    const parent = this.parentOf(id);
    return fullChangeSource(dir, parent === null ? null : this.dir(parent));
  }

  async remove(id: string): Promise<void> {
    const dir = this.dir(id);
    if (existsSync(dir)) {
      for (const mp of mountsUnder(dir)) unmount(mp);
      // Renamed out of the listing first, so a crash mid-delete leaves a hidden name.
      const doomed = stagingName(dir, 'rm');
      try {
        renameSync(dir, doomed);
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err;
      }
      if (existsSync(doomed)) await deleteSubvolume(doomed);
    }
    this.parentRecords.remove(id);
  }

  /**
   * Bytes of every block the subvolume's files occupy (st_blocks, each inode once).
   * A snapshot shares its unchanged extents with its parent, and st_blocks cannot
   * see sharing: this counts them again, so it is the layer's apparent size on disk,
   * not its exclusive size (that takes btrfs quota groups, which this driver does
   * not turn on: they slow every snapshot and delete).
   */
  async usage(id: string): Promise<Usage> {
    return diskUsage(this.existing(id));
  }

  list(): string[] {
    let entries;
    try {
      entries = readdirSync(this.subvols, { withFileTypes: true });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
    return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  }

  /** Beyond the interface: deletes staging leftovers and parent records without a layer. */
  async cleanup(): Promise<string[]> {
    const removed: string[] = [];
    for (const n of existsSync(this.subvols) ? readdirSync(this.subvols) : []) {
      if (isStaleStaging(n)) {
        await deleteSubvolume(join(this.subvols, n));
        removed.push(join('subvolumes', n));
      }
    }
    for (const n of this.parentRecords.sweep(this.subvols)) removed.push(join('parent', n));
    return removed;
  }
}

/**
 * Deletes a subvolume, and first any subvolume nested inside it (a container may
 * have made one; `btrfs subvolume delete` refuses a subvolume that holds another).
 * Nested ones are found, only when the delete fails, by their root inode number
 * (256) and own st_dev, without crossing mounts.
 */
async function deleteSubvolume(path: string): Promise<void> {
  let st;
  try {
    st = statSync(path);
  } catch {
    return;
  }
  if (st.ino !== SUBVOL_ROOT_INO) {
    rmSync(path, { recursive: true, force: true }); // a plain directory (a staging leftover)
    return;
  }
  try {
    await run('btrfs', ['subvolume', 'delete', path], { op: 'remove' });
    return;
  } catch (err) {
    // Only a subvolume holding another is worth the walk (Docker walks every time).
    const nested = nestedSubvolumes(path, st.dev);
    if (nested.length === 0) throw err;
    for (const n of nested) await run('btrfs', ['subvolume', 'delete', n], { op: 'remove' });
  }
  await run('btrfs', ['subvolume', 'delete', path], { op: 'remove' });
}

/** Subvolumes below dir, deepest first. Nested subvolumes have their own st_dev. */
function nestedSubvolumes(dir: string, dev: number): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = join(d, e.name);
      const st = statSync(p);
      if (st.ino === SUBVOL_ROOT_INO && st.dev !== dev) {
        walk(p);
        out.push(p);
      } else if (st.dev === dev) {
        walk(p);
      }
    }
  };
  walk(dir);
  return out;
}
