// stream.ts: response bodies that are streams: newline-delimited JSON progress
// (load, import, build, pull), Docker's multiplexed stdout/stderr frames, and the
// raw socket of a hijacked (upgraded) connection.
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { HttpError, messageOf } from './http.js';
import { API_VERSION } from '../cli/version.js';

/** Docker's stdcopy frame: [stream, 0, 0, 0, size (uint32 BE)] + payload. 1 = stdout, 2 = stderr (0 = stdin). */
export function frame(stream: 'stdin' | 'stdout' | 'stderr', data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream === 'stdin' ? 0 : stream === 'stdout' ? 1 : 2;
  h.writeUInt32BE(data.length, 4);
  return Buffer.concat([h, data]);
}

/** A JSON-lines progress stream; once started, errors go into the stream as errorDetail. */
export class JsonStream {
  constructor(private readonly res: ServerResponse) {}

  start(): void {
    if (this.res.headersSent) return;
    this.res.writeHead(200, { 'Content-Type': 'application/json' });
    this.res.socket?.setTimeout(0);
  }

  write(obj: unknown): void {
    this.start();
    if (!this.res.writableEnded) this.res.write(JSON.stringify(obj) + '\r\n');
  }

  error(err: unknown, code?: number): void {
    const message = messageOf(err);
    this.write({ errorDetail: { ...(code !== undefined ? { code } : {}), message }, error: message });
  }

  end(): void {
    this.start();
    this.res.end();
  }
}

/** Answers an upgrade request: from now on the socket carries the raw stream. */
export function upgradeHead(socket: Duplex, tty: boolean, version: number): void {
  const type = tty || version < 42 ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream';
  socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${type}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nApi-Version: ${API_VERSION}\r\n\r\n`);
}

/** For clients that did not ask for an upgrade: a 200 whose body is the raw stream. */
export function streamHead(socket: Duplex, tty: boolean, version: number): void {
  const type = tty || version < 42 ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream';
  socket.write(`HTTP/1.1 200 OK\r\nContent-Type: ${type}\r\nConnection: close\r\nApi-Version: ${API_VERSION}\r\n\r\n`);
}

/**
 * The body of an upgraded request (exec start sends {"Detach":…,"Tty":…}): Content-Length
 * bytes from what came with the headers and then from the socket. The rest is stdin.
 */
export async function readUpgradeBody(socket: Duplex, head: Buffer, length: number, limit = 1 << 20): Promise<{ body: Buffer; rest: Buffer }> {
  if (!Number.isFinite(length) || length <= 0) return { body: Buffer.alloc(0), rest: head };
  if (length > limit) throw new HttpError(413, `request body too large: ${length} bytes`);
  let buf = head;
  while (buf.length < length) {
    const chunk = await new Promise<Buffer | null>((resolve) => {
      const onData = (c: Buffer) => { cleanup(); resolve(c); };
      const onEnd = () => { cleanup(); resolve(null); };
      const cleanup = () => { socket.off('data', onData); socket.off('end', onEnd); socket.off('close', onEnd); socket.pause(); };
      socket.on('data', onData);
      socket.once('end', onEnd);
      socket.once('close', onEnd);
      socket.resume();
    });
    if (chunk === null) throw new HttpError(400, 'connection closed before the request body arrived');
    buf = Buffer.concat([buf, chunk]);
  }
  return { body: buf.subarray(0, length), rest: buf.subarray(length) };
}
