import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, readdirSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { applyLayer, type ApplyOptions } from '../../src/archive/apply.js';
import { assembleLayer } from '../../src/archive/tar-split.js';
import { native } from '../../src/util/sys.js';
import { requiresRoot, tempDir } from '../helpers/env.js';
import { isInvalidArgument } from '../../src/errors.js';
import { chunked, collect, tarOf, type Spec } from './fixtures.js';

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const isRoot = process.getuid?.() === 0;

function apply(buf: Buffer, root: string, opts: Partial<ApplyOptions> = {}, chunk = 4096) {
  return applyLayer(chunked(buf, chunk), root, { whiteouts: 'overlay', ...opts });
}

test('apply: files, dirs, symlinks, digests and sizes', async (t) => {
  const root = tempDir(t);
  const tar = tarOf([
    { name: './etc/', type: 'dir', mode: 0o755, mtime: 1000 },
    { name: './etc/hosts', type: 'file', mode: 0o640, body: 'h', mtime: 2000 },
    { name: '/abs/file', type: 'file', body: 'stripped leading slash' },
    { name: 'etc/link', type: 'symlink', linkname: '/etc/hosts', mtime: 3000 },
    { name: 'empty', type: 'file' },
  ]);
  const r = await apply(tar, root);
  assert.equal(r.diffId, sha(tar));
  assert.equal(r.blobDigest, sha(tar));
  assert.equal(r.size, tar.length);
  assert.equal(r.blobSize, tar.length);
  assert.equal(r.entries, 5);
  assert.equal(readFileSync(join(root, 'etc/hosts'), 'utf8'), 'h');
  assert.equal(statSync(join(root, 'etc/hosts')).mode & 0o7777, 0o640);
  assert.equal(statSync(join(root, 'etc/hosts')).mtimeMs, 2000 * 1000);
  assert.equal(statSync(join(root, 'etc')).mtimeMs, 1000 * 1000, 'directory mtime set after its contents');
  assert.equal(readFileSync(join(root, 'abs/file'), 'utf8'), 'stripped leading slash');
  assert.equal(readlinkSync(join(root, 'etc/link')), '/etc/hosts');
  assert.equal(lstatSync(join(root, 'etc/link')).mtimeMs, 3000 * 1000);
  assert.equal(statSync(join(root, 'empty')).size, 0);
});

test('apply: gzip and zstd layers, blobDigest over the compressed bytes', async (t) => {
  const tar = tarOf([{ name: 'a', type: 'file', body: 'x'.repeat(100000) }]);
  const gz = gzipSync(tar);
  const root = tempDir(t);
  const r = await apply(gz, root);
  assert.equal(r.diffId, sha(tar));
  assert.equal(r.blobDigest, sha(gz));
  assert.equal(r.blobSize, gz.length);
  assert.equal(readFileSync(join(root, 'a'), 'utf8').length, 100000);
  const z = spawnSync('zstd', ['-c', '-q'], { input: tar });
  assert.equal(z.status, 0, `zstd -c failed (Debian package zstd): ${z.error?.message ?? z.stderr?.toString()}`);
  const root2 = tempDir(t);
  const r2 = await apply(z.stdout, root2);
  assert.equal(r2.diffId, sha(tar));
  assert.equal(r2.blobDigest, sha(z.stdout));
  assert.ok(existsSync(join(root2, 'a')));
});

test('apply: modes incl. setuid/setgid/sticky, ownership, mtimes (root)', async (t) => {
  if (!requiresRoot(t)) return;
  const root = tempDir(t);
  await apply(tarOf([
    { name: 'bin', type: 'dir', mode: 0o555, uid: 0, gid: 0 },
    { name: 'bin/su', type: 'file', mode: 0o4755, uid: 0, gid: 0, body: 'su' },
    { name: 'bin/wall', type: 'file', mode: 0o2755, uid: 1000, gid: 5, body: 'w' },
    { name: 'tmp', type: 'dir', mode: 0o1777, uid: 0, gid: 0 },
    { name: 'home/u', type: 'dir', mode: 0o700, uid: 1000, gid: 1000 },
    { name: 'home/u/l', type: 'symlink', linkname: 'x', uid: 1000, gid: 1001 },
  ]), root);
  assert.equal(statSync(join(root, 'bin')).mode & 0o7777, 0o555);
  assert.equal(statSync(join(root, 'bin/su')).mode & 0o7777, 0o4755);
  const w = statSync(join(root, 'bin/wall'));
  assert.equal(w.mode & 0o7777, 0o2755, 'setgid survives the chown');
  assert.deepEqual([w.uid, w.gid], [1000, 5]);
  assert.equal(statSync(join(root, 'tmp')).mode & 0o7777, 0o1777);
  assert.deepEqual([statSync(join(root, 'home/u')).uid, statSync(join(root, 'home/u')).gid], [1000, 1000]);
  const l = lstatSync(join(root, 'home/u/l'));
  assert.deepEqual([l.uid, l.gid], [1000, 1001]);
  assert.equal(statSync(join(root, 'home')).mode & 0o7777, 0o755, 'implicit parent is 0755');
});

test('apply: xattrs incl. security.capability after chown (root)', async (t) => {
  if (!requiresRoot(t)) return;
  const root = tempDir(t);
  // v2 capability: cap_net_bind_service permitted+effective
  const cap = Buffer.from([0, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const r = await apply(tarOf([
    { name: 'ping', type: 'file', uid: 1000, mode: 0o755, body: 'p', xattrs: { 'security.capability': cap, 'user.note': Buffer.from('n') } },
    { name: 'd', type: 'dir', xattrs: { 'trusted.app': Buffer.from('t'), 'trusted.overlay.redirect': Buffer.from('/etc') } },
  ]), root);
  const sys = native();
  assert.ok(sys.lgetxattr(join(root, 'ping'), 'security.capability')?.equals(cap));
  assert.equal(sys.lgetxattr(join(root, 'ping'), 'user.note')?.toString(), 'n');
  assert.equal(sys.lgetxattr(join(root, 'd'), 'trusted.app')?.toString(), 't');
  assert.equal(sys.lgetxattr(join(root, 'd'), 'trusted.overlay.redirect'), null, 'forged overlay xattr dropped');
  assert.equal(r.skippedXattrs, 1);
});

test('apply: user xattrs (any user)', async (t) => {
  const root = tempDir(t);
  await apply(tarOf([{ name: 'f', type: 'file', xattrs: { 'user.k': Buffer.from([0, 1, 2]) } }]), root);
  assert.ok(native().lgetxattr(join(root, 'f'), 'user.k')?.equals(Buffer.from([0, 1, 2])));
});

test('apply: devices and FIFOs (root)', async (t) => {
  if (!requiresRoot(t)) return;
  const root = tempDir(t);
  const r = await apply(tarOf([
    { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'dev/sda', type: 'block', devmajor: 8, devminor: 0, mode: 0o660, gid: 6 },
    { name: 'run/fifo', type: 'fifo', mode: 0o620 },
  ]), root);
  const n = lstatSync(join(root, 'dev/null'));
  assert.ok(n.isCharacterDevice());
  assert.equal(n.rdev, (1 << 8) | 3);
  assert.equal(n.mode & 0o7777, 0o666);
  const b = lstatSync(join(root, 'dev/sda'));
  assert.ok(b.isBlockDevice());
  assert.equal(b.gid, 6);
  const f = lstatSync(join(root, 'run/fifo'));
  assert.ok(f.isFIFO());
  assert.equal(f.mode & 0o7777, 0o620);
  assert.equal(r.skippedDevices, 0);
});

test('apply: hardlinks share the inode', async (t) => {
  const root = tempDir(t);
  await apply(tarOf([
    { name: 'a/f', type: 'file', body: 'data', mode: 0o600 },
    { name: 'b/g', type: 'hardlink', linkname: 'a/f' },
    { name: 'b/h', type: 'hardlink', linkname: './a/f' },
  ]), root);
  const a = statSync(join(root, 'a/f'));
  assert.equal(statSync(join(root, 'b/g')).ino, a.ino);
  assert.equal(statSync(join(root, 'b/h')).ino, a.ino);
  assert.equal(a.nlink, 3);
});

test('apply: the same path, relative and rooted (Docker takes both) — later entry wins; dir over dir merges', async (t) => {
  const root = tempDir(t);
  await apply(tarOf([
    { name: 'x', type: 'file', body: 'first' },
    { name: '/x', type: 'file', body: 'second' },
    { name: 'd', type: 'dir', mode: 0o700 },
    { name: 'd/keep', type: 'file', body: 'k' },
    { name: '/d', type: 'dir', mode: 0o751 },
    { name: 'y', type: 'dir' },
    { name: 'y/inner', type: 'file' },
    { name: '/y', type: 'symlink', linkname: 'x' },
    { name: 'z', type: 'symlink', linkname: 'x' },
    { name: '/z', type: 'file', body: 'file now' },
  ]), root);
  assert.equal(readFileSync(join(root, 'x'), 'utf8'), 'second');
  assert.equal(statSync(join(root, 'd')).mode & 0o7777, 0o751);
  assert.equal(readFileSync(join(root, 'd/keep'), 'utf8'), 'k');
  assert.equal(readlinkSync(join(root, 'y')), 'x');
  assert.ok(lstatSync(join(root, 'z')).isFile());
});

test('apply: the same name twice is refused, as Docker (tar-split) refuses it', async (t) => {
  const root = tempDir(t);
  await assert.rejects(apply(tarOf([
    { name: 'x', type: 'file', body: 'first' },
    { name: 'x', type: 'file', body: 'second' },
  ]), root), (e: unknown) => isInvalidArgument(e) && /duplicates of file paths not supported/.test((e as Error).message));
});

test('apply: whiteouts, overlay form (root)', async (t) => {
  if (!requiresRoot(t)) return;
  const root = tempDir(t);
  await apply(tarOf([
    { name: 'etc', type: 'dir' },
    { name: 'etc/.wh.passwd', type: 'file' },
    { name: 'var/cache', type: 'dir' },
    { name: 'var/cache/.wh..wh..opq', type: 'file' },
    { name: 'var/cache/new', type: 'file', body: 'n' },
    { name: 'newdir/.wh..wh..opq', type: 'file' },
  ]), root, { whiteouts: 'overlay' });
  const wh = lstatSync(join(root, 'etc/passwd'));
  assert.ok(wh.isCharacterDevice() && wh.rdev === 0, '0/0 char device');
  assert.ok(!existsSync(join(root, 'etc/.wh.passwd')));
  assert.equal(native().lgetxattr(join(root, 'var/cache'), 'trusted.overlay.opaque')?.toString(), 'y');
  assert.ok(!existsSync(join(root, 'var/cache/.wh..wh..opq')));
  assert.equal(readFileSync(join(root, 'var/cache/new'), 'utf8'), 'n');
  assert.equal(native().lgetxattr(join(root, 'newdir'), 'trusted.overlay.opaque')?.toString(), 'y');
});

test('apply: whiteouts, remove form (parent content in root)', async (t) => {
  const root = tempDir(t);
  // the parent layer, as vfs would hold it
  await apply(tarOf([
    { name: 'etc/passwd', type: 'file', body: 'p' },
    { name: 'etc/keep', type: 'file', body: 'k' },
    { name: 'usr/share/doc/a', type: 'file' },
    { name: 'cache/old1', type: 'file' }, { name: 'cache/sub/old2', type: 'file' },
  ]), root, { whiteouts: 'remove' });
  await apply(tarOf([
    { name: 'etc/.wh.passwd', type: 'file' },
    { name: 'usr/share/.wh.doc', type: 'file' },
    { name: 'cache/written-before', type: 'file', body: 'mine' },
    { name: 'cache/sub/mine-too', type: 'file' },
    { name: 'cache/.wh..wh..opq', type: 'file' },
    { name: 'cache/after', type: 'file' },
    { name: 'nothere/.wh.x', type: 'file' },
  ]), root, { whiteouts: 'remove' });
  assert.ok(!existsSync(join(root, 'etc/passwd')));
  assert.ok(existsSync(join(root, 'etc/keep')));
  assert.ok(!existsSync(join(root, 'usr/share/doc')));
  assert.deepEqual(readdirSync(join(root, 'cache')).sort(), ['after', 'sub', 'written-before']);
  assert.deepEqual(readdirSync(join(root, 'cache/sub')), ['mine-too']);
  assert.ok(statSync(join(root, 'nothere')).isDirectory(), 'a whiteout makes its missing parent, as Docker makes every implied folder');
  assert.deepEqual(readdirSync(join(root, 'nothere')), []);
  for (const n of ['etc', 'usr/share', 'cache']) assert.ok(!readdirSync(join(root, n)).some((x) => x.startsWith('.wh.')));
});

test('apply: reserved whiteout names are refused', async (t) => {
  const root = tempDir(t);
  await assert.rejects(apply(tarOf([{ name: 'a/.wh..wh.plnk', type: 'file' }]), root), /reserved whiteout/);
});

test('apply: as non-root, char/block devices are skipped and counted', async (t) => {
  const root = tempDir(t);
  if (isRoot) {
    // run the same apply in a child process with an unprivileged uid
    const script = `import('${new URL('../../src/archive/apply.js', import.meta.url).href}').then(async (m) => {
      const { readFileSync } = await import('node:fs');
      const r = await m.applyLayer((async function*(){ yield readFileSync(process.argv[1]); })(), process.argv[2], { whiteouts: 'remove' });
      console.log(JSON.stringify(r));
    })`;
    const layer = join(root, 'l.tar');
    writeFileSync(layer, tarOf([{ name: 'dev/sda', type: 'block', devmajor: 8 }, { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3 }, { name: 'p', type: 'fifo' }]));
    const out = join(root, 'out');
    mkdirSync(out);
    spawnSync('chown', ['-R', '65534:65534', root]);
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, layer, out], { uid: 65534, gid: 65534, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).skippedDevices, 2);
    assert.ok(!existsSync(join(out, 'dev/sda')) && !existsSync(join(out, 'dev/null')));
    assert.ok(lstatSync(join(out, 'p')).isFIFO(), 'FIFOs need no privilege');
  } else {
    const r = await apply(tarOf([{ name: 'dev/sda', type: 'block', devmajor: 8 }]), root);
    assert.equal(r.skippedDevices, 1);
    assert.ok(!existsSync(join(root, 'dev/sda')));
  }
});

test('apply: limits — maxEntries, maxBytes, maxDepth, maxPathLength', async (t) => {
  const many = tarOf(Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, type: 'file' as const })));
  await assert.rejects(apply(many, tempDir(t), { limits: { maxEntries: 10 } }), /more than 10 entries/);
  await assert.rejects(apply(tarOf([{ name: 'big', type: 'file', body: Buffer.alloc(10000) }]), tempDir(t), { limits: { maxBytes: 5000 } }), /maxBytes/);
  await assert.rejects(apply(tarOf([{ name: 'a/'.repeat(20) + 'f', type: 'file' }]), tempDir(t), { limits: { maxDepth: 10 } }), /deeper than 10/);
  await assert.rejects(apply(tarOf([{ name: 'n'.repeat(200) + '/' + 'm'.repeat(200), type: 'file' }]), tempDir(t), { limits: { maxPathLength: 300 } }), /longer than 300 bytes/);
});

test('apply: disk reserve stops before the disk fills', async (t) => {
  const root = tempDir(t);
  await assert.rejects(apply(tarOf([{ name: 'f', type: 'file', body: 'x' }]), root, { limits: { diskReserveBytes: Number.MAX_SAFE_INTEGER } }),
    (e: Error & { kind?: string }) => e.kind === 'Unavailable' && /disk space/.test(e.message));
});

test('apply: abort signal stops the apply', async (t) => {
  const ac = new AbortController();
  ac.abort(new Error('stop now'));
  await assert.rejects(apply(tarOf([{ name: 'f', type: 'file' }]), tempDir(t), { signal: ac.signal }), /stop now/);
});

test('apply then tar-split reproduces the exact tar (smoke)', async (t) => {
  const root = tempDir(t);
  const split = join(tempDir(t), 'split');
  const entries: Spec[] = [{ name: 'd', type: 'dir' }, { name: 'd/f', type: 'file', body: 'abc' }, { name: 's', type: 'symlink', linkname: 'd/f' }];
  const tar = tarOf(entries);
  await apply(tar, root, { tarSplitPath: split });
  assert.ok((await collect(assembleLayer(split, root))).equals(tar));
});
