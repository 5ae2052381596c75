// commands/df.ts: `system df [-v] [--format]`, Docker's disk usage report. The
// numbers come from store/usage.ts; this file only lays them out.
import type { Command } from 'commander';
import type { GlobalOptions } from '../main.js';
import { withEngine } from '../open.js';
import { compileTemplate, json, renderTemplate, table } from '../format.js';
import { DF_HEADERS as HEADERS, dfSummary as summary, dfImageRows as imageRows, dfVerbose as verbose } from '../../views/df.js';

const out = (s: string) => process.stdout.write(s);

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
