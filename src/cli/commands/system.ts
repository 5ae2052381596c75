// commands/system.ts: info, version, system check.
import type { Command } from 'commander';
import type { GlobalOptions } from '../main.js';
import { withEngine } from '../open.js';
import { compileTemplate, json, renderTemplate } from '../format.js';
import { API_VERSION, VERSION } from '../version.js';
import { systemInfo, clientVersion, arch } from '../../views/system.js';

const out = (s: string) => process.stdout.write(s);

function infoAction(g: () => GlobalOptions) {
  return async (o: { format?: string }) =>
    withEngine(g(), async (e) => {
      const info = systemInfo(e);
      if (o.format) { out(renderTemplate(compileTemplate(o.format), [info])); return; }
      let s = 'Server:\n';
      s += ` Containers: ${info.Containers}\n Images: ${info.Images}\n Server Version: ${VERSION}\n`;
      s += ` Storage Driver: ${info.Driver}\n`;
      for (const [k, v] of info.DriverStatus) s += `  ${k}: ${v}\n`;
      s += ` Kernel Version: ${info.KernelVersion}\n Operating System: ${info.OperatingSystem}\n Architecture: ${info.Architecture}\n CPUs: ${info.NCPU}\n`;
      s += ` Total Memory: ${(info.MemTotal / 2 ** 30).toFixed(2)}GiB\n Stowage Root Dir: ${info.DockerRootDir}\n`;
      out(s);
    });
}

function versionAction() {
  return async (o: { format?: string }) => {
    const v = { Client: clientVersion() };
    if (o.format) { out(renderTemplate(compileTemplate(o.format), [v])); return; }
    out(`Client: Stowage\n Version:           ${VERSION}\n API version:       ${API_VERSION}\n Node version:      ${process.version}\n OS/Arch:           ${process.platform}/${arch()}\n`);
  };
}

function checkAction(g: () => GlobalOptions) {
  return async (o: { repair?: boolean; quick?: boolean; format?: string }) =>
    withEngine(g(), async (e) => {
      const { systemCheck } = await import('../../store/check.js');
      const r = await systemCheck(e, { repair: !!o.repair, quick: !!o.quick });
      if (o.format === 'json') { out(json(r) + '\n'); }
      else {
        const errors = r.issues.filter((i) => i.kind === 'error');
        const garbage = r.issues.filter((i) => i.kind === 'garbage');
        out(`Checked ${r.checked.images} images, ${r.checked.layers} layers, ${r.checked.blobs} blobs.\n`);
        for (const i of r.issues) out(`${i.kind === 'error' ? 'ERROR' : 'garbage'}: ${i.what} ${i.subject}: ${i.message}${i.repaired ? ' (repaired)' : ''}\n`);
        if (errors.length === 0 && garbage.length === 0) out('No problems found.\n');
        else if (!o.repair && r.issues.length) out('Run `stowage system check --repair` to remove garbage and damaged images.\n');
      }
      const unrepaired = r.issues.filter((i) => i.kind === 'error' && !i.repaired);
      if (unrepaired.length) process.exitCode = 1;
    });
}

export function registerSystemCommands(program: Command, g: () => GlobalOptions): void {
  program.command('info').description('Display system-wide information').option('-f, --format <string>', 'format output using a Go template').action(infoAction(g));
  program.command('version').description('Show the stowage version information').option('-f, --format <string>', 'format output using a Go template').action(versionAction());
  const system = program.command('system').description('Manage stowage');
  system.command('info').option('-f, --format <string>', 'format output using a Go template').action(infoAction(g));
  system.command('check').description('Check the store for consistency: every record, layer and blob')
    .option('-r, --repair', 'remove garbage and damaged images')
    .option('-q, --quick', 'skip re-hashing layer contents')
    .option('--format <string>', '"json" for a machine-readable report')
    .action(checkAction(g));
}
