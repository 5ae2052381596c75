// select.test.ts: driver selection, table-driven over data-root states, requests
// and probe outcomes (the probe is injected so hosts where overlay fails are covered).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { selectDriver, type Verdict } from '../../src/drivers/select.js';
import { FuseOverlayfsDriver } from '../../src/drivers/fuse-overlayfs.js';
import { Overlay2Driver, type ProbeResult } from '../../src/drivers/overlay2.js';
import { VfsDriver } from '../../src/drivers/vfs.js';
import { kindOf } from '../../src/errors.js';
import { requiresRoot, tempDir } from '../helpers/env.js';

const works: ProbeResult = { ok: true, reason: 'overlay mounts work on extfs', backingFs: 'extfs', supportsDType: true, options: ['index=off'], userxattr: false, nativeDiff: true };
const fuseWorks: Verdict = { ok: true, reason: 'fuse-overlayfs 1.10 mounts work on extfs' };
const fuseFails: Verdict = { ok: false, reason: 'there is no /dev/fuse' };
const fails: ProbeResult = { ...works, ok: false, reason: 'backing filesystem xfs does not support d_type', supportsDType: false, nativeDiff: false };

type Existing = 'overlay2' | 'vfs' | 'empty-overlay2' | 'fuse-overlayfs';
interface Case {
  doc: string;
  existing?: Existing[];
  requested?: string;
  probe: ProbeResult;
  /** fuse-overlayfs's probe; it fails unless a case says otherwise. */
  fuse?: Verdict;
  driver?: 'overlay2' | 'vfs' | 'fuse-overlayfs';
  reason?: RegExp;
  error?: { kind: string; message: RegExp };
}

const cases: Case[] = [
  { doc: 'fresh root, overlay works: overlay2', probe: works, driver: 'overlay2', reason: /overlay2 is the first choice on extfs and overlay mounts work/ },
  { doc: 'fresh root, overlay fails: vfs, saying why', probe: fails, driver: 'vfs', reason: /^overlay2 is unavailable \(backing filesystem xfs does not support d_type\) and fuse-overlayfs is unavailable \(there is no \/dev\/fuse\), so vfs \(a full copy per layer\) is used\.$/ },
  { doc: 'an empty overlay2 folder does not count as layers', existing: ['empty-overlay2'], probe: fails, driver: 'vfs' },
  { doc: 'requested vfs', requested: 'vfs', probe: works, driver: 'vfs', reason: /vfs was requested/ },
  { doc: 'names are case-insensitive', requested: 'Overlay2', probe: works, driver: 'overlay2' },
  { doc: 'requested overlay2 that works', requested: 'overlay2', probe: works, driver: 'overlay2', reason: /requested/ },
  { doc: 'requested overlay2 that cannot work', requested: 'overlay2', probe: fails, error: { kind: 'FailedPrecondition', message: /overlay2 cannot be used.*d_type/ } },
  { doc: 'aufs is refused by name', requested: 'aufs', probe: works, error: { kind: 'InvalidArgument', message: /aufs.*removed/ } },
  { doc: 'devicemapper is refused by name', requested: 'devicemapper', probe: works, error: { kind: 'InvalidArgument', message: /devicemapper.*removed/ } },
  { doc: 'overlay (v1) is refused by name', requested: 'overlay', probe: works, error: { kind: 'InvalidArgument', message: /overlay \(v1\).*removed.*overlay2/ } },
  { doc: 'unknown names list the valid ones', requested: 'btrfs2', probe: works, error: { kind: 'InvalidArgument', message: /unknown storage driver "btrfs2"; valid drivers: btrfs, zfs, overlay2, fuse-overlayfs, vfs/ } },
  { doc: 'fresh root, overlay fails, FUSE works: fuse-overlayfs, saying why', probe: fails, fuse: fuseWorks, driver: 'fuse-overlayfs', reason: /^overlay2 is unavailable \(backing filesystem xfs does not support d_type\), so fuse-overlayfs is used: fuse-overlayfs 1\.10 mounts work on extfs\.$/ },
  { doc: 'fresh root, overlay and FUSE fail: vfs names both reasons', probe: fails, driver: 'vfs', reason: /overlay2 is unavailable \(.*d_type\) and fuse-overlayfs is unavailable \(there is no \/dev\/fuse\)/ },
  { doc: 'requested fuse-overlayfs that cannot work', requested: 'fuse-overlayfs', probe: works, error: { kind: 'FailedPrecondition', message: /fuse-overlayfs cannot be used.*no \/dev\/fuse/ } },
  { doc: 'requested btrfs on a root that is not btrfs', requested: 'btrfs', probe: works, error: { kind: 'FailedPrecondition', message: /btrfs cannot be used.*not btrfs/ } },
  { doc: 'requested zfs on a root that is not zfs', requested: 'zfs', probe: works, error: { kind: 'FailedPrecondition', message: /zfs cannot be used.*not on a ZFS dataset/ } },
  { doc: 'a root with fuse-overlayfs layers keeps it', existing: ['fuse-overlayfs'], probe: works, fuse: fuseWorks, driver: 'fuse-overlayfs', reason: /already holds fuse-overlayfs layers/ },
  { doc: 'garbage names too', requested: 'no such', probe: works, error: { kind: 'InvalidArgument', message: /valid drivers/ } },
  { doc: 'a root with vfs layers keeps vfs', existing: ['vfs'], probe: works, driver: 'vfs', reason: /already holds vfs layers/ },
  { doc: 'a root with overlay2 layers keeps overlay2', existing: ['overlay2'], probe: works, driver: 'overlay2', reason: /already holds overlay2 layers/ },
  { doc: 'overlay2 layers on a host where overlay fails', existing: ['overlay2'], probe: fails, error: { kind: 'FailedPrecondition', message: /holds overlay2 layers but overlay2 cannot be used/ } },
  { doc: 'two drivers with layers: refuse, naming both', existing: ['overlay2', 'vfs'], probe: works, error: { kind: 'FailedPrecondition', message: /several storage drivers \(overlay2, vfs\)/ } },
  { doc: 'an explicit request settles two drivers, with a note', existing: ['overlay2', 'vfs'], requested: 'vfs', probe: works, driver: 'vfs', reason: /layers of overlay2 \(under .*overlay2\) are kept separately and are not visible with it/ },
];

async function populate(root: string, existing: Existing[]): Promise<void> {
  for (const e of existing) {
    if (e === 'empty-overlay2') mkdirSync(join(root, 'overlay2'));
    if (e === 'overlay2') await new Overlay2Driver(join(root, 'overlay2')).create('layer1', null);
    if (e === 'vfs') await new VfsDriver(join(root, 'vfs')).create('layer1', null);
    if (e === 'fuse-overlayfs') await new FuseOverlayfsDriver(join(root, 'fuse-overlayfs')).create('layer1', null);
  }
}

describe('selectDriver', () => {
  for (const c of cases) {
    it(c.doc, async (t) => {
      const root = tempDir(t);
      await populate(root, c.existing ?? []);
      const probed: string[] = [];
      const probe = (home: string) => { probed.push(home); return c.probe; };
      const probes = { 'fuse-overlayfs': () => c.fuse ?? fuseFails };
      if (c.error) {
        assert.throws(() => selectDriver(root, c.requested, { probe, probes }), (err: unknown) => {
          assert.equal(kindOf(err), c.error!.kind);
          assert.match(String((err as Error).message), c.error!.message);
          return true;
        });
        return;
      }
      const { driver, reason } = selectDriver(root, c.requested, { probe, probes });
      assert.equal(driver.name, c.driver);
      assert.equal(driver.home, join(root, c.driver!));
      if (c.reason) assert.match(reason, c.reason);
      assert.match(reason, /\.$/, 'one sentence');
      for (const h of probed) assert.equal(h, join(root, 'overlay2'));
    });
  }

  it('on this host, with the real probe, picks overlay2', (t) => {
    if (!requiresRoot(t)) return;
    const root = tempDir(t);
    const { driver, reason } = selectDriver(root);
    assert.equal(driver.name, 'overlay2', reason);
    assert.equal(driver.status().details[0]?.[0], 'Backing Filesystem');
  });
});
