// cases/containers.ts: the container operations of the containers issue, side by
// side with Docker on the application image:
//   run-rm   run --rm IMAGE true
//   create   create IMAGE true            (reset: rm)
//   rm       rm of a created container    (prepare: create)
//   diff     diff of a container that added 1,000 files and changed 10
//   commit   commit of that container     (reset: rmi)
//   disk     create 100 containers; parts: data-root growth per container (KB, inodes)
// Both sides run with --network none (the private dockerd has no bridge).
import { spawnSync } from 'node:child_process';
import type { Case, BenchContext, Side } from '../case.js';

const SCRIPT = 'mkdir -p /bench && i=0; while [ $i -lt 1000 ]; do echo $i > /bench/f$i; i=$((i+1)); done; for f in $(ls /etc | head -10); do [ -f /etc/$f ] && echo x >> /etc/$f; done; true';

/** Loads the bench image into both sides when it is not there yet. */
export async function ensureImage(ctx: BenchContext): Promise<void> {
  const s = await ctx.stowage.run(['image', 'inspect', ctx.image.repoTag], undefined, false);
  if (s.code !== 0) await ctx.stowage.run(['load', '-i', ctx.image.archive], ctx.signal);
  if (ctx.docker) {
    const d = await ctx.docker.docker(['image', 'inspect', ctx.image.repoTag]);
    if (d.code !== 0) await ctx.docker.docker(['load', '-i', ctx.image.archive], { check: true });
  }
}

const dockerUnavailable = async (ctx: BenchContext) => (ctx.docker ? null : `docker not available: ${ctx.dockerWhy ?? 'unknown'}`);
const stowageUnavailable = (cmd: string) => (ctx: BenchContext) => ctx.stowage.unavailable(cmd);

async function st(ctx: BenchContext, args: string[]): Promise<string> {
  return (await ctx.stowage.run(args, ctx.signal)).stdout.trim();
}
async function dk(ctx: BenchContext, args: string[]): Promise<string> {
  return (await ctx.docker!.docker(args, { check: true, signal: ctx.signal })).stdout.toString().trim();
}

/** Per-side scratch: the id of the container a repetition works on. */
const ids: Record<string, string> = {};

function sides(s: Omit<Side, 'unavailable'>, d: Omit<Side, 'unavailable'>, cmd: string): Pick<Case, 'runStowage' | 'runDocker'> {
  return {
    runStowage: { unavailable: stowageUnavailable(cmd), ...s },
    runDocker: { unavailable: dockerUnavailable, ...d },
  };
}

export const runRmCase: Case = {
  name: 'run-rm',
  what: 'run --rm IMAGE true',
  setup: ensureImage,
  ...sides(
    { run: async (ctx) => { await st(ctx, ['run', '--rm', '--network', 'none', ctx.image.repoTag, 'true']); } },
    { run: async (ctx) => { await dk(ctx, ['run', '--rm', '--network', 'none', ctx.image.repoTag, 'true']); } },
    'run'),
};

export const createCase: Case = {
  name: 'create',
  what: 'create IMAGE true',
  setup: ensureImage,
  ...sides(
    { run: async (ctx) => { ids.s = await st(ctx, ['create', '--network', 'none', ctx.image.repoTag, 'true']); }, reset: async (ctx) => { await st(ctx, ['rm', ids.s!]); } },
    { run: async (ctx) => { ids.d = await dk(ctx, ['create', '--network', 'none', ctx.image.repoTag, 'true']); }, reset: async (ctx) => { await dk(ctx, ['rm', ids.d!]); } },
    'create'),
};

export const rmCase: Case = {
  name: 'rm',
  what: 'rm of a created container',
  setup: ensureImage,
  ...sides(
    { prepare: async (ctx) => { ids.s = await st(ctx, ['create', '--network', 'none', ctx.image.repoTag, 'true']); }, run: async (ctx) => { await st(ctx, ['rm', ids.s!]); } },
    { prepare: async (ctx) => { ids.d = await dk(ctx, ['create', '--network', 'none', ctx.image.repoTag, 'true']); }, run: async (ctx) => { await dk(ctx, ['rm', ids.d!]); } },
    'rm'),
};

async function changedStowage(ctx: BenchContext): Promise<void> {
  if (ids.sChanged) return;
  ids.sChanged = await st(ctx, ['create', '--network', 'none', ctx.image.repoTag, 'sh', '-c', SCRIPT]);
  await st(ctx, ['start', '-a', ids.sChanged]);
}
async function changedDocker(ctx: BenchContext): Promise<void> {
  if (ids.dChanged) return;
  ids.dChanged = await dk(ctx, ['create', '--network', 'none', ctx.image.repoTag, 'sh', '-c', SCRIPT]);
  await dk(ctx, ['start', '-a', ids.dChanged]);
}
async function dropChanged(ctx: BenchContext): Promise<void> {
  if (ids.sChanged) await ctx.stowage.run(['rm', '-f', ids.sChanged], undefined, false);
  if (ids.dChanged && ctx.docker) await ctx.docker.docker(['rm', '-f', ids.dChanged]);
  delete ids.sChanged;
  delete ids.dChanged;
}

export const diffCase: Case = {
  name: 'diff',
  what: 'diff of a container that added 1,000 files and changed 10',
  setup: ensureImage,
  teardown: dropChanged,
  ...sides(
    { prepare: changedStowage, run: async (ctx) => { await st(ctx, ['diff', ids.sChanged!]); } },
    { prepare: changedDocker, run: async (ctx) => { await dk(ctx, ['diff', ids.dChanged!]); } },
    'diff'),
};

export const commitCase: Case = {
  name: 'commit',
  what: 'commit of a container that added 1,000 files and changed 10',
  setup: ensureImage,
  teardown: dropChanged,
  ...sides(
    { prepare: changedStowage, run: async (ctx) => { ids.sImg = await st(ctx, ['commit', ids.sChanged!, 'bench/committed:1']); }, reset: async (ctx) => { await st(ctx, ['rmi', 'bench/committed:1']); } },
    { prepare: changedDocker, run: async (ctx) => { ids.dImg = await dk(ctx, ['commit', ids.dChanged!, 'bench/committed:1']); }, reset: async (ctx) => { await dk(ctx, ['rmi', 'bench/committed:1']); } },
    'commit'),
};

/** Bytes (from du's block counts) and inodes used under dir. */
function usage(dir: string): { kb: number; inodes: number } {
  const kb = Number(spawnSync('du', ['-sk', dir], { encoding: 'utf8' }).stdout.split('\t')[0]);
  const inodes = Number(spawnSync('du', ['-s', '--inodes', dir], { encoding: 'utf8' }).stdout.split('\t')[0]);
  return { kb, inodes };
}

const N = 100;
export const diskCase: Case = {
  name: 'disk',
  what: `create ${N} containers of the image; parts: data-root growth per container`,
  setup: ensureImage,
  ...sides(
    {
      run: async (ctx) => {
        const before = usage(ctx.stowage.dataRoot);
        for (let i = 0; i < N; i++) await st(ctx, ['create', '--network', 'none', ctx.image.repoTag, 'true']);
        const after = usage(ctx.stowage.dataRoot);
        return { KB_per_ctr: (after.kb - before.kb) / N, inodes_per_ctr: (after.inodes - before.inodes) / N };
      },
      reset: async (ctx) => { await st(ctx, ['container', 'prune', '-f']); },
    },
    {
      run: async (ctx) => {
        const before = usage(ctx.docker!.dataRoot);
        for (let i = 0; i < N; i++) await dk(ctx, ['create', '--network', 'none', ctx.image.repoTag, 'true']);
        const after = usage(ctx.docker!.dataRoot);
        return { KB_per_ctr: (after.kb - before.kb) / N, inodes_per_ctr: (after.inodes - before.inodes) / N };
      },
      reset: async (ctx) => { await dk(ctx, ['container', 'prune', '-f']); },
    },
    'create'),
};

export const containerCases: Case[] = [runRmCase, createCase, rmCase, diffCase, commitCase, diskCase];
