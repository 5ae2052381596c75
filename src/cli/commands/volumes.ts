// commands/volumes.ts: volume create/ls/inspect/rm/prune, with Docker's flags,
// output and exit codes.
import type { Command } from 'commander';
import type { GlobalOptions } from '../main.js';
import { withEngine, collect } from '../open.js';
import { compileTemplate, humanSize, json, renderTemplate, table } from '../format.js';
import { invalidArgument } from '../../errors.js';
import type { Engine } from '../../engine.js';
import type { VolumeService } from '../../volumes/service.js';
import { VOLUME_HEADERS as HEADERS, volumeRow as row, naturalLess, kvMap } from '../../views/volumes.js';

const out = (s: string) => process.stdout.write(s);

async function service(e: Engine, recover = false): Promise<VolumeService> {
  const { volumeService } = await import('../../volumes/service.js');
  const s = volumeService(e);
  if (recover) await e.recover(); // Engine.recover runs the volume service's recover
  return s;
}

const kvList = (list: string[] | undefined) => kvMap(list, (m) => invalidArgument(m));

function createAction(g: () => GlobalOptions) {
  return async (name: string | undefined, o: { driver?: string; label?: string[]; opt?: string[]; name?: string }) =>
    withEngine(g(), async (e) => {
      if (name && o.name && name !== o.name) throw invalidArgument(`conflicting options: either specify --name or provide positional arg, not both`);
      const s = await service(e, true);
      const { volume } = await s.create(name ?? o.name, { driver: o.driver ?? 'local', labels: kvList(o.label), options: kvList(o.opt) });
      out(volume.name + '\n');
    });
}

function lsAction(g: () => GlobalOptions) {
  return async (o: { quiet?: boolean; format?: string; filter?: string[] }) =>
    withEngine(g(), async (e) => {
      const s = await service(e);
      const { volumes, warnings } = await s.listAll(o.filter ?? []);
      for (const w of warnings) process.stderr.write(`Warning: ${w}\n`);
      const vols = volumes.sort((a, b) => naturalLess(a.name, b.name));
      if (o.quiet) { out(vols.map((v) => v.name + '\n').join('')); return; }
      if (o.format) { out(renderTemplate(compileTemplate(o.format, HEADERS), vols.map(row))); return; }
      out(table([['DRIVER', 'VOLUME NAME'], ...vols.map((v) => [v.driver, v.name])]));
    });
}

function inspectAction(g: () => GlobalOptions) {
  return async (names: string[], o: { format?: string }) =>
    withEngine(g(), async (e) => {
      const s = await service(e);
      const found: unknown[] = [];
      const errors: string[] = [];
      for (const n of names) {
        try { found.push(await s.inspect(n)); } catch (err) { errors.push((err as Error).message); }
      }
      if (o.format) out(renderTemplate(compileTemplate(o.format), found));
      else out(json(found) + '\n');
      if (errors.length) throw new Error(errors.join('\nError: '));
    });
}

function rmAction(g: () => GlobalOptions) {
  return async (names: string[], o: { force?: boolean }) =>
    withEngine(g(), async (e) => {
      const s = await service(e, true);
      const errors: string[] = [];
      for (const n of names) {
        try {
          await s.remove(n);
          out(n + '\n');
        } catch (err) {
          // -f ignores volumes that do not exist (Docker's force), never volumes in use.
          if (o.force && (err as { kind?: string }).kind === 'NotFound') continue;
          errors.push((err as Error).message);
        }
      }
      if (errors.length) throw new Error(errors.join('\nError: '));
    });
}

function readLine(): Promise<string> {
  return new Promise((resolve) => {
    process.stdin.once('data', (d) => { process.stdin.pause(); resolve(String(d)); });
    process.stdin.once('end', () => resolve(''));
  });
}

function pruneAction(g: () => GlobalOptions) {
  return async (o: { all?: boolean; force?: boolean; filter?: string[] }) => {
    if (!o.force && process.stdin.isTTY) {
      const warn = o.all ? 'WARNING! This will remove all local volumes not used by at least one container.'
        : 'WARNING! This will remove anonymous local volumes not used by at least one container.';
      process.stderr.write(`${warn}\nAre you sure you want to continue? [y/N] `);
      if (!/^y(es)?$/i.test((await readLine()).trim())) return;
    }
    await withEngine(g(), async (e) => {
      const s = await service(e, true);
      const r = await s.prune({ all: !!o.all, filters: o.filter ?? [] });
      if (r.VolumesDeleted.length) out(`Deleted Volumes:\n${r.VolumesDeleted.map((n) => n + '\n').join('')}\n`);
      out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
    });
  };
}

export function registerVolumeCommands(program: Command, g: () => GlobalOptions): void {
  const volume = program.command('volume').description('Manage volumes');
  volume.command('create').description('Create a volume').argument('[VOLUME]')
    .option('-d, --driver <string>', 'specify volume driver name', 'local')
    .option('--label <label>', 'set metadata for a volume', collect)
    .option('-o, --opt <option>', 'set driver specific options', collect)
    .option('--name <string>', 'specify volume name (deprecated: give it as an argument)')
    .action(createAction(g));
  volume.command('ls').alias('list').description('List volumes')
    .option('-f, --filter <filter>', 'provide filter values (e.g. "dangling=true")', collect)
    .option('--format <string>', 'format output using a custom template')
    .option('-q, --quiet', 'only display volume names')
    .action(lsAction(g));
  volume.command('inspect').description('Display detailed information on one or more volumes').argument('<VOLUME...>')
    .option('-f, --format <string>', 'format output using a custom template').action(inspectAction(g));
  volume.command('rm').alias('remove').description('Remove one or more volumes').argument('<VOLUME...>')
    .option('-f, --force', 'force the removal of one or more volumes').action(rmAction(g));
  volume.command('prune').description('Remove unused local volumes')
    .option('-a, --all', 'remove all unused volumes, not just anonymous ones')
    .option('--filter <filter>', 'provide filter values (e.g. "label=<label>")', collect)
    .option('-f, --force', 'do not prompt for confirmation').action(pruneAction(g));
}
