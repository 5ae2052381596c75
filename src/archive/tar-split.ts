// tar-split.ts: what it takes to give back a layer's original tar byte for byte
// (Docker keeps the same kind of record, vbatts/tar-split, so that `save` returns
// the blobs whose digests the image config names). Every byte of the tar that is
// not a regular file's payload is kept verbatim; a payload is kept as a reference
// to the extracted file (its path in root and its size), so the record costs
// about 1-3% of the layer.
//
// File format (all integers little-endian):
//   magic    "STWSPLT1" (8 bytes)
//   frames   type u8, id u32, rawLen u32, storedLen u32, then storedLen bytes
//     type 1 META  deflate-raw of a run of records; id = frame number
//     type 2 BLOB  deflate-raw of a piece of the payload of reference `id`, which
//                  was overwritten or whited out later in the same tar: its bytes
//                  were copied here before the file was lost (pieces in order)
//     type 3 END   id = number of references, rawLen = frames before it; marks a
//                  complete file (a torn write is detected)
//   records inside META (a record never spans two frames)
//     0x01 RAW  u32 length, bytes                  verbatim tar bytes
//     0x02 REF  f64 size, u16 length, path bytes   payload = the file at root/path
//               (references are numbered 0, 1, ... in the order they appear)
// Compression is zlib level 1: header blocks are mostly zeros and level 1 already
// shrinks them ~20x at several hundred MB/s.
import { closeSync, constants, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { internal } from '../errors.js';

const MAGIC = Buffer.from('STWSPLT1', 'latin1');
const T_META = 1;
const T_BLOB = 2;
const T_END = 3;
const FRAME_HDR = 13;
const FRAME_TARGET = 1 << 20;
const READ_CHUNK = 1 << 20;
const ZOPTS = { level: 1 };

/** Records a tar-split while a layer is applied (used by apply.ts). Synchronous. */
export class TarSplitWriter {
  private fd: number;
  private parts: Buffer[] = [];
  private partLen = 0;
  private frames = 0;
  private refs = 0;
  private pendingRaw: Buffer[] = [];
  private pendingRawLen = 0;

  constructor(path: string) {
    this.fd = openSync(path, 'w', 0o600);
    try {
      this.writeAll(MAGIC);
    } catch (e) {
      try { closeSync(this.fd); } catch { /* already failing */ }
      this.fd = -1;
      throw e;
    }
  }

  private writeAll(b: Buffer): void {
    let off = 0;
    while (off < b.length) off += writeSync(this.fd, b, off, b.length - off);
  }

  private frame(type: number, id: number, raw: Buffer): void {
    const stored = deflateRawSync(raw, ZOPTS);
    const h = Buffer.allocUnsafe(FRAME_HDR);
    h[0] = type;
    h.writeUInt32LE(id, 1);
    h.writeUInt32LE(raw.length, 5);
    h.writeUInt32LE(stored.length, 9);
    this.writeAll(h);
    this.writeAll(stored);
    this.frames++;
  }

  private flushRaw(): void {
    if (this.pendingRawLen === 0) return;
    const h = Buffer.allocUnsafe(5);
    h[0] = 0x01;
    h.writeUInt32LE(this.pendingRawLen, 1);
    this.parts.push(h, ...this.pendingRaw);
    this.partLen += 5 + this.pendingRawLen;
    this.pendingRaw = [];
    this.pendingRawLen = 0;
    if (this.partLen >= FRAME_TARGET) this.flushFrame();
  }

  private flushFrame(): void {
    if (this.partLen === 0) return;
    this.frame(T_META, this.frames, Buffer.concat(this.parts, this.partLen));
    this.parts = [];
    this.partLen = 0;
  }

  /** Verbatim bytes. Copied: the caller may reuse `b`. */
  raw(b: Buffer): void {
    if (b.length === 0) return;
    this.pendingRaw.push(Buffer.from(b));
    this.pendingRawLen += b.length;
    if (this.pendingRawLen >= FRAME_TARGET) this.flushRaw();
  }

  /** A payload kept as the file root/path (a byte string, see tar-reader.ts); returns the reference number. */
  ref(path: string, size: number): number {
    this.flushRaw();
    const p = Buffer.from(path, 'latin1');
    const h = Buffer.allocUnsafe(11);
    h[0] = 0x02;
    h.writeDoubleLE(size, 1);
    h.writeUInt16LE(p.length, 9);
    this.parts.push(h, p);
    this.partLen += 11 + p.length;
    if (this.partLen >= FRAME_TARGET) this.flushFrame();
    return this.refs++;
  }

  /** Copies reference `id`'s payload from the file at `abs` (a byte string) before that file goes away. */
  inline(id: number, abs: string, size: number): void {
    const fd = openSync(Buffer.from(abs, 'latin1'), constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(size, 1)));
      let left = size;
      while (left > 0) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, left), null);
        if (n === 0) throw internal(`tar-split: ${abs} shrank before its payload could be kept`);
        this.frame(T_BLOB, id, buf.subarray(0, n));
        left -= n;
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Writes the last frames and the END marker, and closes the file. */
  finish(): void {
    this.flushRaw();
    this.flushFrame();
    const h = Buffer.alloc(FRAME_HDR);
    h[0] = T_END;
    h.writeUInt32LE(this.refs, 1);
    h.writeUInt32LE(this.frames, 5);
    this.writeAll(h);
    this.close();
  }

  /** Closes the file without finishing it (on error). Idempotent. */
  close(): void {
    if (this.fd >= 0) { closeSync(this.fd); this.fd = -1; }
  }
}

interface FrameInfo { type: number; id: number; rawLen: number; storedLen: number; offset: number }

function readExact(fd: number, len: number, pos: number, what: string): Buffer {
  const b = Buffer.allocUnsafe(len);
  let off = 0;
  while (off < len) {
    const n = readSync(fd, b, off, len - off, pos + off);
    if (n === 0) throw internal(`tar-split is truncated (${what})`);
    off += n;
  }
  return b;
}

/** The exact bytes of the original layer tar, from its tar-split and the extracted files in root. */
export async function* assembleLayer(tarSplitPath: string, root: string, opts: { signal?: AbortSignal } = {}): AsyncGenerator<Buffer> {
  const fd = openSync(tarSplitPath, 'r');
  try {
    if (!readExact(fd, 8, 0, 'magic').equals(MAGIC)) throw internal(`${tarSplitPath} is not a stowage tar-split`);
    // First pass: the frame table (headers only), so inlined payloads can be found.
    const metas: FrameInfo[] = [];
    const blobs = new Map<number, FrameInfo[]>();
    const size = fstatSync(fd).size;
    let pos = 8;
    let ended = false;
    while (pos < size) {
      const h = readExact(fd, FRAME_HDR, pos, 'frame header');
      const f: FrameInfo = { type: h[0]!, id: h.readUInt32LE(1), rawLen: h.readUInt32LE(5), storedLen: h.readUInt32LE(9), offset: pos + FRAME_HDR };
      if (f.type === T_END) { ended = true; break; }
      if (f.type === T_META) metas.push(f);
      else if (f.type === T_BLOB) { const l = blobs.get(f.id); if (l) l.push(f); else blobs.set(f.id, [f]); }
      else throw internal(`tar-split ${tarSplitPath}: unknown frame type ${f.type}`);
      pos = f.offset + f.storedLen;
    }
    if (!ended) throw internal(`tar-split ${tarSplitPath} is incomplete (no end marker)`);
    const inflate = (f: FrameInfo): Buffer => {
      const out = inflateRawSync(readExact(fd, f.storedLen, f.offset, 'frame'));
      if (out.length !== f.rawLen) throw internal(`tar-split ${tarSplitPath}: corrupt frame at ${f.offset}`);
      return out;
    };
    let refNo = 0;
    for (const m of metas) {
      opts.signal?.throwIfAborted();
      const b = inflate(m);
      let p = 0;
      while (p < b.length) {
        const t = b[p]!;
        if (t === 0x01) {
          const len = b.readUInt32LE(p + 1);
          yield b.subarray(p + 5, p + 5 + len);
          p += 5 + len;
        } else if (t === 0x02) {
          const want = b.readDoubleLE(p + 1);
          const plen = b.readUInt16LE(p + 9);
          const rel = b.subarray(p + 11, p + 11 + plen);
          p += 11 + plen;
          const id = refNo++;
          const inl = blobs.get(id);
          if (inl) {
            let got = 0;
            for (const f of inl) { const c = inflate(f); got += c.length; yield c; }
            if (got !== want) throw internal(`tar-split: kept payload of ${rel.toString()} has ${got} bytes, expected ${want}`);
          } else {
            yield* readRef(root, rel, want, opts.signal);
          }
        } else throw internal(`tar-split ${tarSplitPath}: corrupt record`);
      }
    }
  } finally {
    closeSync(fd);
  }
}

async function* readRef(root: string, relBytes: Buffer, want: number, signal?: AbortSignal): AsyncGenerator<Buffer> {
  let fd: number;
  // The path is bytes (names need not be UTF-8); `rel` is only for messages.
  const rel = relBytes.toString();
  try {
    fd = openSync(Buffer.concat([Buffer.from(root + '/'), relBytes]), constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    throw internal(`layer file /${rel} is missing or unreadable; the layer no longer matches its tar-split`, { cause: e });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size !== want) {
      throw internal(`layer file /${rel} has ${st.isFile() ? st.size + ' bytes' : 'changed type'}, expected ${want} bytes; the layer no longer matches its tar-split`);
    }
    let left = want;
    while (left > 0) {
      signal?.throwIfAborted();
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, left));
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) throw internal(`layer file /${rel} shrank while being read`);
      left -= n;
      yield n === buf.length ? buf : buf.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}
