// `stowage warm`: commands handed to processes started ahead of time behave exactly as
// commands that start Node themselves: the same output, exit status, standard input,
// working folder and environment; a signal to the command reaches it; with no server,
// a dead one or one of another build, the command still runs (in the client's own
// process). Every command below runs both ways and the results are compared.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir, requiresRoot, requires, cleanupFirst } from '../helpers/env.js';
import { CMD } from '../helpers/cli.js';
import { makeRootfs, makeLayerTar } from '../helpers/images.js';
import { findRuntime } from '../../src/runtime/runtime.js';

interface Result { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

function run(args: string[], env: NodeJS.ProcessEnv, opts: { input?: Buffer; cwd?: string } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const c = spawn(CMD, args, { env: { ...process.env, ...env }, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    c.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    c.on('error', reject);
    c.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    c.stdin.on('error', () => {});
    c.stdin.end(opts.input);
  });
}

/** The pids of the processes a server started (its children). */
function childrenOf(pid: number): number[] {
  const r = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean).map(Number);
}

async function startWarm(sock: string): Promise<ChildProcess> {
  const w = spawn(CMD, ['warm', '--socket', sock, '--processes', '2'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, STOWAGE_NO_WARM: '1' } });
  let err = '';
  w.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
  for (let i = 0; i < 400 && !existsSync(sock); i++) {
    if (w.exitCode !== null) break;
    await sleep(25);
  }
  assert.ok(existsSync(sock), `stowage warm did not listen: ${err}`);
  // Until both waiting processes are ready (each says so over IPC; a child appears at spawn).
  for (let i = 0; i < 400 && childrenOf(w.pid!).length < 2; i++) await sleep(25);
  await sleep(300);
  return w;
}

async function stop(w: ChildProcess): Promise<void> {
  if (w.exitCode !== null || w.signalCode !== null) return;
  const gone = new Promise((r) => w.once('exit', r));
  w.kill('SIGTERM');
  await gone;
}

describe('stowage warm', () => {
  it('runs commands in waiting processes with the same results as a cold start, and falls back when it cannot', { timeout: 180_000 }, async (t) => {
    if (!requiresRoot(t)) return;
    const dir = tempDir(t);
    const root = join(dir, 'root');
    const sock = join(dir, 'warm.sock');
    const g = ['--data-root', root, '--storage-driver', 'vfs'];
    const warmEnv = { STOWAGE_WARM_SOCKET: sock, STOWAGE_NO_WARM: '' };
    const coldEnv = { STOWAGE_NO_WARM: '1' };
    let w = await startWarm(sock);
    cleanupFirst(t, () => stop(w));

    // A command runs in one of the waiting processes: it is gone afterwards, a new one waits.
    const before = childrenOf(w.pid!);
    assert.equal(before.length, 2, `two waiting processes, got ${before.join(' ')}`);
    const v = await run([...g, 'volume', 'create', 'wv'], warmEnv);
    assert.deepEqual([v.code, v.stdout, v.stderr], [0, 'wv\n', '']);
    for (let i = 0; i < 100 && childrenOf(w.pid!).filter((p) => before.includes(p)).length !== 1; i++) await sleep(20);
    assert.equal(childrenOf(w.pid!).filter((p) => before.includes(p)).length, 1, 'one waiting process became the command');

    // The same output and status both ways, for successes and failures.
    for (const args of [['volume', 'ls'], ['volume', 'inspect', 'wv'], ['inspect', 'nosuch'], ['volume', 'rm', 'nosuch'], ['images', '--format', '{{json .}}'], ['run', '--bogus-flag', 'x']]) {
      const a = await run([...g, ...args], warmEnv);
      const b = await run([...g, ...args], coldEnv);
      assert.deepEqual({ code: a.code, stdout: a.stdout, stderr: a.stderr }, { code: b.code, stdout: b.stdout, stderr: b.stderr }, args.join(' '));
    }

    // Standard input, the working folder and the environment are the client's.
    const rootfs = join(dir, 'rootfs');
    await makeRootfs(rootfs, 'busybox');
    const tar = await makeLayerTar(rootfs);
    const imp = await run(['import', '-', 'warmimg:1'], { ...warmEnv, STOWAGE_DATA_ROOT: root, STOWAGE_STORAGE_DRIVER: 'vfs' }, { input: tar });
    assert.equal(imp.code, 0, imp.stderr);
    assert.match(imp.stdout, /^sha256:[0-9a-f]{64}\n$/);
    const work = join(dir, 'work');
    mkdirSync(work);
    const save = await run([...g, 'save', '-o', 'rel.tar', 'warmimg:1'], warmEnv, { cwd: work });
    assert.equal(save.code, 0, save.stderr);
    assert.ok(statSync(join(work, 'rel.tar')).size > tar.length / 2);
    const um = spawnSync('sh', ['-c', `umask 077; STOWAGE_WARM_SOCKET=${sock} ${CMD} ${g.join(' ')} save -o um.tar warmimg:1`], { cwd: work });
    assert.equal(um.status, 0, um.stderr.toString());
    assert.equal(statSync(join(work, 'um.tar')).mode & 0o777, 0o600, 'the client\'s umask');

    // A signal to the client reaches the command; the status is the command's.
    for (const env of [warmEnv, coldEnv]) {
      const ev = spawn(CMD, [...g, 'events'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      const closed = new Promise<[number | null, NodeJS.Signals | null]>((r) => ev.on('close', (c, s) => r([c, s])));
      await sleep(1500);
      const other = await run([...g, 'volume', 'create', 'during'], coldEnv);
      assert.equal(other.code, 0);
      await sleep(500);
      ev.kill('SIGINT');
      const [code, signal] = await closed;
      assert.deepEqual([code, signal], [0, null], `events ended by SIGINT (${env === warmEnv ? 'warm' : 'cold'})`);
      await run([...g, 'volume', 'rm', 'during'], coldEnv);
    }

    // A container's exit status comes back through the server.
    let rtWhy = '';
    try { findRuntime(); } catch (err) { rtWhy = (err as Error).message; }
    if (requires(t, rtWhy === '', `an OCI runtime: ${rtWhy}`)) {
      const r = await run([...g, 'run', '--rm', '--network', 'none', 'warmimg:1', 'sh', '-c', 'echo out; echo err >&2; exit 7'], warmEnv);
      assert.deepEqual([r.code, r.stdout, r.stderr], [7, 'out\n', 'err\n']);
    }

    // Another build (the snapshot changed since the processes started): declined, and the
    // command runs in the client itself; the declining process is replaced.
    const blob = join(CMD, '..', '..', 'dist', 'cli', 'stowage.blob');
    const st = statSync(blob);
    try {
      utimesSync(blob, st.atime, new Date(st.mtimeMs + 5000));
      const r = await run([...g, 'volume', 'ls', '-q'], warmEnv);
      assert.deepEqual([r.code, r.stdout], [0, 'wv\n']);
    } finally {
      utimesSync(blob, st.atime, st.mtime);
    }

    // A server killed outright leaves a socket nobody answers: commands still run, and its
    // waiting processes leave with it.
    const waiting = childrenOf(w.pid!);
    w.kill('SIGKILL');
    await new Promise((r) => w.once('exit', r));
    const r = await run([...g, 'volume', 'ls', '-q'], warmEnv);
    assert.deepEqual([r.code, r.stdout], [0, 'wv\n']);
    for (let i = 0; i < 100 && waiting.some((p) => existsSync(`/proc/${p}`)); i++) await sleep(50);
    assert.deepEqual(waiting.filter((p) => existsSync(`/proc/${p}`)), [], 'waiting processes end with their server');

    // A new server takes over the stale socket; SIGTERM stops it and its waiting processes.
    w = await startWarm(sock);
    const kids = childrenOf(w.pid!);
    await stop(w);
    assert.equal(existsSync(sock), false, 'the socket is removed');
    for (let i = 0; i < 100 && kids.some((p) => existsSync(`/proc/${p}`)); i++) await sleep(50);
    assert.deepEqual(kids.filter((p) => existsSync(`/proc/${p}`)), []);
  });

  it('refuses a second server on a socket that answers', async (t) => {
    if (!requiresRoot(t)) return;
    const dir = tempDir(t);
    const sock = join(dir, 'warm.sock');
    const w = await startWarm(sock);
    cleanupFirst(t, () => stop(w));
    const second = await run(['warm', '--socket', sock], { STOWAGE_NO_WARM: '1' });
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /another server is listening on .*warm\.sock/);
    // A file that is not a socket is refused, and kept.
    const file = join(dir, 'not-a-socket');
    writeFileSync(file, 'data');
    const onFile = await run(['warm', '--socket', file], { STOWAGE_NO_WARM: '1' });
    assert.equal(onFile.code, 1);
    assert.match(onFile.stderr, /not-a-socket exists and is not a socket/);
    assert.equal(readFileSync(file, 'utf8'), 'data');
    const bad = await run(['warm', '--socket', join(dir, 'x.sock'), '--processes', '0'], { STOWAGE_NO_WARM: '1' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /invalid --processes "0": want a number from 1 to 16/);
  });
});
