// cli-drivers.test.ts: the image commands through the real CLI with
// --storage-driver btrfs, zfs and fuse-overlayfs (overlay2 and vfs have theirs in
// test/cli/images.test.ts): load, inspect, info, system df, save, rmi, system check,
// each on the filesystem the driver needs (a loop-mounted btrfs, a zfs-fuse pool).
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requires, requiresRoot, tempDir, assertNoMountsUnder, cleanupFirst, runFirstCleanups } from '../helpers/env.js';
import { stowage } from '../helpers/cli.js';
import { makeRootfs, makeDockerArchive, tarMemberDigest } from '../helpers/images.js';
import { indexTarFile } from '../../src/archive/tar-reader.js';
import { createHash } from 'node:crypto';
import { btrfsFilesystem, zfsPool, type Backing } from './backing.js';

const btrfs = btrfsFilesystem();
const zfs = zfsPool();

function rootOn(t: TestContext, backing: Backing | null): string | null {
  if (!requiresRoot(t)) return null;
  if (backing && !requires(t, !backing.unavailable, backing.unavailable ?? '')) return null;
  if (!backing) return join(tempDir(t), 'root');
  const dir = mkdtempSync(join(backing.dir, 'cli-'));
  t.after(async () => {
    await runFirstCleanups(t);
    assertNoMountsUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  });
  return join(dir, 'root');
}

const cases: Array<{ driver: string; backing: () => Backing | null; fs: string }> = [
  { driver: 'btrfs', backing: () => btrfs, fs: 'btrfs' },
  { driver: 'zfs', backing: () => zfs, fs: 'zfs' },
  { driver: 'fuse-overlayfs', backing: () => null, fs: 'extfs' },
];

for (const c of cases) {
  describe(`images on ${c.driver} through the CLI`, () => {
    it('load, inspect, info, df, save, rmi and check', async (t) => {
      const root = rootOn(t, c.backing());
      if (!root) return;
      const work = tempDir(t);
      const base = join(work, 'base');
      const app = join(work, 'app');
      await makeRootfs(base, 'busybox');
      mkdirSync(join(app, 'etc'), { recursive: true });
      writeFileSync(join(app, 'etc', 'hostname'), 'changed\n');
      const archive = await makeDockerArchive(join(work, 'img.tar'), { layers: [base, app], repoTags: ['app:1'] });
      const s = stowage(root, c.driver);
      assert.match(await s.ok(['load', '-i', archive.path]), /Loaded image: app:1/);
      const [info] = JSON.parse(await s.ok(['image', 'inspect', 'app:1']));
      assert.equal(info.Id, archive.imageId);
      assert.equal(info.GraphDriver.Name, c.driver);
      const sys = await s.ok(['info']);
      assert.match(sys, new RegExp(`Storage Driver: ${c.driver}\\n`));
      assert.match(sys, new RegExp(`Backing Filesystem: ${c.fs}\\n`));
      assert.match(sys, /Reason: .+\.\n/);
      const df = JSON.parse(await s.ok(['system', 'df', '--format', 'json'])) as { imageTotals: { total: number; size: number } };
      assert.equal(df.imageTotals.total, 1);
      assert.ok(df.imageTotals.size > 500_000, `df size ${df.imageTotals.size}`);
      const saved = join(work, 'saved.tar');
      await s.ok(['save', '-o', saved, 'app:1']);
      const idx = await indexTarFile(saved);
      for (const d of archive.diffIds) assert.equal(tarMemberDigest(saved, idx.get(`blobs/sha256/${d.slice(7)}`)), d, `${d} saved byte-exact`);
      const check = await s.run(['system', 'check']);
      assert.equal(check.code, 0, check.stdout + check.stderr);
      await s.ok(['rmi', 'app:1']);
      assert.equal((await s.ok(['images', '-q', '-a'])).trim(), '');
      const home = join(root, c.driver, c.driver === 'btrfs' ? 'subvolumes' : '');
      assert.deepEqual(readdirSync(home).filter((n) => /^[0-9a-f]{64}$/.test(n)), []);
    });

    it('run, diff, commit and rm containers', async (t) => {
      const root = rootOn(t, c.backing());
      if (!root) return;
      const work = tempDir(t);
      const base = join(work, 'base');
      await makeRootfs(base, 'busybox');
      mkdirSync(join(work, 'app', 'data'), { recursive: true });
      writeFileSync(join(work, 'app', 'data', 'old.txt'), 'old\n');
      const archive = await makeDockerArchive(join(work, 'img.tar'), { layers: [base, join(work, 'app')], repoTags: ['app:1'] });
      const s = stowage(root, c.driver);
      cleanupFirst(t, async () => { await s.run(['rm', '-f', 'w1']); });
      await s.ok(['load', '-i', archive.path]);
      assert.equal(await s.ok(['run', '--name', 'w1', 'app:1', 'sh', '-c', 'echo new > /data/new.txt; rm /data/old.txt; cat /data/new.txt']), 'new\n');
      const diff = (await s.ok(['diff', 'w1'])).trim().split('\n');
      assert.ok(diff.includes('A /data/new.txt') && diff.includes('D /data/old.txt'), diff.join('|'));
      await s.ok(['commit', 'w1', 'app:2']);
      assert.equal(await s.ok(['run', '--rm', 'app:2', 'ls', '/data']), 'new.txt\n');
      // The committed layer holds content only, none of the overlay implementation's bookkeeping xattrs.
      const saved = join(work, 'app2.tar');
      await s.ok(['save', '-o', saved, 'app:2']);
      const bytes = readFileSync(saved).toString('latin1');
      assert.ok(!/user\.fuseoverlayfs\.|trusted\.overlay\.|user\.overlay\./.test(bytes), 'no overlay bookkeeping xattrs in the image');
      await s.ok(['rm', 'w1']);
      await s.ok(['rmi', 'app:2', 'app:1']);
      const check = await s.run(['system', 'check']);
      assert.equal(check.code, 0, check.stdout + check.stderr);
    });
  });
}
