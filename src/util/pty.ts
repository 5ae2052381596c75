// pty.ts: typed access to native/pty.c (receive a pty master over an OCI runtime's
// --console-socket, set a terminal's size). A separate addon from sys.ts so that
// only the terminal paths load it.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
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
