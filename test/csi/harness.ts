// harness.ts: starts the real `stowage csi` (bin/stowage.js) on a unix socket in a
// temporary folder and gives a gRPC client to it. stop() ends the server with
// SIGTERM, then checks that nothing is left mounted under the folder and no loop
// device is attached to a file in it, before the folder goes.
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { CsiClient } from '../../src/csi/client.js';
import { BIN, stowage, type Stowage } from '../helpers/cli.js';
import { assertNoMountsUnder } from '../helpers/env.js';

export interface CsiHarness {
  dir: string; root: string; socket: string; allowed: string; client: CsiClient; cli: Stowage; server: ChildProcess; stderr(): string;
  stop(): Promise<void>;
}

/** Loop devices whose backing file lies under dir. */
export function loopsUnder(dir: string): string[] {
  const out = spawnSync('losetup', ['-a'], { encoding: 'utf8' }).stdout ?? '';
  return out.split('\n').filter((l) => l.includes(`(${dir}/`));
}

export async function startCsi(t: TestContext | null, extra: string[] = [], reuse?: { dir: string }): Promise<CsiHarness> {
  const dir = reuse?.dir ?? mkdtempSync(join(process.env.STOWAGE_TEST_TMP ?? tmpdir(), 'stowage-csi-'));
  const root = join(dir, 'root');
  const allowed = join(dir, 'kubelet');
  mkdirSync(allowed, { recursive: true });
  const socket = join(dir, 'csi.sock');
  const server = spawn(process.execPath, [BIN, '--data-root', root, '--storage-driver', 'vfs', 'csi', '--endpoint', `unix://${socket}`,
    '--node-id', 'node-1', '--allowed-dir', allowed, '--allowed-dir', join(root, 'csi', 'targets'), '--verbose', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  server.stderr!.on('data', (b: Buffer) => { err += b; });
  const exited = new Promise<void>((r) => server.once('exit', () => r()));
  const client = new CsiClient(`unix://${socket}`);
  try {
    await client.waitReady(15_000);
  } catch (e) {
    server.kill('SIGKILL');
    throw new Error(`stowage csi did not start: ${err}`, { cause: e });
  }
  let stopped = false;
  const h: CsiHarness = {
    dir, root, socket, allowed, client, server, cli: stowage(root, 'vfs'), stderr: () => err,
    async stop() {
      if (stopped) return;
      stopped = true;
      client.close();
      server.kill('SIGTERM');
      await exited;
      if (reuse) return;
      // Clean up whatever leaked before failing for it, so the machine stays clean.
      let mountErr: unknown;
      try { assertNoMountsUnder(dir); } catch (e) { mountErr = e; }
      const loops = loopsUnder(dir);
      for (const l of loops) spawnSync('losetup', ['-d', l.split(':')[0]!]);
      rmSync(dir, { recursive: true, force: true });
      if (mountErr) throw mountErr;
      assert.deepEqual(loops, [], 'loop devices left attached');
    },
  };
  t?.after(() => h.stop());
  return h;
}

/** Asserts that p rejects with gRPC status code (and a message matching re, if given). */
export async function rejects(p: Promise<unknown>, code: status, re?: RegExp): Promise<void> {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: number; details?: string };
    assert.equal(status[e.code ?? -1], status[code], `expected ${status[code]}, got ${status[e.code ?? -1]}: ${e.details}`);
    if (re) assert.match(e.details ?? '', re);
    return;
  }
  assert.fail(`expected ${status[code]}, but the call succeeded`);
}

export const MiB = 1 << 20;
export const mountCap = (mode = 'SINGLE_NODE_WRITER', flags: string[] = []) => ({ mount: { fs_type: '', mount_flags: flags }, access_mode: { mode } });
export const blockCap = (mode = 'SINGLE_NODE_WRITER') => ({ block: {}, access_mode: { mode } });
