// fixtures.ts: tar archives made by code for the archive tests (never committed blobs).
import { encodeHeader, END_OF_ARCHIVE, paddingFor, type WriterHeader } from '../../src/archive/tar-writer.js';

export type Spec = WriterHeader & { body?: Buffer | string };

/** A well-formed tar of the given entries (our writer). */
export function tarOf(entries: Spec[], trailer: Buffer = END_OF_ARCHIVE): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const body = e.body === undefined ? undefined : Buffer.isBuffer(e.body) ? e.body : Buffer.from(e.body);
    const h: WriterHeader = { mtime: 1600000000, ...e, size: e.type === 'file' ? body?.length ?? 0 : 0 };
    delete (h as { body?: unknown }).body;
    parts.push(encodeHeader(h));
    if (body && e.type === 'file') parts.push(body, paddingFor(body.length));
  }
  parts.push(trailer);
  return Buffer.concat(parts);
}

export interface RawFields {
  name?: string; mode?: number; uid?: number; gid?: number; size?: number; mtime?: number;
  typeflag?: string; linkname?: string; magic?: 'ustar' | 'gnu' | 'v7'; uname?: string; gname?: string;
  prefix?: string; devmajor?: number; devminor?: number;
  /** Raw bytes put over a numeric field after formatting: [offset, bytes]. */
  patch?: Array<[number, Buffer]>;
  badChecksum?: boolean;
}

function octal(b: Buffer, off: number, len: number, v: number): void {
  b.write(v.toString(8).padStart(len - 1, '0'), off, len - 1, 'latin1');
}

/** One header block, any form, for tests that need what our writer would never make. */
export function rawHeader(f: RawFields): Buffer {
  const b = Buffer.alloc(512);
  b.write(f.name ?? 'x', 0, 100, 'utf8');
  octal(b, 100, 8, f.mode ?? 0o644);
  octal(b, 108, 8, f.uid ?? 0);
  octal(b, 116, 8, f.gid ?? 0);
  octal(b, 124, 12, f.size ?? 0);
  octal(b, 136, 12, f.mtime ?? 1600000000);
  b.write(f.typeflag ?? '0', 156, 1, 'latin1');
  b.write(f.linkname ?? '', 157, 100, 'utf8');
  const magic = f.magic ?? 'ustar';
  if (magic === 'ustar') b.write('ustar\u000000', 257, 8, 'latin1');
  if (magic === 'gnu') b.write('ustar  \u0000', 257, 8, 'latin1');
  if (magic !== 'v7') {
    b.write(f.uname ?? '', 265, 32);
    b.write(f.gname ?? '', 297, 32);
    octal(b, 329, 8, f.devmajor ?? 0);
    octal(b, 337, 8, f.devminor ?? 0);
  }
  if (f.prefix) b.write(f.prefix, 345, 155);
  for (const [off, bytes] of f.patch ?? []) bytes.copy(b, off);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += b[i]!;
  if (f.badChecksum) sum += 1;
  octal(b, 148, 7, sum);
  return b;
}

export function pad(b: Buffer): Buffer { return Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]); }

/** A PAX record "LEN key=value\n". */
export function paxRecord(key: string, value: string | Buffer): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value) : value;
  const body = Buffer.byteLength(key) + v.length + 3;
  let len = body + String(body).length;
  if (String(len).length !== String(body).length) len = body + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`), v, Buffer.from('\n')]);
}

/** A PAX ('x' or 'g') header block with its padded payload. */
export function paxBlock(records: Buffer, typeflag: 'x' | 'g' = 'x'): Buffer {
  return Buffer.concat([rawHeader({ name: 'PaxHeaders/x', typeflag, size: records.length }), pad(records)]);
}

/** A GNU long name ('L') or long link ('K') block with its padded payload. */
export function gnuLong(value: string, typeflag: 'L' | 'K' = 'L'): Buffer {
  const v = Buffer.from(value + '\0');
  return Buffer.concat([rawHeader({ name: '././@LongLink', typeflag, size: v.length, magic: 'gnu' }), pad(v)]);
}

/** Yields buf in pieces of `size` bytes (exercises every chunk boundary case). */
export async function* chunked(buf: Buffer, size = 65536): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, Math.min(buf.length, i + size));
}

export async function collect(src: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of src) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}
