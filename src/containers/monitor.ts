// monitor.ts: the server side of a container's stdio. Whoever watches a container
// (its detached monitor process, or a foreground `run` / `start -a`) owns the
// container's standard streams — pipes, or the pty master with a terminal — and
// serves them on a unix socket, the attach socket, in the exec root:
//   /run/stowage/<root hash>/attach/<id[:32]>.sock
// (the exec root, not the container's folder: a unix socket path has 107 bytes at
// most, and a data root under a long temp path would overflow it). Clients (`stowage
// attach`, the API server's hijacked attach, `resize`) speak the framed protocol of
// stdio.ts. Every output chunk goes to the json-file log, to the local sinks of a
// foreground run, and to each attached client that asked for that stream.
//
// Attach before start: a client attaching to a container that is not running writes
// a registration file into <id[:32]>.pending/ (its owner token inside) and connects
// once the socket appears. The hub lists the registrations after binding its socket
// and before the process starts, and waits (PENDING_WAIT_MS at most) until each live
// registrant has connected — so `docker run`'s create → attach → start gets the
// process's first byte. A registrant whose process died is ignored.
//
// What happens when things die: a client that disconnects (a killed API server) only
// leaves the client list; if it had stdin attached and the container has StdinOnce,
// that counts as closing stdin, as in Docker (a hijacked connection's EOF is stdin's
// EOF). A client that detaches (detach keys) sends DETACH first and leaves stdin
// open. The hub (the monitor) dying is the container's watcher dying: reconcile()
// kills and finalizes the container, as before; the socket file is then stale and
// clients get ECONNREFUSED.
import { createServer, type Server, type Socket } from 'node:net';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Engine } from '../engine.js';
import type { ContainerRecord } from './types.js';
import { Frame, FrameDecoder, encodeFrame } from './stdio.js';
import { ownerAlive } from '../store/owner.js';

export const PENDING_WAIT_MS = 5000;

export function attachDir(engine: Engine): string {
  return join(engine.execRoot, 'attach');
}
export function attachSocketPath(engine: Engine, id: string): string {
  return join(attachDir(engine), `${id.slice(0, 32)}.sock`);
}
export function pendingDir(engine: Engine, id: string): string {
  return join(attachDir(engine), `${id.slice(0, 32)}.pending`);
}
export function consoleSocketPath(engine: Engine, id: string): string {
  return join(attachDir(engine), `${id.slice(0, 32)}.console`);
}

/** What a client asked for in its HELLO. */
export interface Hello { token?: string; stdin?: boolean; stdout?: boolean; stderr?: boolean }

interface Client { sock: Socket; hello: Hello; detached: boolean; stdinClosed: boolean }

/** The container's stdin as the hub sees it: pipe or pty master. */
export interface StdinSink {
  write(b: Buffer): void;
  /** Closes the container's stdin (pipes); a terminal stays open. */
  end(): void;
}

export class AttachHub {
  private server: Server | undefined;
  private clients = new Set<Client>();
  private connectedTokens = new Set<string>();
  private stdin: StdinSink | undefined;
  private early: Buffer[] = [];
  private stdinOpen: boolean;
  private resizer: ((rows: number, cols: number) => void) | undefined;
  private lastSize: { rows: number; cols: number } | undefined;
  readonly path: string;

  constructor(private readonly engine: Engine, private readonly c: ContainerRecord) {
    this.path = attachSocketPath(engine, c.Id);
    this.stdinOpen = c.Config.OpenStdin;
  }

  /** Binds the attach socket (a stale one from a dead watcher is replaced). */
  async listen(): Promise<void> {
    mkdirSync(attachDir(this.engine), { recursive: true, mode: 0o700 });
    rmSync(this.path, { force: true });
    const server = createServer((sock) => this.accept(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => { server.off('error', reject); resolve(); });
    });
    server.on('error', () => {});
    this.server = server;
  }

  /** Waits until every live pre-start registrant has connected (or the timeout). */
  async waitForPending(timeoutMs = PENDING_WAIT_MS): Promise<void> {
    const dir = pendingDir(this.engine, this.c.Id);
    const want = new Set<string>();
    let names: string[] = [];
    try { names = readdirSync(dir); } catch { return; }
    for (const n of names) {
      let owner = '';
      try { owner = readFileSync(join(dir, n), 'utf8').trim(); } catch { continue; }
      if (!ownerAlive(owner)) { rmSync(join(dir, n), { force: true }); continue; }
      want.add(n);
    }
    const until = Date.now() + timeoutMs;
    while ([...want].some((t) => !this.connectedTokens.has(t)) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Where clients' stdin goes, once the process has started; what came before goes first. */
  setStdin(sink: StdinSink | undefined): void {
    this.stdin = sink;
    if (!sink) return;
    for (const b of this.early.splice(0)) sink.write(b);
    if (!this.stdinOpen) sink.end();
  }

  /** How a RESIZE is applied (terminal containers with a pty master only). */
  setResizer(fn: ((rows: number, cols: number) => void) | undefined): void {
    this.resizer = fn;
    if (fn && this.lastSize) fn(this.lastSize.rows, this.lastSize.cols);
  }

  /** The last size a client asked for (before the start: the terminal's initial size). */
  get size(): { height: number; width: number } | undefined {
    return this.lastSize ? { height: this.lastSize.rows, width: this.lastSize.cols } : undefined;
  }

  resize(rows: number, cols: number): void {
    if (!(rows > 0 && cols > 0)) return;
    this.lastSize = { rows, cols };
    try { this.resizer?.(rows, cols); } catch { /* the terminal is gone */ }
  }

  /** Input from the local side (foreground run -i) or a client. */
  writeStdin(b: Buffer): void {
    if (!this.stdinOpen) return;
    // A client that attached before the start may send input before the process exists
    // (`echo hi | docker run -i …`): it is kept for it.
    if (this.stdin) this.stdin.write(b); else this.early.push(b);
  }

  /** Stdin closed by a client or the local side: Docker closes the container's stdin when StdinOnce. */
  closeStdin(): void {
    if (!this.stdinOpen || !this.c.Config.StdinOnce) return;
    this.stdinOpen = false;
    this.stdin?.end();
  }

  /** An output chunk: to every client that asked for that stream. */
  output(stream: 'stdout' | 'stderr', data: Buffer): void {
    if (this.clients.size === 0) return; // the usual case of a detached container: no copy
    const frame = encodeFrame(stream === 'stdout' ? Frame.Stdout : Frame.Stderr, data);
    for (const cl of this.clients) {
      if (cl.hello[stream] === false) continue;
      // A client that stopped reading is dropped rather than buffered without bound.
      if (cl.sock.writableLength > 16 * 1024 * 1024) { cl.sock.destroy(); continue; }
      cl.sock.write(frame);
    }
  }

  /** The process ended: tell the clients, close the socket. */
  async exit(code: number): Promise<void> {
    const frame = encodeFrame(Frame.Exit, JSON.stringify({ code }));
    const ends: Array<Promise<void>> = [];
    for (const cl of this.clients) {
      ends.push(new Promise((resolve) => { cl.sock.end(frame, () => resolve()); setTimeout(resolve, 1000).unref(); }));
    }
    this.close();
    await Promise.all(ends);
  }

  /** Stops listening and removes the socket. Idempotent. Registrations stay: a client
   *  that registered during this run waits for the next start (dead ones are swept then). */
  close(): void {
    this.server?.close();
    this.server = undefined;
    rmSync(this.path, { force: true });
  }

  private accept(sock: Socket): void {
    const dec = new FrameDecoder();
    let cl: Client | undefined;
    sock.on('error', () => {});
    sock.on('data', (chunk: Buffer) => {
      let frames;
      try { frames = dec.feed(chunk); } catch { sock.destroy(); return; }
      for (const f of frames) {
        if (!cl) {
          if (f.type !== Frame.Hello) { sock.destroy(); return; }
          let hello: Hello;
          try { hello = JSON.parse(f.payload.toString('utf8')) as Hello; } catch { sock.destroy(); return; }
          cl = { sock, hello, detached: false, stdinClosed: false };
          this.clients.add(cl);
          // The token names a file in the pending folder: only the form attach.ts makes.
          if (hello.token && /^[0-9a-f]{32}$/.test(hello.token)) {
            this.connectedTokens.add(hello.token);
            rmSync(join(pendingDir(this.engine, this.c.Id), hello.token), { force: true });
          }
          sock.write(encodeFrame(Frame.Ready, JSON.stringify({ tty: this.c.Config.Tty, id: this.c.Id })));
          continue;
        }
        switch (f.type) {
          case Frame.Stdin: if (cl.hello.stdin) this.writeStdin(Buffer.from(f.payload)); break;
          case Frame.StdinClose: if (cl.hello.stdin && !cl.stdinClosed) { cl.stdinClosed = true; this.closeStdin(); } break;
          case Frame.Resize: {
            try { const r = JSON.parse(f.payload.toString('utf8')) as { height: number; width: number }; this.resize(r.height, r.width); } catch { /* ignored */ }
            break;
          }
          case Frame.Detach: cl.detached = true; sock.end(); break;
          default: break;
        }
      }
    });
    sock.on('close', () => {
      if (!cl) return;
      this.clients.delete(cl);
      // A dropped connection is stdin's EOF (Docker), unless the client detached.
      if (cl.hello.stdin && !cl.detached && !cl.stdinClosed) { cl.stdinClosed = true; this.closeStdin(); }
    });
  }
}
