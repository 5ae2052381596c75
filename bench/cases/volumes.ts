// cases/volumes.ts: the volume figures, side by side with Docker:
//   volume-create  `volume create` N times, one command each (Docker measured 0.062 s each)
//   volume-ls      `volume ls` with N volumes
//   volume-rm      `volume rm` of all N in one call
// N is STOWAGE_BENCH_VOLUMES, default 100: the 1,000 takes about a minute per
// repetition on Docker's side alone (run with STOWAGE_BENCH_VOLUMES=1000 for it).
import type { Case, BenchContext } from '../case.js';

export const VOLUME_COUNT = Number(process.env.STOWAGE_BENCH_VOLUMES ?? 100);
const names = (): string[] => Array.from({ length: VOLUME_COUNT }, (_, i) => `benchvol${i}`);

async function dockerCreateAll(ctx: BenchContext): Promise<void> {
  for (const n of names()) await ctx.docker!.docker(['volume', 'create', n], { check: true, signal: ctx.signal });
}
async function dockerRemoveAll(ctx: BenchContext): Promise<void> {
  await ctx.docker!.docker(['volume', 'rm', '-f', ...names()], { check: true, signal: ctx.signal });
}
async function stowageCreateAll(ctx: BenchContext): Promise<void> {
  for (const n of names()) await ctx.stowage.run(['volume', 'create', n], ctx.signal);
}
async function stowageRemoveAll(ctx: BenchContext): Promise<void> {
  await ctx.stowage.run(['volume', 'rm', '-f', ...names()], ctx.signal);
}
const dockerUnavailable = async (ctx: BenchContext) => (ctx.docker ? null : `docker not available: ${ctx.dockerWhy ?? 'unknown'}`);

export const volumeCases: Case[] = [
  {
    name: 'volume-create',
    what: `volume create, ${VOLUME_COUNT} times (one command each)`,
    runDocker: { unavailable: dockerUnavailable, run: dockerCreateAll, reset: dockerRemoveAll },
    runStowage: { unavailable: (ctx) => ctx.stowage.unavailable('volume'), run: stowageCreateAll, reset: stowageRemoveAll },
  },
  {
    name: 'volume-ls',
    what: `volume ls with ${VOLUME_COUNT} volumes`,
    runDocker: { unavailable: dockerUnavailable, prepare: dockerCreateAll, run: async (ctx) => { await ctx.docker!.docker(['volume', 'ls'], { check: true }); }, reset: dockerRemoveAll },
    runStowage: { unavailable: (ctx) => ctx.stowage.unavailable('volume'), prepare: stowageCreateAll, run: async (ctx) => { await ctx.stowage.run(['volume', 'ls'], ctx.signal); }, reset: stowageRemoveAll },
  },
  {
    name: 'volume-rm',
    what: `volume rm of ${VOLUME_COUNT} volumes in one call`,
    runDocker: { unavailable: dockerUnavailable, prepare: dockerCreateAll, run: dockerRemoveAll },
    runStowage: { unavailable: (ctx) => ctx.stowage.unavailable('volume'), prepare: stowageCreateAll, run: stowageRemoveAll },
  },
  {
    // The run --rm with 10 volumes: ten named volumes mounted into one container that runs `true`.
    name: 'run-10-volumes',
    what: 'run --rm IMAGE true with 10 named volumes',
    setup: async (ctx) => {
      const s = await ctx.stowage.run(['image', 'inspect', ctx.image.repoTag], undefined, false);
      if (s.code !== 0) await ctx.stowage.run(['load', '-i', ctx.image.archive], ctx.signal);
      if (ctx.docker && (await ctx.docker.docker(['image', 'inspect', ctx.image.repoTag])).code !== 0) {
        await ctx.docker.docker(['load', '-i', ctx.image.archive], { check: true });
      }
    },
    runDocker: {
      unavailable: dockerUnavailable,
      run: async (ctx) => {
        await ctx.docker!.docker(['run', '--rm', '--network', 'none', ...tenVolumes(), ctx.image.repoTag, 'true'], { check: true, signal: ctx.signal });
      },
      reset: async (ctx) => { await ctx.docker!.docker(['volume', 'rm', '-f', ...tenNames()]); },
    },
    runStowage: {
      unavailable: (ctx) => ctx.stowage.unavailable('run'),
      run: async (ctx) => { await ctx.stowage.run(['run', '--rm', '--network', 'none', ...tenVolumes(), ctx.image.repoTag, 'true'], ctx.signal); },
      reset: async (ctx) => { await ctx.stowage.run(['volume', 'rm', '-f', ...tenNames()], undefined, false); },
    },
  },
];

const tenNames = (): string[] => Array.from({ length: 10 }, (_, i) => `benchten${i}`);
const tenVolumes = (): string[] => tenNames().flatMap((n, i) => ['-v', `${n}:/mnt/v${i}`]);
