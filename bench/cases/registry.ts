// cases/registry.ts: pull and push of the application image through a local registry
// (Debian's docker-registry, distribution 2.8, on 127.0.0.1 with plain HTTP; loopback
// registries are insecure by default for both Docker and stowage).
//   pull: the image is pushed once (by Docker when it runs here, so both sides pull
//         Docker's own gzip blobs), then each side pulls it into a store without it.
//         stowage: stowage pull HOST/bench/app:1; reset: rmi. docker: docker pull; reset: rmi.
//   push: each repetition pushes to a fresh, empty registry (new storage, new port, so
//         nothing is known to be there): gzip of every layer plus the upload.
import { rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Case, BenchContext } from '../case.js';
import { exec } from '../exec.js';

const REGISTRY_BIN = '/usr/bin/docker-registry';

interface Reg { host: string; stop(): Promise<void> }

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
  });
}

async function startRegistry(dir: string): Promise<Reg> {
  const base = mkdtempSync(join(dir, 'registry-'));
  const port = await freePort();
  const cfg = join(base, 'config.yml');
  writeFileSync(cfg, `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(base, 'storage')}\nhttp:\n  addr: 127.0.0.1:${port}\n  secret: bench\n`);
  const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', cfg], { stdio: 'ignore' });
  let exited = false;
  child.on('exit', () => { exited = true; });
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      for (let i = 0; i < 100 && !exited; i++) await sleep(20);
      if (!exited) child.kill('SIGKILL');
    }
    rmSync(base, { recursive: true, force: true });
  };
  for (let i = 0; i < 200 && !exited; i++) {
    const ok = await new Promise<boolean>((r) => { const s = connect(port, '127.0.0.1'); s.once('connect', () => { s.destroy(); r(true); }); s.once('error', () => r(false)); });
    if (ok) return { host: `127.0.0.1:${port}`, stop };
    await sleep(25);
  }
  await stop();
  throw new Error('docker-registry did not start');
}

async function sync(): Promise<void> {
  await exec('sync', []);
}

const REPO = 'bench/app:1';
let pullReg: Reg | undefined;
let pushReg: Reg | undefined;

const registryMissing = async (): Promise<string | null> => ((await exec('test', ['-x', REGISTRY_BIN], { check: false })).code === 0 ? null : `${REGISTRY_BIN} not installed (Debian docker-registry)`);

async function dockerRmi(ctx: BenchContext, ref: string): Promise<void> {
  await ctx.docker!.docker(['rmi', '-f', ref]);
}

export const pullCase: Case = {
  name: 'pull',
  what: 'pull of the application image from a local registry (distribution 2.8, loopback)',
  settle: true,
  setup: async (ctx) => {
    if (await registryMissing()) return;
    pullReg = await startRegistry(ctx.tmp);
    const ref = `${pullReg.host}/${REPO}`;
    if (ctx.docker) {
      await ctx.docker.docker(['load', '-i', ctx.image.archive], { check: true, signal: ctx.signal });
      await ctx.docker.docker(['tag', ctx.image.repoTag, ref], { check: true });
      await ctx.docker.docker(['push', ref], { check: true, signal: ctx.signal });
      await ctx.docker.docker(['rmi', '-f', ctx.image.imageId], { check: true });
      ctx.stowage.reset(); // an earlier case (save, say) may have left the image in stowage's store
    } else {
      await ctx.stowage.run(['load', '-i', ctx.image.archive], ctx.signal);
      await ctx.stowage.run(['tag', ctx.image.repoTag, ref]);
      await ctx.stowage.run(['push', ref], ctx.signal);
      ctx.stowage.reset();
    }
  },
  teardown: async () => { await pullReg?.stop(); pullReg = undefined; },
  runDocker: {
    unavailable: async (ctx) => (await registryMissing()) ?? (ctx.docker ? null : `docker not available: ${ctx.dockerWhy ?? 'unknown'}`),
    prepare: sync,
    run: async (ctx) => { await ctx.docker!.docker(['pull', `${pullReg!.host}/${REPO}`], { check: true, signal: ctx.signal }); },
    reset: async (ctx) => {
      const id = (await ctx.docker!.docker(['image', 'inspect', '--format', '{{.Id}}', `${pullReg!.host}/${REPO}`], { check: true })).stdout.toString().trim();
      if (id !== ctx.image.imageId) throw new Error(`docker pulled ${id}, expected ${ctx.image.imageId}`);
      await dockerRmi(ctx, ctx.image.imageId);
    },
  },
  runStowage: {
    unavailable: async (ctx) => (await registryMissing()) ?? ctx.stowage.unavailable('pull'),
    prepare: sync,
    run: async (ctx) => { await ctx.stowage.run(['pull', `${pullReg!.host}/${REPO}`], ctx.signal); },
    reset: async (ctx) => {
      const id = (await ctx.stowage.run(['image', 'inspect', '--format', '{{.Id}}', `${pullReg!.host}/${REPO}`])).stdout.trim();
      if (id !== ctx.image.imageId) throw new Error(`stowage pulled ${id}, expected ${ctx.image.imageId}`);
      ctx.stowage.reset();
    },
  },
};

export const pushCase: Case = {
  name: 'push',
  what: 'push of the application image to an empty local registry (gzip of every layer + upload)',
  setup: async (ctx) => {
    if (await registryMissing()) return;
    if (ctx.docker) await ctx.docker.docker(['load', '-i', ctx.image.archive], { check: true, signal: ctx.signal });
  },
  teardown: async (ctx) => {
    await pushReg?.stop();
    pushReg = undefined;
    if (ctx.docker) await ctx.docker.docker(['rmi', '-f', ctx.image.imageId]);
    ctx.stowage.reset();
  },
  runDocker: {
    unavailable: async (ctx) => (await registryMissing()) ?? (ctx.docker ? null : `docker not available: ${ctx.dockerWhy ?? 'unknown'}`),
    prepare: async (ctx) => {
      await pushReg?.stop();
      pushReg = await startRegistry(ctx.tmp);
      await ctx.docker!.docker(['tag', ctx.image.repoTag, `${pushReg.host}/${REPO}`], { check: true });
      await sync();
    },
    run: async (ctx) => { await ctx.docker!.docker(['push', `${pushReg!.host}/${REPO}`], { check: true, signal: ctx.signal }); },
    reset: async (ctx) => { await ctx.docker!.docker(['rmi', `${pushReg!.host}/${REPO}`]); },
  },
  runStowage: {
    unavailable: async (ctx) => (await registryMissing()) ?? ctx.stowage.unavailable('push'),
    prepare: async (ctx) => {
      await pushReg?.stop();
      pushReg = await startRegistry(ctx.tmp);
      const has = await ctx.stowage.run(['image', 'inspect', ctx.image.repoTag], undefined, false);
      if (has.code !== 0) await ctx.stowage.run(['load', '-i', ctx.image.archive], ctx.signal);
      await ctx.stowage.run(['tag', ctx.image.repoTag, `${pushReg.host}/${REPO}`]);
      await sync();
    },
    run: async (ctx) => { await ctx.stowage.run(['push', `${pushReg!.host}/${REPO}`], ctx.signal); },
    reset: async (ctx) => { await ctx.stowage.run(['rmi', `${pushReg!.host}/${REPO}`]); },
  },
};

