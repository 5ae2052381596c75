// Volume plugins through stowage's CLI with fake plugins on real unix sockets: the
// SDK's validation, create/ls/inspect/rm/run through a plugin, plugin ls/inspect, the
// seed's missing rexray/ebs example, and faults (hang, crash mid-call, nonsense, Err,
// mountpoints outside what a plugin may use, a plugin that is down). After each fault:
// a clear error, no running container, no mount record left, `system check` clean.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { request } from 'node:http';
import { join } from 'node:path';
import { tempDir, requiresRoot, cleanupFirst } from '../helpers/env.js';
import { stowage } from '../helpers/cli.js';
import { makeRootfs, makeDockerArchive } from '../helpers/images.js';
import { serveMemory, rawPlugin, type Call, type Behaviour } from './fake.js';

function post(socket: string, path: string, body: string): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, method: 'POST', headers: { 'Content-Type': 'application/vnd.docker.plugins.v1.2+json' } }, (res) => {
      let t = '';
      res.on('data', (b) => (t += b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(t) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function setup(t: import('node:test').TestContext) {
  const dir = tempDir(t);
  const sockets = join(dir, 'sockets');
  const specs = join(dir, 'specs');
  mkdirSync(sockets);
  mkdirSync(specs);
  process.env.STOWAGE_PLUGIN_SOCKET_DIRS = sockets;
  process.env.STOWAGE_PLUGIN_SPEC_DIRS = specs;
  process.env.STOWAGE_PLUGIN_TIMEOUT_MS = '800';
  process.env.STOWAGE_PLUGIN_RETRY_MS = '300';
  const s = stowage(join(dir, 'root'), 'overlay2');
  const base = join(dir, 'base');
  await makeRootfs(base, 'busybox');
  const arch = await makeDockerArchive(join(dir, 'img.tar'), { layers: [base], repoTags: ['img:1'], runConfig: { Cmd: ['/bin/sh'] } });
  await s.ok(['load', '-i', arch.path]);
  cleanupFirst(t, async () => {
    const ids = (await s.ok(['ps', '-aq'])).trim().split('\n').filter(Boolean);
    if (ids.length) await s.run(['rm', '-f', ...ids]);
  });
  return { s, dir, sockets, specs };
}

async function clean(s: ReturnType<typeof stowage>): Promise<void> {
  const check = await s.run(['system', 'check']);
  assert.equal(check.code, 0, `system check: ${check.stdout}${check.stderr}`);
  assert.equal((await s.ok(['ps', '-q', '--filter', 'status=running'])).trim(), '');
}

describe('volume plugin SDK', () => {
  it('serves the protocol, validates requests and turns exceptions into Err', async (t) => {
    const dir = tempDir(t);
    const calls: Call[] = [];
    const srv = await serveMemory(join(dir, 'p.sock'), join(dir, 'data'), calls);
    t.after(() => srv.close());
    const sock = srv.socket;
    assert.deepEqual((await post(sock, '/Plugin.Activate', '')).json, { Implements: ['VolumeDriver'] });
    assert.equal((await post(sock, '/VolumeDriver.Create', '{"Name":"a","Opts":{"k":"v"}}')).status, 200);
    assert.deepEqual((await post(sock, '/VolumeDriver.Capabilities', '{}')).json, { Capabilities: { Scope: 'global' } });
    const m = await post(sock, '/VolumeDriver.Mount', '{"Name":"a","ID":"c1"}');
    assert.equal(m.json.Mountpoint, join(dir, 'data', 'a'));
    assert.equal((await post(sock, '/VolumeDriver.Path', '{"Name":"a"}')).json.Mountpoint, join(dir, 'data', 'a'));
    assert.deepEqual((await post(sock, '/VolumeDriver.List', '{}')).json.Volumes, [{ Name: 'a' }]);
    assert.equal(((await post(sock, '/VolumeDriver.Get', '{"Name":"a"}')).json.Volume as { Name: string }).Name, 'a');
    const inUse = await post(sock, '/VolumeDriver.Remove', '{"Name":"a"}');
    assert.equal(inUse.status, 500);
    assert.equal(inUse.json.Err, 'volume a in use');
    for (const [body, why] of [['{"ID":"x"}', /"Name" must be a non-empty string/], ['{"Name":', /bad request/], ['[1,2]', /JSON object/], ['{"Name":"../x"}', /invalid volume name/], ['{"Name":"a","Opts":{"k":1}}', /"Opts" must be an object of strings/]] as const) {
      const r = await post(sock, body.includes('Opts') ? '/VolumeDriver.Create' : '/VolumeDriver.Mount', body);
      assert.equal(r.status, 400, body);
      assert.match(String(r.json.Err), why);
    }
    // An oversized body gets a 400, or the server cuts the connection while the body
    // is still being sent: then the client must see a reset, not some other failure.
    const big = await post(sock, '/VolumeDriver.Create', JSON.stringify({ Name: 'b', Opts: { x: 'y'.repeat(2 << 20) } })).catch((e: NodeJS.ErrnoException) => {
      assert.ok(['EPIPE', 'ECONNRESET', 'ECONNABORTED'].includes(e.code ?? ''), `expected a 400 or a connection reset, got ${e.code ?? ''} ${e.message}`);
      return null;
    });
    if (big) assert.equal(big.status, 400);
    assert.equal((await post(sock, '/VolumeDriver.Nope', '{}')).status, 404);
    assert.equal((await post(sock, '/VolumeDriver.Get', '{"Name":"zzz"}')).json.Err, 'no such volume: zzz');
  });
});

describe('volume plugins through the CLI', () => {
  it('create -d, -o, ls with the plugin\'s own volumes, inspect, run --volume-driver, --mount volume-driver=, plugin ls/inspect, rm', async (t) => {
    if (!requiresRoot(t)) return;
    const { s, dir, sockets } = await setup(t);
    const calls: Call[] = [];
    const srv = await serveMemory(join(sockets, 'mem.sock'), join(dir, 'memdata'), calls, [{ name: 'theirs' }]);
    t.after(() => srv.close());
    assert.equal((await s.ok(['volume', 'create', '-d', 'mem', '-o', 'tier=gold', '--label', 'a=b', 'v1'])).trim(), 'v1');
    assert.deepEqual(calls.find((c) => c.method === 'Create')!.body, { Name: 'v1', Opts: { tier: 'gold' } });
    const ls = await s.ok(['volume', 'ls']);
    assert.match(ls, /mem\s+theirs/);
    assert.match(ls, /mem\s+v1/);
    const [ins] = JSON.parse(await s.ok(['volume', 'inspect', 'v1']));
    assert.equal(ins.Driver, 'mem');
    assert.equal(ins.Scope, 'global');
    assert.deepEqual(ins.Labels, { a: 'b' });
    assert.deepEqual(ins.Status, { opts: { tier: 'gold' }, mounted: 0 });
    assert.equal((await s.ok(['run', '--rm', '--volume-driver', 'mem', '-v', 'v1:/data', 'img:1', 'sh', '-c', 'echo hello > /data/f'])), '');
    assert.equal(readFileSync(join(dir, 'memdata', 'v1', 'f'), 'utf8'), 'hello\n');
    const mount = calls.find((c) => c.method === 'Mount')!;
    const unmount = calls.find((c) => c.method === 'Unmount')!;
    assert.match(String(mount.body.ID), /^[0-9a-f]{64}$/);
    assert.deepEqual(unmount.body, mount.body, 'Unmount names the same volume and container id');
    // an existing plugin volume is used by -v without --volume-driver
    assert.equal(await s.ok(['run', '--rm', '-v', 'v1:/data', 'img:1', 'cat', '/data/f']), 'hello\n');
    await s.ok(['run', '--rm', '--mount', 'type=volume,src=v2,target=/d,volume-driver=mem,volume-opt=size=1G', 'img:1', 'true']);
    assert.deepEqual(calls.filter((c) => c.method === 'Create').at(-1)!.body, { Name: 'v2', Opts: { size: '1G' } });
    const pls = await s.ok(['plugin', 'ls']);
    assert.match(pls, /^ID\s+NAME\s+DESCRIPTION\s+ENABLED\n[0-9a-f]{12}\s+mem\s+volume plugin at unix:\/\/.*mem\.sock\s+true\n$/);
    const [pi] = JSON.parse(await s.ok(['plugin', 'inspect', 'mem']));
    assert.equal(pi.Enabled, true);
    assert.deepEqual(pi.Implements, ['VolumeDriver']);
    assert.equal(pi.Scope, 'global');
    await s.ok(['volume', 'rm', 'v1', 'v2']);
    assert.ok(!existsSync(join(dir, 'memdata', 'v1')));
    assert.deepEqual(calls.filter((c) => c.method === 'Remove').map((c) => c.body.Name), ['v1', 'v2']);
    assert.equal((await s.ok(['volume', 'ls', '-q'])).trim(), 'theirs');
    await clean(s);
  });

  it("the seed's example: a missing rexray/ebs plugin is named with every place looked in, and nothing is created", async (t) => {
    if (!requiresRoot(t)) return;
    const { s, sockets, specs } = await setup(t);
    const r = await s.run(['run', '-it', '--name', 'mysql', '--volume-driver', 'rexray/ebs', '--mount', 'src=ebs-vol,target=/var/lib/mysql', 'img:1']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /error looking up volume plugin rexray\/ebs: plugin "rexray\/ebs" not found/);
    for (const p of [join(sockets, 'rexray/ebs.sock'), join(sockets, 'rexray/ebs/ebs.sock'), join(specs, 'rexray/ebs.spec'), join(specs, 'rexray/ebs.json')]) assert.ok(r.stderr.includes(p), `names ${p}`);
    assert.equal((await s.ok(['ps', '-aq'])).trim(), '');
    assert.equal((await s.ok(['volume', 'ls', '-q'])).trim(), '');
    const c = await s.run(['volume', 'create', '-d', 'rexray/ebs', 'ebs-vol']);
    assert.equal(c.code, 1);
    assert.match(c.stderr, /plugin "rexray\/ebs" not found/);
    await clean(s);
  });

  it('a spec file (tcp) is found and used; a nonsense spec is a clear error', async (t) => {
    if (!requiresRoot(t)) return;
    const { s, dir, specs } = await setup(t);
    const calls: Call[] = [];
    const { servePlugin } = await import('../../src/plugins/sdk.js');
    const { memoryPlugin } = await import('./fake.js');
    const srv = await servePlugin(memoryPlugin(join(dir, 'tcpdata'), calls), { socket: join(dir, 'unused.sock') });
    t.after(() => srv.close());
    writeFileSync(join(specs, 'viaspec.spec'), `unix://${srv.socket}\n`);
    await s.ok(['volume', 'create', '-d', 'viaspec', 'sv']);
    assert.equal(calls[0]!.method, 'Create');
    writeFileSync(join(specs, 'broken.spec'), 'ftp://nowhere\n');
    const r = await s.run(['volume', 'create', '-d', 'broken', 'bv']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /broken\.spec: unsupported scheme ftp:/);
    await s.ok(['volume', 'rm', 'sv']);
    await clean(s);
  });
});

describe('volume plugin faults', () => {
  const cases: Array<{ doc: string; how: Behaviour | 'down'; method?: string; err: RegExp }> = [
    { doc: 'a plugin that hangs on Mount times out', how: 'hang', err: /volume plugin bad: VolumeDriver\.Mount: no answer within 800 ms/ },
    { doc: 'a plugin that crashes mid-call', how: 'crash', err: /volume plugin bad: VolumeDriver\.Mount: the plugin closed the connection/ },
    { doc: 'a plugin that answers malformed JSON', how: 'nonsense', err: /volume plugin bad: VolumeDriver\.Mount: the plugin answered with something that is not JSON/ },
    { doc: "a plugin's Err is shown as it came", how: 'err', err: /volume plugin bad: VolumeDriver\.Mount: backend said: quota exceeded on pool "gold"/ },
    { doc: 'a mountpoint of / is refused', how: { mountpoint: '/' }, err: /refusing the mountpoint: \/ is a system folder/ },
    { doc: 'a mountpoint in /proc is refused', how: { mountpoint: '/proc/1' }, err: /refusing the mountpoint: \/proc\/1 is inside \/proc/ },
    { doc: 'a mountpoint that does not exist is refused', how: { mountpoint: '/nonexistent/x' }, err: /refusing the mountpoint: \/nonexistent\/x does not exist/ },
    { doc: 'a relative mountpoint is refused', how: { mountpoint: 'data/x' }, err: /refusing the mountpoint: "data\/x" is not an absolute path/ },
    { doc: 'a plugin that is down (socket, nobody listening)', how: 'down', err: /volume plugin bad: Plugin\.Activate: the plugin is not running/ },
  ];
  for (const c of cases) {
    it(c.doc, async (t) => {
      if (!requiresRoot(t)) return;
      const { s, dir, sockets } = await setup(t);
      const sock = join(sockets, 'bad.sock');
      const calls: Call[] = [];
      // The volume is made while the plugin behaves; the fault is at Mount (or the plugin is gone).
      const good = await rawPlugin(sock, 'None', 'err', join(dir, 'pdata'), calls);
      await s.ok(['volume', 'create', '-d', 'bad', 'fv']);
      await good.close();
      if (c.how === 'down') {
        const l = createServer();
        await new Promise<void>((r) => l.listen(sock, r));
        await new Promise<void>((r) => l.close(() => r()));
        // node removes the socket file on close: leave a dead socket file behind, as a crashed plugin does
        const { spawnSync } = await import('node:child_process');
        spawnSync('python3', ['-c', `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(sock)})`]);
      } else {
        const bad = await rawPlugin(sock, c.method ?? 'Mount', c.how, join(dir, 'pdata'), calls);
        t.after(() => bad.close());
      }
      const started = Date.now();
      // A host folder bound in beside the faulty volume: had the container run, it
      // would have left its mark there (the volume itself could never show one).
      const proof = join(dir, 'proof');
      mkdirSync(proof);
      const r = await s.run(['run', '--rm', '--name', 'victim', '-v', `${proof}:/proof`, '-v', 'fv:/data', 'img:1', 'sh', '-c', 'echo ran > /proof/ran; echo should-not-run > /data/x']);
      assert.equal(r.code, 125, r.stderr);
      assert.match(r.stderr, c.err);
      assert.ok(Date.now() - started < 15_000, 'fails promptly');
      assert.deepEqual(readdirSync(proof), [], 'the container never ran');
      if (typeof c.how === 'object' || c.how === 'hang' || c.how === 'crash') {
        // refused mountpoints and unknown outcomes are given back with an Unmount for the same id
        const m = calls.find((x) => x.method === 'Mount!');
        assert.ok(m, 'Mount was called');
        if (typeof c.how === 'object') assert.ok(calls.some((x) => x.method === 'Unmount' && x.body.ID === m.body.ID), 'unmounted again');
      }
      assert.equal((await s.ok(['ps', '-aq'])).trim(), '', '--rm container removed');
      await clean(s);
    });
  }

  it('a failed Unmount is recorded and retried by a later recovery, after the container is gone', async (t) => {
    if (!requiresRoot(t)) return;
    const { s, dir, sockets } = await setup(t);
    const sock = join(sockets, 'flaky.sock');
    const calls: Call[] = [];
    const flaky = await rawPlugin(sock, 'Unmount', 'err', join(dir, 'fdata'), calls);
    await s.ok(['volume', 'create', '-d', 'flaky', 'uv']);
    const r = await s.run(['run', '--rm', '-v', 'uv:/data', 'img:1', 'sh', '-c', 'echo kept > /data/f']);
    assert.equal(r.code, 0, r.stderr);
    const mount = calls.find((c) => c.method === 'Mount');
    assert.ok(mount, 'mounted');
    assert.ok(calls.some((c) => c.method === 'Unmount!' && c.body.ID === mount.body.ID), 'Unmount was tried and failed');
    assert.equal((await s.ok(['ps', '-aq'])).trim(), '', '--rm removed the container all the same');
    const pending = JSON.parse(await s.ok(['system', 'check', '--quick', '--format', 'json'])) as { issues: Array<{ what: string; subject: string; message: string }> };
    assert.ok(pending.issues.some((i) => i.what === 'volume' && i.subject === 'uv' && /Unmount for container .* failed/.test(i.message)), JSON.stringify(pending.issues));
    // The plugin recovers; the next changing command retries the Unmount for the same id.
    await flaky.close();
    const good = await rawPlugin(sock, 'None', 'err', join(dir, 'fdata'), calls);
    t.after(() => good.close());
    // A failed Unmount is retried with back-off, the first time 1 s after it failed.
    await new Promise((res) => setTimeout(res, 1200));
    await s.ok(['volume', 'create', '-d', 'flaky', 'other']);
    assert.ok(calls.some((c) => c.method === 'Unmount' && c.body.ID === mount.body.ID), 'Unmount retried with the same container id');
    const after = JSON.parse(await s.ok(['system', 'check', '--quick', '--format', 'json'])) as { issues: unknown[] };
    assert.deepEqual(after.issues, []);
    await s.ok(['volume', 'rm', 'other']);
    await clean(s);
  });

  it('a crash after Mount is released later: Unmount for the same container id', async (t) => {
    if (!requiresRoot(t)) return;
    const { s, dir, sockets } = await setup(t);
    const calls: Call[] = [];
    const srv = await serveMemory(join(sockets, 'mem.sock'), join(dir, 'memdata'), calls);
    t.after(() => srv.close());
    await s.ok(['volume', 'create', '-d', 'mem', 'cv']);
    const child = s.spawn(['run', '--name', 'crashy', '-v', 'cv:/data', 'img:1', 'sleep', '60']);
    for (let i = 0; i < 200 && !calls.some((c) => c.method === 'Mount'); i++) await new Promise((r) => setTimeout(r, 50));
    const mount = calls.find((c) => c.method === 'Mount');
    assert.ok(mount, 'mounted');
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    const rm = await s.run(['volume', 'rm', 'cv']);
    assert.notEqual(rm.code, 0, 'in use while the container record exists');
    await s.ok(['ps', '-a']); // reconciles: the watcher is gone, the container is finalised
    assert.ok(calls.some((c) => c.method === 'Unmount' && c.body.ID === mount.body.ID), 'Unmount with the same id');
    await s.ok(['rm', '-f', 'crashy']);
    await s.ok(['volume', 'rm', 'cv']);
    await clean(s);
  });
});
