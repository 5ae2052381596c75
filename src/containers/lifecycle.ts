// lifecycle.ts: starting, watching, stopping and reconciling containers.
//
// There is no daemon. Whoever starts a container watches it: `run` in the
// foreground watches it itself; `start` and `run -d` spawn a small detached
// monitor process (`stowage __monitor ID`). The watcher records the state
// (running, then exited with its code), keeps the logs, and on the way out
// deletes the runtime's state, releases the rootfs mount and honours --rm.
//
// The watcher writes its owner token into State.Monitor. If it dies (SIGKILL,
// host crash), the next command that looks at containers finds a "running"
// container whose monitor is gone and reconciles: kills what is left, releases
// the mount, marks it exited. A claim on State.Monitor (in one transaction)
// makes sure only one process finalizes a container.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import { join } from 'node:path';
import type { Engine } from '../engine.js';
import type { ContainerRecord, ContainerState } from './types.js';
import { mountRootfs, releaseRootfs, writeEtcFiles } from './rootfs.js';
import { LogWriter } from './logs.js';
import { releaseMounts } from './mounts.js';
import { buildSpec, resolveUser } from '../runtime/spec.js';
import { startFailureCode, type OciRuntime } from '../runtime/runtime.js';
import { AttachHub, consoleSocketPath } from './monitor.js';
import { ptyAvailable, ptyNative, spawnWithConsole } from '../util/pty.js';
import { containerEvent } from '../events/actors.js';
import { ownerAlive, ownerToken } from '../store/owner.js';
import { StowageError, failedPrecondition, conflict } from '../errors.js';
import { failpoint } from '../util/failpoint.js';

export interface AttachOptions {
  /** Where the container's output goes besides the log and the attach socket (foreground run). */
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** Local input (foreground run -i); used only when the container has OpenStdin. */
  stdin?: NodeJS.ReadableStream;
  /** The local side is a terminal (foreground run -t). With a runtime that cannot hand
   *  the terminal over in the foreground (runc), the runtime is given it directly. */
  tty?: boolean;
  /** The terminal's size at start (the local terminal's), rows and columns. */
  consoleSize?: { height: number; width: number };
}

/** What a foreground watcher can do with the running container. */
export interface WatchControls {
  /** Sets the container's terminal size (a container with a terminal). */
  resize(rows: number, cols: number): void;
}

/** Writes config.json into the container's folder (the OCI bundle) for its current config. */
async function writeBundle(engine: Engine, c: ContainerRecord, rootfs: string, consoleSize?: { height: number; width: number }): Promise<string> {
  const bundle = engine.layout.container(c.Id);
  mkdirSync(bundle, { recursive: true });
  const etc = writeEtcFiles(engine, c);
  // buildSpec adds PATH, HOSTNAME, HOME (and TERM with a terminal) as Docker does.
  const env = [...(c.Config.Env ?? [])];
  const user = resolveUser(rootfs, c.Config.User ?? '');
  const extra = await engine.containers.extraMounts(c, rootfs);
  const spec = buildSpec({
    id: c.Id,
    rootfs,
    readonlyRootfs: c.HostConfig.ReadonlyRootfs,
    args: [c.Path, ...c.Args],
    env,
    cwd: c.Config.WorkingDir || '/',
    user,
    terminal: c.Config.Tty,
    hostname: c.Config.Hostname || c.Id.slice(0, 12),
    network: c.HostConfig.NetworkMode === 'host' ? 'host' : 'none',
    mounts: [...etc, ...extra],
    labels: c.Config.Labels ?? {},
    cgroupsPath: `/stowage/${c.Id}`,
    ...(consoleSize ? { consoleSize } : {}),
  });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
  return bundle;
}

/**
 * Starts the container and watches it until it exits; returns its exit code.
 * Used by foreground `run` / `start -a` and by the monitor process. The watcher owns
 * the container's stdio and serves it on the attach socket (monitor.ts).
 */
export async function runAndWatch(engine: Engine, id: string, attach: AttachOptions = {}, onStarted?: (c: ContainerRecord, controls: WatchControls) => void): Promise<number> {
  const store = engine.containerStore;
  // Claim: only one watcher per container.
  const c = store.updateState(id, (s) => {
    if (s.Running && ownerAlive(s.Monitor)) throw conflict(`container ${id.slice(0, 12)} is already running`, { name: id });
    return { ...s, Monitor: ownerToken(), Error: '' };
  });
  const runtime = engine.runtime(c.HostConfig.Runtime || undefined);
  const tty = c.Config.Tty;
  const hub = new AttachHub(engine, c);
  let rootfs: string;
  let child: ChildProcess;
  let masterFd: number | null = null;
  const logPath = join(engine.layout.container(c.Id), `${c.Id}-json.log`);
  let log: LogWriter | undefined;
  let stderrText = '';
  let mode: 'pipe' | 'console' | 'inherit' = 'pipe';
  try {
    rootfs = mountRootfs(engine, c, 'claim').root;
    failpoint('run:mounted');
    await hub.listen();
    // Clients that attached before the start get the first byte (see monitor.ts); a
    // size one of them sent is the terminal's initial size.
    await hub.waitForPending();
    const bundle = await writeBundle(engine, c, rootfs, attach.consoleSize ?? hub.size);
    await runtime.delete(c.Id, { force: true }).catch(() => {});
    log = new LogWriter(logPath);
    // A terminal: the pty master comes to us over --console-socket when the runtime
    // allows it in the foreground (crun); otherwise the runtime copies between its
    // stdio and the terminal (runc: our pipes, or the local terminal itself).
    if (tty) mode = runtime.consoleInForeground && ptyAvailable() ? 'console' : attach.tty ? 'inherit' : 'pipe';
    if (mode === 'console') {
      const r = await runWithConsole(engine, runtime, c.Id, bundle);
      child = r.child;
      masterFd = r.fd;
    } else {
      child = runtime.run(c.Id, bundle, mode === 'inherit' ? 'inherit' : 'pipe', { tty });
    }
  } catch (err) {
    hub.close();
    log?.close();
    await finalize(engine, id, { exitCode: 125, error: (err as Error).message });
    throw err;
  }
  const startedAt = new Date().toISOString();
  const running = store.updateState(id, (s) => ({ ...s, Status: 'running', Running: true, Pid: child.pid ?? 0, StartedAt: startedAt, FinishedAt: '0001-01-01T00:00:00Z', ExitCode: 0 }));
  if (attach.stdout || attach.stderr) containerEvent(engine, running, 'attach');
  containerEvent(engine, running, 'start');
  const emit = (stream: 'stdout' | 'stderr', b: Buffer) => {
    log!.write(stream, b);
    (stream === 'stdout' ? attach.stdout : attach.stderr)?.write(b);
    hub.output(stream, b);
  };
  // The runtime's own stderr (all of the container's stderr with pipes) is kept for
  // startFailureCode: 126/127 when the command could not be run.
  const onStderr = (b: Buffer) => { if (stderrText.length < 8192) stderrText += b.toString('utf8'); emit('stderr', b); };
  let masterDone: Promise<void> = Promise.resolve();
  if (mode === 'pipe') {
    child.stdout?.on('data', (b: Buffer) => emit('stdout', b));
    child.stderr?.on('data', onStderr);
    child.stdin?.on('error', () => {});
    // With a terminal (runc copying for us) stdin is never closed, as Docker leaves a terminal open.
    hub.setStdin(child.stdin ? { write: (b) => { child.stdin!.write(b); }, end: () => { if (!tty) child.stdin!.end(); } } : undefined);
  } else if (mode === 'console') {
    child.stdout?.on('data', (b: Buffer) => emit('stdout', b));
    child.stderr?.on('data', onStderr);
    child.stdin?.end();
    if (masterFd !== null) {
      const fd = masterFd;
      const master = new ReadStream(fd);
      master.on('data', (b: Buffer) => emit('stdout', b));
      // Nothing is ever written to the terminal but what a client sends: closing stdin
      // leaves a terminal open (as Docker), and no byte is sent at start (issue 16's NUL).
      hub.setStdin({ write: (b) => { master.write(b); }, end: () => {} });
      hub.setResizer((rows, cols) => ptyNative().setWinsize(fd, rows, cols));
      // The master reads EIO once the last process holding the terminal is gone.
      masterDone = new Promise((resolve) => { master.once('close', () => resolve()); master.once('error', () => { master.destroy(); resolve(); }); master.once('end', () => { master.destroy(); resolve(); }); });
    }
  }
  if (attach.stdin && mode !== 'inherit') {
    attach.stdin.on('data', (b: Buffer) => hub.writeStdin(Buffer.from(b)));
    attach.stdin.on('end', () => hub.closeStdin());
  }
  onStarted?.(running, { resize: (rows, cols) => hub.resize(rows, cols) });
  failpoint('run:started');
  const code: number = await new Promise((resolve) => {
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 + (signalNumber(signal) ?? 9) : 255)));
    child.on('error', () => resolve(125));
  });
  // Output still in the terminal is read before the end is announced (bounded: a
  // process that escaped the container could hold the terminal open).
  await Promise.race([masterDone, new Promise((r) => setTimeout(r, 2000).unref())]);
  log?.close();
  const failed = code !== 0 ? startFailureCode(stderrText) : undefined;
  await hub.exit(failed ?? code);
  await finalize(engine, id, { exitCode: failed ?? code, error: failed ? stderrText.trim().split('\n').pop() ?? '' : '' });
  return failed ?? code;
}

/**
 * `run --console-socket` in the foreground: the runtime stays our child (its exit code
 * is the container's) and sends the terminal's master to a socket we listen on. The
 * listening socket is non-blocking and polled, so a runtime that fails before sending
 * anything is noticed by its exit.
 */
function runWithConsole(engine: Engine, runtime: OciRuntime, id: string, bundle: string): Promise<{ child: ChildProcess; fd: number | null }> {
  return spawnWithConsole(consoleSocketPath(engine, id), (socket) => runtime.run(id, bundle, 'pipe', { tty: true, consoleSocket: socket }));
}

/** A signal's number, for the 128+N exit code of a process killed by it. */
export function signalNumber(sig: string): number | undefined {
  const m: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGUSR1: 10, SIGUSR2: 12 };
  return m[sig];
}

/**
 * After the container's process is gone: delete the runtime's state, release the
 * rootfs mount, record the exit, honour --rm. Safe to call more than once.
 */
export async function finalize(engine: Engine, id: string, r: { exitCode: number; error: string }): Promise<void> {
  const c = engine.containerStore.get(id);
  if (!c) return;
  const runtime = engine.runtime(c.HostConfig.Runtime || undefined);
  await runtime.delete(c.Id, { force: true }).catch(() => {});
  await releaseMounts(engine, c);
  // force: finalize runs in the watcher (the owner) or in whoever claimed a dead watcher's container.
  try { releaseRootfs(engine, c, { force: true }); } catch { /* the ledger row stays: recovery retries */ }
  const after = engine.containerStore.updateState(id, (s) => ({
    ...s, Status: 'exited', Running: false, Pid: 0, ExitCode: r.exitCode, Error: r.error,
    FinishedAt: new Date().toISOString(), Monitor: undefined,
  } as ContainerState));
  // waitFor (wait.ts) reads the exit code from this event: a --rm container's row is gone soon.
  containerEvent(engine, after, 'die', { exitCode: String(r.exitCode), ...(r.error ? { error: r.error } : {}) });
  if (c.HostConfig.AutoRemove) {
    await engine.containers.remove(id, { force: true, volumes: true }).catch(() => {});
  }
}

/** Spawns the detached monitor for `start` / `run -d`, and waits until the container is running or failed. */
export async function startDetached(engine: Engine, id: string, bin: string, globalArgs: string[]): Promise<ContainerRecord> {
  const cursor = engine.events.cursor();
  const child = spawn(process.execPath, [bin, ...globalArgs, '__monitor', id], { detached: true, stdio: 'ignore' });
  child.unref();
  const started = Date.now();
  let last: ContainerRecord | undefined = engine.containerStore.get(id);
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    const c = engine.containerStore.get(id);
    if (!c) {
      // A --rm container whose process exits at once can be gone before this poll sees
      // it running: the event log says whether it started (then this start succeeded,
      // as dockerd answers `docker run --rm -d`) or failed.
      const mine = engine.events.after(cursor).map((x) => x.event).filter((e) => e.Type === 'container' && e.Actor.ID === id);
      const failed = mine.find((e) => e.Action === 'die' && e.Actor.Attributes.error);
      if (failed) throw new StowageError('FailedPrecondition', failed.Actor.Attributes.error!, { name: id });
      if (last && mine.some((e) => e.Action === 'start')) return { ...last, State: { ...last.State, Status: 'exited', Running: false } };
      throw failedPrecondition(`container ${id} was removed while starting`);
    }
    last = c;
    // Only this start counts: a previous run's exit must not be taken for this one's.
    const thisRun = Date.parse(c.State.StartedAt) >= started;
    if (c.State.Running && thisRun) return c;
    if (c.State.Status === 'exited' && Date.parse(c.State.FinishedAt) >= started) {
      if (c.State.Error) throw new StowageError('FailedPrecondition', c.State.Error, { name: id });
      if (thisRun) return c;
    }
    if (!c.State.Monitor && Date.now() - started > 30_000) throw failedPrecondition(`container ${id.slice(0, 12)} did not start within 30 s`);
    if (c.State.Monitor && !ownerAlive(c.State.Monitor) && Date.now() - started > 2000) throw failedPrecondition(`the monitor of container ${id.slice(0, 12)} died while starting it`);
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** Reconciles containers whose watcher is gone: the container shows as exited and its mount is released. */
export async function reconcile(engine: Engine): Promise<void> {
  for (const c of engine.containerStore.all()) {
    const s = c.State;
    const watched = s.Monitor !== undefined;
    if (!watched && !s.Running) continue;
    if (watched && ownerAlive(s.Monitor)) continue;
    // Claim finalization.
    let claimed = false;
    engine.containerStore.updateState(c.Id, (cur) => {
      if (cur.Monitor !== s.Monitor) return undefined;
      claimed = true;
      return { ...cur, Monitor: ownerToken() };
    });
    if (!claimed) continue;
    const runtime = engine.runtime(c.HostConfig.Runtime || undefined);
    const st = await runtime.state(c.Id).catch(() => null);
    let code = 255;
    if (st && st.status !== 'stopped') {
      await runtime.kill(c.Id, 'SIGKILL', { all: true }).catch(() => {});
      code = 137;
    }
    await finalize(engine, c.Id, { exitCode: code, error: 'the process watching the container exited unexpectedly' });
  }
}
