// spec.test.ts: buildSpec's Docker defaults (table-driven), the environment defaults,
// resolveUser's forms and its refusal to follow the image's symlinks out of the rootfs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, symlinkSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import {
  buildSpec, buildProcess, containerEnv, resolveUser, resolveInRoot, readFileInRoot,
  DEFAULT_CAPABILITIES, DEFAULT_PATH, MASKED_PATHS, READONLY_PATHS, type SpecInput, type User,
} from '../../src/runtime/spec.js';
import { kindOf } from '../../src/errors.js';
import { tempDir } from '../helpers/env.js';

const ROOT_USER: User = { uid: 0, gid: 0, additionalGids: [], home: '/root' };

function input(over: Partial<SpecInput> = {}): SpecInput {
  return {
    id: 'c0ffee', rootfs: '/var/lib/stowage/x/merged', readonlyRootfs: false, args: ['/bin/sh'], env: [],
    cwd: '/', user: ROOT_USER, terminal: false, hostname: 'c0ffee', network: 'none', mounts: [], cgroupns: 'host', ...over,
  };
}

type Spec = {
  process: { capabilities: Record<string, string[]>; env: string[]; user: unknown; cwd: string; terminal: boolean; rlimits?: unknown[]; noNewPrivileges: boolean };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: Array<{ destination: string; type: string; options: string[]; source: string }>;
  linux: { namespaces: Array<{ type: string }>; maskedPaths: string[]; readonlyPaths: string[]; cgroupsPath?: string; resources: { devices: Array<Record<string, unknown>> } };
  annotations?: Record<string, string>;
};
const spec = (over: Partial<SpecInput> = {}) => buildSpec(input(over)) as unknown as Spec;
const nsTypes = (s: Spec) => s.linux.namespaces.map((n) => n.type);
const mount = (s: Spec, d: string) => s.mounts.find((m) => m.destination === d);

describe('buildSpec: Docker 20.10 defaults', () => {
  const cases: Array<{ doc: string; over?: Partial<SpecInput>; check: (s: Spec) => void }> = [
    {
      doc: 'the 14 default capabilities in bounding, effective, permitted; none inheritable or ambient',
      check: (s) => {
        const want = ['CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'NET_RAW', 'SETGID', 'SETUID', 'SETFCAP', 'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE'].map((c) => `CAP_${c}`);
        for (const set of ['bounding', 'effective', 'permitted']) assert.deepEqual(s.process.capabilities[set], want, set);
        assert.equal(s.process.capabilities.inheritable, undefined);
        assert.equal(s.process.capabilities.ambient, undefined);
        assert.ok(!want.includes('CAP_SYS_ADMIN'));
      },
    },
    { doc: 'network none: a new, empty network namespace', over: { network: 'none' }, check: (s) => assert.deepEqual(nsTypes(s), ['mount', 'network', 'uts', 'pid', 'ipc']) },
    { doc: 'network host: no network namespace', over: { network: 'host' }, check: (s) => assert.deepEqual(nsTypes(s), ['mount', 'uts', 'pid', 'ipc']) },
    { doc: 'cgroupns private adds a cgroup namespace', over: { cgroupns: 'private' }, check: (s) => assert.ok(nsTypes(s).includes('cgroup')) },
    {
      doc: 'masked and read-only paths',
      check: (s) => {
        assert.deepEqual(s.linux.maskedPaths, [...MASKED_PATHS]);
        for (const p of ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/sched_debug', '/proc/acpi', '/sys/firmware']) assert.ok(s.linux.maskedPaths.includes(p), p);
        assert.deepEqual(s.linux.readonlyPaths, ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
        assert.deepEqual(s.linux.readonlyPaths, [...READONLY_PATHS]);
      },
    },
    {
      doc: 'default mounts, in order, with /dev/shm 64 MiB and /sys read-only',
      check: (s) => {
        assert.deepEqual(s.mounts.map((m) => `${m.destination}:${m.type}`), [
          '/proc:proc', '/dev:tmpfs', '/dev/pts:devpts', '/sys:sysfs', '/sys/fs/cgroup:cgroup', '/dev/mqueue:mqueue', '/dev/shm:tmpfs',
        ]);
        assert.ok(mount(s, '/dev/shm')!.options.includes('size=67108864'));
        assert.ok(mount(s, '/sys')!.options.includes('ro'));
        assert.ok(mount(s, '/sys/fs/cgroup')!.options.includes('ro'));
        assert.ok(!mount(s, '/proc')!.options.includes('ro'));
        assert.ok(mount(s, '/dev')!.options.includes('size=65536k'));
      },
    },
    {
      doc: 'read-only rootfs: root readonly; /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue stay writable; user mounts keep their mode',
      over: { readonlyRootfs: true, mounts: [{ destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'rw'] }] },
      check: (s) => {
        assert.equal(s.root.readonly, true);
        for (const d of ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue']) assert.ok(!mount(s, d)!.options.includes('ro'), d);
        assert.ok(!mount(s, '/data')!.options.includes('ro'));
      },
    },
    { doc: 'writable rootfs', over: { readonlyRootfs: false }, check: (s) => assert.equal(s.root.readonly, false) },
    {
      doc: 'a user mount replaces the default at its destination; user mounts sorted parents first',
      over: { mounts: [
        { destination: '/a/b', type: 'bind', source: '/x', options: ['rbind'] },
        { destination: '/dev/shm', type: 'bind', source: '/host/shm', options: ['rbind'] },
        { destination: '/a', type: 'bind', source: '/y', options: ['rbind'] },
      ] },
      check: (s) => {
        assert.equal(s.mounts.filter((m) => m.destination === '/dev/shm').length, 1);
        assert.equal(mount(s, '/dev/shm')!.source, '/host/shm');
        const ds = s.mounts.map((m) => m.destination);
        assert.ok(ds.indexOf('/a') < ds.indexOf('/a/b'));
      },
    },
    {
      doc: 'a user /dev replaces every default mount under /dev',
      over: { mounts: [{ destination: '/dev', type: 'bind', source: '/dev', options: ['rbind'] }] },
      check: (s) => assert.deepEqual(s.mounts.filter((m) => m.destination.startsWith('/dev')).map((m) => m.source), ['/dev']),
    },
    {
      doc: 'device cgroup: deny all, then allow null zero full random urandom tty console; deny rtc',
      check: (s) => {
        const d = s.linux.resources.devices;
        assert.deepEqual(d[0], { allow: false, access: 'rwm' });
        const allowed = d.filter((x) => x.allow).map((x) => `${x.major}:${x.minor}`).sort();
        assert.deepEqual(allowed, ['1:3', '1:5', '1:8', '1:9', '5:0', '5:1']);
        assert.ok(d.some((x) => !x.allow && x.major === 10 && x.minor === 229));
      },
    },
    { doc: 'hostname', over: { hostname: 'web-1' }, check: (s) => assert.equal(s.hostname, 'web-1') },
    { doc: 'cgroupsPath like Docker\'s cgroupfs one', check: (s) => assert.equal(s.linux.cgroupsPath, '/stowage/c0ffee') },
    { doc: 'cgroupsPath "" leaves it to the runtime', over: { cgroupsPath: '' }, check: (s) => assert.equal(s.linux.cgroupsPath, undefined) },
    { doc: 'rlimits: none set, inherited as under Docker', check: (s) => assert.equal(s.process.rlimits, undefined) },
    { doc: 'no-new-privileges off', check: (s) => assert.equal(s.process.noNewPrivileges, false) },
    { doc: 'labels become annotations', over: { labels: { a: 'b' } }, check: (s) => assert.deepEqual(s.annotations, { a: 'b' }) },
    { doc: 'empty cwd is "/"', over: { cwd: '' }, check: (s) => assert.equal(s.process.cwd, '/') },
    { doc: 'user passed through', over: { user: { uid: 1000, gid: 1001, additionalGids: [5] } }, check: (s) => assert.deepEqual(s.process.user, { uid: 1000, gid: 1001, additionalGids: [5] }) },
  ];
  for (const c of cases) it(c.doc, () => c.check(spec(c.over)));

  const bad: Array<{ doc: string; over: Partial<SpecInput> }> = [
    { doc: 'no command', over: { args: [] } },
    { doc: 'id with a slash', over: { id: '../x' } },
    { doc: 'relative rootfs', over: { rootfs: 'rootfs' } },
    { doc: 'relative cwd', over: { cwd: 'tmp' } },
    { doc: 'bad hostname', over: { hostname: 'a b' } },
    { doc: 'network mode bridge is not this function\'s business', over: { network: 'bridge' as 'none' } },
    { doc: 'NUL in an argument', over: { args: ['sh', 'a\0b'] } },
    { doc: 'relative mount destination', over: { mounts: [{ destination: 'data', type: 'bind', source: '/x', options: [] }] } },
  ];
  for (const b of bad) it(`refuses: ${b.doc}`, () => assert.equal(kindOf(catchErr(() => buildSpec(input(b.over)))), 'InvalidArgument'));
});

function catchErr(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  assert.fail('expected an error');
}

describe('containerEnv', () => {
  const cases: Array<{ doc: string; env: string[]; o: Parameters<typeof containerEnv>[1]; want: string[] }> = [
    { doc: 'defaults when the image sets nothing', env: [], o: { hostname: 'h', terminal: false, home: '/root' }, want: [`PATH=${DEFAULT_PATH}`, 'HOSTNAME=h', 'HOME=/root'] },
    { doc: 'the image PATH wins, keeps its place', env: ['A=1', 'PATH=/bin'], o: { hostname: 'h', terminal: false }, want: ['HOSTNAME=h', 'A=1', 'PATH=/bin', 'HOME=/'] },
    { doc: 'TERM with a terminal', env: [], o: { terminal: true, home: '/' }, want: [`PATH=${DEFAULT_PATH}`, 'TERM=xterm', 'HOME=/'] },
    { doc: '-e replaces the image value and HOSTNAME', env: ['A=1', 'HOSTNAME=x', 'A=2'], o: { hostname: 'h', terminal: false }, want: [`PATH=${DEFAULT_PATH}`, 'HOSTNAME=x', 'A=2', 'HOME=/'] },
    { doc: 'HOME set by the image is kept', env: ['HOME=/data'], o: { terminal: false, home: '/root' }, want: [`PATH=${DEFAULT_PATH}`, 'HOME=/data'] },
  ];
  for (const c of cases) it(c.doc, () => assert.deepEqual(containerEnv(c.env, c.o), c.want));

  it('is idempotent (a caller that already added PATH and HOSTNAME gets them once)', () => {
    const once = containerEnv(['X=1'], { hostname: 'h', terminal: true, home: '/root' });
    assert.deepEqual(containerEnv(once, { hostname: 'h', terminal: true, home: '/root' }).sort(), [...once].sort());
  });

  it('buildProcess gives exec the same defaults', () => {
    const p = buildProcess({ args: ['id'], env: [], cwd: '', user: ROOT_USER, terminal: false }) as { env: string[]; cwd: string };
    assert.deepEqual(p.env, [`PATH=${DEFAULT_PATH}`, 'HOME=/root']);
    assert.equal(p.cwd, '/');
  });

  it('DEFAULT_CAPABILITIES is frozen', () => assert.ok(Object.isFrozen(DEFAULT_CAPABILITIES)));
});

describe('resolveUser', () => {
  function rootfs(t: import('node:test').TestContext, passwd?: string, group?: string): string {
    const r = join(tempDir(t), 'rootfs');
    mkdirSync(join(r, 'etc'), { recursive: true });
    if (passwd !== undefined) writeFileSync(join(r, 'etc/passwd'), passwd);
    if (group !== undefined) writeFileSync(join(r, 'etc/group'), group);
    return r;
  }
  const PASSWD = [
    'root:x:0:0:root:/root:/bin/sh',
    '# a comment:x:0:0',
    'daemon:x:1:1::/usr/sbin:/usr/sbin/nologin',
    'alice:x:1000:1000:Alice:/home/alice:/bin/sh',
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
    'nohome:x:1002:1002::',
  ].join('\n') + '\n';
  const GROUP = ['root:x:0:', 'wheel:x:10:alice,bob', 'audio:x:29:alice', 'alice:x:1000:', 'staff:x:50:', 'nogroup:x:65534:'].join('\n') + '\n';

  const cases: Array<{ doc: string; user: string; want: User }> = [
    { doc: '"" is root with its passwd entry', user: '', want: { uid: 0, gid: 0, additionalGids: [], home: '/root' } },
    { doc: 'a name', user: 'alice', want: { uid: 1000, gid: 1000, additionalGids: [10, 29], home: '/home/alice' } },
    { doc: 'nobody', user: 'nobody', want: { uid: 65534, gid: 65534, additionalGids: [], home: '/nonexistent' } },
    { doc: 'a uid in passwd', user: '1000', want: { uid: 1000, gid: 1000, additionalGids: [10, 29], home: '/home/alice' } },
    { doc: 'a uid not in passwd: gid 0, home /', user: '4242', want: { uid: 4242, gid: 0, additionalGids: [], home: '/' } },
    { doc: '1000:1000', user: '1000:1000', want: { uid: 1000, gid: 1000, additionalGids: [], home: '/home/alice' } },
    { doc: 'uid:gid both unknown', user: '5000:6000', want: { uid: 5000, gid: 6000, additionalGids: [], home: '/' } },
    { doc: 'name:group name', user: 'alice:staff', want: { uid: 1000, gid: 50, additionalGids: [], home: '/home/alice' } },
    { doc: 'name:gid', user: 'daemon:7', want: { uid: 1, gid: 7, additionalGids: [], home: '/usr/sbin' } },
    { doc: 'empty home is /', user: 'nohome', want: { uid: 1002, gid: 1002, additionalGids: [], home: '/' } },
  ];
  for (const c of cases) it(c.doc, (t) => assert.deepEqual(resolveUser(rootfs(t, PASSWD, GROUP), c.user), c.want));

  it('unknown user: InvalidArgument with Docker\'s wording', (t) => {
    const err = catchErr(() => resolveUser(rootfs(t, PASSWD, GROUP), 'mallory'));
    assert.equal(kindOf(err), 'InvalidArgument');
    assert.equal((err as Error).message, 'unable to find user mallory: no matching entries in passwd file');
  });

  it('unknown group: InvalidArgument with Docker\'s wording', (t) => {
    const err = catchErr(() => resolveUser(rootfs(t, PASSWD, GROUP), 'alice:nosuch'));
    assert.equal((err as Error).message, 'unable to find group nosuch: no matching entries in group file');
  });

  it('no passwd file: numeric users work, names do not', (t) => {
    const r = rootfs(t);
    assert.deepEqual(resolveUser(r, ''), { uid: 0, gid: 0, additionalGids: [], home: '/' });
    assert.deepEqual(resolveUser(r, '33:33'), { uid: 33, gid: 33, additionalGids: [], home: '/' });
    assert.equal(kindOf(catchErr(() => resolveUser(r, 'root'))), 'InvalidArgument');
  });

  it('a comment line does not match uid 0 or a name', (t) => {
    assert.equal(kindOf(catchErr(() => resolveUser(rootfs(t, PASSWD, GROUP), '# a comment'))), 'InvalidArgument');
  });

  it('out-of-range uid refused', (t) => {
    assert.equal(kindOf(catchErr(() => resolveUser(rootfs(t, PASSWD, GROUP), '99999999999'))), 'InvalidArgument');
  });

  it('passwd-symlink-to-host: an absolute symlink is resolved inside the rootfs, not to the host\'s file', (t) => {
    const dir = tempDir(t);
    const r = join(dir, 'rootfs');
    mkdirSync(join(r, 'etc'), { recursive: true });
    // A host file the symlink would reach if followed on the host.
    const outside = join(dir, 'host-passwd');
    writeFileSync(outside, 'evil:x:0:0::/root:/bin/sh\n');
    symlinkSync(outside, join(r, 'etc/passwd'));
    assert.equal(kindOf(catchErr(() => resolveUser(r, 'evil'))), 'InvalidArgument');
    // The same path inside the rootfs is what is read.
    mkdirSync(join(r, dir), { recursive: true });
    writeFileSync(join(r, outside), 'inside:x:7:7::/in:/bin/sh\n');
    assert.deepEqual(resolveUser(r, 'inside'), { uid: 7, gid: 7, additionalGids: [], home: '/in' });
  });

  it('passwd-dotdot-escape: ../../.. in a symlink stops at the rootfs', (t) => {
    const dir = tempDir(t);
    const r = join(dir, 'a', 'rootfs');
    mkdirSync(join(r, 'etc'), { recursive: true });
    writeFileSync(join(dir, 'passwd'), 'evil:x:0:0::/:/bin/sh\n');
    symlinkSync('../../../../../../passwd', join(r, 'etc/passwd'));
    assert.equal(resolveInRoot(r, '/etc/passwd'), join(r, 'passwd'));
    assert.equal(kindOf(catchErr(() => resolveUser(r, 'evil'))), 'InvalidArgument');
  });

  it('passwd-dir-symlink-escape: /etc symlinked to a host directory is resolved inside the rootfs', (t) => {
    const dir = tempDir(t);
    const r = join(dir, 'rootfs');
    mkdirSync(join(dir, 'hostetc'), { recursive: true });
    writeFileSync(join(dir, 'hostetc/passwd'), 'evil:x:0:0::/:/bin/sh\n');
    mkdirSync(r);
    symlinkSync(join(dir, 'hostetc'), join(r, 'etc'));
    assert.equal(resolveInRoot(r, '/etc/passwd'), join(r, dir, 'hostetc', 'passwd'));
    assert.equal(kindOf(catchErr(() => resolveUser(r, 'evil'))), 'InvalidArgument');
  });

  it('symlink-loop: refused, not a hang', (t) => {
    const r = rootfs(t);
    symlinkSync('/etc/passwd', join(r, 'etc/passwd'));
    assert.equal(kindOf(catchErr(() => resolveUser(r, 'x'))), 'InvalidArgument');
  });

  it('passwd-fifo: not read (a fifo would block), refused', (t) => {
    const r = rootfs(t);
    const p = join(r, 'etc/passwd');
    rmSync(p, { force: true });
    assert.equal(spawnSync('mkfifo', [p]).status, 0);
    assert.equal(kindOf(catchErr(() => resolveUser(r, 'x'))), 'InvalidArgument');
  });

  it('passwd-directory: refused', (t) => {
    const r = rootfs(t);
    mkdirSync(join(r, 'etc/passwd'));
    assert.equal(kindOf(catchErr(() => readFileInRoot(r, '/etc/passwd'))), 'InvalidArgument');
  });

  it('relative symlinks inside the rootfs are followed', (t) => {
    const r = rootfs(t);
    mkdirSync(join(r, 'usr/lib'), { recursive: true });
    writeFileSync(join(r, 'usr/lib/passwd'), 'bob:x:5:6::/b:/bin/sh\n');
    symlinkSync('../usr/lib/passwd', join(r, 'etc/passwd'));
    assert.deepEqual(resolveUser(r, 'bob'), { uid: 5, gid: 6, additionalGids: [], home: '/b' });
  });
});
