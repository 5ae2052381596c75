// routes/containers.ts: the container lifecycle and what is inside a container —
// create, json, {id}/json, start, stop, kill, restart, wait, logs, changes, export,
// archive (docker cp), rename, DELETE, prune, commit is in images.ts. Streams
// (attach, exec, resize, top, stats) are in routes/streams.ts.
import { lstatSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { posix, join } from 'node:path';
import type { Router, Ctx } from '../router.js';
import { readJson, sendJson, noContent, HttpError } from '../http.js';
import { frame } from '../stream.js';
import { invalidArgument, notFound, notImplemented, findStowageError } from '../../errors.js';
import { createOptionsFromApi } from '../../views/create.js';
import { containerSummary, inspectContainer, selectContainers } from '../../views/containers.js';
import { hasStreamFeature, streamFeature } from '../engine-streams.js';
import { serialized } from '../serial.js';
import type { ContainerRecord } from '../../containers/types.js';

async function start(c: Ctx, ref: string): Promise<boolean> {
  await c.engine.containers.reconcile();
  const rec = c.engine.containers.resolve(ref);
  if (rec.State.Running) return false;
  // Watch for this start's exit first: with --rm a failed start can remove the record
  // before the error is read, and the exit (code, error) is then known only from the wait.
  const stopWatching = new AbortController();
  let exit: Promise<{ StatusCode: number; Error: { Message: string } | null } | undefined> = Promise.resolve(undefined);
  if (hasStreamFeature(c.engine, 'waitFor')) {
    try {
      const w = streamFeature(c.engine, 'waitFor')(rec.Id, 'next-exit', stopWatching.signal);
      await w.registered;
      exit = w.result.catch(() => undefined);
    } catch { /* no watch: the record's state is used */ }
  }
  try {
    const { startDetached } = await import('../../containers/lifecycle.js');
    await startDetached(c.engine, rec.Id, c.srv.bin, c.srv.globalArgs);
    await runtimeReady(c, rec);
  } catch (err) {
    const seen = await Promise.race([exit, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000))]);
    // It ran and exited (and --rm removed it) before the start was seen: that is a start.
    if (seen && !seen.Error?.Message && seen.StatusCode !== 126 && seen.StatusCode !== 127) return true;
    throw await startError(c, rec, err, seen);
  } finally {
    stopWatching.abort();
  }
  return true;
}

/**
 * The record says running as soon as the runtime was launched; the runtime's own state
 * (which top, exec and stats read) follows a moment later. dockerd answers start only
 * once the container is running, so `docker run -d X; docker exec X …` works: so here.
 */
async function runtimeReady(c: Ctx, rec: ContainerRecord): Promise<void> {
  const rt = c.engine.runtime(rec.HostConfig.Runtime || undefined);
  const until = Date.now() + 5000;
  for (let d = 5; Date.now() < until; d = Math.min(d * 2, 100)) {
    const now = c.engine.containerStore.get(rec.Id);
    if (!now || !now.State.Running) return;
    const st = await rt.state(rec.Id).catch(() => null);
    if (st && st.status !== 'creating' && st.status !== 'created') return;
    await new Promise((r) => setTimeout(r, d));
  }
}

/**
 * The docker CLI picks `run`'s exit code from the start error's words: "executable file
 * not found" / "no such file or directory" → 127, "permission denied" → 126. The
 * runtimes word it differently; the recorded exit code says which it was.
 */
async function startError(c: Ctx, rec: ContainerRecord, err: unknown, seen?: { StatusCode: number; Error: { Message: string } | null }): Promise<unknown> {
  const msg = seen?.Error?.Message || ((err as Error)?.message ?? String(err));
  // The runtime's words say which it was; else the recorded exit (the record may be gone with --rm).
  const { startFailureCode } = await import('../../runtime/runtime.js');
  const code = startFailureCode(msg) ?? seen?.StatusCode ?? c.engine.containerStore.get(rec.Id)?.State.ExitCode;
  if (code === 127 && !/executable file not found|no such file or directory/.test(msg)) {
    return invalidArgument(`exec: "${rec.Path}": executable file not found in $PATH (${msg})`, { cause: err });
  }
  if (code === 126 && !/permission denied|is a directory/.test(msg)) {
    return invalidArgument(`exec: "${rec.Path}": permission denied (${msg})`, { cause: err });
  }
  const se = findStowageError(err);
  return se?.kind === 'FailedPrecondition' ? invalidArgument(msg, { cause: err }) : err;
}

/** Seconds from a query value: unix seconds (fractional) or an RFC 3339 time; 0 when absent. */
function timeParam(c: Ctx, k: string): number {
  const v = c.query.str(k);
  if (v === undefined || v === '' || v === '0') return 0;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalidArgument(`invalid value for ${k}: ${JSON.stringify(v)}: want unix seconds or an RFC 3339 time`);
  return t / 1000;
}

async function logs(c: Ctx): Promise<void> {
  const q = c.query;
  const stdout = q.bool('stdout');
  const stderr = q.bool('stderr');
  if (!stdout && !stderr) throw invalidArgument('Bad parameters: you must choose at least one stream');
  const since = timeParam(c, 'since');
  const until = timeParam(c, 'until');
  const tailText = q.str('tail') ?? 'all';
  if (tailText !== 'all' && tailText !== '' && !/^-?\d+$/.test(tailText)) throw invalidArgument(`invalid value for "tail": ${tailText}`);
  const tail = tailText === 'all' || tailText === '' || Number(tailText) < 0 ? Infinity : Number(tailText);
  const timestamps = q.bool('timestamps');
  const follow = q.bool('follow');
  await c.engine.containers.reconcile();
  const { container, lines, path } = c.engine.containers.logs(c.params.id!);
  const tty = container.Config.Tty;
  c.res.writeHead(200, { 'Content-Type': tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream' });
  c.res.socket?.setTimeout(0);
  const write = (l: { log: string; stream: string; time: string }): boolean => {
    const t = Date.parse(l.time) / 1000;
    if (since && t < since) return true;
    if (until && t > until) return false;
    if ((l.stream === 'stderr' && !stderr) || (l.stream !== 'stderr' && !stdout)) return true;
    const data = Buffer.from(timestamps ? `${l.time} ${l.log}` : l.log);
    c.res.write(tty ? data : frame(l.stream === 'stderr' ? 'stderr' : 'stdout', data));
    return true;
  };
  const selected = lines.filter((l) => (l.stream === 'stderr' ? stderr : stdout));
  for (const l of tail === Infinity ? selected : selected.slice(Math.max(0, selected.length - tail))) if (!write(l)) { c.res.end(); return; }
  if (!follow || (until && until < Date.now() / 1000)) { c.res.end(); return; }
  const { readFrom } = await import('../../containers/logs.js');
  let offset = (() => { try { return statSync(path).size; } catch { return 0; } })();
  for (;;) {
    if (c.signal.aborted) break;
    const r = await readFrom(path, offset);
    offset = r.offset;
    for (const l of r.lines) if (!write(l)) { c.res.end(); return; }
    const now = c.engine.containerStore.get(container.Id);
    if (!now || !now.State.Running) {
      const last = await readFrom(path, offset);
      for (const l of last.lines) write(l);
      break;
    }
    if (until && Date.now() / 1000 > until) break;
    await new Promise((res) => setTimeout(res, 100));
    await c.engine.containers.reconcile();
  }
  c.res.end();
}

/** Go's os.FileMode bits from a Unix st_mode: what docker cp's stat header carries. */
function goFileMode(mode: number): number {
  let m = mode & 0o777;
  const type = mode & 0o170000;
  if (type === 0o040000) m |= 0x80000000; // ModeDir
  if (type === 0o120000) m |= 0x08000000; // ModeSymlink
  if (type === 0o060000) m |= 0x04000000; // ModeDevice
  if (type === 0o020000) m |= 0x04000000 | 0x00200000; // ModeDevice | ModeCharDevice
  if (type === 0o010000) m |= 0x02000000; // ModeNamedPipe
  if (type === 0o140000) m |= 0x01000000; // ModeSocket
  if (mode & 0o4000) m |= 0x00800000; // ModeSetuid
  if (mode & 0o2000) m |= 0x00400000; // ModeSetgid
  if (mode & 0o1000) m |= 0x00100000; // ModeSticky
  return m >>> 0;
}

interface PathStat { name: string; size: number; mode: number; mtime: string; linkTarget: string }

/** Resolves a container path inside its root (parents through symlinks, confined; the last component not followed). */
async function resolvePath(root: string, path: string): Promise<{ host: string; stat: PathStat }> {
  const { resolveInRoot } = await import('../../runtime/spec.js');
  if (!path) throw invalidArgument('path is required');
  const clean = posix.normalize(path.startsWith('/') ? path : `/${path}`);
  const dotted = path.endsWith('/.') || path === '.';
  const parent = resolveInRoot(root, posix.dirname(clean));
  const base = posix.basename(clean);
  const host = base === '' ? root : join(parent, base);
  let st;
  try { st = lstatSync(host); } catch { throw notFound(`Could not find the file ${path} in container`, { name: path }); }
  let linkTarget = '';
  if (st.isSymbolicLink()) {
    const target = resolveInRoot(root, clean);
    linkTarget = '/' + posix.relative(root, target);
    if (dotted || path.endsWith('/')) {
      try { st = statSync(target); } catch { throw notFound(`Could not find the file ${path} in container`, { name: path }); }
    }
  }
  return { host, stat: { name: base || '/', size: st.size, mode: goFileMode(st.mode), mtime: st.mtime.toISOString(), linkTarget } };
}

const statHeader = (s: PathStat) => Buffer.from(JSON.stringify(s)).toString('base64');

async function archiveStat(c: Ctx): Promise<void> {
  const rec = c.engine.containers.resolve(c.params.id!);
  const path = c.query.str('path') ?? '';
  await c.engine.containers.withRootfs(rec, async (root) => {
    const { stat } = await resolvePath(root, path);
    c.res.writeHead(200, { 'X-Docker-Container-Path-Stat': statHeader(stat), 'Content-Type': 'application/json' });
    c.res.end();
  });
}

async function archiveGet(c: Ctx): Promise<void> {
  const rec = c.engine.containers.resolve(c.params.id!);
  const path = c.query.str('path') ?? '';
  await c.engine.containers.withRootfs(rec, async (root) => {
    const { host, stat } = await resolvePath(root, path);
    // As Docker: "dir/." archives the folder's contents, anything else the entry itself by its name.
    const contents = path.endsWith('/.') || path === '.';
    const st = lstatSync(host);
    const dir = contents && st.isDirectory() ? host : posix.dirname(host);
    const name = contents && st.isDirectory() ? '.' : posix.basename(host);
    c.res.writeHead(200, { 'X-Docker-Container-Path-Stat': statHeader(stat), 'Content-Type': 'application/x-tar' });
    c.res.socket?.setTimeout(0);
    await new Promise<void>((resolve) => {
      const p = spawn('tar', ['--numeric-owner', '-C', dir, '-cf', '-', '--', name], { stdio: ['ignore', 'pipe', 'ignore'] });
      p.stdout.pipe(c.res, { end: false });
      c.signal.addEventListener('abort', () => p.kill(), { once: true });
      p.on('close', (code) => { if (code === 0) c.res.end(); else c.res.destroy(); resolve(); });
      p.on('error', () => { c.res.destroy(); resolve(); });
    });
  });
}

async function archivePut(c: Ctx): Promise<void> {
  const rec = c.engine.containers.resolve(c.params.id!);
  const path = c.query.str('path');
  if (!path) throw invalidArgument('path is required');
  if (rec.HostConfig.ReadonlyRootfs) throw new HttpError(403, 'container rootfs is marked read-only');
  await c.engine.containers.withRootfs(rec, async (root) => {
    const { resolveInRoot } = await import('../../runtime/spec.js');
    const dest = resolveInRoot(root, path);
    let st;
    try { st = statSync(dest); } catch { throw notFound(`Could not find the file ${path} in container ${c.params.id}`, { name: path }); }
    if (!st.isDirectory()) throw invalidArgument(`extraction point is not a directory: ${path}`);
    // The hardened layer extractor: no "..", never through a symlink the container planted.
    const { applyLayer } = await import('../../archive/apply.js');
    await applyLayer(c.req as AsyncIterable<Buffer>, dest, { whiteouts: 'remove', signal: c.signal });
  });
  c.res.writeHead(200);
  c.res.end();
}

async function changes(c: Ctx): Promise<void> {
  const kinds = { C: 0, A: 1, D: 2 } as const;
  const list = await c.engine.containers.diff(c.params.id!);
  sendJson(c.res, 200, list.length ? list.map((ch) => ({ Path: ch.path, Kind: kinds[ch.kind] })) : null);
}

async function exportRoute(c: Ctx): Promise<void> {
  c.engine.containers.resolve(c.params.id!);
  c.res.writeHead(200, { 'Content-Type': 'application/x-tar' });
  c.res.socket?.setTimeout(0);
  try {
    await c.engine.containers.export(c.params.id!, c.res);
    c.res.end();
  } catch {
    c.res.destroy();
  }
}

/** POST /containers/{id}/wait: headers go out once the wait is registered (docker run relies on it), the result when it ends. */
async function wait(c: Ctx): Promise<void> {
  const condition = c.query.str('condition') || 'not-running';
  if (!['not-running', 'next-exit', 'removed'].includes(condition)) throw invalidArgument(`invalid condition: ${JSON.stringify(condition)}`);
  await c.engine.containers.reconcile();
  const rec = c.engine.containers.resolve(c.params.id!);
  let result: Promise<{ StatusCode: number; Error: { Message: string } | null }>;
  if (hasStreamFeature(c.engine, 'waitFor')) {
    const w = streamFeature(c.engine, 'waitFor')(rec.Id, condition as 'not-running', c.signal);
    await w.registered;
    result = w.result;
  } else {
    result = pollWait(c, rec, condition as 'not-running' | 'next-exit' | 'removed');
  }
  c.res.writeHead(200, { 'Content-Type': 'application/json' });
  c.res.socket?.setTimeout(0);
  c.res.flushHeaders();
  try {
    const r = await result;
    // A command that could not be run (126/127) is the container's exit, not a failed
    // wait: the docker CLI must exit with that code, and it would take 125 for an Error here.
    if (r.StatusCode === 126 || r.StatusCode === 127) r.Error = null;
    c.res.end(JSON.stringify(r) + '\n');
  } catch (err) {
    c.res.end(JSON.stringify({ StatusCode: -1, Error: { Message: (err as Error).message } }) + '\n');
  }
}

/** Without the engine's waitFor: polls the record. next-exit is an exit recorded after the wait began. */
async function pollWait(c: Ctx, rec: ContainerRecord, condition: 'not-running' | 'next-exit' | 'removed'): Promise<{ StatusCode: number; Error: { Message: string } | null }> {
  let last = rec;
  const finishedBefore = rec.State.FinishedAt;
  for (;;) {
    if (c.signal.aborted) throw new Error('wait cancelled');
    const now = c.engine.containerStore.get(rec.Id);
    if (!now) return { StatusCode: last.State.ExitCode, Error: null };
    last = now;
    const exited = !now.State.Running && (condition === 'not-running' || (condition === 'next-exit' && now.State.FinishedAt !== finishedBefore));
    if (exited) return { StatusCode: now.State.ExitCode, Error: now.State.Error ? { Message: now.State.Error } : null };
    await new Promise((r) => setTimeout(r, 100));
    await c.engine.containers.reconcile();
  }
}

export function containerRoutes(r: Router): void {
  r.post('/containers/create', async (c) => {
    const body = await readJson(c.req, null);
    const o = createOptionsFromApi(body, c.query.str('name'));
    let rec;
    try {
      rec = await serialized(() => c.engine.containers.create(o));
    } catch (err) {
      // The docker CLI takes any 404 from create for a missing image and tries to pull it;
      // a missing volume plugin or --volumes-from container must reach the user as itself.
      const se = findStowageError(err);
      if (se?.kind === 'NotFound' && se.subject !== o.image) throw invalidArgument(se.message, { cause: err });
      throw err;
    }
    sendJson(c.res, 201, { Id: rec.Id, Warnings: [] });
  });
  r.get('/containers/json', async (c) => {
    await c.engine.containers.reconcile();
    const { containerFilter } = await import('../../containers/filters.js');
    const pred = containerFilter(c.query.filters(), c.engine);
    const limit = c.query.int('limit');
    const list = selectContainers(c.engine.containers.list(), { all: c.query.bool('all'), pred, ...(limit !== undefined && limit > 0 ? { last: limit } : {}) });
    const size = c.query.bool('size');
    const out = [];
    for (const rec of list) out.push(containerSummary(c.engine, rec, size ? await c.engine.containers.sizes(rec) : undefined));
    sendJson(c.res, 200, out);
  });
  r.post('/containers/prune', async (c) => {
    if (c.query.filters().length) throw notImplemented('container prune filters (until=, label=) are not supported by stowage yet');
    sendJson(c.res, 200, await serialized(() => c.engine.containers.prune()));
  });
  r.get('/containers/{id}/json', async (c) => {
    await c.engine.containers.reconcile();
    const rec = c.engine.containers.resolve(c.params.id!);
    sendJson(c.res, 200, inspectContainer(c.engine, rec, c.query.bool('size') ? await c.engine.containers.sizes(rec) : undefined));
  });
  r.post('/containers/{id}/start', async (c) => {
    if (c.query.str('checkpoint')) throw notImplemented('checkpoints are not supported by stowage');
    noContent(c.res, (await start(c, c.params.id!)) ? 204 : 304);
  });
  r.post('/containers/{id}/stop', async (c) => {
    await c.engine.containers.reconcile();
    const rec = c.engine.containers.resolve(c.params.id!);
    if (!rec.State.Running) { noContent(c.res, 304); return; }
    const signal = c.query.str('signal');
    await c.engine.containers.stop(rec.Id, c.query.int('t', 10), signal || undefined);
    noContent(c.res);
  });
  r.post('/containers/{id}/kill', async (c) => {
    await c.engine.containers.kill(c.params.id!, c.query.str('signal') || 'SIGKILL');
    noContent(c.res);
  });
  r.post('/containers/{id}/restart', async (c) => {
    const rec = await c.engine.containers.stop(c.params.id!, c.query.int('t', 10), c.query.str('signal') || undefined);
    await start(c, rec.Id);
    noContent(c.res);
  });
  r.post('/containers/{id}/wait', wait);
  r.get('/containers/{id}/logs', logs);
  r.get('/containers/{id}/changes', changes);
  r.get('/containers/{id}/export', exportRoute);
  r.head('/containers/{id}/archive', archiveStat);
  r.get('/containers/{id}/archive', archiveGet);
  r.put('/containers/{id}/archive', archivePut);
  r.post('/containers/{id}/rename', async (c) => {
    const name = c.query.str('name');
    if (!name) throw invalidArgument('name is required (the new name)');
    await c.engine.containers.rename(c.params.id!, name);
    noContent(c.res);
  });
  r.delete('/containers/{id}', async (c) => {
    if (c.query.bool('link')) throw notImplemented('links are not supported by stowage');
    await c.engine.containers.reconcile();
    await serialized(() => c.engine.containers.remove(c.params.id!, { force: c.query.bool('force'), volumes: c.query.bool('v') }));
    noContent(c.res);
  });
  const unsupported = (what: string) => async (c: Ctx) => {
    c.engine.containers.resolve(c.params.id!);
    throw notImplemented(what);
  };
  r.post('/containers/{id}/pause', unsupported('pause is not supported by stowage (no freezer cgroup handling)'));
  r.post('/containers/{id}/unpause', unsupported('unpause is not supported by stowage (containers are never paused)'));
  r.post('/containers/{id}/update', unsupported('updating resource limits is not supported by stowage'));
  r.get('/containers/{id}/checkpoints', unsupported('checkpoints are not supported by stowage'));
}
