// warm.ts: `stowage warm`, a pool of CLI processes started ahead of time so that a
// command starts at once, as a docker command finds dockerd already running.
//
// Each pooled process is `node --snapshot-blob BLOB --` with STOWAGE_WARM_CHILD=1: Node
// has started and deserialised stowage's snapshot, and the process waits
// (warm-child.ts). bin/stowage's client (native/client.c) connects to the socket; the
// connection is handed, unread (pauseOnConnect), to a waiting process over its IPC
// channel, which takes the client's descriptors and becomes the command. This server
// keeps its end of the connection and starts a new process; the command writes its exit
// status to the client as it exits, and this server writes it too when the process
// ends (the only report when a signal killed it). The server holds no engine and no store: each
// command opens the store itself, exactly as when started by hand.
//
// The socket is root's alone (mode 0600 in a 0755 folder): whoever connects runs a
// command as the server's user, so only that user may.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { chmodSync, rmSync } from 'node:fs';
import { constants, setPriority } from 'node:os';
import { snapshotBlob } from './entry.js';
import { prepareUnixPath } from '../api/listeners.js';

export const DEFAULT_WARM_SOCKET = '/run/stowage/warm.sock';

interface Warm { child: ChildProcess; ready: boolean; conn?: Socket }

export interface WarmPool {
  /** Stops taking connections; idle processes end; resolves when running commands have ended. */
  close(): Promise<void>;
  readonly socket: string;
}

function status(code: number | null, signal: NodeJS.Signals | null): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
  return b;
}

/** Starts the pool: `size` waiting processes behind a unix socket at `socket`. */
export async function startWarmPool(o: { socket: string; size: number }): Promise<WarmPool> {
  const blob = snapshotBlob();
  if (!blob) throw new Error('stowage warm runs only from the start-up snapshot (bin/stowage; not with STOWAGE_NO_SNAPSHOT or NODE_OPTIONS)');
  if (!Number.isInteger(o.size) || o.size < 1 || o.size > 16) throw new Error(`invalid --processes ${o.size}: want 1 to 16`);
  // The folder made, a stale socket removed; a live one, or a file that is not a socket, refused.
  await prepareUnixPath(o.socket, `another server is listening on ${o.socket}`);

  const idle: Warm[] = [];
  const busy = new Set<ChildProcess>();
  const waiting: Socket[] = [];
  let closing = false;
  let allEnded: (() => void) | undefined;

  const env = { ...process.env, STOWAGE_WARM_CHILD: '1' };
  const root = process.getuid?.() === 0;
  const start = (): void => {
    if (closing) return;
    // A session of its own: a Ctrl-C at the server's terminal must not reach commands.
    const child = spawn(process.execPath, ['--snapshot-blob', blob, '--'], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], env, detached: true });
    // Waiting processes start at the lowest priority, so that starting one does not slow
    // the command running beside it; a command gets the normal priority back (root only:
    // others could not raise it again, so they do not lower it).
    if (root && child.pid) { try { setPriority(child.pid, 19); } catch { /* it may have died already */ } }
    const w: Warm = { child, ready: false };
    idle.push(w);
    child.on('message', (m) => {
      if (m !== 'stowage-warm-ready') return;
      w.ready = true;
      const conn = waiting.shift();
      if (conn) handOver(w, conn);
    });
    child.on('error', () => { /* exit follows */ });
    child.on('exit', (code, signal) => {
      if (w.conn) {
        // The command ended: its status (also the only report of a death by a signal).
        busy.delete(child);
        const conn = w.conn;
        // Destroyed after the write: this end never reads (paused), so it would never see the client's close.
        if (!conn.destroyed) conn.write(status(code, signal), () => conn.destroy());
        if (closing && busy.size === 0) allEnded?.();
        return;
      }
      const i = idle.indexOf(w);
      if (i < 0) return;
      // Died waiting (declined a client of another build, or was killed): replace it; a
      // process that died before it was ever ready is replaced after a pause, not in a loop.
      idle.splice(i, 1);
      if (w.ready) start();
      else setTimeout(start, 1000).unref();
    });
  };

  const handOver = (w: Warm, conn: Socket): void => {
    idle.splice(idle.indexOf(w), 1);
    busy.add(w.child);
    w.conn = conn;
    if (root && w.child.pid) { try { setPriority(w.child.pid, 0); } catch { /* exit follows */ } }
    w.child.send('stowage-warm-connection', conn, { keepOpen: true }, (err) => {
      if (err) { conn.destroy(); w.child.kill('SIGKILL'); }
    });
    start();
  };

  const server: Server = createServer({ pauseOnConnect: true }, (conn) => {
    conn.on('error', () => { /* a client that went away; its command still ends normally */ });
    const w = idle.find((x) => x.ready);
    if (w) { handOver(w, conn); return; }
    waiting.push(conn);
    // No process ready within 5 s (all of them failing to start, say): the client gets EOF
    // before any answer and runs the command itself.
    setTimeout(() => {
      const i = waiting.indexOf(conn);
      if (i >= 0) { waiting.splice(i, 1); conn.destroy(); }
    }, 5000).unref();
  });
  const old = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(o.socket, () => resolve()); });
  } finally {
    process.umask(old);
  }
  chmodSync(o.socket, 0o600);
  for (let i = 0; i < o.size; i++) start();

  return {
    socket: o.socket,
    close: async () => {
      closing = true;
      server.close(); // stops listening; connections already handed over end with their commands
      for (const c of waiting.splice(0)) c.destroy(); // their clients run the command themselves
      for (const w of idle.splice(0)) w.child.kill('SIGTERM');
      rmSync(o.socket, { force: true });
      if (busy.size) await new Promise<void>((resolve) => { allEnded = resolve; });
    },
  };
}
