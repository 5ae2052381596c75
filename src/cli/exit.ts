// exit.ts: error categories to exit codes and messages, at the edge only.
// Docker's CLI exits 1 for a failed request and 125 for its own usage errors;
// `run` adds 125/126/127 (containers issue). The category also picks the prefix.
import { findStowageError, type ErrorKind } from '../errors.js';
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
  return plainMessage(rawMessageFor(err));
}

function rawMessageFor(err: unknown): string {
  const se = findStowageError(err);
  if (se) return `Error: ${se.message}`;
  const e = err as { code?: string; message?: string; path?: string };
  if (e?.code === 'EACCES' || e?.code === 'EPERM') {
    return `Error: permission denied${e.path ? ` on ${e.path}` : ''}: ${e.message} (stowage needs root for kernel mounts; or set --data-root to a folder you own and use --storage-driver vfs)`;
  }
  if (e?.code === 'ENOSPC') return `Error: no space left on device${e.path ? ` (${e.path})` : ''}`;
  return `Error: ${e?.message ?? String(err)}`;
}
