// The CSI Identity and Controller services of `stowage csi`, called over its real
// socket: every RPC with the spec's required errors and idempotency, snapshots,
// clones, expansion, pagination. Written from the CSI spec's error tables.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import { requiresRoot } from '../helpers/env.js';
import { startCsi, rejects, mountCap, blockCap, MiB } from './harness.js';

describe('stowage csi: identity and controller', () => {
  it('identity, capabilities, and a controller-only server without the node service', async (t) => {
    if (!requiresRoot(t)) return;
    const h = await startCsi(t);
    const c = h.client;
    const info = await c.call('Identity', 'GetPluginInfo');
    assert.equal(info.name, 'csi.stowage.io');
    assert.match(info.vendor_version, /^\d+\.\d+\.\d+/);
    const caps = (await c.call('Identity', 'GetPluginCapabilities')).capabilities;
    assert.ok(caps.some((x: any) => x.service?.type === 'CONTROLLER_SERVICE'));
    assert.ok(caps.some((x: any) => x.service?.type === 'VOLUME_ACCESSIBILITY_CONSTRAINTS'));
    assert.ok(caps.some((x: any) => ['ONLINE', 'OFFLINE'].includes(x.volume_expansion?.type)));
    assert.deepEqual(await c.call('Identity', 'Probe'), { ready: { value: true } });
    const ctl = (await c.call('Controller', 'ControllerGetCapabilities')).capabilities.map((x: any) => x.rpc.type);
    for (const x of ['CREATE_DELETE_VOLUME', 'LIST_VOLUMES', 'GET_CAPACITY', 'CREATE_DELETE_SNAPSHOT', 'LIST_SNAPSHOTS', 'CLONE_VOLUME', 'EXPAND_VOLUME', 'GET_VOLUME']) assert.ok(ctl.includes(x), x);
    const node = (await c.call('Node', 'NodeGetCapabilities')).capabilities.map((x: any) => x.rpc.type);
    assert.deepEqual(node.sort(), ['EXPAND_VOLUME', 'GET_VOLUME_STATS', 'SINGLE_NODE_MULTI_WRITER', 'STAGE_UNSTAGE_VOLUME', 'VOLUME_CONDITION']);
    assert.deepEqual(await c.call('Node', 'NodeGetInfo'), { node_id: 'node-1', max_volumes_per_node: 0, accessible_topology: { segments: { 'topology.stowage.io/node': 'node-1' } } });
    // Not offered: UNIMPLEMENTED.
    await rejects(c.call('Controller', 'ControllerPublishVolume', { volume_id: 'x', node_id: 'node-1' }), status.UNIMPLEMENTED);
    await h.stop();

    const ctlOnly = await startCsi(t, ['--mode', 'controller']);
    await rejects(ctlOnly.client.call('Node', 'NodeGetInfo'), status.UNIMPLEMENTED);
    const nodeOnly = await startCsi(t, ['--mode', 'node']);
    await rejects(nodeOnly.client.call('Controller', 'ListVolumes'), status.UNIMPLEMENTED);
    const pc = (await nodeOnly.client.call('Identity', 'GetPluginCapabilities')).capabilities;
    assert.ok(!pc.some((x: any) => x.service?.type === 'CONTROLLER_SERVICE'));
  });

  it('CreateVolume / DeleteVolume: required fields, ranges, idempotency, ALREADY_EXISTS, stowage volumes with quotas', async (t) => {
    if (!requiresRoot(t)) return;
    const h = await startCsi(t);
    const c = h.client;
    const C = (req: object) => c.call('Controller', 'CreateVolume', req);
    await rejects(C({ volume_capabilities: [mountCap()] }), status.INVALID_ARGUMENT, /name/);
    await rejects(C({ name: 'a' }), status.INVALID_ARGUMENT, /volume_capabilities/);
    await rejects(C({ name: 'a', volume_capabilities: [{ access_mode: { mode: 'SINGLE_NODE_WRITER' } }] }), status.INVALID_ARGUMENT, /access_type/);
    await rejects(C({ name: 'a', volume_capabilities: [{ mount: {} }] }), status.INVALID_ARGUMENT, /access_mode/);
    await rejects(C({ name: 'a', volume_capabilities: [mountCap(), blockCap()] }), status.INVALID_ARGUMENT, /not both/);
    await rejects(C({ name: 'a', volume_capabilities: [mountCap('MULTI_NODE_MULTI_WRITER')] }), status.INVALID_ARGUMENT, /not supported/);
    await rejects(C({ name: 'a', volume_capabilities: [{ mount: { fs_type: 'xfs' }, access_mode: { mode: 'SINGLE_NODE_WRITER' } }] }), status.INVALID_ARGUMENT, /fs_type/);
    await rejects(C({ name: 'x'.repeat(129), volume_capabilities: [mountCap()] }), status.INVALID_ARGUMENT, /128/);
    await rejects(C({ name: 'a', capacity_range: { required_bytes: 20 * MiB, limit_bytes: 10 * MiB }, volume_capabilities: [mountCap()] }), status.OUT_OF_RANGE);
    await rejects(C({ name: 'a', capacity_range: { required_bytes: 2 ** 52 }, volume_capabilities: [mountCap()] }), status.OUT_OF_RANGE);
    await rejects(C({ name: 'a', capacity_range: { limit_bytes: 1000 }, volume_capabilities: [mountCap()] }), status.OUT_OF_RANGE);
    await rejects(C({ name: 'a', volume_capabilities: [mountCap()], accessibility_requirements: { requisite: [{ segments: { 'topology.stowage.io/node': 'other' } }] } }), status.RESOURCE_EXHAUSTED);
    await rejects(C({ name: 'a', volume_capabilities: [mountCap()], volume_content_source: { snapshot: { snapshot_id: 'snap-nope' } } }), status.NOT_FOUND);
    await rejects(C({ name: 'a', volume_capabilities: [mountCap()], volume_content_source: { volume: { volume_id: 'csi-nope' } } }), status.NOT_FOUND);
    assert.equal(await h.cli.ok(['volume', 'ls', '-q']), '', 'failed creates leave nothing');

    const name = 'pvc-' + 'n'.repeat(124); // the spec's 128-byte name
    const req = { name, capacity_range: { required_bytes: 5 * MiB + 1 }, volume_capabilities: [mountCap()], parameters: { tier: 'fast' },
      accessibility_requirements: { requisite: [{ segments: { 'topology.stowage.io/node': 'node-1' } }] } };
    const { volume } = await C(req);
    assert.equal(volume.capacity_bytes, 6 * MiB, 'rounded up to whole MiB');
    assert.match(volume.volume_id, /^csi-[0-9a-f]{32}$/);
    assert.deepEqual(volume.accessible_topology, [{ segments: { 'topology.stowage.io/node': 'node-1' } }]);
    assert.deepEqual((await C(req)).volume, volume, 'a repeat gives the same volume');
    await rejects(C({ ...req, capacity_range: { required_bytes: 50 * MiB } }), status.ALREADY_EXISTS, /capacity/);
    await rejects(C({ ...req, parameters: { tier: 'slow' } }), status.ALREADY_EXISTS, /parameters/);
    await rejects(C({ ...req, volume_capabilities: [blockCap()] }), status.ALREADY_EXISTS, /mount volume/);
    // A stowage volume with the size quota and the CSI labels.
    assert.equal(await h.cli.ok(['volume', 'ls', '-q', '--filter', 'label=io.stowage.csi=1']), volume.volume_id + '\n');
    const [ins] = JSON.parse(await h.cli.ok(['volume', 'inspect', volume.volume_id]));
    assert.equal(ins.Options.size, String(6 * MiB));
    assert.equal(ins.Labels['io.stowage.csi.name'], name);
    assert.equal(statSync(`${h.root}/volumes/${volume.volume_id}/quota.img`).size, 6 * MiB);
    // `volume rm` refuses while the CSI record holds it.
    assert.equal((await h.cli.run(['volume', 'rm', volume.volume_id])).code, 1);

    const blk = (await C({ name: 'blk', capacity_range: { required_bytes: 3 * MiB }, volume_capabilities: [blockCap()] })).volume;
    assert.equal(statSync(`${h.root}/volumes/${blk.volume_id}/_data/block.img`).size, 3 * MiB);
    const dflt = (await C({ name: 'default-size', volume_capabilities: [mountCap()] })).volume;
    assert.equal(dflt.capacity_bytes, 100 * MiB);

    await rejects(c.call('Controller', 'DeleteVolume', {}), status.INVALID_ARGUMENT);
    for (const v of [volume, blk, dflt]) {
      await c.call('Controller', 'DeleteVolume', { volume_id: v.volume_id });
      await c.call('Controller', 'DeleteVolume', { volume_id: v.volume_id }); // repeat: OK
    }
    await c.call('Controller', 'DeleteVolume', { volume_id: 'csi-never-was' }); // unknown: OK
    assert.equal(await h.cli.ok(['volume', 'ls', '-q']), '');
    assert.equal((await c.call('Controller', 'ListVolumes')).entries.length, 0);
  });

  it('ValidateVolumeCapabilities, ListVolumes pagination, ControllerGetVolume, GetCapacity', async (t) => {
    if (!requiresRoot(t)) return;
    const h = await startCsi(t);
    const c = h.client;
    const ids: string[] = [];
    for (const n of ['v1', 'v2', 'v3']) ids.push((await c.call('Controller', 'CreateVolume', { name: n, capacity_range: { required_bytes: MiB }, volume_capabilities: [mountCap()], parameters: { p: n } })).volume.volume_id);
    const V = (req: object) => c.call('Controller', 'ValidateVolumeCapabilities', req);
    await rejects(V({ volume_capabilities: [mountCap()] }), status.INVALID_ARGUMENT);
    await rejects(V({ volume_id: ids[0] }), status.INVALID_ARGUMENT);
    await rejects(V({ volume_id: 'csi-nope', volume_capabilities: [mountCap()] }), status.NOT_FOUND);
    const ok = await V({ volume_id: ids[0], volume_capabilities: [mountCap(), mountCap('SINGLE_NODE_READER_ONLY')], parameters: { p: 'v1' } });
    assert.equal(ok.confirmed.volume_capabilities.length, 2);
    const no = await V({ volume_id: ids[0], volume_capabilities: [blockCap()] });
    assert.equal(no.confirmed, null);
    assert.match(no.message, /mount volume/);
    assert.equal((await V({ volume_id: ids[0], volume_capabilities: [mountCap('MULTI_NODE_MULTI_WRITER')] })).confirmed, null);
    assert.equal((await V({ volume_id: ids[0], volume_capabilities: [mountCap()], parameters: { p: 'other' } })).confirmed, null);

    const L = (req: object) => c.call('Controller', 'ListVolumes', req);
    const p1 = await L({ max_entries: 2 });
    assert.equal(p1.entries.length, 2);
    assert.notEqual(p1.next_token, '');
    const p2 = await L({ max_entries: 2, starting_token: p1.next_token });
    assert.equal(p2.entries.length, 1);
    assert.equal(p2.next_token, '');
    assert.deepEqual([...p1.entries, ...p2.entries].map((e: any) => e.volume.volume_id).sort(), [...ids].sort());
    assert.deepEqual(p1.entries[0].status.published_node_ids, []);
    await rejects(L({ starting_token: 'bogus' }), status.ABORTED);
    await rejects(L({ starting_token: '99' }), status.ABORTED);
    await rejects(L({ max_entries: -1 }), status.INVALID_ARGUMENT);
    assert.equal((await L({})).entries.length, 3);

    await rejects(c.call('Controller', 'ControllerGetVolume', {}), status.INVALID_ARGUMENT);
    await rejects(c.call('Controller', 'ControllerGetVolume', { volume_id: 'csi-nope' }), status.NOT_FOUND);
    const g = await c.call('Controller', 'ControllerGetVolume', { volume_id: ids[1] });
    assert.equal(g.volume.volume_id, ids[1]);
    assert.equal(g.status.volume_condition.abnormal, false);

    const cap = await c.call('Controller', 'GetCapacity', { volume_capabilities: [mountCap()] });
    assert.ok(cap.available_capacity > 0);
    assert.ok(cap.maximum_volume_size.value >= cap.available_capacity);
    assert.equal(cap.minimum_volume_size.value, MiB);
    assert.equal((await c.call('Controller', 'GetCapacity', { volume_capabilities: [mountCap('MULTI_NODE_MULTI_WRITER')] })).available_capacity, 0);
    assert.equal((await c.call('Controller', 'GetCapacity', { accessible_topology: { segments: { 'topology.stowage.io/node': 'elsewhere' } } })).available_capacity, 0);
    for (const id of ids) await c.call('Controller', 'DeleteVolume', { volume_id: id });
  });

  it('snapshots, restores, clones and expansion copy and grow real data', async (t) => {
    if (!requiresRoot(t)) return;
    const h = await startCsi(t);
    const c = h.client;
    const cap = mountCap();
    const src = (await c.call('Controller', 'CreateVolume', { name: 'src', capacity_range: { required_bytes: 8 * MiB }, volume_capabilities: [cap] })).volume;
    // Put data in it through the node service.
    const stage = `${h.allowed}/stage-src`;
    await c.call('Node', 'NodeStageVolume', { volume_id: src.volume_id, staging_target_path: stage, volume_capability: cap });
    const { writeFileSync, readFileSync } = await import('node:fs');
    writeFileSync(`${stage}/hello.txt`, 'hello from src\n');

    const S = (req: object) => c.call('Controller', 'CreateSnapshot', req);
    await rejects(S({ name: 's' }), status.INVALID_ARGUMENT, /source_volume_id/);
    await rejects(S({ source_volume_id: src.volume_id }), status.INVALID_ARGUMENT, /name/);
    await rejects(S({ name: 's', source_volume_id: 'csi-nope' }), status.NOT_FOUND);
    const snap = (await S({ name: 'snap-1', source_volume_id: src.volume_id })).snapshot; // taken while staged: frozen for the copy
    assert.equal(snap.source_volume_id, src.volume_id);
    assert.equal(snap.size_bytes, 8 * MiB);
    assert.equal(snap.ready_to_use, true);
    assert.ok(snap.creation_time.seconds > 1_600_000_000);
    assert.ok(existsSync(`${h.root}/csi/snapshots/${snap.snapshot_id}.img`));
    assert.deepEqual((await S({ name: 'snap-1', source_volume_id: src.volume_id })).snapshot, snap);
    writeFileSync(`${stage}/after.txt`, 'written after the snapshot\n');
    await c.call('Node', 'NodeUnstageVolume', { volume_id: src.volume_id, staging_target_path: stage });

    const other = (await c.call('Controller', 'CreateVolume', { name: 'other', capacity_range: { required_bytes: MiB }, volume_capabilities: [cap] })).volume;
    await rejects(S({ name: 'snap-1', source_volume_id: other.volume_id }), status.ALREADY_EXISTS);
    const snap2 = (await S({ name: 'snap-2', source_volume_id: other.volume_id })).snapshot;

    const LS = (req: object) => c.call('Controller', 'ListSnapshots', req);
    assert.equal((await LS({})).entries.length, 2);
    assert.deepEqual((await LS({ snapshot_id: snap.snapshot_id })).entries.map((e: any) => e.snapshot.snapshot_id), [snap.snapshot_id]);
    assert.deepEqual((await LS({ source_volume_id: other.volume_id })).entries.map((e: any) => e.snapshot.snapshot_id), [snap2.snapshot_id]);
    assert.equal((await LS({ snapshot_id: 'snap-nope' })).entries.length, 0);
    assert.equal((await LS({ source_volume_id: 'csi-nope' })).entries.length, 0);
    const lp = await LS({ max_entries: 1 });
    assert.equal(lp.entries.length, 1);
    assert.equal((await LS({ max_entries: 1, starting_token: lp.next_token })).entries.length, 1);
    await rejects(LS({ starting_token: 'x' }), status.ABORTED);
    await rejects(c.call('Controller', 'GetSnapshot', { snapshot_id: 'snap-nope' }), status.NOT_FOUND);

    // Restore: smaller than the snapshot is OUT_OF_RANGE; a block restore of a mount snapshot is INVALID_ARGUMENT.
    const from = { snapshot: { snapshot_id: snap.snapshot_id } };
    await rejects(c.call('Controller', 'CreateVolume', { name: 'r', capacity_range: { required_bytes: MiB, limit_bytes: 4 * MiB }, volume_capabilities: [cap], volume_content_source: from }), status.OUT_OF_RANGE);
    await rejects(c.call('Controller', 'CreateVolume', { name: 'r', volume_capabilities: [blockCap()], volume_content_source: from }), status.INVALID_ARGUMENT);
    const restored = (await c.call('Controller', 'CreateVolume', { name: 'restored', capacity_range: { required_bytes: 16 * MiB }, volume_capabilities: [cap], volume_content_source: from })).volume;
    assert.equal(restored.capacity_bytes, 16 * MiB);
    assert.deepEqual(restored.content_source.snapshot, { snapshot_id: snap.snapshot_id });
    await rejects(c.call('Controller', 'CreateVolume', { name: 'restored', capacity_range: { required_bytes: 16 * MiB }, volume_capabilities: [cap] }), status.ALREADY_EXISTS, /source/);
    const clone = (await c.call('Controller', 'CreateVolume', { name: 'clone', volume_capabilities: [cap], volume_content_source: { volume: { volume_id: src.volume_id } } })).volume;
    assert.equal(clone.capacity_bytes, 8 * MiB, 'a clone defaults to its source size');

    // Expansion (offline): required below the size is a no-op; a limit below it is OUT_OF_RANGE.
    const E = (req: object) => c.call('Controller', 'ControllerExpandVolume', req);
    await rejects(E({ capacity_range: { required_bytes: MiB } }), status.INVALID_ARGUMENT);
    await rejects(E({ volume_id: clone.volume_id }), status.INVALID_ARGUMENT);
    await rejects(E({ volume_id: 'csi-nope', capacity_range: { required_bytes: MiB } }), status.NOT_FOUND);
    await rejects(E({ volume_id: clone.volume_id, capacity_range: { required_bytes: 64 * MiB, limit_bytes: 2 * MiB } }), status.OUT_OF_RANGE);
    assert.deepEqual(await E({ volume_id: clone.volume_id, capacity_range: { required_bytes: MiB } }), { capacity_bytes: 8 * MiB, node_expansion_required: false });
    assert.deepEqual(await E({ volume_id: clone.volume_id, capacity_range: { required_bytes: 24 * MiB } }), { capacity_bytes: 24 * MiB, node_expansion_required: false });
    assert.equal(JSON.parse(await h.cli.ok(['volume', 'inspect', clone.volume_id]))[0].Options.size, String(24 * MiB));

    // What each volume holds: the restore has the snapshot's file only, the clone both, grown to 24 MiB.
    const look = async (id: string) => {
      const p = `${h.allowed}/look-${id}`;
      await c.call('Node', 'NodeStageVolume', { volume_id: id, staging_target_path: p, volume_capability: cap });
      const { readdirSync, statfsSync } = await import('node:fs');
      const files = readdirSync(p).filter((f) => f !== 'lost+found').sort(); // e2fsck before an offline grow may add it
      const s = statfsSync(p);
      const hello = readFileSync(`${p}/hello.txt`, 'utf8');
      await c.call('Node', 'NodeUnstageVolume', { volume_id: id, staging_target_path: p });
      return { files, hello, bytes: s.blocks * s.bsize };
    };
    const r = await look(restored.volume_id);
    assert.deepEqual(r.files, ['hello.txt']);
    assert.equal(r.hello, 'hello from src\n');
    assert.ok(r.bytes > 12 * MiB, `restored filesystem grown to its capacity (${r.bytes})`);
    const cl = await look(clone.volume_id);
    assert.deepEqual(cl.files, ['after.txt', 'hello.txt']);
    assert.ok(cl.bytes > 20 * MiB, `expanded filesystem (${cl.bytes})`);

    await rejects(c.call('Controller', 'DeleteSnapshot', {}), status.INVALID_ARGUMENT);
    for (const s of [snap, snap2]) {
      await c.call('Controller', 'DeleteSnapshot', { snapshot_id: s.snapshot_id });
      await c.call('Controller', 'DeleteSnapshot', { snapshot_id: s.snapshot_id });
    }
    assert.equal((await LS({})).entries.length, 0);
    for (const v of [src, other, restored, clone]) await c.call('Controller', 'DeleteVolume', { volume_id: v.volume_id });
    assert.equal(await h.cli.ok(['volume', 'ls', '-q']), '');
  });

  it('concurrent calls on one volume: ABORTED or the same answer, never two volumes', async (t) => {
    if (!requiresRoot(t)) return;
    const h = await startCsi(t);
    const c = h.client;
    const req = { name: 'race', capacity_range: { required_bytes: 32 * MiB }, volume_capabilities: [mountCap()] };
    const results = await Promise.allSettled([1, 2, 3, 4].map(() => c.call('Controller', 'CreateVolume', req)));
    const oks = results.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<any>[];
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { code: number }).code, status.ABORTED);
    assert.ok(oks.length >= 1);
    assert.equal(new Set(oks.map((r) => r.value.volume.volume_id)).size, 1);
    const id = oks[0]!.value.volume.volume_id;
    // Snapshot, expand and delete at once: each either succeeds or is ABORTED.
    const mixed = await Promise.allSettled([
      c.call('Controller', 'CreateSnapshot', { name: 'race-snap', source_volume_id: id }),
      c.call('Controller', 'ControllerExpandVolume', { volume_id: id, capacity_range: { required_bytes: 48 * MiB } }),
      c.call('Controller', 'CreateSnapshot', { name: 'race-snap', source_volume_id: id }),
    ]);
    for (const r of mixed) if (r.status === 'rejected') assert.equal((r.reason as { code: number }).code, status.ABORTED, String((r.reason as Error).message));
    assert.equal(await h.cli.ok(['volume', 'ls', '-q']), id + '\n');
    for (const s of (await c.call('Controller', 'ListSnapshots')).entries) await c.call('Controller', 'DeleteSnapshot', { snapshot_id: s.snapshot.snapshot_id });
    await c.call('Controller', 'DeleteVolume', { volume_id: id });
  });
});
