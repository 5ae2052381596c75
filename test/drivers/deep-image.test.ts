// deep-image.test.ts: images far deeper than Docker's overlay2 allows (128 layers),
// through the real CLI on overlay2. An image as deep as the layer store accepts
// (LayerStore.maxImageDepth: 500, the kernel's lower-layer limit, with a container's
// writable layer as the upper on top) loads, inspects, saves, runs, and goes again with
// rmi; a container of a 499-layer image commits to a 500-layer image; one layer more is
// refused at load, saying "max depth exceeded", before anything is applied.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { requiresRoot, tempDir } from '../helpers/env.js';
import { stowage } from '../helpers/cli.js';
import { makeDockerArchive, makeRootfs } from '../helpers/images.js';
import { indexTarFile } from '../../src/archive/tar-reader.js';
import { LayerStore } from '../../src/layers/store.js';
import { Overlay2Driver } from '../../src/drivers/overlay2.js';

/** n tiny layers, each adding one 2-byte file: about 2.5 KB of tar per layer. */
async function deepArchive(dir: string, n: number, tag: string) {
  const layers: string[] = [];
  for (let i = 0; i < n; i++) {
    const d = join(dir, `${tag}-l${i}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, `f${i}`), `${i % 100}`.padStart(2, '0'));
    layers.push(d);
  }
  return makeDockerArchive(join(dir, `${tag}.tar`), { layers, repoTags: [`deep:${tag}`] });
}

/** The deepest image the layer store takes on overlay2 (the getter reads only the driver). */
const DEEPEST = new LayerStore(undefined as never, undefined as never, new Overlay2Driver('/nonexistent')).maxImageDepth;

const layerDirs = (home: string) => (existsSync(home) ? readdirSync(home).filter((n) => /^[a-f0-9]{64}$/.test(n)) : []);

describe('deep images on overlay2', () => {
  it(`a ${DEEPEST}-layer image loads, inspects, saves and is removed`, async (t) => {
    if (!requiresRoot(t)) return;
    assert.ok(DEEPEST >= 498, `overlay2 takes images of ${DEEPEST} layers, ≥ 498 expected`);
    const dir = tempDir(t);
    const archive = await deepArchive(dir, DEEPEST, 'deepest');
    const s = stowage(join(dir, 'root'), 'overlay2');
    const loaded = await s.ok(['load', '-i', archive.path]);
    assert.match(loaded, /Loaded image: deep:deepest/);
    const [info] = JSON.parse(await s.ok(['image', 'inspect', 'deep:deepest']));
    assert.equal(info.Id, archive.imageId);
    assert.equal(info.RootFS.Layers.length, DEEPEST);
    assert.equal(info.GraphDriver.Name, 'overlay2');
    assert.equal(layerDirs(join(s.root, 'overlay2')).length, DEEPEST);
    const saved = join(dir, 'saved.tar');
    await s.ok(['save', '-o', saved, 'deep:deepest']);
    const idx = await indexTarFile(saved);
    for (const d of [archive.diffIds[0]!, archive.diffIds[DEEPEST - 1]!]) assert.ok(idx.has(`blobs/sha256/${d.slice(7)}`), `${d} in the saved archive`);
    await s.ok(['rmi', 'deep:deepest']);
    assert.deepEqual(layerDirs(join(s.root, 'overlay2')), []);
    assert.equal((await s.ok(['images', '-q'])).trim(), '');
  });

  it(`a ${DEEPEST + 1}-layer image is refused at load with "max depth exceeded", leaving nothing behind`, async (t) => {
    if (!requiresRoot(t)) return;
    const dir = tempDir(t);
    const archive = await deepArchive(dir, DEEPEST + 1, 'toodeep');
    const s = stowage(join(dir, 'root'), 'overlay2');
    const r = await s.run(['load', '-i', archive.path]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`max depth exceeded: the image would have ${DEEPEST + 1} layers; the overlay2 driver stacks at most 501, one of them a container's writable layer`));
    assert.equal((await s.ok(['images', '-q', '-a'])).trim(), '');
    assert.deepEqual(layerDirs(join(s.root, 'overlay2')), [], 'refused before any layer was applied');
    assert.deepEqual(readdirSync(join(s.root, 'layers')), [], 'no tar-split left');
    const check = await s.run(['system', 'check', '--quick']);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /No problems found/);
  });

  it('a 500-layer image runs, and a container of a 499-layer image commits to 500 layers', async (t) => {
    if (!requiresRoot(t)) return;
    const dir = tempDir(t);
    // A runnable base (busybox) that has the runtime's mount points, so no init layer is needed.
    const base = join(dir, 'base');
    await makeRootfs(base, 'busybox');
    for (const d of ['proc', 'sys', 'dev']) mkdirSync(join(base, d), { recursive: true });
    for (const f of ['hostname', 'hosts', 'resolv.conf']) writeFileSync(join(base, 'etc', f), '');
    const layers = [base];
    for (let i = 1; i < DEEPEST; i++) {
      const d = join(dir, `l${i}`);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, `f${i}`), String(i));
      layers.push(d);
    }
    const s = stowage(join(dir, 'root'), 'overlay2');
    const full = await makeDockerArchive(join(dir, 'full.tar'), { layers, repoTags: ['deep:full'] });
    await s.ok(['load', '-i', full.path]);
    assert.equal(await s.ok(['run', '--rm', 'deep:full', 'cat', '/f1', `/f${DEEPEST - 1}`]), `1${DEEPEST - 1}`);
    const short = await makeDockerArchive(join(dir, 'short.tar'), { layers: layers.slice(0, DEEPEST - 1), repoTags: ['deep:short'] });
    await s.ok(['load', '-i', short.path]);
    await s.ok(['run', '--name', 'deepc', 'deep:short', 'sh', '-c', 'echo top > /committed']);
    await s.ok(['commit', 'deepc', 'deep:committed']);
    const [info] = JSON.parse(await s.ok(['image', 'inspect', 'deep:committed']));
    assert.equal(info.RootFS.Layers.length, DEEPEST);
    assert.equal(await s.ok(['run', '--rm', 'deep:committed', 'cat', '/committed']), 'top\n');
    await s.ok(['rm', 'deepc']);
    const again = await s.run(['run', '--name', 'deeper', 'deep:committed', 'true']);
    assert.equal(again.code, 0, again.stderr);
    const refused = await s.run(['commit', 'deeper', 'deep:toodeep']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /max depth exceeded/);
    await s.ok(['rm', 'deeper']);
    await s.ok(['rmi', 'deep:committed', 'deep:short', 'deep:full']);
    assert.deepEqual(layerDirs(join(s.root, 'overlay2')), []);
  });
});
