// warm-child.ts: a CLI process that `stowage warm` (warm.ts) started ahead of time from
// the start-up snapshot, waiting for a command. The server passes it a client's
// connection (native/client.c); this reads the request with its three descriptors
// (native/warm.c), makes them standard input, output and error, takes the client's
// arguments, environment, folder and umask, and returns the arguments for main(): from
// then on the process is exactly the command the client would have started itself.
// Nothing touches process.stdin/stdout/stderr before that: Node creates them on first
// use, from whatever fds 0-2 are then.
//
// A client started from another snapshot (stowage rebuilt since this process started)
// is declined ('D') and runs the command itself; so is any request that cannot be
// applied whole. This process then exits and the server starts a fresh one.
import { statSync, writeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { snapshotBlob } from './entry.js';
import { preloadSqlite } from '../store/db.js';
import { findInPackage, loadAddon } from '../util/sys.js';

interface WarmNative {
  receive(fd: number, timeoutMs: number): { fds: number[]; data: Buffer };
  dup2(from: number, to: number): void;
  dup(fd: number): number;
  close(fd: number): void;
}

const MAGIC = 'stowage-warm-1';

function native(): WarmNative {
  const p = findInPackage('build/Release/stowage_warm.node');
  if (!p) throw new Error('stowage native module stowage_warm not built: run `npm ci`');
  return loadAddon<WarmNative>(p);
}

/** "dev:ino:size:mtime_ns" of a file, as native/client.c writes it. */
export function fileIdentity(path: string): string {
  const st = statSync(path, { bigint: true });
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
}

export interface WarmRequest { identity: string; cwd: string; umask: number; args: string[]; env: string[] }

/** The request's strings (client.c's wire format); throws on anything else. */
export function parseRequest(data: Buffer): WarmRequest {
  const parts = data.toString('utf8').split('\0');
  let i = 0;
  const next = (): string => {
    if (i >= parts.length - 1) throw new Error('truncated request');
    return parts[i++]!;
  };
  if (next() !== MAGIC) throw new Error('not a stowage-warm-1 request');
  const identity = next();
  const cwd = next();
  const umask = parseInt(next(), 8);
  const argc = Number(next());
  if (!Number.isInteger(argc) || argc < 0 || !Number.isInteger(umask)) throw new Error('bad counts');
  const args: string[] = [];
  for (let k = 0; k < argc; k++) args.push(next());
  const envc = Number(next());
  if (!Number.isInteger(envc) || envc < 0) throw new Error('bad counts');
  const env: string[] = [];
  for (let k = 0; k < envc; k++) env.push(next());
  if (i !== parts.length - 1) throw new Error('trailing bytes');
  return { identity, cwd, umask, args, env };
}

/**
 * Waits for the server's hand-over and becomes the client's command: resolves with its
 * arguments. Exits (0) when declined or when the server goes away first.
 */
export function becomeCommand(): Promise<string[]> {
  const blob = snapshotBlob();
  const mine = blob ? fileIdentity(blob) : '';
  const w = native();
  // What nearly every command loads first, loaded while nobody waits (best effort).
  try { preloadSqlite(); } catch { /* the command reports it */ }
  return new Promise((resolve) => {
    const onDisconnect = () => process.exit(0); // the server is gone: nothing to wait for
    process.on('disconnect', onDisconnect);
    process.on('message', (m: unknown, handle: unknown) => {
      if (m !== 'stowage-warm-connection' || !handle) return;
      const sock = handle as Socket;
      const fd = (sock as unknown as { _handle: { fd: number } })._handle.fd;
      let fds: number[] = [];
      try {
        const got = w.receive(fd, 5000);
        fds = got.fds;
        const req = parseRequest(got.data);
        if (fds.length !== 3 || req.identity !== mine) throw new Error('declined');
        process.chdir(req.cwd);
        process.umask(req.umask);
        for (let k = 0; k < 3; k++) w.dup2(fds[k]!, k);
        for (const f of fds) w.close(f);
        fds = [];
        for (const k of Object.keys(process.env)) delete process.env[k];
        for (const e of req.env) {
          const eq = e.indexOf('=');
          if (eq > 0) process.env[e.slice(0, eq)] = e.slice(eq + 1);
        }
        process.argv = [process.argv[0]!, ...req.args];
        // The exit status goes to the client as the command ends, before Node's own
        // teardown (a few ms); the server sends it too, for a death by a signal. The copy
        // is made before 'A': nothing after that answer may fail into a 'D'.
        const own = w.dup(fd);
        const reply = Buffer.alloc(5);
        reply.write('A', 0, 'latin1');
        reply.writeUInt32BE(process.pid, 1);
        writeSync(fd, reply);
        process.on('exit', (code) => {
          const b = Buffer.alloc(4);
          b.writeUInt32BE(code >>> 0);
          try { writeSync(own, b); } catch { /* the client is gone */ }
        });
        process.off('disconnect', onDisconnect);
        sock.destroy();
        process.disconnect();
        resolve(req.args);
      } catch {
        // Nothing has run and no 'A' was sent: the client runs the command itself.
        for (const f of fds) w.close(f);
        try { writeSync(fd, Buffer.from('D')); } catch { /* the client falls back on EOF too */ }
        process.exit(0);
      }
    });
    process.send?.('stowage-warm-ready');
  });
}
