// cases/api.ts: the docker CLI through `stowage serve` against the docker CLI through
// a warm dockerd — the same client, two engines (issue 11's speed goal):
//   api-volume-ls  `docker volume ls` with API_VOLUMES volumes
//   api-images     `docker images`
//   api-ps         `docker ps -a` with API_CONTAINERS containers
//   api-create-rm  `docker create --network none IMAGE true` + `docker rm`
// The server is started once for the cases (setup) on stowage's bench data root and
// stopped in teardown; both sides are warm (the first runs load what they need).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import type { Case, BenchContext, Side } from '../case.js';
import { runDocker } from '../../test/helpers/dockerd.js';

const API_VOLUMES = 20;
const API_CONTAINERS = 10;

interface Server { proc: ChildProcess; host: string; config: string }
let server: Server | undefined;

function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const r = request({ socketPath: socket, path: '/_ping' }, (res) => { res.resume(); resolve(res.statusCode === 200); });
    r.on('error', () => resolve(false));
    r.end();
  });
}

async function startServer(ctx: BenchContext): Promise<Server> {
  if (server) return server;
  const dir = join(ctx.tmp, 'api');
  mkdirSync(join(dir, 'docker-config'), { recursive: true });
  const socket = join(dir, 'api.sock');
  const proc = spawn(ctx.stowage.bin, ['--data-root', ctx.stowage.dataRoot, '--storage-driver', ctx.stowage.storageDriver, 'serve', '-H', `unix://${socket}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`stowage serve exited ${proc.exitCode}: ${err}`);
    if (existsSync(socket) && (await ping(socket))) break;
    if (i > 400) throw new Error(`stowage serve did not answer: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  server = { proc, host: `unix://${socket}`, config: join(dir, 'docker-config') };
  return server;
}

async function stopServer(): Promise<void> {
  const s = server;
  server = undefined;
  if (!s || s.proc.exitCode !== null) return;
  s.proc.kill('SIGTERM');
  await new Promise((r) => s.proc.once('exit', r));
}

/** The docker CLI against the stowage server. */
async function viaStowage(ctx: BenchContext, args: string[]): Promise<string> {
  const s = await startServer(ctx);
  const r = await runDocker(s.host, s.config, args, { signal: ctx.signal });
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} (stowage serve) exited ${r.code}: ${r.stderr}`);
  return r.stdout.toString();
}

async function viaDocker(ctx: BenchContext, args: string[]): Promise<string> {
  const r = await ctx.docker!.docker(args, { signal: ctx.signal });
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout.toString();
}

type Via = (ctx: BenchContext, args: string[]) => Promise<string>;

/** The bench image in both engines, N volumes and N stopped containers (idempotent). */
async function populate(ctx: BenchContext, via: Via): Promise<void> {
  if (!(await via(ctx, ['images', '-q', ctx.image.repoTag])).trim()) await via(ctx, ['load', '-i', ctx.image.archive]);
  const vols = new Set((await via(ctx, ['volume', 'ls', '-q'])).split('\n'));
  for (let i = 0; i < API_VOLUMES; i++) if (!vols.has(`apivol${i}`)) await via(ctx, ['volume', 'create', `apivol${i}`]);
  const names = new Set((await via(ctx, ['ps', '-a', '--format', '{{.Names}}'])).split('\n'));
  for (let i = 0; i < API_CONTAINERS; i++) if (!names.has(`apic${i}`)) await via(ctx, ['create', '--network', 'none', '--name', `apic${i}`, ctx.image.repoTag, 'true']);
}

async function unpopulate(ctx: BenchContext, via: Via): Promise<void> {
  await via(ctx, ['rm', '-f', ...Array.from({ length: API_CONTAINERS }, (_, i) => `apic${i}`)]).catch(() => {});
  await via(ctx, ['volume', 'rm', '-f', ...Array.from({ length: API_VOLUMES }, (_, i) => `apivol${i}`)]).catch(() => {});
}

const dockerUnavailable = async (ctx: BenchContext) => (ctx.docker ? null : `docker not available: ${ctx.dockerWhy ?? 'unknown'}`);
const serveUnavailable = (ctx: BenchContext) => ctx.stowage.unavailable('serve');

function apiCase(name: string, what: string, args: (ctx: BenchContext) => string[][]): Case {
  const side = (via: Via, unavailable: (ctx: BenchContext) => Promise<string | null>): Side => ({
    unavailable,
    run: async (ctx) => { for (const a of args(ctx)) await via(ctx, a); },
  });
  return {
    name,
    what,
    setup: async (ctx) => {
      if (!(await serveUnavailable(ctx))) await populate(ctx, viaStowage);
      if (ctx.docker) await populate(ctx, viaDocker);
    },
    teardown: async (ctx) => {
      if (server) await unpopulate(ctx, viaStowage);
      if (ctx.docker) await unpopulate(ctx, viaDocker);
      await stopServer();
    },
    runStowage: side(viaStowage, serveUnavailable),
    runDocker: side(viaDocker, dockerUnavailable),
  };
}

let seq = 0;
export const apiCases: Case[] = [
  apiCase('api-volume-ls', `docker volume ls (${API_VOLUMES} volumes): docker CLI via stowage serve vs via dockerd`, () => [['volume', 'ls']]),
  apiCase('api-images', 'docker images: docker CLI via stowage serve vs via dockerd', () => [['images']]),
  apiCase('api-ps', `docker ps -a (${API_CONTAINERS} containers): docker CLI via stowage serve vs via dockerd`, () => [['ps', '-a']]),
  apiCase('api-create-rm', 'docker create --network none IMAGE true + docker rm: via stowage serve vs via dockerd', (ctx) => {
    const n = `apicr${seq++}`;
    return [['create', '--network', 'none', '--name', n, ctx.image.repoTag, 'true'], ['rm', n]];
  }),
];
