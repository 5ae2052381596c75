// status.ts: gRPC status codes at the CSI edge. Domain code throws StowageError
// kinds (errors.ts); the CSI handlers throw CsiError where the spec names a code the
// kinds do not have (OUT_OF_RANGE, ABORTED, RESOURCE_EXHAUSTED). toStatus maps both.
import { status } from '@grpc/grpc-js';
import { findStowageError, type ErrorKind } from '../errors.js';

export class CsiError extends Error {
  constructor(readonly code: status, message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'CsiError';
  }
}

export const invalid = (msg: string) => new CsiError(status.INVALID_ARGUMENT, msg);
export const notFoundCsi = (msg: string) => new CsiError(status.NOT_FOUND, msg);
export const exists = (msg: string) => new CsiError(status.ALREADY_EXISTS, msg);
export const outOfRange = (msg: string) => new CsiError(status.OUT_OF_RANGE, msg);
export const aborted = (msg: string) => new CsiError(status.ABORTED, msg);
export const precondition = (msg: string) => new CsiError(status.FAILED_PRECONDITION, msg);
export const exhausted = (msg: string) => new CsiError(status.RESOURCE_EXHAUSTED, msg);

const KIND_CODES: Record<ErrorKind, status> = {
  NotFound: status.NOT_FOUND,
  AlreadyExists: status.ALREADY_EXISTS,
  InvalidArgument: status.INVALID_ARGUMENT,
  Conflict: status.FAILED_PRECONDITION,
  FailedPrecondition: status.FAILED_PRECONDITION,
  Unavailable: status.UNAVAILABLE,
  NotImplemented: status.UNIMPLEMENTED,
  PermissionDenied: status.PERMISSION_DENIED,
  Internal: status.INTERNAL,
};

/** The gRPC code and message for any error a handler throws. */
export function toStatus(err: unknown): { code: status; details: string } {
  if (err instanceof CsiError) return { code: err.code, details: err.message };
  const se = findStowageError(err);
  if (se) return { code: KIND_CODES[se.kind], details: se.message };
  return { code: status.INTERNAL, details: (err as Error)?.message ?? String(err) };
}
