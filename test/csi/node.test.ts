// The CSI Node service of `stowage csi` over its real socket: staging and
// publishing mount and block volumes (loop devices), read-only publishes, quotas,
// the spec's errors, paths that escape the allowed folders, stats, expansion, and
// concurrent calls. Nothing may stay mounted or attached (harness.ts checks).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, openSync, readSync, closeSync, statSync, symlinkSync, writeFileSync, writeSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { status } from '@grpc/grpc-js';
import { mountsUnder, requiresRoot } from '../helpers/env.js';
import { startCsi, rejects, mountCap, blockCap, MiB, loopsUnder } from './harness.js';

describe('stowage csi: node', () => {
  it('mount volumes: stage, publish (read-write and read-only), quota, stats, errors, paths outside the allowed folders', async (t) => {
    if (!requiresRoot(t)) return;
    const h = await startCsi(t);
    const c = h.client;
    const cap = mountCap('SINGLE_NODE_WRITER', ['noatime']);
    const id = (await c.call('Controller', 'CreateVolume', { name: 'data', capacity_range: { required_bytes: 4 * MiB }, volume_capabilities: [cap] })).volume.volume_id;
    const stage = `${h.allowed}/stage`;
    const target = `${h.allowed}/pods/p1/mount`;
    mkdirSync(`${h.allowed}/pods/p1`, { recursive: true });
    const S = (req: object) => c.call('Node', 'NodeStageVolume', req);
    const P = (req: object) => c.call('Node', 'NodePublishVolume', req);

    // Required fields, unknown volumes, paths.
    await rejects(S({ staging_target_path: stage, volume_capability: cap }), status.INVALID_ARGUMENT, /volume_id/);
    await rejects(S({ volume_id: id, volume_capability: cap }), status.INVALID_ARGUMENT, /staging_target_path/);
    await rejects(S({ volume_id: id, staging_target_path: stage }), status.INVALID_ARGUMENT, /volume_capability/);
    await rejects(S({ volume_id: 'csi-nope', staging_target_path: stage, volume_capability: cap }), status.NOT_FOUND);
    await rejects(S({ volume_id: id, staging_target_path: stage, volume_capability: blockCap() }), status.FAILED_PRECONDITION);
    await rejects(S({ volume_id: id, staging_target_path: '/tmp/elsewhere', volume_capability: cap }), status.INVALID_ARGUMENT, /outside/);
    await rejects(S({ volume_id: id, staging_target_path: `${h.allowed}/../escape`, volume_capability: cap }), status.INVALID_ARGUMENT);
    await rejects(S({ volume_id: id, staging_target_path: 'relative/path', volume_capability: cap }), status.INVALID_ARGUMENT, /absolute/);
    symlinkSync('/tmp', `${h.allowed}/link-out`);
    await rejects(S({ volume_id: id, staging_target_path: `${h.allowed}/link-out/stage`, volume_capability: cap }), status.INVALID_ARGUMENT, /outside/);
    assert.equal(existsSync('/tmp/stage'), false);

    await S({ volume_id: id, staging_target_path: stage, volume_capability: cap });
    await S({ volume_id: id, staging_target_path: stage, volume_capability: cap }); // repeat: OK
    await rejects(S({ volume_id: id, staging_target_path: stage, volume_capability: mountCap() }), status.ALREADY_EXISTS);
    await rejects(S({ volume_id: id, staging_target_path: `${h.allowed}/stage2`, volume_capability: cap }), status.FAILED_PRECONDITION, /already staged/);
    assert.deepEqual(mountsUnder(stage), [stage]);

    // Publish needs the stage.
    await rejects(P({ volume_id: id, target_path: target, volume_capability: cap }), status.FAILED_PRECONDITION, /staging_target_path/);
    await rejects(P({ volume_id: id, staging_target_path: `${h.allowed}/not-staged`, target_path: target, volume_capability: cap }), status.FAILED_PRECONDITION, /not staged/);
    await rejects(P({ volume_id: id, staging_target_path: stage, volume_capability: cap }), status.INVALID_ARGUMENT, /target_path/);
    await rejects(P({ volume_id: id, staging_target_path: stage, target_path: '/etc/evil', volume_capability: cap }), status.INVALID_ARGUMENT, /outside/);
    await rejects(P({ volume_id: 'csi-nope', staging_target_path: stage, target_path: target, volume_capability: cap }), status.NOT_FOUND);
    const pub = { volume_id: id, staging_target_path: stage, target_path: target, volume_capability: cap };
    await P(pub);
    await P(pub); // repeat: OK
    await rejects(P({ ...pub, readonly: true }), status.ALREADY_EXISTS);
    await rejects(P({ ...pub, target_path: `${h.allowed}/pods/p1/second` }), status.FAILED_PRECONDITION, /already published/);

    // The size is enforced: writing past 4 MiB fails with ENOSPC.
    writeFileSync(`${target}/small.txt`, 'x');
    assert.throws(() => writeFileSync(`${target}/big.bin`, Buffer.alloc(6 * MiB)), /ENOSPC/);
    spawnSync('rm', ['-f', `${target}/big.bin`]);

    // Stats on the target and on the stage; NOT_FOUND for a path the volume is not at.
    const G = (req: object) => c.call('Node', 'NodeGetVolumeStats', req);
    const st = await G({ volume_id: id, volume_path: target });
    const bytes = st.usage.find((u: any) => u.unit === 'BYTES');
    assert.ok(bytes.total > 2 * MiB && bytes.total <= 4 * MiB, String(bytes.total));
    assert.ok(st.usage.some((u: any) => u.unit === 'INODES'));
    assert.equal(st.volume_condition.abnormal, false);
    await G({ volume_id: id, volume_path: stage });
    await rejects(G({ volume_id: id }), status.INVALID_ARGUMENT);
    await rejects(G({ volume_id: 'csi-nope', volume_path: target }), status.NOT_FOUND);
    await rejects(G({ volume_id: id, volume_path: `${h.allowed}/pods` }), status.NOT_FOUND);
    const X = (req: object) => c.call('Node', 'NodeExpandVolume', req);
    assert.equal((await X({ volume_id: id, volume_path: target })).capacity_bytes, 4 * MiB);
    await rejects(X({ volume_id: id, volume_path: target, capacity_range: { required_bytes: 64 * MiB } }), status.OUT_OF_RANGE);
    await rejects(X({ volume_id: id }), status.INVALID_ARGUMENT);
    await rejects(X({ volume_id: 'csi-nope', volume_path: target }), status.NOT_FOUND);

    // In use: no delete, no unstage while published.
    await rejects(c.call('Controller', 'DeleteVolume', { volume_id: id }), status.FAILED_PRECONDITION, /in use/);
    await rejects(c.call('Node', 'NodeUnstageVolume', { volume_id: id, staging_target_path: stage }), status.FAILED_PRECONDITION, /published/);
    const published = (await c.call('Controller', 'ControllerGetVolume', { volume_id: id })).status.published_node_ids;
    assert.deepEqual(published, ['node-1']);

    const U = (req: object) => c.call('Node', 'NodeUnpublishVolume', req);
    await rejects(U({ volume_id: id }), status.INVALID_ARGUMENT);
    await rejects(U({ volume_id: 'csi-nope', target_path: target }), status.NOT_FOUND);
    await rejects(U({ volume_id: id, target_path: '/var/../etc' }), status.INVALID_ARGUMENT);
    await U({ volume_id: id, target_path: target });
    await U({ volume_id: id, target_path: target }); // repeat: OK
    assert.equal(existsSync(target), false, 'the target the plugin made is removed');

    // Read-only publish: writes fail with EROFS, the stage stays writable.
    await P({ ...pub, readonly: true });
    assert.throws(() => writeFileSync(`${target}/nope.txt`, 'x'), /EROFS/);
    assert.ok(statSync(`${target}/small.txt`).isFile());
    await U({ volume_id: id, target_path: target });
    const ro = mountCap('SINGLE_NODE_READER_ONLY', ['noatime']);
    await P({ ...pub, volume_capability: ro });
    assert.throws(() => writeFileSync(`${target}/nope.txt`, 'x'), /EROFS/);
    await U({ volume_id: id, target_path: target });

    const UN = (req: object) => c.call('Node', 'NodeUnstageVolume', req);
    await rejects(UN({ volume_id: id }), status.INVALID_ARGUMENT);
    await rejects(UN({ volume_id: 'csi-nope', staging_target_path: stage }), status.NOT_FOUND);
    await UN({ volume_id: id, staging_target_path: stage });
    await UN({ volume_id: id, staging_target_path: stage }); // repeat: OK
    assert.deepEqual(mountsUnder(h.dir), []);
    await c.call('Controller', 'DeleteVolume', { volume_id: id });
  });

  it('block volumes: loop devices on stage, device nodes on publish, read-only, online growth', async (t) => {
    if (!requiresRoot(t)) return;
    const h = await startCsi(t);
    const c = h.client;
    const cap = blockCap();
    const id = (await c.call('Controller', 'CreateVolume', { name: 'raw', capacity_range: { required_bytes: 2 * MiB }, volume_capabilities: [cap] })).volume.volume_id;
    const stage = `${h.allowed}/bstage`;
    mkdirSync(stage);
    await c.call('Node', 'NodeStageVolume', { volume_id: id, staging_target_path: stage, volume_capability: cap });
    assert.equal(loopsUnder(h.dir).length, 1, 'one loop device attached');
    await rejects(c.call('Node', 'NodeStageVolume', { volume_id: id, staging_target_path: stage, volume_capability: mountCap() }), status.FAILED_PRECONDITION);
    const target = `${h.allowed}/dev-raw`;
    await c.call('Node', 'NodePublishVolume', { volume_id: id, staging_target_path: stage, target_path: target, volume_capability: cap });
    assert.ok(statSync(target).isBlockDevice());
    const fd = openSync(target, 'r+');
    writeSync(fd, Buffer.from('block data'), 0, 10, MiB);
    closeSync(fd);
    const img = Buffer.alloc(10);
    const ifd = openSync(`${h.root}/volumes/${id}/_data/block.img`, 'r');
    spawnSync('sync');
    readSync(ifd, img, 0, 10, MiB);
    closeSync(ifd);
    assert.equal(img.toString(), 'block data');

    // Grows while attached: the loop device sees the new size.
    assert.deepEqual(await c.call('Controller', 'ControllerExpandVolume', { volume_id: id, capacity_range: { required_bytes: 5 * MiB } }), { capacity_bytes: 5 * MiB, node_expansion_required: false });
    assert.equal((await c.call('Node', 'NodeExpandVolume', { volume_id: id, volume_path: target })).capacity_bytes, 5 * MiB);
    const size = spawnSync('blockdev', ['--getsize64', target], { encoding: 'utf8' }).stdout.trim();
    assert.equal(size, String(5 * MiB));
    const stats = await c.call('Node', 'NodeGetVolumeStats', { volume_id: id, volume_path: target });
    assert.equal(stats.usage[0].total, 5 * MiB);

    await c.call('Node', 'NodeUnpublishVolume', { volume_id: id, target_path: target });
    assert.equal(existsSync(target), false);
    await c.call('Node', 'NodePublishVolume', { volume_id: id, staging_target_path: stage, target_path: target, volume_capability: cap, readonly: true });
    assert.throws(() => {
      const w = openSync(target, 'r+'); // the kernel lets a read-only device open for writing; the write fails
      try { writeSync(w, Buffer.from('x'), 0, 1, 0); } finally { closeSync(w); }
    }, /EROFS|EACCES|EPERM/);
    await c.call('Node', 'NodeUnpublishVolume', { volume_id: id, target_path: target });
    await c.call('Node', 'NodeUnstageVolume', { volume_id: id, staging_target_path: stage });
    assert.deepEqual(loopsUnder(h.dir), [], 'loop device detached on unstage');
    await c.call('Controller', 'DeleteVolume', { volume_id: id });
  });

  it('concurrent stage calls on one volume: one wins, the others are ABORTED or refused', async (t) => {
    if (!requiresRoot(t)) return;
    const h = await startCsi(t);
    const c = h.client;
    const cap = mountCap();
    const id = (await c.call('Controller', 'CreateVolume', { name: 'busy', capacity_range: { required_bytes: 2 * MiB }, volume_capabilities: [cap] })).volume.volume_id;
    const results = await Promise.allSettled([1, 2, 3].map((i) => c.call('Node', 'NodeStageVolume', { volume_id: id, staging_target_path: `${h.allowed}/s${i}`, volume_capability: cap })));
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    assert.equal(ok, 1);
    for (const r of results) if (r.status === 'rejected') assert.ok([status.ABORTED, status.FAILED_PRECONDITION].includes((r.reason as { code: number }).code));
    assert.equal(mountsUnder(h.allowed).length, 1);
    const staged = mountsUnder(h.allowed)[0]!;
    await c.call('Node', 'NodeUnstageVolume', { volume_id: id, staging_target_path: staged });
    await c.call('Controller', 'DeleteVolume', { volume_id: id });
  });
});
