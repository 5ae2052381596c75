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
import { join } from 'node:path';
import type { Engine } from '../engine.js';
import type { ContainerRecord, ContainerState } from './types.js';
import { mountRootfs, releaseRootfs, writeEtcFiles } from './rootfs.js';
import { LogWriter } from './logs.js';
import { releaseMounts } from './mounts.js';
import { buildSpec, resolveUser } from '../runtime/spec.js';
import { startFailureCode } from '../runtime/runtime.js';
import { ownerAlive, ownerToken } from '../store/owner.js';
import { StowageError, failedPrecondition, conflict } from '../errors.js';
import { failpoint } from '../util/failpoint.js';

export interface AttachOptions {
  /** Where the container's output goes besides the log (foreground run). */
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  stdin?: NodeJS.ReadableStream;
  tty?: boolean;
}

/** Writes config.json into the container's folder (the OCI bundle) for its current config. */
async function writeBundle(engine: Engine, c: ContainerRecord, rootfs: string): Promise<string> {
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
  });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
  return bundle;
}

/**
 * Starts the container and watches it until it exits; returns its exit code.
 * Used by foreground `run` and by the monitor process.
 */
export async function runAndWatch(engine: Engine, id: string, attach: AttachOptions = {}, onStarted?: (c: ContainerRecord) => void): Promise<number> {
  const store = engine.containerStore;
  // Claim: only one watcher per container.
  const c = store.updateState(id, (s) => {
    if (s.Running && ownerAlive(s.Monitor)) throw conflict(`container ${id.slice(0, 12)} is already running`, { name: id });
    return { ...s, Monitor: ownerToken(), Error: '' };
  });
  const runtime = engine.runtime(c.HostConfig.Runtime || undefined);
  let rootfs: string;
  let child: ChildProcess;
  const logPath = join(engine.layout.container(c.Id), `${c.Id}-json.log`);
  let log: LogWriter | undefined;
  let stderrText = '';
  try {
    rootfs = mountRootfs(engine, c, 'claim').root;
    failpoint('run:mounted');
    const bundle = await writeBundle(engine, c, rootfs);
    await runtime.delete(c.Id, { force: true }).catch(() => {});
    log = new LogWriter(logPath);
    child = runtime.run(c.Id, bundle, attach.tty ? 'inherit' : 'pipe', { tty: !!attach.tty });
  } catch (err) {
    log?.close();
    await finalize(engine, id, { exitCode: 125, error: (err as Error).message });
    throw err;
  }
  const startedAt = new Date().toISOString();
  store.updateState(id, (s) => ({ ...s, Status: 'running', Running: true, Pid: child.pid ?? 0, StartedAt: startedAt, FinishedAt: '0001-01-01T00:00:00Z', ExitCode: 0 }));
  onStarted?.(store.get(id)!);
  failpoint('run:started');
  if (!attach.tty) {
    child.stdout?.on('data', (b: Buffer) => { log!.write('stdout', b); attach.stdout?.write(b); });
    child.stderr?.on('data', (b: Buffer) => {
      if (stderrText.length < 8192) stderrText += b.toString('utf8');
      log!.write('stderr', b);
      attach.stderr?.write(b);
    });
    if (attach.stdin && child.stdin) attach.stdin.pipe(child.stdin);
    else child.stdin?.end();
  }
  const code: number = await new Promise((resolve) => {
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 + (signalNumber(signal) ?? 9) : 255)));
    child.on('error', () => resolve(125));
  });
  log?.close();
  const failed = code !== 0 ? startFailureCode(stderrText) : undefined;
  await finalize(engine, id, { exitCode: failed ?? code, error: failed ? stderrText.trim().split('\n').pop() ?? '' : '' });
  return failed ?? code;
}

function signalNumber(sig: string): number | undefined {
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
  engine.containerStore.updateState(id, (s) => ({
    ...s, Status: 'exited', Running: false, Pid: 0, ExitCode: r.exitCode, Error: r.error,
    FinishedAt: new Date().toISOString(), Monitor: undefined,
  } as ContainerState));
  if (c.HostConfig.AutoRemove) {
    await engine.containers.remove(id, { force: true, volumes: true }).catch(() => {});
  }
}

/** Spawns the detached monitor for `start` / `run -d`, and waits until the container is running or failed. */
export async function startDetached(engine: Engine, id: string, bin: string, globalArgs: string[]): Promise<ContainerRecord> {
  const child = spawn(process.execPath, [bin, ...globalArgs, '__monitor', id], { detached: true, stdio: 'ignore' });
  child.unref();
  const started = Date.now();
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    const c = engine.containerStore.get(id);
    if (!c) throw failedPrecondition(`container ${id} was removed while starting`);
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
