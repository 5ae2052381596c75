import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { indexTarFile, readTar, TarParser, type TarHeader } from '../../src/archive/tar-reader.js';
import { isInvalidArgument } from '../../src/errors.js';
import { tempDir } from '../helpers/env.js';
import { chunked, gnuLong, pad, paxBlock, paxRecord, rawHeader, tarOf } from './fixtures.js';

const END = Buffer.alloc(1024);

async function read(buf: Buffer, chunk = 65536): Promise<Array<{ h: TarHeader; body: string }>> {
  const out: Array<{ h: TarHeader; body: string }> = [];
  for await (const e of readTar(chunked(buf, chunk))) {
    const parts: Buffer[] = [];
    for await (const c of e.body) parts.push(Buffer.from(c));
    out.push({ h: e.header, body: Buffer.concat(parts).toString() });
  }
  return out;
}

interface Case { doc: string; input: () => Buffer; expect: Array<Partial<TarHeader> & { body?: string }> | RegExp }

const base256 = (v: number, len: number): Buffer => {
  const b = Buffer.alloc(len);
  let x = BigInt(v);
  for (let i = len - 1; i >= 0; i--) { b[i] = Number(x & 0xffn); x >>= 8n; }
  b[0]! |= 0x80;
  return b;
};

const cases: Case[] = [
  { doc: 'ustar file with body', input: () => tarOf([{ name: 'a.txt', type: 'file', body: 'hello', mode: 0o640, uid: 7, gid: 8, uname: 'u', gname: 'g' }]),
    expect: [{ name: 'a.txt', type: 'file', size: 5, body: 'hello', mode: 0o640, uid: 7, gid: 8, uname: 'u', gname: 'g', mtime: 1600000000 }] },
  { doc: 'every entry type', input: () => tarOf([
      { name: 'd', type: 'dir' }, { name: 'd/s', type: 'symlink', linkname: '../t' }, { name: 'd/h', type: 'hardlink', linkname: 'a' },
      { name: 'c', type: 'char', devmajor: 1, devminor: 3 }, { name: 'b', type: 'block', devmajor: 8, devminor: 1 }, { name: 'p', type: 'fifo' }]),
    expect: [{ name: 'd/', type: 'dir' }, { name: 'd/s', type: 'symlink', linkname: '../t' }, { name: 'd/h', type: 'hardlink', linkname: 'a' },
      { name: 'c', type: 'char', devmajor: 1, devminor: 3 }, { name: 'b', type: 'block', devmajor: 8, devminor: 1 }, { name: 'p', type: 'fifo' }] },
  { doc: 'setuid/setgid/sticky bits kept', input: () => tarOf([{ name: 'x', type: 'file', mode: 0o7755 }]), expect: [{ mode: 0o7755 }] },
  { doc: 'ustar prefix field joins the name', input: () => Buffer.concat([rawHeader({ name: 'file', prefix: 'some/dir' }), END]),
    expect: [{ name: 'some/dir/file' }] },
  { doc: 'v7 header, trailing slash means directory', input: () => Buffer.concat([rawHeader({ name: 'olddir/', typeflag: '\0', magic: 'v7' }), END]),
    expect: [{ name: 'olddir/', type: 'dir' }] },
  { doc: 'GNU long name and long link', input: () => Buffer.concat([gnuLong('n/'.repeat(80) + 'file'), gnuLong('t/'.repeat(70) + 'target', 'K'),
      rawHeader({ name: 'short', typeflag: '2', linkname: 'short', magic: 'gnu' }), END]),
    expect: [{ name: 'n/'.repeat(80) + 'file', linkname: 't/'.repeat(70) + 'target', type: 'symlink' }] },
  { doc: 'base-256 size, uid and mtime', input: () => Buffer.concat([
      rawHeader({ name: 'big', size: 3, patch: [[124, base256(3, 12)], [108, base256(3000000, 8)], [136, base256(2 ** 40, 12)]] }), pad(Buffer.from('abc')), END]),
    expect: [{ name: 'big', size: 3, uid: 3000000, mtime: 2 ** 40, body: 'abc' }] },
  { doc: 'PAX path, linkpath, ids, names, fractional mtime, xattrs', input: () => Buffer.concat([
      paxBlock(Buffer.concat([paxRecord('path', 'ü/'.repeat(60) + 'x'), paxRecord('linkpath', 'l'.repeat(150)), paxRecord('uid', '4000000000'),
        paxRecord('gid', '5000000'), paxRecord('uname', 'averyveryveryverylongusernamethatdoesnotfit'), paxRecord('gname', 'grp'),
        paxRecord('mtime', '1600000000.123456789'), paxRecord('SCHILY.xattr.user.bin', Buffer.from([0, 1, 0xff, 10])), paxRecord('atime', '1')])),
      rawHeader({ name: 'stub', typeflag: '2' }), END]),
    expect: [{ name: 'ü/'.repeat(60) + 'x', linkname: 'l'.repeat(150), uid: 4000000000, gid: 5000000, uname: 'averyveryveryverylongusernamethatdoesnotfit',
      gname: 'grp', mtime: 1600000000.123456789, xattrs: { 'user.bin': Buffer.from([0, 1, 0xff, 10]) } }] },
  { doc: 'PAX size overrides the header size', input: () => Buffer.concat([paxBlock(paxRecord('size', '4')), rawHeader({ name: 'f', size: 0 }), pad(Buffer.from('data')), END]),
    expect: [{ name: 'f', size: 4, body: 'data' }] },
  // Go's archive/tar (and so Docker) does not apply global records to later entries.
  { doc: 'PAX global header is not applied to later entries; x records apply, an empty value removes', input: () => Buffer.concat([
      paxBlock(Buffer.concat([paxRecord('uname', 'global'), paxRecord('gid', '42')]), 'g'),
      rawHeader({ name: 'one' }),
      paxBlock(Buffer.concat([paxRecord('uname', 'local'), paxRecord('gid', '')])), rawHeader({ name: 'two', gid: 5 }),
      rawHeader({ name: 'three' }), END]),
    expect: [{ name: 'one', uname: '', gid: 0 }, { name: 'two', uname: 'local', gid: 5 }, { name: 'three', uname: '', gid: 0 }] },
  { doc: 'header-only types carry no payload whatever their size field says', input: () => Buffer.concat([
      rawHeader({ name: 'l', typeflag: '1', linkname: 'x', size: 0 }), rawHeader({ name: 'after' }), END]),
    expect: [{ name: 'l', type: 'hardlink', size: 0 }, { name: 'after' }] },
  { doc: 'lone zero block then EOF is the end', input: () => Buffer.concat([tarOf([{ name: 'a', type: 'file' }], Buffer.alloc(512))]), expect: [{ name: 'a' }] },
  { doc: 'end of input at a block boundary without trailer is accepted', input: () => tarOf([{ name: 'a', type: 'file', body: 'x' }], Buffer.alloc(0)), expect: [{ name: 'a' }] },
  { doc: 'trailing bytes after the end marker are ignored', input: () => tarOf([{ name: 'a', type: 'file' }], Buffer.concat([END, Buffer.from('junk')])), expect: [{ name: 'a' }] },
  { doc: 'empty input is an empty archive', input: () => Buffer.alloc(0), expect: [] },
  // malformed
  { doc: 'bad checksum', input: () => Buffer.concat([rawHeader({ name: 'a', badChecksum: true }), END]), expect: /byte 0: header checksum mismatch/ },
  { doc: 'truncated inside a payload', input: () => tarOf([{ name: 'a', type: 'file', body: 'x'.repeat(2000) }]).subarray(0, 1000), expect: /truncated/ },
  { doc: 'truncated inside a header', input: () => tarOf([{ name: 'a', type: 'file' }]).subarray(0, 300), expect: /truncated/ },
  { doc: 'extended header without its entry', input: () => paxBlock(paxRecord('path', 'x')), expect: /truncated|extended header/ },
  { doc: 'negative base-256 size', input: () => Buffer.concat([rawHeader({ name: 'n', patch: [[124, Buffer.from([0xff, ...Array(11).fill(0xfe)])]] }), END]), expect: /negative base-256 size/ },
  { doc: 'oversized base-256 size', input: () => Buffer.concat([rawHeader({ name: 'n', patch: [[124, Buffer.from([0x80, ...Array(11).fill(0xff)])]] }), END]), expect: /too large/ },
  { doc: 'non-octal digits', input: () => Buffer.concat([rawHeader({ name: 'n', patch: [[108, Buffer.from('12x4567\0')]] }), END]), expect: /invalid octal uid/ },
  { doc: 'PAX record with a bad length', input: () => Buffer.concat([paxBlock(Buffer.from('99 path=x\n')), rawHeader({}), END]), expect: /malformed PAX record/ },
  { doc: 'PAX record without newline', input: () => Buffer.concat([paxBlock(Buffer.from('9 path=xy')), rawHeader({}), END]), expect: /PAX record/ },
  { doc: 'PAX record without =', input: () => Buffer.concat([paxBlock(Buffer.from('9 pathxy\n')), rawHeader({}), END]), expect: /without key/ },
  { doc: 'PAX uid out of range', input: () => Buffer.concat([paxBlock(paxRecord('uid', '99999999999')), rawHeader({}), END]), expect: /PAX uid too large/ },
  { doc: 'PAX NUL in path', input: () => Buffer.concat([paxBlock(paxRecord('path', 'a\0b')), rawHeader({}), END]), expect: /NUL in PAX path/ },
  { doc: 'old GNU sparse whose map names more data than the entry stores is refused', input: () => Buffer.concat([rawHeader({ name: 's', typeflag: 'S', magic: 'gnu',
      patch: [[386, Buffer.from('00000000000\0')], [398, Buffer.from('00000000005\0')], [483, Buffer.from('00000000012\0')]] }), END]), expect: /sparse map names 5 bytes/ },
  { doc: 'old GNU sparse entry past its real size is refused', input: () => Buffer.concat([rawHeader({ name: 's', typeflag: 'S', magic: 'gnu', size: 5,
      patch: [[386, Buffer.from('00000000010\0')], [398, Buffer.from('00000000005\0')], [483, Buffer.from('00000000012\0')]] }), pad(Buffer.from('abcde')), END]), expect: /past the real size/ },
  { doc: 'unknown type refused', input: () => Buffer.concat([rawHeader({ name: 'v', typeflag: 'V' }), END]), expect: /unsupported entry type 'V'/ },
  { doc: 'header after a single zero block', input: () => Buffer.concat([Buffer.alloc(512), rawHeader({}), END]), expect: /single zero block/ },
  { doc: 'second entry bad checksum names its offset', input: () => Buffer.concat([rawHeader({ name: 'ok' }), rawHeader({ name: 'b', badChecksum: true }), END]), expect: /byte 512/ },
];

for (const c of cases) {
  test(`readTar: ${c.doc}`, async () => {
    for (const chunk of [1, 7, 511, 512, 513, 65536]) {
      if (chunk === 1 && c.input().length > 20000) continue;
      if (c.expect instanceof RegExp) {
        await assert.rejects(read(c.input(), chunk), (e: unknown) => isInvalidArgument(e) && (c.expect as RegExp).test((e as Error).message), `chunk ${chunk}`);
        continue;
      }
      const got = await read(c.input(), chunk);
      assert.equal(got.length, c.expect.length, `entries (chunk ${chunk})`);
      c.expect.forEach((want, i) => {
        const { body, ...fields } = want;
        for (const [k, v] of Object.entries(fields)) assert.deepEqual((got[i]!.h as unknown as Record<string, unknown>)[k], v, `${k} of entry ${i} (chunk ${chunk})`);
        if (body !== undefined) assert.equal(got[i]!.body, body);
      });
    }
  });
}

test('readTar: PAX header over maxPaxBytes is refused', async () => {
  const big = paxBlock(paxRecord('path', 'x'.repeat(5000)));
  await assert.rejects(async () => { for await (const e of readTar(chunked(Buffer.concat([big, rawHeader({}), END])), { maxPaxBytes: 4096 })) void e; },
    /exceeds the limit of 4096/);
});

test('TarParser: raw events + payload reproduce the input byte for byte', () => {
  const input = Buffer.concat([paxBlock(paxRecord('path', 'p'.repeat(200))), rawHeader({ name: 'f', size: 3 }), pad(Buffer.from('abc')),
    gnuLong('g'.repeat(300)), rawHeader({ name: 'x', typeflag: '5' }), END, Buffer.from('tail')]);
  for (const chunk of [1, 100, 512, 4096]) {
    const out: Buffer[] = [];
    const names: string[] = [];
    const p = new TarParser({ raw: (b) => out.push(Buffer.from(b)), data: (b) => out.push(Buffer.from(b)), header: (h) => names.push(h.name), entryEnd() {} });
    for (let i = 0; i < input.length; i += chunk) p.push(input.subarray(i, i + chunk));
    p.end();
    assert.ok(Buffer.concat(out).equals(input), `chunk ${chunk}`);
    assert.deepEqual(names, ['p'.repeat(200), 'g'.repeat(300)]);
  }
});

test('readTar: skipping bodies still yields every entry', async () => {
  const input = tarOf([{ name: 'a', type: 'file', body: 'x'.repeat(3000) }, { name: 'b', type: 'file', body: 'y' }]);
  const names: string[] = [];
  for await (const e of readTar(chunked(input, 100))) names.push(e.header.name);
  assert.deepEqual(names, ['a', 'b']);
});

test('indexTarFile: offsets point at payloads', async (t) => {
  const dir = tempDir(t);
  const big = Buffer.alloc(200000, 7);
  const input = tarOf([{ name: 'manifest.json', type: 'file', body: '{"a":1}' }, { name: 'blob', type: 'file', body: big },
    { name: 'l'.repeat(150), type: 'file', body: 'long' }, { name: 'd', type: 'dir' }]);
  const p = join(dir, 'x.tar');
  writeFileSync(p, input);
  const idx = await indexTarFile(p);
  assert.deepEqual([...idx.keys()], ['manifest.json', 'blob', 'l'.repeat(150), 'd/']);
  const m = idx.get('manifest.json')!;
  assert.equal(input.toString('utf8', m.offset, m.offset + m.size), '{"a":1}');
  const b = idx.get('blob')!;
  assert.ok(input.subarray(b.offset, b.offset + b.size).equals(big));
  const l = idx.get('l'.repeat(150))!;
  assert.equal(input.toString('utf8', l.offset, l.offset + l.size), 'long');
});

test('readTar: fuzz-style corruption never crashes with a non-StowageError', async () => {
  const good = tarOf([{ name: 'a', type: 'file', body: 'hello' }, { name: 'b'.repeat(120), type: 'dir', xattrs: { 'user.x': Buffer.from('1') } }]);
  let seed = 1;
  for (let i = 0; i < 300; i++) {
    const bad = Buffer.from(good);
    for (let j = 0; j < 4; j++) { seed = (seed * 1103515245 + 12345) >>> 0; bad[seed % bad.length] = seed >>> 24; }
    try { await read(bad, 97); } catch (e) { assert.ok(isInvalidArgument(e), `unexpected error ${(e as Error).stack}`); }
  }
});
