// attach.ts: the client side of a container's attach socket (see monitor.ts for the
// server and stdio.ts for the frames): engine.containers.attach() and resize().
//
// Attaching to a container that is not running registers first (a file naming this
// process in the container's pending folder) and returns at once; the session
// connects when the container's watcher opens its socket, and the watcher waits for
// registered sessions before it starts the process, so nothing of the output is lost
// (Docker's `docker run`: create → attach → wait → start). On a running container the
// session sees the output from now on (plus the log with logs=true).
import { connect, type Socket } from 'node:net';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Engine } from '../engine.js';
import { Frame, FrameDecoder, encodeFrame, parseDetachKeys, type StdioChunk, type StdioSession } from './stdio.js';
import { attachSocketPath, pendingDir } from './monitor.js';
import { readLog } from './logs.js';
import { ownerToken } from '../store/owner.js';
import { containerEvent } from '../events/actors.js';
import { conflict } from '../errors.js';

export interface AttachRequest {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** false: only the log (with logs=true), no live stream (Docker's stream=0). */
  stream: boolean;
  /** Replay the container's log first. */
  logs: boolean;
  /** Docker's detach keys; default ctrl-p,ctrl-q. Applies to tty sessions' stdin. */
  detachKeys?: string;
  signal?: AbortSignal;
}

/** An async queue of output chunks: push from events, consume with for-await. */
export class ChunkQueue implements AsyncIterable<StdioChunk> {
  private items: StdioChunk[] = [];
  private waiting: Array<(r: IteratorResult<StdioChunk>) => void> = [];
  private ended = false;

  push(c: StdioChunk): void {
    if (this.ended) return;
    const w = this.waiting.shift();
    if (w) w({ value: c, done: false }); else this.items.push(c);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const w of this.waiting.splice(0)) w({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<StdioChunk> {
    return {
      next: () => {
        const c = this.items.shift();
        if (c) return Promise.resolve({ value: c, done: false });
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.waiting.push(resolve));
      },
      return: () => { this.end(); this.items = []; return Promise.resolve({ value: undefined, done: true }); },
    };
  }
}

/**
 * Docker's escape proxy (moby container/stream copyEscapable): bytes that could start
 * the detach sequence are held back; the whole sequence detaches (and is dropped), a
 * mismatch lets the held bytes through.
 */
export class DetachScanner {
  private held: number[] = [];
  constructor(private readonly keys: Buffer) {}

  /** Returns the bytes to forward and whether the sequence was completed. */
  feed(chunk: Buffer): { forward: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const b of chunk) {
      if (this.keys.length === 0) { out.push(b); continue; }
      if (b === this.keys[this.held.length]) {
        this.held.push(b);
        if (this.held.length === this.keys.length) return { forward: Buffer.from(out), detach: true };
        continue;
      }
      out.push(...this.held);
      this.held = [];
      if (b === this.keys[0]) this.held.push(b); else out.push(b);
    }
    return { forward: Buffer.from(out), detach: false };
  }
}

export async function attachContainer(engine: Engine, ref: string, o: AttachRequest): Promise<StdioSession> {
  const c = engine.containerStore.resolve(ref);
  const tty = c.Config.Tty;
  const keys = tty && o.stdin ? parseDetachKeys(o.detachKeys) : Buffer.alloc(0);
  const queue = new ChunkQueue();
  let settle!: (code: number | null) => void;
  const exitCode = new Promise<number | null>((r) => { settle = r; });
  const wants = (s: 'stdout' | 'stderr') => (s === 'stdout' ? o.stdout : o.stderr);
  if (o.logs) {
    for (const l of readLog(join(engine.layout.container(c.Id), `${c.Id}-json.log`))) {
      if (wants(l.stream)) queue.push({ stream: tty ? 'stdout' : l.stream, data: Buffer.from(l.log, 'utf8') });
    }
  }
  if (!o.stream) {
    queue.end();
    settle(null);
    return { tty, stdin: null, output: queue, close: () => queue.end(), exitCode };
  }
  const token = randomBytes(16).toString('hex');
  const pending = join(pendingDir(engine, c.Id), token);
  if (!c.State.Running) {
    mkdirSync(pendingDir(engine, c.Id), { recursive: true, mode: 0o700 });
    writeFileSync(pending, ownerToken(), { mode: 0o600 });
  }
  containerEvent(engine, c, 'attach');

  let sock: Socket | undefined;
  let closed = false;
  const outbox: Buffer[] = [];
  const send = (frame: Buffer) => { if (closed) return; if (sock) sock.write(frame); else outbox.push(frame); };
  const finish = (code: number | null) => {
    if (!closed) closed = true;
    rmSync(pending, { force: true });
    queue.end();
    settle(code);
  };
  const close = () => {
    if (closed) return;
    if (sock) sock.end(encodeFrame(Frame.Detach)); // leave without closing the container's stdin
    finish(null);
    sock?.destroySoon?.();
  };
  o.signal?.addEventListener('abort', close, { once: true });

  const scanner = new DetachScanner(keys);
  const stdin = o.stdin ? new Writable({
    write(chunk: Buffer, _enc, cb) {
      const { forward, detach } = scanner.feed(Buffer.from(chunk));
      if (forward.length) send(encodeFrame(Frame.Stdin, forward));
      if (detach) close();
      cb();
    },
    final(cb) { send(encodeFrame(Frame.StdinClose)); cb(); },
  }) : null;
  stdin?.on('error', () => {});

  void (async () => {
    const path = attachSocketPath(engine, c.Id);
    for (let d = 5; !closed; d = Math.min(d * 2, 100)) {
      try {
        sock = await new Promise<Socket>((resolve, reject) => {
          const s = connect(path);
          s.once('connect', () => { s.off('error', reject); resolve(s); });
          s.once('error', reject);
        });
        break;
      } catch { /* not listening yet (or any more): the container is not running */ }
      if (!engine.containerStore.get(c.Id)) { finish(null); return; }
      await new Promise((r) => setTimeout(r, d));
    }
    if (closed || !sock) { sock?.destroy(); return; }
    const s = sock;
    s.on('error', () => {});
    s.write(encodeFrame(Frame.Hello, JSON.stringify({ token, stdin: o.stdin, stdout: o.stdout, stderr: o.stderr })));
    for (const f of outbox.splice(0)) s.write(f);
    const dec = new FrameDecoder();
    let exit: number | null = null;
    s.on('data', (chunk: Buffer) => {
      let frames;
      try { frames = dec.feed(chunk); } catch { s.destroy(); return; }
      for (const f of frames) {
        if (f.type === Frame.Stdout) queue.push({ stream: 'stdout', data: Buffer.from(f.payload) });
        else if (f.type === Frame.Stderr) queue.push({ stream: tty ? 'stdout' : 'stderr', data: Buffer.from(f.payload) });
        else if (f.type === Frame.Exit) {
          try { exit = (JSON.parse(f.payload.toString('utf8')) as { code: number }).code; } catch { exit = null; }
        } else if (f.type === Frame.Ready) rmSync(pending, { force: true });
      }
    });
    s.on('close', () => finish(exit));
  })();

  return { tty, stdin, output: queue, close, exitCode };
}

/** Sets a running container's terminal size through its watcher. */
export async function resizeContainer(engine: Engine, ref: string, height: number, width: number): Promise<void> {
  const c = engine.containerStore.resolve(ref);
  if (!c.State.Running) throw conflict(`Container ${c.Id} is not running`, { name: ref });
  if (!c.Config.Tty) return; // no terminal: nothing to size (Docker's CLI never asks)
  await new Promise<void>((resolve, reject) => {
    const s = connect(attachSocketPath(engine, c.Id));
    s.once('error', (err) => reject(conflict(`cannot resize container ${c.Id.slice(0, 12)}: its watcher does not answer (${(err as Error).message})`, { name: ref, cause: err })));
    s.once('connect', () => {
      s.resume(); // read (and drop) READY, so the watcher's end reaches us
      s.end(Buffer.concat([encodeFrame(Frame.Hello, JSON.stringify({ stdout: false, stderr: false })), encodeFrame(Frame.Resize, JSON.stringify({ height, width }))]));
    });
    s.once('close', () => resolve());
  });
}
