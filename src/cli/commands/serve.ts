// commands/serve.ts: `stowage serve`, Docker's Engine API on unix sockets (and
// loopback TCP when asked), so the docker CLI, docker-compose and Docker SDKs drive
// stowage: DOCKER_HOST=unix:///run/stowage/stowage.sock docker ps. SIGTERM and
// SIGINT shut it down cleanly; containers keep running under their monitors.
// `stowage ui` is the same server on 127.0.0.1 with a free port, printing the store
// page's URL (docs/ui.md).
import type { Command } from 'commander';
import type { GlobalOptions } from '../main.js';
import { openEngine, collect } from '../open.js';

interface ServeFlags { host?: string[]; group?: string; allowRemoteTcp?: boolean }

export function registerServeCommand(program: Command, g: () => GlobalOptions): void {
  program.command('serve').description("Serve Docker's Engine API over a socket (for the docker CLI, docker-compose, SDKs)")
    .option('-H, --host <address>', 'address to listen on: unix:///PATH, tcp://127.0.0.1:PORT or fd:// (repeatable; default unix:///run/stowage/stowage.sock)', collect)
    .option('-G, --group <group>', 'group that may use the unix sockets (mode 0660, owner root)')
    .option('--allow-remote-tcp', 'allow tcp:// addresses that are not loopback (no TLS: anyone who reaches it is root)')
    .action(async (f: ServeFlags) => {
      const { DEFAULT_HOST } = await import('../../api/listeners.js');
      await runServer(g, { hosts: f.host?.length ? f.host : [DEFAULT_HOST], ...(f.group !== undefined ? { group: f.group } : {}), allowRemoteTcp: !!f.allowRemoteTcp });
    });

  program.command('warm').description('Keep CLI processes started ahead of time, so that stowage commands start at once (docs/warm.md)')
    .option('--socket <path>', 'where bin/stowage finds them (default /run/stowage/warm.sock; clients: env STOWAGE_WARM_SOCKET)')
    .option('--processes <n>', 'how many wait at a time', '2')
    .action(async (f: { socket?: string; processes: string }) => {
      const { startWarmPool, DEFAULT_WARM_SOCKET } = await import('../warm.js');
      const { invalidArgument, failedPrecondition } = await import('../../errors.js');
      const n = Number(f.processes);
      if (!/^\d+$/.test(f.processes) || n < 1 || n > 16) throw invalidArgument(`invalid --processes ${JSON.stringify(f.processes)}: want a number from 1 to 16`);
      let pool;
      try {
        pool = await startWarmPool({ socket: f.socket ?? DEFAULT_WARM_SOCKET, size: n });
      } catch (err) {
        throw failedPrecondition((err as Error).message);
      }
      process.stderr.write(`stowage warm: ${n} processes waiting on ${pool.socket} (SIGTERM or Ctrl-C stops; running commands finish)\n`);
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = () => {
          if (stopping) process.exit(0); // a second signal: leave at once
          stopping = true;
          void pool.close().then(resolve);
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      });
    });

  program.command('ui').description('Serve the store page (and the Engine API) on 127.0.0.1 with a free port, and print its URL')
    .option('-p, --port <port>', 'port on 127.0.0.1 (default: a free one)', '0')
    .action(async (f: { port: string }) => {
      if (!/^\d+$/.test(f.port) || Number(f.port) > 65535) throw new (await import('../../errors.js')).StowageError('InvalidArgument', `invalid --port ${JSON.stringify(f.port)}: want a number from 0 to 65535`);
      await runServer(g, { hosts: [`tcp://127.0.0.1:${f.port}`], quietTcpWarning: true }, (addresses) => {
        const a = addresses.find((x) => x.startsWith('tcp://'))!;
        process.stdout.write(`Stowage UI: http://${a.slice('tcp://'.length)}/ui/   (Ctrl-C stops it)\n`);
      });
    });
}

/**
 * Runs an Engine API server on one long-running engine until SIGTERM or SIGINT, then
 * shuts down cleanly; containers keep running under their monitors.
 */
async function runServer(g: () => GlobalOptions, o: { hosts: string[]; group?: string; allowRemoteTcp?: boolean; quietTcpWarning?: boolean }, onReady?: (addresses: string[]) => void): Promise<void> {
  const { startServer } = await import('../../api/server.js');
  const engine = await openEngine(g());
  // A long-running engine: recovery (of what crashed CLI processes left) runs again every 30 s when asked for.
  engine.recoverEveryMs = 30_000;
  await engine.recover();
  await engine.containers.reconcile();
  // Warm-up: the modules requests load lazily, loaded now, so the first docker
  // command does not pay for them (~40 ms on a first create).
  await Promise.all([
    import('../../containers/lifecycle.js'), import('../../containers/filters.js'), import('../../volumes/service.js'),
    import('../../store/usage.js'), import('../../views/df.js'), import('../../runtime/spec.js'), import('../../images/load.js'),
  ]);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const server = await startServer({
    engine, hosts: o.hosts, ...(o.group !== undefined ? { group: o.group } : {}),
    allowRemoteTcp: !!o.allowRemoteTcp, bin: (await import('../entry.js')).entryScript(),
    globalArgs: ['--data-root', engine.layout.root, '--storage-driver', engine.driver.name],
    // `stowage ui` listens on loopback only, for the page: dockerd's remote-API warning would mislead
    log: o.quietTcpWarning ? (line) => { if (!/^(WARNING|  )/.test(line)) log(line); } : log,
  }).catch((err: unknown) => { engine.close(); throw err; });
  log(`stowage serve: data root ${engine.layout.root}, storage driver ${engine.driver.name}; ready`);
  onReady?.(server.addresses);
  await new Promise<void>((resolve) => {
    const stop = (sig: NodeJS.Signals) => { log(`${sig}: shutting down`); resolve(); };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await server.close();
  engine.close();
  log('stowage serve: stopped');
}
