// exec.ts: Docker's exec instances (create, start, inspect, resize) as rows of the
// `execs` table, so an exec created by one request (or process) can be started by
// another, as `docker exec` does through the API (POST /containers/{id}/exec, then
// POST /exec/{id}/start).
//
// Who runs it: the process that starts it, with the runtime's `exec` in the foreground
// (the runtime stays our child, so its exit code is the process's), owning the
// process's stdio — pipes, or with a terminal the pty master the runtime hands over
// on --console-socket (crun). That process records the exit code and the exec_die
// event. A detached start (`exec -d`, detach=true) hands the exec to a small watcher
// process (`stowage __exec ID`) so the exit code is still recorded after the caller
// is gone. If the recording process dies, execInspect shows the exec not running with
// no exit code. execResize reaches the terminal only in the process that holds it
// (the one that started the exec — for the API, the server).
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { stowageBin } from '../util/bin.js';
import type { Engine } from '../engine.js';
import type { StdioSession } from './stdio.js';
import { ChunkQueue, DetachScanner } from './attach.js';
import { parseDetachKeys } from './stdio.js';
import { attachDir } from './monitor.js';
import { signalNumber } from './lifecycle.js';
import { rootfsPath } from './rootfs.js';
import { buildProcess, resolveUser } from '../runtime/spec.js';
import { startFailureCode } from '../runtime/runtime.js';
import { ownerAlive, ownerToken } from '../store/owner.js';
import { ptyAvailable, ptyNative, spawnWithConsole } from '../util/pty.js';
import { containerEvent } from '../events/actors.js';
import { conflict, failedPrecondition, invalidArgument, notFound } from '../errors.js';

export interface ExecCreateOptions {
  Cmd: string[]; Env?: string[]; User?: string; WorkingDir?: string;
  Tty?: boolean; AttachStdin?: boolean; AttachStdout?: boolean; AttachStderr?: boolean;
  Privileged?: boolean; DetachKeys?: string;
}

interface ExecRow { id: string; container_id: string; config: string; running: number; exit_code: number | null; pid: number; owner: string | null; created_at: number }

/** Terminals of the execs this process runs, for execResize. */
const terminals = new Map<string, (rows: number, cols: number) => void>();

function getRow(engine: Engine, id: string): ExecRow {
  const r = engine.db.prepare('SELECT * FROM execs WHERE id = ?').get(id) as ExecRow | undefined;
  if (!r) throw notFound(`No such exec instance: ${id}`, { name: id });
  return r;
}

function commandText(cmd: string[]): string {
  return cmd.join(' ');
}

export async function execCreate(engine: Engine, ref: string, o: ExecCreateOptions): Promise<string> {
  await engine.containers.reconcile();
  const c = engine.containerStore.resolve(ref);
  if (!Array.isArray(o.Cmd) || o.Cmd.length === 0 || o.Cmd[0] === '') throw invalidArgument('No exec command specified', { name: ref });
  if (!c.State.Running) throw conflict(`Container ${c.Id} is not running`, { name: ref });
  if (o.Privileged) throw invalidArgument('privileged exec is not supported: stowage runs every process with the container\'s capabilities', { name: ref });
  if (o.DetachKeys) parseDetachKeys(o.DetachKeys);
  for (const e of o.Env ?? []) if (e === '' || e.startsWith('=')) throw invalidArgument(`invalid environment variable: ${e}`, { name: e });
  const id = randomBytes(32).toString('hex');
  const config: ExecCreateOptions = {
    Cmd: [...o.Cmd], Env: [...(o.Env ?? [])], User: o.User ?? '', WorkingDir: o.WorkingDir ?? '', Tty: !!o.Tty,
    AttachStdin: !!o.AttachStdin, AttachStdout: !!o.AttachStdout, AttachStderr: !!o.AttachStderr,
    Privileged: false, DetachKeys: o.DetachKeys ?? '',
  };
  engine.db.prepare('INSERT INTO execs (id, container_id, config, created_at) VALUES (?, ?, ?, ?)').run(id, c.Id, JSON.stringify(config), Date.now());
  containerEvent(engine, c, `exec_create: ${commandText(config.Cmd)}`, { execID: id });
  return id;
}

export interface ExecStartOptions {
  detach: boolean;
  tty?: boolean;
  /** The terminal's initial size (Docker's ConsoleSize). */
  consoleSize?: { height: number; width: number };
  /** CLI only: when the runtime cannot hand the terminal over (runc), give it our own
   *  terminal (stdio inherited) instead of copying through pipes; the session then
   *  carries no output, only the exit code. */
  inheritTerminal?: boolean;
}

export async function execStart(engine: Engine, id: string, o: ExecStartOptions): Promise<StdioSession | null> {
  const row = getRow(engine, id);
  const cfg = JSON.parse(row.config) as ExecCreateOptions;
  const c = engine.containerStore.get(row.container_id);
  if (!c) throw notFound(`No such container: ${row.container_id}`, { name: row.container_id });
  if (!c.State.Running) throw conflict(`Container ${c.Id} is not running`, { name: c.Id });
  if (o.detach) {
    claim(engine, id, true);
    // The watcher claims it for itself; this process only hands it over.
    const child = spawn(process.execPath, [stowageBin(), '--data-root', engine.layout.root, '--storage-driver', engine.driver.name, '__exec', id], { detached: true, stdio: 'ignore' });
    child.unref();
    return null;
  }
  claim(engine, id, false);
  return runExec(engine, id, cfg, o.tty ?? cfg.Tty ?? false, o.consoleSize, !!o.inheritTerminal);
}

/** Marks the exec running (for this process, or handed over to a watcher); only once: Docker runs an exec once. */
function claim(engine: Engine, id: string, handover: boolean): void {
  engine.db.transaction(() => {
    const r = getRow(engine, id);
    if (r.running && (r.owner === 'handover' || ownerAlive(r.owner))) throw conflict(`Error: Exec command ${id} is already running`, { name: id });
    if (r.running || r.owner !== null || r.exit_code !== null) throw conflict(`Error: Exec command ${id} has already run`, { name: id });
    engine.db.prepare('UPDATE execs SET running = 1, owner = ? WHERE id = ?').run(handover ? 'handover' : ownerToken(), id);
  }).immediate();
}

/** For `stowage __exec ID`: runs a handed-over exec to its end, stdio to /dev/null. */
export async function runHandedOver(engine: Engine, id: string): Promise<void> {
  const row = getRow(engine, id);
  if (row.owner !== 'handover') return;
  engine.db.prepare('UPDATE execs SET owner = ? WHERE id = ?').run(ownerToken(), id);
  const cfg = JSON.parse(row.config) as ExecCreateOptions;
  const s = await runExec(engine, id, { ...cfg, AttachStdin: false, AttachStdout: false, AttachStderr: false }, !!cfg.Tty);
  for await (const _ of s.output) { /* drained */ }
  await s.exitCode;
}

async function runExec(engine: Engine, id: string, cfg: ExecCreateOptions, tty: boolean, consoleSize?: { height: number; width: number }, inheritTerminal = false): Promise<StdioSession> {
  const row = getRow(engine, id);
  const c = engine.containerStore.get(row.container_id)!;
  const fail = (err: unknown): never => {
    engine.db.prepare('UPDATE execs SET running = 0, exit_code = ?, owner = NULL WHERE id = ?').run(126, id);
    throw err;
  };
  let proc: Record<string, unknown>;
  try {
    proc = buildProcess({
      args: cfg.Cmd,
      env: [...(c.Config.Env ?? []), ...(cfg.Env ?? [])],
      cwd: cfg.WorkingDir || c.Config.WorkingDir || '/',
      user: resolveUser(rootfsPath(engine, c), cfg.User || c.Config.User || ''),
      terminal: tty,
      hostname: c.Config.Hostname || c.Id.slice(0, 12),
      ...(consoleSize ? { consoleSize } : {}),
    });
  } catch (err) { return fail(err); }
  const rt = engine.runtime(c.HostConfig.Runtime || undefined);
  const queue = new ChunkQueue();
  let settle!: (code: number | null) => void;
  const exitCode = new Promise<number | null>((r) => { settle = r; });
  const keys = tty && cfg.AttachStdin ? parseDetachKeys(cfg.DetachKeys || undefined) : Buffer.alloc(0);
  let closed = false;
  let child: ChildProcess;
  let master: ReadStream | undefined;
  let stderrText = '';
  const useConsole = tty && rt.consoleInForeground && ptyAvailable();
  try {
    if (useConsole) {
      const r = await execWithConsole(engine, rt, c.Id, id, proc);
      child = r.child;
      if (r.fd !== null) {
        const fd = r.fd;
        master = new ReadStream(fd);
        terminals.set(id, (rows, cols) => ptyNative().setWinsize(fd, rows, cols));
      }
    } else {
      child = rt.exec(c.Id, proc, tty && inheritTerminal ? 'inherit' : 'pipe', { tty });
    }
  } catch (err) { return fail(err); }
  engine.db.prepare('UPDATE execs SET pid = ? WHERE id = ?').run(child.pid ?? 0, id);
  containerEvent(engine, c, `exec_start: ${commandText(cfg.Cmd)}`, { execID: id });
  const out = (stream: 'stdout' | 'stderr', b: Buffer) => {
    if (closed) return;
    if (stream === 'stdout' ? cfg.AttachStdout : cfg.AttachStderr) queue.push({ stream: tty ? 'stdout' : stream, data: b });
  };
  child.stdout?.on('data', (b: Buffer) => out('stdout', b));
  child.stderr?.on('data', (b: Buffer) => { if (stderrText.length < 8192) stderrText += b.toString('utf8'); out('stderr', b); });
  child.stdin?.on('error', () => {});
  let masterDone: Promise<void> = Promise.resolve();
  if (master) {
    const m = master;
    m.on('data', (b: Buffer) => out('stdout', b));
    masterDone = new Promise((resolve) => { m.once('close', () => resolve()); m.once('error', () => { m.destroy(); resolve(); }); m.once('end', () => { m.destroy(); resolve(); }); });
  }
  if (!cfg.AttachStdin && !tty) child.stdin?.end();
  const scanner = new DetachScanner(keys);
  const close = () => { if (closed) return; closed = true; queue.end(); };
  const stdin = cfg.AttachStdin ? new Writable({
    write(chunk: Buffer, _e, cb) {
      const { forward, detach } = scanner.feed(Buffer.from(chunk));
      if (forward.length) { if (master) master.write(forward); else child.stdin?.write(forward); }
      if (detach) close();
      cb();
    },
    // Closing stdin closes the process's stdin (pipes); a terminal stays open, as Docker.
    final(cb) { if (!master) child.stdin?.end(); cb(); },
  }) : null;
  stdin?.on('error', () => {});
  void (async () => {
    const code: number = await new Promise((resolve) => {
      child.on('close', (code, sig) => resolve(code ?? (sig ? 128 + (signalNumber(sig) ?? 9) : 255)));
      child.on('error', () => resolve(126));
    });
    await Promise.race([masterDone, new Promise((r) => setTimeout(r, 2000).unref())]);
    terminals.delete(id);
    const final = code !== 0 ? startFailureCode(stderrText) ?? code : code;
    engine.db.prepare('UPDATE execs SET running = 0, exit_code = ?, owner = NULL WHERE id = ?').run(final, id);
    containerEvent(engine, c, 'exec_die', { execID: id, exitCode: String(final) });
    queue.end();
    settle(closed ? null : final);
  })();
  return { tty, stdin, output: queue, close, exitCode };
}

/** `exec --console-socket` in the foreground (see lifecycle.ts runWithConsole). */
function execWithConsole(engine: Engine, rt: ReturnType<Engine['runtime']>, cid: string, id: string, proc: object): Promise<{ child: ChildProcess; fd: number | null }> {
  mkdirSync(attachDir(engine), { recursive: true, mode: 0o700 });
  return spawnWithConsole(join(attachDir(engine), `x${id.slice(0, 31)}.console`), (socket) => rt.exec(cid, proc, 'pipe', { tty: true, consoleSocket: socket }));
}

/** Docker's ExecInspect JSON. */
export async function execInspect(engine: Engine, id: string): Promise<object> {
  let r = getRow(engine, id);
  // A recorder that died leaves it not running, exit code unknown.
  if (r.running && r.owner !== 'handover' && !ownerAlive(r.owner)) {
    engine.db.prepare('UPDATE execs SET running = 0, owner = NULL WHERE id = ? AND running = 1').run(id);
    r = getRow(engine, id);
  }
  const cfg = JSON.parse(r.config) as ExecCreateOptions;
  return {
    ID: r.id,
    Running: r.running === 1,
    ExitCode: r.exit_code,
    ProcessConfig: { tty: !!cfg.Tty, entrypoint: cfg.Cmd[0], arguments: cfg.Cmd.slice(1), privileged: false, user: cfg.User ?? '' },
    OpenStdin: !!cfg.AttachStdin,
    OpenStderr: !!cfg.AttachStderr,
    OpenStdout: !!cfg.AttachStdout,
    CanRemove: false,
    ContainerID: r.container_id,
    DetachKeys: cfg.DetachKeys ?? '',
    Pid: r.running ? r.pid : 0,
  };
}

export async function execResize(engine: Engine, id: string, height: number, width: number): Promise<void> {
  const r = getRow(engine, id);
  if (!r.running) throw conflict(`Exec ${id} is not running`, { name: id });
  const fn = terminals.get(id);
  if (!fn) {
    if (!(JSON.parse(r.config) as ExecCreateOptions).Tty) return;
    throw failedPrecondition(`the terminal of exec ${id.slice(0, 12)} is held by another process (the one that started it); resize it there`, { name: id });
  }
  if (height > 0 && width > 0) fn(height, width);
}
