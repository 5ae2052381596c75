// commands/plugins.ts: `plugin ls` / `plugin inspect` for the volume plugins
// discovery finds (Docker's table: ID NAME DESCRIPTION ENABLED), and
// `plugin-glusterfs`, which runs the GlusterFS plugin shipped with stowage.
// No engine is opened: plugins live outside the data root.
import type { Command } from 'commander';
import type { GlobalOptions } from '../main.js';
import { json, table } from '../format.js';
import { invalidArgument } from '../../errors.js';
import { describePlugin as describe, type PluginInfo } from '../../views/plugins.js';

const out = (s: string) => process.stdout.write(s);

export function registerPluginCommands(program: Command, _g: () => GlobalOptions): void {
  const plugin = program.command('plugin').description('Manage volume plugins (found in the plugin folders, as Docker finds them)');
  plugin.command('ls').alias('list').description('List plugins')
    .option('-q, --quiet', 'only display plugin IDs')
    .option('--no-trunc', "don't truncate output")
    .option('--format <string>', 'json for the full records')
    .action(async (o: { quiet?: boolean; trunc?: boolean; format?: string }) => {
      const { discoverPlugins } = await import('../../plugins/discovery.js');
      const infos = await Promise.all(discoverPlugins().map((p) => describe(p.name, p)));
      const id = (i: PluginInfo) => (o.trunc === false ? i.Id : i.Id.slice(0, 12));
      if (o.quiet) { out(infos.map((i) => id(i) + '\n').join('')); return; }
      if (o.format === 'json') { out(json(infos) + '\n'); return; }
      if (o.format) throw invalidArgument('plugin ls --format takes only "json"');
      out(table([['ID', 'NAME', 'DESCRIPTION', 'ENABLED'], ...infos.map((i) => [id(i), i.Name, i.Description, String(i.Enabled)])]));
    });
  plugin.command('inspect').description('Display detailed information on one or more plugins').argument('<PLUGIN...>')
    .action(async (names: string[]) => {
      const { findPlugin } = await import('../../plugins/discovery.js');
      const found: PluginInfo[] = [];
      const errors: string[] = [];
      for (const n of names) {
        try { const loc = findPlugin(n); found.push(await describe(n, loc)); } catch (err) { errors.push((err as Error).message); }
      }
      out(json(found) + '\n');
      if (errors.length) throw new Error(errors.join('\nError: '));
    });

  program.command('plugin-glusterfs').description('Run the GlusterFS volume plugin (serves Docker\'s plugin protocol on a unix socket)')
    .requiredOption('--socket <path>', 'unix socket to serve on (e.g. /run/docker/plugins/glusterfs.sock)')
    .requiredOption('--servers <hosts>', 'Gluster servers, comma-separated')
    .requiredOption('--volume <name>', 'the Gluster volume that holds the volumes')
    .option('--root <dir>', 'the plugin\'s folder on this host (default /run/stowage/glusterfs/<volume>)')
    .option('--gluster-arg <arg>', 'extra argument for the gluster CLI, repeatable (e.g. --glusterd-sock=…)', (v: string, p: string[] = []) => [...p, v])
    .action(async (o: { socket: string; servers: string; volume: string; root?: string; glusterArg?: string[] }) => {
      const { GlusterfsPlugin } = await import('../../plugins/glusterfs/plugin.js');
      const { servePlugin } = await import('../../plugins/sdk.js');
      const p = new GlusterfsPlugin({
        servers: o.servers.split(',').map((s) => s.trim()).filter(Boolean), volume: o.volume,
        root: o.root ?? `/run/stowage/glusterfs/${o.volume}`, ...(o.glusterArg ? { glusterArgs: o.glusterArg } : {}),
      });
      const srv = await servePlugin(p, { socket: o.socket, log: (l) => process.stderr.write(`${new Date().toISOString()} ${l}\n`) });
      process.stderr.write(`glusterfs plugin serving on ${srv.socket}\n`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      await srv.close();
      p.shutdown();
    });
}
