// Faults between stowage and a registry, made by a small HTTP proxy in the test:
// corrupted bytes, a connection cut in the middle of a layer (the pull resumes with
// Range), slow responses, 429 and 500 answers before success, a schema 1 manifest,
// a manifest that does not match its digest, and a SIGKILL in the middle of a pull.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import { tempDir, requiresRoot, requires, cleanupFirst } from '../helpers/env.js';
import { BIN } from '../helpers/cli.js';
import { spawn } from 'node:child_process';
import { createServer as createNetServer } from 'node:net';
import { cli, fixtureArchive, haveRegistry, inspect, startRegistry, type Cli } from './harness.js';

interface Rules {
  /** Flip a byte in the body of this blob. */
  corrupt?: string;
  /** Cut the connection after half of this blob, the first time it is sent whole. */
  cut?: string;
  /** Forward blob requests without their Range header (a server that ignores ranges). */
  ignoreRange?: boolean;
  /** Delay per 16 KiB chunk of any blob (ms). */
  slowMs?: number;
  /** Answer these statuses, in order, before passing requests for this path fragment through. */
  fail?: { match: string; statuses: number[] };
  /** Replace the body of manifests whose path contains match. */
  manifest?: { match: string; body: string; contentType: string; digestHeader?: string };
}

interface Proxy { host: string; rules: Rules; log: Array<{ method: string; path: string; range?: string; status: number }> }

async function startProxy(t: TestContext, upstreamPort: number): Promise<Proxy> {
  const p: Proxy = { host: '', rules: {}, log: [] };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    const entry = { method: req.method ?? 'GET', path, ...(req.headers.range ? { range: req.headers.range } : {}), status: 0 };
    p.log.push(entry);
    const f = p.rules.fail;
    if (f && path.includes(f.match) && f.statuses.length > 0) {
      entry.status = f.statuses.shift()!;
      res.writeHead(entry.status, { 'Content-Type': 'application/json', ...(entry.status === 429 ? { 'Retry-After': '0' } : {}) });
      res.end(JSON.stringify({ errors: [{ code: entry.status === 429 ? 'TOOMANYREQUESTS' : 'UNKNOWN', message: 'injected' }] }));
      return;
    }
    const mr = p.rules.manifest;
    if (mr && req.method === 'GET' && path.includes('/manifests/') && path.includes(mr.match)) {
      entry.status = 200;
      res.writeHead(200, { 'Content-Type': mr.contentType, 'Content-Length': Buffer.byteLength(mr.body), ...(mr.digestHeader ? { 'Docker-Content-Digest': mr.digestHeader } : {}) });
      res.end(mr.body);
      return;
    }
    const headers = { ...req.headers, host: `127.0.0.1:${upstreamPort}` };
    if (p.rules.ignoreRange) delete headers.range;
    const up = request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path, headers }, (ur) => {
      entry.status = ur.statusCode ?? 0;
      const isBlob = req.method === 'GET' && /\/blobs\/sha256:/.test(path) && ur.statusCode !== undefined && ur.statusCode < 300;
      const digest = /\/blobs\/(sha256:[a-f0-9]{64})/.exec(path)?.[1];
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      if (!isBlob) { ur.pipe(res); return; }
      const total = Number(ur.headers['content-length'] ?? 0);
      const cut = p.rules.cut === digest && !req.headers.range ? Math.floor(total / 2) : -1;
      if (cut >= 0) p.rules.cut = undefined;
      let sent = 0;
      let flipped = false;
      (async () => {
        for await (const raw of ur) {
          let c = Buffer.from(raw as Buffer);
          for (let off = 0; off < c.length; off += 16384) {
            let part = c.subarray(off, off + 16384);
            if (p.rules.corrupt === digest && !flipped && sent + part.length > total / 2) {
              part = Buffer.from(part);
              part[0] = part[0]! ^ 0xff;
              flipped = true;
            }
            if (cut >= 0 && sent + part.length >= cut) {
              res.write(part.subarray(0, cut - sent));
              await sleep(20);
              res.socket?.destroy();
              ur.destroy();
              return;
            }
            if (p.rules.slowMs) await sleep(p.rules.slowMs);
            if (!res.write(part)) await new Promise((r) => res.once('drain', r));
            sent += part.length;
          }
        }
        res.end();
      })().catch(() => res.socket?.destroy());
    });
    up.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  p.host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  cleanupFirst(t, () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return p;
}

async function setup(t: TestContext) {
  const dir = tempDir(t);
  const reg = await startRegistry(t, dir);
  const a = cli(`${dir}/a`);
  const arch = await fixtureArchive(dir, 'big', [`${reg.host}/f/big:1`], { files: 40, bytes: 4 << 20 });
  await a.ok(['load', '-i', arch.path]);
  await a.ok(['push', `${reg.host}/f/big:1`]);
  const proxy = await startProxy(t, reg.port);
  const man = JSON.parse(await (await fetch(`http://${reg.host}/v2/f/big/manifests/1`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } })).text()) as { layers: Array<{ digest: string; size: number }> };
  return { dir, reg, arch, proxy, layers: man.layers };
}

async function assertNoErrors(s: Cli): Promise<void> {
  const r = JSON.parse(await s.ok(['system', 'check', '--format', 'json'])) as { issues: Array<{ kind: string; message: string }> };
  assert.deepEqual(r.issues.filter((i) => i.kind === 'error'), []);
}

describe('registry faults', () => {
  it('corrupted bytes: a clear error, no image, nothing half-stored; the next pull completes', async (t) => {
    if (!requiresRoot(t) || !requires(t, haveRegistry, 'docker-registry not installed')) return;
    const { dir, proxy, layers, arch } = await setup(t);
    const b = cli(`${dir}/b`);
    proxy.rules.corrupt = layers[1]!.digest;
    const r = await b.run(['pull', `${proxy.host}/f/big:1`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`(verification failed for digest|digest mismatch).*|${layers[1]!.digest}`));
    assert.match(r.stderr, /verification failed|digest mismatch/);
    assert.equal((await b.ok(['images', '-q'])).trim(), '');
    await assertNoErrors(b);
    proxy.rules.corrupt = undefined;
    await b.ok(['pull', `${proxy.host}/f/big:1`]);
    assert.equal(inspect(await b.ok(['image', 'inspect', `${proxy.host}/f/big:1`])).Id, arch.imageId);
    assert.match(await b.ok(['system', 'check']), /No problems found/);
  });

  it('a connection cut mid-layer resumes with a Range request', async (t) => {
    if (!requiresRoot(t) || !requires(t, haveRegistry, 'docker-registry not installed')) return;
    const { dir, proxy, layers, arch } = await setup(t);
    const b = cli(`${dir}/b`);
    proxy.rules.cut = layers[1]!.digest;
    const out = await b.ok(['pull', `${proxy.host}/f/big:1`]);
    assert.match(out, /Pull complete/);
    const ranged = proxy.log.filter((l) => l.path.includes(layers[1]!.digest) && l.range);
    assert.equal(ranged.length, 1, JSON.stringify(proxy.log));
    const from = Number(/^bytes=(\d+)-$/.exec(ranged[0]!.range!)?.[1]);
    assert.ok(from > 0 && from < layers[1]!.size, `resumed from ${from}`);
    assert.equal(ranged[0]!.status, 206);
    const info = inspect(await b.ok(['image', 'inspect', `${proxy.host}/f/big:1`]));
    assert.equal(info.Id, arch.imageId);
    assert.deepEqual(info.RootFS.Layers, arch.diffIds);

    // A server that ignores Range sends the whole blob again: what was received is skipped.
    const c = cli(`${dir}/c`);
    proxy.log.length = 0;
    proxy.rules.cut = layers[1]!.digest;
    proxy.rules.ignoreRange = true;
    await c.ok(['pull', `${proxy.host}/f/big:1`]);
    const again = proxy.log.filter((l) => l.path.includes(layers[1]!.digest));
    assert.equal(again.length, 2);
    assert.equal(again[1]!.status, 200);
    assert.equal(inspect(await c.ok(['image', 'inspect', `${proxy.host}/f/big:1`])).Id, arch.imageId);
    assert.match(await c.ok(['system', 'check']), /No problems found/);
  });

  it('a registry that accepts connections but never answers is named after the timeout', async (t) => {
    if (!requiresRoot(t)) return;
    const dir = tempDir(t);
    const held = new Set<import('node:net').Socket>();
    const silent = createNetServer((sock) => { held.add(sock); sock.on('error', () => {}); /* accept, say nothing */ });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    cleanupFirst(t, () => new Promise<void>((r) => { for (const sock of held) sock.destroy(); silent.close(() => r()); }));
    const port = (silent.address() as { port: number }).port;
    const b = cli(`${dir}/b`);
    const t0 = Date.now();
    const r = await b.run(['pull', `127.0.0.1:${port}/x:1`], { env: { STOWAGE_REGISTRY_TIMEOUT: '1' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}.*i/o timeout`));
    assert.ok(Date.now() - t0 < 15_000, `took ${Date.now() - t0} ms`);
  });

  it('429 and 500 answers are retried with backoff; slow responses still complete', async (t) => {
    if (!requiresRoot(t) || !requires(t, haveRegistry, 'docker-registry not installed')) return;
    const { dir, proxy, layers, arch } = await setup(t);
    const b = cli(`${dir}/b`);
    proxy.rules.fail = { match: '/manifests/1', statuses: [429, 500] };
    await b.ok(['pull', `${proxy.host}/f/big:1`]);
    assert.deepEqual(proxy.log.filter((l) => l.path.includes('/manifests/1')).map((l) => l.status), [429, 500, 200]);

    const c = cli(`${dir}/c`);
    proxy.log.length = 0;
    proxy.rules.fail = { match: layers[0]!.digest, statuses: [503] };
    proxy.rules.slowMs = 2;
    await c.ok(['pull', `${proxy.host}/f/big:1`]);
    assert.deepEqual(proxy.log.filter((l) => l.path.includes(layers[0]!.digest)).map((l) => l.status), [503, 200]);
    assert.equal(inspect(await c.ok(['image', 'inspect', `${proxy.host}/f/big:1`])).Id, arch.imageId);

    // Failing for good: named, not retried forever.
    const d = cli(`${dir}/d`);
    proxy.rules.slowMs = 0;
    proxy.rules.fail = { match: '/manifests/1', statuses: [500, 500, 500, 500, 500, 500] };
    const r = await d.run(['pull', `${proxy.host}/f/big:1`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /500/);
  });

  it('schema 1 manifests are refused; a manifest that does not match its digest is refused', async (t) => {
    if (!requiresRoot(t) || !requires(t, haveRegistry, 'docker-registry not installed')) return;
    const { dir, proxy } = await setup(t);
    const b = cli(`${dir}/b`);
    proxy.rules.manifest = { match: 'old', contentType: 'application/vnd.docker.distribution.manifest.v1+prettyjws', body: JSON.stringify({ schemaVersion: 1, name: 'f/big', tag: 'old', fsLayers: [], history: [] }) };
    const r = await b.run(['pull', `${proxy.host}/f/big:old`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /schema 1 support has been removed/);

    const fake = 'sha256:' + 'ab'.repeat(32);
    proxy.rules.manifest = { match: fake, contentType: 'application/vnd.docker.distribution.manifest.v2+json', body: JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: fake, size: 2 }, layers: [] }) };
    const bad = await b.run(['pull', `${proxy.host}/f/big@${fake}`]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, new RegExp(`manifest verification failed for digest ${fake}`));
    proxy.rules.manifest = { ...proxy.rules.manifest, match: '/manifests/lying', digestHeader: fake };
    const lying = await b.run(['pull', `${proxy.host}/f/big:lying`]);
    assert.match(lying.stderr, /does not match its Docker-Content-Digest/);
    assert.equal((await b.ok(['images', '-q'])).trim(), '');
  });

  it('SIGKILL mid-pull leaves only what the next command cleans; pulling again completes', async (t) => {
    if (!requiresRoot(t) || !requires(t, haveRegistry, 'docker-registry not installed')) return;
    const { dir, proxy, arch } = await setup(t);
    const b = cli(`${dir}/b`);
    proxy.rules.slowMs = 15;
    const child = spawn(process.execPath, [BIN, '--data-root', b.root, '--storage-driver', b.driver, 'pull', `${proxy.host}/f/big:1`], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...b.env } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    const exited = new Promise((r) => child.on('exit', r));
    // Wait until a layer is being extracted while others download.
    for (let i = 0; i < 400 && !/Pull complete/.test(out); i++) await sleep(50);
    assert.match(out, /Pull complete/, 'the pull got going');
    assert.ok(readdirSync(join(b.root, 'tmp')).some((n) => n.includes('-pull-')), 'a download spool was in tmp/');
    child.kill('SIGKILL');
    await exited;
    await assertNoErrors(b);
    assert.equal((await b.ok(['images', '-q'])).trim(), '');
    proxy.rules.slowMs = 0;
    await b.ok(['pull', `${proxy.host}/f/big:1`]);
    assert.equal(inspect(await b.ok(['image', 'inspect', `${proxy.host}/f/big:1`])).Id, arch.imageId);
    assert.match(await b.ok(['system', 'check']), /No problems found/);
    assert.deepEqual(readdirSync(join(b.root, 'tmp')), []);
  });
});
