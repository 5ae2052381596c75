// run.test.ts: real containers on a busybox rootfs (a plain directory, no storage
// driver), every case with crun and with runc. Each case deletes the runtime's state
// and checks that no process, cgroup or mount is left behind.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { buildSpec, buildProcess, resolveUser, cgroupVersion, type SpecInput } from '../../src/runtime/spec.js';
import { OciRuntime, findRuntime, startFailureCode, readRuntimeLog, cgroupLayout, type RuntimeName } from '../../src/runtime/runtime.js';
import { requires, requiresRoot, tempDir } from '../helpers/env.js';
import { makeRootfs } from '../helpers/images.js';

function runtimeOrWhy(name: RuntimeName): { rt?: ReturnType<typeof findRuntime>; why: string } {
  try {
    return { rt: findRuntime(name), why: '' };
  } catch (err) {
    return { why: `${name}: ${(err as Error).message}` };
  }
}

interface Box {
  rt: OciRuntime;
  id: string;
  bundle: string;
  rootfs: string;
  /** Writes config.json for these overrides. */
  configure(over?: Partial<SpecInput>): void;
}

const DEFAULT_INPUT = (id: string, rootfs: string): SpecInput => ({
  id, rootfs, readonlyRootfs: false, args: ['true'], env: [], cwd: '/', user: { uid: 0, gid: 0, additionalGids: [], home: '/root' },
  terminal: false, hostname: 'stowage-test', network: 'none', mounts: [],
});

/** Cgroup directories a container with this id could leave. */
function cgroupDirs(id: string): string[] {
  if (cgroupVersion() === 2) return [`/sys/fs/cgroup/stowage/${id}`];
  return ['memory', 'pids', 'devices', 'unified'].map((c) => `/sys/fs/cgroup/${c}/stowage/${id}`);
}

/** Sets up a bundle and a runtime, runs body, and always cleans up and checks nothing is left. */
async function withBox(t: TestContext, name: RuntimeName, body: (b: Box) => Promise<void>): Promise<void> {
  if (!requiresRoot(t)) return;
  const found = runtimeOrWhy(name);
  if (!requires(t, found.rt !== undefined, found.why)) return;
  const dir = tempDir(t);
  const bundle = join(dir, 'bundle');
  const rootfs = join(bundle, 'rootfs');
  await makeRootfs(rootfs, 'busybox');
  const rt = new OciRuntime(found.rt!, join(dir, 'state'));
  const id = `stowage-test-${randomBytes(6).toString('hex')}`;
  const box: Box = {
    rt, id, bundle, rootfs,
    configure(over = {}) {
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(buildSpec({ ...DEFAULT_INPUT(id, rootfs), ...over })));
    },
  };
  box.configure();
  try {
    await body(box);
  } finally {
    await rt.delete(id, { force: true });
    assert.equal(await rt.state(id), null, 'runtime state left behind');
    const left = existsSync(join(dir, 'state')) ? readdirSync(join(dir, 'state')) : [];
    assert.deepEqual(left, [], 'state directory not empty');
    for (const c of cgroupDirs(id)) assert.ok(!existsSync(c), `cgroup left behind: ${c}`);
  }
}

interface Ran { code: number; stdout: string; stderr: string }

function collect(child: import('node:child_process').ChildProcess, timeoutMs = 20_000): Promise<Ran> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    child.stdin?.end();
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out; stdout=${stdout} stderr=${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128 + (sig === 'SIGKILL' ? 9 : 15), stdout, stderr });
    });
  });
}

async function run(b: Box, over: Partial<SpecInput>): Promise<Ran> {
  b.configure(over);
  return collect(b.rt.run(b.id, b.bundle, 'pipe'));
}

async function waitFor(b: Box, status: string, ms = 10_000): Promise<{ status: string; pid: number }> {
  const end = Date.now() + ms;
  for (;;) {
    const s = await b.rt.state(b.id);
    if (s && s.status === status) return s;
    if (Date.now() > end) throw new Error(`container never reached ${status}: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The process has exited: no such pid, or a zombie waiting for its new parent (a
 *  detached container's init is reparented to PID 1, which reaps it in its own time). */
function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

describe('findRuntime', () => {
  it('prefers crun, works on this cgroup layout, says why', (t) => {
    if (!requiresRoot(t)) return;
    const found = runtimeOrWhy('crun');
    if (!requires(t, found.rt !== undefined, found.why)) return;
    const r = findRuntime();
    assert.equal(r.name, 'crun');
    assert.match(r.version, /crun version/);
    const l = cgroupLayout();
    if (l.mode === 'hybrid' && l.unifiedControllers.length > 0) assert.match(r.reason, /hybrid/);
  });

  it('runc on request', (t) => {
    const found = runtimeOrWhy('runc');
    if (!requires(t, found.rt !== undefined, found.why)) return;
    assert.equal(found.rt!.name, 'runc');
    assert.match(found.rt!.version, /runc version/);
  });

  it('crun-hybrid-refusal: bare crun refuses a hybrid layout, the wrapped one runs; elsewhere crun runs bare', async (t) => {
    if (!requiresRoot(t)) return;
    const found = runtimeOrWhy('crun');
    if (!requires(t, found.rt !== undefined, found.why)) return;
    const l = cgroupLayout();
    const dir = tempDir(t);
    const rootfs = join(dir, 'bundle/rootfs');
    await makeRootfs(rootfs, 'busybox');
    writeFileSync(join(dir, 'bundle/config.json'), JSON.stringify(buildSpec({ ...DEFAULT_INPUT('hybrid-probe', rootfs), args: ['true'] })));
    const bare = new OciRuntime({ ...found.rt!, argv: [found.rt!.path] }, join(dir, 'state'));
    if (l.mode !== 'hybrid' || l.unifiedControllers.length === 0) {
      // Nothing to work around on this layout: said so, and checked that none is applied and bare crun runs.
      t.diagnostic(`cgroup layout ${l.mode} without unified controllers: no hybrid work-around needed here`);
      assert.deepEqual(found.rt!.argv, [found.rt!.path], 'no wrapper where crun needs none');
      const r = await collect(bare.run('hybrid-probe', join(dir, 'bundle'), 'pipe'));
      await bare.delete('hybrid-probe', { force: true }).catch(() => {});
      assert.equal(r.code, 0, r.stderr);
      return;
    }
    assert.notDeepEqual(found.rt!.argv, [found.rt!.path]);
    const r = await collect(bare.run('hybrid-probe', join(dir, 'bundle'), 'pipe'));
    await bare.delete('hybrid-probe', { force: true }).catch(() => {});
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /hybrid mode not supported/);
    const wrapped = new OciRuntime(found.rt!, join(dir, 'state'));
    assert.equal((await collect(wrapped.run('hybrid-probe', join(dir, 'bundle'), 'pipe'))).code, 0);
    await wrapped.delete('hybrid-probe', { force: true });
  });

  it('unknown runtime: InvalidArgument', () => {
    assert.throws(() => findRuntime('kata'), /unknown runtime/);
  });
});

describe('startFailureCode', () => {
  const cases: Array<{ doc: string; text: string; want: 126 | 127 | undefined }> = [
    { doc: 'runc, not in PATH', text: 'runc run failed: unable to start container process: exec: "nosuch": executable file not found in $PATH', want: 127 },
    { doc: 'runc, absolute missing', text: 'runc run failed: unable to start container process: exec: "/bin/nosuch": stat /bin/nosuch: no such file or directory', want: 127 },
    { doc: 'runc, not executable', text: 'runc run failed: unable to start container process: exec: "/etc/hostname": permission denied', want: 126 },
    { doc: 'runc, a directory', text: 'unable to start container process: exec: "/tmp": is a directory', want: 126 },
    { doc: 'crun, not found', text: 'executable file `nosuch` not found in $PATH: No such file or directory', want: 127 },
    { doc: 'crun, not executable', text: 'open executable: Permission denied', want: 126 },
    { doc: 'crun, a directory', text: 'open executable: Operation not permitted', want: 126 },
    { doc: 'the container\'s own "permission denied" is not a start failure', text: 'cat: can\'t open \'/root/x\': Permission denied', want: undefined },
    { doc: 'the container\'s own "No such file or directory"', text: 'sh: /nope: No such file or directory', want: undefined },
    { doc: 'nothing', text: '', want: undefined },
  ];
  for (const c of cases) it(c.doc, () => assert.equal(startFailureCode(c.text), c.want));
});

for (const name of ['crun', 'runc'] as const) {
  describe(`containers with ${name}`, () => {
    it('echo hello: output captured, exit 0', (t) => withBox(t, name, async (b) => {
      const r = await run(b, { args: ['echo', 'hello'] });
      assert.deepEqual(r, { code: 0, stdout: 'hello\n', stderr: '' });
    }));

    it('exit code passed on', (t) => withBox(t, name, async (b) => {
      assert.equal((await run(b, { args: ['sh', '-c', 'exit 3'] })).code, 3);
    }));

    it('missing executable: 127, name in the runtime\'s error', (t) => withBox(t, name, async (b) => {
      const r = await run(b, { args: ['nosuchcmd'] });
      assert.notEqual(r.code, 0);
      assert.equal(startFailureCode(r.stderr), 127, r.stderr);
      assert.match(r.stderr, /nosuchcmd/);
      const log = readRuntimeLog(OciRuntime.logPath(b.bundle));
      assert.equal(startFailureCode(log), 127, log);
    }));

    it('missing absolute path: 127', (t) => withBox(t, name, async (b) => {
      const r = await run(b, { args: ['/bin/nosuch'] });
      assert.equal(startFailureCode(r.stderr), 127, r.stderr);
    }));

    it('non-executable file: 126', (t) => withBox(t, name, async (b) => {
      writeFileSync(join(b.rootfs, 'notexec'), 'echo hi\n');
      chmodSync(join(b.rootfs, 'notexec'), 0o644);
      const r = await run(b, { args: ['/notexec'] });
      assert.notEqual(r.code, 0);
      assert.equal(startFailureCode(r.stderr), 126, r.stderr);
    }));

    it('a container printing "Permission denied" keeps its exit code', (t) => withBox(t, name, async (b) => {
      const r = await run(b, { args: ['sh', '-c', 'echo "sh: /x: Permission denied" >&2; exit 1'] });
      assert.equal(r.code, 1);
      assert.equal(startFailureCode(r.stderr), undefined);
    }));

    it('hostname and default environment seen inside', (t) => withBox(t, name, async (b) => {
      const user = resolveUser(b.rootfs, '');
      const r = await run(b, { hostname: 'web-1', user, args: ['sh', '-c', 'hostname; echo "$PATH|$HOME|$HOSTNAME"'] });
      assert.equal(r.stdout, 'web-1\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|/root|web-1\n');
    }));

    it('network none: only lo', (t) => withBox(t, name, async (b) => {
      const r = await run(b, { network: 'none', args: ['ls', '/sys/class/net'] });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.split(/\s+/).filter(Boolean), ['lo']);
    }));

    it('network host: the host\'s interfaces', (t) => withBox(t, name, async (b) => {
      const r = await run(b, { network: 'host', args: ['ls', '/sys/class/net'] });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.split(/\s+/).filter(Boolean).sort(), readdirSync('/sys/class/net').sort());
    }));

    it('read-only rootfs refuses writes; /dev/shm stays writable', (t) => withBox(t, name, async (b) => {
      const r = await run(b, { readonlyRootfs: true, args: ['sh', '-c', 'touch /x 2>&1; touch /tmp/y 2>&1; touch /dev/shm/z && echo shm-ok'] });
      assert.match(r.stdout, /Read-only file system/);
      assert.match(r.stdout, /shm-ok/);
      assert.ok(!existsSync(join(b.rootfs, 'x')));
      const w = await run(b, { readonlyRootfs: false, args: ['sh', '-c', 'touch /x && echo ok'] });
      assert.equal(w.stdout, 'ok\n');
    }));

    it('pid namespace: the process is PID 1', (t) => withBox(t, name, async (b) => {
      const r = await run(b, { args: ['sh', '-c', 'echo $$'] });
      assert.equal(r.stdout, '1\n');
    }));

    it('default capabilities only (CapEff a80425fb)', (t) => withBox(t, name, async (b) => {
      const r = await run(b, { args: ['grep', 'CapEff', '/proc/self/status'] });
      assert.match(r.stdout, /CapEff:\s+00000000a80425fb/);
    }));

    it('/proc masked and read-only paths', (t) => withBox(t, name, async (b) => {
      // Masked files read empty; only those this kernel has (runtimes skip the others).
      const files = ['kcore', 'keys', 'timer_list', 'sched_debug', 'latency_stats'].filter((f) => existsSync(`/proc/${f}`));
      assert.ok(files.length > 0);
      const script = [
        ...files.map((f) => `echo "${f} $(wc -c < /proc/${f})"`),
        'ls /sys/firmware | wc -l',
        'echo 1 > /proc/sysrq-trigger 2>/dev/null && echo sysrq-writable || echo sysrq-ro',
        'echo x > /proc/sys/kernel/domainname 2>/dev/null && echo sys-writable || echo sys-ro',
      ].join('; ');
      const r = await run(b, { args: ['sh', '-c', script] });
      assert.deepEqual(r.stdout.split('\n').filter(Boolean).map((s) => s.trim()), [...files.map((f) => `${f} 0`), '0', 'sysrq-ro', 'sys-ro']);
    }));

    it('user nobody', (t) => withBox(t, name, async (b) => {
      const r = await run(b, { user: resolveUser(b.rootfs, 'nobody'), args: ['sh', '-c', 'id -u; id -g; echo $HOME'] });
      assert.equal(r.stdout, '65534\n65534\n/nonexistent\n');
    }));

    it('kill of a long sleep; state running, then gone', (t) => withBox(t, name, async (b) => {
      b.configure({ args: ['sleep', '1000'] });
      const child = b.rt.run(b.id, b.bundle, 'pipe');
      const done = collect(child);
      const st = await waitFor(b, 'running');
      assert.ok(st.pid > 0);
      await b.rt.kill(b.id, 'KILL');
      const r = await done;
      assert.equal(r.code, 137);
      assert.equal(await b.rt.state(b.id), null); // `run` deletes its container on exit
      assert.ok(gone(st.pid));
    }));

    it('detached lifecycle: create, start, state, kill, stopped, delete', (t) => withBox(t, name, async (b) => {
      b.configure({ args: ['sleep', '1000'] });
      await b.rt.create(b.id, b.bundle);
      assert.equal((await b.rt.state(b.id))?.status, 'created');
      await b.rt.start(b.id);
      const st = await waitFor(b, 'running');
      // KILL: sleep as PID 1 has no handler, and PID 1 ignores signals it does not handle.
      await b.rt.kill(b.id, 'SIGKILL', { all: true });
      await waitFor(b, 'stopped');
      assert.ok(gone(st.pid));
      await b.rt.delete(b.id);
      assert.equal(await b.rt.state(b.id), null);
      await b.rt.delete(b.id); // idempotent
    }));

    it('kill of a missing container: NotFound', (t) => withBox(t, name, async (b) => {
      await assert.rejects(b.rt.kill(b.id, 'KILL'), (err: Error & { kind?: string }) => err.kind === 'NotFound');
    }));

    it('exec into a running container', (t) => withBox(t, name, async (b) => {
      b.configure({ args: ['sleep', '1000'], hostname: 'ex' });
      const done = collect(b.rt.run(b.id, b.bundle, 'pipe'));
      try {
        await waitFor(b, 'running');
        const user = resolveUser(b.rootfs, 'nobody');
        const proc = buildProcess({ args: ['sh', '-c', 'echo inside $(hostname) $(id -u) $$'], env: [], cwd: '/tmp', user, terminal: false });
        const r = await collect(b.rt.exec(b.id, proc, 'pipe'));
        assert.equal(r.code, 0, r.stderr);
        const [word, host, uid, pid] = r.stdout.trim().split(' ');
        assert.deepEqual([word, host, uid], ['inside', 'ex', '65534']);
        assert.notEqual(pid, '1');
        const code = await collect(b.rt.exec(b.id, buildProcess({ args: ['sh', '-c', 'exit 5'], env: [], cwd: '/', user, terminal: false }), 'pipe'));
        assert.equal(code.code, 5);
        const missing = await collect(b.rt.exec(b.id, buildProcess({ args: ['nosuchcmd'], env: [], cwd: '/', user, terminal: false }), 'pipe'));
        assert.equal(startFailureCode(missing.stderr), 127, missing.stderr);
      } finally {
        await b.rt.kill(b.id, 'KILL').catch(() => {});
        await done;
      }
    }));
  });
}

// Keeps the bundle helper honest: a directory made by makeRootfs is what the runtime sees.
describe('fixture', () => {
  it('busybox rootfs has /bin/sh', async (t) => {
    const d = join(tempDir(t), 'r');
    mkdirSync(d);
    await makeRootfs(d, 'busybox');
    assert.ok(existsSync(join(d, 'bin/sh')));
  });
});
