import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { applyLayer } from '../../src/archive/apply.js';
import { assembleLayer } from '../../src/archive/tar-split.js';
import type { WhiteoutForm } from '../../src/drivers/driver.js';
import { kindOf } from '../../src/errors.js';
import { tempDir } from '../helpers/env.js';
import { chunked, collect, gnuLong, pad, paxBlock, paxRecord, rawHeader, tarOf, type Spec } from './fixtures.js';

const canOverlay = process.getuid?.() === 0;

async function roundTrip(t: TestContext, tar: Buffer, form: WhiteoutForm = 'remove', input: Buffer = tar): Promise<{ root: string; split: string }> {
  const dir = tempDir(t);
  const root = join(dir, 'root');
  mkdirSync(root);
  const split = join(dir, 'layer.split');
  await applyLayer(chunked(input, 777), root, { whiteouts: form, tarSplitPath: split });
  const back = await collect(assembleLayer(split, root));
  assert.equal(back.length, tar.length, 'same length');
  assert.ok(back.equals(tar), 'byte-identical');
  assert.ok(statSync(split).size < Math.max(4096, tar.length / 2), 'tar-split is compact');
  return { root, split };
}

const cases: Array<{ doc: string; entries?: Spec[]; raw?: () => Buffer; overlayOnly?: boolean }> = [
  { doc: 'plain files, dirs, symlinks, hardlinks', entries: [
    { name: 'd', type: 'dir', mode: 0o755 }, { name: 'd/a', type: 'file', body: 'alpha' }, { name: 'd/b', type: 'hardlink', linkname: 'd/a' },
    { name: 's', type: 'symlink', linkname: '/d/a' }, { name: 'p', type: 'fifo' }] },
  { doc: 'duplicates: a file written twice', entries: [
    { name: 'x', type: 'file', body: 'first version, longer' }, { name: 'y', type: 'file', body: 'y' }, { name: '/x', type: 'file', body: 'second' }] },
  { doc: 'file overwritten then whited out', entries: [
    { name: 'dir/f', type: 'file', body: 'one' }, { name: '/dir/f', type: 'file', body: 'two!' }, { name: 'dir/.wh.f', type: 'file' }] },
  { doc: 'directory of files whited out later in the same tar', entries: [
    { name: 'tree/a', type: 'file', body: 'A'.repeat(3000) }, { name: 'tree/sub/b', type: 'file', body: 'B'.repeat(70000) }, { name: '.wh.tree', type: 'file' }] },
  { doc: 'file replaced by a directory, and by a symlink', entries: [
    { name: 'f', type: 'file', body: 'gone' }, { name: '/f', type: 'dir' }, { name: 'g', type: 'file', body: 'gone too' }, { name: '/g', type: 'symlink', linkname: 'f' }] },
  { doc: 'hardlinked file overwritten at its first name', entries: [
    { name: 'a', type: 'file', body: 'shared' }, { name: 'b', type: 'hardlink', linkname: 'a' }, { name: '/a', type: 'file', body: 'new a' }] },
  { doc: 'long names and xattrs (PAX)', entries: [
    { name: 'l/'.repeat(100) + 'file', type: 'file', body: 'deep', xattrs: { 'user.a': Buffer.from([0, 255]) } },
    { name: 'é'.repeat(80), type: 'file', body: 'unicode' }, { name: 'sym', type: 'symlink', linkname: 't'.repeat(300) }] },
  { doc: 'sparse-looking zero files and exact block sizes', entries: [
    { name: 'zeros', type: 'file', body: Buffer.alloc(1 << 20) }, { name: 'block', type: 'file', body: Buffer.alloc(512, 1) }, { name: 'empty', type: 'file' }] },
  { doc: 'opaque directory in remove form keeps the earlier payloads', entries: [
    { name: 'c/kept', type: 'file', body: 'kept' }, { name: 'c/.wh..wh..opq', type: 'file' }, { name: 'c/after', type: 'file', body: 'after' }] },
  { doc: 'GNU long names, a global PAX header, trailing junk after the end marker', raw: () => Buffer.concat([
    paxBlock(paxRecord('comment', 'git archive'), 'g'), gnuLong('g/'.repeat(90) + 'name'), rawHeader({ name: 'short', size: 5, magic: 'gnu' }), pad(Buffer.from('hello')),
    rawHeader({ name: 'whiteout-with-payload/.wh.x', size: 3 }), pad(Buffer.from('abc')), Buffer.alloc(1024), Buffer.from('junk after the end')]) },
  { doc: 'overlay form: whiteouts over files of the same tar', overlayOnly: true, entries: [
    { name: 'w', type: 'file', body: 'soon a whiteout' }, { name: '.wh.w', type: 'file' }, { name: 'o/x', type: 'file', body: 'x' }, { name: 'o/.wh..wh..opq', type: 'file' }] },
];

for (const c of cases) {
  test(`tar-split round trip: ${c.doc}`, async (t) => {
    const tar = c.raw ? c.raw() : tarOf(c.entries!);
    for (const form of ['remove', 'overlay'] as const) {
      if (form === 'overlay' && !canOverlay) continue;
      if (form === 'remove' && c.overlayOnly) continue;
      await roundTrip(t, tar, form);
    }
  });
}

test('tar-split round trip: a tar made by GNU tar (10 KiB records)', async (t) => {
  const src = tempDir(t);
  mkdirSync(join(src, 'a/b'), { recursive: true });
  writeFileSync(join(src, 'a/b/file'), 'gnu tar content\n'.repeat(1000));
  writeFileSync(join(src, 'a/' + 'n'.repeat(150)), 'long name');
  const r = spawnSync('tar', ['-c', '-C', src, 'a'], { maxBuffer: 1 << 26 });
  assert.equal(r.status, 0);
  assert.equal(r.stdout.length % 10240, 0);
  await roundTrip(t, r.stdout);
});

test('tar-split round trip of a gzip layer gives back the uncompressed tar', async (t) => {
  const tar = tarOf([{ name: 'f', type: 'file', body: 'compressed' }]);
  await roundTrip(t, tar, 'remove', gzipSync(tar));
});

test('tar-split: a big layer spanning many frames', async (t) => {
  const entries: Spec[] = [];
  for (let i = 0; i < 3000; i++) entries.push({ name: `d${i % 17}/f${i}`, type: 'file', body: `content ${i}`, xattrs: i % 5 ? undefined : { 'user.i': Buffer.from(String(i)) } });
  await roundTrip(t, tarOf(entries));
});

test('assembleLayer: a changed size is an Internal error naming the file', async (t) => {
  const tar = tarOf([{ name: 'etc/conf', type: 'file', body: 'original' }]);
  const { root, split } = await roundTrip(t, tar);
  writeFileSync(join(root, 'etc/conf'), 'changed and longer');
  await assert.rejects(collect(assembleLayer(split, root)), (e: Error) => kindOf(e) === 'Internal' && /\/etc\/conf has 18 bytes, expected 8/.test(e.message));
  truncateSync(join(root, 'etc/conf'), 8);
  assert.equal((await collect(assembleLayer(split, root))).length, tar.length, 'same size again: assembles (caller checks the digest)');
});

test('assembleLayer: a missing file is an Internal error naming the file', async (t) => {
  const { root, split } = await roundTrip(t, tarOf([{ name: 'x/y', type: 'file', body: 'y' }]));
  rmSync(join(root, 'x/y'));
  await assert.rejects(collect(assembleLayer(split, root)), (e: Error) => kindOf(e) === 'Internal' && /\/x\/y is missing/.test(e.message));
});

test('assembleLayer: a torn tar-split is refused', async (t) => {
  const { root, split } = await roundTrip(t, tarOf([{ name: 'x', type: 'file', body: 'y' }]));
  const b = readFileSync(split);
  writeFileSync(split, b.subarray(0, b.length - 13));
  await assert.rejects(collect(assembleLayer(split, root)), /incomplete/);
});
