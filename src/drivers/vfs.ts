// vfs.ts: the driver that works everywhere: every layer is a full copy of its
// parent's filesystem plus its own changes. Slow and large, but it needs no kernel
// feature beyond a bind mount, so it is the fallback when overlay2 cannot work.
//
//   <home>/dir/<id>       the layer's whole filesystem (Docker's vfs layout)
//   <home>/parent/<id>    the parent's id ("" for a base layer), for changeSource
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type {
  ApplyTarget, ChangeSource, DriverStatus, Mount, StorageDriver, Usage,
} from './driver.js';
import { alreadyExists, errnoCode, internal, notFound } from '../errors.js';
import { backingFs, checkId, diskUsage, bindMounts, fullChangeSource, removeTree, removeTreeSync, stagingName, isStaleStaging, ParentRecords } from './fsutil.js';

/**
 * Copies src to dst (which must not exist) with GNU cp. Node's fs.cp is not enough
 * for a root filesystem: it copies hardlinked files twice, drops xattrs (file
 * capabilities, SELinux labels, overlay markers) and cannot make device nodes.
 * `cp -a` keeps all of these plus ownership and times, and --reflink=auto shares
 * extents on btrfs/xfs so a copy costs metadata only there.
 */
function copyTree(src: string, dst: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('cp', ['-a', '--reflink=auto', '--', src, dst], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < 4096) stderr += d; });
    p.on('error', (err) => reject(internal(`cannot run cp: ${err.message}`, { op: 'create', cause: err })));
    p.on('close', (code) => {
      if (code === 0) resolve();
      else reject(internal(`cp -a ${src} ${dst} failed (exit ${code}): ${stderr.trim()}`, { op: 'create' }));
    });
  });
}

export class VfsDriver implements StorageDriver {
  readonly name = 'vfs';
  /** Layers do not stack at mount time, so depth costs only disk; 1000 bounds it sanely. */
  readonly maxDepth = 1000;

  private readonly parentRecords: ParentRecords;

  constructor(readonly home: string) {
    this.parentRecords = new ParentRecords(this.parents);
  }

  private get dirs(): string { return join(this.home, 'dir'); }
  private get parents(): string { return join(this.home, 'parent'); }

  private dir(id: string): string {
    checkId(id);
    return join(this.dirs, id);
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
    return { details: [['Backing Filesystem', backingFs(this.home)]] };
  }

  async create(id: string, parent: string | null): Promise<void> {
    const dir = this.dir(id);
    if (existsSync(dir)) throw alreadyExists(`layer ${id} already exists`, { name: id });
    let pdir: string | null = null;
    if (parent !== null) {
      pdir = this.dir(parent);
      if (!existsSync(pdir)) throw notFound(`parent layer ${parent} not found`, { name: parent });
    }
    mkdirSync(this.dirs, { recursive: true, mode: 0o700 });
    mkdirSync(this.parents, { recursive: true, mode: 0o700 });
    const stage = stagingName(dir, 'tmp');
    try {
      if (pdir === null) mkdirSync(stage, { mode: 0o755 });
      else await copyTree(pdir, stage);
      // The parent record goes first: a layer directory never exists without it.
      this.parentRecords.set(id, parent);
      renameSync(stage, dir);
    } catch (err) {
      rmSync(stage, { recursive: true, force: true });
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
    await removeTree(dir);
    this.parentRecords.remove(id);
  }

  async usage(id: string): Promise<Usage> {
    return diskUsage(this.existing(id));
  }

  list(): string[] {
    let entries;
    try {
      entries = readdirSync(this.dirs, { withFileTypes: true });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
    return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  }

  /** Beyond the interface: sweeps staging leftovers and parent records without a layer. Returns what it removed. */
  cleanup(): string[] {
    const removed: string[] = [];
    for (const n of existsSync(this.dirs) ? readdirSync(this.dirs) : []) {
      if (isStaleStaging(n)) {
        removeTreeSync(join(this.dirs, n));
        removed.push(join('dir', n));
      }
    }
    for (const n of this.parentRecords.sweep(this.dirs)) removed.push(join('parent', n));
    return removed;
  }
}
