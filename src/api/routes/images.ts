// routes/images.ts: images/json, images/create (fromSrc import; fromImage pull through
// the registry client), load, get (save), {name}/json, history, tag, DELETE, prune,
// push, search, build and commit.
import { createWriteStream, rmSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Router, Ctx } from '../router.js';
import { sendJson } from '../http.js';
import { JsonStream } from '../stream.js';
import { invalidArgument, notImplemented } from '../../errors.js';
import { taggedName, shortImageId, classicPrinter } from '../../views/build.js';
import { onlyMatchingRefs } from '../../views/images.js';
import { registryClient } from '../registry-hook.js';
import { serialized } from '../serial.js';
import type { ProgressEvent } from '../../registry/progress.js';

/** Docker's `fromImage` + `tag` → one reference ("busybox" + "1.36" → busybox:1.36; a digest tag → @). */
function joinRef(image: string, tag: string | undefined): string {
  if (!tag) return image;
  return tag.startsWith('sha256:') ? `${image}@${tag}` : `${image}:${tag}`;
}

/** Spools the request body to a staging file (load reads archives by offset). */
async function spool(c: Ctx, kind: string): Promise<string> {
  const path = c.engine.layout.tmpPath(kind);
  try {
    await pipeline(c.req, createWriteStream(path, { mode: 0o600 }), { signal: c.signal });
  } catch (err) {
    rmSync(path, { force: true });
    throw err;
  }
  return path;
}

async function importFromBody(c: Ctx): Promise<void> {
  const src = c.query.str('fromSrc');
  if (src !== '-') throw notImplemented(`importing from a URL is not supported by stowage (fromSrc=${src}); send the tar as the request body (fromSrc=-)`);
  const repo = c.query.str('repo');
  const reference = repo ? joinRef(repo, c.query.str('tag')) : undefined;
  const changes = c.query.p.getAll('changes');
  const platform = c.query.str('platform');
  const message = c.query.str('message');
  const id = await serialized(() => c.engine.images.import(c.req as AsyncIterable<Buffer>, {
    ...(reference ? { reference } : {}), ...(changes.length ? { changes } : {}), ...(platform ? { platform } : {}),
    ...(message ? { message } : {}), signal: c.signal,
  }));
  const s = new JsonStream(c.res);
  s.write({ status: id });
  s.end();
}

async function pull(c: Ctx): Promise<void> {
  const image = c.query.str('fromImage')!;
  const ref = joinRef(image, c.query.str('tag'));
  const hooks = await registryClient();
  if (!hooks) throw notImplemented(`pulling ${ref} is not available: this stowage has no registry client yet; load the image with \`docker load\` (POST /images/load) or import it`);
  const s = new JsonStream(c.res);
  const platform = c.query.str('platform');
  const auth = c.req.headers['x-registry-auth'];
  try {
    await serialized(() => hooks.pull(c.engine, ref, { onProgress: (m) => s.write(m), signal: c.signal, ...(platform ? { platform } : {}), ...(typeof auth === 'string' ? { auth } : {}) }));
  } catch (err) {
    if (!c.res.headersSent) throw err;
    s.error(err);
  }
  s.end();
}

async function push(c: Ctx): Promise<void> {
  const ref = joinRef(c.params.name!, c.query.str('tag'));
  const hooks = await registryClient();
  if (!hooks) throw notImplemented(`pushing ${ref} is not available: this stowage has no registry client yet; use \`docker save\` (GET /images/get) to move it`);
  const s = new JsonStream(c.res);
  const auth = c.req.headers['x-registry-auth'];
  try {
    await hooks.push(c.engine, ref, { onProgress: (m) => s.write(m), signal: c.signal, ...(typeof auth === 'string' ? { auth } : {}) });
  } catch (err) {
    if (!c.res.headersSent) throw err;
    s.error(err);
  }
  s.end();
}

async function save(c: Ctx, names: string[]): Promise<void> {
  if (names.length === 0) throw invalidArgument('no images given to save (names=…)');
  for (const n of names) c.engine.images.resolve(n); // 404 before the first byte
  c.res.writeHead(200, { 'Content-Type': 'application/x-tar' });
  c.res.socket?.setTimeout(0);
  try {
    await c.engine.images.save(names, c.res, { signal: c.signal });
    c.res.end();
  } catch {
    c.res.destroy(); // a truncated tar must not look complete
  }
}

async function build(c: Ctx): Promise<void> {
  const q = c.query;
  if (q.str('version') === '2') throw notImplemented('BuildKit builds are not supported: stowage builds with the classic builder (DOCKER_BUILDKIT=0, or the docker CLI without buildx)');
  if (q.str('remote')) throw notImplemented('remote build contexts (a URL or git repository) are not supported by stowage; send the context as a tar');
  const { buildImage, RunFailedError } = await import('../../build/builder.js');
  const tags = q.p.getAll('t');
  const quiet = q.bool('q');
  const s = new JsonStream(c.res);
  const say = (text: string) => { if (!quiet && text) s.write({ stream: text }); };
  let buffered = '';
  // Output is forwarded as it comes; lines are kept whole where the builder gives them so.
  const printer = classicPrinter((t) => { buffered += t; if (buffered.endsWith('\n') || buffered.length > 4096) { say(buffered); buffered = ''; } });
  try {
    const dockerfile = q.str('dockerfile');
    const target = q.str('target');
    const r = await serialized(() => buildImage(c.engine, {
      context: { tar: c.req as AsyncIterable<Buffer> },
      ...(dockerfile ? { dockerfile: { path: dockerfile } } : {}),
      tags,
      buildArgs: q.jsonMap('buildargs'),
      labels: q.jsonMap('labels'),
      noCache: q.bool('nocache'),
      ...(target ? { target } : {}),
      signal: c.signal,
      onEvent: printer,
    }));
    if (buffered) { say(buffered); buffered = ''; }
    for (const m of r.messages) say(m + '\n');
    s.write({ aux: { ID: r.id } });
    if (quiet) s.write({ stream: `${r.id}\n` });
    say(`Successfully built ${shortImageId(r.id)}\n`);
    for (const t of tags) say(`Successfully tagged ${taggedName(t)}\n`);
  } catch (err) {
    if (buffered) say(buffered);
    if (err instanceof RunFailedError) s.error(err, err.exitCode);
    else s.error(err);
  }
  s.end();
}

async function load(c: Ctx): Promise<void> {
  const path = await spool(c, 'load');
  try {
    // Without quiet (the docker CLI on a terminal), "Loading layer" progress as dockerd
    // sends it; the response starts with the first event, so an earlier failure is still
    // an error status, a later one an error message in the stream.
    let s: JsonStream | undefined;
    const stream = (): JsonStream => (s ??= new JsonStream(c.res));
    const onProgress = c.query.bool('quiet') ? undefined : (e: ProgressEvent) => stream().write(e);
    let r;
    try {
      r = await serialized(() => c.engine.images.load(path, { signal: c.signal, ...(onProgress ? { onProgress } : {}) }));
    } catch (err) {
      if (!s) throw err;
      s.error(err);
      s.end();
      return;
    }
    s = stream();
    for (const m of r.messages) s.write({ stream: m + '\n' });
    for (const img of r.images) {
      if (img.tags.length === 0) s.write({ stream: `Loaded image ID: ${img.id}\n` });
      for (const t of img.tags) s.write({ stream: `Loaded image: ${t}\n` });
    }
    s.end();
  } finally {
    rmSync(path, { force: true });
  }
}

export function imageRoutes(r: Router): void {
  r.get('/images/json', (c) => {
    const filters = c.query.filters();
    const images = c.engine.images.list({ all: c.query.bool('all'), filters });
    sendJson(c.res, 200, onlyMatchingRefs(images, filters));
  });
  r.post('/images/create', async (c) => {
    if (c.query.has('fromImage') && c.query.str('fromImage')) return pull(c);
    if (c.query.has('fromSrc')) return importFromBody(c);
    throw invalidArgument('images/create needs fromImage (pull) or fromSrc (import)');
  });
  r.post('/images/load', load);
  r.get('/images/get', (c) => save(c, c.query.p.getAll('names')));
  r.post('/images/prune', async (c) => {
    const filters = c.query.filters();
    const dangling = filters.find((f) => f.startsWith('dangling='));
    const all = dangling !== undefined && ['0', 'false'].includes(dangling.slice(9));
    sendJson(c.res, 200, await serialized(() => c.engine.images.prune({ all, filters: filters.filter((f) => !f.startsWith('dangling=')) })));
  });
  r.get('/images/search', () => { throw notImplemented('image search is not supported by stowage (its registry client pulls and pushes; it does not search)'); });
  r.get('/images/{name:.*}/json', (c) => sendJson(c.res, 200, c.engine.images.inspect(c.params.name!)));
  r.get('/images/{name:.*}/history', (c) => sendJson(c.res, 200, c.engine.images.history(c.params.name!)));
  r.get('/images/{name:.*}/get', (c) => save(c, [c.params.name!]));
  r.post('/images/{name:.*}/tag', async (c) => {
    const repo = c.query.str('repo');
    if (!repo) throw invalidArgument('repository name (repo) is required');
    await c.engine.recover();
    c.engine.images.tag(c.params.name!, joinRef(repo, c.query.str('tag')));
    c.res.writeHead(201);
    c.res.end();
  });
  r.post('/images/{name:.*}/push', push);
  r.delete('/images/{name:.*}', async (c) => {
    sendJson(c.res, 200, await serialized(() => c.engine.images.remove(c.params.name!, { force: c.query.bool('force'), noPrune: c.query.bool('noprune') })));
  });
  r.post('/build', build);
  r.post('/build/prune', async (c) => {
    const { BuildCache } = await import('../../build/cache.js');
    const res = await new BuildCache(c.engine).prune();
    sendJson(c.res, 200, { CachesDeleted: res.removedLayers.map((l) => l.id), SpaceReclaimed: res.reclaimed });
  });
  r.post('/build/cancel', () => { throw notImplemented('build cancel is a BuildKit endpoint; close the build request instead'); });
  r.post('/commit', async (c) => {
    const container = c.query.str('container');
    if (!container) throw invalidArgument('container is required');
    const body = await (await import('../http.js')).readJson(c.req, null);
    const repo = c.query.str('repo');
    const author = c.query.str('author');
    const comment = c.query.str('comment');
    const changes = c.query.p.getAll('changes').flatMap((x) => x.split('\n')).filter(Boolean);
    if (body !== null && (typeof body !== 'object' || Array.isArray(body))) throw invalidArgument('commit config must be a JSON object');
    const id = await serialized(() => c.engine.containers.commit(container, {
      ...(repo ? { reference: joinRef(repo, c.query.str('tag')) } : {}),
      ...(author ? { author } : {}), ...(comment !== undefined ? { message: comment } : {}), ...(changes.length ? { changes } : {}),
    }));
    sendJson(c.res, 201, { Id: id });
  });
}

