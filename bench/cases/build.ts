// cases/build.ts: `build` of an application-like context (busybox base, a package
// install RUN, ~6 MB of dependencies in ~1,500 files, 60 source files, an
// entrypoint), side by side with Docker's classic builder on the same context.
//   build-cold:    a build with an empty cache (reset: rmi and builder prune)
//   build-rebuild: a rebuild after one source file changed (the earlier steps cached)
import { mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import type { Case, BenchContext } from '../case.js';
import { makeRootfs, makeDockerArchive } from '../../test/helpers/images.js';

const TAG = 'stowage-bench/build:1';
let rev = 0;

function contextDir(ctx: BenchContext): string { return join(ctx.tmp, 'context'); }

async function makeContext(ctx: BenchContext): Promise<void> {
  const c = contextDir(ctx);
  await makeRootfs(join(ctx.tmp, 'rootfs'), 'busybox');
  await makeDockerArchive(join(ctx.tmp, 'busybox.tar'), { layers: [join(ctx.tmp, 'rootfs')], repoTags: ['busybox:latest'] });
  for (let p = 0; p < 30; p++) {
    const d = join(c, 'deps', `pkg-${p}`, 'lib');
    mkdirSync(d, { recursive: true });
    for (let f = 0; f < 50; f++) writeFileSync(join(d, `m${f}.js`), `// pkg ${p} module ${f}\n` + 'x'.repeat(3000 + ((p * 50 + f) % 2000)) + '\n');
  }
  mkdirSync(join(c, 'src'), { recursive: true });
  for (let f = 0; f < 60; f++) writeFileSync(join(c, 'src', `file${f}.js`), `export const v${f} = ${f};\n`.repeat(40));
  writeFileSync(join(c, 'entrypoint.sh'), '#!/bin/sh\nexec cat /app/src/file0.js\n');
  chmodSync(join(c, 'entrypoint.sh'), 0o755);
  writeFileSync(join(c, 'Dockerfile'), [
    'FROM busybox',
    'RUN mkdir -p /usr/lib/pkg && for i in 1 2 3 4 5 6 7 8; do head -c 262144 /dev/zero > /usr/lib/pkg/blob$i; done',
    'COPY deps/ /app/node_modules/',
    'COPY src/ /app/src/',
    'COPY entrypoint.sh /entrypoint.sh',
    'ENTRYPOINT ["/entrypoint.sh"]',
  ].join('\n'));
}

function touchSource(ctx: BenchContext): void {
  writeFileSync(join(contextDir(ctx), 'src', 'file7.js'), `export const v7 = ${++rev};\n`);
}

const docker = (ctx: BenchContext, args: string[]) => ctx.docker!.docker(args, { check: true, signal: ctx.signal });

async function setup(ctx: BenchContext): Promise<void> {
  await makeContext(ctx);
  if (ctx.docker) await docker(ctx, ['load', '-i', join(ctx.tmp, 'busybox.tar')]);
  await ctx.stowage.run(['load', '-i', join(ctx.tmp, 'busybox.tar')], ctx.signal);
}

async function resetDocker(ctx: BenchContext): Promise<void> {
  await ctx.docker!.docker(['rmi', '-f', TAG], { signal: ctx.signal });
  await ctx.docker!.docker(['image', 'prune', '-f'], { signal: ctx.signal });
}
async function resetStowage(ctx: BenchContext): Promise<void> {
  await ctx.stowage.run(['rmi', TAG], ctx.signal, false);
  await ctx.stowage.run(['builder', 'prune', '-f'], ctx.signal);
}
const dockerUnavailable = async (ctx: BenchContext) => (ctx.docker ? null : `docker not available: ${ctx.dockerWhy ?? 'unknown'}`);
const buildDocker = async (ctx: BenchContext) => { await docker(ctx, ['build', '-q', '-t', TAG, contextDir(ctx)]); };
const buildStowage = async (ctx: BenchContext) => { await ctx.stowage.run(['build', '-q', '-t', TAG, contextDir(ctx)], ctx.signal); };

export const buildColdCase: Case = {
  name: 'build-cold',
  what: 'build of an application-like context with an empty cache (6 steps, ~6 MB context)',
  setup,
  runDocker: { unavailable: dockerUnavailable, prepare: resetDocker, run: buildDocker, reset: resetDocker },
  runStowage: { unavailable: (ctx) => ctx.stowage.unavailable('build'), prepare: resetStowage, run: buildStowage, reset: resetStowage },
};

export const buildRebuildCase: Case = {
  name: 'build-rebuild',
  what: 'rebuild of the same context after one source file changed (earlier steps cached)',
  setup: async (ctx) => {
    await setup(ctx);
    if (ctx.docker) await buildDocker(ctx);
    await buildStowage(ctx);
  },
  runDocker: { unavailable: dockerUnavailable, prepare: async (ctx) => touchSource(ctx), run: buildDocker },
  runStowage: { unavailable: (ctx) => ctx.stowage.unavailable('build'), prepare: async (ctx) => touchSource(ctx), run: buildStowage },
};

export const buildCases: Case[] = [buildColdCase, buildRebuildCase];
