// dockerd.ts: a private, throw-away Docker engine for tests and benchmarks, so that
// stowage can be compared with (and checked against) the real thing on the same host.
//
// Isolation, and why each piece is there:
// - its own containerd, started here and handed over with --containerd. dockerd 20.10
//   only starts a private containerd when /run/containerd/containerd.sock does not exist;
//   if a system containerd is running it silently shares it (and its "moby" namespace).
// - its own data root, exec root, pid file, socket and an empty --config-file, so
//   /etc/docker/daemon.json and /var/lib/docker are never read or written.
// - no networking set-up (--bridge=none, --iptables=false, --ip-masq=false).
// - the docker CLI gets a private DOCKER_CONFIG and no DOCKER_* variables.
// Everything lives under one mkdtemp directory in /tmp (short: unix socket paths are
// limited to 108 bytes) unless the data root is placed elsewhere with `dataParent`.
//
// launchDockerd() is usable anywhere (bench/ uses it); startDockerd(t) is the node:test
// form that registers stop() with t.after. stop() is idempotent, and a process 'exit'
// hook kills and unmounts synchronously if a caller never got to call it.
import type { TestContext } from 'node:test';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, existsSync, readdirSync, openSync, closeSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface DockerRunOptions {
  /** Bytes for the command's standard input. */
  input?: Buffer | string;
  /** Throw (with stderr in the message) when the exit code is not 0. Default false. */
  check?: boolean;
  /** Kill the command after this long. Default 10 minutes. */
  timeoutMs?: number;
  /** Kill the command when this aborts (the promise then rejects). */
  signal?: AbortSignal;
}

export interface DockerResult {
  stdout: Buffer;
  stderr: string;
  code: number;
}

export interface Dockerd {
  /** The -H value: unix:///tmp/…/docker.sock */
  host: string;
  /** dockerd's data root. */
  dataRoot: string;
  /** Runs the docker CLI against this daemon. */
  docker(args: string[], opts?: DockerRunOptions): Promise<DockerResult>;
  /** The daemon's (and its containerd's) log so far. */
  log(): string;
  /** SIGTERM, wait, SIGKILL if needed; unmount what is left; remove the directories. Idempotent. */
  stop(): Promise<void>;
}

export interface LaunchOptions {
  storageDriver?: string;
  /** Directory under which the data root is made (default: the private /tmp directory). */
  dataParent?: string;
  /** How long to wait for `docker version` to answer. Default 60 s. */
  startTimeoutMs?: number;
  /** Extra dockerd arguments. */
  extraArgs?: string[];
}

/** Why this machine cannot run a private dockerd, or null when it can. */
export function dockerMissing(): string | null {
  if (process.getuid?.() !== 0) return 'a private dockerd needs root';
  for (const bin of ['dockerd', 'containerd', 'docker', 'runc']) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) return `${bin} is not installed`;
  }
  return null;
}

export function dockerAvailable(): boolean {
  return dockerMissing() === null;
}

/** A child environment with no DOCKER_* / CONTAINERD_* settings that could redirect the CLI. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('DOCKER_') && !k.startsWith('CONTAINERD_')) env[k] = v;
  }
  return { ...env, ...extra };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0); treat it as gone.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Processes whose command line names `marker` (containerd shims carry the socket path). */
function pidsMentioning(marker: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(marker)) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Mount points at or below any of dirs, deepest first. */
function mountsBelow(dirs: string[]): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4]?.replace(/\\040/g, ' ');
    if (mp && dirs.some((d) => mp === d || mp.startsWith(d + '/'))) out.push(mp);
  }
  return out.sort((a, b) => b.length - a.length);
}

function unmountBelow(dirs: string[]): void {
  // Several passes: a path can be mounted more than once (stacked mounts).
  for (let pass = 0; pass < 5; pass++) {
    const mps = mountsBelow(dirs);
    if (mps.length === 0) return;
    for (const mp of mps) {
      if (spawnSync('umount', [mp]).status !== 0) spawnSync('umount', ['-l', mp]);
    }
  }
}

// Daemons not yet stopped, for the synchronous exit hook below. This is the one piece of
// module state: it exists because a test process that crashes must not leave a dockerd
// running with overlay mounts on the machine.
const live = new Set<{ pids: () => number[]; dirs: string[]; marker: string }>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const d of live) {
      for (const pid of [...d.pids(), ...pidsMentioning(d.marker)]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      unmountBelow(d.dirs);
      for (const dir of d.dirs) rmSync(dir, { recursive: true, force: true });
    }
  });
}

function tail(file: string, bytes = 6000): string {
  try {
    const s = readFileSync(file, 'utf8');
    return s.length > bytes ? '…' + s.slice(-bytes) : s;
  } catch {
    return '(no log)';
  }
}

/** Waits for a child to exit, up to ms; true when it did. */
async function waitExit(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await sleep(50);
  }
  return !alive(pid);
}

async function terminate(child: ChildProcess | undefined, graceMs: number): Promise<void> {
  const pid = child?.pid;
  if (pid === undefined || child?.exitCode !== null || !alive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await waitExit(pid, graceMs)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  await waitExit(pid, 5000);
}

export function runDocker(host: string, configDir: string, args: string[], opts: DockerRunOptions = {}): Promise<DockerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', ['-H', host, ...args], {
      env: cleanEnv({ DOCKER_CONFIG: configDir }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 600_000);
    const onAbort = (): void => void child.kill('SIGKILL');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (opts.signal?.aborted) return reject(new Error(`docker ${args[0] ?? ''} aborted`, { cause: opts.signal.reason }));
      const res: DockerResult = { stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8'), code: code ?? 128 + (signal ? 9 : 0) };
      if (opts.check && res.code !== 0) reject(new Error(`docker ${args.join(' ')} exited ${res.code}: ${res.stderr.trim()}`));
      else resolve(res);
    });
    child.stdin.on('error', () => {}); // the command may exit before reading its input
    child.stdin.end(opts.input ?? '');
  });
}

/** Starts a private dockerd (with its own containerd) and waits until it answers. */
export async function launchDockerd(opts: LaunchOptions = {}): Promise<Dockerd> {
  const missing = dockerMissing();
  if (missing) throw new Error(`cannot start dockerd: ${missing}`);
  installExitHook();

  const base = mkdtempSync('/tmp/sdk-');
  const dataRoot = opts.dataParent ? mkdtempSync(join(opts.dataParent, 'dockerd-data-')) : join(base, 'data');
  const execRoot = join(base, 'exec');
  const ctrRoot = join(base, 'containerd');
  const ctrSock = join(base, 'containerd.sock');
  const sock = join(base, 'docker.sock');
  const host = `unix://${sock}`;
  const cliConfig = join(base, 'cli');
  const dockerdLog = join(base, 'dockerd.log');
  const ctrLog = join(base, 'containerd.log');
  for (const d of [dataRoot, execRoot, join(ctrRoot, 'root'), join(ctrRoot, 'state'), join(ctrRoot, 'opt'), cliConfig]) mkdirSync(d, { recursive: true });
  // The trust key would otherwise be created as /etc/docker/key.json (no flag sets it in 20.10).
  writeFileSync(join(base, 'daemon.json'), JSON.stringify({ 'deprecated-key-path': join(base, 'key.json') }) + '\n');
  writeFileSync(join(cliConfig, 'config.json'), '{}\n');
  // containerd config: everything under ctrRoot; the CRI plugin is Kubernetes-only
  // and would otherwise try to set up CNI; the "opt" plugin would install to /opt/containerd.
  writeFileSync(
    join(ctrRoot, 'config.toml'),
    [
      'version = 2',
      `root = ${JSON.stringify(join(ctrRoot, 'root'))}`,
      `state = ${JSON.stringify(join(ctrRoot, 'state'))}`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = ${JSON.stringify(ctrSock)}`,
      '[ttrpc]',
      `  address = ${JSON.stringify(ctrSock + '.ttrpc')}`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      '[plugins]',
      '  [plugins."io.containerd.internal.v1.opt"]',
      `    path = ${JSON.stringify(join(ctrRoot, 'opt'))}`,
      '',
    ].join('\n'),
  );

  // dockerd 20.10 always creates /run/docker/plugins (plugin discovery, a fixed path).
  // Remove it again on stop if it was not there before and is still empty.
  const hadRunDocker = existsSync('/run/docker');
  const dirs = opts.dataParent ? [base, dataRoot] : [base];
  let containerd: ChildProcess | undefined;
  let dockerd: ChildProcess | undefined;
  const entry = { pids: () => [dockerd?.pid, containerd?.pid].filter((p): p is number => p !== undefined), dirs, marker: base };
  live.add(entry);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      // dockerd first: it stops its containers and unmounts its layers on SIGTERM.
      await terminate(dockerd, 20_000);
      await terminate(containerd, 10_000);
      for (const pid of pidsMentioning(base)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
        await waitExit(pid, 5000);
      }
      unmountBelow(dirs);
      const left = mountsBelow(dirs);
      live.delete(entry);
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
      if (!hadRunDocker) {
        for (const d of ['/run/docker/plugins', '/run/docker']) {
          try {
            rmdirSync(d);
          } catch {
            break; // not empty or not there: leave it
          }
        }
      }
      if (left.length) throw new Error(`dockerd left mounts that could not be removed: ${left.join(', ')}`);
    })());

  const log = (): string => `--- dockerd.log\n${tail(dockerdLog)}\n--- containerd.log\n${tail(ctrLog)}`;
  const spawnLogged = (cmd: string, args: string[], logFile: string): ChildProcess => {
    const fd = openSync(logFile, 'a');
    // detached: a Ctrl-C in the terminal goes to our process group only; the daemon
    // is stopped in order by stop() rather than dying mid-way with its mounts.
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], detached: true, env: cleanEnv({}) });
    closeSync(fd);
    child.unref();
    child.on('error', () => {});
    return child;
  };

  try {
    containerd = spawnLogged('containerd', ['--config', join(ctrRoot, 'config.toml'), '--log-level', 'warn'], ctrLog);
    const timeout = opts.startTimeoutMs ?? 60_000;
    const t0 = Date.now();
    while (!existsSync(ctrSock)) {
      if (containerd.exitCode !== null || Date.now() - t0 > timeout) throw new Error(`containerd did not start`);
      await sleep(25);
    }
    dockerd = spawnLogged(
      'dockerd',
      [
        '--data-root', dataRoot,
        '--exec-root', execRoot,
        '-H', host,
        '--pidfile', join(base, 'dockerd.pid'),
        '--config-file', join(base, 'daemon.json'),
        '--containerd', ctrSock,
        '--storage-driver', opts.storageDriver ?? 'overlay2',
        '--iptables=false', '--ip6tables=false', '--ip-masq=false', '--bridge=none',
        '--shutdown-timeout', '5',
        ...(opts.extraArgs ?? []),
      ],
      dockerdLog,
    );
    for (;;) {
      if (dockerd.exitCode !== null) throw new Error(`dockerd exited with code ${dockerd.exitCode}`);
      if (existsSync(sock)) {
        const v = await runDocker(host, cliConfig, ['version', '--format', '{{.Server.Version}}'], { timeoutMs: 10_000 });
        if (v.code === 0) break;
      }
      if (Date.now() - t0 > timeout) throw new Error(`dockerd did not answer within ${timeout} ms`);
      await sleep(100);
    }
  } catch (e) {
    const msg = `${(e as Error).message}\n${log()}`;
    await stop().catch(() => {});
    throw new Error(msg, { cause: e });
  }

  return {
    host,
    dataRoot,
    docker: (args, o) => runDocker(host, cliConfig, args, o),
    log,
    stop,
  };
}

/** launchDockerd for node:test: stopped (and cleaned up) after the test, also when it fails. */
export async function startDockerd(t: TestContext, opts: LaunchOptions = {}): Promise<Dockerd> {
  const d = await launchDockerd(opts);
  t.after(() => d.stop());
  return d;
}
