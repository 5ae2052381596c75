// suite.ts: the conformance suite every storage driver runs (after containerd's
// snapshots testsuite and containers/storage's graphtest). Each case gets a fresh
// temp root, mounts through drivers/mount.ts exactly as the engine does, unmounts on
// every path out, and on failure appends a listing of the driver's folder to the error.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import {
  mkdirSync, readFileSync, writeFileSync, readdirSync, statSync, lstatSync, readlinkSync, rmSync, unlinkSync,
  chmodSync, appendFileSync, existsSync, mkdtempSync,
} from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { Layout } from '../../src/store/layout.js';
import { openDatabase } from '../../src/store/db.js';
import { LayerStore } from '../../src/layers/store.js';
import type { StorageDriver } from '../../src/drivers/driver.js';
import { mountAll, unmount, isMountPoint } from '../../src/drivers/mount.js';
import { kindOf } from '../../src/errors.js';
import { native } from '../../src/util/sys.js';
import { requiresRoot, requires, tempDir, mountsUnder, assertNoMountsUnder } from '../helpers/env.js';
import { applySpec, archive, dumpTree, makeTar, writeEntries, type Entry, type Change } from './fixtures.js';

export interface SuiteOptions {
  /** Layers stacked in the "many layers" case (keep it quick for copying drivers). */
  manyLayers?: number;
  /**
   * What writing through one name of a hardlinked lower file does to the other names.
   * 'preserved': the rw layer holds real hardlinks (btrfs, zfs, vfs: a full copy or a
   * snapshot). 'broken': copy-up copies only the written name, the others keep the
   * lower content (overlay2 with index=off, as Docker; fuse-overlayfs once remounted).
   */
  hardlinkCopyUp?: 'preserved' | 'broken';
  /** A function returning a directory to make each case's root in (a test filesystem), instead of the temp dir. */
  tempRoot?: () => string;
  /** The driver's module (a file in src/drivers, e.g. "btrfs.js") and class, for the two-process case. */
  module?: { file: string; className: string };
}

export interface Ctx {
  t: TestContext;
  root: string;
  home: string;
  driver: StorageDriver;
  /** Mounts id (read-only when asked) on a fresh directory; unmounted at the end of the case. */
  mount(id: string, opts?: { readonly?: boolean }): string;
  /** Unmounts a target from mount() now. */
  release(target: string): void;
  /** create + applySpec. */
  layer(id: string, parent: string | null, entries?: Entry[]): Promise<void>;
}

const read = (p: string) => readFileSync(p, 'utf8');
const names = (p: string) => readdirSync(p).sort();

function errorCode(fn: () => void): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
  return undefined;
}

async function rejectsKind(p: Promise<unknown>, kind: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => kindOf(err) === kind);
}

/** A case root inside `base` (a test filesystem), removed after the case like tempDir's. */
function tempDirIn(t: TestContext, base: string, prefix: string): string {
  const dir = mkdtempSync(join(base, prefix));
  t.after(() => {
    assertNoMountsUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/**
 * Removes every layer left by a case, children before parents (btrfs and zfs refuse
 * a parent whose snapshot a child still uses): rounds of removals until none is left
 * or a round makes no progress. Datasets and subvolumes outlive a plain rm -rf.
 */
async function removeAllLayers(driver: StorageDriver, created: string[]): Promise<void> {
  // Newest first settles a chain in one pass; rounds mop up what other processes made.
  for (const id of [...created].reverse()) await driver.remove(id).catch(() => undefined);
  let left = driver.list();
  while (left.length > 0) {
    const errors: unknown[] = [];
    for (const id of left) await driver.remove(id).catch((e: unknown) => errors.push(e));
    const now = driver.list();
    if (now.length === left.length) throw new Error(`cannot remove layers ${now.join(', ')}: ${errors.map(String).join('; ')}`);
    left = now;
  }
}

export function runDriverSuite(name: string, factory: (home: string) => StorageDriver, opts: SuiteOptions = {}): void {
  const manyLayers = opts.manyLayers ?? 50;
  const hardlinkCopyUp = opts.hardlinkCopyUp ?? 'preserved';

  const tc = (title: string, fn: (c: Ctx) => Promise<void>) =>
    it(title, async (t) => {
      if (!requiresRoot(t)) return;
      const root = opts.tempRoot ? tempDirIn(t, opts.tempRoot(), `stowage-${name}-`) : tempDir(t, `stowage-${name}-`);
      const home = join(root, name);
      const driver = factory(home);
      // Creation order, so that the teardown can remove children before parents.
      const created: string[] = [];
      const create = driver.create.bind(driver);
      driver.create = async (id, parent) => {
        await create(id, parent);
        created.push(id);
      };
      const targets: string[] = [];
      let n = 0;
      const c: Ctx = {
        t, root, home, driver,
        mount(id, o = {}) {
          const target = join(root, `mnt${n++}-${id}${o.readonly ? '-ro' : ''}`);
          mkdirSync(target);
          targets.push(target);
          mountAll(driver.mounts(id, o), target);
          return target;
        },
        release(target) {
          unmount(target);
        },
        async layer(id, parent, entries = []) {
          await driver.create(id, parent);
          if (entries.length > 0) await applySpec(driver, id, entries);
        },
      };
      try {
        try {
          await fn(c);
        } finally {
          for (const tg of targets.reverse()) unmount(tg);
          await removeAllLayers(driver, created);
        }
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        throw new Error(`${msg}\n--- ${home} (${name}) ---\n${dumpTree(home)}`, { cause: err });
      }
    });

  describe(`storage driver conformance: ${name}`, () => {
    tc('creates a base layer, applies a tar into it and presents it', async ({ driver, layer, mount }) => {
      await layer('base', null, [
        { path: 'etc', type: 'dir', mode: 0o755 },
        { path: 'etc/hostname', type: 'file', content: 'box\n' },
        { path: 'bin/sh', type: 'file', content: '#!sh', mode: 0o755 },
        { path: 'bin/ash', type: 'symlink', target: 'sh' },
      ]);
      assert.deepEqual(driver.list(), ['base']);
      const target = driver.applyTarget('base');
      assert.equal(read(join(target.root, 'etc/hostname')), 'box\n');
      const ro = mount('base', { readonly: true });
      assert.equal(read(join(ro, 'etc/hostname')), 'box\n');
      assert.equal(readlinkSync(join(ro, 'bin/ash')), 'sh');
      assert.equal(statSync(join(ro, 'bin/sh')).mode & 0o777, 0o755);
      assert.equal(errorCode(() => writeFileSync(join(ro, 'x'), 'x')), 'EROFS');
    });

    tc('a chain of three layers merges top-down', async ({ layer, mount }) => {
      await layer('base', null, [
        { path: 'a', type: 'file', content: '1' },
        { path: 'keep', type: 'file', content: 'k' },
        { path: 'dir/x', type: 'file', content: 'x' },
      ]);
      await layer('mid', 'base', [{ path: 'a', type: 'file', content: '2' }, { path: 'b', type: 'file', content: 'b' }]);
      await layer('top', 'mid', [{ path: 'c', type: 'file', content: 'c' }, { path: 'dir/y', type: 'file', content: 'y' }]);
      const top = mount('top', { readonly: true });
      assert.deepEqual(names(top), ['a', 'b', 'c', 'dir', 'keep']);
      assert.equal(read(join(top, 'a')), '2');
      assert.deepEqual(names(join(top, 'dir')), ['x', 'y']);
      const mid = mount('mid', { readonly: true });
      assert.deepEqual(names(mid), ['a', 'b', 'dir', 'keep']);
      await layer('rw', 'top');
      const rw = mount('rw');
      assert.deepEqual(names(rw), ['a', 'b', 'c', 'dir', 'keep']);
      writeFileSync(join(rw, 'new'), 'n');
      assert.equal(read(join(rw, 'new')), 'n');
      assert.equal(existsSync(join(top, 'new')), false, 'a write in the rw layer shows in a read-only view of its parent');
    });

    tc('whiteouts and opaque directories hide lower content', async ({ driver, layer, mount }) => {
      await layer('base', null, [
        { path: 'etc/a', type: 'file', content: 'a' },
        { path: 'etc/b', type: 'file', content: 'b' },
        { path: 'opt/x', type: 'file', content: 'x' },
        { path: 'opt/sub/y', type: 'file', content: 'y' },
        { path: 'gone/deep/file', type: 'file', content: 'g' },
      ]);
      await layer('l2', 'base', [
        { path: 'etc/a', type: 'whiteout' },
        { path: 'gone', type: 'whiteout' },
        { path: 'opt', type: 'opaque' },
        { path: 'opt/z', type: 'file', content: 'z' },
      ]);
      for (const view of [mount('l2', { readonly: true }), (await layer('rw', 'l2'), mount('rw'))]) {
        assert.deepEqual(names(view), ['etc', 'opt']);
        assert.deepEqual(names(join(view, 'etc')), ['b']);
        assert.deepEqual(names(join(view, 'opt')), ['z']);
        assert.equal(existsSync(join(view, 'etc/a')), false);
      }
      const base = driver.applyTarget('base').root;
      assert.deepEqual(names(join(base, 'etc')), ['a', 'b'], 'the lower layer itself is untouched');
      assert.deepEqual(names(join(base, 'opt')), ['sub', 'x']);
    });

    tc('copy-up: writing a lower file leaves the lower layer unchanged', async ({ driver, layer, mount, release }) => {
      await layer('base', null, [
        { path: 'f', type: 'file', content: 'lower', mode: 0o644 },
        { path: 'del', type: 'file', content: 'd' },
        { path: 'dir/inner', type: 'file', content: 'i' },
      ]);
      await layer('rw', 'base');
      let rw = mount('rw');
      writeFileSync(join(rw, 'f'), 'upper');
      appendFileSync(join(rw, 'f'), '+');
      chmodSync(join(rw, 'f'), 0o600);
      unlinkSync(join(rw, 'del'));
      writeFileSync(join(rw, 'dir/inner'), 'changed');
      assert.equal(read(join(rw, 'f')), 'upper+');
      const base = driver.applyTarget('base').root;
      assert.equal(read(join(base, 'f')), 'lower');
      assert.equal(statSync(join(base, 'f')).mode & 0o777, 0o644);
      assert.equal(read(join(base, 'del')), 'd');
      assert.equal(read(join(base, 'dir/inner')), 'i');
      release(rw);
      rw = mount('rw');
      assert.equal(read(join(rw, 'f')), 'upper+', 'writes persist across remounts');
      assert.equal(statSync(join(rw, 'f')).mode & 0o777, 0o600);
      assert.equal(existsSync(join(rw, 'del')), false);
      const ro = mount('base', { readonly: true });
      assert.equal(read(join(ro, 'f')), 'lower');
    });

    tc('hardlinks survive apply and stacking', async ({ driver, layer, mount }) => {
      await layer('base', null, [
        { path: 'usr/bin/a', type: 'file', content: 'same', mode: 0o755 },
        { path: 'usr/bin/b', type: 'hardlink', target: 'usr/bin/a' },
      ]);
      const root = driver.applyTarget('base').root;
      assert.equal(statSync(join(root, 'usr/bin/a')).ino, statSync(join(root, 'usr/bin/b')).ino);
      assert.equal(statSync(join(root, 'usr/bin/a')).nlink, 2);
      await layer('child', 'base', [{ path: 'other', type: 'file', content: 'o' }]);
      const view = mount('child', { readonly: true });
      const sa = statSync(join(view, 'usr/bin/a'));
      const sb = statSync(join(view, 'usr/bin/b'));
      assert.equal(sa.ino, sb.ino, 'hardlinked names share an inode in the stacked view');
      assert.equal(sa.nlink, 2);
      assert.equal(read(join(view, 'usr/bin/b')), 'same');
    });

    tc(`hardlinks after copy-up: ${hardlinkCopyUp}`, async ({ driver, layer, mount, release }) => {
      await layer('base', null, [
        { path: 'usr/bin/a', type: 'file', content: 'same', mode: 0o755 },
        { path: 'usr/bin/b', type: 'hardlink', target: 'usr/bin/a' },
        { path: 'usr/bin/c', type: 'hardlink', target: 'usr/bin/a' },
      ]);
      await layer('rw', 'base');
      let rw = mount('rw');
      appendFileSync(join(rw, 'usr/bin/a'), '+written');
      // Checked after a remount: what a container sees when it starts again, and what commit reads.
      release(rw);
      rw = mount('rw');
      assert.equal(read(join(rw, 'usr/bin/a')), 'same+written');
      if (hardlinkCopyUp === 'preserved') {
        for (const n of ['b', 'c']) {
          assert.equal(read(join(rw, 'usr/bin', n)), 'same+written', `${n} follows the write through a`);
          assert.equal(statSync(join(rw, 'usr/bin', n)).ino, statSync(join(rw, 'usr/bin/a')).ino);
        }
        assert.equal(statSync(join(rw, 'usr/bin/a')).nlink, 3);
      } else {
        for (const n of ['b', 'c']) assert.equal(read(join(rw, 'usr/bin', n)), 'same', `${n} keeps the lower content`);
        assert.equal(statSync(join(rw, 'usr/bin/b')).ino, statSync(join(rw, 'usr/bin/c')).ino, 'names not copied up stay linked to each other');
      }
      const base = driver.applyTarget('base').root;
      assert.equal(read(join(base, 'usr/bin/a')), 'same', 'the lower layer is untouched');
      assert.equal(statSync(join(base, 'usr/bin/b')).nlink, 3);
      const ro = mount('base', { readonly: true });
      assert.equal(read(join(ro, 'usr/bin/c')), 'same');
    });

    tc('modes, ownership and user xattrs survive', async ({ layer, mount }) => {
      await layer('base', null, [
        { path: 'secret', type: 'dir', mode: 0o700, uid: 1000, gid: 1000 },
        { path: 'bin/su', type: 'file', content: 'su', mode: 0o4755 },
        { path: 'tmp', type: 'dir', mode: 0o1777 },
        { path: 'data', type: 'file', content: 'd', mode: 0o640, uid: 1234, gid: 5678, xattrs: { 'user.stowage.test': 'hello' } },
      ]);
      await layer('child', 'base');
      const sys = native();
      for (const view of [mount('child', { readonly: true }), mount('child')]) {
        assert.equal(statSync(join(view, 'secret')).mode & 0o7777, 0o700);
        assert.equal(statSync(join(view, 'secret')).uid, 1000);
        assert.equal(statSync(join(view, 'bin/su')).mode & 0o7777, 0o4755);
        assert.equal(statSync(join(view, 'tmp')).mode & 0o7777, 0o1777);
        const st = statSync(join(view, 'data'));
        assert.equal(st.mode & 0o7777, 0o640);
        assert.deepEqual([st.uid, st.gid], [1234, 5678]);
        assert.equal(sys.lgetxattr(join(view, 'data'), 'user.stowage.test')?.toString(), 'hello');
      }
    });

    tc('changes() reports additions, changes and deletions made through a mount', async ({ t, driver, layer, mount, release }) => {
      const mod = await archive.changes();
      if (!requires(t, mod !== undefined, 'src/archive/changes.ts is not written yet')) return;
      await layer('base', null, [
        { path: 'etc/a', type: 'file', content: 'a' },
        { path: 'etc/b', type: 'file', content: 'b' },
        { path: 'etc/c', type: 'file', content: 'c' },
        { path: 'dir/sub/file', type: 'file', content: 'f' },
        { path: 'keep', type: 'file', content: 'k' },
      ]);
      await layer('rw', 'base');
      const rw = mount('rw');
      writeFileSync(join(rw, 'etc/new'), 'n');
      writeFileSync(join(rw, 'etc/b'), 'b2');
      unlinkSync(join(rw, 'etc/a'));
      rmSync(join(rw, 'dir'), { recursive: true });
      mkdirSync(join(rw, 'newdir'));
      writeFileSync(join(rw, 'newdir/x'), 'x');
      release(rw);
      let got: Change[];
      try {
        got = await mod!.changes(driver.changeSource('rw'));
      } catch (err) {
        if (kindOf(err) === 'NotImplemented' && !requires(t, false, 'archive changes() is a stub')) return;
        throw err;
      }
      const has = (kind: string, path: string) => got.some((ch) => ch.kind === kind && ch.path === path);
      const show = JSON.stringify(got);
      for (const [kind, path] of [['A', '/etc/new'], ['C', '/etc/b'], ['D', '/etc/a'], ['D', '/dir'], ['A', '/newdir'], ['A', '/newdir/x']] as const) {
        assert.ok(has(kind, path), `expected ${kind} ${path} in ${show}`);
      }
      for (const path of ['/keep', '/etc/c']) assert.ok(!got.some((ch) => ch.path === path), `${path} is unchanged but listed: ${show}`);
      assert.ok(!got.some((ch) => ch.path.startsWith('/dir/')), `a deleted directory is one deletion: ${show}`);

      const reader = await archive.reader();
      assert.ok(reader, 'src/archive/tar-reader.ts is missing');
      const tarNames: string[] = [];
      for await (const e of reader.readTar(mod!.exportChanges(driver.changeSource('rw')))) {
        tarNames.push(e.header.name.replace(/^\.?\//, '').replace(/\/$/, ''));
        for await (const _ of e.body) { /* drain */ }
      }
      for (const n of ['etc/new', 'etc/b', 'etc/.wh.a', '.wh.dir', 'newdir/x']) assert.ok(tarNames.includes(n), `${n} missing from exported layer: ${tarNames.join(' ')}`);
      assert.ok(!tarNames.includes('keep'), 'unchanged files stay out of the exported layer');
    });

    tc('remove deletes a layer and is idempotent', async ({ driver, layer, mount, release }) => {
      await layer('base', null, [{ path: 'f', type: 'file', content: 'f' }]);
      await layer('child', 'base', [{ path: 'g', type: 'file', content: 'g' }]);
      release(mount('child'));
      await driver.remove('child');
      assert.deepEqual(driver.list(), ['base']);
      assert.equal(kindOf(catchSync(() => driver.applyTarget('child'))), 'NotFound');
      await driver.remove('child');
      await driver.remove('never-existed');
      await driver.remove('base');
      assert.deepEqual(driver.list(), []);
    });

    tc(`stacks ${manyLayers} layers and mounts them at once`, async ({ driver, layer, mount }) => {
      const count = Math.min(manyLayers, driver.maxDepth - 1);
      let parent: string | null = null;
      for (let i = 0; i < count; i++) {
        const id = `l${i}`;
        await driver.create(id, parent);
        // Written straight into the apply target: this case is about stacking, not tar.
        writeEntries(driver.applyTarget(id).root, [{ path: `f${i}`, type: 'file', content: String(i) }], driver.applyTarget(id).whiteouts);
        parent = id;
      }
      const ro = mount(parent!, { readonly: true });
      assert.equal(readdirSync(ro).length, count);
      assert.equal(read(join(ro, 'f0')), '0');
      await layer('rw', parent);
      const rw = mount('rw');
      assert.equal(readdirSync(rw).length, count);
      writeFileSync(join(rw, 'f0'), 'changed');
      assert.equal(read(join(driver.applyTarget('l0').root, 'f0')), '0');
    });

    tc('nothing stays mounted after unmount', async ({ root, layer, mount, release }) => {
      await layer('base', null, [{ path: 'f', type: 'file', content: 'f' }]);
      await layer('child', 'base', [{ path: 'g', type: 'file', content: 'g' }]);
      // zfs mounts each layer's dataset under the driver folder for as long as it exists.
      const before = mountsUnder(root);
      const targets = [mount('base'), mount('base', { readonly: true }), mount('child'), mount('child', { readonly: true })];
      for (const tg of targets) assert.ok(isMountPoint(tg), `${tg} is mounted`);
      for (const tg of targets) release(tg);
      assert.deepEqual(mountsUnder(root), before);
      for (const tg of targets) {
        release(tg); // idempotent
        assert.equal(isMountPoint(tg), false);
        assert.deepEqual(readdirSync(tg), []);
      }
    });

    tc('list() matches the layers that exist', async ({ driver, layer }) => {
      assert.deepEqual(driver.list(), []);
      await layer('a', null);
      await layer('b', 'a');
      await layer('c', 'b');
      await layer('d', null);
      assert.deepEqual(driver.list(), ['a', 'b', 'c', 'd']);
      await driver.remove('c');
      assert.deepEqual(driver.list(), ['a', 'b', 'd']);
    });

    tc('create refuses duplicates, missing parents and bad ids', async ({ driver, layer }) => {
      await layer('a', null);
      await rejectsKind(driver.create('a', null), 'AlreadyExists');
      await rejectsKind(driver.create('b', 'missing'), 'NotFound');
      for (const bad of ['', '.', '..', 'a/b', 'a:b', 'a,b', '-x']) await rejectsKind(driver.create(bad, null), 'InvalidArgument');
      assert.deepEqual(driver.list(), ['a']);
      assert.equal(kindOf(catchSync(() => driver.mounts('missing'))), 'NotFound');
    });

    tc('usage counts bytes and inodes of a layer', async ({ driver, layer, mount, release }) => {
      await layer('base', null, [{ path: 'big', type: 'file', content: Buffer.alloc(100 * 1024, 7) }, { path: 'd/small', type: 'file', content: 's' }]);
      const u = await driver.usage('base');
      assert.ok(u.bytes >= 100 * 1024, `bytes ${u.bytes}`);
      assert.ok(u.inodes >= 4, `inodes ${u.inodes}`);
      await layer('rw', 'base');
      const before = await driver.usage('rw');
      const rw = mount('rw');
      writeFileSync(join(rw, 'more'), Buffer.alloc(64 * 1024, 1));
      release(rw);
      const after = await driver.usage('rw');
      assert.ok(after.bytes - before.bytes >= 64 * 1024, `grew by ${after.bytes - before.bytes}`);
      assert.ok(after.inodes > before.inodes);
    });

    tc('status() gives key/value details', async ({ driver }) => {
      const s = driver.status();
      assert.ok(s.details.length > 0);
      assert.ok(s.details.some(([k]) => k === 'Backing Filesystem'));
      for (const [k, v] of s.details) assert.ok(k.length > 0 && typeof v === 'string');
    });

    tc('mounting a layer rw mounts nothing on its lower layers', async ({ driver, layer, mount }) => {
      await layer('base', null, [{ path: 'f', type: 'file', content: 'f' }]);
      await layer('rw', 'base');
      const lower = driver.applyTarget('base').root;
      // zfs mounts each dataset on its own directory: what matters is that using a
      // layer adds no mount over its lower layers, not that there is none.
      const before = isMountPoint(lower);
      const rw = mount('rw');
      writeFileSync(join(rw, 'f'), 'changed');
      assert.equal(isMountPoint(lower), before);
      assert.ok(lstatSync(lower).isDirectory());
      assert.equal(read(join(lower, 'f')), 'f');
    });

    tc('two processes create, mount and write layers on one parent at once', async ({ t, root, home, driver, layer, mount }) => {
      if (!requires(t, opts.module !== undefined, 'the suite was not told the driver module')) return;
      await layer('base', null, [{ path: 'shared', type: 'file', content: 'base' }]);
      const barrier = join(root, 'barrier');
      mkdirSync(barrier);
      const child = new URL('./concurrent-child.js', import.meta.url).pathname;
      const modUrl = new URL(`../../src/drivers/${opts.module!.file}`, import.meta.url).href;
      const runChild = (k: number) => new Promise<{ code: number | null; out: string }>((resolve) => {
        const c = spawn(process.execPath, [child, modUrl, opts.module!.className, home, String(k), barrier, join(root, `mnt-child${k}`)], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        c.stdout.on('data', (b: Buffer) => (out += b.toString()));
        c.stderr.on('data', (b: Buffer) => (out += b.toString()));
        c.on('close', (code) => resolve({ code, out }));
      });
      const results = await Promise.all([runChild(0), runChild(1)]);
      assert.deepEqual(mountsUnder(root).filter((m) => m.includes('mnt-child')), [], 'the children unmounted what they mounted');
      for (const [k, r] of results.entries()) assert.equal(r.code, 0, `child ${k}: ${r.out}`);
      assert.deepEqual(driver.list(), ['base', 'c0', 'c1', 'rw0', 'rw1']);
      for (const k of [0, 1]) {
        const ls = names(mount(`rw${k}`, { readonly: true }));
        assert.deepEqual(ls, [`own${k}`, 'shared', `written${k}`], 'each process\'s writes stayed in its own layer');
      }
    });

    tc('the layer store refuses to remove a layer in use', async ({ root, driver }) => {
      const layout = new Layout(root);
      layout.ensure();
      const db = openDatabase(layout.database);
      try {
        const store = new LayerStore(db, layout, driver);
        const tar = (entries: Entry[]) => async function* () { yield await makeTar(entries); };
        const { layer: base } = await store.add(null, tar([{ path: 'a', type: 'file', content: 'a' }]));
        const { layer: top } = await store.add(base, tar([{ path: 'b', type: 'file', content: 'b' }]));
        store.releaseLeases();
        assert.equal(await store.removeIfUnused(base.id), false, 'a parent of another layer is in use');
        db.prepare('INSERT INTO images (driver, id, top_layer, size, created_at) VALUES (?, ?, ?, 0, 0)').run(driver.name, 'sha256:img', top.id);
        assert.equal(await store.removeIfUnused(top.id), false, 'an image\'s top layer is in use');
        const rw = await store.createWritable(top);
        store.releaseLeases();
        db.prepare(`INSERT INTO containers (id, name, driver, image_id, layer_id, config, state, created_at) VALUES ('c1', 'c1', ?, 'sha256:img', ?, '{}', '{}', 0)`).run(driver.name, rw.id);
        assert.equal(await store.removeIfUnused(rw.id), false, 'a container\'s writable layer is in use');
        assert.deepEqual(driver.list().sort(), [base.id, top.id, rw.id].sort(), 'refused removals leave the files');
        db.prepare('DELETE FROM containers').run();
        assert.equal(await store.removeIfUnused(rw.id), true);
        db.prepare('DELETE FROM images').run();
        assert.deepEqual((await store.releaseChain(top.id)).map((l) => l.id), [top.id, base.id]);
        assert.deepEqual(driver.list(), []);
      } finally {
        db.close();
      }
    });
  });
}

function catchSync(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}
