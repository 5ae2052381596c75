// router.ts: method + path pattern → handler. Patterns name their parameters as
// moby's router does: `{id}` is one path segment, `{name:.*}` may hold slashes
// (image references: /images/docker.io/library/busybox:latest/json).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Engine } from '../engine.js';
import type { Query } from './http.js';

export interface ServerContext {
  engine: Engine;
  /** How to spawn a container's monitor: the stowage entry point and the global flags naming this data root. */
  bin: string;
  globalArgs: string[];
  /** Aborted when the server shuts down: long streams end. */
  shutdown: AbortSignal;
}

export interface Ctx {
  srv: ServerContext;
  engine: Engine;
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: Query;
  /** The API version the client asked for, as its minor number (1.41 → 41). */
  version: number;
  /** Aborted when the client goes away or the server shuts down. */
  signal: AbortSignal;
}

/** A handler for a hijacked connection (attach, exec start): it owns the raw socket. */
export interface HijackCtx extends Omit<Ctx, 'res'> {
  socket: Duplex;
  /** Bytes the client sent after the request headers (the body, then stdin). */
  head: Buffer;
  /** Whether the client asked for an upgrade (docker CLI, dockerode hijack) or a plain streamed response. */
  upgraded: boolean;
}

export type Handler = (c: Ctx) => Promise<void> | void;
export type HijackHandler = (c: HijackCtx) => Promise<void>;

interface Route { method: string; re: RegExp; names: string[]; handler: Handler; hijack?: HijackHandler }

function compile(pattern: string): { re: RegExp; names: string[] } {
  const names: string[] = [];
  const src = pattern.replace(/[.+?^$()[\]|\\]/g, '\\$&').replace(/\{(\w+)(:\\\.\*)?\}/g, (_m, n: string, greedy?: string) => {
    names.push(n);
    return greedy ? '(.+)' : '([^/]+)';
  });
  return { re: new RegExp(`^${src}/?$`), names };
}

export class Router {
  private routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler, hijack?: HijackHandler): this {
    this.routes.push({ method, ...compile(pattern), handler, ...(hijack ? { hijack } : {}) });
    return this;
  }
  get(p: string, h: Handler): this { return this.add('GET', p, h); }
  head(p: string, h: Handler): this { return this.add('HEAD', p, h); }
  post(p: string, h: Handler, hijack?: HijackHandler): this { return this.add('POST', p, h, hijack); }
  put(p: string, h: Handler): this { return this.add('PUT', p, h); }
  delete(p: string, h: Handler): this { return this.add('DELETE', p, h); }

  /** The route for method and path, its parameters, or whether the path exists under another method (405). */
  match(method: string, path: string): { route?: Route; params: Record<string, string>; otherMethod: boolean } {
    let otherMethod = false;
    for (const r of this.routes) {
      const m = r.re.exec(path);
      if (!m) continue;
      if (r.method !== method) { otherMethod = true; continue; }
      const params: Record<string, string> = {};
      r.names.forEach((n, i) => {
        try { params[n] = decodeURIComponent(m[i + 1]!); } catch { params[n] = m[i + 1]!; }
      });
      return { route: r, params, otherMethod };
    }
    return { params: {}, otherMethod };
  }
}
