// sparse.test.ts: sparse files in layer tars, in the four encodings GNU tar writes
// (old GNU 'S'; PAX 0.0, 0.1, 1.0), are expanded to the original bytes with their
// holes kept as holes, the layer re-assembles byte for byte from its tar-split, and
// a sparse file bigger than maxBytes is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { applyLayer } from '../../src/archive/apply.js';
import { assembleLayer } from '../../src/archive/tar-split.js';
import { isInvalidArgument } from '../../src/errors.js';
import { tempDir, requires } from '../helpers/env.js';

function sha(b: Buffer): string { return createHash('sha256').update(b).digest('hex'); }

function sparseTar(dir: string, args: string[]): Buffer {
  const src = join(dir, 'src');
  mkdirSync(src, { recursive: true });
  const fd = openSync(join(src, 'sparse.bin'), 'w');
  writeSync(fd, Buffer.alloc(5000, 0x41), 0, 5000, 100_000);
  writeSync(fd, Buffer.alloc(70_000, 0x42), 0, 70_000, 2 << 20);
  ftruncateSync(fd, 3 << 20);
  closeSync(fd);
  const hole = openSync(join(src, 'hole.bin'), 'w');
  ftruncateSync(hole, 1 << 20);
  closeSync(hole);
  const r = spawnSync('tar', ['--create', '--sparse', ...args, '--numeric-owner', '--mtime=@946684800', '-C', src, '-f', '-', 'sparse.bin', 'hole.bin'], { encoding: 'buffer', maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout;
}

const FORMATS: Array<[string, string[]]> = [
  ['old GNU (S)', ['--format=gnu']],
  ['PAX 0.0', ['--format=posix', '--sparse-version=0.0']],
  ['PAX 0.1', ['--format=posix', '--sparse-version=0.1']],
  ['PAX 1.0', ['--format=posix', '--sparse-version=1.0']],
];

for (const [doc, args] of FORMATS) {
  test(`sparse ${doc}: expanded byte for byte, holes kept, tar-split exact`, async (t) => {
    if (!requires(t, spawnSync('tar', ['--version']).status === 0, 'needs GNU tar')) return;
    const dir = tempDir(t);
    const tar = sparseTar(dir, args);
    const root = join(dir, 'root');
    mkdirSync(root);
    const r = await applyLayer((async function* () { yield tar; })(), root, { whiteouts: 'remove', tarSplitPath: join(dir, 'split') });
    assert.equal(sha(readFileSync(join(root, 'sparse.bin'))), sha(readFileSync(join(dir, 'src', 'sparse.bin'))));
    assert.equal(statSync(join(root, 'hole.bin')).size, 1 << 20);
    assert.ok(statSync(join(root, 'sparse.bin')).blocks * 512 < 200_000, 'the holes stay holes on disk');
    assert.equal(r.contentSize, (3 << 20) + (1 << 20), 'sizes count the real size');
    const parts: Buffer[] = [];
    for await (const c of assembleLayer(join(dir, 'split'), root)) parts.push(c);
    assert.equal(sha(Buffer.concat(parts)), sha(tar), 're-assembled tar is the original');
  });
}

test('a sparse file whose real size passes maxBytes is refused', async (t) => {
  if (!requires(t, spawnSync('tar', ['--version']).status === 0, 'needs GNU tar')) return;
  const dir = tempDir(t);
  const tar = sparseTar(dir, ['--format=posix', '--sparse-version=1.0']);
  const root = join(dir, 'root');
  mkdirSync(root);
  await assert.rejects(applyLayer((async function* () { yield tar; })(), root, { whiteouts: 'remove', limits: { maxBytes: 2 << 20 } }),
    (e: unknown) => isInvalidArgument(e) && /sparse files expand past/.test((e as Error).message));
});
