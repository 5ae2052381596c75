// changes.ts: what a layer changed, as `docker diff` shows it, and as a layer tar.
//
// Two sources (drivers/driver.ts ChangeSource):
//   'upper'  an overlayfs upper dir: everything in it is A (absent below) or C
//            (present below); a 0/0 char device is a deletion (D when the path
//            exists below), a directory with trusted.overlay.opaque=y hides all
//            lower content under it (each hidden lower name is a D).
//   'full'   a complete tree compared with its parent's tree, like Docker's naive
//            diff: same path, compare type, mode, uid, gid, rdev, size and mtime
//            (not for directories: adding a file changes a directory's mtime),
//            symlink target and xattrs.
// Docker's rules for the list: every parent directory of a change is itself
// shown as C (unless it is A); a deleted directory is one D (its contents are not
// listed); sorted by path.
//
// exportChanges writes the layer tar in OCI form: D => "dir/.wh.NAME", an opaque
// upper directory => "dir/.wh..wh..opq" right after the directory's own entry,
// files with several links inside the layer => one file and hardlink entries.
// Overlay bookkeeping xattrs (trusted.overlay.*, user.overlay.*, user.fuseoverlayfs.*) are never exported.
// Every non-directory with several links (files, symlinks, FIFOs, devices) is
// written once and then as hardlink entries, as Docker's archiver does.
//
// Paths are byte strings (latin1, see tar-reader.ts): names that are not valid
// UTF-8 are exported byte for byte; `changes()` shows them decoded as UTF-8 (an
// invalid byte as U+FFFD), which is what `docker diff` prints, its list having
// gone through JSON.
import { closeSync, constants, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats } from 'node:fs';
import type { ChangeSource } from '../drivers/driver.js';
import { internal } from '../errors.js';
import { native } from '../util/sys.js';
import type { EntryType } from './tar-reader.js';
import { encodeHeader, END_OF_ARCHIVE, paddingFor, type WriterHeader } from './tar-writer.js';
import { failpoint } from '../util/failpoint.js';
import { B, P, shown } from './names.js';

export interface Change { kind: 'A' | 'C' | 'D'; path: string }

interface Item { kind: 'A' | 'C' | 'D'; rel: string; opaque?: boolean }

const OPAQUE = 'trusted.overlay.opaque';

function join(rel: string, name: string): string { return rel ? rel + '/' + name : name; }
function isWhiteoutDev(st: Stats): boolean { return st.isCharacterDevice() && st.rdev === 0; }
function names(dir: string): string[] {
  try { return readdirSync(P(dir), { encoding: 'latin1' }); } catch (e) { if ((e as { code?: string }).code === 'ENOENT' || (e as { code?: string }).code === 'ENOTDIR') return []; throw e; }
}
function byPath(a: { rel: string }, b: { rel: string }): number { return a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0; }

function xattrMap(abs: string): Map<string, Buffer> {
  const sys = native();
  const m = new Map<string, Buffer>();
  for (const k of sys.llistxattr(P(abs))) {
    // The overlay implementations' own bookkeeping, never content: kernel overlayfs
    // (trusted.overlay.*, user.overlay.* with userxattr) and fuse-overlayfs (user.fuseoverlayfs.*).
    if (k.startsWith('trusted.overlay.') || k.startsWith('user.overlay.') || k.startsWith('user.fuseoverlayfs.')) continue;
    const v = sys.lgetxattr(P(abs), k);
    if (v) m.set(k, v);
  }
  return m;
}

function sameXattrs(a: string, b: string): boolean {
  const x = xattrMap(a);
  const y = xattrMap(b);
  if (x.size !== y.size) return false;
  for (const [k, v] of x) { const w = y.get(k); if (!w || !w.equals(v)) return false; }
  return true;
}

/** Lower-layer view for 'upper' sources: what the merged lower dirs hold at a path. */
class Lowers {
  private cache = new Map<string, number>(); // `${i}\0${rel}` -> 0 missing, 1 dir, 2 opaque dir, 3 whiteout, 4 other
  constructor(private readonly dirs: string[]) {}

  private kind(i: number, rel: string): number {
    const key = i + '\0' + rel;
    let k = this.cache.get(key);
    if (k !== undefined) return k;
    const st = lstatSync(P(this.dirs[i] + '/' + rel), { throwIfNoEntry: false });
    if (!st) k = 0;
    else if (st.isDirectory()) k = native().lgetxattr(P(this.dirs[i] + '/' + rel), OPAQUE)?.toString() === 'y' ? 2 : 1;
    else if (isWhiteoutDev(st)) k = 3;
    else k = 4;
    this.cache.set(key, k);
    return k;
  }

  /** lstat of rel in the merged lower view, or null when absent there. */
  stat(rel: string): { st: Stats; abs: string } | null {
    const parts = rel.split('/');
    for (let i = 0; i < this.dirs.length; i++) {
      // Walk down from the top of this lower: a whiteout or a non-directory on the way hides rel;
      // an opaque directory on the way means nothing below this lower counts.
      let stopAfter = false;
      let hidden = false;
      for (let j = 1; j < parts.length; j++) {
        const k = this.kind(i, parts.slice(0, j).join('/'));
        if (k === 3 || k === 4) { hidden = true; break; }
        if (k === 0) break;
        if (k === 2) stopAfter = true;
      }
      if (hidden) return null;
      const k = this.kind(i, rel);
      if (k === 3) return null;
      if (k !== 0) return { st: lstatSync(P(this.dirs[i] + '/' + rel)), abs: this.dirs[i] + '/' + rel };
      if (stopAfter) return null;
    }
    return null;
  }

  /** Names visible under rel in the merged lower view. */
  list(rel: string): string[] {
    const out = new Set<string>();
    const gone = new Set<string>();
    for (let i = 0; i < this.dirs.length; i++) {
      const k = rel === '' ? 1 : this.kind(i, rel);
      if (k === 3 || k === 4) break;
      if (k === 0) continue;
      for (const n of names(this.dirs[i] + (rel ? '/' + rel : ''))) {
        if (out.has(n) || gone.has(n)) continue;
        const st = lstatSync(P(this.dirs[i] + '/' + join(rel, n)), { throwIfNoEntry: false });
        if (st && isWhiteoutDev(st)) gone.add(n); else out.add(n);
      }
      if (k === 2) break;
    }
    return [...out];
  }
}

function metaDiffers(a: Stats, b: Stats, aAbs: string, bAbs: string): boolean {
  if (a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.rdev !== b.rdev) return true;
  if (!a.isDirectory()) {
    if (a.size !== b.size || a.mtimeMs !== b.mtimeMs) return true;
    if (a.isSymbolicLink() && !readlinkSync(P(aAbs), { encoding: 'buffer' }).equals(readlinkSync(P(bAbs), { encoding: 'buffer' }))) return true;
  }
  return !sameXattrs(aAbs, bAbs);
}

function check(signal?: AbortSignal): void { signal?.throwIfAborted(); }

function upperItems(dir: string, lowerDirs: string[], signal?: AbortSignal): Item[] {
  const lowers = new Lowers(lowerDirs.map(B));
  dir = B(dir);
  const out: Item[] = [];
  const walk = (rel: string, lowerGone: boolean): void => {
    check(signal);
    const abs = rel ? dir + '/' + rel : dir;
    const here = names(abs);
    for (const name of here) {
      const p = join(rel, name);
      const st = lstatSync(P(dir + '/' + p));
      const below = lowerGone ? null : lowers.stat(p);
      if (isWhiteoutDev(st)) {
        if (below) out.push({ kind: 'D', rel: p });
        continue;
      }
      if (!st.isDirectory()) {
        out.push({ kind: below ? 'C' : 'A', rel: p });
        continue;
      }
      const opaque = native().lgetxattr(P(dir + '/' + p), OPAQUE)?.toString() === 'y';
      const belowDir = below !== null && below.st.isDirectory();
      if (!below) out.push({ kind: 'A', rel: p, opaque });
      else if (opaque || !belowDir || metaDiffers(st, below.st, dir + '/' + p, below.abs)) out.push({ kind: 'C', rel: p, opaque });
      if (opaque && belowDir) {
        const mine = new Set(names(dir + '/' + p));
        for (const n of lowers.list(p)) if (!mine.has(n)) out.push({ kind: 'D', rel: join(p, n) });
      }
      walk(p, lowerGone || opaque || !belowDir);
    }
  };
  walk('', false);
  return out;
}

function fullItems(dir: string, parentDir: string | null, signal?: AbortSignal): Item[] {
  const out: Item[] = [];
  dir = B(dir);
  if (parentDir !== null) parentDir = B(parentDir);
  const walk = (rel: string, hasParent: boolean): void => {
    check(signal);
    const abs = rel ? dir + '/' + rel : dir;
    const pabs = parentDir === null ? '' : rel ? parentDir + '/' + rel : parentDir;
    const here = names(abs);
    const there = hasParent ? new Set(names(pabs)) : new Set<string>();
    for (const name of here) {
      const p = join(rel, name);
      const st = lstatSync(P(abs + '/' + name));
      const pst = there.has(name) ? lstatSync(P(pabs + '/' + name)) : null;
      there.delete(name);
      if (!pst) out.push({ kind: 'A', rel: p });
      else if (metaDiffers(st, pst, abs + '/' + name, pabs + '/' + name)) out.push({ kind: 'C', rel: p });
      if (st.isDirectory()) walk(p, pst !== null && pst.isDirectory());
    }
    for (const name of there) out.push({ kind: 'D', rel: join(rel, name) });
  };
  walk('', parentDir !== null);
  return out;
}

/** Adds parent directories of changes as C, sorts. */
function finish(items: Item[]): Item[] {
  const seen = new Map<string, Item>();
  for (const it of items) seen.set(it.rel, it);
  for (const it of items) {
    let p = it.rel;
    for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/')) {
      p = p.slice(0, i);
      if (seen.has(p)) break;
      const c: Item = { kind: 'C', rel: p };
      seen.set(p, c);
    }
  }
  return [...seen.values()].sort(byPath);
}

function items(src: ChangeSource, signal?: AbortSignal): Item[] {
  return finish(src.kind === 'upper' ? upperItems(src.dir, src.lower, signal) : fullItems(src.dir, src.parentDir, signal));
}

export async function changes(src: ChangeSource, opts: { signal?: AbortSignal } = {}): Promise<Change[]> {
  return items(src, opts.signal).map((i) => ({ kind: i.kind, path: '/' + shown(i.rel) }));
}

function typeOf(st: Stats): EntryType | null {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return null; // sockets are not archived
}

/** Tar entries for one path of a tree; `links` maps dev:ino to the first name of a multiply-linked file. */
function* entry(abs: string, rel: string, links: Map<string, string>, onlyCapability = false): Generator<Buffer> {
  // A name readdir gives that lstat cannot find: overlayfs lists a whiteout of a path
  // that never existed when its directory is in one layer only. Skipped, as Docker's
  // archiver skips what it cannot stat.
  const st = lstatSync(P(abs), { throwIfNoEntry: false });
  if (!st) return;
  const type = typeOf(st);
  if (!type) return;
  const h: WriterHeader = {
    name: rel, type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid,
    mtime: Math.floor(st.mtimeMs / 1000), size: 0,
  };
  if (type === 'symlink') h.linkname = readlinkSync(P(abs), { encoding: 'latin1' });
  if (type === 'char' || type === 'block') {
    const d = BigInt(st.rdev);
    h.devmajor = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
    h.devminor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
  }
  const xa = xattrMap(abs);
  if (onlyCapability) for (const k of [...xa.keys()]) if (k !== 'security.capability') xa.delete(k);
  if (xa.size) h.xattrs = Object.fromEntries(xa);
  if (type !== 'dir' && st.nlink > 1) {
    const key = st.dev + ':' + st.ino;
    const first = links.get(key);
    if (first !== undefined) {
      yield encodeHeader({ ...h, type: 'hardlink', linkname: first, size: 0, devmajor: 0, devminor: 0 }, true);
      return;
    }
    links.set(key, rel);
  }
  if (type !== 'file') { yield encodeHeader(h, true); return; }
  const fd = openSync(P(abs), constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    h.size = st.size;
    yield encodeHeader(h, true);
    let left = st.size;
    while (left > 0) {
      const buf = Buffer.allocUnsafe(Math.min(1 << 20, left));
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) throw internal(`${abs} shrank while being exported`);
      left -= n;
      yield n === buf.length ? buf : buf.subarray(0, n);
    }
    yield paddingFor(st.size);
  } finally {
    closeSync(fd);
  }
}

/** A layer tar (OCI whiteouts) holding src's changes. */
export async function* exportChanges(src: ChangeSource, opts: { signal?: AbortSignal } = {}): AsyncGenerator<Buffer> {
  const list = items(src, opts.signal);
  const links = new Map<string, string>();
  const opaque: string[] = [];
  for (const it of list) {
    check(opts.signal);
    if (it.kind === 'D') {
      const i = it.rel.lastIndexOf('/');
      const parent = i < 0 ? '' : it.rel.slice(0, i);
      if (opaque.some((o) => parent === o || parent.startsWith(o + '/'))) continue; // hidden by the opaque marker already
      yield encodeHeader({ name: join(parent, '.wh.' + it.rel.slice(i + 1)), type: 'file', mode: 0o644, size: 0, mtime: 0 }, true);
      continue;
    }
    yield* entry(B(src.dir) + '/' + it.rel, it.rel, links);
    if (it.opaque) {
      opaque.push(it.rel);
      yield encodeHeader({ name: it.rel + '/.wh..wh..opq', type: 'file', mode: 0o644, size: 0, mtime: 0 }, true);
    }
  }
  yield END_OF_ARCHIVE;
}

/**
 * A tar of the whole tree under dir (no whiteout translation): `export`. As Docker's
 * export, the only xattr it carries is security.capability (moby's archiver reads
 * just that one); layers made by commit and build keep every xattr.
 */
export async function* exportTree(dir: string, opts: { signal?: AbortSignal } = {}): AsyncGenerator<Buffer> {
  const links = new Map<string, string>();
  dir = B(dir);
  function* walk(rel: string): Generator<Buffer> {
    check(opts.signal);
    for (const name of names(rel ? dir + '/' + rel : dir).sort()) {
      const p = join(rel, name);
      const abs = dir + '/' + p;
      failpoint('export:entry');
      yield* entry(abs, p, links, true);
      if (lstatSync(P(abs), { throwIfNoEntry: false })?.isDirectory()) yield* walk(p);
    }
  }
  yield* walk('');
  yield END_OF_ARCHIVE;
}
