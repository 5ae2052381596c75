// btrfs.test.ts: the conformance suite on a real btrfs filesystem (a loop-mounted
// image made by the test), plus what only btrfs has: subvolumes and snapshots.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { BtrfsDriver } from '../../src/drivers/btrfs.js';
import { selectDriver } from '../../src/drivers/select.js';
import { kindOf } from '../../src/errors.js';
import { requires, requiresRoot } from '../helpers/env.js';
import { runDriverSuite } from './suite.js';
import { btrfsFilesystem } from './backing.js';

const fs = btrfsFilesystem();
const ready = (t: import('node:test').TestContext) => requiresRoot(t) && requires(t, !fs.unavailable, fs.unavailable ?? '');

runDriverSuite('btrfs', (home) => new BtrfsDriver(home), {
  manyLayers: 100,
  tempRoot: () => fs.dir,
  module: { file: 'btrfs.js', className: 'BtrfsDriver' },
});

describe('btrfs specifics', () => {
  it('makes each layer a subvolume and each child a snapshot of its parent', async (t) => {
    if (!ready(t)) return;
    const home = join(mkdtempSync(join(fs.dir, 'spec-')), 'btrfs');
    const d = new BtrfsDriver(home);
    await d.create('base', null);
    writeFileSync(join(d.applyTarget('base').root, 'f'), 'base');
    await d.create('child', 'base');
    const show = spawnSync('btrfs', ['subvolume', 'show', join(home, 'subvolumes/child')], { encoding: 'utf8' }).stdout;
    const parentUuid = /Parent UUID:\s+(\S+)/.exec(show)?.[1];
    const baseUuid = /^\s*UUID:\s+(\S+)/m.exec(spawnSync('btrfs', ['subvolume', 'show', join(home, 'subvolumes/base')], { encoding: 'utf8' }).stdout)?.[1];
    assert.equal(parentUuid, baseUuid, 'child is a snapshot of base');
    assert.equal(statSync(join(home, 'subvolumes/child')).ino, 256, 'a subvolume root');
    assert.equal(readFileSync(join(home, 'subvolumes/child/f'), 'utf8'), 'base');
    assert.deepEqual(d.changeSource('child'), { kind: 'full', dir: join(home, 'subvolumes/child'), parentDir: join(home, 'subvolumes/base') });
    assert.equal(d.applyTarget('child').whiteouts, 'remove');
    // A subvolume nested inside a layer (a container may make one) does not block removal.
    spawnSync('btrfs', ['subvolume', 'create', join(home, 'subvolumes/child/nested')]);
    await d.remove('child');
    await d.remove('base');
    assert.deepEqual(d.list(), []);
    assert.equal(existsSync(join(home, 'parent/child')), false);
    assert.deepEqual(await d.cleanup(), []);
  });

  it('is chosen on a btrfs data root and refused elsewhere', async (t) => {
    if (!ready(t)) return;
    const root = mkdtempSync(join(fs.dir, 'select-'));
    const c = selectDriver(root);
    assert.equal(c.driver.name, 'btrfs', c.reason);
    assert.match(c.reason, /data root is on btrfs/);
    assert.equal(c.backingFs, 'btrfs');
    assert.throws(() => selectDriver('/tmp', 'btrfs'), (err: unknown) => kindOf(err) === 'FailedPrecondition' && /not btrfs/.test(String(err)));
  });
});
