// cases/small.ts: the fast-CLI issue's figures, side by side with Docker on the application
// image (both with --network none):
//   images         `images` with the bench image loaded
//   ps-a           `ps -a` with 5 created containers
//   create-rm      `create IMAGE true` then `rm` of it (one timing for both commands)
//   run-rm-volume  `run --rm -v NAME:/data IMAGE true` with NAME an existing named volume
//   commit-300     `commit` of a container that wrote 300 files
//   save           `save -o FILE IMAGE` of the application image
//   memory         peak memory (maxRSS, from /usr/bin/time) of `images` and of `volume ls`:
//                  parts in MB; the time is that of the two commands
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Case, BenchContext, Side } from '../case.js';
import { exec } from '../exec.js';
import { ensureImage } from './containers.js';

const NET = ['--network', 'none'];
const dockerUnavailable = async (ctx: BenchContext) => (ctx.docker ? null : `docker not available: ${ctx.dockerWhy ?? 'unknown'}`);

async function st(ctx: BenchContext, args: string[]): Promise<string> {
  return (await ctx.stowage.run(args, ctx.signal)).stdout.trim();
}
async function dk(ctx: BenchContext, args: string[]): Promise<string> {
  return (await ctx.docker!.docker(args, { check: true, signal: ctx.signal })).stdout.toString().trim();
}

function pair(name: string, what: string, s: Omit<Side, 'unavailable'>, d: Omit<Side, 'unavailable'>, extra: Partial<Case> = {}): Case {
  return {
    name, what, setup: ensureImage, ...extra,
    runStowage: { unavailable: (ctx) => ctx.stowage.unavailable('version'), ...s },
    runDocker: { unavailable: dockerUnavailable, ...d },
  };
}

const ids: Record<string, string[]> = { s: [], d: [] };

const WRITE_300 = 'mkdir -p /bench && i=0; while [ $i -lt 300 ]; do echo $i > /bench/f$i; i=$((i+1)); done';
const wrote: Record<string, string | undefined> = {};

/** Peak resident memory of one command, in MB, from GNU time. */
async function maxRss(cmd: string, args: string[], ctx: BenchContext): Promise<number> {
  // Never through `stowage warm`: the client's own few hundred KB are not the command's memory.
  const r = await exec('/usr/bin/time', ['-f', '@@maxrss %M', cmd, ...args], { signal: ctx.signal, env: { ...process.env, STOWAGE_NO_WARM: '1' } });
  const m = /@@maxrss (\d+)/.exec(r.stderr);
  if (!m) throw new Error(`no maxRSS from /usr/bin/time: ${r.stderr.slice(-300)}`);
  return Number(m[1]) / 1024;
}

export const smallCases: Case[] = [
  pair('images', '`images` with the bench image loaded',
    { run: async (ctx) => { await st(ctx, ['images']); } },
    { run: async (ctx) => { await dk(ctx, ['images']); } }),
  pair('ps-a', '`ps -a` with 5 created containers',
    { run: async (ctx) => { await st(ctx, ['ps', '-a']); } },
    { run: async (ctx) => { await dk(ctx, ['ps', '-a']); } },
    {
      setup: async (ctx) => {
        await ensureImage(ctx);
        for (let i = 0; i < 5; i++) {
          ids.s!.push(await st(ctx, ['create', ...NET, ctx.image.repoTag, 'true']));
          if (ctx.docker) ids.d!.push(await dk(ctx, ['create', ...NET, ctx.image.repoTag, 'true']));
        }
      },
      teardown: async (ctx) => {
        if (ids.s!.length) await ctx.stowage.run(['rm', '-f', ...ids.s!], undefined, false);
        if (ids.d!.length && ctx.docker) await ctx.docker.docker(['rm', '-f', ...ids.d!]);
        ids.s = []; ids.d = [];
      },
    }),
  pair('create-rm', '`create IMAGE true`, then `rm` of it',
    { run: async (ctx) => { const id = await st(ctx, ['create', ...NET, ctx.image.repoTag, 'true']); await st(ctx, ['rm', id]); } },
    { run: async (ctx) => { const id = await dk(ctx, ['create', ...NET, ctx.image.repoTag, 'true']); await dk(ctx, ['rm', id]); } }),
  pair('run-rm-volume', '`run --rm -v benchnamed:/data IMAGE true` (an existing named volume)',
    { run: async (ctx) => { await st(ctx, ['run', '--rm', ...NET, '-v', 'benchnamed:/data', ctx.image.repoTag, 'true']); } },
    { run: async (ctx) => { await dk(ctx, ['run', '--rm', ...NET, '-v', 'benchnamed:/data', ctx.image.repoTag, 'true']); } },
    {
      setup: async (ctx) => {
        await ensureImage(ctx);
        await st(ctx, ['volume', 'create', 'benchnamed']);
        if (ctx.docker) await dk(ctx, ['volume', 'create', 'benchnamed']);
      },
      teardown: async (ctx) => {
        await ctx.stowage.run(['volume', 'rm', '-f', 'benchnamed'], undefined, false);
        if (ctx.docker) await ctx.docker.docker(['volume', 'rm', '-f', 'benchnamed']);
      },
    }),
  pair('commit-300', '`commit` of a container that wrote 300 files',
    {
      prepare: async (ctx) => {
        if (wrote.s) return;
        wrote.s = await st(ctx, ['create', ...NET, ctx.image.repoTag, 'sh', '-c', WRITE_300]);
        await st(ctx, ['start', '-a', wrote.s]);
      },
      run: async (ctx) => { await st(ctx, ['commit', wrote.s!, 'bench/c300:1']); },
      reset: async (ctx) => { await st(ctx, ['rmi', 'bench/c300:1']); },
    },
    {
      prepare: async (ctx) => {
        if (wrote.d) return;
        wrote.d = await dk(ctx, ['create', ...NET, ctx.image.repoTag, 'sh', '-c', WRITE_300]);
        await dk(ctx, ['start', '-a', wrote.d]);
      },
      run: async (ctx) => { await dk(ctx, ['commit', wrote.d!, 'bench/c300:1']); },
      reset: async (ctx) => { await dk(ctx, ['rmi', 'bench/c300:1']); },
    },
    {
      teardown: async (ctx) => {
        if (wrote.s) await ctx.stowage.run(['rm', '-f', wrote.s], undefined, false);
        if (wrote.d && ctx.docker) await ctx.docker.docker(['rm', '-f', wrote.d]);
        delete wrote.s; delete wrote.d;
      },
    }),
  pair('save', '`save -o FILE` of the application image',
    { run: async (ctx) => { await st(ctx, ['save', '-o', join(ctx.tmp, 's.tar'), ctx.image.repoTag]); }, reset: async (ctx) => { rmSync(join(ctx.tmp, 's.tar'), { force: true }); } },
    { run: async (ctx) => { await dk(ctx, ['save', '-o', join(ctx.tmp, 'd.tar'), ctx.image.repoTag]); }, reset: async (ctx) => { rmSync(join(ctx.tmp, 'd.tar'), { force: true }); } }),
  pair('memory', 'peak memory (maxRSS) of `images` and `volume ls`, MB; time: both commands',
    {
      run: async (ctx) => {
        const base = ['--data-root', ctx.stowage.dataRoot, '--storage-driver', ctx.stowage.storageDriver];
        return { images_MB: await maxRss(ctx.stowage.bin, [...base, 'images'], ctx), volume_ls_MB: await maxRss(ctx.stowage.bin, [...base, 'volume', 'ls'], ctx) };
      },
    },
    {
      run: async (ctx) => {
        const d = ctx.docker!;
        return { images_MB: await maxRss('docker', ['-H', d.host, 'images'], ctx), volume_ls_MB: await maxRss('docker', ['-H', d.host, 'volume', 'ls'], ctx) };
      },
    }),
];
