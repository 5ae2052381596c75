// runtime.ts: the OCI runtime binary (crun or runc) behind a small async API. Every
// call passes a private `--root` state directory, so stowage's containers never mix
// with Docker's or Podman's, and asks for the runtime's own errors as JSON lines in
// a log file (so a container that prints "permission denied" is not mistaken for one
// that could not start).
//
// crun on a hybrid cgroup host. crun (1.8.1, and still upstream) refuses to enter a
// cgroup when /sys/fs/cgroup is the v1 tmpfs with a cgroup2 mount at
// /sys/fs/cgroup/unified that has any controller enabled ("cgroups in hybrid mode not
// supported, drop all controllers from cgroupv2"), whatever --cgroup-manager says:
// the check runs before the manager is chosen. It tells the layout apart only by
// statfs("/sys/fs/cgroup/unified"). So on such a host stowage starts crun in a mount
// namespace of its own (unshare -m, slave propagation: the host's mounts and unmounts
// still reach it, nothing flows back) where /sys/fs/cgroup/unified is unmounted: crun
// then sees a plain v1 host and manages the v1 controllers with cgroupfs, which is
// what runc and Docker use here too. The cost is one small helper process per call
// (build/Release/stowage_nsrun, from native/nsrun.c; without it unshare + sh + umount;
// figures in docs/runtime.md). When that is not possible (no unshare, not root),
// findRuntime falls back to runc and says why in RuntimeInfo.reason.
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { basename, delimiter, join } from 'node:path';
import { conflict, failedPrecondition, internal, invalidArgument, notFound, errnoCode } from '../errors.js';
import { CGROUP2_SUPER_MAGIC, TMPFS_MAGIC } from './spec.js';
import { findInPackage } from '../util/sys.js';

export type RuntimeName = 'crun' | 'runc';

export interface RuntimeInfo {
  name: RuntimeName;
  path: string;
  /** First line of `<runtime> --version`; read on first use (one process start saved per command). */
  version: string;
  /** Why this runtime, and how it is run here (e.g. the hybrid-cgroup workaround). */
  reason: string;
  /** argv that runs the runtime binary: [path] or a wrapper ending in path. */
  argv: string[];
}

export type ContainerStatus = 'creating' | 'created' | 'running' | 'stopped' | 'paused';

/** Directories searched after $PATH: node's PATH may lack the sbin ones (runc is in /usr/sbin). */
const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function which(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SYSTEM_DIRS];
  for (const d of dirs) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch { /* next */ }
  }
  return undefined;
}

export interface CgroupLayout {
  mode: 'v1' | 'v2' | 'hybrid';
  /** Controllers enabled on the hybrid layout's cgroup2 mount (what crun objects to). */
  unifiedControllers: string[];
}

export function cgroupLayout(): CgroupLayout {
  let root: number;
  try {
    root = statfsSync('/sys/fs/cgroup').type;
  } catch {
    return { mode: 'v1', unifiedControllers: [] };
  }
  if (root === CGROUP2_SUPER_MAGIC) return { mode: 'v2', unifiedControllers: [] };
  if (root !== TMPFS_MAGIC) return { mode: 'v1', unifiedControllers: [] };
  try {
    if (statfsSync('/sys/fs/cgroup/unified').type !== CGROUP2_SUPER_MAGIC) return { mode: 'v1', unifiedControllers: [] };
  } catch {
    return { mode: 'v1', unifiedControllers: [] };
  }
  let ctl = '';
  try {
    ctl = readFileSync('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8');
  } catch { /* none readable: treat as none */ }
  return { mode: 'hybrid', unifiedControllers: ctl.split(/\s+/).filter(Boolean) };
}

/** The shell line run inside the private mount namespace: hide the cgroup2 mount, then
 *  become the runtime ($0) with its arguments. `umount -l`: never fails on a busy mount. */
const HIDE_UNIFIED = 'umount -l /sys/fs/cgroup/unified && exec "$0" "$@"';

function crunArgv(path: string): { argv: string[]; note: string } | { error: string } {
  const layout = cgroupLayout();
  if (layout.mode !== 'hybrid' || layout.unifiedControllers.length === 0) return { argv: [path], note: `cgroup ${layout.mode}` };
  const why = `hybrid cgroup layout with controllers on cgroup2 (${layout.unifiedControllers.join(' ')}), which crun refuses`;
  if (process.getuid?.() !== 0) return { error: `${why}; hiding them needs root` };
  // Stowage's own helper (native/nsrun.c) does it in one small process; unshare + sh +
  // umount (util-linux) is the fallback when the helper is not built.
  const nsrun = findInPackage('build/Release/stowage_nsrun');
  if (nsrun) return { argv: [nsrun, path], note: `${why}: crun runs in a mount namespace without /sys/fs/cgroup/unified and uses cgroup v1` };
  const unshare = which('unshare');
  const sh = which('sh');
  if (!unshare || !sh || !which('umount')) return { error: `${why}; hiding them needs unshare, sh and umount (util-linux)` };
  return {
    argv: [unshare, '--mount', '--propagation', 'slave', '--', sh, '-c', HIDE_UNIFIED, path],
    note: `${why}: crun runs in a mount namespace without /sys/fs/cgroup/unified and uses cgroup v1`,
  };
}

function info(name: RuntimeName, path: string, argv: string[], reason: string): RuntimeInfo {
  let version: string | undefined;
  return {
    name, path, argv, reason,
    get version(): string {
      if (version === undefined) {
        const r = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000 });
        version = (r.stdout ?? '').split('\n').find((l) => /version/i.test(l))?.trim() ?? 'unknown';
      }
      return version;
    },
  };
}

const INSTALL_HINT = 'install one: apt-get install crun (or: apt-get install runc)';

/**
 * crun when installed and usable here, else runc. `preferred` ("crun", "runc" or a path
 * to one of them) forces that one: FailedPrecondition when it is missing or cannot run here.
 */
export function findRuntime(preferred?: string): RuntimeInfo {
  if (preferred !== undefined && preferred !== '') {
    const path = preferred.includes('/') ? preferred : which(preferred);
    const base = basename(preferred);
    const name: RuntimeName | undefined = base.startsWith('crun') ? 'crun' : base.startsWith('runc') ? 'runc' : undefined;
    if (!name) throw invalidArgument(`unknown runtime ${JSON.stringify(preferred)}: stowage runs crun or runc`, { name: preferred });
    if (!path) throw failedPrecondition(`runtime ${name} not found: apt-get install ${name}`, { name });
    try {
      accessSync(path, constants.X_OK);
    } catch (err) {
      throw failedPrecondition(`runtime ${path} is not executable`, { name, cause: err });
    }
    if (name === 'runc') return info('runc', path, [path], 'runc (requested)');
    const c = crunArgv(path);
    if ('error' in c) throw failedPrecondition(`crun cannot run containers here: ${c.error}; use --runtime runc`, { name });
    return info('crun', path, c.argv, `crun (requested); ${c.note}`);
  }
  const crun = which('crun');
  const runc = which('runc');
  let skipped = '';
  if (crun) {
    const c = crunArgv(crun);
    if (!('error' in c)) return info('crun', crun, c.argv, `crun (preferred); ${c.note}`);
    skipped = `crun skipped: ${c.error}; `;
  }
  if (runc) return info('runc', runc, [runc], `${skipped}runc${crun ? '' : ' (crun not installed)'}`);
  throw failedPrecondition(`no OCI runtime found: ${skipped}${INSTALL_HINT}`);
}

interface Result { code: number; stdout: string; stderr: string }

/** The messages of a runtime's JSON log (`--log-format json`), one per line; plain lines kept as they are. */
export function readRuntimeLog(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return '';
    throw err;
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const j = JSON.parse(line) as { msg?: unknown; level?: unknown };
      if (typeof j.msg === 'string' && (j.level === undefined || j.level === 'error' || j.level === 'fatal')) out.push(j.msg);
    } catch {
      out.push(line);
    }
  }
  return out.join('\n');
}

const NOT_EXIST = /does not exist|not exist|no such file or directory|not found/i;

export class OciRuntime {
  constructor(readonly info: RuntimeInfo, readonly stateRoot: string) {}

  private spawn(args: string[], stdio: StdioOptions): ChildProcess {
    const [cmd, ...pre] = this.info.argv;
    return spawn(cmd!, [...pre, '--root', this.stateRoot, ...args], { stdio });
  }

  private call(args: string[]): Promise<Result> {
    return new Promise((resolve, reject) => {
      const c = this.spawn(args, ['ignore', 'pipe', 'pipe']);
      let stdout = '';
      let stderr = '';
      c.stdout!.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
      c.stderr!.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
      c.on('error', reject);
      c.on('close', (code, sig) => resolve({ code: code ?? 128 + (sig ? 9 : 0), stdout, stderr: stderr.trim() }));
    });
  }

  /** Global log options: runc takes a path; crun a "file:" URL-ish form. */
  private logArgs(path: string | undefined): string[] {
    if (!path) return [];
    return this.info.name === 'crun' ? [`--log=file:${path}`, '--log-format=json'] : ['--log', path, '--log-format', 'json'];
  }

  /** Where `run`/`create` write the runtime's own errors for this bundle (containerd's name). */
  static logPath(bundle: string): string {
    return join(bundle, 'log.json');
  }

  /**
   * `run` in the foreground: the container's process is a child of the returned
   * process, which exits with the container's exit code (128+n for a signal), or 1
   * when the container could not start (then see startFailureCode). stdio 'pipe' gives
   * stdin/stdout/stderr pipes; 'inherit' passes ours (a terminal when process.terminal).
   * The runtime deletes its state when the container exits.
   */
  run(id: string, bundle: string, stdio: 'inherit' | 'pipe', opts: { tty?: boolean; log?: string | false; consoleSocket?: string } = {}): ChildProcess {
    const log = opts.log === false ? undefined : opts.log ?? OciRuntime.logPath(bundle);
    // --console-socket: the runtime sends the terminal's master there (crun also in the
    // foreground; runc refuses it unless detached, see consoleInForeground).
    const cs = opts.consoleSocket ? ['--console-socket', opts.consoleSocket] : [];
    return this.spawn([...this.logArgs(log), 'run', ...cs, '--bundle', bundle, id], stdio);
  }

  /**
   * Whether `run`/`exec` in the foreground (the runtime stays the process's parent, so
   * its exit code is the process's) accept --console-socket: crun does; runc refuses
   * ("cannot use console socket if runc will not detach"). Without it the runtime
   * copies between its own stdio and the terminal, and the terminal's size cannot be set.
   */
  get consoleInForeground(): boolean {
    return this.info.name === 'crun';
  }

  /**
   * `create` then `start` (detached): the container's stdio are the given file
   * descriptors (or /dev/null). Resolves when the container is created; its exit code
   * is not kept by the runtime (a caller that needs it watches `run` instead).
   */
  async create(id: string, bundle: string, opts: { stdio?: Array<number | 'ignore'>; log?: string } = {}): Promise<void> {
    const log = opts.log ?? OciRuntime.logPath(bundle);
    const fds = opts.stdio ?? ['ignore', 'ignore', 'ignore'];
    // Wait for 'exit', not 'close': the container keeps the stdio it inherited.
    const code = await new Promise<number>((resolve, reject) => {
      const c = this.spawn([...this.logArgs(log), 'create', '--bundle', bundle, id], fds);
      c.on('error', reject);
      c.on('exit', (code) => resolve(code ?? 1));
    });
    if (code !== 0) throw this.failure('create', id, readRuntimeLog(log));
  }

  async start(id: string): Promise<void> {
    const r = await this.call(['start', id]);
    if (r.code !== 0) throw this.failure('start', id, r.stderr);
  }

  /** Both runtimes keep a container's state in <root>/<id>/: no directory, no container.
   *  Saves a runtime start (4-7 ms) on the common "delete whatever is left" call. */
  private known(id: string): boolean {
    return existsSync(join(this.stateRoot, id));
  }

  async state(id: string): Promise<{ status: ContainerStatus; pid: number } | null> {
    if (!this.known(id)) return null;
    const r = await this.call(['state', id]);
    if (r.code !== 0) {
      if (NOT_EXIST.test(r.stderr)) return null;
      throw this.failure('state', id, r.stderr);
    }
    let j: { status?: unknown; pid?: unknown };
    try {
      j = JSON.parse(r.stdout) as typeof j;
    } catch (err) {
      throw internal(`${this.info.name} state ${id}: unreadable output`, { op: 'state', name: id, cause: err });
    }
    return { status: String(j.status) as ContainerStatus, pid: typeof j.pid === 'number' ? j.pid : 0 };
  }

  /** Sends a signal ("TERM", "SIGKILL", "9") to the container's init, or with `all` to every process in it. */
  async kill(id: string, signal: string, opts: { all?: boolean } = {}): Promise<void> {
    const r = await this.call(['kill', ...(opts.all ? ['--all'] : []), id, signal.replace(/^SIG/i, '')]);
    if (r.code !== 0) throw this.failure('kill', id, r.stderr);
  }

  /** The host pids of the container's processes (`ps --format json`: both runtimes read the cgroup). */
  async pids(id: string): Promise<number[]> {
    const r = await this.call(['ps', '--format', 'json', id]);
    if (r.code !== 0) throw this.failure('ps', id, r.stderr);
    try {
      const j = JSON.parse(r.stdout || '[]') as unknown;
      return Array.isArray(j) ? j.filter((x): x is number => typeof x === 'number') : [];
    } catch (err) {
      throw internal(`${this.info.name} ps ${id}: unreadable output`, { op: 'ps', name: id, cause: err });
    }
  }

  /** Removes the runtime's state of a stopped container (`force`: kills a running one first). Missing is fine. */
  async delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    if (!this.known(id)) return;
    const r = await this.call(['delete', ...(opts.force ? ['--force'] : []), id]);
    if (r.code !== 0 && !NOT_EXIST.test(r.stderr)) throw this.failure('delete', id, r.stderr);
  }

  /**
   * Runs a process (an OCI `process` object, see buildProcess) in a running container.
     * Exit code: the process's, or 1 (runc, crun) when it could not start.
   */
  exec(id: string, proc: object, stdio: 'inherit' | 'pipe', opts: { tty?: boolean; detach?: boolean; log?: string; consoleSocket?: string } = {}): ChildProcess {
    // The process JSON goes through a private temporary file: a pipe on an extra fd
    // would do, but Node's 'pipe' stdio is a socketpair, which /proc/self/fd/N cannot open.
    const file = join(tmpdir(), `stowage-exec-${process.pid}-${randomBytes(6).toString('hex')}.json`);
    writeFileSync(file, JSON.stringify(proc), { mode: 0o600, flag: 'wx' });
    const args = [...this.logArgs(opts.log), 'exec', '--process', file];
    if (opts.tty) args.push('--tty');
    if (opts.consoleSocket) args.push('--console-socket', opts.consoleSocket);
    if (opts.detach) args.push('--detach');
    let c: ChildProcess;
    try {
      c = this.spawn([...args, id], stdio === 'inherit' ? 'inherit' : 'pipe');
    } catch (err) {
      rmSync(file, { force: true });
      throw err;
    }
    const drop = () => rmSync(file, { force: true });
    c.once('exit', drop);
    c.once('error', drop);
    return c;
  }

  private failure(op: string, id: string, msg: string) {
    const text = `${this.info.name} ${op} ${id}: ${msg || 'failed'}`;
    if (NOT_EXIST.test(msg)) return notFound(text, { op, name: id });
    if (/not running|container .* is stopped|is not running/i.test(msg)) return conflict(text, { op, name: id });
    return internal(text, { op, name: id });
  }

  /** Removes a log file written for this container's bundle (idempotent). */
  static removeLog(bundle: string): void {
    rmSync(OciRuntime.logPath(bundle), { force: true });
  }
}

/**
 * Docker's exit codes for a process that could not start: 127 when the executable is
 * not found, 126 when it cannot be executed (not executable, a directory). Reads the
 * runtime's messages only (runc: `exec: "X": ...`; crun: "executable file `X` not
 * found", "open executable: ..."), so a container that itself prints "permission
 * denied" keeps its own exit code.
 */
export function startFailureCode(runtimeStderr: string): 126 | 127 | undefined {
  const s = runtimeStderr;
  if (/executable file .{0,4096}not found/i.test(s)) return 127;
  if (/exec: "[^"\n]*": (stat [^\n]*: )?no such file or directory/i.test(s)) return 127;
  if (/exec: "[^"\n]*": (permission denied|is a directory)/i.test(s)) return 126;
  if (/open executable: (permission denied|operation not permitted|is a directory)/i.test(s)) return 126;
  if (/exec `[^`\n]*`: (permission denied|is a directory)/i.test(s)) return 126;
  return undefined;
}
