import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { readTar, type TarHeader } from '../../src/archive/tar-reader.js';
import { TarWriter, type WriterHeader } from '../../src/archive/tar-writer.js';
import { tempDir } from '../helpers/env.js';
import { chunked, collect } from './fixtures.js';

async function roundTrip(entries: Array<[WriterHeader, Buffer?]>): Promise<Array<{ h: TarHeader; body: Buffer }>> {
  const out = new PassThrough();
  const bytes = collect(out);
  const w = new TarWriter(out);
  for (const [h, b] of entries) await w.add(h, b);
  await w.finish();
  out.end();
  const buf = await bytes;
  assert.equal(buf.length % 512, 0);
  const got: Array<{ h: TarHeader; body: Buffer }> = [];
  for await (const e of readTar(chunked(buf, 1000))) got.push({ h: e.header, body: await collect(e.body) });
  return got;
}

const cases: Array<{ doc: string; h: WriterHeader; body?: Buffer; expect?: Partial<TarHeader> }> = [
  { doc: 'plain file', h: { name: 'etc/hosts', type: 'file', mode: 0o644, uid: 1, gid: 2, mtime: 1234567890, uname: 'a', gname: 'b' }, body: Buffer.from('127.0.0.1 localhost\n') },
  { doc: 'directory gets a slash', h: { name: 'var/lib', type: 'dir', mode: 0o1777 }, expect: { name: 'var/lib/', mode: 0o1777 } },
  { doc: 'name split into prefix', h: { name: 'a/'.repeat(60) + 'file', type: 'file' } },
  { doc: 'name needing PAX (no split possible)', h: { name: 'x'.repeat(120) + '/' + 'y'.repeat(120), type: 'file' } },
  { doc: 'non-ASCII name via PAX', h: { name: 'répertoire/fichier-✓', type: 'file' } },
  { doc: 'long symlink target via PAX', h: { name: 's', type: 'symlink', linkname: '/t'.repeat(100) } },
  { doc: 'big uid/gid via PAX', h: { name: 'u', type: 'file', uid: 100000000, gid: 4294967295 } },
  { doc: 'long uname via PAX', h: { name: 'u', type: 'file', uname: 'n'.repeat(40), gname: 'g'.repeat(33) } },
  { doc: 'xattrs (binary) via PAX', h: { name: 'cap', type: 'file', xattrs: { 'security.capability': Buffer.from([1, 0, 0, 2, 0x20, 0, 0, 0]), 'user.k': Buffer.from('v') } } },
  { doc: 'devices', h: { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 } },
  { doc: 'large device numbers (base-256)', h: { name: 'dev/x', type: 'block', devmajor: 4095, devminor: 3000000 } },
  { doc: 'setuid', h: { name: 'bin/su', type: 'file', mode: 0o4755 } },
];

for (const c of cases) {
  test(`TarWriter round trip: ${c.doc}`, async () => {
    const got = await roundTrip([[c.h, c.body]]);
    assert.equal(got.length, 1);
    const want: Partial<TarHeader> = { ...c.h, ...(c.expect ?? {}) };
    for (const [k, v] of Object.entries(want)) assert.deepEqual((got[0]!.h as unknown as Record<string, unknown>)[k], v, k);
    if (c.body) assert.ok(got[0]!.body.equals(c.body));
  });
}

test('TarWriter: streamed body and size mismatch', async () => {
  const got = await roundTrip([[{ name: 'f', type: 'file', size: 6 }, (async function* () { yield Buffer.from('abc'); yield Buffer.from('def'); })() as unknown as Buffer]]);
  assert.equal(got[0]!.body.toString(), 'abcdef');
  const w = new TarWriter(new PassThrough());
  await assert.rejects(w.add({ name: 'f', type: 'file', size: 10 }, Buffer.from('short')), /5 bytes, header says 10/);
});

test('TarWriter output is read by GNU tar the same way', async (t) => {
  const dir = tempDir(t);
  const p = join(dir, 'out.tar');
  const out = createWriteStream(p);
  const w = new TarWriter(out);
  const long = 'deep/'.repeat(40) + 'file.txt';
  await w.add({ name: 'd', type: 'dir', mode: 0o750, mtime: 1000 });
  await w.add({ name: long, type: 'file', mode: 0o600, uid: 3000000, mtime: 2000 }, Buffer.from('payload'));
  await w.add({ name: 'd/link', type: 'symlink', linkname: 'x'.repeat(200) });
  await w.finish();
  await new Promise((r) => out.end(r));
  const list = spawnSync('tar', ['--numeric-owner', '-tvf', p], { encoding: 'utf8' });
  assert.equal(list.status, 0, list.stderr);
  assert.match(list.stdout, /drwxr-x--- 0\/0 .* d\//);
  assert.match(list.stdout, new RegExp(`-rw------- 3000000/0 +7 .* ${long}`));
  assert.match(list.stdout, /d\/link -> x{200}/);
  spawnSync('tar', ['-xf', p, '-C', dir]);
  assert.equal(readFileSync(join(dir, long), 'utf8'), 'payload');
  writeFileSync(join(dir, 'ok'), '');
});
