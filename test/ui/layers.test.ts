// layers.test.ts: the store page's two additions to the Engine API (src/ui/layers.ts),
// read from a real store: which images stand on which layers, and a layer's files.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, requiresRoot } from '../helpers/env.js';
import { stowage } from '../helpers/cli.js';
import { makeRootfs, makeDockerArchive } from '../helpers/images.js';
import { Engine } from '../../src/engine.js';
import { layerFiles, layerGraph } from '../../src/ui/layers.js';

describe('store page data', () => {
  it('a base layer two images share is one node naming both; a layer lists its files and whiteouts', async (t) => {
    if (!requiresRoot(t)) return;
    const dir = tempDir(t);
    const root = join(dir, 'root');
    const s = stowage(root, 'overlay2');
    const base = join(dir, 'base');
    await makeRootfs(base, 'busybox');
    const app = join(dir, 'app');
    mkdirSync(join(app, 'srv'), { recursive: true });
    writeFileSync(join(app, 'srv', 'app.js'), 'console.log(1)\n');
    const tool = join(dir, 'tool');
    mkdirSync(join(tool, 'etc'), { recursive: true });
    writeFileSync(join(tool, 'etc', '.wh.passwd'), ''); // deletes /etc/passwd of the base
    const a = await makeDockerArchive(join(dir, 'app.tar'), { layers: [base, app], repoTags: ['app:1'], createdBy: ['base step', 'COPY app'] });
    const b = await makeDockerArchive(join(dir, 'tool.tar'), { layers: [base, tool], repoTags: ['tool:1'], createdBy: ['base step', 'RUN rm /etc/passwd'] });
    await s.ok(['load', '-i', a.path]);
    await s.ok(['load', '-i', b.path]);

    const e = Engine.open({ dataRoot: root, storageDriver: 'overlay2' });
    try {
      const g = layerGraph(e);
      assert.equal(g.driver, 'overlay2');
      assert.equal(g.layers.length, 3, 'three distinct layers: the shared base once');
      const baseNode = g.layers.find((l) => l.chainId === a.chainIds[0])!;
      assert.ok(baseNode, 'the base layer is there by its chain ID');
      assert.deepEqual(baseNode.images.sort(), [a.imageId, b.imageId].sort());
      assert.equal(baseNode.createdBy, 'base step');
      assert.equal(baseNode.parent, null);
      const appNode = g.layers.find((l) => l.chainId === a.chainIds[1])!;
      assert.deepEqual(appNode.images, [a.imageId]);
      assert.equal(appNode.parent, baseNode.id);
      assert.equal(appNode.createdBy, 'COPY app');
      assert.deepEqual(g.images.find((i) => i.id === a.imageId)!.layers, [baseNode.id, appNode.id]);

      const files = await layerFiles(e, a.chainIds[1]!);
      assert.deepEqual(files.entries.map((f) => `${f.type} ${f.path}`), ['dir srv', 'file srv/app.js']);
      assert.equal(files.entries[1]!.size, 'console.log(1)\n'.length);
      assert.equal(files.truncated, false);
      const wh = await layerFiles(e, b.chainIds[1]!);
      assert.ok(wh.entries.some((f) => f.type === 'whiteout' && f.path === 'etc/passwd'), JSON.stringify(wh.entries));
      const baseFiles = await layerFiles(e, baseNode.id, { limit: 3 });
      assert.equal(baseFiles.entries.length, 3);
      assert.ok(baseFiles.total > 3);
      assert.equal(baseFiles.truncated, true);
      assert.ok((await layerFiles(e, a.chainIds[0]!)).entries.some((f) => f.path === 'bin/busybox' && f.type === 'file'));

      await assert.rejects(layerFiles(e, 'sha256:' + '0'.repeat(64)), /No such layer/);
      await assert.rejects(layerFiles(e, '../../etc'), /invalid layer reference/);
    } finally {
      e.close();
    }
  });
});
