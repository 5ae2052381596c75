// apply.ts: extracts a layer tar into a layer directory, safely and fast.
//
// The layer is hostile until proven otherwise. Rules (each error is
// StowageError InvalidArgument naming the entry and the rule):
//   - names: a leading "/" or "./" is stripped (the entry lands inside root);
//     any ".." component, NUL, a component over 255 bytes, a path over
//     maxPathLength bytes or deeper than maxDepth components is refused.
//   - never through a symlink: every parent directory of every path written,
//     whited out or hard-linked to is known to be a real directory, either created
//     by this run or lstat()ed once and remembered in a tree of what this run knows
//     (PathTree below); a symlink among the parents (made by this layer or, in the
//     'remove' form, present in root from the parent layers) is refused. The last
//     component is created with O_EXCL|O_NOFOLLOW / mkdir / symlink / link / mknod,
//     none of which follow a symlink; what is there already is removed first.
//   - hardlinks: the target is resolved inside root by the same rule; a missing
//     target or a directory is refused. (A hardlink to a symlink links the symlink
//     itself: link(2) does not follow it, so this is allowed.)
//   - whiteouts (OCI): ".wh.NAME" and ".wh..wh..opq"; other ".wh..wh." names are
//     reserved and refused.
//   - device nodes: char/block devices are created only when running as root;
//     otherwise they are skipped and counted in ApplyResult.skippedDevices (the
//     tar-split still holds their headers, so the layer re-assembles exactly).
//     FIFOs need no privilege and are always created.
//   - xattrs: trusted.overlay.* from the archive is dropped (it would forge
//     overlayfs metadata: opaque, redirect, metacopy); as non-root, trusted.* and
//     security.* are dropped too. Drops are counted in skippedXattrs.
//   - limits: entries, uncompressed bytes, PAX size, and a disk reserve (free
//     space is checked every 64 MiB written and before starting).
//   - the same path twice (after Go's filepath.Clean) is refused, as Docker's tar-split does.
//   - names are cleaned as Docker cleans them ("a/b/../c" is "a/c"; see components()).
//   - names are byte strings (TarParser binaryNames): a name that is not valid UTF-8
//     lands on disk byte for byte; every fs call gets a Buffer path (P below).
//   - hardlink entries carry their own metadata: as Docker (which applies the
//     entry's owner, mode, mtime and xattrs to the path it just linked), the shared
//     inode ends up with the link entry's owner and xattrs, and its mode and mtime
//     unless it is a symlink. Links to symlinks, FIFOs and devices stay links.
//   - PAX global headers change nothing (Docker's behaviour; see tar-reader.ts).
//   - sparse files (old GNU, PAX 0.0/0.1/1.0) are written at their offsets and
//     truncated to their real size (holes stay holes on disk); the real size counts
//     against maxBytes. Their stored data is kept verbatim in the tar-split.
// Memory is bounded by the limits: the chunks in flight, one PAX header, and the
// PathTree (one small node per entry, so maxEntries bounds it).
//
// On any error applyLayer closes what it opened and throws; root may hold a
// partial layer and THE CALLER REMOVES ROOT (the layer store does, as it stages
// every layer in a directory that is renamed into place only on success).
//
// Speed: the tar is parsed with the push-based TarParser and every entry is
// handled with synchronous fs calls inside the parser's callbacks, so a 64 KiB
// chunk holding thirty small files costs no promise at all; payloads are written
// straight from the decompressor's buffers (no copies); both digests are computed
// in the same pass. Directory modes and mtimes are set at the end (writing into a
// directory changes its mtime, and a read-only mode would stop a non-root apply).
import { createHash } from 'node:crypto';
import {
  closeSync, constants, fchmodSync, fchownSync, ftruncateSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync,
  mkdirSync, openSync, readdirSync, rmSync, statfsSync, symlinkSync, unlinkSync, writeSync, chmodSync, utimesSync,
} from 'node:fs';
import type { WhiteoutForm } from '../drivers/driver.js';
import { StowageError, errnoCode, internal, invalidArgument, permissionDenied, unavailable } from '../errors.js';
import { native, S_IFBLK, S_IFCHR, S_IFIFO } from '../util/sys.js';
import { decompress } from './compression.js';
import { TarParser, type TarHandler, type TarHeader } from './tar-reader.js';
import { TarSplitWriter } from './tar-split.js';
import { failpoint } from '../util/failpoint.js';
import { B, P, shown } from './names.js';

export interface ApplyLimits {
  maxEntries: number; maxBytes: number; maxPathLength: number; maxDepth: number; maxPaxBytes: number; diskReserveBytes: number;
}

export const DEFAULT_APPLY_LIMITS: Readonly<ApplyLimits> = Object.freeze({
  maxEntries: 1_000_000,
  maxBytes: 64 * 1024 ** 3,
  maxPathLength: 4096,
  maxDepth: 256,
  maxPaxBytes: 1024 * 1024,
  diskReserveBytes: 128 * 1024 * 1024,
});

export interface ApplyOptions {
  whiteouts: WhiteoutForm;
  tarSplitPath?: string;
  signal?: AbortSignal;
  limits?: Partial<ApplyLimits>;
}

export interface ApplyResult {
  diffId: string;
  /** Bytes of the uncompressed tar. */
  size: number;
  /**
   * Sum of the entries' sizes (a sparse file counts its real size): the number
   * Docker's UnpackLayer returns, which naive-diff drivers (vfs, btrfs, zfs)
   * record as the layer's size.
   */
  contentSize: number;
  blobDigest: string;
  blobSize: number;
  entries: number;
  /** Char/block device entries not created because the process is not root. */
  skippedDevices: number;
  /** xattrs not set (trusted.overlay.* always; trusted.* and security.* as non-root; user.* on symlinks). */
  skippedXattrs: number;
}

const DISK_CHECK_EVERY = 64 * 1024 * 1024;
const O_NEWFILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

const enum K { Dir, File, Symlink, Other }

/** What this run knows about one path under root. */
interface PNode {
  k: K;
  /** This layer wrote at or below this path (kept by an opaque whiteout in 'remove' form). */
  w: boolean;
  c?: Map<string, PNode>;
  /** tar-split reference of this file's payload, and its size. */
  ref?: number;
  size?: number;
  /** Directory mode and mtime to set at the end (mtime NaN: leave it). */
  mode?: number;
  mtime?: number;
}

function child(n: PNode, name: string): PNode | undefined { return n.c?.get(name); }

/** Go's path/filepath.Clean (lexical): no empty or "." elements, ".." resolved, no trailing "/". */
function goClean(name: string): string {
  const rooted = name.startsWith('/');
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(c);
  }
  const s = out.join('/');
  return rooted ? '/' + s : s || '.';
}

function setChild(n: PNode, name: string, c: PNode): void { (n.c ??= new Map()).set(name, c); }

class Applier implements TarHandler {
  readonly tree: PNode = { k: K.Dir, w: false };
  entries = 0;
  skippedDevices = 0;
  skippedXattrs = 0;
  private fd = -1;
  /** Sparse file being written: remaining segments, and where in the current one we are. */
  private sparseSegs: Array<[number, number]> | null = null;
  private sparseIdx = 0;
  private sparseDone = 0;
  contentSize = 0;
  private sparseBytes = 0;
  /** Every entry name seen, as written (see header()). */
  private readonly names = new Set<string>();
  private readonly root: string;
  private fdHeader: TarHeader | null = null;
  private fdPath = '';
  /** The payload of the current entry goes to the tar-split verbatim (not into a file). */
  private payloadRaw = false;
  private sinceDiskCheck = 0;
  readonly isRoot = process.getuid?.() === 0;
  /** Root was empty at the start: the tree is complete and no lstat is needed. */
  private readonly authoritative: boolean;
  current = '';
  private readonly sys = native();

  constructor(root: string, private readonly form: WhiteoutForm, private readonly limits: ApplyLimits,
    readonly split: TarSplitWriter | null) {
    this.root = B(root);
    this.authoritative = readdirSync(root).length === 0;
    this.checkDisk();
  }

  checkDisk(): void {
    const s = statfsSync(P(this.root));
    const free = s.bavail * s.bsize;
    if (free < this.limits.diskReserveBytes) {
      throw unavailable(`not enough disk space under ${shown(this.root)} to go on applying the layer: ${free} bytes free, ` +
        `${this.limits.diskReserveBytes} bytes are kept in reserve (at entry ${JSON.stringify(shown(this.current))})`);
    }
  }

  private bad(rule: string): StowageError {
    return invalidArgument(`layer entry ${JSON.stringify(shown(this.current))}: ${rule}`, { name: shown(this.current) });
  }

  // ---- TarHandler ----

  raw(b: Buffer): void { this.split?.raw(b); }

  data(chunk: Buffer): void {
    if (this.sparseSegs) {
      this.split?.raw(chunk);
      this.sparseData(chunk);
    } else if (this.fd >= 0) {
      let off = 0;
      while (off < chunk.length) off += writeSync(this.fd, chunk, off, chunk.length - off);
      this.sinceDiskCheck += chunk.length;
      if (this.sinceDiskCheck >= DISK_CHECK_EVERY) { this.sinceDiskCheck = 0; this.checkDisk(); }
    } else if (this.payloadRaw) this.split?.raw(chunk);
  }

  entryEnd(): void {
    if (this.fd >= 0) this.finishFile();
    this.payloadRaw = false;
    this.sparseSegs = null;
  }

  /** Writes a piece of a sparse file's stored data at the offsets its map names. */
  private sparseData(chunk: Buffer): void {
    const segs = this.sparseSegs!;
    let off = 0;
    while (off < chunk.length) {
      const seg = segs[this.sparseIdx]!;
      const take = Math.min(seg[1] - this.sparseDone, chunk.length - off);
      let w = 0;
      while (w < take) w += writeSync(this.fd, chunk, off + w, take - w, seg[0] + this.sparseDone + w);
      off += take;
      this.sparseDone += take;
      if (this.sparseDone === seg[1]) { this.sparseIdx++; this.sparseDone = 0; }
    }
    this.sinceDiskCheck += chunk.length;
    if (this.sinceDiskCheck >= DISK_CHECK_EVERY) { this.sinceDiskCheck = 0; this.checkDisk(); }
  }


  header(h: TarHeader): void {
    this.current = h.name;
    failpoint('apply:entry');
    if (++this.entries > this.limits.maxEntries) throw this.bad(`more than ${this.limits.maxEntries} entries (limit)`);
    // Docker's layer store (tar-split) refuses a layer naming the same path twice,
    // compared after Go's filepath.Clean ("./x" and "x/" are "x"; "/x" is not "x");
    // so does stowage, so an image loads in both or in neither.
    const cleaned = goClean(h.name);
    if (this.names.has(cleaned)) throw this.bad('duplicates of file paths not supported (the same path twice in one layer; Docker refuses it too)');
    this.names.add(cleaned);
    const comps = this.components(h.name);
    if (comps.length === 0) {
      if (h.type !== 'dir') throw this.bad('only a directory may name the root');
      this.dirMeta(this.tree, this.root, h);
      return;
    }
    const base = comps[comps.length - 1]!;
    if (base.startsWith('.wh.')) {
      this.payloadRaw = h.size > 0;
      if (base === '.wh..wh..opq') return this.opaque(comps.slice(0, -1));
      if (base.startsWith('.wh..wh.')) throw this.bad('reserved whiteout name (.wh..wh.*)');
      const target = base.slice(4);
      if (target === '' || target === '.' || target === '..') throw this.bad('whiteout without a valid target name');
      return this.whiteout(comps.slice(0, -1), target, h);
    }
    const rel = comps.join('/');
    const abs = this.root + '/' + rel;
    this.contentSize += h.sparse ? h.sparse.realSize : h.size;
    const parent = this.resolveDir(comps, comps.length - 1, true)!;
    switch (h.type) {
      case 'file': return this.file(parent, base, abs, rel, h);
      case 'dir': return this.dir(parent, base, abs, h);
      case 'symlink': return this.symlink(parent, base, abs, h);
      case 'hardlink': return this.hardlink(parent, base, abs, h);
      case 'char': case 'block': case 'fifo': return this.device(parent, base, abs, h);
    }
  }

  // ---- names and the tree ----

  /**
   * The cleaned components of an entry name, as Docker cleans it (Go's filepath.Clean):
   * "a/b/../c" is "a/c", resolved by text and never through the filesystem; ".." at
   * the top of an absolute name stays at the root ("/../x" is "x"); a relative name
   * that climbs out of the root ("../x", "a/../../x") is refused.
   */
  private components(name: string): string[] {
    const out: string[] = [];
    const absolute = name.startsWith('/');
    for (const c of name.split('/')) {
      if (c === '' || c === '.') continue;
      if (c === '..') {
        if (out.length > 0) out.pop();
        else if (!absolute) throw this.bad('".." in path (escape attempt)');
        continue;
      }
      if (Buffer.byteLength(c, 'latin1') > 255) throw this.bad('path component longer than 255 bytes');
      out.push(c);
    }
    let bytes = 0;
    for (const c of out) bytes += Buffer.byteLength(c, 'latin1') + 1;
    if (bytes > this.limits.maxPathLength) throw this.bad(`path longer than ${this.limits.maxPathLength} bytes (limit)`);
    if (out.length > this.limits.maxDepth) throw this.bad(`path deeper than ${this.limits.maxDepth} components (limit)`);
    return out;
  }

  /**
   * The node of the directory comps[0..n), every component checked to be a real
   * directory. Missing ones are created when `create` (implicit parents, 0755), else
   * null is returned. A symlink or non-directory among them is refused.
   */
  private resolveDir(comps: string[], n: number, create: boolean): PNode | null {
    let node = this.tree;
    let abs = this.root;
    for (let i = 0; i < n; i++) {
      const name = comps[i]!;
      abs += '/' + name;
      let c = child(node, name);
      if (c === undefined) {
        const st = this.authoritative ? undefined : lstatSync(P(abs), { throwIfNoEntry: false });
        if (st === undefined) {
          if (!create) return null;
          mkdirSync(P(abs), 0o755);
          c = { k: K.Dir, w: true, mode: 0o755, mtime: NaN };
        } else if (st.isDirectory()) c = { k: K.Dir, w: false };
        else if (st.isSymbolicLink()) throw this.bad(`parent ${JSON.stringify(comps.slice(0, i + 1).join('/'))} is a symlink; refusing to go through it`);
        else { if (!create) return null; throw this.bad(`parent ${JSON.stringify(comps.slice(0, i + 1).join('/'))} is not a directory`); }
        setChild(node, name, c);
      } else if (c.k === K.Symlink) {
        throw this.bad(`parent ${JSON.stringify(comps.slice(0, i + 1).join('/'))} is a symlink; refusing to go through it`);
      } else if (c.k !== K.Dir) {
        if (!create) return null;
        throw this.bad(`parent ${JSON.stringify(comps.slice(0, i + 1).join('/'))} is not a directory`);
      }
      if (create) c.w = true;
      node = c;
    }
    return node;
  }

  /** Keeps, in the tar-split, the payloads of this layer's files under `n` before they are removed. */
  private inlineSubtree(n: PNode, abs: string): void {
    if (!this.split) return;
    if (n.ref !== undefined) { this.split.inline(n.ref, abs, n.size!); n.ref = undefined; }
    if (n.c) for (const [name, c] of n.c) this.inlineSubtree(c, abs + '/' + name);
  }

  /** Removes whatever is at parent/name (known to the tree or only on disk). */
  private remove(parent: PNode, name: string, abs: string): void {
    const c = child(parent, name);
    if (c) { this.inlineSubtree(c, abs); parent.c!.delete(name); }
    const st = lstatSync(P(abs), { throwIfNoEntry: false });
    if (!st) return;
    if (st.isDirectory()) rmSync(P(abs), { recursive: true, force: true });
    else unlinkSync(P(abs));
  }

  /** Runs `make` to create parent/name, first removing what is there (if the tree or the disk says so). */
  private create(parent: PNode, name: string, abs: string, make: () => void): void {
    if (child(parent, name)) this.remove(parent, name, abs);
    try {
      make();
    } catch (e) {
      if (errnoCode(e) !== 'EEXIST') throw e;
      this.remove(parent, name, abs);
      make();
    }
  }

  // ---- entry kinds ----

  private file(parent: PNode, name: string, abs: string, rel: string, h: TarHeader): void {
    if (h.sparse) {
      this.sparseBytes += h.sparse.realSize;
      if (this.sparseBytes > this.limits.maxBytes) throw this.bad(`sparse files expand past ${this.limits.maxBytes} bytes (limit maxBytes)`);
    }
    this.create(parent, name, abs, () => { this.fd = openSync(P(abs), O_NEWFILE, 0o600); });
    const node: PNode = { k: K.File, w: true };
    if (h.sparse) {
      // The stored data is not the file's content: it goes to the tar-split verbatim.
      this.sparseSegs = h.sparse.segments;
      this.sparseIdx = 0;
      this.sparseDone = 0;
    } else if (this.split && h.size > 0) { node.ref = this.split.ref(rel, h.size); node.size = h.size; }
    setChild(parent, name, node);
    this.fdHeader = h;
    this.fdPath = abs;
  }

  private finishFile(): void {
    const h = this.fdHeader!;
    const fd = this.fd;
    try {
      if (h.sparse) ftruncateSync(fd, h.sparse.realSize);
      if (this.isRoot) fchownSync(fd, h.uid, h.gid);
      fchmodSync(fd, h.mode);   // after chown, which clears setuid/setgid
      this.xattrs(this.fdPath, h, false);
      futimesSync(fd, h.mtime, h.mtime);
    } finally {
      this.fd = -1;
      closeSync(fd);
    }
  }

  private dir(parent: PNode, name: string, abs: string, h: TarHeader): void {
    let c = child(parent, name);
    if (c && c.k !== K.Dir) { this.remove(parent, name, abs); c = undefined; }
    if (!c) {
      try {
        mkdirSync(P(abs), 0o700);
      } catch (e) {
        if (errnoCode(e) !== 'EEXIST') throw e;
        if (!lstatSync(P(abs)).isDirectory()) { this.remove(parent, name, abs); mkdirSync(P(abs), 0o700); }
      }
      c = { k: K.Dir, w: true };
      setChild(parent, name, c);
    }
    c.w = true;
    this.dirMeta(c, abs, h);
  }

  private dirMeta(n: PNode, abs: string, h: TarHeader): void {
    n.mode = h.mode;
    n.mtime = h.mtime;
    if (this.isRoot) lchownSync(P(abs), h.uid, h.gid);
    this.xattrs(abs, h, false);
  }

  private symlink(parent: PNode, name: string, abs: string, h: TarHeader): void {
    if (h.linkname === '') throw this.bad('symlink with an empty target');
    this.create(parent, name, abs, () => symlinkSync(P(h.linkname), P(abs)));
    setChild(parent, name, { k: K.Symlink, w: true });
    if (this.isRoot) lchownSync(P(abs), h.uid, h.gid);
    this.xattrs(abs, h, true);
    lutimesSync(P(abs), h.mtime, h.mtime);
  }

  private hardlink(parent: PNode, name: string, abs: string, h: TarHeader): void {
    const tc = this.components(h.linkname);
    if (tc.length === 0) throw this.bad('hardlink to the root directory');
    const tparent = this.resolveDir(tc, tc.length - 1, false);
    const tname = tc[tc.length - 1]!;
    const tabs = this.root + '/' + tc.join('/');
    if (!tparent) throw this.bad(`hardlink target ${JSON.stringify(shown(h.linkname))} does not exist in the layer`);
    let kind: K;
    const tn = child(tparent, tname);
    if (tn) kind = tn.k;
    else {
      const st = this.authoritative ? undefined : lstatSync(P(tabs), { throwIfNoEntry: false });
      if (!st) throw this.bad(`hardlink target ${JSON.stringify(shown(h.linkname))} does not exist in the layer`);
      kind = st.isDirectory() ? K.Dir : st.isSymbolicLink() ? K.Symlink : K.File;
    }
    if (kind === K.Dir) throw this.bad(`hardlink to a directory (${JSON.stringify(shown(h.linkname))})`);
    if (tabs !== abs) {
      this.create(parent, name, abs, () => linkSync(P(tabs), P(abs)));
      setChild(parent, name, { k: kind === K.Symlink ? K.Symlink : K.Other, w: true });
    }
    // The link entry's own metadata goes to the shared inode, as Docker applies it
    // (lchown, xattrs, then chmod and mtime unless the inode is a symlink).
    if (this.isRoot) lchownSync(P(abs), h.uid, h.gid);
    this.xattrs(abs, h, kind === K.Symlink);
    if (kind !== K.Symlink) {
      chmodSync(P(abs), h.mode);
      utimesSync(P(abs), h.mtime, h.mtime);
    }
  }

  private device(parent: PNode, name: string, abs: string, h: TarHeader): void {
    if (h.type !== 'fifo' && !this.isRoot) { this.skippedDevices++; return; }
    const fmt = h.type === 'fifo' ? S_IFIFO : h.type === 'char' ? S_IFCHR : S_IFBLK;
    this.create(parent, name, abs, () => this.sys.mknod(P(abs), fmt | 0o600, h.devmajor, h.devminor));
    setChild(parent, name, { k: K.Other, w: true });
    if (this.isRoot) lchownSync(P(abs), h.uid, h.gid);
    chmodSync(P(abs), h.mode); // abs is the node just made, not a symlink; parents are checked
    this.xattrs(abs, h, false);
    lutimesSync(P(abs), h.mtime, h.mtime);
  }

  private xattrs(abs: string, h: TarHeader, isLink: boolean): void {
    for (const k in h.xattrs) {
      if (k.startsWith('trusted.overlay.') || (!this.isRoot && (k.startsWith('trusted.') || k.startsWith('security.')))) {
        this.skippedXattrs++;
        continue;
      }
      try {
        this.sys.lsetxattr(P(abs), k, h.xattrs[k]!);
      } catch (e) {
        const code = errnoCode(e);
        if (isLink && code === 'EPERM') { this.skippedXattrs++; continue; } // user.* is not allowed on symlinks
        if (code === 'ENOTSUP') throw unavailable(`the filesystem under ${this.root} does not support xattr ${k} (entry ${this.current})`, { cause: e });
        throw e;
      }
    }
  }

  // ---- whiteouts ----

  private whiteout(dirComps: string[], name: string, h: TarHeader): void {
    const abs = this.root + '/' + (dirComps.length ? dirComps.join('/') + '/' : '') + name;
    if (this.form === 'overlay') {
      const parent = this.resolveDir(dirComps, dirComps.length, true)!;
      this.create(parent, name, abs, () => {
        try {
          this.sys.mknod(P(abs), S_IFCHR, 0, 0);
        } catch (e) {
          if (errnoCode(e) === 'EPERM') throw permissionDenied(`creating the overlay whiteout for ${this.current} needs root`, { cause: e });
          throw e;
        }
      });
      setChild(parent, name, { k: K.Other, w: true });
      if (this.isRoot) lchownSync(P(abs), h.uid, h.gid);
      return;
    }
    // Docker makes the parent folders every entry implies, whiteouts included, so a
    // whiteout under a missing folder leaves that (empty) folder, in both forms.
    const parent = this.resolveDir(dirComps, dirComps.length, true)!;
    this.remove(parent, name, abs);
  }

  private opaque(dirComps: string[]): void {
    const dirAbs = dirComps.length ? this.root + '/' + dirComps.join('/') : this.root;
    const node = this.resolveDir(dirComps, dirComps.length, true)!;
    if (this.form === 'overlay') {
      try {
        this.sys.lsetxattr(P(dirAbs), 'trusted.overlay.opaque', Buffer.from('y'));
      } catch (e) {
        if (errnoCode(e) === 'EPERM') throw permissionDenied(`marking ${this.current} opaque (trusted.overlay.opaque) needs root`, { cause: e });
        throw e;
      }
      return;
    }
    this.prune(node, dirAbs);
  }

  /** 'remove' form opaque: deletes what the lower layers had under dir, keeps what this layer wrote. */
  private prune(node: PNode, abs: string): void {
    for (const name of readdirSync(P(abs), { encoding: 'latin1' })) {
      const c = child(node, name);
      const p = abs + '/' + name;
      if (c && c.w) {
        if (c.k === K.Dir) this.prune(c, p);
        continue;
      }
      this.remove(node, name, p);
    }
  }

  // ---- the end ----

  /** Directory modes and mtimes, now that nothing more is written into them. */
  finishDirs(): void {
    const walk = (n: PNode, abs: string): void => {
      if (n.c) for (const [name, c] of n.c) if (c.k === K.Dir) walk(c, abs + '/' + name);
      if (n.mode !== undefined) {
        chmodSync(P(abs), n.mode);
        if (!Number.isNaN(n.mtime)) lutimesSync(P(abs), n.mtime!, n.mtime!);
      }
    };
    walk(this.tree, this.root);
  }

  /** Closes the open file, if any (error path). */
  close(): void {
    if (this.fd >= 0) { try { closeSync(this.fd); } catch { /* already failing */ } this.fd = -1; }
    this.split?.close();
  }
}

function wrapFsError(e: unknown, entry: string): unknown {
  if (e instanceof StowageError) return e;
  const code = errnoCode(e);
  const what = `layer entry ${JSON.stringify(entry)}: ${(e as Error)?.message ?? String(e)}`;
  switch (code) {
    case 'ENOSPC': case 'EDQUOT': return unavailable(`disk full while applying ${what}`, { cause: e, name: entry });
    case 'ENAMETOOLONG': case 'ELOOP': case 'ENOTDIR': case 'EEXIST': case 'EISDIR': case 'EINVAL': case 'ENOENT':
      return invalidArgument(what, { cause: e, name: entry });
    case 'EPERM': case 'EACCES': return permissionDenied(what, { cause: e, name: entry });
    default: return code ? internal(what, { cause: e, name: entry }) : e;
  }
}

/**
 * Extracts a layer tar (plain, gzip or zstd) into root. Throws StowageError('InvalidArgument', …)
 * naming the offending entry for hostile or malformed input. On any error the caller removes root.
 */
export async function applyLayer(src: AsyncIterable<Buffer>, root: string, opts: ApplyOptions): Promise<ApplyResult> {
  const limits: ApplyLimits = { ...DEFAULT_APPLY_LIMITS, ...opts.limits };
  const blobHash = createHash('sha256');
  const diffHash = createHash('sha256');
  let blobSize = 0;
  let compressed = false;
  let size = 0;
  const signal = opts.signal;
  signal?.throwIfAborted();
  // Compressed input is hashed as the decoder consumes it; plain input is its own
  // diff, so its blob digest and size are the diffId and size (hashed once).
  const onCompressed = (c: Buffer): void => { compressed = true; blobHash.update(c); blobSize += c.length; };
  const split = opts.tarSplitPath ? new TarSplitWriter(opts.tarSplitPath) : null;
  let app: Applier;
  try {
    app = new Applier(root, opts.whiteouts, limits, split);
  } catch (e) {
    split?.close();
    throw e;
  }
  const parser = new TarParser(app, { maxPaxBytes: limits.maxPaxBytes, binaryNames: true });
  try {
    for await (const chunk of decompress(src, { onCompressed })) {
      signal?.throwIfAborted();
      size += chunk.length;
      if (size > limits.maxBytes) throw invalidArgument(`layer is larger than ${limits.maxBytes} bytes uncompressed (limit maxBytes)`);
      diffHash.update(chunk);
      try {
        parser.push(chunk);
      } catch (e) {
        throw wrapFsError(e, shown(app.current));
      }
    }
    try {
      parser.end();
      app.finishDirs();
      split?.finish();
    } catch (e) {
      throw wrapFsError(e, shown(app.current));
    }
  } finally {
    app.close();
  }
  const diffId = 'sha256:' + diffHash.digest('hex');
  return {
    diffId,
    size,
    blobDigest: compressed ? 'sha256:' + blobHash.digest('hex') : diffId,
    blobSize: compressed ? blobSize : size,
    contentSize: app.contentSize,
    entries: app.entries,
    skippedDevices: app.skippedDevices,
    skippedXattrs: app.skippedXattrs,
  };
}
