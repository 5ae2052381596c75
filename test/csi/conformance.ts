// conformance.ts: the CSI conformance cases every backend of `stowage csi` must pass,
// over the real socket: each RPC's required-field, NOT_FOUND, ALREADY_EXISTS,
// FAILED_PRECONDITION, OUT_OF_RANGE, ABORTED and UNIMPLEMENTED cases from the spec's
// error tables, idempotent repeats, and a full stage/publish lifecycle with data.
// conformance-local.test.ts runs them on node-local volumes, conformance-glusterfs.test.ts
// on GlusterFS volumes (a real server); the backend decides only the StorageClass
// parameters, the access modes, and where snapshots stop.
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { mountsUnder } from '../helpers/env.js';
import { startCsi, rejects, mountCap, blockCap, MiB, type CsiHarness } from './harness.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
export interface Backend {
  name: 'local' | 'glusterfs';
  /** StorageClass parameters. */
  params: Record<string, string>;
  /** Extra `stowage csi` flags. */
  flags: string[];
  /** A mode this backend serves at one target per node, and one it serves at several. */
  singleMode: string;
  multiMode: string;
  /** A capability the backend refuses at CreateVolume. */
  unsupported: object;
  /** A well-formed id of a volume that does not exist. */
  missingId: string;
}

export interface Case { name: string; run(t: TestContext, b: Backend): Promise<void> }

async function server(t: TestContext, b: Backend): Promise<CsiHarness> {
  return startCsi(t, b.flags);
}

export const CASES: Case[] = [
  {
    name: 'Controller: CreateVolume/DeleteVolume/ValidateVolumeCapabilities/ListVolumes/ControllerGetVolume/GetCapacity errors and idempotency',
    async run(t, b) {
      const h = await server(t, b);
      const c = h.client;
      const cap = mountCap(b.multiMode);
      const C = (req: object) => c.call('Controller', 'CreateVolume', { parameters: b.params, ...req });
      // CreateVolume: the general cases, then the table's.
      await rejects(C({ volume_capabilities: [cap] }), status.INVALID_ARGUMENT, /name/);
      await rejects(C({ name: 'v' }), status.INVALID_ARGUMENT, /volume_capabilities/);
      await rejects(C({ name: 'x'.repeat(129), volume_capabilities: [cap] }), status.INVALID_ARGUMENT, /128/);
      await rejects(C({ name: 'v', volume_capabilities: [b.unsupported] }), status.INVALID_ARGUMENT);
      await rejects(C({ name: 'v', volume_capabilities: [cap], parameters: { ...b.params, backend: 'nfs' } }), status.INVALID_ARGUMENT, /backend/);
      await rejects(C({ name: 'v', volume_capabilities: [cap], capacity_range: { required_bytes: 8 * MiB, limit_bytes: 4 * MiB } }), status.OUT_OF_RANGE);
      await rejects(C({ name: 'v', volume_capabilities: [cap], capacity_range: { required_bytes: 2 ** 52 } }), status.OUT_OF_RANGE);
      const badSource = C({ name: 'v', volume_capabilities: [cap], volume_content_source: { snapshot: { snapshot_id: 'snap-nope' } } });
      if (b.name === 'local') await rejects(badSource, status.NOT_FOUND); else await rejects(badSource, status.INVALID_ARGUMENT, /snapshot/);
      const req = { name: 'conf-vol', capacity_range: { required_bytes: 4 * MiB }, volume_capabilities: [cap] };
      const v = (await C(req)).volume;
      assert.equal(v.capacity_bytes, 4 * MiB);
      assert.equal(v.volume_context['io.stowage.csi.backend'], b.name);
      assert.deepEqual((await C(req)).volume, v, 'a repeat gives the same volume');
      await rejects(C({ ...req, capacity_range: { required_bytes: 64 * MiB } }), status.ALREADY_EXISTS);

      // DeleteVolume
      await rejects(c.call('Controller', 'DeleteVolume', {}), status.INVALID_ARGUMENT);
      await c.call('Controller', 'DeleteVolume', { volume_id: b.missingId });

      // ValidateVolumeCapabilities
      const V = (r: object) => c.call('Controller', 'ValidateVolumeCapabilities', r);
      await rejects(V({ volume_capabilities: [cap] }), status.INVALID_ARGUMENT);
      await rejects(V({ volume_id: v.volume_id }), status.INVALID_ARGUMENT);
      await rejects(V({ volume_id: b.missingId, volume_capabilities: [cap] }), status.NOT_FOUND);
      assert.equal((await V({ volume_id: v.volume_id, volume_capabilities: [cap, mountCap(b.singleMode)] })).confirmed.volume_capabilities.length, 2);
      assert.equal((await V({ volume_id: v.volume_id, volume_capabilities: [blockCap(b.singleMode)] })).confirmed, null);

      // ListVolumes, ControllerGetVolume
      const w = (await C({ name: 'conf-vol-2', capacity_range: { required_bytes: MiB }, volume_capabilities: [cap] })).volume;
      const p1 = await c.call('Controller', 'ListVolumes', { max_entries: 1 });
      assert.equal(p1.entries.length, 1);
      const p2 = await c.call('Controller', 'ListVolumes', { max_entries: 1, starting_token: p1.next_token });
      assert.deepEqual([p1, p2].map((p) => p.entries[0].volume.volume_id).sort(), [v.volume_id, w.volume_id].sort());
      await rejects(c.call('Controller', 'ListVolumes', { starting_token: 'nope' }), status.ABORTED);
      await rejects(c.call('Controller', 'ControllerGetVolume', {}), status.INVALID_ARGUMENT);
      await rejects(c.call('Controller', 'ControllerGetVolume', { volume_id: b.missingId }), status.NOT_FOUND);
      assert.equal((await c.call('Controller', 'ControllerGetVolume', { volume_id: v.volume_id })).volume.capacity_bytes, 4 * MiB);

      // GetCapacity for this class
      const gc = await c.call('Controller', 'GetCapacity', { volume_capabilities: [cap], parameters: b.params });
      assert.ok(gc.available_capacity > 0 && gc.maximum_volume_size.value >= gc.available_capacity);

      // Not offered: UNIMPLEMENTED.
      await rejects(c.call('Controller', 'ControllerPublishVolume', { volume_id: v.volume_id, node_id: 'node-1' }), status.UNIMPLEMENTED);
      await rejects(c.call('Controller', 'ControllerUnpublishVolume', { volume_id: v.volume_id }), status.UNIMPLEMENTED);
      await rejects(c.call('Controller', 'ControllerModifyVolume', { volume_id: v.volume_id, mutable_parameters: { a: 'b' } }), status.UNIMPLEMENTED);

      for (const x of [v, w]) {
        await c.call('Controller', 'DeleteVolume', { volume_id: x.volume_id });
        await c.call('Controller', 'DeleteVolume', { volume_id: x.volume_id });
      }
      await rejects(c.call('Controller', 'ControllerGetVolume', { volume_id: v.volume_id }), status.NOT_FOUND);
      assert.deepEqual((await c.call('Controller', 'ListVolumes', {})).entries, []);
    },
  },
  {
    name: 'Node: stage, publish (several targets where the mode allows, read-only), stats, expand, unpublish, unstage — each RPC\'s error codes',
    async run(t, b) {
      const h = await server(t, b);
      const c = h.client;
      const cap = mountCap(b.multiMode);
      const v = (await c.call('Controller', 'CreateVolume', { name: 'conf-node', parameters: b.params, capacity_range: { required_bytes: 8 * MiB }, volume_capabilities: [cap] })).volume;
      const id = v.volume_id;
      const ctx = v.volume_context;
      const stage = join(h.allowed, 'stage');
      const t1 = join(h.allowed, 't1');
      const t2 = join(h.allowed, 't2');
      const S = (r: object) => c.call('Node', 'NodeStageVolume', { volume_context: ctx, ...r });
      const P = (r: object) => c.call('Node', 'NodePublishVolume', { volume_context: ctx, ...r });

      // NodeStageVolume
      await rejects(S({ staging_target_path: stage, volume_capability: cap }), status.INVALID_ARGUMENT, /volume_id/);
      await rejects(S({ volume_id: id, volume_capability: cap }), status.INVALID_ARGUMENT, /staging_target_path/);
      await rejects(S({ volume_id: id, staging_target_path: stage }), status.INVALID_ARGUMENT, /volume_capability/);
      await rejects(S({ volume_id: b.missingId, staging_target_path: stage, volume_capability: cap, volume_context: {} }), status.NOT_FOUND);
      await rejects(S({ volume_id: id, staging_target_path: stage, volume_capability: blockCap(b.singleMode) }), status.FAILED_PRECONDITION);
      await rejects(S({ volume_id: id, staging_target_path: '/etc/x', volume_capability: cap }), status.INVALID_ARGUMENT, /outside/);
      assert.deepEqual(mountsUnder(h.allowed), [], 'refused stages leave nothing mounted');
      await S({ volume_id: id, staging_target_path: stage, volume_capability: cap });
      await S({ volume_id: id, staging_target_path: stage, volume_capability: cap }); // repeat: OK
      await rejects(S({ volume_id: id, staging_target_path: stage, volume_capability: mountCap(b.singleMode) }), status.ALREADY_EXISTS);

      // NodePublishVolume
      const pub = { volume_id: id, staging_target_path: stage, target_path: t1, volume_capability: cap };
      await rejects(P({ ...pub, staging_target_path: undefined }), status.FAILED_PRECONDITION, /staging_target_path/);
      await rejects(P({ ...pub, staging_target_path: join(h.allowed, 'elsewhere') }), status.FAILED_PRECONDITION, /not staged/);
      await rejects(P({ ...pub, target_path: undefined }), status.INVALID_ARGUMENT, /target_path/);
      await rejects(P({ ...pub, volume_id: b.missingId, volume_context: {} }), status.NOT_FOUND);
      await rejects(P({ ...pub, volume_capability: blockCap(b.singleMode) }), status.FAILED_PRECONDITION);
      await P(pub);
      await P(pub); // repeat: OK
      await rejects(P({ ...pub, readonly: true }), status.ALREADY_EXISTS);
      // The spec's table: another target is fine for this multi mode, not for a single-target mode.
      await P({ ...pub, target_path: t2 });
      await rejects(P({ ...pub, target_path: join(h.allowed, 't3'), volume_capability: mountCap(b.singleMode) }), status.FAILED_PRECONDITION, /one target/);
      writeFileSync(join(t1, 'hello.txt'), 'through t1\n');
      assert.equal(readFileSync(join(t2, 'hello.txt'), 'utf8'), 'through t1\n', 'both targets are the one volume');

      // Read-only publish
      const ro = join(h.allowed, 'ro');
      await P({ ...pub, target_path: ro, readonly: true });
      assert.throws(() => writeFileSync(join(ro, 'no.txt'), 'x'), /EROFS/);
      assert.equal(readFileSync(join(ro, 'hello.txt'), 'utf8'), 'through t1\n');

      // NodeGetVolumeStats: NOT_FOUND wherever the volume is not (issue 16 §4).
      const G = (r: object) => c.call('Node', 'NodeGetVolumeStats', r);
      await rejects(G({ volume_id: id }), status.INVALID_ARGUMENT, /volume_path/);
      await rejects(G({ volume_path: t1 }), status.INVALID_ARGUMENT, /volume_id/);
      await rejects(G({ volume_id: b.missingId, volume_path: t1 }), status.NOT_FOUND);
      mkdirSync(join(h.allowed, 'empty'));
      await rejects(G({ volume_id: id, volume_path: join(h.allowed, 'empty') }), status.NOT_FOUND, /not staged or published/);
      await rejects(G({ volume_id: id, volume_path: join(h.allowed, 'no', 'such', 'dir') }), status.NOT_FOUND);
      await rejects(G({ volume_id: id, volume_path: '/etc' }), status.NOT_FOUND);
      const st = await G({ volume_id: id, volume_path: t1 });
      assert.equal(st.usage.find((u: any) => u.unit === 'BYTES').total <= 8 * MiB, true);
      assert.equal(st.volume_condition.abnormal, false);

      // NodeExpandVolume
      const X = (r: object) => c.call('Node', 'NodeExpandVolume', r);
      await rejects(X({ volume_id: id }), status.INVALID_ARGUMENT);
      await rejects(X({ volume_id: b.missingId, volume_path: t1 }), status.NOT_FOUND);
      await rejects(X({ volume_id: id, volume_path: join(h.allowed, 'empty') }), status.NOT_FOUND);
      await rejects(X({ volume_id: id, volume_path: t1, volume_capability: blockCap(b.singleMode) }), status.INVALID_ARGUMENT);
      assert.equal((await X({ volume_id: id, volume_path: t1 })).capacity_bytes, 8 * MiB);

      // In use
      await rejects(c.call('Controller', 'DeleteVolume', { volume_id: id }), status.FAILED_PRECONDITION, /in use/);
      await rejects(c.call('Node', 'NodeUnstageVolume', { volume_id: id, staging_target_path: stage }), status.FAILED_PRECONDITION, /published/);

      // NodeUnpublishVolume, NodeUnstageVolume
      const U = (r: object) => c.call('Node', 'NodeUnpublishVolume', r);
      await rejects(U({ volume_id: id }), status.INVALID_ARGUMENT);
      await rejects(U({ target_path: t1 }), status.INVALID_ARGUMENT);
      await rejects(U({ volume_id: 'csi-nope', target_path: t1 }), status.NOT_FOUND);
      for (const p of [t1, t2, ro]) {
        await U({ volume_id: id, target_path: p });
        await U({ volume_id: id, target_path: p }); // repeat: OK
        assert.equal(existsSync(p), false, 'the target the plugin made is removed');
      }
      const UN = (r: object) => c.call('Node', 'NodeUnstageVolume', r);
      await rejects(UN({ volume_id: id }), status.INVALID_ARGUMENT);
      await rejects(UN({ volume_id: 'csi-nope', staging_target_path: stage }), status.NOT_FOUND);
      await UN({ volume_id: id, staging_target_path: stage });
      await UN({ volume_id: id, staging_target_path: stage }); // repeat: OK
      assert.deepEqual(mountsUnder(h.dir), []);

      // The data outlives the stage: stage once more and read it.
      await S({ volume_id: id, staging_target_path: stage, volume_capability: cap });
      await P(pub);
      assert.equal(readFileSync(join(t1, 'hello.txt'), 'utf8'), 'through t1\n');
      await U({ volume_id: id, target_path: t1 });
      await UN({ volume_id: id, staging_target_path: stage });
      await c.call('Controller', 'DeleteVolume', { volume_id: id });
      await rejects(S({ volume_id: id, staging_target_path: stage, volume_capability: cap }), status.NOT_FOUND);
      assert.deepEqual(mountsUnder(h.dir), []);
    },
  },
  {
    name: 'Snapshots and expansion: each RPC\'s error codes; GlusterFS volumes refuse snapshots with INVALID_ARGUMENT',
    async run(t, b) {
      const h = await server(t, b);
      const c = h.client;
      const cap = mountCap(b.multiMode);
      const v = (await c.call('Controller', 'CreateVolume', { name: 'conf-snap', parameters: b.params, capacity_range: { required_bytes: 4 * MiB }, volume_capabilities: [cap] })).volume;
      const S = (r: object) => c.call('Controller', 'CreateSnapshot', r);
      await rejects(S({ name: 's' }), status.INVALID_ARGUMENT, /source_volume_id/);
      await rejects(S({ source_volume_id: v.volume_id }), status.INVALID_ARGUMENT, /name/);
      if (b.name === 'local') {
        await rejects(S({ name: 's', source_volume_id: b.missingId }), status.NOT_FOUND);
        const s = (await S({ name: 's', source_volume_id: v.volume_id })).snapshot;
        assert.deepEqual((await S({ name: 's', source_volume_id: v.volume_id })).snapshot, s);
        const other = (await c.call('Controller', 'CreateVolume', { name: 'conf-snap-2', parameters: b.params, volume_capabilities: [cap], capacity_range: { required_bytes: MiB } })).volume;
        await rejects(S({ name: 's', source_volume_id: other.volume_id }), status.ALREADY_EXISTS);
        await c.call('Controller', 'DeleteSnapshot', { snapshot_id: s.snapshot_id });
        await c.call('Controller', 'DeleteVolume', { volume_id: other.volume_id });
      } else {
        await rejects(S({ name: 's', source_volume_id: v.volume_id }), status.INVALID_ARGUMENT, /no snapshots/);
        await rejects(c.call('Controller', 'CreateVolume', { name: 'clone', parameters: b.params, volume_capabilities: [cap], volume_content_source: { volume: { volume_id: v.volume_id } } }), status.INVALID_ARGUMENT);
      }
      await rejects(c.call('Controller', 'DeleteSnapshot', {}), status.INVALID_ARGUMENT);
      await c.call('Controller', 'DeleteSnapshot', { snapshot_id: 'snap-nope' }); // unknown: OK
      await rejects(c.call('Controller', 'GetSnapshot', { snapshot_id: 'snap-nope' }), status.NOT_FOUND);
      await rejects(c.call('Controller', 'ListSnapshots', { starting_token: 'bad' }), status.ABORTED);
      assert.deepEqual((await c.call('Controller', 'ListSnapshots', {})).entries, []);

      // ControllerExpandVolume
      const E = (r: object) => c.call('Controller', 'ControllerExpandVolume', r);
      await rejects(E({ capacity_range: { required_bytes: 8 * MiB } }), status.INVALID_ARGUMENT);
      await rejects(E({ volume_id: v.volume_id }), status.INVALID_ARGUMENT, /capacity_range/);
      await rejects(E({ volume_id: b.missingId, capacity_range: { required_bytes: 8 * MiB } }), status.NOT_FOUND);
      await rejects(E({ volume_id: v.volume_id, capacity_range: { required_bytes: 8 * MiB }, volume_capability: blockCap(b.singleMode) }), status.INVALID_ARGUMENT);
      await rejects(E({ volume_id: v.volume_id, capacity_range: { limit_bytes: 2 * MiB } }), status.OUT_OF_RANGE);
      assert.equal((await E({ volume_id: v.volume_id, capacity_range: { required_bytes: MiB } })).capacity_bytes, 4 * MiB, 'no shrinking: a no-op');
      assert.equal((await E({ volume_id: v.volume_id, capacity_range: { required_bytes: 12 * MiB } })).capacity_bytes, 12 * MiB);
      assert.equal((await c.call('Controller', 'ControllerGetVolume', { volume_id: v.volume_id })).volume.capacity_bytes, 12 * MiB);
      await c.call('Controller', 'DeleteVolume', { volume_id: v.volume_id });
    },
  },
];
