// pty.ts: typed access to native/pty.c (receive a pty master over an OCI runtime's
// --console-socket, set a terminal's size). A separate addon from sys.ts so that
// only the terminal paths load it.
import { createRequire } from 'node:module';
import { closeSync, existsSync, rmSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Pty {
  /** A non-blocking listening unix socket at path (close-on-exec); its fd. */
  listenUnix(path: string): number;
  /** The fd passed by the first waiting connection, or null when none is waiting yet. */
  acceptFd(listenFd: number): number | null;
  setWinsize(fd: number, rows: number, cols: number): void;
  /** Raw mode (Docker's); input queued before the switch is returned, eof when it ended. */
  makeRaw(fd: number): { saved: Buffer; pending: Buffer; eof: boolean };
  setTermios(fd: number, saved: Buffer): void;
}

let pty: Pty | undefined;

function locate(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'build', 'Release', 'stowage_pty.node');
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  throw new Error('stowage native module stowage_pty not built: run `npm ci` (it compiles native/pty.c with node-gyp)');
}

export function ptyNative(): Pty {
  if (!pty) pty = createRequire(import.meta.url)(locate()) as Pty;
  return pty;
}

/** Whether the addon is there (a build made before native/pty.c existed lacks it). */
export function ptyAvailable(): boolean {
  try { ptyNative(); return true; } catch { return false; }
}

/**
 * Starts a runtime command that hands a terminal's master over `--console-socket`
 * (`run` or `exec` in the foreground): listens at `path`, calls `start(path)`, and
 * returns the runtime process with the received fd. The listening socket is
 * non-blocking and polled, so a runtime that fails before sending anything is noticed
 * by its exit (fd null then). The socket is removed on every way out.
 */
export async function spawnWithConsole(path: string, start: (consoleSocket: string) => ChildProcess): Promise<{ child: ChildProcess; fd: number | null }> {
  const p = ptyNative();
  rmSync(path, { force: true });
  const lfd = p.listenUnix(path);
  let child: ChildProcess | undefined;
  try {
    child = start(path);
    let exited = false;
    child.once('exit', () => { exited = true; });
    child.once('error', () => { exited = true; });
    for (let d = 1; ; d = Math.min(d * 2, 20)) {
      const fd = p.acceptFd(lfd);
      if (fd !== null) return { child, fd };
      if (exited) return { child, fd: p.acceptFd(lfd) };
      await new Promise((r) => setTimeout(r, d));
    }
  } catch (err) {
    // The handover failed (a bad or silent connection): the runtime must not run on unwatched.
    child?.kill('SIGKILL');
    throw err;
  } finally {
    closeSync(lfd);
    rmSync(path, { force: true });
  }
}
