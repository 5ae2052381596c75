// compression.ts: sniffs a layer's compression from its magic bytes and
// decompresses it as a stream.
//
// gzip uses node:zlib. Node 20's zlib has no zstd, and the npm options are a
// pure-JS decoder (fzstd, several times slower than the C library) or native
// addons that download prebuilt binaries at install time; so zstd, like xz and
// bzip2, is decoded by spawning Debian's own tool (`zstd -dc`, `xz -dc`,
// `bzip2 -dc`; packages zstd, xz-utils, bzip2). A missing tool is reported as
// StowageError Unavailable naming the package. The child is killed when the
// consumer stops early, so a decompression bomb stops as soon as the reader stops.
import { spawn } from 'node:child_process';
import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { invalidArgument, unavailable } from '../errors.js';

export type Compression = 'none' | 'gzip' | 'zstd' | 'bzip2' | 'xz';

export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 3 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return 'bzip2';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return 'none';
}

const TOOLS: Record<'zstd' | 'bzip2' | 'xz', { cmd: string; pkg: string }> = {
  zstd: { cmd: 'zstd', pkg: 'zstd' },
  bzip2: { cmd: 'bzip2', pkg: 'bzip2' },
  xz: { cmd: 'xz', pkg: 'xz-utils' },
};

export interface DecompressOptions {
  /**
   * Called with each input chunk as the decoder consumes it, only when the stream is
   * compressed (never for plain input, whose output chunks are the input chunks).
   */
  onCompressed?(chunk: Buffer): void;
}

/** Sniffs the format and yields the decompressed bytes (the input itself when not compressed). */
export async function* decompress(src: AsyncIterable<Buffer>, opts: DecompressOptions = {}): AsyncGenerator<Buffer> {
  const it = src[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headLen = 0;
  let done = false;
  while (headLen < 6) {
    const r = await it.next();
    if (r.done) { done = true; break; }
    head.push(r.value);
    headLen += r.value.length;
  }
  const kind = detectCompression(head.length === 1 ? head[0]! : Buffer.concat(head));
  const tap = kind === 'none' ? undefined : opts.onCompressed;
  async function* rest(): AsyncGenerator<Buffer> {
    try {
      for (const h of head) { tap?.(h); yield h; }
      if (done) return;
      for (;;) {
        const r = await it.next();
        if (r.done) { done = true; return; }
        tap?.(r.value);
        yield r.value;
      }
    } finally {
      if (!done) await it.return?.();
    }
  }
  if (kind === 'none') { yield* rest(); return; }
  if (kind === 'gzip') {
    const gunzip = createGunzip({ chunkSize: 256 * 1024 });
    const input = Readable.from(rest(), { objectMode: false, highWaterMark: 256 * 1024 });
    pipeline(input, gunzip, () => { /* errors surface through the iteration of gunzip */ });
    try {
      for await (const c of gunzip) yield c as Buffer;
    } catch (e) {
      if ((e as { code?: string }).code?.startsWith('Z_')) throw invalidArgument(`corrupt gzip stream: ${(e as Error).message}`, { cause: e });
      throw e;
    } finally {
      gunzip.destroy();
      input.destroy();
    }
    return;
  }
  yield* spawnDecoder(kind, rest());
}

async function* spawnDecoder(kind: 'zstd' | 'bzip2' | 'xz', src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const { cmd, pkg } = TOOLS[kind];
  const child = spawn(cmd, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let spawnError: Error | undefined;
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', (e) => { spawnError = e; resolve(null); });
    child.on('close', (code) => resolve(code));
  });
  child.stderr.on('data', (d: Buffer) => { if (stderr.length < 4096) stderr += d.toString(); });
  const input = Readable.from(src, { objectMode: false });
  let inputError: unknown;
  pipeline(input, child.stdin, (e) => {
    // EPIPE: the decoder stopped reading (corrupt input); its exit status says why.
    if (e && (e as { code?: string }).code !== 'EPIPE' && (e as { code?: string }).code !== 'ERR_STREAM_PREMATURE_CLOSE') inputError = e;
  });
  let finished = false;
  try {
    for await (const c of child.stdout) yield c as Buffer;
    const code = await exited;
    if (inputError) throw inputError;
    if (spawnError) {
      if ((spawnError as { code?: string }).code === 'ENOENT') throw unavailable(`${kind} layers need the ${cmd} program (Debian package ${pkg})`);
      throw spawnError;
    }
    if (code !== 0) throw invalidArgument(`corrupt ${kind} stream: ${stderr.trim() || `${cmd} exited with ${code}`}`);
    finished = true;
  } finally {
    if (!finished) {
      input.destroy();
      child.kill('SIGKILL');
      await exited;
    }
  }
}
