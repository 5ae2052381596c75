// tar-reader.ts: a streaming tar parser written by hand, for two reasons. Layer
// tars are hostile input, so every field is checked strictly (checksum, numeric
// syntax, sizes, PAX record framing) and every malformed byte is reported with its
// offset. And tar-split needs the bytes that are not payload exactly as they were
// (header blocks, PAX and GNU long-name blocks, padding, the end-of-archive
// trailer), which no npm tar library hands out.
//
// Layers:
//   TarParser   push-based and synchronous: feed chunks with push(), get events
//               (raw bytes, header, payload, entry end) on a TarHandler in order.
//               apply.ts uses it so a whole chunk is handled with synchronous fs
//               calls and no promise per entry.
//   readTar     the async-iterator form of the contract, built on TarParser.
//   indexTarFile  random access into a tar on disk (docker-archive).
//
// Formats read: v7, ustar (with prefix), star (131-byte prefix), GNU (long names
// 'L', long links 'K', base-256 numbers), PAX ('x' per entry; an empty value
// removes the keyword). PAX global headers ('g') are read and change nothing: Go's
// archive/tar hands them out as entries of their own and Docker ignores them, so a
// global uid, mtime or path changes nothing in a Docker layer (checked against a
// real Docker: no record applies, no directory is made for the header's name, and
// 'x' records just before a 'g' are spent on it). Header-only types (links, dirs,
// devices, FIFOs) carry no payload whatever their size field says, as in Go's
// archive/tar, which produced most layers and Docker's tar-split.
// Sparse files: old GNU ('S', with extension blocks), PAX 0.0 (GNU.sparse.offset/
// numbytes pairs), 0.1 (GNU.sparse.map) and 1.0 (the map at the start of the
// payload) are read as 'file' entries with a `sparse` map; the payload events
// carry only the stored data, in map order, and the handler places it. Unsupported
// on purpose: multi-volume ('M'), volume labels ('V'), and unknown entry types.
//
// Names: with `binaryNames`, entry names and link targets are "byte strings"
// (latin1: one char per byte, so any byte sequence survives, valid UTF-8 or not);
// the layer code (apply, tar-split, changes) works on those and hands the fs
// Buffer paths. Without it names are decoded as UTF-8 (archive members, JSON).
import { open } from 'node:fs/promises';
import { invalidArgument } from '../errors.js';

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/** Where the data of a sparse file lies: [offset, length] pairs, and the file's real size. */
export interface SparseMap { realSize: number; segments: Array<[number, number]> }

export interface TarHeader {
  name: string;
  type: EntryType;
  mode: number;
  uid: number; gid: number; uname: string; gname: string;
  size: number;
  mtime: number;
  linkname: string;
  devmajor: number; devminor: number;
  xattrs: Record<string, Buffer>;
  /** A sparse file: `size` is the stored data (the payload), sparse.realSize the file's size. */
  sparse?: SparseMap;
}

export interface TarEntry { header: TarHeader; body: AsyncIterable<Buffer> }

export interface TarParserOptions {
  /** Largest PAX ('x'/'g') or GNU long-name payload accepted. Default 1 MiB. */
  maxPaxBytes?: number;
  /** Names and link targets as latin1 byte strings (see the module header). */
  binaryNames?: boolean;
}

/** Receives the parser's events, in stream order. Buffers may be slices of the pushed chunk. */
export interface TarHandler {
  /** Bytes that are not payload: header blocks (PAX/GNU ones included), padding, trailer. */
  raw(bytes: Buffer): void;
  /** An entry's header, after its raw() blocks; `offset` is where its own header block starts. */
  header(h: TarHeader, offset: number): void;
  /** A piece of the current entry's payload. */
  data(chunk: Buffer): void;
  /** The current entry's payload is complete (its padding follows as raw()). */
  entryEnd(): void;
}

export const BLOCK = 512;
const MAX_ID = 0xffffffff;
const DEFAULT_MAX_PAX = 1 << 20;
const ZERO_BLOCK = Buffer.alloc(BLOCK);

type State = 'header' | 'data' | 'meta' | 'pad' | 'zero1' | 'trailer' | 'sparseExt' | 'sparseMap';

function bad(offset: number, what: string): Error {
  return invalidArgument(`malformed tar at byte ${offset}: ${what}`);
}

/** NUL-terminated string field. */
function str(b: Buffer, off: number, len: number, enc: 'utf8' | 'latin1' = 'utf8'): string {
  let end = off;
  const max = off + len;
  while (end < max && b[end] !== 0) end++;
  return b.toString(enc, off, end);
}

/** A numeric header field: octal text, or base-256 when the high bit of the first byte is set. */
function num(b: Buffer, off: number, len: number, field: string, at: number, allowNegative = false): number {
  const first = b[off]!;
  if (first & 0x80) {
    const negative = first === 0xff;
    if (negative && !allowNegative) throw bad(at, `negative base-256 ${field}`);
    let v = negative ? 0 : first & 0x7f;
    for (let i = 1; i < len; i++) {
      const byte = negative ? 0xff - b[off + i]! : b[off + i]!;
      v = v * 256 + byte;
      if (v > Number.MAX_SAFE_INTEGER) throw bad(at, `base-256 ${field} too large`);
    }
    return negative ? -(v + 1) : v;
  }
  let i = off;
  const end = off + len;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) {
    if (b[i] === 0) { // all NULs: an empty field means 0
      let allNul = true;
      for (let j = i; j < end; j++) if (b[j] !== 0) { allNul = false; break; }
      if (allNul) return 0;
    }
    i++;
  }
  let v = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c >= 0x30 && c <= 0x37) { v = v * 8 + (c - 0x30); digits++; continue; }
    if (c === 0x20 || c === 0) break;
    throw bad(at, `invalid octal ${field}`);
  }
  for (; i < end; i++) if (b[i] !== 0x20 && b[i] !== 0) throw bad(at, `invalid octal ${field}`);
  if (v > Number.MAX_SAFE_INTEGER) throw bad(at, `${field} too large`);
  return digits === 0 ? 0 : v;
}

function checksumOk(b: Buffer, off: number, at: number): boolean {
  const stored = num(b, off + 148, 8, 'checksum', at);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : b[off + i]!;
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return stored === unsigned || stored === signed;
}

interface Pax { [key: string]: Buffer }

/** Parses PAX extended header records ("LEN KEY=VALUE\n"). Values stay bytes (xattrs are binary). */
export function parsePaxRecords(buf: Buffer, at = 0): Pax {
  const out: Pax = Object.create(null) as Pax;
  let pos = 0;
  while (pos < buf.length) {
    if (buf[pos] === 0) { // NUL padding after the last record is tolerated, nothing else
      for (let i = pos; i < buf.length; i++) if (buf[i] !== 0) throw bad(at, 'garbage after PAX records');
      break;
    }
    let len = 0;
    let i = pos;
    while (i < buf.length && buf[i] !== 0x20) {
      const c = buf[i]!;
      if (c < 0x30 || c > 0x39 || (i === pos && c === 0x30) || i - pos > 9) throw bad(at, 'malformed PAX record length');
      len = len * 10 + (c - 0x30);
      i++;
    }
    if (i >= buf.length || i === pos || len < i - pos + 4 || pos + len > buf.length) throw bad(at, 'malformed PAX record');
    const rec = buf.subarray(i + 1, pos + len);
    if (rec[rec.length - 1] !== 0x0a) throw bad(at, 'PAX record not terminated by newline');
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw bad(at, 'PAX record without key');
    const key = rec.toString('utf8', 0, eq);
    const value = Buffer.from(rec.subarray(eq + 1, rec.length - 1));
    if (key === 'GNU.sparse.offset' || key === 'GNU.sparse.numbytes') {
      // PAX sparse 0.0 repeats these two keys, in pairs; kept in order as one map, as Go does.
      const prev = out['GNU.sparse.map'];
      out['GNU.sparse.map'] = prev ? Buffer.concat([prev, Buffer.from(','), value]) : value;
      pos += len;
      continue;
    }
    out[key] = value;
    pos += len;
  }
  return out;
}

const TYPES: Record<number, EntryType> = {
  0x30: 'file', 0x37: 'file', 0x31: 'hardlink', 0x32: 'symlink', 0x33: 'char', 0x34: 'block', 0x35: 'dir', 0x36: 'fifo',
};

function paxInt(v: Buffer, key: string, at: number, max: number): number {
  const s = v.toString('latin1');
  if (!/^\d{1,16}$/.test(s)) throw bad(at, `invalid PAX ${key}`);
  const n = Number(s);
  if (n > max) throw bad(at, `PAX ${key} too large`);
  return n;
}

/** Push-based, synchronous tar parser; see the module header. */
export class TarParser {
  /** Bytes consumed so far. */
  offset = 0;
  private state: State = 'header';
  private readonly blk = Buffer.alloc(BLOCK);
  private blkFill = 0;
  private remaining = 0;     // payload (data/meta) or padding bytes still expected
  private padAfter = 0;
  private metaType = 0;
  private metaBuf: Buffer | null = null;
  private metaFill = 0;
  private metaAt = 0;
  private local: Pax = Object.create(null) as Pax;
  private longName: string | null = null;
  private longLink: string | null = null;
  private readonly maxPax: number;
  private readonly enc: 'utf8' | 'latin1';
  /** A sparse entry whose map is still being read (old GNU extension blocks, PAX 1.0 map). */
  private pending: TarHeader | null = null;
  private pendingAt = 0;
  private mapText = '';
  private sparse10 = false;
  private ended = false;

  constructor(private readonly h: TarHandler, opts: TarParserOptions = {}) {
    this.maxPax = opts.maxPaxBytes ?? DEFAULT_MAX_PAX;
    this.enc = opts.binaryNames ? 'latin1' : 'utf8';
  }

  /** True once the end-of-archive marker (or a clean end of input) was seen. */
  get done(): boolean { return this.state === 'trailer'; }

  push(chunk: Buffer): void {
    let pos = 0;
    const n = chunk.length;
    while (pos < n) {
      switch (this.state) {
        case 'header':
        case 'zero1':
        case 'sparseExt':
        case 'sparseMap': {
          if (this.blkFill === 0 && n - pos >= BLOCK) {
            const b = chunk.subarray(pos, pos + BLOCK);
            pos += BLOCK;
            this.block(b, b, 0);
          } else {
            const take = Math.min(BLOCK - this.blkFill, n - pos);
            chunk.copy(this.blk, this.blkFill, pos, pos + take);
            this.blkFill += take;
            pos += take;
            if (this.blkFill === BLOCK) {
              this.blkFill = 0;
              this.block(Buffer.from(this.blk), this.blk, 0);
            }
          }
          break;
        }
        case 'data': {
          const take = Math.min(this.remaining, n - pos);
          this.h.data(chunk.subarray(pos, pos + take));
          pos += take;
          this.offset += take;
          this.remaining -= take;
          if (this.remaining === 0) this.finishPayload();
          break;
        }
        case 'meta': {
          const take = Math.min(this.remaining, n - pos);
          const part = chunk.subarray(pos, pos + take);
          part.copy(this.metaBuf!, this.metaFill);
          this.metaFill += take;
          this.h.raw(part);
          pos += take;
          this.offset += take;
          this.remaining -= take;
          if (this.remaining === 0) {
            this.finishMeta();
            this.startPad();
          }
          break;
        }
        case 'pad': {
          const take = Math.min(this.remaining, n - pos);
          this.h.raw(chunk.subarray(pos, pos + take));
          pos += take;
          this.offset += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = 'header';
          break;
        }
        case 'trailer': {
          this.h.raw(chunk.subarray(pos));
          this.offset += n - pos;
          pos = n;
          break;
        }
      }
    }
  }

  /** Call at end of input: throws when the archive stops inside an entry. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.state === 'trailer') return;
    const pending = this.blkFill > 0 || this.state === 'data' || this.state === 'meta' || this.state === 'pad';
    if (pending) throw bad(this.offset + this.blkFill, 'truncated archive (input ends inside an entry)');
    if (this.metaType !== 0 || this.longName !== null || this.longLink !== null || Object.keys(this.local).length > 0) {
      throw bad(this.offset, 'truncated archive (extended header without its entry)');
    }
    this.state = 'trailer';
  }

  private startPad(): void {
    const pad = this.padAfter;
    if (pad > 0) { this.remaining = pad; this.state = 'pad'; } else this.state = 'header';
  }

  private finishPayload(): void {
    this.h.entryEnd();
    this.startPad();
  }

  /** One 512-byte header block. `raw` is a stable copy or a slice; `b` at `o` is readable now. */
  private block(raw: Buffer, b: Buffer, o: number): void {
    const at = this.offset;
    this.offset += BLOCK;
    if (this.state === 'sparseExt') return this.sparseExtBlock(raw, b, o, at);
    if (this.state === 'sparseMap') return this.sparseMapBlock(raw, b, o, at);
    if (b.equals(ZERO_BLOCK)) {
      this.h.raw(raw);
      if (this.state === 'zero1') this.state = 'trailer';
      else {
        if (this.metaType !== 0 || this.longName !== null || Object.keys(this.local).length > 0) {
          throw bad(at, 'end-of-archive marker after an extended header');
        }
        this.state = 'zero1';
      }
      return;
    }
    if (this.state === 'zero1') throw bad(at, 'header after a single zero block');
    if (!checksumOk(b, o, at)) throw bad(at, 'header checksum mismatch');
    this.h.raw(raw);
    const tf = b[o + 156]!;
    const size = num(b, o + 124, 12, 'size', at);
    // Meta entries: PAX and GNU long names.
    if (tf === 0x78 /* x */ || tf === 0x67 /* g */ || tf === 0x4c /* L */ || tf === 0x4b /* K */) {
      if (size > this.maxPax) throw bad(at, `extended header of ${size} bytes exceeds the limit of ${this.maxPax}`);
      this.metaType = tf;
      this.metaBuf = Buffer.allocUnsafe(size);
      this.metaFill = 0;
      this.metaAt = at;
      this.padAfter = (BLOCK - (size % BLOCK)) % BLOCK;
      if (size === 0) { this.finishMeta(); this.startPad(); } else { this.remaining = size; this.state = 'meta'; }
      return;
    }
    const hdr = this.decode(b, o, tf, size, at);
    const payload = hdr.type === 'file' ? hdr.size : 0;
    this.padAfter = (BLOCK - (payload % BLOCK)) % BLOCK;
    if (tf === 0x53 /* S: old GNU sparse */) {
      hdr.sparse = { realSize: num(b, o + 483, 12, 'sparse real size', at), segments: [] };
      this.pendingAt = at;
      this.pending = hdr;
      if (this.sparseEntries(b, o + 386, 4, at)) { this.state = 'sparseExt'; return; }
      return this.startSparseData(at);
    }
    if (hdr.sparse && hdr.sparse.segments.length === 0 && this.sparse10) {
      // PAX sparse 1.0: the map is at the start of the payload, in whole blocks.
      this.sparse10 = false;
      this.pending = hdr;
      this.pendingAt = at;
      this.mapText = '';
      this.remaining = payload;
      if (payload === 0) throw bad(at, 'sparse 1.0 entry without its map');
      this.state = 'sparseMap';
      return;
    }
    if (hdr.sparse) { this.pending = hdr; this.pendingAt = at; return this.startSparseData(at); }
    this.h.header(hdr, at);
    if (payload > 0) { this.remaining = payload; this.state = 'data'; } else this.finishPayload();
  }

  /** Reads `n` old-GNU sparse entries at b[off]; returns the "is extended" flag that follows them. */
  private sparseEntries(b: Buffer, off: number, n: number, at: number): boolean {
    const segs = this.pending!.sparse!.segments;
    for (let i = 0; i < n; i++) {
      const e = off + i * 24;
      if (b[e] === 0) break; // GNU and Go stop at an empty offset field
      segs.push([num(b, e, 12, 'sparse offset', at), num(b, e + 12, 12, 'sparse length', at)]);
    }
    if (segs.length > this.maxPax / 24) throw bad(at, 'sparse map too large');
    return b[off + n * 24] !== 0;
  }

  private sparseExtBlock(raw: Buffer, b: Buffer, o: number, at: number): void {
    this.h.raw(raw);
    if (!this.sparseEntries(b, o, 21, at)) this.startSparseData(this.pendingAt);
  }

  private sparseMapBlock(raw: Buffer, b: Buffer, o: number, at: number): void {
    this.h.raw(raw);
    if (this.remaining < BLOCK) throw bad(at, 'sparse 1.0 map runs past the entry');
    this.remaining -= BLOCK;
    this.mapText += b.toString('latin1', o, o + BLOCK);
    if (this.mapText.length > this.maxPax) throw bad(at, 'sparse map too large');
    const nums = this.mapText.split('\n');
    nums.pop(); // the unterminated tail (padding or a number cut by the block boundary)
    if (nums.length === 0) return;
    if (!/^\d{1,16}$/.test(nums[0]!)) throw bad(this.pendingAt, 'malformed sparse 1.0 map');
    const count = Number(nums[0]);
    if (nums.length < 1 + 2 * count) {
      if (this.remaining === 0) throw bad(this.pendingAt, 'sparse 1.0 map runs past the entry');
      return;
    }
    const segs = this.pending!.sparse!.segments;
    for (let i = 0; i < count; i++) {
      const a = nums[1 + 2 * i]!;
      const l = nums[2 + 2 * i]!;
      if (!/^\d{1,16}$/.test(a) || !/^\d{1,16}$/.test(l)) throw bad(this.pendingAt, 'malformed sparse 1.0 map');
      segs.push([Number(a), Number(l)]);
    }
    this.pending!.size = this.remaining;
    this.startSparseData(this.pendingAt);
  }

  /** The sparse map is complete: checks it, hands out the header, reads the stored data. */
  private startSparseData(at: number): void {
    const h = this.pending!;
    this.pending = null;
    const sp = h.sparse!;
    let end = 0;
    let stored = 0;
    for (const [off, len] of sp.segments) {
      if (off < end || off + len > sp.realSize || !Number.isSafeInteger(off + len)) throw bad(at, 'sparse map entries overlap or lie past the real size');
      end = off + len;
      stored += len;
    }
    if (stored !== h.size) throw bad(at, `sparse map names ${stored} bytes of data, the entry stores ${h.size}`);
    this.h.header(h, at);
    if (h.size > 0) { this.remaining = h.size; this.state = 'data'; } else this.finishPayload();
  }

  private finishMeta(): void {
    const buf = this.metaBuf!;
    const at = this.metaAt;
    const tf = this.metaType;
    this.metaBuf = null;
    this.metaType = 0;
    if (tf === 0x4c || tf === 0x4b) {
      let end = buf.indexOf(0);
      if (end < 0) end = buf.length;
      const s = buf.toString(this.enc, 0, end);
      if (tf === 0x4c) this.longName = s; else this.longLink = s;
      return;
    }
    const recs = parsePaxRecords(buf, at);
    if (tf === 0x67) {
      // Not applied (see the module header); local records before it were spent on it.
      this.local = Object.create(null) as Pax;
    } else {
      for (const [k, v] of Object.entries(recs)) this.local[k] = v;
    }
  }

  private decode(b: Buffer, o: number, tf: number, rawSize: number, at: number): TarHeader {
    let type: EntryType | undefined = TYPES[tf];
    let name = str(b, o, 100, this.enc);
    const magic = b.toString('latin1', o + 257, o + 263);
    if (magic === 'ustar\0') {
      const star = b.toString('latin1', o + 508, o + 512) === 'tar\0';
      const prefix = str(b, o + 345, star ? 131 : 155, this.enc);
      if (prefix) name = prefix + '/' + name;
    }
    if (tf === 0) type = name.endsWith('/') ? 'dir' : 'file';
    if (tf === 0x53 /* S: old GNU sparse */) type = 'file';
    if (type === undefined) {
      const c = String.fromCharCode(tf);
      throw bad(at, `unsupported entry type '${c}'`);
    }
    const h: TarHeader = {
      name,
      type,
      mode: num(b, o + 100, 8, 'mode', at) & 0o7777,
      uid: num(b, o + 108, 8, 'uid', at),
      gid: num(b, o + 116, 8, 'gid', at),
      uname: '', gname: '',
      size: rawSize,
      mtime: num(b, o + 136, 12, 'mtime', at, true),
      linkname: str(b, o + 157, 100, this.enc),
      devmajor: 0, devminor: 0,
      xattrs: {},
    };
    if (magic === 'ustar\0' || magic === 'ustar ') {
      h.uname = str(b, o + 265, 32);
      h.gname = str(b, o + 297, 32);
      h.devmajor = num(b, o + 329, 8, 'devmajor', at);
      h.devminor = num(b, o + 337, 8, 'devminor', at);
    }
    if (this.longName !== null) { h.name = this.longName; this.longName = null; }
    if (this.longLink !== null) { h.linkname = this.longLink; this.longLink = null; }
    const recs: Pax = this.local;
    let sparseMajor = '';
    let sparseMap: string | null = null;
    let sparseSize = -1;
    let sparseName: string | null = null;
    for (const [k, v] of Object.entries(recs)) {
      if (v.length === 0) continue; // an empty value removes the keyword
      switch (k) {
        case 'path': h.name = v.toString(this.enc); if (v.includes(0)) throw bad(at, 'NUL in PAX path'); break;
        case 'linkpath': h.linkname = v.toString(this.enc); if (v.includes(0)) throw bad(at, 'NUL in PAX linkpath'); break;
        case 'GNU.sparse.major': sparseMajor = v.toString('latin1'); break;
        case 'GNU.sparse.map': sparseMap = v.toString('latin1'); break;
        case 'GNU.sparse.name': sparseName = v.toString(this.enc); if (v.includes(0)) throw bad(at, 'NUL in PAX path'); break;
        case 'GNU.sparse.size': case 'GNU.sparse.realsize': sparseSize = paxInt(v, k, at, Number.MAX_SAFE_INTEGER); break;
        case 'size': h.size = paxInt(v, k, at, Number.MAX_SAFE_INTEGER); break;
        case 'uid': h.uid = paxInt(v, k, at, MAX_ID); break;
        case 'gid': h.gid = paxInt(v, k, at, MAX_ID); break;
        case 'uname': h.uname = v.toString('utf8'); break;
        case 'gname': h.gname = v.toString('utf8'); break;
        case 'mtime': {
          const s = v.toString('latin1');
          if (!/^-?\d{1,16}(\.\d{1,9}\d*)?$/.test(s)) throw bad(at, 'invalid PAX mtime');
          h.mtime = Number(s);
          break;
        }
        default:
          if (k.startsWith('SCHILY.xattr.')) h.xattrs[k.slice(13)] = v;
      }
    }
    this.local = Object.create(null) as Pax;
    if (sparseName !== null) h.name = sparseName;
    if (type === 'file' && tf !== 0x53 && (sparseMajor !== '' || sparseMap !== null)) {
      if (sparseSize < 0) throw bad(at, 'sparse entry without its real size');
      const segments: Array<[number, number]> = [];
      if (sparseMajor === '1') this.sparse10 = true;
      else {
        const parts = (sparseMap ?? '').split(',').filter((x) => x !== '');
        if (parts.length % 2 !== 0 || parts.some((x) => !/^\d{1,16}$/.test(x))) throw bad(at, 'malformed sparse map');
        for (let i = 0; i < parts.length; i += 2) segments.push([Number(parts[i]), Number(parts[i + 1])]);
      }
      h.sparse = { realSize: sparseSize, segments };
    }
    if (h.uid > MAX_ID || h.gid > MAX_ID) throw bad(at, 'uid/gid out of range');
    if (h.devmajor > MAX_ID || h.devminor > MAX_ID) throw bad(at, 'device number out of range');
    if (h.type !== 'file') h.size = 0;
    if (h.name.length === 0) throw bad(at, 'empty entry name');
    if (h.name.includes('\0') || h.linkname.includes('\0')) throw bad(at, 'NUL in name');
    return h;
  }
}

/**
 * Reads a tar stream entry by entry. Each entry's body must be consumed or left
 * before asking for the next entry (it is skipped then).
 */
export async function* readTar(src: AsyncIterable<Buffer>, opts: { signal?: AbortSignal; maxPaxBytes?: number } = {}): AsyncGenerator<TarEntry> {
  type Ev = { k: 'h'; h: TarHeader } | { k: 'd'; b: Buffer } | { k: 'e' };
  let queue: Ev[] = [];
  let qi = 0;
  const parser = new TarParser({
    raw() { /* not needed here */ },
    header(h) { queue.push({ k: 'h', h }); },
    data(b) { queue.push({ k: 'd', b }); },
    entryEnd() { queue.push({ k: 'e' }); },
  }, opts.maxPaxBytes === undefined ? {} : { maxPaxBytes: opts.maxPaxBytes });
  const it = src[Symbol.asyncIterator]();
  let srcDone = false;
  // Next event, pulling input as needed; null at the end of the archive.
  const next = async (): Promise<Ev | null> => {
    while (qi >= queue.length) {
      queue = [];
      qi = 0;
      if (srcDone) return null;
      opts.signal?.throwIfAborted();
      const r = await it.next();
      if (r.done) { srcDone = true; parser.end(); continue; }
      parser.push(r.value);
    }
    return queue[qi++]!;
  };
  try {
    let ev = await next();
    while (ev !== null) {
      if (ev.k !== 'h') { ev = await next(); continue; }
      let finished = false;
      const body = async function* (): AsyncGenerator<Buffer> {
        for (;;) {
          const e = await next();
          if (e === null || e.k === 'e') { finished = true; return; }
          if (e.k === 'd') yield e.b;
        }
      };
      yield { header: ev.h, body: body() };
      if (!finished) {
        for (;;) {
          const e = await next();
          if (e === null || e.k === 'e') break;
        }
      }
      ev = await next();
    }
  } finally {
    if (!srcDone) await it.return?.();
  }
}

/** Index of a tar file on disk: name -> header and payload offset, for random access (docker-archive). */
export async function indexTarFile(path: string): Promise<Map<string, { header: TarHeader; offset: number; size: number }>> {
  const out = new Map<string, { header: TarHeader; offset: number; size: number }>();
  const fh = await open(path, 'r');
  try {
    // Headers are parsed from the stream, but payloads are skipped with positioned reads
    // rather than read: indexing a multi-GB archive reads only its headers.
    const buf = Buffer.allocUnsafe(BLOCK * 128);
    let pos = 0;
    let pending: { header: TarHeader; offset: number } | null = null;
    const parser = new TarParser({
      raw() {},
      header(h, at) { pending = { header: h, offset: at }; },
      data() {},
      entryEnd() {},
    });
    const stat = await fh.stat();
    while (!parser.done) {
      // Skip payload in one jump: the parser only needs the header blocks.
      const p = parser as unknown as { state: State; remaining: number };
      if (p.state === 'data' && p.remaining > BLOCK) {
        const skip = p.remaining - (p.remaining % BLOCK || BLOCK);
        if (pos + skip > stat.size) throw bad(pos, 'truncated archive (input ends inside an entry)');
        p.remaining -= skip;
        parser.offset += skip;
        pos += skip;
      }
      const want = p.state === 'data' ? Math.min(buf.length, p.remaining + BLOCK) : BLOCK;
      const { bytesRead } = await fh.read(buf, 0, want, pos);
      if (bytesRead === 0) { parser.end(); break; }
      pos += bytesRead;
      parser.push(buf.subarray(0, bytesRead));
      const got = pending as { header: TarHeader; offset: number } | null;
      if (got) {
        const payload = got.header.type === 'file' ? got.header.size : 0;
        // The payload starts right after the entry's own header block.
        out.set(got.header.name, { header: got.header, offset: got.offset + BLOCK, size: payload });
        pending = null;
      }
    }
  } finally {
    await fh.close();
  }
  return out;
}
