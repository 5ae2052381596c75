// serve.ts: a test's own `stowage serve` on a temp data root and a temp socket, the
// docker CLI pointed at it (private DOCKER_CONFIG), raw HTTP over the socket, and
// the busybox test image loaded. Everything stops and goes after the test.
import type { TestContext } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { BIN, stowage, type Stowage } from '../helpers/cli.js';
import { tempDir, cleanupFirst } from '../helpers/env.js';
import { runDocker, type DockerResult, type DockerRunOptions } from '../helpers/dockerd.js';
import { makeRootfs, makeDockerArchive } from '../helpers/images.js';

export interface Served {
  dir: string;
  root: string;
  socket: string;
  host: string;
  /** The stowage CLI on the same data root (the CLI and the server share it). */
  cli: Stowage;
  proc: ChildProcess;
  log(): string;
  docker(args: string[], opts?: DockerRunOptions): Promise<DockerResult>;
  /** docker …, asserting exit 0; stdout as text. */
  dockerOk(args: string[], opts?: DockerRunOptions): Promise<string>;
  http(method: string, path: string, o?: { body?: string | Buffer; headers?: Record<string, string> }): Promise<HttpResult>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface HttpResult { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer; json(): any }

export function httpOver(o: { socketPath?: string; host?: string; port?: number }, method: string, path: string, opts: { body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request({ ...o, method, path, headers: { ...(opts.body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...opts.headers } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => {
        const body = Buffer.concat(parts);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body.toString('utf8')) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Waits until the socket answers GET /_ping. */
async function waitReady(socket: string, proc: ChildProcess, log: () => string): Promise<void> {
  const until = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`stowage serve exited ${proc.exitCode}: ${log()}`);
    if (existsSync(socket)) {
      try {
        const r = await httpOver({ socketPath: socket }, 'GET', '/_ping');
        if (r.status === 200) return;
      } catch { /* not yet */ }
    }
    if (Date.now() > until) throw new Error(`stowage serve did not answer within 20 s: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startServe(t: TestContext, o: { driver?: string; extraArgs?: string[]; dir?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Served> {
  const dir = o.dir ?? tempDir(t, 'stowage-api-');
  const root = join(dir, 'root');
  const socket = join(dir, 'api.sock');
  const driver = o.driver ?? 'overlay2';
  mkdirSync(join(dir, 'docker-config'), { recursive: true });
  const proc = spawn(process.execPath, [BIN, '--data-root', root, '--storage-driver', driver, 'serve', '-H', `unix://${socket}`, ...(o.extraArgs ?? [])], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env } });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const cli = stowage(root, driver);
  const host = `unix://${socket}`;
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
    proc.kill(signal);
    return new Promise((resolve) => {
      const timer = setTimeout(() => { proc.kill('SIGKILL'); }, 15_000);
      proc.once('exit', (code) => { clearTimeout(timer); resolve(code); });
    });
  };
  // Before the folder goes: the server stops, then whatever containers are left are removed.
  cleanupFirst(t, async () => {
    await stop();
    const ids = (await cli.run(['ps', '-aq', '--no-trunc'])).stdout.split('\n').filter(Boolean);
    if (ids.length) await cli.run(['rm', '-f', '-v', ...ids]);
  });
  await waitReady(socket, proc, () => out);
  const s: Served = {
    dir, root, socket, host, cli, proc, log: () => out,
    docker: (args, opts = {}) => runDocker(host, join(dir, 'docker-config'), args, { timeoutMs: 120_000, ...opts }),
    async dockerOk(args, opts = {}) {
      const r = await s.docker(args, opts);
      if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}: ${r.stderr}\n--- server log:\n${out}`);
      return r.stdout.toString('utf8');
    },
    http: (method, path, opts = {}) => httpOver({ socketPath: socket }, method, path, opts),
    stop,
  };
  return s;
}

/** Makes the busybox test image's `docker save` archive (bb:latest, a VOLUME at /data) in dir. */
export async function testImageArchive(dir: string, tag = 'bb:latest'): Promise<{ path: string; imageId: string; diffIds: string[] }> {
  const rootfs = join(dir, `rootfs-${tag.replace(/[^a-z0-9]/g, '_')}`);
  await makeRootfs(rootfs, 'busybox');
  const a = await makeDockerArchive(join(dir, `${tag.replace(/[^a-z0-9]/g, '_')}.tar`), { layers: [rootfs], repoTags: [tag], runConfig: { Cmd: ['/bin/sh'] } });
  return { path: a.path, imageId: a.imageId, diffIds: a.diffIds };
}
