// streams.test.ts: the engine side of Docker's stream features through the engine API
// and the CLI, with a real runtime: attach (before start, to a running container, stdin,
// a terminal with resize, a killed attacher), wait conditions, exec records across
// processes, top, stats, and the `run -it` NUL byte of issue 16.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir, requiresRoot, requires, cleanupFirst } from '../helpers/env.js';
import { stowage, BIN, type Stowage } from '../helpers/cli.js';
import { makeRootfs, makeDockerArchive } from '../helpers/images.js';
import { Engine } from '../../src/engine.js';
import type { StdioSession } from '../../src/containers/stdio.js';
import { ownerAlive } from '../../src/store/owner.js';
import { ptyAvailable } from '../../src/util/pty.js';

const DRIVER = 'vfs';

interface Ctx { s: Stowage; e: Engine; start(id: string): Promise<void> }

async function setup(t: TestContext): Promise<Ctx> {
  const dir = tempDir(t);
  const s = stowage(join(dir, 'root'), DRIVER);
  const base = join(dir, 'base');
  await makeRootfs(base, 'busybox');
  const arch = await makeDockerArchive(join(dir, 'bb.tar'), { layers: [base], repoTags: ['bb:1'], runConfig: { Cmd: ['/bin/sh'] } });
  await s.ok(['load', '-i', arch.path]);
  const e = Engine.open({ dataRoot: s.root, storageDriver: DRIVER });
  cleanupFirst(t, async () => {
    const ids = (await s.ok(['ps', '-aq'])).trim().split('\n').filter(Boolean);
    if (ids.length) await s.run(['rm', '-f', ...ids]);
    e.close();
  });
  // engine.containers.start spawns the monitor itself, as the API server does.
  return { s, e, start: async (id) => { await e.containers.start(id); } };
}

/** Collects a session's output until it ends (or `until` matches), with a deadline. */
async function collect(session: StdioSession, o: { until?: (text: string) => boolean; ms?: number } = {}): Promise<{ stdout: string; stderr: string }> {
  const acc = { stdout: '', stderr: '' };
  const deadline = setTimeout(() => session.close(), o.ms ?? 20_000);
  try {
    for await (const c of session.output) {
      acc[c.stream] += c.data.toString('utf8');
      if (o.until?.(acc.stdout + acc.stderr)) break;
    }
  } finally {
    clearTimeout(deadline);
  }
  return acc;
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const here = fileURLToPath(new URL('.', import.meta.url));

describe('container streams', () => {
  it('attach before start gets the first byte; stderr kept apart; wait next-exit gives the code', { timeout: 60_000 }, async (t) => {
    if (!requiresRoot(t)) return;
    const { e, start } = await setup(t);
    for (let i = 0; i < 3; i++) {
      const c = await e.containers.create({ image: 'bb:1', cmd: ['sh', '-c', 'echo first; echo oops >&2; exit 3'] });
      const session = await e.containers.attach(c.Id, { stdin: false, stdout: true, stderr: true, stream: true, logs: false });
      const w = e.containers.waitFor(c.Id, 'next-exit');
      await w.registered;
      await start(c.Id);
      const out = await collect(session);
      assert.equal(out.stdout, 'first\n', `run ${i}: the very first line reached the session`);
      assert.equal(out.stderr, 'oops\n');
      assert.equal(await session.exitCode, 3);
      assert.deepEqual(await w.result, { StatusCode: 3, Error: null });
    }
  });

  it('attach to a running container sees output from now on (logs=true replays); a killed attaching CLI leaves container and monitor fine', { timeout: 60_000 }, async (t) => {
    if (!requiresRoot(t)) return;
    const { s, e } = await setup(t);
    const id = (await s.ok(['run', '-d', 'bb:1', 'sh', '-c', 'i=0; while true; do i=$((i+1)); echo line$i; sleep 0.1; done'])).trim();
    await until(() => e.containers.logs(id).lines.length >= 3, 'some log lines');
    const live = await e.containers.attach(id, { stdin: false, stdout: true, stderr: true, stream: true, logs: false });
    const got = await collect(live, { until: (x) => (x.match(/line\d+\n/g) ?? []).length >= 3 });
    live.close();
    assert.doesNotMatch(got.stdout.split('\n')[0]!, /^line1$/, 'from now on, not from the start');
    const withLogs = await e.containers.attach(id, { stdin: false, stdout: true, stderr: true, stream: false, logs: true });
    assert.match((await collect(withLogs)).stdout, /^line1\nline2\n/);
    // A CLI attached and SIGKILLed: the container keeps running under its monitor.
    const cli = spawn(process.execPath, [BIN, '--data-root', s.root, '--storage-driver', DRIVER, 'attach', '--no-stdin', id], { stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = '';
    cli.stdout.on('data', (b: Buffer) => { seen += b.toString(); });
    await until(() => /line\d+\n/.test(seen), 'the CLI to receive output');
    cli.kill('SIGKILL');
    await new Promise((r) => cli.once('close', r));
    await new Promise((r) => setTimeout(r, 300));
    const after = e.containerStore.get(id)!;
    assert.equal(after.State.Running, true);
    assert.ok(ownerAlive(after.State.Monitor), 'the monitor is alive');
    const again = await e.containers.attach(id, { stdin: false, stdout: true, stderr: true, stream: true, logs: false });
    assert.match((await collect(again, { until: (x) => /line\d+\n/.test(x) })).stdout, /line\d+/);
    again.close();
  });

  it('stdin round trip through cat; closing stdin ends it (StdinOnce); the CLI attach does the same', { timeout: 60_000 }, async (t) => {
    if (!requiresRoot(t)) return;
    const { s, e, start } = await setup(t);
    const c = await e.containers.create({ image: 'bb:1', cmd: ['cat'], interactive: true });
    const session = await e.containers.attach(c.Id, { stdin: true, stdout: true, stderr: true, stream: true, logs: false });
    // Input sent before the start (echo hi | docker run -i …) waits for the process.
    session.stdin!.write('hello through stdin\n');
    session.stdin!.end('second\n');
    await start(c.Id);
    assert.equal((await collect(session)).stdout, 'hello through stdin\nsecond\n');
    assert.equal(await session.exitCode, 0);
    const id = (await s.ok(['run', '-d', '-i', 'bb:1', 'sh', '-c', 'cat; exit 5'])).trim();
    const r = await s.run(['attach', id], { input: 'via the cli\n' });
    assert.equal(r.stdout, 'via the cli\n');
    assert.equal(r.code, 5, 'attach exits with the container\'s code');
    const stopped = await s.run(['attach', id]);
    assert.equal(stopped.code, 1);
    assert.match(stopped.stderr, /You cannot attach to a stopped container, start it first/);
  });

  it('a terminal: raw output, resize reaches the container, detach keys leave it running', { timeout: 60_000 }, async (t) => {
    if (!requiresRoot(t)) return;
    if (!requires(t, ptyAvailable(), 'the stowage_pty addon (native/pty.c) is built')) return;
    const { e, start } = await setup(t);
    if (!requires(t, e.runtime().consoleInForeground, 'a runtime that hands the terminal over in the foreground (crun)')) return;
    const c = await e.containers.create({ image: 'bb:1', cmd: ['sh', '-c', 'echo ready; read x; stty size; read y; echo never'], tty: true, interactive: true });
    const session = await e.containers.attach(c.Id, { stdin: true, stdout: true, stderr: true, stream: true, logs: false });
    assert.equal(session.tty, true);
    await start(c.Id);
    const out: string[] = [];
    const reader = (async () => { for await (const ch of session.output) { assert.equal(ch.stream, 'stdout'); out.push(ch.data.toString()); } })();
    await until(() => out.join('').includes('ready'), 'ready');
    await e.containers.resize(c.Id, 41, 123);
    session.stdin!.write('\r');
    await until(() => out.join('').includes('41 123'), 'the new size');
    const text = out.join('');
    assert.match(text, /ready\r\n/, 'a terminal turns \\n into \\r\\n: the output is raw, as the pty gives it');
    assert.match(text, /41 123\r\n/);
    // ctrl-p ctrl-q: the session ends, the container goes on.
    session.stdin!.write(Buffer.from([16, 17]));
    await reader;
    assert.equal(await session.exitCode, null);
    assert.equal(e.containerStore.get(c.Id)!.State.Running, true);
    await e.containers.kill(c.Id);
  });

  it('run -it sends nothing into the terminal at start (issue 16: no NUL, no ^@)', { timeout: 60_000 }, async (t) => {
    if (!requiresRoot(t)) return;
    if (!requires(t, spawnSync('script', ['--version']).status === 0, 'script (util-linux)')) return;
    const { s, e } = await setup(t);
    if (!requires(t, e.runtime().consoleInForeground && ptyAvailable(), 'crun and the stowage_pty addon')) return;
    // script gives the CLI a terminal whose input ends at once, as a harness does; the
    // end-of-file sits in the terminal's line buffer when run -it switches it to raw.
    const cmd = `${process.execPath} ${BIN} --data-root ${s.root} --storage-driver ${DRIVER} run --rm -it bb:1 sh -c 'echo start; read -t 1 x; echo "got[$x]" | od -c'`;
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { input: '', encoding: 'latin1', timeout: 30_000 });
    assert.match(r.stdout, /start\r\n/);
    assert.ok(!r.stdout.includes('^@'), `no NUL echoed: ${JSON.stringify(r.stdout)}`);
    assert.ok(!r.stdout.includes('\\0'), `the program read no NUL: ${JSON.stringify(r.stdout)}`);
    assert.match(r.stdout, /g\s+o\s+t\s+\[\s+\]/, 'the program read an empty line');
    assert.ok(!r.stdout.includes('\r\r\n'), 'raw mode without output processing, as Docker');
  });

  it('wait conditions: not-running returns at once, removed waits for --rm, across processes', { timeout: 60_000 }, async (t) => {
    if (!requiresRoot(t)) return;
    const { s, e, start } = await setup(t);
    const created = await e.containers.create({ image: 'bb:1', cmd: ['true'] });
    assert.deepEqual(await e.containers.waitFor(created.Id, 'not-running').result, { StatusCode: 0, Error: null });
    const rm = await e.containers.create({ image: 'bb:1', cmd: ['sh', '-c', 'sleep 0.3; exit 7'], autoRemove: true });
    const w = e.containers.waitFor(rm.Id, 'removed');
    await w.registered;
    await start(rm.Id);
    assert.deepEqual(await w.result, { StatusCode: 7, Error: null });
    assert.equal(e.containerStore.get(rm.Id), undefined, 'removed by its monitor');
    // The monitor (another process) recorded the lifecycle as Docker reports it.
    let seen: string[] = [];
    await until(async () => {
      seen = [];
      for await (const x of e.events.subscribe({ since: 0, until: Date.now() / 1000 + 0.001, filters: { container: [rm.Id] } })) seen.push(x.Action);
      return seen.includes('destroy');
    }, 'the destroy event');
    assert.deepEqual(seen.filter((a) => ['create', 'start', 'die', 'destroy'].includes(a)), ['create', 'start', 'die', 'destroy']);
    // `stowage wait` on a --rm container: the code survives the removal.
    const id = (await s.ok(['run', '-d', '--rm', 'bb:1', 'sh', '-c', 'sleep 3; exit 6'])).trim();
    assert.equal(await s.ok(['wait', id]), '6\n');
    assert.throws(() => e.containers.waitFor('nosuchcontainer', 'next-exit'), /No such container/);
    assert.throws(() => e.containers.waitFor(created.Id, 'sometime' as 'removed'), /invalid condition/);
  });

  it('exec created here, started by another process; inspect shows the exit code; top and stats', { timeout: 60_000 }, async (t) => {
    if (!requiresRoot(t)) return;
    const { s, e } = await setup(t);
    const id = (await s.ok(['run', '-d', '--name', 'busy', 'bb:1', 'sleep', '60'])).trim();
    const execId = await e.containers.execCreate('busy', { Cmd: ['sh', '-c', 'echo from-exec; exit 9'], AttachStdout: true, AttachStderr: true });
    assert.match(execId, /^[a-f0-9]{64}$/);
    let ins = await e.containers.execInspect(execId) as Record<string, unknown>;
    assert.equal(ins.Running, false);
    assert.equal(ins.ExitCode, null);
    assert.deepEqual(ins.ProcessConfig, { tty: false, entrypoint: 'sh', arguments: ['-c', 'echo from-exec; exit 9'], privileged: false, user: '' });
    // Another process starts it (as a second API request could be served elsewhere).
    const script = `
      const { Engine } = await import(${JSON.stringify(join(here, '../../src/engine.js'))});
      const e = Engine.open({ dataRoot: ${JSON.stringify(s.root)}, storageDriver: ${JSON.stringify(DRIVER)} });
      const session = await e.containers.execStart(${JSON.stringify(execId)}, { detach: false });
      for await (const c of session.output) process.stdout.write(c.data);
      process.stdout.write('code=' + (await session.exitCode));
      e.close();`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(child.stdout, 'from-exec\ncode=9', child.stderr);
    ins = await e.containers.execInspect(execId) as Record<string, unknown>;
    assert.equal(ins.Running, false);
    assert.equal(ins.ExitCode, 9);
    assert.equal(ins.ContainerID, id);
    await assert.rejects(e.containers.execStart(execId, { detach: false }), /has already run/);
    await assert.rejects(e.containers.execInspect('f'.repeat(64)), /No such exec instance/);
    // A detached exec is watched by its own process, which records the code; inspect lists it while it runs.
    const bg = await e.containers.execCreate(id, { Cmd: ['sh', '-c', 'sleep 4; exit 4'] });
    assert.equal(await e.containers.execStart(bg, { detach: true }), null);
    assert.deepEqual(JSON.parse(await s.ok(['container', 'inspect', '-f', '{{json .ExecIDs}}', 'busy'])), [bg]);
    await until(async () => ((await e.containers.execInspect(bg)) as { ExitCode: number | null }).ExitCode === 4, 'the detached exec to be recorded');
    // top: Docker's titles and the container's process.
    const top = await e.containers.top(id);
    assert.deepEqual(top.Titles, ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    assert.ok(top.Processes.some((p) => p[7] === 'sleep 60'), JSON.stringify(top.Processes));
    assert.ok(top.Processes.every((p) => p.length === 8));
    const cliTop = await s.ok(['top', 'busy', '-o', 'pid,args']);
    assert.match(cliTop, /PID\s+COMMAND\n\d+\s+sleep 60\n/);
    // stats: Docker's keys, numbers where the host has them.
    const st = await e.containers.stats(id) as Record<string, any>;
    for (const k of ['read', 'preread', 'pids_stats', 'blkio_stats', 'num_procs', 'storage_stats', 'cpu_stats', 'precpu_stats', 'memory_stats', 'name', 'id']) assert.ok(k in st, `stats has ${k}`);
    assert.equal(st.name, '/busy');
    assert.equal(st.id, id);
    assert.equal(typeof st.cpu_stats.cpu_usage.total_usage, 'number');
    assert.equal(typeof st.cpu_stats.system_cpu_usage, 'number');
    assert.ok(st.cpu_stats.online_cpus >= 1);
    assert.equal(typeof st.memory_stats.usage, 'number');
    assert.ok(st.pids_stats.current >= 1, 'the sleep is counted');
    const noStream = await s.ok(['stats', '--no-stream', 'busy']);
    assert.match(noStream, /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS\n/);
    assert.match(noStream, /busy\s+\d+\.\d\d%/);
    await assert.rejects(e.containers.top('nosuch'), /No such container/);
    await s.ok(['stop', '-t', '0', id]);
    await assert.rejects(e.containers.top(id), /is not running/);
    await assert.rejects(e.containers.execCreate(id, { Cmd: ['true'] }), /is not running/);
  });
});
