// commands/build.ts: `stowage build` and `stowage builder prune`. The builder
// reports events; this file prints them, in the classic builder's words by default
// ("Step 1/7 : FROM …", " ---> Using cache", "Successfully built …") or, with
// --progress plain, one numbered line per step with CACHED / DONE.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { GlobalOptions } from '../main.js';
import { withEngine, collect } from '../open.js';
import { humanSize } from '../format.js';
import { invalidArgument } from '../../errors.js';
import { ExitError } from '../exit.js';
import { classicPrinter, plainPrinter, taggedName } from '../../views/build.js';

import { shortImageId as short } from '../../views/build.js';

interface BuildFlags {
  tag?: string[]; file?: string; buildArg?: string[]; noCache?: boolean; cache?: boolean; target?: string;
  label?: string[]; progress?: string; quiet?: boolean;
}

function keyValues(list: string[] | undefined, what: string, fromEnv: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list ?? []) {
    const i = kv.indexOf('=');
    if (i === 0) throw invalidArgument(`invalid ${what}: ${kv}`);
    if (i < 0) {
      if (!fromEnv) { out[kv] = ''; continue; }
      const v = process.env[kv];
      if (v !== undefined) out[kv] = v; // `--build-arg NAME` takes the value from the environment, or is ignored
      continue;
    }
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

function buildAction(g: () => GlobalOptions) {
  return async (contextArg: string, o: BuildFlags) =>
    withEngine(g(), async (e) => {
      const { buildImage, RunFailedError } = await import('../../build/builder.js');
      const progress = o.progress ?? 'auto';
      if (!['auto', 'plain', 'tty'].includes(progress)) throw invalidArgument(`invalid --progress value "${progress}": want auto, plain or tty`);
      const captured: string[] = [];
      const write = o.quiet ? (s: string) => void captured.push(s) : (s: string) => void process.stdout.write(s);
      const onEvent = progress === 'plain' ? plainPrinter(write) : classicPrinter(write, o.quiet ? 'none' : process.stdout.isTTY ? 'tty' : 'plain');
      let dockerfile: { path: string } | { text: string } | undefined;
      if (o.file === '-') {
        if (contextArg === '-') throw invalidArgument('invalid argument: can\'t use stdin for both build context and dockerfile');
        dockerfile = { text: readFileSync(0, 'utf8') };
      } else if (o.file) {
        dockerfile = { path: contextArg === '-' ? o.file : resolve(o.file) };
      }
      try {
        const r = await buildImage(e, {
          context: contextArg === '-' ? { tar: process.stdin as AsyncIterable<Buffer> } : { dir: resolve(contextArg) },
          ...(dockerfile ? { dockerfile } : {}),
          tags: o.tag ?? [],
          buildArgs: keyValues(o.buildArg, 'build-arg', true),
          labels: keyValues(o.label, 'label', false),
          noCache: !!o.noCache || o.cache === false,
          ...(o.target ? { target: o.target } : {}),
          onEvent,
        });
        for (const m of r.messages) write(m + '\n');
        if (o.quiet) { process.stdout.write(`${r.id}\n`); return; }
        write(`Successfully built ${short(r.id)}\n`);
        for (const t of o.tag ?? []) write(`Successfully tagged ${taggedName(t)}\n`);
      } catch (err) {
        if (o.quiet) process.stderr.write(captured.join(''));
        if (err instanceof RunFailedError) throw new ExitError(err.exitCode, err.message);
        throw err;
      }
    });
}

function pruneAction(g: () => GlobalOptions) {
  return async () =>
    withEngine(g(), async (e) => {
      const { BuildCache } = await import('../../build/cache.js');
      const r = await new BuildCache(e).prune();
      if (r.removedLayers.length) {
        process.stdout.write('Deleted build cache objects:\n');
        for (const l of r.removedLayers) process.stdout.write(`${l.id}\n`);
        process.stdout.write('\n');
      }
      process.stdout.write(`Total reclaimed space: ${humanSize(r.reclaimed)}\n`);
    });
}

export function registerBuildCommands(program: Command, g: () => GlobalOptions): void {
  const options = (c: Command) => c
    .argument('<PATH|->', 'the build context: a folder, or - for a tar on standard input')
    .option('-t, --tag <name:tag>', 'name and optionally a tag (repeatable)', collect)
    .option('-f, --file <path>', 'name of the Dockerfile (default: PATH/Dockerfile; - for standard input)')
    .option('--build-arg <KEY=VALUE>', 'set a build-time variable (repeatable)', collect)
    .option('--no-cache', 'do not use the layer cache when building')
    .option('--target <stage>', 'build this stage and stop')
    .option('--label <KEY=VALUE>', 'set metadata on the image (repeatable)', collect)
    .option('--progress <mode>', 'progress output: auto, plain or tty', 'auto')
    .option('-q, --quiet', 'print only the image ID on success')
    .action(buildAction(g));
  options(program.command('build').description('Build an image from a Dockerfile'));
  const builder = program.command('builder').description('Manage the build cache');
  builder.command('prune').description('Remove the build cache (layers nothing else uses are deleted)')
    .option('-a, --all', 'remove all cache (the only kind there is)')
    .option('-f, --force', 'do not prompt for confirmation')
    .action(pruneAction(g));
}
