// stdio.ts: a container's (or an exec's) standard streams as one session, and the
// small framed protocol the container's monitor speaks on its attach socket.
//
// The monitor process owns the container's stdio (pipes, or the pty master with a
// terminal); everyone else — the CLI's `attach`, the API server's hijacked attach —
// talks to it over a unix socket in the exec root. A frame is
//   [type: u8][length: u32 big-endian][payload]
// Client → monitor: HELLO (JSON options), STDIN (bytes), STDIN_CLOSE, RESIZE (JSON),
// DETACH (leaving without closing stdin).
// Monitor → client: READY (JSON), STDOUT, STDERR (bytes), EXIT (JSON {code}), ERROR (text).
// Length-prefixed binary frames (not JSON lines) because stdout is arbitrary bytes.
import { invalidArgument } from '../errors.js';

export interface StdioChunk { stream: 'stdout' | 'stderr'; data: Buffer }

export interface StdioSession {
  /** The process has a terminal: output is raw, every chunk is 'stdout'. */
  readonly tty: boolean;
  /** The client's stdin goes here (null when stdin is not attached); end() = client closed stdin. */
  readonly stdin: NodeJS.WritableStream | null;
  /** Output in order; ends when the process exits (or the session is closed). */
  readonly output: AsyncIterable<StdioChunk>;
  /** Detach: stop receiving; the process goes on. */
  close(): void;
  /** The exit code once the process ended while this session watched it (null: detached, or unknown). */
  readonly exitCode: Promise<number | null>;
}

export const enum Frame {
  Hello = 1,
  Stdin = 2,
  StdinClose = 3,
  Resize = 4,
  Detach = 5,
  Ready = 16,
  Stdout = 17,
  Stderr = 18,
  Exit = 19,
  Error = 20,
}

/** The largest frame either side accepts (a chunk of output is at most 64 KiB in practice). */
export const MAX_FRAME = 1 << 20;

export function encodeFrame(type: Frame, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const head = Buffer.alloc(5);
  head.writeUInt8(type, 0);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** Splits a byte stream into frames; feed() returns the complete frames seen so far. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  feed(chunk: Buffer): Array<{ type: Frame; payload: Buffer }> {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Array<{ type: Frame; payload: Buffer }> = [];
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      if (len > MAX_FRAME) throw new Error(`attach protocol: frame of ${len} bytes is over the ${MAX_FRAME}-byte limit`);
      if (this.buf.length < 5 + len) break;
      out.push({ type: this.buf.readUInt8(0) as Frame, payload: this.buf.subarray(5, 5 + len) });
      this.buf = this.buf.subarray(5 + len);
    }
    return out;
  }
}

/**
 * Docker's detach keys: "ctrl-p,ctrl-q" (the default), any "ctrl-<a..z|@|[|\\|]|^|_>"
 * or a single printable character, comma-separated. Returns the byte sequence.
 */
export function parseDetachKeys(spec: string | undefined): Buffer {
  const s = spec === undefined || spec === '' ? 'ctrl-p,ctrl-q' : spec;
  const out: number[] = [];
  for (const part of s.split(',')) {
    const k = part.trim();
    if (k.length === 1) { out.push(k.charCodeAt(0)); continue; }
    const m = /^ctrl-(.)$/i.exec(k);
    if (!m) throw invalidArgument(`Invalid detach keys (${s}) provided: "${k}" is neither a character nor ctrl-<key>`);
    const c = m[1]!;
    const code = c.toLowerCase() >= 'a' && c.toLowerCase() <= 'z' ? c.toLowerCase().charCodeAt(0) - 96 : { '@': 0, '[': 27, '\\': 28, ']': 29, '^': 30, '_': 31 }[c];
    if (code === undefined) throw invalidArgument(`Invalid detach keys (${s}) provided: unknown key ctrl-${c}`);
    out.push(code);
  }
  return Buffer.from(out);
}
