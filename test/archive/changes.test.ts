import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, lutimesSync, linkSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, symlinkSync, lstatSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { applyLayer } from '../../src/archive/apply.js';
import { changes, exportChanges, exportTree } from '../../src/archive/changes.js';
import { readTar } from '../../src/archive/tar-reader.js';
import { native, S_IFCHR } from '../../src/util/sys.js';
import { requiresRoot, tempDir } from '../helpers/env.js';
import { collect, chunked } from './fixtures.js';

function write(p: string, s: string): void {
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, s);
  utimesSync(p, 1000, 1000);
}

async function entries(src: AsyncIterable<Buffer>): Promise<Map<string, { type: string; linkname: string; body: string }>> {
  const m = new Map<string, { type: string; linkname: string; body: string }>();
  for await (const e of readTar(src)) m.set(e.header.name, { type: e.header.type, linkname: e.header.linkname, body: (await collect(e.body)).toString() });
  return m;
}

/** A recursive listing "path type size mode" to compare trees. */
function listing(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const n of readdirSync(join(dir, rel)).sort()) {
    const p = rel ? rel + '/' + n : n;
    const st = lstatSync(join(dir, p));
    out.push(`${p} ${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'} ${st.isDirectory() ? '' : st.size} ${(st.mode & 0o7777).toString(8)}`);
    if (st.isDirectory()) out.push(...listing(dir, p));
  }
  return out;
}

function makeParentAndChild(base: string): { parent: string; child: string } {
  const parent = join(base, 'parent');
  const child = join(base, 'child');
  for (const d of [parent, child]) {
    write(join(d, 'etc/passwd'), 'root:x:0:0');
    write(join(d, 'etc/hosts'), 'localhost');
    write(join(d, 'usr/lib/a.so'), 'a');
    write(join(d, 'usr/lib/b.so'), 'b');
    write(join(d, 'old/dir/x'), 'x');
    write(join(d, 'bin/tool'), 'tool');
    symlinkSync('tool', join(d, 'bin/t'));
    lutimesSync(join(d, 'bin/t'), 1000, 1000);
  }
  write(join(child, 'etc/passwd'), 'root:x:0:0\nu:x:1000:1000');   // C (size)
  chmodSync(join(child, 'bin/tool'), 0o755);                       // C (mode)
  write(join(child, 'app/new.js'), 'new');                          // A, and A parent
  linkSync(join(child, 'app/new.js'), join(child, 'app/alias.js')); // A, kept as a hardlink in export
  rmSync(join(child, 'usr/lib/b.so'));                              // D
  rmSync(join(child, 'old'), { recursive: true });                   // D (one entry for the dir)
  return { parent, child };
}

test('changes (full): A/C/D with parent dirs as C, sorted', async (t) => {
  const { parent, child } = makeParentAndChild(tempDir(t));
  const got = await changes({ kind: 'full', dir: child, parentDir: parent });
  assert.deepEqual(got.map((c) => `${c.kind} ${c.path}`), [
    'A /app', 'A /app/alias.js', 'A /app/new.js', 'C /bin', 'C /bin/tool', 'C /etc', 'C /etc/passwd', 'D /old', 'C /usr', 'C /usr/lib', 'D /usr/lib/b.so',
  ]);
});

test('changes (full): no parent means everything is added', async (t) => {
  const dir = tempDir(t);
  write(join(dir, 'a/b'), 'b');
  assert.deepEqual((await changes({ kind: 'full', dir, parentDir: null })).map((c) => `${c.kind} ${c.path}`), ['A /a', 'A /a/b']);
});

test('exportChanges (full): applying the layer on the parent gives the child', async (t) => {
  const base = tempDir(t);
  const { parent, child } = makeParentAndChild(base);
  const tar = await collect(exportChanges({ kind: 'full', dir: child, parentDir: parent }));
  const e = await entries(chunked(tar));
  assert.equal(e.get('usr/lib/.wh.b.so')?.type, 'file');
  assert.ok(e.has('.wh.old'));
  assert.equal(e.get('app/alias.js')?.body, 'new', 'first name in path order carries the content');
  assert.equal(e.get('app/new.js')?.type, 'hardlink');
  assert.equal(e.get('app/new.js')?.linkname, 'app/alias.js');
  assert.ok(!e.has('etc/hosts'), 'unchanged files are not exported');
  await applyLayer(chunked(tar), parent, { whiteouts: 'remove' });
  assert.deepEqual(listing(parent), listing(child));
  assert.equal(statSync(join(parent, 'app/new.js')).ino, statSync(join(parent, 'app/alias.js')).ino);
});

test('changes and exportChanges (upper): whiteout devices and opaque dirs (root)', async (t) => {
  if (!requiresRoot(t)) return;
  const base = tempDir(t);
  const lower2 = join(base, 'l2');
  const lower1 = join(base, 'l1');
  const upper = join(base, 'upper');
  write(join(lower2, 'etc/passwd'), 'p');
  write(join(lower2, 'etc/group'), 'g');
  write(join(lower2, 'var/cache/a'), 'a');
  write(join(lower2, 'var/cache/b'), 'b');
  write(join(lower2, 'gone/in/l1'), 'z');
  write(join(lower1, 'var/cache/c'), 'c');
  mkdirSync(join(lower1, 'gone'), { recursive: true });
  native().mknod(join(lower1, 'gone', 'in'), S_IFCHR, 0, 0);     // deleted in l1
  write(join(upper, 'etc/passwd'), 'changed');                     // C
  write(join(upper, 'new/file'), 'n');                             // A
  native().mknod(join(upper, 'etc', 'group'), S_IFCHR, 0, 0);      // D
  mkdirSync(join(upper, 'gone'), { recursive: true });
  native().mknod(join(upper, 'gone', 'in'), S_IFCHR, 0, 0);        // not below any more: not listed
  mkdirSync(join(upper, 'var/cache'), { recursive: true });
  native().lsetxattr(join(upper, 'var/cache'), 'trusted.overlay.opaque', Buffer.from('y'));
  write(join(upper, 'var/cache/fresh'), 'f');
  const src = { kind: 'upper' as const, dir: upper, lower: [lower1, lower2] };
  const got = (await changes(src)).map((c) => `${c.kind} ${c.path}`);
  assert.deepEqual(got, [
    'C /etc', 'D /etc/group', 'C /etc/passwd', 'A /new', 'A /new/file', 'C /var', 'C /var/cache', 'D /var/cache/a', 'D /var/cache/b', 'D /var/cache/c', 'A /var/cache/fresh',
  ]);
  const tar = await collect(exportChanges(src));
  const e = await entries(chunked(tar));
  assert.ok(e.has('etc/.wh.group'));
  assert.ok(e.has('var/cache/.wh..wh..opq'));
  assert.ok(!e.has('var/cache/.wh.a'), 'hidden by the opaque marker');
  assert.ok(![...e.keys()].some((k) => k.includes('gone/in')));
  // Apply on the merged lower view (as vfs would hold it) and check the result.
  const merged = join(base, 'merged');
  write(join(merged, 'etc/passwd'), 'p');
  write(join(merged, 'etc/group'), 'g');
  for (const n of ['a', 'b', 'c']) write(join(merged, 'var/cache', n), n);
  await applyLayer(chunked(tar), merged, { whiteouts: 'remove' });
  assert.equal(readFileSync(join(merged, 'etc/passwd'), 'utf8'), 'changed');
  assert.ok(!existsSync(join(merged, 'etc/group')));
  assert.deepEqual(readdirSync(join(merged, 'var/cache')), ['fresh']);
  assert.equal(readFileSync(join(merged, 'new/file'), 'utf8'), 'n');
  // trusted.overlay.* never leaves the host
  assert.ok(!tar.includes(Buffer.from('trusted.overlay')));
});

test('exportTree: the whole tree, hardlinks kept, round trip through apply', async (t) => {
  const base = tempDir(t);
  const dir = join(base, 'src');
  write(join(dir, 'a/b/c.txt'), 'c');
  write(join(dir, 'top'), 't'.repeat(5000));
  linkSync(join(dir, 'top'), join(dir, 'a/top-link'));
  symlinkSync('../top', join(dir, 'a/sym'));
  native().lsetxattr(join(dir, 'top'), 'user.k', Buffer.from('v'));
  // A file capability (v2: magic, permitted, inheritable ×2): the one xattr Docker's export carries.
  const cap = Buffer.alloc(20);
  cap.writeUInt32LE(0x02000001, 0);
  cap.writeUInt32LE(0x400, 4);
  const isRoot = process.getuid?.() === 0;
  if (isRoot) native().lsetxattr(join(dir, 'a/b/c.txt'), 'security.capability', cap);
  const tar = await collect(exportTree(dir));
  const e = await entries(chunked(tar));
  assert.deepEqual([...e.keys()], ['a/', 'a/b/', 'a/b/c.txt', 'a/sym', 'a/top-link', 'top']);
  assert.equal(e.get('top')?.type, 'hardlink', 'second name in walk order is the link');
  const out = join(base, 'out');
  mkdirSync(out);
  await applyLayer(chunked(tar), out, { whiteouts: 'remove' });
  assert.deepEqual(listing(out), listing(dir));
  // As `docker export`: user xattrs stay behind, the capability goes along.
  assert.equal(native().lgetxattr(join(out, 'a/top-link'), 'user.k'), null);
  if (isRoot) assert.deepEqual(native().lgetxattr(join(out, 'a/b/c.txt'), 'security.capability'), cap);
});
