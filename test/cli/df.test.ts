// df.test.ts: `system df` through the real CLI on overlay2 and vfs, checked against
// `du` of the driver folder, and its table, verbose and --format outputs.
//
// Tolerance, and why: `system df` adds up each layer's own directory (driver.usage,
// st_blocks of each inode once, as du counts). `du` of the whole driver folder also
// counts the driver's bookkeeping outside the layer directories: the folder itself
// and its index folders (overlay2: l/; vfs: dir/ and parent/), one block each, and
// for vfs one small parent-record file per layer. overlay2's l/ entries are fast
// symlinks and take no block. So du - df must lie in [0, 4 KiB × (3 + layers)]:
// exact up to that bookkeeping, and never below (df never counts anything twice).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { requiresRoot, tempDir } from '../helpers/env.js';
import { stowage } from '../helpers/cli.js';
import { makeRootfs, makeDockerArchive } from '../helpers/images.js';

const BLOCK = 4096;

function du(dir: string): number {
  const r = spawnSync('du', ['-s', '-B1', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout.split('\t')[0]);
}

interface Report {
  images: Array<{ id: string; repoTags: string[]; size: number; sharedSize: number; uniqueSize: number; containers: number }>;
  imageTotals: { total: number; active: number; size: number; reclaimable: number };
  containerTotals: { total: number; size: number };
  volumeTotals: { total: number; size: number };
  buildCacheTotals: { total: number; size: number };
}

/** Two images sharing a busybox base: base+app1 and base+app2 (a 300 kB file each). */
async function twoImages(dir: string) {
  const base = join(dir, 'base');
  await makeRootfs(base, 'busybox');
  const archives = [];
  for (const n of [1, 2]) {
    const app = join(dir, `app${n}`);
    mkdirSync(join(app, 'app'), { recursive: true });
    writeFileSync(join(app, 'app', 'data'), Buffer.alloc(300_000, n));
    archives.push(await makeDockerArchive(join(dir, `img${n}.tar`), { layers: [base, app], repoTags: [`app${n}:latest`] }));
  }
  return archives;
}

for (const driver of ['overlay2', 'vfs']) {
  describe(`system df on ${driver}`, () => {
    it('agrees with du of the driver folder, and splits shared from unique', async (t) => {
      if (!requiresRoot(t)) return;
      const dir = tempDir(t);
      const s = stowage(join(dir, 'root'), driver);
      const empty = await s.ok(['system', 'df']);
      assert.equal(empty, [
        'TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE',
        'Images          0         0         0B        0B',
        'Containers      0         0         0B        0B',
        'Local Volumes   0         0         0B        0B',
        'Build Cache     0         0         0B        0B',
        '',
      ].join('\n'));
      const [a1, a2] = await twoImages(dir);
      await s.ok(['load', '-i', a1!.path]);
      await s.ok(['load', '-i', a2!.path]);
      const r = JSON.parse(await s.ok(['system', 'df', '--format', 'json'])) as Report;
      const folder = du(join(s.root, driver));
      const layers = 3;
      const slack = folder - r.imageTotals.size;
      assert.ok(slack >= 0 && slack <= BLOCK * (3 + layers), `du ${folder} vs df ${r.imageTotals.size}: ${slack} bytes apart`);

      assert.equal(r.imageTotals.total, 2);
      assert.equal(r.imageTotals.active, 0);
      assert.equal(r.imageTotals.reclaimable, r.imageTotals.size, 'no container: all reclaimable');
      assert.equal(r.images.length, 2);
      const [i1, i2] = r.images;
      assert.equal(i1!.sharedSize, i2!.sharedSize, 'both share exactly the base layer');
      assert.ok(i1!.sharedSize > 500_000, `the busybox base is shared: ${i1!.sharedSize}`);
      for (const i of r.images) {
        assert.equal(i.uniqueSize, i.size - i.sharedSize);
        // vfs copies the parent into each child, so its app layers hold the base again:
        // real disk, which du sees too; overlay2's hold the 300 kB file and little else.
        const most = driver === 'vfs' ? 300_000 + i.sharedSize + 8 * BLOCK : 300_000 + 8 * BLOCK;
        assert.ok(i.uniqueSize >= 300_000 && i.uniqueSize < most, `unique ${i.uniqueSize}: the 300 kB app layer`);
        assert.equal(i.containers, 0);
      }
      assert.equal(i1!.size + i2!.uniqueSize, r.imageTotals.size, 'the shared base counts once in the total');
      for (const x of [r.containerTotals, r.volumeTotals, r.buildCacheTotals]) assert.deepEqual([x.total, x.size], [0, 0]);

      const table = await s.ok(['system', 'df']);
      const lines = table.trimEnd().split('\n');
      assert.equal(lines[0], 'TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE');
      assert.match(lines[1]!, /^Images\s+2\s+0\s+\S+\s+\S+ \(100%\)$/);

      const v = await s.ok(['system', 'df', '-v']);
      assert.match(v, /^Images space usage:\n\nREPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\s+SHARED SIZE\s+UNIQUE SIZE\s+CONTAINERS\n/);
      assert.match(v, /\napp1\s+latest\s+[0-9a-f]{12}\s+.+ ago\s+\S+\s+\S+\s+\S+\s+0\n/);
      for (const section of ['Containers space usage:', 'Local Volumes space usage:', 'Build cache usage: 0B']) assert.ok(v.includes(section), section);

      const f = await s.ok(['system', 'df', '--format', '{{.Type}}:{{.TotalCount}}']);
      assert.equal(f, 'Images:2\nContainers:0\nLocal Volumes:0\nBuild Cache:0\n');
      const fj = (await s.ok(['system', 'df', '--format', '{{json .}}'])).trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
      assert.deepEqual(Object.keys(fj[0]!).sort(), ['Active', 'Reclaimable', 'Size', 'TotalCount', 'Type']);
      const tv = await s.ok(['system', 'df', '-v', '--format', 'table {{.Repository}}\t{{.UniqueSize}}']);
      assert.match(tv, /^REPOSITORY\s+UNIQUE SIZE\napp[12]\s+\S+\napp[12]\s+\S+\n$/);

      await s.ok(['rmi', 'app1:latest', 'app2:latest']);
      const after = JSON.parse(await s.ok(['system', 'df', '--format', 'json'])) as Report;
      assert.equal(after.imageTotals.size, 0);
    });
  });
}
