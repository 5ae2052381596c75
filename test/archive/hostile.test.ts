// hostile.test.ts: one named test per attack on applyLayer. Each layer is made by
// code; each test asserts the apply is refused (or contained) AND that nothing
// appeared or changed in a sentinel directory next to root.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync, existsSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { applyLayer, type ApplyOptions } from '../../src/archive/apply.js';
import type { WhiteoutForm } from '../../src/drivers/driver.js';
import { isInvalidArgument } from '../../src/errors.js';
import { tempDir } from '../helpers/env.js';
import { chunked, paxBlock, paxRecord, rawHeader, tarOf, type Spec } from './fixtures.js';

interface Box { root: string; sentinel: string; secret: string }

/** root and, next to it, a sentinel dir holding a "secret" file an attack would target. */
function box(t: TestContext): Box {
  const dir = tempDir(t);
  const root = join(dir, 'root');
  const sentinel = join(dir, 'sentinel');
  mkdirSync(root);
  mkdirSync(sentinel);
  const secret = join(sentinel, 'secret');
  writeFileSync(secret, 'untouched');
  return { root, sentinel, secret };
}

function assertSentinelIntact(b: Box): void {
  assert.deepEqual(readdirSync(b.sentinel), ['secret'], 'nothing written next to root');
  assert.equal(readFileSync(b.secret, 'utf8'), 'untouched');
  assert.equal(statSync(b.secret).nlink, 1, 'secret not hard-linked');
  assert.equal(statSync(b.secret).mode & 0o7777, 0o644);
}

function apply(b: Box, layer: Buffer, form: WhiteoutForm = 'remove', opts: Partial<ApplyOptions> = {}) {
  return applyLayer(chunked(layer, 1000), b.root, { whiteouts: form, ...opts });
}

async function refused(b: Box, layer: Buffer | Spec[], rule: RegExp, form: WhiteoutForm = 'remove', opts: Partial<ApplyOptions> = {}): Promise<void> {
  const buf = Buffer.isBuffer(layer) ? layer : tarOf(layer);
  await assert.rejects(apply(b, buf, form, opts), (e: unknown) => {
    assert.ok(isInvalidArgument(e), `expected InvalidArgument, got ${(e as Error).stack}`);
    assert.match((e as Error).message, rule);
    return true;
  });
  assertSentinelIntact(b);
}

test('rejects ../ escape', async (t) => {
  const b = box(t);
  await refused(b, [{ name: '../sentinel/evil', type: 'file', body: 'x' }], /"\.\." in path/);
});

test('rejects ../ escape hidden in the middle of a path', async (t) => {
  const b = box(t);
  await refused(b, [{ name: 'a/b/../../../sentinel/evil', type: 'file' }], /"\.\."/);
});

test('rejects ../ escape in a PAX path', async (t) => {
  const b = box(t);
  await refused(b, Buffer.concat([paxBlock(paxRecord('path', '../../sentinel/evil')), rawHeader({ name: 'innocent' }), Buffer.alloc(1024)]), /"\.\."/);
});

test('absolute name is contained inside root', async (t) => {
  const b = box(t);
  await apply(b, tarOf([{ name: b.secret, type: 'file', body: 'overwritten?' }]));
  assertSentinelIntact(b);
  assert.equal(readFileSync(join(b.root, b.secret), 'utf8'), 'overwritten?');
});

test('symlink then write through it', async (t) => {
  const b = box(t);
  await refused(b, [{ name: 'link', type: 'symlink', linkname: b.sentinel }, { name: 'link/evil', type: 'file', body: 'x' }], /symlink/);
});

test('relative symlink then write through it', async (t) => {
  const b = box(t);
  await refused(b, [{ name: 'up', type: 'symlink', linkname: '../sentinel' }, { name: 'up/secret', type: 'file', body: 'x' }], /symlink/);
});

test('symlink then mkdir through it', async (t) => {
  const b = box(t);
  await refused(b, [{ name: 'link', type: 'symlink', linkname: b.sentinel }, { name: 'link/dir', type: 'dir' }], /symlink/);
});

test('symlink to / in parent layer then write through it (remove form)', async (t) => {
  const b = box(t);
  symlinkSync('/', join(b.root, 'rootlink'));
  symlinkSync(b.sentinel, join(b.root, 'sent'));
  await refused(b, [{ name: 'sent/evil', type: 'file' }], /"sent" is a symlink/);
  await refused(b, [{ name: 'rootlink/tmp/evil', type: 'file' }], /symlink/);
});

test('symlink in parent layer replaced by a directory entry is fine (not written through)', async (t) => {
  const b = box(t);
  symlinkSync(b.sentinel, join(b.root, 'sent'));
  await apply(b, tarOf([{ name: 'sent', type: 'dir' }, { name: 'sent/file', type: 'file', body: 'inside' }]));
  assertSentinelIntact(b);
  assert.ok(lstatSync(join(b.root, 'sent')).isDirectory());
});

test('symlink replacing an already written directory, then write through it', async (t) => {
  const b = box(t);
  await refused(b, [{ name: 'd', type: 'dir' }, { name: '/d', type: 'symlink', linkname: b.sentinel }, { name: 'd/evil', type: 'file' }], /symlink/);
});

test('absolute symlink chain', async (t) => {
  const b = box(t);
  await refused(b, [
    { name: 'a', type: 'symlink', linkname: '/b' },
    { name: 'b', type: 'symlink', linkname: b.sentinel },
    { name: 'a/evil', type: 'file' },
  ], /symlink/);
});

test('file entry over an existing symlink replaces the link, not its target', async (t) => {
  const b = box(t);
  await apply(b, tarOf([{ name: 'l', type: 'symlink', linkname: b.secret }, { name: '/l', type: 'file', body: 'replaced' }]));
  assertSentinelIntact(b);
  assert.equal(readFileSync(join(b.root, 'l'), 'utf8'), 'replaced');
});

test('hardlink to /etc/passwd stays inside root', async (t) => {
  const b = box(t);
  await refused(b, [{ name: 'pw', type: 'hardlink', linkname: '/etc/passwd' }], /does not exist in the layer/);
  assert.equal(statSync('/etc/passwd').nlink, 1);
});

test('hardlink to a file outside root via ..', async (t) => {
  const b = box(t);
  await refused(b, [{ name: 'h', type: 'hardlink', linkname: '../sentinel/secret' }], /"\.\."/);
});

test('hardlink through symlink', async (t) => {
  const b = box(t);
  await refused(b, [{ name: 'l', type: 'symlink', linkname: b.sentinel }, { name: 'h', type: 'hardlink', linkname: 'l/secret' }], /symlink/);
});

test('hardlink through symlink of the parent layer (remove form)', async (t) => {
  const b = box(t);
  symlinkSync(b.sentinel, join(b.root, 'l'));
  await refused(b, [{ name: 'h', type: 'hardlink', linkname: 'l/secret' }], /symlink/);
});

test('hardlink to a symlink links the symlink itself, then writing through it is refused', async (t) => {
  const b = box(t);
  await refused(b, [
    { name: 'l', type: 'symlink', linkname: b.sentinel },
    { name: 'h', type: 'hardlink', linkname: 'l' },
    { name: 'h/evil', type: 'file' },
  ], /"h" is a symlink/);
});

test('hardlink to a directory', async (t) => {
  const b = box(t);
  await refused(b, [{ name: 'd', type: 'dir' }, { name: 'h', type: 'hardlink', linkname: 'd' }], /hardlink to a directory/);
});

test('whiteout through symlink', async (t) => {
  const b = box(t);
  await refused(b, [{ name: 'l', type: 'symlink', linkname: b.sentinel }, { name: 'l/.wh.secret', type: 'file' }], /symlink/);
});

test('whiteout through symlink of the parent layer (remove form)', async (t) => {
  const b = box(t);
  symlinkSync(b.sentinel, join(b.root, 'l'));
  await refused(b, [{ name: 'l/.wh.secret', type: 'file' }], /symlink/);
});

test('opaque whiteout through symlink of the parent layer (remove form)', async (t) => {
  const b = box(t);
  symlinkSync(b.sentinel, join(b.root, 'l'));
  await refused(b, [{ name: 'l/.wh..wh..opq', type: 'file' }], /symlink/);
});

test('whiteout of ".." is refused', async (t) => {
  const b = box(t);
  await refused(b, [{ name: 'x/.wh..', type: 'file' }], /whiteout without a valid target|"\.\."/);
});

test('whiteout of a symlink removes the link only', async (t) => {
  const b = box(t);
  symlinkSync(b.sentinel, join(b.root, 'l'));
  await apply(b, tarOf([{ name: '.wh.l', type: 'file' }]));
  assert.ok(!existsSync(join(b.root, 'l')));
  assertSentinelIntact(b);
});

test('PAX header bomb', async (t) => {
  const b = box(t);
  const bomb = Buffer.concat([rawHeader({ name: 'pax', typeflag: 'x', size: 1 << 30 }), Buffer.alloc(4096)]);
  await refused(b, bomb, /extended header of 1073741824 bytes exceeds/);
});

test('PAX header bomb below the default but over a configured limit', async (t) => {
  const b = box(t);
  const layer = Buffer.concat([paxBlock(paxRecord('SCHILY.xattr.user.big', 'x'.repeat(100000))), rawHeader({ name: 'f' }), Buffer.alloc(1024)]);
  await refused(b, layer, /exceeds the limit of 65536/, 'remove', { limits: { maxPaxBytes: 65536 } });
});

test('GNU long name bomb', async (t) => {
  const b = box(t);
  await refused(b, Buffer.concat([rawHeader({ name: '././@LongLink', typeflag: 'L', size: 50 << 20, magic: 'gnu' }), Buffer.alloc(512)]), /exceeds the limit/);
});

test('gzip bomb stops at maxBytes', async (t) => {
  const b = box(t);
  const huge = Buffer.concat([rawHeader({ name: 'zeros', size: 64 << 20 }), Buffer.alloc(64 << 20)]);
  const gz = gzipSync(huge, { level: 9 });
  assert.ok(gz.length < 200 * 1024, 'a real bomb: tiny compressed');
  const before = process.memoryUsage().rss;
  await refused(b, gz, /maxBytes/, 'remove', { limits: { maxBytes: 8 << 20 } });
  assert.ok(process.memoryUsage().rss - before < 256 << 20, 'memory stays bounded');
  assert.ok(statSync(join(b.root, 'zeros')).size <= 8 << 20);
});

test('entry count bomb', async (t) => {
  const b = box(t);
  const layer = tarOf(Array.from({ length: 2000 }, (_, i) => ({ name: `f${i}`, type: 'file' as const })));
  await refused(b, layer, /more than 1000 entries/, 'remove', { limits: { maxEntries: 1000 } });
});

test('deep path bomb', async (t) => {
  const b = box(t);
  await refused(b, [{ name: 'd/'.repeat(1000) + 'f', type: 'file' }], /deeper than 256 components/);
});

test('long path bomb', async (t) => {
  const b = box(t);
  await refused(b, [{ name: ('x'.repeat(200) + '/').repeat(30) + 'f', type: 'file' }], /longer than 4096 bytes/);
});

test('over-long path component', async (t) => {
  const b = box(t);
  await refused(b, [{ name: 'n'.repeat(300), type: 'file' }], /longer than 255 bytes/);
});

test('NUL in name', async (t) => {
  const b = box(t);
  await refused(b, Buffer.concat([paxBlock(paxRecord('path', 'ok\0../../sentinel/evil')), rawHeader({ name: 'x' }), Buffer.alloc(1024)]), /NUL/);
});

test('NUL in hardlink target', async (t) => {
  const b = box(t);
  await refused(b, Buffer.concat([paxBlock(paxRecord('linkpath', 'a\0b')), rawHeader({ name: 'x', typeflag: '1' }), Buffer.alloc(1024)]), /NUL/);
});

test('device node: created inside root as root, skipped and counted as non-root', async (t) => {
  const b = box(t);
  if (process.getuid?.() === 0) {
    // as root a device is created, inside root only
    await apply(b, tarOf([{ name: 'dev/mem', type: 'char', devmajor: 1, devminor: 1 }]));
    assert.ok(lstatSync(join(b.root, 'dev/mem')).isCharacterDevice());
  } else {
    const r = await apply(b, tarOf([{ name: 'dev/mem', type: 'char', devmajor: 1, devminor: 1 }]));
    assert.equal(r.skippedDevices, 1);
    assert.ok(!existsSync(join(b.root, 'dev/mem')));
  }
  assertSentinelIntact(b);
});

test('bad checksum names the offset', async (t) => {
  const b = box(t);
  await refused(b, Buffer.concat([tarOf([{ name: 'a', type: 'file' }], Buffer.alloc(0)), rawHeader({ name: 'b', badChecksum: true })]), /byte 512: header checksum/);
});

test('truncated layer', async (t) => {
  const b = box(t);
  await refused(b, tarOf([{ name: 'a', type: 'file', body: Buffer.alloc(5000) }]).subarray(0, 3000), /truncated/);
});

test('negative size', async (t) => {
  const b = box(t);
  await refused(b, Buffer.concat([rawHeader({ name: 'n', patch: [[124, Buffer.from([0xff, ...Array(11).fill(0xff)])]] }), Buffer.alloc(1024)]), /negative/);
});

test('corrupt gzip stream', async (t) => {
  const b = box(t);
  const gz = gzipSync(tarOf([{ name: 'a', type: 'file', body: 'x'.repeat(10000) }]));
  gz.fill(0x55, 20, 60);
  await refused(b, gz, /gzip/);
});

test('parent is a file', async (t) => {
  const b = box(t);
  await refused(b, [{ name: 'f', type: 'file' }, { name: 'f/g', type: 'file' }], /not a directory/);
});

test('forged overlay xattrs are dropped', async (t) => {
  const b = box(t);
  const r = await apply(b, tarOf([{ name: 'd', type: 'dir', xattrs: { 'trusted.overlay.redirect': Buffer.from('/x'), 'trusted.overlay.opaque': Buffer.from('y') } }]), 'overlay');
  assert.equal(r.skippedXattrs, 2);
  assertSentinelIntact(b);
});
