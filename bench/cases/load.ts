// cases/load.ts: `load -i image.tar` of the application image.
//   stowage: node bin/stowage.js --data-root D load -i FILE; reset: rmi (or a fresh data root)
//   docker:  docker load -i FILE into the private dockerd; reset: docker rmi
//   floor:   tar -x of each uncompressed layer into its own directory, plus sha256sum of the
//            layer tars: the extraction and hashing any loader has to do, no bookkeeping.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Case, BenchContext } from '../case.js';
import { exec } from '../exec.js';

async function sync(): Promise<void> {
  // Untimed: dirty pages from the previous repetition must not be paid by the next one.
  await exec('sync', []);
}

function floorDir(ctx: BenchContext): string {
  return join(ctx.tmp, 'floor');
}

export const loadCase: Case = {
  name: 'load',
  what: 'load -i of the application image (docker-archive, uncompressed layers)',
  settle: true,

  floor: {
    prepare: async (ctx) => {
      rmSync(floorDir(ctx), { recursive: true, force: true });
      await sync();
    },
    run: async (ctx) => {
      let untar = 0;
      for (const [i, tar] of ctx.image.layerTars.entries()) {
        const dir = join(floorDir(ctx), String(i + 1));
        mkdirSync(dir, { recursive: true });
        untar += (await exec('tar', ['-x', '-f', tar, '-C', dir, '--numeric-owner'], { signal: ctx.signal })).seconds;
      }
      const sha = (await exec('sha256sum', ctx.image.layerTars, { signal: ctx.signal })).seconds;
      return { untar, sha256: sha };
    },
    reset: async (ctx) => {
      rmSync(floorDir(ctx), { recursive: true, force: true });
    },
  },

  runDocker: {
    unavailable: async (ctx) => (ctx.docker ? null : `docker not available: ${ctx.dockerWhy ?? 'unknown'}`),
    prepare: sync,
    run: async (ctx) => {
      await ctx.docker!.docker(['load', '-i', ctx.image.archive], { check: true, signal: ctx.signal });
    },
    reset: async (ctx) => {
      const d = ctx.docker!;
      const id = (await d.docker(['image', 'inspect', '--format', '{{.Id}}', ctx.image.repoTag], { check: true })).stdout.toString().trim();
      if (id !== ctx.image.imageId) throw new Error(`docker loaded ${id}, expected ${ctx.image.imageId}`);
      await d.docker(['rmi', '-f', ctx.image.imageId], { check: true });
    },
  },

  runStowage: {
    unavailable: (ctx) => ctx.stowage.unavailable('load'),
    prepare: sync,
    run: async (ctx) => {
      await ctx.stowage.run(['load', '-i', ctx.image.archive], ctx.signal);
    },
    reset: async (ctx) => {
      const inspect = await ctx.stowage.run(['image', 'inspect', ctx.image.repoTag], undefined, false);
      if (inspect.code === 0 && !inspect.stdout.includes(ctx.image.imageId.slice(7))) {
        throw new Error(`stowage image inspect does not show ${ctx.image.imageId}`);
      }
      const rmi = await ctx.stowage.run(['rmi', ctx.image.repoTag], undefined, false);
      if (rmi.code !== 0) ctx.stowage.reset(); // rmi not there yet: start from an empty data root
    },
  },
};
