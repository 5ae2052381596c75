// zfs.test.ts: the conformance suite on a real ZFS pool (a file vdev, through
// Debian's zfs-fuse, started by the test when it is not running), plus what only
// zfs has: datasets, clones and the origin snapshot that goes with its clone.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ZfsDriver } from '../../src/drivers/zfs.js';
import { selectDriver } from '../../src/drivers/select.js';
import { kindOf } from '../../src/errors.js';
import { requires, requiresRoot } from '../helpers/env.js';
import { runDriverSuite } from './suite.js';
import { zfsPool } from './backing.js';

const pool = zfsPool();
const ready = (t: import('node:test').TestContext) => requiresRoot(t) && requires(t, !pool.unavailable, pool.unavailable ?? '');
const zfs = (...args: string[]) => spawnSync('zfs', args, { encoding: 'utf8' }).stdout.trim();

runDriverSuite('zfs', (home) => new ZfsDriver(home), {
  manyLayers: 40,
  tempRoot: () => pool.dir,
  module: { file: 'zfs.js', className: 'ZfsDriver' },
});

describe('zfs specifics', () => {
  it('makes each layer a dataset, each child a clone whose origin snapshot goes with it', async (t) => {
    if (!ready(t)) return;
    const home = join(mkdtempSync(join(pool.dir, 'spec-')), 'zfs');
    const d = new ZfsDriver(home);
    await d.create('base', null);
    writeFileSync(join(d.applyTarget('base').root, 'f'), 'base');
    await d.create('child', 'base');
    const poolName = zfs('list', '-H', '-o', 'name', pool.dir).split('/')[0]!;
    assert.equal(zfs('get', '-H', '-o', 'value', 'origin', `${poolName}/child`), `${poolName}/base@child`);
    assert.equal(zfs('get', '-H', '-o', 'value', 'mountpoint', `${poolName}/child`), join(home, 'child'));
    assert.equal(zfs('get', '-H', '-o', 'value', 'defer_destroy', `${poolName}/base@child`), 'on');
    assert.equal(readFileSync(join(home, 'child/f'), 'utf8'), 'base');
    assert.deepEqual(d.changeSource('child'), { kind: 'full', dir: join(home, 'child'), parentDir: join(home, 'base') });
    assert.deepEqual(new ZfsDriver(home).changeSource('child'), d.changeSource('child'), 'the parent is read back from origin');
    await assert.rejects(d.remove('base'), /dependent clones|has children|busy/, 'a parent with a clone cannot go');
    await d.remove('child');
    assert.equal(zfs('list', '-H', '-o', 'name', '-t', 'snapshot').includes(`${poolName}/base@child`), false, 'the origin snapshot went with its clone');
    await d.remove('base');
    assert.deepEqual(d.list(), []);
    assert.equal(d.status().details.find(([k]) => k === 'Backing Filesystem')?.[1], 'zfs');
  });

  it('is chosen on a zfs data root and refused elsewhere', async (t) => {
    if (!ready(t)) return;
    const root = mkdtempSync(join(pool.dir, 'select-'));
    const c = selectDriver(root);
    assert.equal(c.driver.name, 'zfs', c.reason);
    assert.match(c.reason, /data root is on zfs/);
    assert.throws(() => selectDriver('/tmp', 'zfs'), (err: unknown) => kindOf(err) === 'FailedPrecondition' && /not on a ZFS dataset/.test(String(err)));
  });
});
