// tar-writer.ts: writes ustar entries, preceded by a PAX extended header when a
// field does not fit ustar (long or non-ASCII names, ids above 2097151, sizes of
// 8 GiB and more, long user/group names) or when the entry carries xattrs
// (SCHILY.xattr.*, the form Docker and GNU tar use). With `binary`, name and
// linkname are byte strings (latin1, see tar-reader.ts) and are written byte for
// byte, valid UTF-8 or not. Device numbers too large for
// octal use GNU base-256. mtime is written in whole seconds.
import type { EntryType, TarHeader } from './tar-reader.js';
import { BLOCK } from './tar-reader.js';
import { invalidArgument } from '../errors.js';

export type WriterHeader = Partial<TarHeader> & { name: string; type: EntryType };

const TYPEFLAG: Record<EntryType, number> = {
  file: 0x30, hardlink: 0x31, symlink: 0x32, char: 0x33, block: 0x34, dir: 0x35, fifo: 0x36,
};
const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7e || s.charCodeAt(i) < 0x20) return false;
  return true;
}

function writeStr(b: Buffer, off: number, len: number, s: string): void {
  b.write(s, off, len, 'utf8');
}

function writeOctal(b: Buffer, off: number, len: number, v: number): void {
  const s = Math.max(0, Math.floor(v)).toString(8).padStart(len - 1, '0');
  b.write(s, off, len - 1, 'latin1');
  b[off + len - 1] = 0;
}

/** Octal when it fits, else GNU base-256. */
function writeNumeric(b: Buffer, off: number, len: number, v: number): void {
  if (v >= 0 && v < 8 ** (len - 1)) return writeOctal(b, off, len, v);
  let x = BigInt(Math.floor(v));
  if (x < 0n) x += 1n << BigInt(len * 8); // two's complement: the first byte becomes 0xff
  for (let i = len - 1; i >= 0; i--) { b[off + i] = Number(x & 0xffn); x >>= 8n; }
  if (v >= 0) b[off] = 0x80;
}

function paxRecord(key: string, value: Buffer | string, enc: 'utf8' | 'latin1' = 'utf8'): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value, enc) : value;
  const body = Buffer.byteLength(key) + v.length + 3; // ' ' '=' '\n'
  let len = body + String(body).length;
  if (String(len).length !== String(body).length) len = body + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`, 'utf8'), v, Buffer.from('\n')]);
}

/** Splits a long name into ustar prefix/name, or returns null when it cannot. */
function splitUstar(name: string): [string, string] | null {
  if (Buffer.byteLength(name) <= 100) return ['', name];
  if (Buffer.byteLength(name) > 256) return null;
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest.length > 0) return [prefix, rest];
  }
  return null;
}

function headerBlock(h: WriterHeader, name: string, prefix: string, linkname: string, size: number, typeflag: number,
  ids: { uid: number; gid: number; uname: string; gname: string }): Buffer {
  const b = Buffer.alloc(BLOCK);
  writeStr(b, 0, 100, name);
  writeOctal(b, 100, 8, (h.mode ?? (h.type === 'dir' ? 0o755 : 0o644)) & 0o7777);
  writeOctal(b, 108, 8, ids.uid);
  writeOctal(b, 116, 8, ids.gid);
  writeNumeric(b, 124, 12, size);
  writeNumeric(b, 136, 12, Math.floor(h.mtime ?? 0));
  b[156] = typeflag;
  writeStr(b, 157, 100, linkname);
  b.write('ustar\u000000', 257, 8, 'latin1');
  writeStr(b, 265, 32, ids.uname);
  writeStr(b, 297, 32, ids.gname);
  if (h.type === 'char' || h.type === 'block') {
    writeNumeric(b, 329, 8, h.devmajor ?? 0);
    writeNumeric(b, 337, 8, h.devminor ?? 0);
  }
  writeStr(b, 345, 155, prefix);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  writeOctal(b, 148, 7, sum);
  b[155] = 0x20;
  return b;
}

function padding(n: number): Buffer {
  const p = (BLOCK - (n % BLOCK)) % BLOCK;
  return Buffer.alloc(p);
}

/**
 * The header bytes of one entry (a PAX header first when needed). The payload and
 * its padding (`paddingFor(size)`) follow. Directory names get a trailing slash.
 */
export function encodeHeader(h: WriterHeader, binary = false): Buffer {
  const enc = binary ? 'latin1' : 'utf8';
  if (h.name.includes('\0') || (h.linkname ?? '').includes('\0')) throw invalidArgument(`tar entry ${JSON.stringify(h.name)}: NUL in name`);
  let name = h.name;
  if (h.type === 'dir' && !name.endsWith('/')) name += '/';
  const linkname = h.linkname ?? '';
  const size = h.type === 'file' ? h.size ?? 0 : 0;
  const uid = h.uid ?? 0;
  const gid = h.gid ?? 0;
  const uname = h.uname ?? '';
  const gname = h.gname ?? '';
  const recs: Buffer[] = [];
  let ustarName = name;
  let prefix = '';
  const split = isAscii(name) ? splitUstar(name) : null;
  if (split) [prefix, ustarName] = split;
  else { recs.push(paxRecord('path', name, enc)); ustarName = asciiStub(name, 100); }
  let ustarLink = linkname;
  if (Buffer.byteLength(linkname, enc) > 100 || !isAscii(linkname)) { recs.push(paxRecord('linkpath', linkname, enc)); ustarLink = asciiStub(linkname, 100); }
  const ids = { uid, gid, uname, gname };
  if (uid > MAX_OCTAL_7) { recs.push(paxRecord('uid', String(uid))); ids.uid = 0; }
  if (gid > MAX_OCTAL_7) { recs.push(paxRecord('gid', String(gid))); ids.gid = 0; }
  if (Buffer.byteLength(uname) > 32 || !isAscii(uname)) { recs.push(paxRecord('uname', uname)); ids.uname = ''; }
  if (Buffer.byteLength(gname) > 32 || !isAscii(gname)) { recs.push(paxRecord('gname', gname)); ids.gname = ''; }
  let ustarSize = size;
  if (size > MAX_OCTAL_11) { recs.push(paxRecord('size', String(size))); ustarSize = 0; }
  const mtime = Math.floor(h.mtime ?? 0);
  if (mtime < 0 || mtime > MAX_OCTAL_11) recs.push(paxRecord('mtime', String(mtime)));
  for (const k of Object.keys(h.xattrs ?? {}).sort()) recs.push(paxRecord('SCHILY.xattr.' + k, h.xattrs![k]!));
  const main = headerBlock(h, ustarName, prefix, ustarLink, ustarSize, TYPEFLAG[h.type], ids);
  if (recs.length === 0) return main;
  const body = Buffer.concat(recs);
  const base = name.replace(/\/+$/, '').split('/').pop() ?? 'entry';
  const paxName = asciiStub('PaxHeaders.0/' + base, 100);
  const pax = headerBlock({ name: paxName, type: 'file', mode: 0o644, mtime: Math.max(0, Math.min(mtime, MAX_OCTAL_11)) },
    paxName, '', '', body.length, 0x78, { uid: 0, gid: 0, uname: '', gname: '' });
  return Buffer.concat([pax, body, padding(body.length), main]);
}

/** A replacement ASCII name for the ustar field when the real one is in the PAX header. */
function asciiStub(s: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const a = s.replace(/[^\x20-\x7e]/g, '_');
  return Buffer.byteLength(a) <= max ? a : a.slice(a.length - max);
}

export function paddingFor(size: number): Buffer { return padding(size); }
export const END_OF_ARCHIVE = Buffer.alloc(BLOCK * 2);

/** Writes a tar to a stream, honouring backpressure. */
export class TarWriter {
  private busy = false;
  constructor(private readonly out: NodeJS.WritableStream) {}

  private async write(b: Buffer): Promise<void> {
    if (b.length === 0) return;
    if (!this.out.write(b)) await new Promise<void>((resolve, reject) => {
      const onDrain = () => { cleanup(); resolve(); };
      const onError = (e: unknown) => { cleanup(); reject(e); };
      const cleanup = () => { this.out.off('drain', onDrain); this.out.off('error', onError); };
      this.out.on('drain', onDrain);
      this.out.on('error', onError);
    });
  }

  async add(header: WriterHeader, body?: Buffer | AsyncIterable<Buffer>): Promise<void> {
    if (this.busy) throw invalidArgument('TarWriter.add called before the previous add finished');
    this.busy = true;
    try {
      let size = header.size;
      if (header.type === 'file' && size === undefined) {
        if (body === undefined) size = 0;
        else if (Buffer.isBuffer(body)) size = body.length;
        else throw invalidArgument(`tar entry ${header.name}: size is required with a streamed body`);
      }
      const h = { ...header, size: header.type === 'file' ? size! : 0 };
      await this.write(encodeHeader(h));
      if (h.type !== 'file') return;
      let n = 0;
      if (Buffer.isBuffer(body)) { n = body.length; await this.write(body); }
      else if (body) for await (const c of body) {
        n += c.length;
        if (n > h.size) throw invalidArgument(`tar entry ${h.name}: body longer than its size ${h.size}`);
        await this.write(c);
      }
      if (n !== h.size) throw invalidArgument(`tar entry ${h.name}: body of ${n} bytes, header says ${h.size}`);
      await this.write(padding(n));
    } finally {
      this.busy = false;
    }
  }

  /** Two zero blocks; does not end `out`. */
  async finish(): Promise<void> {
    await this.write(END_OF_ARCHIVE);
  }
}
