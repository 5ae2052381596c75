// commands/csi.ts: `stowage csi`, the CSI plugin server. Runs in the foreground until
// SIGTERM or SIGINT, then stops serving, removes its socket and closes the engine.
// Recovery (the engine's and the CSI records') runs before the socket opens.
import type { Command } from 'commander';
import { Option } from 'commander';
import type { GlobalOptions } from '../main.js';
import { openEngine, collect } from '../open.js';
import { invalidArgument } from '../../errors.js';

interface CsiFlags { endpoint: string; nodeId?: string; mode: string; driverName?: string; allowedDir?: string[]; glusterArg?: string[]; verbose?: boolean }

export function registerCsiCommand(program: Command, g: () => GlobalOptions): void {
  program.command('csi')
    .description('Serve the Container Storage Interface (CSI) on a unix socket, backed by stowage volumes')
    .addOption(new Option('--endpoint <unix-url>', 'socket to serve on, unix:///path.sock').env('CSI_ENDPOINT').makeOptionMandatory())
    .addOption(new Option('--node-id <id>', 'this node\'s id (default: the host name)').env('CSI_NODE_ID'))
    .addOption(new Option('--mode <mode>', 'services to serve').choices(['controller', 'node', 'both']).default('both'))
    .option('--driver-name <name>', 'plugin name reported by GetPluginInfo', 'csi.stowage.io')
    .option('--allowed-dir <dir>', 'folder staging and target paths must lie in (repeatable; default /var/lib/kubelet and <data-root>/csi/targets)', collect)
    .option('--gluster-arg <arg>', 'extra argument for the gluster CLI when setting quotas of GlusterFS volumes, repeatable (default --remote-host=<first server>)', collect)
    .option('--verbose', 'log failed calls to stderr')
    .action(async (o: CsiFlags) => {
      const { hostname } = await import('node:os');
      const nodeId = o.nodeId || hostname();
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(nodeId)) throw invalidArgument(`--node-id ${JSON.stringify(nodeId)}: letters, digits, "_", "." and "-", at most 128`);
      const engine = await openEngine(g());
      try {
        await engine.recover();
        const { startCsiServer } = await import('../../csi/server.js');
        const allowed = o.allowedDir?.length ? o.allowedDir : ['/var/lib/kubelet', engine.layout.csiTargetsDir];
        const server = await startCsiServer(engine, o.endpoint, {
          nodeId, mode: o.mode as 'controller' | 'node' | 'both', allowedDirs: allowed, driverName: o.driverName!,
          ...(o.glusterArg?.length ? { glusterArgs: o.glusterArg } : {}),
          ...(o.verbose ? { log: (l: string) => process.stderr.write(`csi: ${l}\n`) } : {}),
        });
        process.stderr.write(`stowage csi: serving ${o.mode} on unix://${server.socket} as node ${nodeId}\n`);
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once('SIGTERM', stop);
          process.once('SIGINT', stop);
        });
        await server.close();
      } finally {
        engine.close();
      }
    });
}
