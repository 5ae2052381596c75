// crash.ts: helpers for the crash, concurrency and disk-full tests: a seeded random
// source (the seed is printed; STOWAGE_CRASH_SEED replays a run), a victim process
// that may be killed by a failpoint or from outside, and the "nothing left behind"
// checks (system check, mounts under the data and exec roots, loop devices).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { BIN, type Stowage } from './cli.js';
import { mountsUnder } from './env.js';

/** mulberry32: small, fast, reproducible. */
export function rng(seed: number): { next(): number; int(lo: number, hi: number): number; pick<T>(a: readonly T[]): T; shuffle<T>(a: T[]): T[] } {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  return {
    next, int,
    pick: (a) => a[int(0, a.length - 1)]!,
    shuffle: (a) => { for (let i = a.length - 1; i > 0; i--) { const j = int(0, i); [a[i], a[j]] = [a[j]!, a[i]!]; } return a; },
  };
}

/** The seed for this run: STOWAGE_CRASH_SEED, or a fresh one; printed so a failure can be replayed. */
export function crashSeed(what: string): number {
  const env = process.env.STOWAGE_CRASH_SEED;
  const seed = env ? Number(env) : Math.floor(Math.random() * 2 ** 31);
  console.log(`# ${what}: seed ${seed} (replay with STOWAGE_CRASH_SEED=${seed})`);
  return seed;
}

export interface VictimResult { code: number | null; signal: NodeJS.Signals | null; stderr: string; ms: number }

/**
 * Runs `stowage ARGS` on s's data root. failpoint: STOWAGE_FAILPOINT for it (the
 * process kills itself there); killAfterMs: SIGKILL from outside after that long.
 */
export function victim(s: Stowage, args: string[], opts: { failpoint?: string; killAfterMs?: number; input?: string } = {}): Promise<VictimResult> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.STOWAGE_FAILPOINT;
  if (opts.failpoint) env.STOWAGE_FAILPOINT = opts.failpoint;
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [BIN, '--data-root', s.root, '--storage-driver', s.driver, ...args], { stdio: ['pipe', 'ignore', 'pipe'], env });
    let stderr = '';
    c.stderr.on('data', (b: Buffer) => { if (stderr.length < 4000) stderr += b.toString(); });
    c.stdin.on('error', () => {});
    c.stdin.end(opts.input ?? '');
    const timer = opts.killAfterMs !== undefined ? setTimeout(() => c.kill('SIGKILL'), opts.killAfterMs) : undefined;
    c.on('error', reject);
    c.on('close', (code, signal) => { if (timer) clearTimeout(timer); resolve({ code, signal, stderr, ms: Date.now() - t0 }); });
  });
}

/** Where the engine keeps runtime state for a data root (src/engine.ts execRoot). */
export function execRootOf(root: string): string {
  return join('/run/stowage', createHash('sha256').update(root).digest('hex').slice(0, 12));
}

/** Loop devices whose backing file is under dir (`losetup -a`). */
export function loopsUnder(dir: string): string[] {
  const r = spawnSync('losetup', ['-a'], { encoding: 'utf8' });
  return (r.stdout ?? '').split('\n').filter((l) => l.includes(`(${dir}/`));
}

async function settle<T>(get: () => T[], ms: number): Promise<T[]> {
  const until = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v.length === 0 || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The store is whole and nothing is left: `system check` finds no issue at all (no
 * damage, no garbage), no mount under the data or exec root, no loop device on a file
 * under the data root. Containers still winding down are waited for (a few seconds)
 * unless containers is false (the caller ran nothing that starts one).
 */
export async function assertNothingLeft(s: Stowage, what: string, opts: { containers?: boolean } = { containers: true }): Promise<void> {
  if (opts.containers) assert.deepEqual(await settle(() => { const r = spawnSync(process.execPath, [BIN, '--data-root', s.root, '--storage-driver', s.driver, 'ps', '-q'], { encoding: 'utf8' }); return (r.stdout ?? '').trim().split('\n').filter(Boolean); }, 8000), [], `${what}: containers still running`);
  const r = await s.run(['system', 'check', '--quick', '--format', 'json']);
  let report: { issues: unknown[] };
  try { report = JSON.parse(r.stdout); } catch { throw new Error(`${what}: system check printed no report (exit ${r.code}): ${r.stderr}`); }
  assert.deepEqual(report.issues, [], `${what}: system check is not clean`);
  assert.deepEqual(await settle(() => mountsUnder(s.root), 3000), [], `${what}: mounts left under the data root`);
  assert.deepEqual(await settle(() => mountsUnder(execRootOf(s.root)), 3000), [], `${what}: mounts left under the exec root`);
  assert.deepEqual(await settle(() => loopsUnder(s.root), 3000), [], `${what}: loop devices left`);
}

/** Removes the exec root a test's data root got under /run/stowage (after unmounting anything there). */
export function removeExecRoot(root: string): void {
  const dir = execRootOf(root);
  for (const m of mountsUnder(dir).reverse()) spawnSync('umount', ['-l', m]);
  rmSync(dir, { recursive: true, force: true });
}
