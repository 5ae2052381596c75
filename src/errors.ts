// errors.ts: one error class with a closed set of categories. Domain code throws
// StowageError with a kind; front ends turn kinds into exit codes (CLI) or HTTP
// statuses (API) at the edge. Domain code never names an exit code or a status.

export type ErrorKind =
  | 'NotFound'
  | 'AlreadyExists'
  | 'InvalidArgument'
  | 'Conflict'
  | 'FailedPrecondition'
  | 'Unavailable'
  | 'NotImplemented'
  | 'PermissionDenied'
  | 'Internal';

export interface ErrorContext {
  /** The operation that failed, e.g. "load", "rmi". */
  op?: string;
  /** The thing the error is about: a reference, an id, a path. */
  name?: string;
  /** Related things, e.g. the containers that hold an image. */
  refs?: string[];
}

export class StowageError extends Error {
  readonly kind: ErrorKind;
  readonly op?: string;
  readonly subject?: string;
  readonly refs?: string[];

  constructor(kind: ErrorKind, message: string, ctx: ErrorContext & { cause?: unknown } = {}) {
    super(message, ctx.cause === undefined ? undefined : { cause: ctx.cause });
    this.name = 'StowageError';
    this.kind = kind;
    if (ctx.op !== undefined) this.op = ctx.op;
    if (ctx.name !== undefined) this.subject = ctx.name;
    if (ctx.refs !== undefined) this.refs = ctx.refs;
  }
}

type Ctx = ErrorContext & { cause?: unknown };
export const notFound = (msg: string, ctx?: Ctx) => new StowageError('NotFound', msg, ctx);
export const alreadyExists = (msg: string, ctx?: Ctx) => new StowageError('AlreadyExists', msg, ctx);
export const invalidArgument = (msg: string, ctx?: Ctx) => new StowageError('InvalidArgument', msg, ctx);
export const conflict = (msg: string, ctx?: Ctx) => new StowageError('Conflict', msg, ctx);
export const failedPrecondition = (msg: string, ctx?: Ctx) => new StowageError('FailedPrecondition', msg, ctx);
export const unavailable = (msg: string, ctx?: Ctx) => new StowageError('Unavailable', msg, ctx);
export const notImplemented = (msg: string, ctx?: Ctx) => new StowageError('NotImplemented', msg, ctx);
export const permissionDenied = (msg: string, ctx?: Ctx) => new StowageError('PermissionDenied', msg, ctx);
export const internal = (msg: string, ctx?: Ctx) => new StowageError('Internal', msg, ctx);

/** The first StowageError in err's cause chain, if any. */
export function findStowageError(err: unknown): StowageError | undefined {
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 16; depth++) {
    if (e instanceof StowageError) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export function kindOf(err: unknown): ErrorKind {
  return findStowageError(err)?.kind ?? 'Internal';
}

export const isNotFound = (err: unknown) => kindOf(err) === 'NotFound';
export const isConflict = (err: unknown) => kindOf(err) === 'Conflict';
export const isInvalidArgument = (err: unknown) => kindOf(err) === 'InvalidArgument';
export const isAlreadyExists = (err: unknown) => kindOf(err) === 'AlreadyExists';

/** The errno code of a Node system error ("ENOENT"), or undefined. */
export function errnoCode(err: unknown): string | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

/**
 * True when err (or anything in its cause chain) says the disk is full: ENOSPC or
 * EDQUOT from the kernel, SQLITE_FULL from the database, or a child program's "No
 * space left on device". Front ends turn it into one clear message.
 */
export function isNoSpace(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 16; depth++) {
    const c = errnoCode(e);
    // SQLITE_IOERR_SHMSIZE: growing the WAL index (the -shm file) failed, which on open
    // means the disk is full (SQLite does not pass the errno on).
    if (c === 'ENOSPC' || c === 'EDQUOT' || c === 'SQLITE_FULL' || c === 'SQLITE_IOERR_SHMSIZE') return true;
    const m = (e as { message?: unknown }).message;
    if (typeof m === 'string' && /\bENOSPC\b|No space left on device|database or disk is full/i.test(m)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
