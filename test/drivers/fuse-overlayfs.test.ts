// fuse-overlayfs.test.ts: the conformance suite on fuse-overlayfs, plus what is
// particular to it: overlay2's on-disk layout with FUSE mounts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FuseOverlayfsDriver } from '../../src/drivers/fuse-overlayfs.js';
import { selectDriver } from '../../src/drivers/select.js';
import { mountAll, unmount } from '../../src/drivers/mount.js';
import { requiresRoot, tempDir, mountsUnder } from '../helpers/env.js';
import { runDriverSuite } from './suite.js';
import type { ProbeResult } from '../../src/drivers/overlay2.js';

runDriverSuite('fuse-overlayfs', (home) => new FuseOverlayfsDriver(home), {
  manyLayers: 200,
  hardlinkCopyUp: 'broken',
  module: { file: 'fuse-overlayfs.js', className: 'FuseOverlayfsDriver' },
});

describe('fuse-overlayfs specifics', () => {
  it('keeps overlay2\'s layout and mounts through FUSE', async (t) => {
    if (!requiresRoot(t)) return;
    const root = tempDir(t);
    const home = join(root, 'fuse-overlayfs');
    const p = FuseOverlayfsDriver.probeFuse(home);
    assert.equal(p.ok, true, p.reason);
    const d = new FuseOverlayfsDriver(home, p);
    await d.create('base', null);
    writeFileSync(join(d.applyTarget('base').root, 'f'), 'base');
    await d.create('rw', 'base');
    assert.equal(d.applyTarget('rw').root, join(home, 'rw/diff'));
    assert.equal(d.applyTarget('rw').whiteouts, 'overlay');
    const [m] = d.mounts('rw');
    assert.equal(m!.type, 'fuse-overlayfs');
    assert.equal(m!.cwd, home);
    assert.ok(!m!.options.some((o) => o.startsWith('index=')), 'no kernel overlay options');
    const target = join(root, 'mnt');
    (await import('node:fs')).mkdirSync(target);
    mountAll(d.mounts('rw'), target);
    try {
      const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === target);
      assert.match(line ?? '', / - fuse\.fuse-overlayfs /);
      writeFileSync(join(target, 'f'), 'rw');
      assert.equal(readFileSync(join(home, 'rw/diff/f'), 'utf8'), 'rw');
    } finally {
      unmount(target);
    }
    assert.deepEqual(mountsUnder(root), []);
    assert.equal(d.status().details[0]![0], 'Backing Filesystem');
  });

  it('is chosen when kernel overlay cannot be mounted', (t) => {
    if (!requiresRoot(t)) return;
    const root = tempDir(t);
    const fails: ProbeResult = { ok: false, reason: 'mounting needs CAP_SYS_ADMIN', backingFs: 'extfs', supportsDType: true, options: [], userxattr: false, nativeDiff: false };
    const c = selectDriver(root, undefined, { probe: () => fails });
    assert.equal(c.driver.name, 'fuse-overlayfs', c.reason);
    assert.match(c.reason, /^overlay2 is unavailable \(mounting needs CAP_SYS_ADMIN\), so fuse-overlayfs is used: fuse-overlayfs .* mounts work/);
  });
});
