// spec.ts: the OCI runtime configuration (config.json) a container runs with, with
// what Docker 20.10 gives a container by default (moby oci/defaults.go and
// daemon/oci_linux.go, read for the lists; the code here is ours): the capability
// set, masked and read-only /proc and /sys paths, the default mounts, the device
// cgroup rules, and the environment defaults (PATH, HOSTNAME, TERM, HOME).
//
// It also resolves `--user` against the image's /etc/passwd and /etc/group. Those
// files belong to the image and are hostile: a symlink in the rootfs is resolved
// inside the rootfs (an absolute target or `..` never leaves it), only regular
// files are read (a fifo would hang us), and their size is capped.
import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, readSync, statfsSync } from 'node:fs';
import { posix } from 'node:path';
import { errnoCode, invalidArgument } from '../errors.js';

export interface User {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** The passwd entry's home directory ("/" when the user has none): HOME's default. */
  home?: string;
}

/** Docker's PATH when the image sets none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Docker's default capability set (bounding, permitted and effective; inheritable
 *  and ambient stay empty since 20.10.14, CVE-2022-24769). */
export const DEFAULT_CAPABILITIES: readonly string[] = Object.freeze([
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL',
  'CAP_AUDIT_WRITE',
]);

/** Paths the runtime hides (an empty read-only file or tmpfs over them). */
export const MASKED_PATHS: readonly string[] = Object.freeze([
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
]);

/** Paths the runtime remounts read-only. */
export const READONLY_PATHS: readonly string[] = Object.freeze([
  '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger',
]);

/** Docker's --shm-size default: 64 MiB. */
export const DEFAULT_SHM_BYTES = 64 * 1024 * 1024;

export interface OciMount { destination: string; type: string; source: string; options: string[] }

export interface SpecInput {
  id: string;
  rootfs: string;
  readonlyRootfs: boolean;
  args: string[];
  env: string[];
  cwd: string;
  user: User;
  terminal: boolean;
  hostname: string;
  network: 'host' | 'none';
  mounts: OciMount[];
  labels?: Record<string, string>;
  /** cgroupfs path; default "/stowage/<id>" (Docker: "/docker/<id>"); "" leaves it to the runtime. */
  cgroupsPath?: string;
  /** Docker's default: a private cgroup namespace on cgroup v2 hosts, the host's on v1. */
  cgroupns?: 'host' | 'private';
  /** /dev/shm size in bytes; default 64 MiB. */
  shmSize?: number;
  /** The terminal's initial size (process.consoleSize), with a terminal. */
  consoleSize?: { height: number; width: number };
}

/** What a process that runs in the container looks like: `process` of config.json, also
 *  what `OciRuntime.exec` takes. */
export interface ProcessInput {
  args: string[];
  env: string[];
  cwd: string;
  user: User;
  terminal: boolean;
  /** HOSTNAME for the environment; omitted when undefined. */
  hostname?: string;
  /** The terminal's initial size, set by the runtime before the process starts. */
  consoleSize?: { height: number; width: number };
}

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$/;
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})?$/;

export function defaultCgroupsPath(id: string): string {
  return `/stowage/${id}`;
}

/** 2 on a unified (v2) host, 1 on a v1 or hybrid one. */
export function cgroupVersion(): 1 | 2 {
  try {
    return statfsSync('/sys/fs/cgroup').type === CGROUP2_SUPER_MAGIC ? 2 : 1;
  } catch {
    return 1;
  }
}
export const CGROUP2_SUPER_MAGIC = 0x63677270;
export const TMPFS_MAGIC = 0x01021994;

/** KEY of a KEY=VALUE entry (the whole entry when it has no "="). */
function envKey(e: string): string {
  const i = e.indexOf('=');
  return i < 0 ? e : e.slice(0, i);
}

/**
 * The environment Docker gives a container: PATH (when the image and -e set none),
 * HOSTNAME, TERM=xterm with a terminal, then `env` (image env, then -e) replacing
 * earlier entries of the same key; HOME from passwd last, when nobody set it.
 */
export function containerEnv(env: readonly string[], o: { hostname?: string; terminal: boolean; home?: string }): string[] {
  const out: string[] = [];
  const at = new Map<string, number>();
  const put = (e: string) => {
    const k = envKey(e);
    const i = at.get(k);
    if (i === undefined) {
      at.set(k, out.length);
      out.push(e);
    } else {
      out[i] = e;
    }
  };
  if (!env.some((e) => envKey(e) === 'PATH')) put(`PATH=${DEFAULT_PATH}`);
  if (o.hostname !== undefined && o.hostname !== '') put(`HOSTNAME=${o.hostname}`);
  if (o.terminal) put('TERM=xterm');
  for (const e of env) put(e);
  if (!at.has('HOME')) put(`HOME=${o.home ?? '/'}`);
  return out;
}

/** The OCI `process` object for a container's main process or an exec. */
export function buildProcess(p: ProcessInput): Record<string, unknown> {
  if (p.args.length === 0 || p.args[0] === '') {
    throw invalidArgument('no command specified', { op: 'create' });
  }
  for (const s of [...p.args, ...p.env]) {
    if (s.includes('\0')) throw invalidArgument('a command argument or environment entry contains a NUL byte');
  }
  const cwd = p.cwd === '' ? '/' : p.cwd;
  if (!cwd.startsWith('/')) throw invalidArgument(`the working directory '${cwd}' is invalid, it needs to be an absolute path`);
  const caps = [...DEFAULT_CAPABILITIES];
  return {
    terminal: p.terminal,
    ...(p.terminal && p.consoleSize && p.consoleSize.height > 0 && p.consoleSize.width > 0 ? { consoleSize: { ...p.consoleSize } } : {}),
    user: { uid: p.user.uid, gid: p.user.gid, additionalGids: [...p.user.additionalGids] },
    args: [...p.args],
    env: containerEnv(p.env, { hostname: p.hostname, terminal: p.terminal, home: p.user.home }),
    cwd,
    capabilities: { bounding: caps, effective: [...caps], permitted: [...caps] },
    // No rlimits: Docker sets none unless asked (--ulimit, default-ulimits); the process
    // inherits the runtime's, i.e. stowage's. A fixed value (say Debian dockerd's
    // NOFILE 1048576) would need CAP_SYS_RESOURCE to raise the hard limit, which a
    // root without it (this CI's sandbox) lacks: setrlimit fails and nothing starts.
    noNewPrivileges: false,
    oomScoreAdj: 0,
  };
}

/** The default mounts, /dev/shm sized; "ro" added where a read-only rootfs asks for it. */
function defaultMounts(readonlyRootfs: boolean, shmSize: number): OciMount[] {
  const m: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shmSize}`] },
  ];
  if (readonlyRootfs) {
    // Docker: with --read-only every mount that is not a user's and not one of these
    // turns read-only too (/sys and its cgroup mount already are).
    const keepRw = new Set(['/proc', '/dev/pts', '/dev/shm', '/dev/mqueue', '/dev']);
    for (const x of m) if (!keepRw.has(x.destination) && !x.options.includes('ro')) x.options.push('ro');
  }
  return m;
}

/** Docker's device cgroup rules: deny everything, then allow the standard character
 *  devices (zero, null, urandom, random, tty, console) and deny /dev/rtc (10:229). */
function deviceRules(): Array<Record<string, unknown>> {
  const allow = (major: number, minor: number) => ({ allow: true, type: 'c', major, minor, access: 'rwm' });
  return [
    { allow: false, access: 'rwm' },
    allow(1, 5), allow(1, 3), allow(1, 9), allow(1, 8), allow(5, 0), allow(5, 1),
    { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' },
  ];
}

function depth(p: string): number {
  return posix.normalize(p).split('/').filter(Boolean).length;
}

/** An OCI runtime config.json (as an object) with Docker 20.10's defaults. */
export function buildSpec(input: SpecInput): Record<string, unknown> {
  if (!CONTAINER_ID.test(input.id)) throw invalidArgument(`invalid container id ${JSON.stringify(input.id)}`);
  if (!posix.isAbsolute(input.rootfs)) throw invalidArgument(`rootfs must be an absolute path: ${input.rootfs}`);
  if (input.hostname !== '' && !HOSTNAME.test(input.hostname)) {
    throw invalidArgument(`invalid hostname ${JSON.stringify(input.hostname)}`);
  }
  if (input.network !== 'host' && input.network !== 'none') {
    throw invalidArgument(`unsupported network mode ${JSON.stringify(input.network)}: host or none`);
  }
  for (const m of input.mounts) {
    if (!posix.isAbsolute(m.destination)) throw invalidArgument(`mount destination must be absolute: ${m.destination}`);
  }

  // User mounts replace the default at the same destination; a user /dev replaces all
  // of /dev/*. User mounts go after the defaults, parents before children.
  const userDest = new Set(input.mounts.map((m) => posix.normalize(m.destination)));
  const userDev = userDest.has('/dev');
  const mounts = defaultMounts(input.readonlyRootfs, input.shmSize ?? DEFAULT_SHM_BYTES).filter(
    (m) => !userDest.has(m.destination) && !(userDev && m.destination.startsWith('/dev/')),
  );
  const user = input.mounts
    .map((m, i) => ({ m, i }))
    .sort((a, b) => depth(a.m.destination) - depth(b.m.destination) || a.i - b.i)
    .map(({ m }) => ({ destination: m.destination, type: m.type, source: m.source, options: [...m.options] }));

  const namespaces: Array<{ type: string }> = [{ type: 'mount' }];
  if (input.network === 'none') namespaces.push({ type: 'network' });
  namespaces.push({ type: 'uts' }, { type: 'pid' }, { type: 'ipc' });
  const cgroupns = input.cgroupns ?? (cgroupVersion() === 2 ? 'private' : 'host');
  if (cgroupns === 'private') namespaces.push({ type: 'cgroup' });

  const linux: Record<string, unknown> = {
    namespaces,
    maskedPaths: [...MASKED_PATHS],
    readonlyPaths: [...READONLY_PATHS],
    devices: [],
    resources: { devices: deviceRules() },
  };
  const cgroupsPath = input.cgroupsPath ?? defaultCgroupsPath(input.id);
  if (cgroupsPath !== '') linux.cgroupsPath = cgroupsPath;

  const spec: Record<string, unknown> = {
    ociVersion: '1.0.2',
    process: buildProcess({
      args: input.args, env: input.env, cwd: input.cwd, user: input.user, terminal: input.terminal, hostname: input.hostname,
      ...(input.consoleSize ? { consoleSize: input.consoleSize } : {}),
    }),
    root: { path: input.rootfs, readonly: input.readonlyRootfs },
    hostname: input.hostname,
    mounts: [...mounts, ...user],
    linux,
  };
  if (input.labels && Object.keys(input.labels).length > 0) spec.annotations = { ...input.labels };
  return spec;
}

// ---------------------------------------------------------------------------
// Users and groups

/** Cap on /etc/passwd and /etc/group: big LDAP dumps exist, gigabytes do not. */
const MAX_ACCOUNT_FILE = 32 * 1024 * 1024;
const MAX_SYMLINKS = 255;
const MAX_ID = 2 ** 31 - 1;

/**
 * The host path of `path` (absolute, inside the container) under `root`, resolving
 * symlinks as if root were "/": absolute targets restart at root and `..` stops at
 * root, so the result is always root or below it. Missing components are kept as
 * they are (the caller's open fails with ENOENT).
 */
export function resolveInRoot(root: string, path: string): string {
  const base = posix.resolve(root);
  let rest = path.split('/').filter((c) => c !== '' && c !== '.');
  const done: string[] = [];
  let hops = 0;
  while (rest.length > 0) {
    const c = rest.shift()!;
    if (c === '..') {
      done.pop();
      continue;
    }
    const host = posix.join(base, ...done, c);
    let st;
    try {
      st = lstatSync(host);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') {
        done.push(c, ...rest.filter((x) => x !== '..'));
        break;
      }
      throw err;
    }
    if (!st.isSymbolicLink()) {
      done.push(c);
      continue;
    }
    if (++hops > MAX_SYMLINKS) throw invalidArgument(`too many levels of symbolic links resolving ${path} in the image`);
    const target = readlinkSync(host);
    if (target.startsWith('/')) done.length = 0;
    rest = [...target.split('/').filter((x) => x !== '' && x !== '.'), ...rest];
  }
  return posix.join(base, ...done);
}

/** The text of a regular file inside root, or null when it does not exist. */
export function readFileInRoot(root: string, path: string, maxBytes = MAX_ACCOUNT_FILE): string | null {
  const host = resolveInRoot(root, path);
  let fd: number;
  try {
    // O_NOFOLLOW: the last component was resolved above; if it became a symlink since,
    // refuse rather than follow. O_NONBLOCK: opening a fifo must not wait for a writer.
    fd = openSync(host, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    if (code === 'ELOOP') throw invalidArgument(`${path} in the image is a symbolic link that changed while being read`);
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw invalidArgument(`${path} in the image is not a regular file`);
    if (st.size > maxBytes) throw invalidArgument(`${path} in the image is too large (${st.size} bytes)`);
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

const NUMERIC = /^[0-9]+$/;

function lines(text: string | null): string[][] {
  if (text === null) return [];
  const out: string[][] = [];
  for (const raw of text.split('\n')) {
    const l = raw.trim();
    // Comments and NIS compat ("+", "-") lines name nobody.
    if (l === '' || l.startsWith('#') || l.startsWith('+') || l.startsWith('-')) continue;
    out.push(l.split(':'));
  }
  return out;
}

export function parsePasswd(text: string | null): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const f of lines(text)) {
    if (!NUMERIC.test(f[2] ?? '') || !NUMERIC.test(f[3] ?? '')) continue;
    out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '' });
  }
  return out;
}

export function parseGroup(text: string | null): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const f of lines(text)) {
    if (!NUMERIC.test(f[2] ?? '')) continue;
    const members = (f[3] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    out.push({ name: f[0]!, gid: Number(f[2]), members });
  }
  return out;
}

function idInRange(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n > MAX_ID) throw invalidArgument(`${what} ${n} is out of range (0-${MAX_ID})`);
  return n;
}

/**
 * Resolves Docker's --user forms ("", "name", "uid", "name:group", "uid:gid", and
 * mixes) against the image's /etc/passwd and /etc/group, read inside rootfs.
 * - a numeric user is a uid, found in passwd or not (then gid 0, home "/");
 * - a name must be in passwd;
 * - without an explicit group, the user's passwd gid, plus every group that lists the
 *   user as a member as additional gids; with one, that group and no additional gids;
 * - a numeric group is a gid, found in group or not; a name must be in group.
 */
export function resolveUser(rootfs: string, user: string): User {
  const colon = user.indexOf(':');
  const userArg = colon < 0 ? user : user.slice(0, colon);
  const groupArg = colon < 0 ? '' : user.slice(colon + 1);
  const passwd = parsePasswd(readFileInRoot(rootfs, '/etc/passwd'));

  const out: User = { uid: 0, gid: 0, additionalGids: [], home: '/' };
  const userNumeric = NUMERIC.test(userArg);
  const want = userArg === '' ? 0 : userNumeric ? Number(userArg) : undefined;
  const entry = passwd.find((p) => (want !== undefined ? p.uid === want : p.name === userArg));
  let matchedName: string | undefined;
  if (entry) {
    matchedName = entry.name;
    out.uid = entry.uid;
    out.gid = entry.gid;
    out.home = entry.home || '/';
  } else if (userArg !== '') {
    if (!userNumeric) {
      throw invalidArgument(`unable to find user ${userArg}: no matching entries in passwd file`, { op: 'create', name: userArg });
    }
    out.uid = idInRange(Number(userArg), 'uid');
  }

  if (groupArg === '' && matchedName === undefined) return out;
  const groups = parseGroup(readFileInRoot(rootfs, '/etc/group'));
  if (groupArg === '') {
    out.additionalGids = groups.filter((g) => g.members.includes(matchedName!)).map((g) => g.gid);
    return out;
  }
  const groupNumeric = NUMERIC.test(groupArg);
  const g = groups.find((x) => (groupNumeric ? x.gid === Number(groupArg) : x.name === groupArg));
  if (g) {
    out.gid = g.gid;
  } else if (groupNumeric) {
    out.gid = idInRange(Number(groupArg), 'gid');
  } else {
    throw invalidArgument(`unable to find group ${groupArg}: no matching entries in group file`, { op: 'create', name: groupArg });
  }
  return out;
}
