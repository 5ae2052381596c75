// commands/images.ts: images, image ls/inspect/history/rm/prune/tag/import/load/save,
// with Docker's flags, output and exit codes.
import type { Command } from 'commander';
import { createReadStream, createWriteStream, renameSync, rmSync, openSync, closeSync } from 'node:fs';
import { fileSink } from '../file-sink.js';
import { pipeline } from 'node:stream/promises';
import type { GlobalOptions } from '../main.js';
import { withEngine, collect, argErrors } from '../open.js';
import { inspectAction } from '../inspect.js';
import { IMAGE_HEADERS, imageRows, imageIds, historyRows, HISTORY_HEADERS, onlyMatchingRefs, type ImageRow } from '../../views/images.js';
import { compileTemplate, humanSize, renderTemplate, table } from '../format.js';
import { invalidArgument } from '../../errors.js';

const out = (s: string) => process.stdout.write(s);

function listAction(g: () => GlobalOptions) {
  return async (reference: string | undefined, o: { all?: boolean; quiet?: boolean; digests?: boolean; trunc?: boolean; format?: string; filter?: string[] }) =>
    withEngine(g(), (e) => {
      const images = onlyMatchingRefs(e.images.list({ all: !!o.all, filters: o.filter ?? [], ...(reference ? { reference } : {}) }), o.filter ?? [], reference);
      const noTrunc = o.trunc === false; // commander turns --no-trunc into trunc: false
      if (o.quiet) {
        for (const id of imageIds(images, noTrunc)) out(id + '\n');
        return;
      }
      const r = imageRows(images, noTrunc);
      if (o.format) {
        out(renderTemplate(compileTemplate(o.format, IMAGE_HEADERS), r));
        return;
      }
      const cols = o.digests ? ['Repository', 'Tag', 'Digest', 'ID', 'CreatedSince', 'Size'] : ['Repository', 'Tag', 'ID', 'CreatedSince', 'Size'];
      out(table([cols.map((c) => IMAGE_HEADERS[c]!), ...r.map((x) => cols.map((c) => x[c as keyof ImageRow]))]));
    });
}

function lsOptions(c: Command): Command {
  return c
    .argument('[REPOSITORY[:TAG]]')
    .option('-a, --all', 'show all images (default hides intermediate images)')
    .option('--digests', 'show digests')
    .option('-f, --filter <filter>', 'filter output based on conditions provided', collect)
    .option('--format <string>', 'pretty-print images using a Go template')
    .option('--no-trunc', "don't truncate output")
    .option('-q, --quiet', 'only show image IDs');
}

function rmAction(g: () => GlobalOptions) {
  return async (names: string[], o: { force?: boolean; prune?: boolean }) =>
    withEngine(g(), async (e) => {
      const errors: string[] = [];
      for (const n of names) {
        try {
          for (const item of await e.images.remove(n, { force: !!o.force, noPrune: o.prune === false })) {
            out('Untagged' in item ? `Untagged: ${item.Untagged}\n` : `Deleted: ${item.Deleted}\n`);
          }
        } catch (err) {
          errors.push((err as Error).message);
        }
      }
      if (errors.length) throw argErrors(errors);
    });
}

function historyAction(g: () => GlobalOptions) {
  return async (name: string, o: { human?: boolean; trunc?: boolean; quiet?: boolean; format?: string }) =>
    {
      const noTrunc = o.trunc === false;
      return withEngine(g(), (e) => {
      const items = e.images.history(name);
      const human = o.human !== false;
      if (o.quiet) { for (const h of historyRows(items, { human, noTrunc })) out(h.ID + '\n'); return; }
      const view = historyRows(items, { human, noTrunc });
      if (o.format) {
        out(renderTemplate(compileTemplate(o.format, HISTORY_HEADERS), view));
        return;
      }
      out(table([['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'], ...view.map((v) => [v.ID, v.CreatedSince, v.CreatedBy, v.Size, v.Comment])]));
    });
    };
}

function tagAction(g: () => GlobalOptions) {
  return async (source: string, target: string) => withEngine(g(), async (e) => {
    await e.recover();
    e.images.tag(source, target);
  });
}

function pruneAction(g: () => GlobalOptions) {
  return async (o: { all?: boolean; force?: boolean; filter?: string[] }) => {
    if (!o.force && process.stdin.isTTY) {
      const warn = o.all ? 'WARNING! This will remove all images without at least one container associated to them.'
        : 'WARNING! This will remove all dangling images.';
      process.stderr.write(`${warn}\nAre you sure you want to continue? [y/N] `);
      const answer = await readLine();
      if (!/^y(es)?$/i.test(answer.trim())) return;
    }
    await withEngine(g(), async (e) => {
      const r = await e.images.prune({ all: !!o.all, filters: o.filter ?? [] });
      if (r.ImagesDeleted) {
        out('Deleted Images:\n');
        for (const item of r.ImagesDeleted) out('Untagged' in item ? `untagged: ${item.Untagged}\n` : `deleted: ${item.Deleted}\n`);
        out('\n');
      }
      out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
    });
  };
}

function readLine(): Promise<string> {
  return new Promise((resolve) => {
    process.stdin.once('data', (d) => { process.stdin.pause(); resolve(String(d)); });
  });
}

/** stdin or a file as chunks. */
function source(file: string): AsyncIterable<Buffer> {
  return (file === '-' ? process.stdin : createReadStream(file, { highWaterMark: 1 << 20 })) as AsyncIterable<Buffer>;
}

function importAction(g: () => GlobalOptions) {
  return async (file: string, reference: string | undefined, o: { change?: string[]; message?: string; platform?: string }) =>
    withEngine(g(), async (e) => {
      const id = await e.images.import(source(file), {
        ...(reference ? { reference } : {}),
        ...(o.message ? { message: o.message } : {}),
        ...(o.change ? { changes: o.change } : {}),
        ...(o.platform ? { platform: o.platform } : {}),
      });
      out(id + '\n');
    });
}

function loadAction(g: () => GlobalOptions) {
  return async (o: { input?: string; quiet?: boolean }) =>
    withEngine(g(), async (e) => {
      let path = o.input;
      let spooled: string | undefined;
      if (!path) {
        if (process.stdin.isTTY) throw invalidArgument('requested load from stdin, but stdin is empty');
        // An archive is read by offset (random access): spool stdin to staging first.
        spooled = e.layout.tmpPath('load');
        await pipeline(process.stdin, createWriteStream(spooled));
        path = spooled;
      }
      try {
        // Docker draws "Loading layer" bars on a terminal only, and not with -q.
        let onProgress;
        if (process.stdout.isTTY && !o.quiet) {
          const { ProgressRenderer } = await import('../progress.js');
          onProgress = new ProgressRenderer(process.stdout, 'tty').on;
        }
        const r = await e.images.load(path, onProgress ? { onProgress } : {});
        for (const m of r.messages) out(m + '\n');
        for (const img of r.images) {
          if (img.tags.length === 0) out(`Loaded image ID: ${img.id}\n`);
          for (const t of img.tags) out(`Loaded image: ${t}\n`);
        }
      } finally {
        if (spooled) rmSync(spooled, { force: true });
      }
    });
}

function saveAction(g: () => GlobalOptions) {
  return async (names: string[], o: { output?: string }) =>
    withEngine(g(), async (e) => {
      if (!o.output) {
        if (process.stdout.isTTY) throw invalidArgument('cowardly refusing to save to a terminal. Use the -o flag or redirect');
        await e.images.save(names, process.stdout);
        return;
      }
      // Written beside the target and renamed, so a failed save leaves no partial file.
      const tmp = `${o.output}.stowage-tmp-${process.pid}`;
      let fd: number | undefined = openSync(tmp, 'w');
      try {
        const ws = fileSink(fd); // synchronous writes, gathered (file-sink.ts)
        let failed: Error | undefined;
        ws.on('error', (err) => { failed ??= err; }); // a failed write is raised below, not as an uncaught event
        // With -o the terminal is free: "Saving layer" bars there, as load draws "Loading layer".
        let onProgress;
        if (process.stdout.isTTY) {
          const { ProgressRenderer } = await import('../progress.js');
          onProgress = new ProgressRenderer(process.stdout, 'tty').on;
        }
        await e.images.save(names, ws, onProgress ? { onProgress } : {});
        await new Promise<void>((resolve, reject) => ws.end((err?: Error | null) => (err || failed ? reject(err ?? failed) : resolve())));
        closeSync(fd);
        fd = undefined;
        renameSync(tmp, o.output);
      } catch (err) {
        if (fd !== undefined) closeSync(fd);
        rmSync(tmp, { force: true });
        throw err;
      }
    });
}

export function registerImageCommands(program: Command, g: () => GlobalOptions): void {
  lsOptions(program.command('images').description('List images')).action(listAction(g));
  program.command('rmi').description('Remove one or more images').argument('<IMAGE...>')
    .option('-f, --force', 'force removal of the image').option('--no-prune', 'do not delete untagged parents').action(rmAction(g));
  program.command('tag').description('Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE')
    .argument('<SOURCE_IMAGE[:TAG]>').argument('<TARGET_IMAGE[:TAG]>').action(tagAction(g));
  program.command('history').description('Show the history of an image').argument('<IMAGE>')
    .option('-H, --human', 'print sizes and dates in human readable format', true).option('--no-human', 'print raw sizes and dates')
    .option('--format <string>', 'pretty-print using a Go template').option('--no-trunc', "don't truncate output").option('-q, --quiet', 'only show image IDs')
    .action(historyAction(g));
  program.command('import').description('Import the contents from a tarball to create a filesystem image')
    .argument('<file|->').argument('[REPOSITORY[:TAG]]')
    .option('-c, --change <instruction>', 'apply Dockerfile instruction to the created image', collect)
    .option('-m, --message <string>', 'set commit message for imported image')
    .option('--platform <string>', 'set platform (os/arch[/variant])').action(importAction(g));
  program.command('load').description('Load an image from a tar archive or STDIN')
    .option('-i, --input <file>', 'read from tar archive file, instead of STDIN').option('-q, --quiet', 'suppress the load output').action(loadAction(g));
  program.command('save').description('Save one or more images to a tar archive (streamed to STDOUT by default)')
    .argument('<IMAGE...>').option('-o, --output <file>', 'write to a file, instead of STDOUT').action(saveAction(g));

  const image = program.command('image').description('Manage images');
  lsOptions(image.command('ls').alias('list').description('List images')).action(listAction(g));
  image.command('inspect').description('Display detailed information on one or more images').argument('<IMAGE...>')
    .option('-f, --format <string>', 'format output using a Go template').action(inspectAction(g, 'image'));
  image.command('rm').alias('remove').description('Remove one or more images').argument('<IMAGE...>')
    .option('-f, --force', 'force removal of the image').option('--no-prune', 'do not delete untagged parents').action(rmAction(g));
  image.command('tag').argument('<SOURCE_IMAGE[:TAG]>').argument('<TARGET_IMAGE[:TAG]>').action(tagAction(g));
  image.command('history').argument('<IMAGE>')
    .option('-H, --human', 'print sizes and dates in human readable format', true).option('--no-human', 'print raw sizes and dates')
    .option('--format <string>', 'pretty-print using a Go template').option('--no-trunc', "don't truncate output").option('-q, --quiet', 'only show image IDs')
    .action(historyAction(g));
  image.command('prune').description('Remove unused images')
    .option('-a, --all', 'remove all unused images, not just dangling ones').option('-f, --force', 'do not prompt for confirmation')
    .option('--filter <filter>', 'provide filter values (e.g. "until=<timestamp>")', collect).action(pruneAction(g));
  image.command('import').argument('<file|->').argument('[REPOSITORY[:TAG]]')
    .option('-c, --change <instruction>', 'apply Dockerfile instruction to the created image', collect)
    .option('-m, --message <string>', 'set commit message for imported image').option('--platform <string>', 'set platform').action(importAction(g));
  image.command('load').option('-i, --input <file>', 'read from tar archive file, instead of STDIN').option('-q, --quiet', 'suppress the load output').action(loadAction(g));
  image.command('save').argument('<IMAGE...>').option('-o, --output <file>', 'write to a file, instead of STDOUT').action(saveAction(g));
  program.command('inspect').description('Return low-level information on stowage objects').argument('<NAME|ID...>')
    .option('-f, --format <string>', 'format output using a Go template').option('--type <string>', 'return JSON for specified type (container, image)')
    .option('-s, --size', 'display total file sizes if the type is container')
    .action(inspectAction(g));
}
