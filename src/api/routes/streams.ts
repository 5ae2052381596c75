// routes/streams.ts: what streams between a client and a process — attach and exec
// start (hijacked: `101 UPGRADED`, then stdout/stderr frames without a tty or raw
// bytes with one, and the client's stdin the other way), resize, top, stats, exec
// create/inspect/resize, and events. The engine side is streams' (engine-streams.ts).
import type { Duplex } from 'node:stream';
import type { Router, Ctx, HijackCtx } from '../router.js';
import { readJson, readBody, sendJson, HttpError } from '../http.js';
import { frame, upgradeHead, streamHead, readUpgradeBody } from '../stream.js';
import { invalidArgument } from '../../errors.js';
import { streamFeature, eventsOf, type StdioSession } from '../engine-streams.js';

/** Carries a session over the raw socket until the process's output ends or the client goes. */
async function pump(session: StdioSession, socket: Duplex, first: Buffer, signal: AbortSignal): Promise<void> {
  const stdin = session.stdin;
  if (stdin) {
    if (first.length) stdin.write(first);
    socket.on('data', (b: Buffer) => { stdin.write(b); });
    // The client half-closes its side when its stdin ends (CloseWrite).
    socket.once('end', () => { stdin.end(); });
    socket.resume();
  } else {
    socket.on('data', () => {});
    socket.resume();
  }
  const stop = () => session.close();
  signal.addEventListener('abort', stop, { once: true });
  socket.once('close', stop);
  try {
    for await (const chunk of session.output) {
      if (socket.destroyed) break;
      socket.write(session.tty ? chunk.data : frame(chunk.stream, chunk.data));
    }
  } finally {
    signal.removeEventListener('abort', stop);
    if (!socket.destroyed) socket.end();
  }
}

/** Errors after the 101 go into the stream, as dockerd writes them (the CLI prints them). */
function streamError(socket: Duplex, tty: boolean, err: unknown): void {
  if (socket.destroyed) return;
  const msg = Buffer.from(`Error: ${(err as Error).message}\n`);
  socket.end(tty ? msg : frame('stderr', msg));
}

async function attach(c: HijackCtx): Promise<void> {
  const q = c.query;
  const rec = c.engine.containers.resolve(c.params.id!);
  const detachKeys = q.str('detachKeys');
  const session = await streamFeature(c.engine, 'attach')(rec.Id, {
    stdin: q.bool('stdin'), stdout: q.bool('stdout'), stderr: q.bool('stderr'), stream: q.bool('stream'), logs: q.bool('logs'),
    ...(detachKeys ? { detachKeys } : {}), signal: c.signal,
  });
  (c.upgraded ? upgradeHead : streamHead)(c.socket, session.tty, c.version);
  (c.socket as { setTimeout?: (n: number) => void }).setTimeout?.(0);
  try {
    await pump(session, c.socket, c.head, c.signal);
  } catch (err) {
    streamError(c.socket, session.tty, err);
  }
}

async function execStart(c: HijackCtx): Promise<void> {
  const { body: raw, rest } = await readUpgradeBody(c.socket, c.head, Number(c.req.headers['content-length'] ?? 0));
  let body: { Detach?: boolean; Tty?: boolean } = {};
  if (raw.length) {
    try { body = JSON.parse(raw.toString('utf8')) as typeof body; } catch (err) { throw invalidArgument(`invalid JSON in request body: ${(err as Error).message}`); }
  }
  const session = await streamFeature(c.engine, 'execStart')(c.params.id!, { detach: !!body.Detach, ...(body.Tty !== undefined ? { tty: !!body.Tty } : {}) });
  if (!session) {
    c.socket.end('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  (c.upgraded ? upgradeHead : streamHead)(c.socket, session.tty, c.version);
  (c.socket as { setTimeout?: (n: number) => void }).setTimeout?.(0);
  try {
    await pump(session, c.socket, rest, c.signal);
  } catch (err) {
    streamError(c.socket, session.tty, err);
  }
}

/** A plain (not upgraded) request to a hijack endpoint: the same stream as the response body. */
const plain = (h: (c: HijackCtx) => Promise<void>) => async (c: Ctx): Promise<void> => {
  // The body (exec start's {"Detach", "Tty"}) comes through the HTTP parser here, not the raw socket.
  const head = await readBody(c.req, 1 << 20);
  const socket = c.req.socket;
  c.res.detachSocket(socket);
  await h({ ...c, socket, head, upgraded: false });
};

function dims(c: Ctx): { h: number; w: number } {
  const h = c.query.int('h');
  const w = c.query.int('w');
  if (h === undefined || w === undefined || h < 0 || w < 0) throw invalidArgument('resize needs h and w (non-negative integers)');
  return { h, w };
}

async function events(c: Ctx): Promise<void> {
  const ev = eventsOf(c.engine);
  const parse = (k: string): number | undefined => {
    const v = c.query.str(k);
    if (!v) return undefined;
    if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
    const t = Date.parse(v);
    if (Number.isNaN(t)) throw invalidArgument(`invalid value for ${k}: ${JSON.stringify(v)}`);
    return t / 1000;
  };
  const filters: Record<string, string[]> = {};
  for (const f of c.query.filters()) {
    const i = f.indexOf('=');
    (filters[f.slice(0, i)] ??= []).push(f.slice(i + 1));
  }
  const since = parse('since');
  const until = parse('until');
  const iter = ev.subscribe({ ...(since !== undefined ? { since } : {}), ...(until !== undefined ? { until } : {}), filters, signal: c.signal });
  c.res.writeHead(200, { 'Content-Type': 'application/json' });
  c.res.socket?.setTimeout(0);
  c.res.flushHeaders();
  try {
    for await (const e of iter) {
      if (c.res.destroyed) break;
      c.res.write(JSON.stringify(e) + '\n');
    }
  } catch (err) {
    if (!c.signal.aborted) throw err;
  }
  c.res.end();
}

export function streamRoutes(r: Router): void {
  r.post('/containers/{id}/attach', plain(attach), attach);
  r.get('/containers/{id}/attach/ws', () => { throw new HttpError(501, 'attach over websocket is not supported by stowage; use POST /containers/{id}/attach'); });
  r.post('/containers/{id}/resize', async (c) => {
    const { h, w } = dims(c);
    await streamFeature(c.engine, 'resize')(c.params.id!, h, w);
    c.res.writeHead(200);
    c.res.end();
  });
  r.get('/containers/{id}/top', async (c) => {
    sendJson(c.res, 200, await streamFeature(c.engine, 'top')(c.params.id!, c.query.str('ps_args') || undefined));
  });
  r.get('/containers/{id}/stats', async (c) => {
    const stats = streamFeature(c.engine, 'stats');
    const rec = c.engine.containers.resolve(c.params.id!);
    if (!c.query.bool('stream', true) || c.query.bool('one-shot')) { sendJson(c.res, 200, await stats(rec.Id)); return; }
    c.res.writeHead(200, { 'Content-Type': 'application/json' });
    c.res.socket?.setTimeout(0);
    while (!c.signal.aborted) {
      const now = c.engine.containerStore.get(rec.Id);
      if (!now) break;
      c.res.write(JSON.stringify(await stats(rec.Id)) + '\n');
      await new Promise((res) => setTimeout(res, 1000));
    }
    c.res.end();
  });
  r.post('/containers/{id}/exec', async (c) => {
    const body = await readJson(c.req, null);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidArgument('exec config must be a JSON object');
    const b = body as Record<string, unknown>;
    if (!Array.isArray(b.Cmd) || b.Cmd.length === 0 || b.Cmd.some((x) => typeof x !== 'string')) throw invalidArgument('No exec command specified');
    const id = await streamFeature(c.engine, 'execCreate')(c.params.id!, b);
    sendJson(c.res, 201, { Id: id });
  });
  r.post('/exec/{id}/start', plain(execStart), execStart);
  r.post('/exec/{id}/resize', async (c) => {
    const { h, w } = dims(c);
    await streamFeature(c.engine, 'execResize')(c.params.id!, h, w);
    c.res.writeHead(200);
    c.res.end();
  });
  r.get('/exec/{id}/json', async (c) => sendJson(c.res, 200, await streamFeature(c.engine, 'execInspect')(c.params.id!)));
  r.get('/events', events);
}
