// The `csi` volume driver against stowage's own CSI server, through its real
// socket: `volume create -d csi` makes a CSI volume on the server's side, mounts
// stage and publish it under the client's data root, the last unmount and `volume rm`
// undo everything.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { mountsUnder, requiresRoot, tempDir } from '../helpers/env.js';
import { stowage } from '../helpers/cli.js';
import { Layout } from '../../src/store/layout.js';
import { CsiVolumeDriver } from '../../src/volumes/drivers/csi.js';
import { startCsi, MiB } from './harness.js';

describe('csi volume driver', () => {
  it('volume create -d csi, mount for two containers, unmount, rm', async (t) => {
    if (!requiresRoot(t)) return;
    // The client's data root: the server must allow its csi/targets folder.
    const root = tempDir(t, 'stowage-csi-client-');
    const h2 = await startCsi(t, ['--allowed-dir', join(root, 'csi', 'targets')]);
    const s = stowage(root, 'vfs');
    const endpoint = `unix://${h2.socket}`;
    const bad = await s.run(['volume', 'create', '-d', 'csi', 'nodrv']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /endpoint/);
    assert.equal(await s.ok(['volume', 'create', '-d', 'csi', '-o', `endpoint=${endpoint}`, '-o', 'size=8m', 'shared']), 'shared\n');
    assert.match(await s.ok(['volume', 'ls']), /csi\s+shared/);
    // On the server's side: a stowage volume with the CSI label and the quota.
    const serverVols = (await h2.cli.ok(['volume', 'ls', '-q', '--filter', 'label=io.stowage.csi.name=stowage-shared'])).trim();
    assert.match(serverVols, /^csi-[0-9a-f]{32}$/);
    assert.equal(JSON.parse(await h2.cli.ok(['volume', 'inspect', serverVols]))[0].Options.size, String(8 * MiB));

    const d = new CsiVolumeDriver(new Layout(root));
    const p1 = await d.mount('shared', 'c1');
    const p2 = await d.mount('shared', 'c2');
    assert.equal(p1, p2);
    assert.equal(await d.path('shared'), p1);
    writeFileSync(join(p1, 'file.txt'), 'through csi\n');
    assert.equal(mountsUnder(join(root, 'csi', 'targets')).length, 2, 'stage and publish');
    await d.unmount('shared', 'c1');
    assert.equal(mountsUnder(join(root, 'csi', 'targets')).length, 2, 'still held by c2');
    await d.unmount('shared', 'c2');
    assert.deepEqual(mountsUnder(root), []);
    assert.equal(await d.path('shared'), null);
    assert.deepEqual((await d.list()).map((v) => v.name), ['shared']);

    // The data stayed in the CSI volume: a snapshot of it on the server has it (stage once more to look).
    const again = await d.mount('shared', 'c3');
    assert.deepEqual(readdirSync(again).filter((f) => f !== 'lost+found'), ['file.txt']);
    await d.unmount('shared', 'c3');

    assert.equal(await s.ok(['volume', 'rm', 'shared']), 'shared\n');
    assert.equal(await h2.cli.ok(['volume', 'ls', '-q']), '', 'DeleteVolume removed the server-side volume');
    assert.equal(existsSync(join(root, 'csi', 'driver', 'shared.json')), false);
    await h2.stop();
    assert.deepEqual(mountsUnder(root), []);
  });
});
