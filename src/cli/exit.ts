// exit.ts: error categories to exit codes and messages, at the edge only.
// Docker's CLI exits 1 for a failed request and 125 for its own usage errors;
// `run` adds 125/126/127 (containers issue). The category also picks the prefix.
import { findStowageError, isNoSpace, type ErrorKind } from '../errors.js';
import { plainMessage } from '../errno.js';

const CODES: Record<ErrorKind, number> = {
  NotFound: 1,
  AlreadyExists: 1,
  InvalidArgument: 1,
  Conflict: 1,
  FailedPrecondition: 1,
  Unavailable: 1,
  NotImplemented: 1,
  PermissionDenied: 1,
  Internal: 1,
};

export function exitCodeFor(err: unknown): number {
  const se = findStowageError(err);
  return se ? CODES[se.kind] : 1;
}

export function messageFor(err: unknown): string {
  if (isNoSpace(err)) {
    // One message however deep the errno sits (a write, a mount, SQLite, mkfs): what
    // happened and what to do, never the raw errno text. What the command had begun is
    // removed (staging, 'creating' records), so the store is as it was before.
    const path = (err as { path?: string }).path;
    return `Error: no space left on device${path ? ` (writing ${path})` : ''}: the filesystem holding the data root is full. Free some space and try again; the store is unchanged.`;
  }
  return plainMessage(rawMessageFor(err));
}

function rawMessageFor(err: unknown): string {
  const se = findStowageError(err);
  if (se) return `Error: ${se.message}`;
  const e = err as { code?: string; message?: string; path?: string };
  if (e?.code === 'EACCES' || e?.code === 'EPERM') {
    return `Error: permission denied${e.path ? ` on ${e.path}` : ''}: ${e.message} (stowage needs root for kernel mounts; or set --data-root to a folder you own and use --storage-driver vfs)`;
  }
  return `Error: ${e?.message ?? String(err)}`;
}

/** An error that carries the exit code `run` (or `build`) must end with. */
export class ExitError extends Error {
  constructor(readonly code: number, message: string) { super(message); }
}
