// http.test.ts: the Engine API's edge, spoken raw: _ping and versions, path
// prefixes, Docker's error statuses and messages, the Host/Origin refusals, body
// limits and malformed input (always an answer, never a crash or a hang), and a
// clean SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { requires, requiresRoot, tempDir } from '../helpers/env.js';
import { BIN } from '../helpers/cli.js';
import { startServe, httpOver, testImageArchive } from './serve.js';
import { parseHost } from '../../src/api/listeners.js';

test('_ping, version and path prefixes as dockerd answers them', async (t) => {
  if (!requiresRoot(t)) return;
  const s = await startServe(t);
  const ping = await s.http('GET', '/_ping');
  assert.equal(ping.status, 200);
  assert.equal(ping.body.toString(), 'OK');
  assert.equal(ping.headers['api-version'], '1.41');
  assert.equal(ping.headers['builder-version'], '1', 'the docker CLI must pick the classic builder');
  const head = await s.http('HEAD', '/_ping');
  assert.equal(head.status, 200);
  assert.equal(head.headers['api-version'], '1.41');
  assert.equal(head.body.length, 0);
  for (const p of ['/version', '/v1.24/version', '/v1.41/version', '/v1.47/version']) {
    const r = await s.http('GET', p);
    assert.equal(r.status, 200, p);
    assert.equal(r.json().ApiVersion, '1.41');
    assert.equal(r.json().MinAPIVersion, '1.24');
  }
  const tooNew = await s.http('GET', '/v1.48/version');
  assert.equal(tooNew.status, 400);
  assert.match(tooNew.json().message, /too new/);
  const tooOld = await s.http('GET', '/v1.12/version');
  assert.equal(tooOld.status, 400);
  assert.match(tooOld.json().message, /too old. Minimum supported API version is 1.24/);
  const info = (await s.http('GET', '/v1.41/info')).json();
  assert.equal(info.Driver, 'overlay2');
  assert.ok(info.DriverStatus.some((r: string[]) => r[0] === 'Reason' && r[1].length > 0), 'info names why the driver was chosen');
  // The socket is root's and its group's only.
  assert.equal(statSync(s.socket).mode & 0o777, 0o660);
});

test("errors: Docker's statuses and messages, 501 for what stowage does not do", async (t) => {
  if (!requiresRoot(t)) return;
  const s = await startServe(t);
  const cases: Array<[string, string, number, RegExp, string?]> = [
    ['GET', '/v1.41/containers/nope/json', 404, /^No such container: nope$/],
    ['GET', '/v1.41/images/nope:1/json', 404, /No such image: nope:1/],
    ['GET', '/v1.41/volumes/nope', 404, /no such volume/],
    ['DELETE', '/v1.41/containers/nope', 404, /No such container: nope/],
    ['GET', '/v1.41/no/such/endpoint', 404, /page not found/],
    ['POST', '/v1.41/networks/create', 501, /host or none networking/, '{"Name":"n1"}'],
    ['POST', '/v1.41/swarm/init', 501, /not a swarm node/, '{}'],
    ['POST', '/v1.41/containers/create', 400, /invalid JSON/, '{"Image": '],
    ['POST', '/v1.41/containers/create', 400, /Image is required/, '{}'],
    ['POST', '/v1.41/containers/create', 400, /Cmd must be an array of strings/, '{"Image":"x","Cmd":[1]}'],
    ['POST', '/v1.41/containers/create', 400, /network mode "bridge" is not supported/, '{"Image":"x","HostConfig":{"NetworkMode":"bridge"}}'],
    ['POST', '/v1.41/volumes/create', 400, /Name must be a string/, '{"Name":5}'],
    ['GET', '/v1.41/containers/json?filters=%7Bbad', 400, /invalid filter/],
    ['GET', '/v1.41/containers/json?filters=%7B%22nokey%22%3A%5B%22x%22%5D%7D', 400, /invalid filter 'nokey'/],
    ['DELETE', '/v1.41/networks/host', 403, /pre-defined network/],
  ];
  for (const [method, path, status, msg, body] of cases) {
    const r = await s.http(method, path, body !== undefined ? { body } : {});
    assert.equal(r.status, status, `${method} ${path}: ${r.body.toString()}`);
    assert.match(r.json().message, msg, `${method} ${path}`);
    assert.match(String(r.headers['content-type']), /application\/json/);
  }
  // A name twice: 409 with Docker's words.
  await s.cli.ok(['load', '-i', (await import('./serve.js').then((m) => m.testImageArchive(s.dir))).path]);
  const body = JSON.stringify({ Image: 'bb', Cmd: ['true'] });
  assert.equal((await s.http('POST', '/v1.41/containers/create?name=twice', { body })).status, 201);
  const again = await s.http('POST', '/v1.41/containers/create?name=twice', { body });
  assert.equal(again.status, 409);
  assert.match(again.json().message, /Conflict. The container name "\/twice" is already in use/);
  // Networks: exactly host and none.
  const nets = (await s.http('GET', '/networks')).json();
  assert.deepEqual(nets.map((n: { Name: string }) => n.Name), ['host', 'none']);
});

test('body limits and malformed requests get 4xx answers, and the server keeps serving', async (t) => {
  if (!requiresRoot(t)) return;
  const s = await startServe(t);
  const big = await s.http('POST', '/v1.41/containers/create', { body: `{"Image":"${'x'.repeat(5 << 20)}"}` }).catch((e: Error) => ({ status: -1, err: e }));
  assert.equal(big.status, 413);
  // Garbage on the socket: a 400, not a crash.
  const garbage = await new Promise<string>((resolve) => {
    const c = connect(s.socket);
    let got = '';
    c.on('data', (b) => (got += b.toString()));
    c.on('close', () => resolve(got));
    c.on('error', () => resolve(got));
    c.end('THIS IS NOT HTTP\r\n\r\n');
  });
  assert.match(garbage, /^HTTP\/1.1 400/);
  const badPath = await s.http('GET', '/v1.41/containers/%E0%A4%A/json');
  assert.ok([400, 404].includes(badPath.status), `bad escape: ${badPath.status}`);
  const ping = await s.http('GET', '/_ping');
  assert.equal(ping.status, 200, 'still serving');
});

test('Origin and Host checks: cross-site browsers and DNS rebinding are refused', async (t) => {
  if (!requiresRoot(t)) return;
  const dir = tempDir(t, 'stowage-api-');
  const s = await startServe(t, { dir, extraArgs: ['-H', 'tcp://127.0.0.1:0'] });
  const m = /API listen on tcp:\/\/127\.0\.0\.1:(\d+)/.exec(s.log());
  assert.ok(m, s.log());
  const port = Number(m[1]);
  assert.match(s.log(), /WARNING: API is accessible on http:\/\/127\.0\.0\.1:\d+ without encryption/);
  const tcp = (headers: Record<string, string>) => httpOver({ host: '127.0.0.1', port }, 'GET', '/v1.41/version', { headers });
  assert.equal((await tcp({})).status, 200);
  assert.equal((await tcp({ Host: `localhost:${port}` })).status, 200);
  assert.equal((await tcp({ Origin: `http://127.0.0.1:${port}` })).status, 200, 'same origin');
  const rebind = await tcp({ Host: `evil.example:${port}` });
  assert.equal(rebind.status, 403);
  assert.match(rebind.json().message, /DNS rebinding/);
  const otherPort = await tcp({ Host: `127.0.0.1:${port + 1}` });
  assert.equal(otherPort.status, 403);
  const cross = await tcp({ Origin: 'http://evil.example' });
  assert.equal(cross.status, 403);
  assert.match(cross.json().message, /cross-origin request from http:\/\/evil.example refused/);
  const unixCross = await s.http('GET', '/version', { headers: { Origin: 'http://evil.example' } });
  assert.equal(unixCross.status, 403);
});

test('-H parsing: loopback TCP only unless told; bad addresses are refused with a reason', () => {
  assert.deepEqual(parseHost('unix:///run/x.sock'), { kind: 'unix', path: '/run/x.sock', text: 'unix:///run/x.sock' });
  assert.equal(parseHost('tcp://127.0.0.1:2375').kind, 'tcp');
  assert.equal(parseHost('tcp://[::1]:2375').kind, 'tcp');
  assert.throws(() => parseHost('tcp://0.0.0.0:2375'), /refusing to listen on 0.0.0.0.*--allow-remote-tcp/);
  assert.equal(parseHost('tcp://0.0.0.0:2375', { allowRemote: true }).kind, 'tcp');
  assert.throws(() => parseHost('unix://relative.sock'), /must be absolute/);
  assert.throws(() => parseHost('http://x'), /invalid -H address/);
  assert.throws(() => parseHost('tcp://127.0.0.1'), /want tcp:\/\/HOST:PORT/);
  assert.throws(() => parseHost('fd://'), /LISTEN_FDS|LISTEN_PID/);
});

test('SIGTERM shuts the server down cleanly and removes its socket; a stale socket is replaced', async (t) => {
  if (!requiresRoot(t)) return;
  const dir = tempDir(t, 'stowage-api-');
  const s = await startServe(t, { dir });
  assert.equal(await s.stop('SIGTERM'), 0);
  assert.ok(!existsSync(s.socket), 'socket removed');
  assert.match(s.log(), /stopped/);
  // A server killed hard leaves its socket; the next one takes the path over.
  const s2 = await startServe(t, { dir });
  await s2.stop('SIGKILL');
  assert.ok(existsSync(s2.socket));
  const s3 = await startServe(t, { dir });
  assert.equal((await s3.http('GET', '/_ping')).status, 200);
  // While one serves, a second server on the same socket is refused.
  const second = spawn(process.execPath, [BIN, '--data-root', join(dir, 'root'), '--storage-driver', 'overlay2', 'serve', '-H', `unix://${s3.socket}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  second.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code = await new Promise<number | null>((r) => second.once('exit', r));
  assert.equal(code, 1);
  assert.match(err, /in use by a running server/);
});

test('-H fd://: the socket systemd passes (socket activation, deploy/systemd/stowage.socket)', async (t) => {
  if (!requiresRoot(t)) return;
  const { spawnSync } = await import('node:child_process');
  if (!requires(t, spawnSync('systemd-socket-activate', ['--help'], { stdio: 'ignore' }).status === 0, 'systemd-socket-activate (Debian package systemd) is missing')) return;
  const dir = tempDir(t, 'stowage-api-');
  const sock = join(dir, 'activated.sock');
  const p = spawn('systemd-socket-activate', ['-l', sock, process.execPath, BIN, '--data-root', join(dir, 'root'), '--storage-driver', 'overlay2', 'serve', '-H', 'fd://'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  p.stderr.on('data', (b: Buffer) => (log += b.toString()));
  t.after(async () => {
    if (p.exitCode === null) { p.kill('SIGTERM'); await new Promise((r) => p.once('exit', r)); }
  });
  // The first connection starts the server (systemd-socket-activate execs it then).
  for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
  const r = await httpOver({ socketPath: sock }, 'GET', '/v1.41/version');
  assert.equal(r.status, 200, log);
  assert.equal(r.json().ApiVersion, '1.41');
  p.kill('SIGTERM');
  assert.equal(await new Promise((res) => p.once('exit', (code) => res(code))), 0, log);
  assert.match(log, /API listen on fd:\/\//);
});

test('POST /images/load: "Loading layer" progress unless quiet, as dockerd; a bad archive is an error status', async (t) => {
  if (!requiresRoot(t)) return;
  const s = await startServe(t);
  const img = await testImageArchive(s.dir);
  const body = readFileSync(img.path);
  const lines = (r: { body: Buffer }) => r.body.toString().split('\r\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
  const loud = await s.http('POST', '/v1.41/images/load', { body, headers: { 'Content-Type': 'application/x-tar' } });
  assert.equal(loud.status, 200);
  const events = lines(loud);
  const bars = events.filter((e) => e.status === 'Loading layer');
  assert.ok(bars.length >= img.diffIds.length, JSON.stringify(events));
  for (const d of img.diffIds) {
    const id = d.replace(/^sha256:/, '').slice(0, 12);
    const last = bars.filter((e) => e.id === id).at(-1);
    assert.ok(last, `progress for layer ${id}`);
    assert.equal(last.progressDetail.current, last.progressDetail.total, 'the last event of a layer is complete');
    assert.match(last.progress, /^\[=+>\]/);
  }
  assert.deepEqual(events.at(-1), { stream: 'Loaded image: bb:latest\n' });
  assert.equal((await s.http('DELETE', '/v1.41/images/bb:latest')).status, 200);
  const quiet = await s.http('POST', '/v1.41/images/load?quiet=1', { body, headers: { 'Content-Type': 'application/x-tar' } });
  assert.equal(quiet.status, 200);
  assert.deepEqual(lines(quiet), [{ stream: 'Loaded image: bb:latest\n' }]);
  const bad = await s.http('POST', '/v1.41/images/load', { body: Buffer.from('not a tar at all'), headers: { 'Content-Type': 'application/x-tar' } });
  assert.ok(bad.status >= 400 && bad.status < 600, `status ${bad.status}`);
  assert.ok(typeof bad.json().message === 'string' && bad.json().message.length > 0);
});
