// ui/routes.ts: what `stowage serve` answers for the store page: the page itself under
// /ui/ (files bundled by scripts/build.mjs into dist/ui/, read once and kept in memory)
// and stowage's two read-only additions to the Engine API, /stowage/v1/layers and
// /stowage/v1/layers/{chainID}/files. Everything else the page reads is the Engine API.
//
// The page is served with a Content-Security-Policy that allows only its own origin
// (no inline script, no CDN) and may not be framed (clickjacking).
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Router } from '../api/router.js';
import { sendJson } from '../api/http.js';
import { layerFiles, layerGraph } from './layers.js';
import { notFound } from '../errors.js';

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

/** Adds the page and stowage's additions to the Engine API's router. */
export function registerUiRoutes(r: Router): void {
  r.get('/ui/{file}', ({ req, res, params }) => {
    const name = params.file || 'index.html';
    if (!ASSETS.has(name)) throw notFound(`page not found: /ui/${name}`);
    const body = asset(name);
    if (!body) throw notFound(`the store page is not built (run npm run build): ${name} is missing`);
    const ext = name.slice(name.lastIndexOf('.'));
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': TYPES[ext] ?? 'application/octet-stream', 'Content-Length': String(body.length) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  r.get('/ui/', ({ req, res }) => {
    const body = asset('index.html');
    if (!body) throw notFound('the store page is not built (run npm run build): index.html is missing');
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': TYPES['.html']!, 'Content-Length': String(body.length) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  // after '/ui/': the pattern '/ui' also matches '/ui/' (a trailing slash is optional)
  r.get('/ui', ({ res }) => {
    res.writeHead(301, { Location: '/ui/', 'Content-Length': '0' });
    res.end();
  });
  r.get('/stowage/v1/layers', ({ engine, res }) => sendJson(res, 200, layerGraph(engine)));
  r.get('/stowage/v1/layers/{id}/files', async ({ engine, res, params, query, signal }) => {
    const limit = query.int('limit');
    sendJson(res, 200, await layerFiles(engine, params.id!, { ...(limit !== undefined ? { limit } : {}), signal }));
  });
}
