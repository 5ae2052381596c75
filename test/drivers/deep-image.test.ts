// deep-image.test.ts: images far deeper than Docker's overlay2 allows (128 layers),
// through the real CLI on overlay2. An image as deep as the layer store accepts
// (LayerStore.maxImageDepth: overlay2's 500 minus the places kept for a container's
// init and writable layers, so that every image that loads can also run; 498 today)
// loads, inspects, saves and goes again with rmi; one layer more is refused at load,
// saying "max depth exceeded", before anything is applied, and leaves nothing behind.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { requiresRoot, tempDir } from '../helpers/env.js';
import { stowage } from '../helpers/cli.js';
import { makeDockerArchive } from '../helpers/images.js';
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
    assert.match(r.stderr, new RegExp(`max depth exceeded: the image would have ${DEEPEST + 1} layers; the overlay2 driver stacks at most 500, ${500 - DEEPEST} of them a container's init and writable layers`));
    assert.equal((await s.ok(['images', '-q', '-a'])).trim(), '');
    assert.deepEqual(layerDirs(join(s.root, 'overlay2')), [], 'refused before any layer was applied');
    assert.deepEqual(readdirSync(join(s.root, 'layers')), [], 'no tar-split left');
    const check = await s.run(['system', 'check', '--quick']);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /No problems found/);
  });
});
