// df.test.ts: `system df` through the real CLI on overlay2 and vfs, checked against
// the layer sizes Docker would record (dockerLayerSize: the bytes of each layer's
// files, computed here from the fixture directories, not tar bytes and not disk
// blocks), and its table, verbose and --format outputs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requiresRoot, tempDir } from '../helpers/env.js';
import { stowage } from '../helpers/cli.js';
import { makeRootfs, makeDockerArchive, dockerLayerSize } from '../helpers/images.js';

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
    it("sizes are Docker's (the layers' file bytes); the shared base counts once", async (t) => {
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
      const base = await dockerLayerSize(join(dir, 'base'), driver);
      const app = [await dockerLayerSize(join(dir, 'app1'), driver), await dockerLayerSize(join(dir, 'app2'), driver)];
      assert.equal(app[0], 300_000);
      assert.equal(r.imageTotals.size, base + app[0]! + app[1]!, 'the shared base counts once');

      assert.equal(r.imageTotals.total, 2);
      assert.equal(r.imageTotals.active, 0);
      assert.equal(r.imageTotals.reclaimable, r.imageTotals.size, 'no container: all reclaimable');
      assert.equal(r.images.length, 2);
      const [i1, i2] = r.images;
      assert.equal(i1!.sharedSize, base, 'both share exactly the base layer');
      assert.equal(i2!.sharedSize, base);
      for (const i of r.images) {
        assert.equal(i.size, base + 300_000);
        assert.equal(i.uniqueSize, 300_000, 'the app layer: its one 300 kB file');
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
