// overlay2.test.ts: the conformance suite on overlay2, plus what only overlay2 has:
// the on-disk layout, the probe, the 500-layer limit and its option-size budget.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readlinkSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Overlay2Driver } from '../../src/drivers/overlay2.js';
import { mountAll, unmount, isMountPoint, parseMountOptions, MOUNT_DATA_MAX } from '../../src/drivers/mount.js';
import { kindOf } from '../../src/errors.js';
import { requiresRoot, tempDir } from '../helpers/env.js';
import { runDriverSuite } from './suite.js';
import { dumpTree } from './fixtures.js';
import { ownerToken } from '../../src/store/owner.js';

runDriverSuite('overlay2', (home) => new Overlay2Driver(home), {
  manyLayers: 200,
  hardlinkCopyUp: 'broken', // index=off, as Docker: copy-up copies the written name only
  module: { file: 'overlay2.js', className: 'Overlay2Driver' },
});

const hex = () => randomBytes(32).toString('hex');

describe('overlay2 specifics', () => {
  it('probe mounts a real overlay and reports the backing filesystem', (t) => {
    if (!requiresRoot(t)) return;
    const root = tempDir(t);
    const p = Overlay2Driver.probe(join(root, 'overlay2'));
    assert.equal(p.ok, true, p.reason);
    assert.equal(p.supportsDType, true);
    assert.ok(['extfs', 'xfs', 'btrfs', 'tmpfs'].includes(p.backingFs), p.backingFs);
    if (existsSync('/sys/module/overlay/parameters/index')) assert.ok(p.options.includes('index=off'));
    // Nothing but its cached result in the driver folder (a second probe reads it, mounting nothing).
    assert.deepEqual(readdirSync(root), ['overlay2'], 'the probe leaves nothing behind but the driver folder');
    assert.deepEqual(readdirSync(join(root, 'overlay2')), ['.probe.json']);
    assert.deepEqual(Overlay2Driver.probe(join(root, 'overlay2')), p, 'the cached probe says the same');
    const d = new Overlay2Driver(join(root, 'overlay2'), p);
    const keys = d.status().details.map(([k]) => k);
    assert.deepEqual(keys, ['Backing Filesystem', 'Supports d_type', 'Using metacopy', 'Native Overlay Diff', 'userxattr']);
  });

  it('lays layers out as Docker does: diff, work, merged, link, lower and l/', async (t) => {
    if (!requiresRoot(t)) return;
    const home = join(tempDir(t), 'overlay2');
    const d = new Overlay2Driver(home);
    const [a, b, c] = [hex(), hex(), hex()];
    await d.create(a, null);
    await d.create(b, a);
    await d.create(c, b);
    const link = (id: string) => readFileSync(join(home, id, 'link'), 'utf8');
    for (const id of [a, b, c]) {
      assert.match(link(id), /^[A-Z0-9]{4}$/);
      assert.equal(readlinkSync(join(home, 'l', link(id))), `../${id}/diff`);
    }
    assert.deepEqual(readdirSync(join(home, a)).sort(), ['diff', 'link']);
    assert.deepEqual(readdirSync(join(home, c)).sort(), ['diff', 'link', 'lower', 'merged', 'work']);
    assert.equal(existsSync(join(home, a, 'lower')), false);
    assert.equal(readFileSync(join(home, b, 'lower'), 'utf8'), `l/${link(a)}`);
    assert.equal(readFileSync(join(home, c, 'lower'), 'utf8'), `l/${link(b)}:l/${link(a)}`);
    assert.deepEqual(d.changeSource(c), { kind: 'upper', dir: join(home, c, 'diff'), lower: [join(home, b, 'diff'), join(home, a, 'diff')] });
    assert.deepEqual(d.applyTarget(c), { root: join(home, c, 'diff'), whiteouts: 'overlay' });
    const [m] = d.mounts(c);
    assert.equal(m!.cwd, home);
    assert.ok(m!.options.includes(`lowerdir=l/${link(b)}:l/${link(a)}`));
    assert.ok(m!.options.includes(`upperdir=${c}/diff`) && m!.options.includes(`workdir=${c}/work`));
    const [ro] = d.mounts(c, { readonly: true });
    assert.ok(ro!.options.includes(`lowerdir=l/${link(c)}:l/${link(b)}:l/${link(a)}`) && ro!.options.includes('ro'));
    assert.ok(!ro!.options.some((o) => o.startsWith('upperdir=')));
    assert.deepEqual(d.mounts(a, { readonly: true }), [{ type: 'bind', source: join(home, a, 'diff'), options: ['rbind', 'ro'] }]);
    await d.remove(b);
    assert.equal(existsSync(join(home, 'l', link(a))), true);
    assert.equal(readdirSync(join(home, 'l')).length, 2, 'remove takes the layer\'s link away');
  });

  it('stacks 500 lower layers (the kernel limit) under a writable layer, with 64-hex ids, and refuses a 502nd layer', async (t) => {
    if (!requiresRoot(t)) return;
    const root = tempDir(t);
    const home = join(root, 'overlay2');
    const d = new Overlay2Driver(home);
    assert.equal(d.maxDepth, 501, '500 lowers + the upper');
    const ids: string[] = [];
    let parent: string | null = null;
    for (let i = 0; i < 500; i++) {
      const id = hex();
      await d.create(id, parent);
      writeFileSync(join(d.applyTarget(id).root, `f${i}`), String(i));
      ids.push(id);
      parent = id;
    }
    const top = ids[ids.length - 1]!;
    const ro = d.mounts(top, { readonly: true });
    const data = parseMountOptions(ro[0]!.options).data;
    assert.ok(Buffer.byteLength(data) <= MOUNT_DATA_MAX, `${Buffer.byteLength(data)} bytes`);
    const target = join(root, 'mnt');
    mkdirSync(target);
    try {
      mountAll(ro, target);
      assert.equal(readdirSync(target).length, 500);
      assert.equal(readFileSync(join(target, 'f0'), 'utf8'), '0');
      unmount(target);
      // A container's writable layer on the 500-layer image: 500 lowers + upper.
      const rw = hex();
      await d.create(rw, top);
      assert.throws(() => d.mounts(rw, { readonly: true }), /at most 500/);
      await assert.rejects(d.create(hex(), rw), (err: unknown) => kindOf(err) === 'FailedPrecondition' && /max depth/.test(String(err)));
      const ms = d.mounts(rw);
      assert.ok(Buffer.byteLength(parseMountOptions(ms[0]!.options).data) <= MOUNT_DATA_MAX);
      mountAll(ms, target);
      assert.equal(readdirSync(target).length, 500);
      writeFileSync(join(target, 'written'), 'x');
      assert.equal(readFileSync(join(d.applyTarget(rw).root, 'written'), 'utf8'), 'x');
    } finally {
      unmount(target);
    }
  });

  it('remove unmounts a layer mounted on its own merged directory', async (t) => {
    if (!requiresRoot(t)) return;
    const home = join(tempDir(t), 'overlay2');
    const d = new Overlay2Driver(home);
    await d.create('base', null);
    writeFileSync(join(d.applyTarget('base').root, 'f'), 'f');
    await d.create('rw', 'base');
    const merged = d.mergedDir('rw');
    mountAll(d.mounts('rw'), merged);
    try {
      assert.ok(isMountPoint(merged));
      await d.remove('rw');
      assert.equal(isMountPoint(merged), false);
      assert.equal(existsSync(join(home, 'rw')), false);
      assert.equal(readFileSync(join(d.applyTarget('base').root, 'f'), 'utf8'), 'f', 'removing through a mount would have deleted lower files');
    } finally {
      unmount(merged);
    }
  });

  it("cleanup() sweeps dead processes' staging directories and dangling links, never a live process's", async (t) => {
    if (!requiresRoot(t)) return;
    const home = join(tempDir(t), 'overlay2');
    const d = new Overlay2Driver(home);
    await d.create('a', null);
    // A dead owner (pid 1 never started at tick 1), an older name without an owner, and
    // this (live) process's staging for layer c with its link already made.
    const live = `.tmp-${ownerToken().replace(':', '_')}-c-0badcafe`;
    for (const n of ['.tmp-1_1-b-12345678', '.rm-old-deadbeef', live]) mkdirSync(join(home, n));
    symlinkSync('../gone/diff', join(home, 'l', 'ZZZZ'));
    symlinkSync('../c/diff', join(home, 'l', 'CCCC'));
    assert.deepEqual(d.list(), ['a']);
    const removed = d.cleanup();
    assert.deepEqual(removed.sort(), ['.rm-old-deadbeef', '.tmp-1_1-b-12345678', 'l/ZZZZ'], dumpTree(home));
    assert.ok(readdirSync(home).includes(live), "a live process's staging stays");
    assert.deepEqual(readdirSync(join(home, 'l')).sort(), ['CCCC', readFileSync(join(home, 'a', 'link'), 'utf8')].sort(), "the live create's link stays");
  });

  it('refuses ids that would break the option string or the layout', async (t) => {
    if (!requiresRoot(t)) return;
    const d = new Overlay2Driver(join(tempDir(t), 'overlay2'));
    for (const bad of ['l', 'a:b', 'a,b', 'a=b', 'a\\b', '../x']) {
      await assert.rejects(d.create(bad, null), (err: unknown) => kindOf(err) === 'InvalidArgument', bad);
    }
  });
});
