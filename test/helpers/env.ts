// env.ts: the one place where tests decide whether they can run here. A test that
// needs root or a kernel feature calls requiresRoot(t) / requires(t, ok, why):
// outside CI a missing ability skips the test; in CI (CI set) it fails, because
// in CI every test must run.
import type { TestContext } from 'node:test';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export const inCI = !!process.env.CI;

export function requires(t: TestContext, ok: boolean, why: string): boolean {
  if (ok) return true;
  if (inCI) throw new Error(`required in CI but unavailable: ${why}`);
  t.skip(why);
  return false;
}

export function requiresRoot(t: TestContext): boolean {
  return requires(t, process.getuid?.() === 0, 'needs root');
}

/** A fresh temporary directory removed after the test (also when it fails). */
export function tempDir(t: TestContext, prefix = 'stowage-test-'): string {
  const dir = mkdtempSync(join(process.env.STOWAGE_TEST_TMP ?? tmpdir(), prefix));
  t.after(async () => {
    await runFirstCleanups(t);
    assertNoMountsUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

// node:test runs after-hooks in the order they were registered, so a clean-up that
// needs the temporary directory (`stowage rm -f` of what a test left running) but is
// registered after tempDir() would run once the directory is gone — and the command
// would make a fresh data root there. cleanupFirst() queues such clean-ups; the
// directory's own hook runs them (last registered first) before it removes anything.
const firstCleanups = new WeakMap<TestContext, Array<() => unknown>>();

export function cleanupFirst(t: TestContext, fn: () => unknown): void {
  let list = firstCleanups.get(t);
  if (!list) {
    list = [];
    firstCleanups.set(t, list);
    t.after(() => runFirstCleanups(t)); // when no tempDir hook runs them earlier
  }
  list.push(fn);
}

export async function runFirstCleanups(t: TestContext): Promise<void> {
  const list = firstCleanups.get(t);
  if (!list) return;
  while (list.length > 0) {
    const fn = list.pop()!;
    try { await fn(); } catch (err) { console.error('cleanup:', err); }
  }
}

/** Mount points at or below dir, from /proc/self/mountinfo. */
export function mountsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (mp && (mp === dir || mp.startsWith(dir + '/'))) out.push(mp.replace(/\\040/g, ' '));
  }
  return out;
}

/** A leaked mount is a bug: fail loudly, after unmounting so the machine stays clean. */
export function assertNoMountsUnder(dir: string): void {
  const leaked = mountsUnder(dir);
  if (leaked.length === 0) return;
  for (const m of leaked.reverse()) {
    spawnSync('umount', ['-l', m]);
  }
  throw new Error(`leaked mounts under ${dir}: ${leaked.join(', ')}`);
}
