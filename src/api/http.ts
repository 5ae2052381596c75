// http.ts: the HTTP edge of the Engine API: error kinds become Docker's statuses
// here and only here, bodies are read with limits, JSON is written as dockerd does.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { findStowageError, invalidArgument, type ErrorKind, StowageError } from '../errors.js';

/** Docker's status per error category (moby errdefs → httpstatus). */
const STATUS: Record<ErrorKind, number> = {
  NotFound: 404,
  AlreadyExists: 409,
  InvalidArgument: 400,
  Conflict: 409,
  FailedPrecondition: 409,
  Unavailable: 503,
  NotImplemented: 501,
  PermissionDenied: 403,
  Internal: 500,
};

/** Errors the HTTP layer itself raises, with a status no domain kind names (413, 405…). */
export class HttpError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

export function statusFor(err: unknown): number {
  if (err instanceof HttpError) return err.status;
  const se = findStowageError(err);
  if (se) return STATUS[se.kind];
  const code = (err as { code?: string } | null)?.code;
  if (code === 'ENOENT') return 404;
  if (code === 'EACCES' || code === 'EPERM') return 403;
  return 500;
}

export function messageOf(err: unknown): string {
  const se = findStowageError(err);
  if (se) return se.message;
  return (err as Error)?.message ?? String(err);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown): void {
  const status = statusFor(err);
  if (res.headersSent) { res.destroy(); return; }
  sendJson(res, status, { message: messageOf(err) });
}

export function noContent(res: ServerResponse, status = 204): void {
  res.writeHead(status);
  res.end();
}

/** Max bytes of a JSON request body (create bodies are a few KiB; dockerd has no limit, we do). */
export const MAX_JSON_BODY = 4 << 20;

/** The whole body, refusing more than limit bytes with 413 (without reading the rest). */
export async function readBody(req: IncomingMessage, limit = MAX_JSON_BODY): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) throw new HttpError(413, `request body too large: ${declared} bytes (the limit is ${limit})`);
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) throw new HttpError(413, `request body too large (the limit is ${limit} bytes)`);
    parts.push(c);
  }
  return Buffer.concat(parts);
}

/** A JSON body; an empty body is `empty` (Docker accepts no body for most POSTs). 400 when it does not parse. */
export async function readJson(req: IncomingMessage, empty: unknown = {}): Promise<unknown> {
  const buf = await readBody(req);
  const text = buf.toString('utf8').trim();
  if (!text) return empty;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalidArgument(`invalid JSON in request body: ${(err as Error).message}`);
  }
}

/** Query parameters with Docker's readings of booleans and numbers. */
export class Query {
  constructor(readonly p: URLSearchParams) {}

  has(k: string): boolean { return this.p.has(k); }
  str(k: string): string | undefined { return this.p.get(k) ?? undefined; }

  /** Docker's httputils.BoolValue: "", "0", "no", "false", "none" are false. */
  bool(k: string, dflt = false): boolean {
    const v = this.p.get(k);
    if (v === null) return dflt;
    return !['', '0', 'no', 'false', 'none'].includes(v.trim().toLowerCase());
  }

  int(k: string, dflt?: number): number | undefined {
    const v = this.p.get(k);
    if (v === null || v === '') return dflt;
    if (!/^-?\d+$/.test(v.trim())) throw invalidArgument(`invalid value for ${k}: ${JSON.stringify(v)}: not an integer`);
    return Number(v);
  }

  /** filters={"key":["v"]} or the old {"key":{"v":true}} form, as "key=v" strings the services take. */
  filters(k = 'filters'): string[] {
    const v = this.p.get(k);
    if (!v) return [];
    let parsed: unknown;
    try { parsed = JSON.parse(v); } catch (err) { throw invalidArgument(`invalid filter: ${(err as Error).message}`); }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalidArgument('invalid filter: want a JSON object of arrays');
    const out: string[] = [];
    for (const [key, vals] of Object.entries(parsed as Record<string, unknown>)) {
      if (Array.isArray(vals)) for (const x of vals) out.push(`${key}=${String(x)}`);
      else if (typeof vals === 'object' && vals !== null) for (const [x, on] of Object.entries(vals)) { if (on) out.push(`${key}=${x}`); }
      else throw invalidArgument(`invalid filter for ${key}: want an array of strings`);
    }
    return out;
  }

  /** A JSON object parameter such as buildargs or labels. */
  jsonMap(k: string): Record<string, string> {
    const v = this.p.get(k);
    if (!v) return {};
    let parsed: unknown;
    try { parsed = JSON.parse(v); } catch (err) { throw invalidArgument(`invalid ${k}: ${(err as Error).message}`); }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalidArgument(`invalid ${k}: want a JSON object`);
    const out: Record<string, string> = {};
    for (const [a, b] of Object.entries(parsed as Record<string, unknown>)) if (b !== null && b !== undefined) out[a] = String(b);
    return out;
  }
}

export function notImplementedHere(what: string): StowageError {
  return new StowageError('NotImplemented', what);
}
