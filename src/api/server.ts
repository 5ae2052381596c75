// server.ts: `stowage serve`, Docker's Engine API over node:http. One long-running
// Engine answers every request; the CLI may work on the same data root at the same
// time (SQLite WAL, leases and owner tokens keep them apart; nothing here caches
// records). Each listener gets its own http.Server so the Host/Origin checks know
// which address they guard.
//
// Edge rules (issue 11, "Security"): a browser Origin other than the server's own
// and, on TCP, a Host header that does not name the listener (DNS rebinding) are
// refused with 403; JSON bodies are capped (http.ts); idle connections time out;
// any malformed request gets a 400 with a message. Errors are {"message": …} with
// Docker's statuses, mapped from error kinds in http.ts only.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { unlinkSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import type { AddressInfo, Socket } from 'node:net';
import type { Engine } from '../engine.js';
import { Query, sendError, sendJson, HttpError, statusFor, messageOf } from './http.js';
import { Router, type Ctx, type ServerContext } from './router.js';
import { parseHost, prepareUnixPath, secureUnixSocket, isLoopbackHost, groupId, type ListenerSpec } from './listeners.js';
import { registerRoutes } from './routes/index.js';
import { MIN_API_VERSION } from '../views/system.js';
import { API_VERSION } from '../cli/version.js';

/** Path prefixes accepted: /v1.24 … /v1.47 (what docker CLIs 17.x–28 send), and none. */
export const MAX_PATH_VERSION = 47;
const MIN_MINOR = Number(MIN_API_VERSION.split('.')[1]);
const SERVER_MINOR = Number(API_VERSION.split('.')[1]);

/** Socket idle time before the server closes it (no bytes either way); streams switch it off. */
export const IDLE_TIMEOUT_MS = 120_000;

export interface ServeOptions {
  engine: Engine;
  hosts: string[];
  group?: string;
  allowRemoteTcp?: boolean;
  bin: string;
  globalArgs: string[];
  log?: (line: string) => void;
}

export interface RunningServer {
  /** Where it listens: unix paths and tcp://host:port with the real port. */
  addresses: string[];
  close(): Promise<void>;
}

interface Listener { spec: ListenerSpec; server: Server; address: string; port?: number }

export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const log = o.log ?? (() => {});
  const specs = o.hosts.map((h) => parseHost(h, { allowRemote: !!o.allowRemoteTcp }));
  const shutdown = new AbortController();
  const srv: ServerContext = { engine: o.engine, bin: o.bin, globalArgs: o.globalArgs, shutdown: shutdown.signal };
  const router = new Router();
  registerRoutes(router);
  // An unknown --group fails here, before any socket is bound (none left behind).
  if (o.group !== undefined) groupId(o.group);
  const listeners: Listener[] = [];
  const sockets = new Set<Duplex>();
  try {
    for (const spec of specs) {
      const l: Listener = { spec, server: createServer({ requestTimeout: 0, headersTimeout: 30_000, keepAliveTimeout: 5_000 }), address: spec.text };
      l.server.setTimeout(IDLE_TIMEOUT_MS, (s: Socket) => s.destroy());
      l.server.on('connection', (s: Socket) => { sockets.add(s); s.once('close', () => sockets.delete(s)); });
      l.server.on('request', (req, res) => { void handle(srv, router, l, req, res); });
      l.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => { void handleUpgrade(srv, router, l, req, socket, head); });
      l.server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
        if (!socket.writable || err.code === 'ECONNRESET') { socket.destroy(); return; }
        const body = JSON.stringify({ message: `malformed HTTP request: ${err.message}` });
        socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      });
      await listen(l, o.group);
      listeners.push(l);
      if (spec.kind === 'tcp') {
        log(`WARNING: API is accessible on http://${l.address.replace(/^tcp:\/\//, '')} without encryption.\n` +
          '         Access to the remote API is equivalent to root access on the host. Refer to the\n' +
          "         'Docker daemon attack surface' section in the documentation for more information:\n" +
          '         https://docs.docker.com/go/attack-surface/');
      }
      log(`API listen on ${l.address}`);
    }
  } catch (err) {
    for (const l of listeners) l.server.close();
    throw err;
  }

  // A long-running server must not die of one request's stray error (a socket that
  // failed after its handler returned, a stream's late rejection): log it and go on.
  const stray = (err: unknown) => log(`stowage serve: error outside a request: ${(err as Error)?.stack ?? String(err)}`);
  process.on('unhandledRejection', stray);
  process.on('uncaughtException', stray);

  let closing: Promise<void> | undefined;
  return {
    addresses: listeners.map((l) => l.address),
    close: () => (closing ??= (async () => {
      shutdown.abort(new Error('server shutting down'));
      process.off('unhandledRejection', stray);
      process.off('uncaughtException', stray);
      await Promise.all(listeners.map((l) => new Promise<void>((r) => {
        l.server.close(() => r());
        l.server.closeIdleConnections();
      })));
      // Streams were told to end (shutdown signal); what is left after a moment is cut.
      await new Promise((r) => setTimeout(r, 50));
      for (const s of sockets) s.destroy();
      for (const l of listeners) if (l.spec.kind === 'unix') { try { unlinkSync(l.spec.path); } catch { /* gone */ } }
    })()),
  };
}

async function listen(l: Listener, group?: string): Promise<void> {
  const spec = l.spec;
  if (spec.kind === 'unix') await prepareUnixPath(spec.path);
  await new Promise<void>((resolve, reject) => {
    l.server.once('error', reject);
    if (spec.kind === 'unix') l.server.listen(spec.path, () => resolve());
    else if (spec.kind === 'tcp') l.server.listen(spec.port, spec.host, () => resolve());
    else l.server.listen({ fd: spec.fds[0]! }, () => resolve());
  });
  if (spec.kind === 'unix') secureUnixSocket(spec.path, group);
  if (spec.kind === 'tcp') {
    const a = l.server.address() as AddressInfo;
    l.port = a.port;
    l.address = `tcp://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }
}

/**
 * The Host header must name this listener on TCP (a DNS-rebinding page's Host is its
 * own domain); a browser Origin must be this server's own. Unix sockets have no
 * Host to guard (clients send "docker" or "api.moby.localhost"), only Origin.
 */
function refusal(l: Listener, req: IncomingMessage): string | undefined {
  const host = req.headers.host ?? '';
  const origin = req.headers.origin;
  if (l.spec.kind === 'tcp') {
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host);
    const name = m?.[1]?.replace(/^\[|\]$/g, '').toLowerCase();
    const port = m?.[2] ? Number(m[2]) : 80;
    const ours = name !== undefined && (isLoopbackHost(name) || name === l.spec.host || (l.spec.host === '0.0.0.0' && /^[\d.]+$/.test(name)) || (l.spec.host === '::' && name.includes(':')));
    if (!ours || port !== l.port) return `Host ${JSON.stringify(host)} does not name this server (${l.address}); refused (DNS rebinding protection)`;
    if (origin !== undefined && origin !== `http://${host}`) return `cross-origin request from ${origin} refused`;
    return undefined;
  }
  if (origin !== undefined) return `cross-origin request from ${origin} refused`;
  return undefined;
}

/** Splits /v1.41/containers/json into version 41 and the path; 400 for versions outside the range. */
function versionOf(path: string): { version: number; path: string } {
  const m = /^\/v(\d+)\.(\d+)(\/.*)$/.exec(path);
  if (!m) {
    if (/^\/v[\d.]+$/.test(path) || /^\/v\d/.test(path)) throw new HttpError(400, `malformed API version in path ${JSON.stringify(path)}`);
    return { version: SERVER_MINOR, path };
  }
  const major = Number(m[1]);
  const minor = Number(m[2]);
  if (major !== 1 || minor > MAX_PATH_VERSION) throw new HttpError(400, `client version ${m[1]}.${m[2]} is too new. Maximum supported API version is 1.${MAX_PATH_VERSION}`);
  if (minor < MIN_MINOR) throw new HttpError(400, `client version ${m[1]}.${m[2]} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
  return { version: minor, path: m[3]! };
}

function prepare(srv: ServerContext, router: Router, l: Listener, req: IncomingMessage) {
  const refused = refusal(l, req);
  if (refused) throw new HttpError(403, refused);
  let url: URL;
  try { url = new URL(req.url ?? '/', 'http://stowage'); } catch { throw new HttpError(400, `malformed request path ${JSON.stringify(req.url)}`); }
  let pathname: string;
  try { pathname = url.pathname; decodeURIComponent(pathname); } catch { throw new HttpError(400, `malformed request path ${JSON.stringify(req.url)}`); }
  const { version, path } = versionOf(pathname.replace(/\/{2,}/g, '/'));
  const method = req.method === 'HEAD' && path !== '/_ping' && !/\/archive$/.test(path) ? 'GET' : req.method ?? 'GET';
  const m = router.match(method, path);
  if (!m.route) throw new HttpError(m.otherMethod ? 405 : 404, m.otherMethod ? `method ${req.method} not allowed on ${path}` : 'page not found');
  const abort = new AbortController();
  const onShutdown = () => abort.abort(srv.shutdown.reason);
  srv.shutdown.addEventListener('abort', onShutdown, { once: true });
  return { route: m.route, params: m.params, query: new Query(url.searchParams), version, abort, done: () => srv.shutdown.removeEventListener('abort', onShutdown) };
}

/** STOWAGE_API_DEBUG=1: one line per request on stderr (method, path, status, ms). */
// read per request, never at module load (the V8 start-up snapshot, cli/snapshot.ts)
const debug = (): boolean => !!process.env.STOWAGE_API_DEBUG;

async function handle(srv: ServerContext, router: Router, l: Listener, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let done = () => {};
  if (debug()) {
    const t0 = Date.now();
    res.once('close', () => process.stderr.write(`${req.method} ${req.url} ${res.statusCode} ${Date.now() - t0}ms\n`));
  }
  try {
    const p = prepare(srv, router, l, req);
    done = p.done;
    res.on('close', () => { if (!res.writableFinished) p.abort.abort(new Error('client went away')); });
    res.setHeader('Api-Version', API_VERSION);
    res.setHeader('Server', `Stowage/${API_VERSION} (linux)`);
    const ctx: Ctx = { srv, engine: srv.engine, req, res, params: p.params, query: p.query, version: p.version, signal: p.abort.signal };
    await p.route.handler(ctx);
    if (!res.headersSent) sendJson(res, 200, {});
  } catch (err) {
    if (statusFor(err) >= 500 && process.env.STOWAGE_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? err}\n`);
    sendError(res, err);
  } finally {
    done();
  }
}

async function handleUpgrade(srv: ServerContext, router: Router, l: Listener, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  let done = () => {};
  socket.on('error', () => {});
  if (debug()) process.stderr.write(`${req.method} ${req.url} (upgrade)\n`);
  try {
    const p = prepare(srv, router, l, req);
    done = p.done;
    if (!p.route.hijack) throw new HttpError(400, `${req.url} cannot be upgraded`);
    socket.once('close', () => p.abort.abort(new Error('client went away')));
    await p.route.hijack({ srv, engine: srv.engine, req, params: p.params, query: p.query, version: p.version, signal: p.abort.signal, socket, head, upgraded: true });
  } catch (err) {
    if (socket.writable) {
      const body = JSON.stringify({ message: messageOf(err) }) + '\n';
      socket.end(`HTTP/1.1 ${statusFor(err)} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    }
  } finally {
    done();
  }
}
