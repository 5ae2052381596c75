// concurrent-child.ts: one of the two processes of the suite's concurrency case
// (suite.ts). Not a test file itself. Arguments: driver module URL, class name,
// driver home, k (0 or 1), a barrier directory, a mount target.
// It creates c<k> on "base" with a file own<k>, a writable rw<k> on it, mounts rw<k>,
// writes, and then waits at the barrier until the other process has its mount up too,
// so both views are checked while both mounts exist.
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StorageDriver } from '../../src/drivers/driver.js';
import { mountAll, unmount } from '../../src/drivers/mount.js';

const [modUrl, className, home, kArg, barrier, target] = process.argv.slice(2) as [string, string, string, string, string, string];
const k = Number(kArg);
const mod = (await import(modUrl)) as Record<string, new (home: string) => StorageDriver>;
const driver = new mod[className]!(home);

await driver.create(`c${k}`, 'base');
writeFileSync(join(driver.applyTarget(`c${k}`).root, `own${k}`), String(k));
await driver.create(`rw${k}`, `c${k}`);
mkdirSync(target);
mountAll(driver.mounts(`rw${k}`), target);
try {
  writeFileSync(join(target, `written${k}`), 'w');
  writeFileSync(join(barrier, `ready${k}`), '');
  const deadline = Date.now() + 30_000;
  while (!existsSync(join(barrier, `ready${1 - k}`))) {
    if (Date.now() > deadline) throw new Error('the other process never got its mount up');
    await new Promise((r) => setTimeout(r, 10));
  }
  const ls = readdirSync(target).sort();
  const want = ['own' + k, 'shared', 'written' + k];
  if (ls.join(',') !== want.join(',')) throw new Error(`process ${k} sees ${ls.join(',')}, expected ${want.join(',')}`);
  if (readFileSync(join(target, 'shared'), 'utf8') !== 'base') throw new Error('shared file changed');
  writeFileSync(join(barrier, `checked${k}`), '');
  // Hold the mount until the other has checked its view too.
  while (!existsSync(join(barrier, `checked${1 - k}`))) {
    if (Date.now() > deadline) throw new Error('the other process never checked its view');
    await new Promise((r) => setTimeout(r, 10));
  }
} finally {
  unmount(target);
}
