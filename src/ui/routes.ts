// ui/routes.ts: what `stowage serve` answers for the store page: the page itself under
// /ui/ (files bundled by scripts/build.mjs into dist/ui/, read once and kept in memory)
// and stowage's two read-only additions to the Engine API, /stowage/v1/layers and
// /stowage/v1/layers/{chainID}/files. Everything else the page reads is the Engine API.
//
// The page is served with a Content-Security-Policy that allows only its own origin
// (no inline script, no CDN) and may not be framed (clickjacking).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Engine } from '../engine.js';
import { layerFiles, layerGraph } from './layers.js';
import { invalidArgument, notFound } from '../errors.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png',
};

const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

/** dist/ui, found from this module (src via dist/src/ui, or the CLI bundle in dist/cli). */
export function uiAssetDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const cands = basename(dir) === 'dist' ? [join(dir, 'ui')] : [join(dir, 'dist', 'ui')];
    for (const c of cands) if (existsSync(join(c, 'index.html'))) return c;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

const cache = new Map<string, Buffer>();

function asset(name: string): Buffer | undefined {
  let b = cache.get(name);
  if (b) return b;
  const dir = uiAssetDir();
  if (!dir) return undefined;
  const p = join(dir, name);
  if (!existsSync(p)) return undefined;
  b = readFileSync(p);
  cache.set(name, b);
  return b;
}

/** The names the page consists of: nothing else under /ui/ is served. */
const ASSETS = new Set(['index.html', 'app.js', 'app.css', 'app.js.map', 'app.css.map']);

export type UiAnswer =
  | { kind: 'asset'; status: number; type: string; body: Buffer; headers: Record<string, string> }
  | { kind: 'json'; value: unknown }
  | { kind: 'redirect'; location: string };

/**
 * Answers a request for the page or stowage's additions; undefined when the path is
 * not one of them (the Engine API handles it). Errors are StowageErrors, which the
 * server maps to statuses like any other.
 */
export async function uiRoute(e: Engine, method: string, path: string, query: URLSearchParams, signal?: AbortSignal): Promise<UiAnswer | undefined> {
  if (path === '/ui') return { kind: 'redirect', location: '/ui/' };
  if (path.startsWith('/ui/')) {
    if (method !== 'GET' && method !== 'HEAD') throw invalidArgument(`${method} ${path}: the page is read-only (GET)`);
    const name = path === '/ui/' ? 'index.html' : path.slice(4);
    if (!ASSETS.has(name)) throw notFound(`page not found: ${path}`);
    const body = asset(name);
    if (!body) throw notFound(`the store page is not built (run npm run build): ${name} is missing`);
    const ext = name.slice(name.lastIndexOf('.'));
    return { kind: 'asset', status: 200, type: TYPES[ext] ?? 'application/octet-stream', body, headers: SECURITY_HEADERS };
  }
  if (path === '/stowage/v1/layers') {
    if (method !== 'GET') throw invalidArgument(`${method} ${path}: only GET`);
    return { kind: 'json', value: layerGraph(e) };
  }
  const m = /^\/stowage\/v1\/layers\/([^/]+)\/files$/.exec(path);
  if (m) {
    if (method !== 'GET') throw invalidArgument(`${method} ${path}: only GET`);
    const limit = query.get('limit');
    return { kind: 'json', value: await layerFiles(e, decodeURIComponent(m[1]!), { ...(limit !== null ? { limit: Number(limit) } : {}), ...(signal ? { signal } : {}) }) };
  }
  return undefined;
}

/** Writes an answer of uiRoute to a node:http response. */
export function sendUiAnswer(a: UiAnswer, req: IncomingMessage, res: ServerResponse): void {
  if (a.kind === 'redirect') {
    res.writeHead(301, { Location: a.location, 'Content-Length': '0' });
    res.end();
    return;
  }
  if (a.kind === 'json') {
    const body = Buffer.from(JSON.stringify(a.value) + '\n');
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(body.length) });
    res.end(body);
    return;
  }
  res.writeHead(a.status, { ...a.headers, 'Content-Type': a.type, 'Content-Length': String(a.body.length) });
  res.end(req.method === 'HEAD' ? undefined : a.body);
}
