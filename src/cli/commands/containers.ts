// commands/containers.ts: create, start, run, stop, kill, wait, restart, rm, ps,
// logs, exec, diff, commit, export, cp, rename, container prune, and the hidden
// __monitor that watches a detached container. Docker's flags, output and exit
// codes: `run` exits 125 when stowage fails, 126/127 when the command cannot be
// invoked / is not found, else with the container's own code.
import type { Command } from 'commander';
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import type { GlobalOptions } from '../main.js';
import { withEngine, collect, forEachArg } from '../open.js';
import { entryScript } from '../entry.js';
import { inspectAction } from '../inspect.js';
import { ExitError, messageFor } from '../exit.js';
import { compileTemplate, humanSize, renderTemplate, table } from '../format.js';
import { invalidArgument, StowageError, findStowageError } from '../../errors.js';
import { CLI_FLAG_ERROR } from '../../mounts/parse.js';
import type { Engine } from '../../engine.js';
import type { ContainerRecord } from '../../containers/types.js';
import { createOptions, type RunFlags } from '../../views/create.js';
import { PS_HEADERS, psRow, selectContainers } from '../../views/containers.js';
import { rawTerminal } from '../terminal.js';

const out = (s: string) => process.stdout.write(s);

function globalArgs(g: GlobalOptions, e: Engine): string[] {
  return ['--data-root', e.layout.root, '--storage-driver', e.driver.name, ...(g.storageDriver ? [] : [])];
}

function binPath(): string {
  return entryScript();
}

function runFlags(c: Command): Command {
  return c
    .option('--pull <string>', 'pull image before running ("always", "missing", "never")', 'missing')
    .option('--platform <string>', 'set platform if server is multi-platform capable (used by the pull)')
    .option('-e, --env <list>', 'set environment variables', collect)
    .option('--env-file <file>', 'read in a file of environment variables', collect)
    .option('--entrypoint <string>', 'overwrite the default ENTRYPOINT of the image')
    .option('-h, --hostname <string>', 'container host name')
    .option('-i, --interactive', 'keep STDIN open even if not attached')
    .option('-l, --label <list>', 'set meta data on a container', collect)
    .option('--name <string>', 'assign a name to the container')
    .option('--network <string>', 'connect a container to a network (host or none)')
    .option('--net <string>', 'alias of --network')
    .option('--read-only', "mount the container's root filesystem as read only")
    .option('--rm', 'automatically remove the container when it exits')
    .option('--runtime <string>', 'runtime to use for this container (crun, runc)')
    .option('-t, --tty', 'allocate a pseudo-TTY')
    .option('-u, --user <string>', 'username or UID (format: <name|uid>[:<group|gid>])')
    .option('-w, --workdir <string>', 'working directory inside the container')
    .option('-v, --volume <list>', 'bind mount a volume', collect)
    .option('--mount <mount>', 'attach a filesystem mount to the container', collect)
    .option('--tmpfs <list>', 'mount a tmpfs directory', collect)
    .option('--volume-driver <string>', 'optional volume driver for the container')
    .option('--volumes-from <list>', 'mount volumes from the specified container(s)', collect)
    .passThroughOptions();
}

function normFlags(f: RunFlags & { net?: string }): RunFlags {
  if (f.net && !f.network) f.network = f.net;
  return f;
}

/** `create` and `run`: the mount flags first (Docker's CLI reads its flags before anything), then a pull of a missing image, then the container. */
async function createContainer(e: Engine, image: string, cmd: string[], f: RunFlags): Promise<ContainerRecord> {
  const opts = createOptions(image, cmd, normFlags(f));
  e.containers.checkMountFlags(opts);
  const { ensureImage } = await import('./registry.js');
  await ensureImage(e, image, f.pull, f.platform);
  return e.containers.create(opts);
}

async function runAction(g: () => GlobalOptions, image: string, cmd: string[], f: RunFlags): Promise<void> {
  let code = 0;
  await withEngine(g(), async (e) => {
    let c: ContainerRecord;
    try {
      c = await createContainer(e, image, cmd, f);
    } catch (err) {
      throw new ExitError(125, `Error: ${(err as Error).message}`);
    }
    if (f.detach) {
      const { startDetached } = await import('../../containers/lifecycle.js');
      try {
        await startDetached(e, c.Id, binPath(), globalArgs(g(), e));
      } catch (err) {
        throw new ExitError(exitFromState(e, c.Id), `Error: ${(err as Error).message}`);
      }
      out(c.Id + '\n');
      return;
    }
    const { runAndWatch } = await import('../../containers/lifecycle.js');
    const forward = (sig: NodeJS.Signals) => { void e.containers.kill(c.Id, sig).catch(() => {}); };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    // With a terminal, stowage holds the container's pty (crun hands it over), so the
    // local terminal is put in raw mode here and its size follows ours.
    const onResize = { fn: undefined as (() => void) | undefined };
    let restore: (() => void) | undefined;
    try {
      let stdin: NodeJS.ReadableStream | undefined = f.interactive ? process.stdin : undefined;
      // runc keeps the terminal to itself (it is given ours and copies): nothing to do here.
      const { ptyAvailable } = await import('../../util/pty.js');
      const handedOver = e.runtime(c.HostConfig.Runtime || undefined).consoleInForeground && ptyAvailable();
      if (f.tty && !handedOver) stdin = undefined;
      else if (f.tty && f.interactive && process.stdin.isTTY) {
        const t = await rawTerminal();
        restore = t.restore;
        stdin = t.stdin;
      }
      code = await runAndWatch(e, c.Id, {
        stdout: process.stdout, stderr: process.stderr, tty: !!f.tty,
        ...(stdin ? { stdin } : {}),
        ...(f.tty && process.stdout.isTTY && process.stdout.rows > 0 ? { consoleSize: { height: process.stdout.rows, width: process.stdout.columns } } : {}),
      }, (_c, controls) => {
        if (!f.tty || !process.stdout.isTTY) return;
        onResize.fn = () => controls.resize(process.stdout.rows, process.stdout.columns);
        onResize.fn();
        process.stdout.on('resize', onResize.fn);
      });
    } catch (err) {
      throw new ExitError(125, `Error: ${(err as Error).message}`);
    } finally {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      if (onResize.fn) process.stdout.off('resize', onResize.fn);
      restore?.();
      // The container is gone: stop reading our stdin so the command can end.
      if (f.interactive) process.stdin.destroy();
    }
    const after = e.containerStore.get(c.Id);
    if (after?.State.Error && (code === 126 || code === 127)) process.stderr.write(`Error: ${after.State.Error}\n`);
  });
  process.exitCode = code;
}

function exitFromState(e: Engine, id: string): number {
  const c = e.containerStore.get(id);
  const code = c?.State.ExitCode ?? 125;
  return code === 126 || code === 127 ? code : 125;
}


export function registerContainerCommands(program: Command, g: () => GlobalOptions): void {
  const create = (cmd: Command) => runFlags(cmd.argument('<IMAGE>').argument('[COMMAND...]'))
    .action(async (image: string, cmd: string[], f: RunFlags) => withEngine(g(), async (e) => {
      let c: ContainerRecord;
      try {
        c = await createContainer(e, image, cmd, f);
      } catch (err) {
        // Docker's CLI exits 125 for the flag errors it finds itself, 1 for the daemon's refusals.
        if (findStowageError(err)?.op === CLI_FLAG_ERROR) throw new ExitError(125, messageFor(err));
        throw err;
      }
      out(c.Id + '\n');
    }));
  create(program.command('create').description('Create a new container'));

  const run = (cmd: Command) => runFlags(cmd.argument('<IMAGE>').argument('[COMMAND...]'))
    .option('-d, --detach', 'run container in background and print container ID')
    .action(async (image: string, cmd: string[], f: RunFlags) => runAction(g, image, cmd, f));
  run(program.command('run').description('Create and run a new container from an image'));

  const start = (cmd: Command) => cmd.argument('<CONTAINER...>').option('-a, --attach', 'attach STDOUT/STDERR and forward signals')
    .action(async (names: string[], f: { attach?: boolean }) => withEngine(g(), async (e) => {
      await e.containers.reconcile();
      if (f.attach) {
        if (names.length !== 1) throw invalidArgument('you cannot start and attach multiple containers at once');
        const c = e.containers.resolve(names[0]!);
        const { runAndWatch } = await import('../../containers/lifecycle.js');
        process.exitCode = await runAndWatch(e, c.Id, { stdout: process.stdout, stderr: process.stderr, tty: c.Config.Tty });
        return;
      }
      const { startDetached } = await import('../../containers/lifecycle.js');
      await forEachArg(names, async (n) => {
        const c = e.containers.resolve(n);
        if (c.State.Running) return n;
        await startDetached(e, c.Id, binPath(), globalArgs(g(), e));
        return n;
      });
    }));
  start(program.command('start').description('Start one or more stopped containers'));

  const stop = (cmd: Command) => cmd.argument('<CONTAINER...>').option('-t, --time <seconds>', 'seconds to wait before killing the container', '10')
    .option('-s, --signal <string>', 'signal to send to the container')
    .action(async (names: string[], f: { time: string; signal?: string }) => withEngine(g(), async (e) => {
      await forEachArg(names, async (n) => { await e.containers.stop(n, Number(f.time), f.signal); return n; });
    }));
  stop(program.command('stop').description('Stop one or more running containers'));

  const kill = (cmd: Command) => cmd.argument('<CONTAINER...>').option('-s, --signal <string>', 'signal to send to the container', 'KILL')
    .action(async (names: string[], f: { signal: string }) => withEngine(g(), async (e) => {
      await forEachArg(names, async (n) => { await e.containers.kill(n, f.signal); return n; });
    }));
  kill(program.command('kill').description('Kill one or more running containers'));

  const wait = (cmd: Command) => cmd.argument('<CONTAINER...>')
    .action(async (names: string[]) => withEngine(g(), async (e) => {
      // Docker's default condition; the exit code comes from the die event, so a --rm
      // container removed meanwhile still reports its own code.
      await forEachArg(names, async (n) => String((await e.containers.waitFor(n, 'not-running').result).StatusCode));
    }));
  wait(program.command('wait').description('Block until one or more containers stop, then print their exit codes'));

  const restart = (cmd: Command) => cmd.argument('<CONTAINER...>').option('-t, --time <seconds>', 'seconds to wait before killing the container', '10')
    .action(async (names: string[], f: { time: string }) => withEngine(g(), async (e) => {
      const { startDetached } = await import('../../containers/lifecycle.js');
      await forEachArg(names, async (n) => {
        const c = await e.containers.stop(n, Number(f.time));
        await startDetached(e, c.Id, binPath(), globalArgs(g(), e));
        const { containerEvent } = await import('../../events/actors.js');
        containerEvent(e, c, 'restart');
        return n;
      });
    }));
  restart(program.command('restart').description('Restart one or more containers'));

  const rm = (cmd: Command) => cmd.argument('<CONTAINER...>').option('-f, --force', 'force the removal of a running container (uses SIGKILL)')
    .option('-v, --volumes', 'remove anonymous volumes associated with the container')
    .action(async (names: string[], f: { force?: boolean; volumes?: boolean }) => withEngine(g(), async (e) => {
      await e.containers.reconcile();
      await forEachArg(names, async (n) => { await e.containers.remove(n, { force: !!f.force, volumes: !!f.volumes }); return n; });
    }));
  rm(program.command('rm').description('Remove one or more containers'));

  const ps = (cmd: Command) => cmd
    .option('-a, --all', 'show all containers (default shows just running)')
    .option('-f, --filter <filter>', 'filter output based on conditions provided', collect)
    .option('--format <string>', 'pretty-print containers using a Go template')
    .option('-n, --last <int>', 'show n last created containers (includes all states)')
    .option('-l, --latest', 'show the latest created container (includes all states)')
    .option('--no-trunc', "don't truncate output")
    .option('-q, --quiet', 'only display container IDs')
    .option('-s, --size', 'display total file sizes')
    .action(async (f: { all?: boolean; filter?: string[]; format?: string; last?: string; latest?: boolean; trunc?: boolean; quiet?: boolean; size?: boolean }) => withEngine(g(), async (e) => {
      await e.containers.reconcile();
      const { containerFilter } = await import('../../containers/filters.js');
      const pred = containerFilter(f.filter ?? [], e);
      const n = f.latest ? 1 : f.last !== undefined ? Number(f.last) : undefined;
      const list = selectContainers(e.containers.list(), { all: !!f.all, pred, ...(n !== undefined ? { last: n } : {}) });
      const noTrunc = f.trunc === false;
      if (f.quiet) { for (const c of list) out((noTrunc ? c.Id : c.Id.slice(0, 12)) + '\n'); return; }
      const rows = [];
      for (const c of list) rows.push(psRow(c, noTrunc, f.size ? await e.containers.sizes(c) : undefined));
      const headers = PS_HEADERS;
      if (f.format) { out(renderTemplate(compileTemplate(f.format, headers), rows)); return; }
      const cols: Array<keyof typeof headers> = ['ID', 'Image', 'Command', 'RunningFor', 'Status', 'Ports', 'Names', ...(f.size ? ['Size' as const] : [])];
      out(table([cols.map((k) => headers[k]), ...rows.map((r) => cols.map((k) => r[k]))]));
    }));
  ps(program.command('ps').description('List containers'));

  const logs = (cmd: Command) => cmd.argument('<CONTAINER>')
    .option('-f, --follow', 'follow log output').option('--tail <string>', 'number of lines to show from the end of the logs', 'all')
    .option('-t, --timestamps', 'show timestamps')
    .action(async (name: string, f: { follow?: boolean; tail: string; timestamps?: boolean }) => withEngine(g(), async (e) => {
      const { container, lines, path } = e.containers.logs(name);
      const write = (l: { log: string; stream: string; time: string }) =>
        (l.stream === 'stderr' ? process.stderr : process.stdout).write(f.timestamps ? `${l.time} ${l.log}` : l.log);
      const tail = f.tail === 'all' ? lines : lines.slice(Math.max(0, lines.length - Number(f.tail)));
      if (f.tail !== 'all' && !/^\d+$/.test(f.tail)) throw invalidArgument(`invalid value for "tail": ${f.tail}`);
      for (const l of tail) write(l);
      if (!f.follow) return;
      const { readFrom } = await import('../../containers/logs.js');
      const { statSync } = await import('node:fs');
      let offset = (() => { try { return statSync(path).size; } catch { return 0; } })();
      for (;;) {
        const r = await readFrom(path, offset);
        offset = r.offset;
        for (const l of r.lines) write(l);
        const now = e.containerStore.get(container.Id);
        if (!now || !now.State.Running) {
          const last = await readFrom(path, offset);
          for (const l of last.lines) write(l);
          return;
        }
        await new Promise((res) => setTimeout(res, 100));
        await e.containers.reconcile();
      }
    }));
  logs(program.command('logs').description('Fetch the logs of a container'));

  const exec = (cmd: Command) => cmd.argument('<CONTAINER>').argument('<COMMAND...>')
    .option('-d, --detach', 'detached mode: run command in the background').option('-e, --env <list>', 'set environment variables', collect)
    .option('-i, --interactive', 'keep STDIN open even if not attached').option('-t, --tty', 'allocate a pseudo-TTY')
    .option('-u, --user <string>', 'username or UID').option('-w, --workdir <string>', 'working directory inside the container')
    .passThroughOptions()
    .action(async (name: string, command: string[], f: { detach?: boolean; env?: string[]; interactive?: boolean; tty?: boolean; user?: string; workdir?: string }) => withEngine(g(), async (e) => {
      // Through exec records (execCreate/execStart), as Docker's CLI does through the API.
      const id = await e.containers.execCreate(name, {
        Cmd: command, Env: f.env ?? [], Tty: !!f.tty, AttachStdin: !!f.interactive && !f.detach,
        AttachStdout: !f.detach, AttachStderr: !f.detach,
        ...(f.user !== undefined ? { User: f.user } : {}), ...(f.workdir !== undefined ? { WorkingDir: f.workdir } : {}),
      });
      const termSize = f.tty && process.stdout.isTTY && process.stdout.rows > 0 ? { height: process.stdout.rows, width: process.stdout.columns } : undefined;
      // A runtime that keeps the terminal (runc) is given ours, as before exec records.
      const { ptyAvailable } = await import('../../util/pty.js');
      const c = e.containers.resolve(name);
      const inherit = !!f.tty && !(e.runtime(c.HostConfig.Runtime || undefined).consoleInForeground && ptyAvailable());
      const session = await e.containers.execStart(id, { detach: !!f.detach, inheritTerminal: inherit, ...(termSize ? { consoleSize: termSize } : {}) });
      if (!session) return;
      if (inherit) { process.exitCode = (await session.exitCode) ?? 0; return; }
      let restore: (() => void) | undefined;
      let input: NodeJS.ReadableStream | undefined;
      if (session.stdin) {
        if (f.tty && process.stdin.isTTY) { const t = await rawTerminal(); restore = t.restore; input = t.stdin; } else input = process.stdin;
        input.pipe(session.stdin);
      }
      const resize = () => { void e.containers.execResize(id, process.stdout.rows, process.stdout.columns).catch(() => {}); };
      if (f.tty && process.stdout.isTTY) process.stdout.on('resize', resize);
      try {
        for await (const chunk of session.output) (chunk.stream === 'stderr' ? process.stderr : process.stdout).write(chunk.data);
        process.exitCode = (await session.exitCode) ?? 0;
      } finally {
        restore?.();
        process.stdout.off('resize', resize);
        if (input) { input.unpipe(); process.stdin.destroy(); }
      }
    }));
  exec(program.command('exec').description('Execute a command in a running container'));

  const diff = (cmd: Command) => cmd.argument('<CONTAINER>')
    .action(async (name: string) => withEngine(g(), async (e) => {
      for (const ch of await e.containers.diff(name)) out(`${ch.kind} ${ch.path}\n`);
    }));
  diff(program.command('diff').description("Inspect changes to files or directories on a container's filesystem"));

  const commit = (cmd: Command) => cmd.argument('<CONTAINER>').argument('[REPOSITORY[:TAG]]')
    .option('-a, --author <string>', 'author').option('-c, --change <list>', 'apply Dockerfile instruction to the created image', collect)
    .option('-m, --message <string>', 'commit message').option('-p, --pause', 'pause container during commit (not supported: ignored)', true)
    .action(async (name: string, ref: string | undefined, f: { author?: string; change?: string[]; message?: string }) => withEngine(g(), async (e) => {
      const id = await e.containers.commit(name, {
        ...(ref ? { reference: ref } : {}), ...(f.author ? { author: f.author } : {}),
        ...(f.message !== undefined ? { message: f.message } : {}), ...(f.change ? { changes: f.change } : {}),
      });
      out(id + '\n');
    }));
  commit(program.command('commit').description("Create a new image from a container's changes"));

  const exportCmd = (cmd: Command) => cmd.argument('<CONTAINER>').option('-o, --output <file>', 'write to a file, instead of STDOUT')
    .action(async (name: string, f: { output?: string }) => withEngine(g(), async (e) => {
      if (!f.output) {
        if (process.stdout.isTTY) throw invalidArgument('cowardly refusing to save to a terminal. Use the -o flag or redirect');
        await e.containers.export(name, process.stdout);
        return;
      }
      const tmp = `${f.output}.stowage-tmp-${process.pid}`;
      const ws = createWriteStream(tmp);
      try {
        await e.containers.export(name, ws);
        await new Promise<void>((res, rej) => { ws.end(() => res()); ws.on('error', rej); });
        renameSync(tmp, f.output);
      } catch (err) {
        ws.destroy();
        rmSync(tmp, { force: true });
        throw err;
      }
    }));
  exportCmd(program.command('export').description("Export a container's filesystem as a tar archive"));

  const cp = (cmd: Command) => cmd.argument('<SRC>').argument('<DEST>')
    .action(async (src: string, dst: string) => withEngine(g(), async (e) => {
      const split = (s: string) => {
        const m = /^([a-zA-Z0-9][a-zA-Z0-9_.-]*):(.*)$/.exec(s);
        return m && !s.startsWith('/') && !s.startsWith('.') ? { container: m[1]!, path: m[2]! || '/' } : { path: s };
      };
      await e.containers.copy(split(src), split(dst));
    }));
  cp(program.command('cp').description('Copy files/folders between a container and the local filesystem'));

  const rename = (cmd: Command) => cmd.argument('<CONTAINER>').argument('<NEW_NAME>')
    .action(async (name: string, newName: string) => withEngine(g(), async (e) => { await e.containers.rename(name, newName); }));
  rename(program.command('rename').description('Rename a container'));

  const container = program.command('container').description('Manage containers');
  create(container.command('create'));
  run(container.command('run'));
  start(container.command('start'));
  stop(container.command('stop'));
  kill(container.command('kill'));
  wait(container.command('wait'));
  restart(container.command('restart'));
  rm(container.command('rm').alias('remove'));
  ps(container.command('ls').alias('list').alias('ps'));
  logs(container.command('logs'));
  exec(container.command('exec'));
  diff(container.command('diff'));
  commit(container.command('commit'));
  exportCmd(container.command('export'));
  cp(container.command('cp'));
  rename(container.command('rename'));
  container.command('inspect').argument('<CONTAINER...>').option('-f, --format <string>', 'format output using a Go template')
    .option('-s, --size', 'display total file sizes')
    .action(inspectAction(g, 'container'));
  container.command('prune').description('Remove all stopped containers').option('-f, --force', 'do not prompt for confirmation')
    .action(async () => withEngine(g(), async (e) => {
      const r = await e.containers.prune();
      if (r.ContainersDeleted.length) out(`Deleted Containers:\n${r.ContainersDeleted.join('\n')}\n\n`);
      out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
    }));

  program.command('__monitor', { hidden: true }).argument('<ID>')
    .action(async (id: string) => withEngine(g(), async (e) => {
      const { runAndWatch } = await import('../../containers/lifecycle.js');
      // Detached from the terminal; the container's output goes to its log only.
      await runAndWatch(e, id, {}).catch((err: unknown) => {
        if (!(err instanceof StowageError)) throw err;
      });
    }));
}
