// streams.test.ts: the hijacked and streaming endpoints through the real docker CLI:
// foreground `docker run` (attach before start, framed stdout/stderr, the exit code),
// stdin, `run -it` on a terminal (script gives the CLI a pty), exec, top, stats,
// wait and events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { requires, requiresRoot } from '../helpers/env.js';
import { dockerMissing } from '../helpers/dockerd.js';
import { startServe, testImageArchive, type Served } from './serve.js';

async function served(t: import('node:test').TestContext): Promise<Served | undefined> {
  if (!requiresRoot(t)) return undefined;
  if (!requires(t, dockerMissing() === null, dockerMissing() ?? '')) return undefined;
  const s = await startServe(t);
  await s.dockerOk(['load', '-i', (await testImageArchive(s.dir)).path]);
  return s;
}

/** The docker CLI with its stdin fed once its output shows `when` (the process is up), as a user typing does. */
function dockerLater(s: Served, args: string[], input: string, when: RegExp, viaScript = false): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DOCKER_')) env[k] = v;
    Object.assign(env, { DOCKER_HOST: s.host, DOCKER_CONFIG: join(s.dir, 'docker-config'), TERM: 'xterm' });
    const quoted = ['docker', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const c = viaScript ? spawn('script', ['-qec', quoted, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] }) : spawn('docker', args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let fed = false;
    const feed = () => {
      if (fed || !when.test(out)) return;
      fed = true;
      c.stdin.write(input);
      if (!viaScript) c.stdin.end();
    };
    c.stdout.on('data', (b: Buffer) => { out += b.toString(); feed(); });
    c.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const timer = setTimeout(() => c.kill('SIGKILL'), 60_000);
    c.on('error', reject);
    c.on('close', (code) => { clearTimeout(timer); resolve({ code: code ?? -1, out, err }); });
  });
}

test('docker run in the foreground: attach before start, stdout and stderr apart, the exit code; 126/127', async (t) => {
  const s = await served(t);
  if (!s) return;
  const r = await s.docker(['run', '--rm', 'bb', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.equal(r.code, 3);
  assert.equal(r.stdout.toString(), 'out\n');
  assert.equal(r.stderr, 'err\n');
  assert.doesNotMatch(await s.dockerOk(['ps', '-a']), /bb\s/, '--rm removed it');
  const named = await s.docker(['run', '--name', 'fg', 'bb', 'echo', 'first byte']);
  assert.equal(named.code, 0);
  assert.equal(named.stdout.toString(), 'first byte\n');
  assert.equal((await s.dockerOk(['logs', 'fg'])), 'first byte\n');
  const missing = await s.docker(['run', '--rm', 'bb', 'nonexistent']);
  assert.equal(missing.code, 127, missing.stderr);
  const notExec = await s.docker(['run', '--rm', 'bb', '/etc']);
  assert.equal(notExec.code, 126, notExec.stderr);
});

test('docker run -i: the client stdin reaches the process', async (t) => {
  const s = await served(t);
  if (!s) return;
  const r = await dockerLater(s, ['run', '-i', '--rm', 'bb', 'sh', '-c', 'echo ready; read line; echo "got $line"'], 'hello\n', /ready\n/);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, 'ready\ngot hello\n');
});

test('docker run -i with stdin ready before the container starts (a pipe)', async (t) => {
  const s = await served(t);
  if (!s) return;
  const r = await s.docker(['run', '-i', '--rm', 'bb', 'cat'], { input: 'early\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.toString(), 'early\n');
});

test('docker run -it on a terminal: a tty in the container, raw bytes, typed input, the exit code', async (t) => {
  const s = await served(t);
  if (!s) return;
  if (!requires(t, spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0, 'script (util-linux) is missing')) return;
  const r = await dockerLater(s, ['run', '-it', '--rm', 'bb', 'sh'], 'tty\necho typed-$((6*7))\nexit 3\n', /\/ # /, true);
  assert.equal(r.code, 3, r.out + r.err);
  assert.match(r.out, /\/dev\/pts\/\d+/);
  assert.match(r.out, /typed-42/);
});

test('exec (with and without stdin), top, stats, wait, events', async (t) => {
  const s = await served(t);
  if (!s) return;
  const since = Math.floor(Date.now() / 1000) - 1;
  await s.dockerOk(['run', '-d', '--name', 'svc', 'bb', 'sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.1; done']);
  const top = await s.dockerOk(['top', 'svc']);
  assert.match(top, /PID/);
  assert.match(top, /sleep|sh/);
  const stats = JSON.parse(await s.dockerOk(['stats', '--no-stream', '--format', '{{json .}}', 'svc']));
  assert.equal(stats.Name, 'svc');
  const ex = await s.docker(['exec', 'svc', 'sh', '-c', 'echo in-exec; echo e >&2; exit 5']);
  assert.equal(ex.code, 5, ex.stderr);
  assert.equal(ex.stdout.toString(), 'in-exec\n');
  assert.equal(ex.stderr, 'e\n');
  const exi = await s.docker(['exec', '-i', 'svc', 'cat'], { input: 'piped\n' });
  assert.equal(exi.code, 0, exi.stderr);
  assert.equal(exi.stdout.toString(), 'piped\n');
  const exd = await s.docker(['exec', '-d', 'svc', 'sh', '-c', 'echo detached > /tmp/d']);
  assert.equal(exd.code, 0, exd.stderr);
  const notRunning = await s.docker(['exec', 'nope', 'true']);
  assert.equal(notRunning.code, 1);
  assert.match(notRunning.stderr, /No such container: nope/);
  await s.dockerOk(['stop', 'svc']);
  assert.equal((await s.dockerOk(['wait', 'svc'])).trim(), '0');
  const events = await s.dockerOk(['events', '--since', String(since), '--until', String(Math.ceil(Date.now() / 1000) + 1), '--filter', 'container=svc', '--format', '{{.Type}} {{.Action}}']);
  assert.match(events, /container create/);
  assert.match(events, /container start/);
  assert.match(events, /container die/);
});
