// commands/df.ts: `system df [-v] [--format]`, Docker's disk usage report. The
// numbers come from store/usage.ts; this file only lays them out.
import type { Command } from 'commander';
import type { GlobalOptions } from '../main.js';
import { withEngine } from '../open.js';
import { compileTemplate, humanSize, json, renderTemplate, since, table } from '../format.js';
import type { DiskUsageReport, TypeUsage } from '../../store/usage.js';

const out = (s: string) => process.stdout.write(s);

const HEADERS: Record<string, string> = {
  Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE',
  Repository: 'REPOSITORY', Tag: 'TAG', ID: 'IMAGE ID', CreatedSince: 'CREATED', SharedSize: 'SHARED SIZE',
  UniqueSize: 'UNIQUE SIZE', Containers: 'CONTAINERS',
};

interface SummaryRow { Type: string; TotalCount: string; Active: string; Size: string; Reclaimable: string }

/** The summary rows use go-units' HumanSize (4 significant digits: "1.982MB"); the -v tables use 3. */
function humanSize4(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${Number(v.toPrecision(4))}${units[i]}`;
}

/** Docker prints "1.2MB (45%)"; the percentage is left out when there is nothing to divide. */
function reclaimable(u: TypeUsage): string {
  if (u.size <= 0) return humanSize4(u.reclaimable);
  return `${humanSize4(u.reclaimable)} (${Math.floor((100 * u.reclaimable) / u.size)}%)`;
}

function summary(r: DiskUsageReport): SummaryRow[] {
  const row = (Type: string, u: TypeUsage): SummaryRow => ({
    Type, TotalCount: String(u.total), Active: String(u.active), Size: humanSize4(u.size), Reclaimable: reclaimable(u),
  });
  return [row('Images', r.imageTotals), row('Containers', r.containerTotals), row('Local Volumes', r.volumeTotals), row('Build Cache', r.buildCacheTotals)];
}

function imageRows(r: DiskUsageReport) {
  const rows = [];
  for (const img of r.images) {
    const tags = img.repoTags.length > 0 ? img.repoTags : ['<none>:<none>'];
    for (const t of tags) {
      const i = t.lastIndexOf(':');
      rows.push({
        Repository: t.slice(0, i), Tag: t.slice(i + 1), ID: img.id.replace(/^sha256:/, '').slice(0, 12),
        CreatedSince: since(img.created), Size: humanSize(img.size), SharedSize: humanSize(img.sharedSize),
        UniqueSize: humanSize(img.uniqueSize), Containers: String(img.containers),
      });
    }
  }
  return rows;
}

function verbose(r: DiskUsageReport): string {
  let s = 'Images space usage:\n\n';
  s += table([
    ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE', 'SHARED SIZE', 'UNIQUE SIZE', 'CONTAINERS'],
    ...imageRows(r).map((x) => [x.Repository, x.Tag, x.ID, x.CreatedSince, x.Size, x.SharedSize, x.UniqueSize, x.Containers]),
  ]);
  s += '\nContainers space usage:\n\n';
  s += table([['CONTAINER ID', 'IMAGE', 'COMMAND', 'LOCAL VOLUMES', 'SIZE', 'CREATED', 'STATUS', 'NAMES'],
    ...r.containers.map((c) => [c.id.slice(0, 12), c.image, c.command.length > 20 ? `"${c.command.slice(0, 19)}…"` : `"${c.command}"`, String(c.volumes), humanSize(c.size), since(c.created), c.status, c.name])]);
  s += '\nLocal Volumes space usage:\n\n';
  s += table([['VOLUME NAME', 'LINKS', 'SIZE'], ...r.volumes.map((v) => [v.name, String(v.links), humanSize(v.size)])]);
  s += `\nBuild cache usage: ${humanSize(r.buildCacheTotals.size)}\n\n`;
  s += table([['CACHE ID', 'CACHE TYPE', 'SIZE', 'CREATED', 'LAST USED', 'USAGE', 'SHARED']]);
  return s;
}

function dfAction(g: () => GlobalOptions) {
  return async (o: { verbose?: boolean; format?: string }) =>
    withEngine(g(), async (e) => {
      const { systemDiskUsage } = await import('../../store/usage.js');
      const r = await systemDiskUsage(e);
      if (o.format === 'json') {
        out(json(r) + '\n'); // the raw numbers, in bytes
        return;
      }
      if (o.format) {
        const rows = o.verbose ? imageRows(r) : summary(r);
        out(renderTemplate(compileTemplate(o.format, HEADERS), rows));
        return;
      }
      if (o.verbose) {
        out(verbose(r));
        return;
      }
      out(table([['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'], ...summary(r).map((x) => [x.Type, x.TotalCount, x.Active, x.Size, x.Reclaimable])]));
    });
}

/** Adds `df` under the `system` command (registered by commands/system.ts, which must run first). */
export function registerDfCommand(program: Command, g: () => GlobalOptions): void {
  const system = program.commands.find((c) => c.name() === 'system') ?? program.command('system');
  system.command('df').description('Show stowage disk usage')
    .option('-v, --verbose', 'show detailed information on space usage')
    .option('--format <string>', 'format output using a Go template, or "json" for the numbers in bytes')
    .action(dfAction(g));
}
