// node.ts: the CSI Node service. Staging mounts a mount volume's ext4 image (loop,
// nosuid, nodev, plus the capability's mount flags) on the staging path, or attaches
// a block volume's image as a loop device. Publishing bind-mounts the stage (or the
// loop device, onto a file) at the target, read-only when asked. Every path must lie
// in an allowed folder (validate.ts checkNodePath). A row is written before each
// mount ('creating'), turns 'ready' after, and is marked 'removing' before the
// unmount, so recovery can finish either way after a crash.
// A GlusterFS volume (gluster.ts) stages as a FUSE mount of its whole Gluster volume
// and publishes as a bind of its directory; a node may stage one another node's
// controller made, from its id and volume_context alone (a "learned" record).
import { existsSync, lstatSync, mkdirSync, rmdirSync, statfsSync, unlinkSync, writeFileSync } from 'node:fs';
import { mountAll, isMountPoint } from '../drivers/mount.js';
import { ownerAlive } from '../store/owner.js';
import type { CsiPlugin } from './plugin.js';
import type { Controller } from './controller.js';
import type { NodePathRow, VolumeRow } from './records.js';
import type { VolumeCapability } from './proto.js';
import { aborted, exists, invalid, notFoundCsi, outOfRange, precondition } from './status.js';
import { capabilityAccessType, capabilityProblem, checkMap, checkNodePath, ONE_TARGET_MODES, READ_ONLY_MODES, requireString } from './validate.js';
import { attachLoop, detachLoop, mountImage } from './backing.js';
import { undoNodePath } from './recover.js';
import { glusterFromRequest, mountGluster, type GlusterId } from './gluster.js';
import { dirname, join } from 'node:path';

type Req = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The access mode recorded in a capability key. */
const modeOfKey = (key: string): string => { try { return (JSON.parse(key) as { m?: string }).m ?? ''; } catch { return ''; } };

/** A capability as recorded, for comparing repeats (mode, type, fs type, flags). */
function capKey(c: VolumeCapability): string {
  return JSON.stringify({ t: c.access_type ?? (c.block ? 'block' : 'mount'), m: c.access_mode?.mode, fs: c.mount?.fs_type ?? '', f: c.mount?.mount_flags ?? [] });
}

export class Node {
  constructor(private readonly p: CsiPlugin, private readonly controller: Controller) {}

  private volume(id: string): VolumeRow {
    const v = this.p.records.volumeById(id);
    if (!v || v.state !== 'ready') throw notFoundCsi(`volume ${id} does not exist`);
    return v;
  }

  /**
   * A volume a node call names, or null for a GlusterFS volume this node has nothing of
   * (its id is well formed, so the volume may well exist: nothing to undo here).
   */
  private known(id: string): VolumeRow | null {
    const v = this.p.records.volumeById(id);
    if (v && v.state === 'ready') return v;
    if (this.p.glusterOf(id)) return null;
    throw notFoundCsi(`volume ${id} does not exist`);
  }

  /** Drops the record of a shared volume this node only learned about, once nothing of it is mounted here. */
  private forget(id: string): void {
    this.p.records.forgetLearned(id);
  }

  /** A row another call or process is working on: ABORTED while its owner lives, undone when it is dead. */
  private async settle(r: NodePathRow | undefined): Promise<NodePathRow | undefined> {
    if (!r || r.state === 'ready') return r;
    if (ownerAlive(r.owner)) throw aborted(`${r.path} is being ${r.state === 'creating' ? 'mounted' : 'unmounted'}`);
    await undoNodePath(this.p, r);
    return undefined;
  }

  async NodeStageVolume(req: Req) {
    const p = this.p;
    const id = requireString(req.volume_id, 'volume_id');
    const raw = requireString(req.staging_target_path, 'staging_target_path');
    const cap = req.volume_capability as VolumeCapability;
    const type = capabilityAccessType(cap, 'volume_capability');
    checkMap(req.secrets, 'secrets');
    const path = checkNodePath(raw, 'staging_target_path', p.allowedDirs);
    const gluster = glusterFromRequest(id, checkMap(req.volume_context, 'volume_context'), p.glusterArgs);
    return p.locks.with([`volume:${id}`, `path:${path}`], async () => {
      // A GlusterFS volume made by another node's controller: everything needed is in its id and context.
      const v = gluster && !p.records.volumeById(id)
        ? p.records.learnVolume(id, { backend: 'glusterfs', servers: gluster.target.servers.join(','), volume: gluster.target.volume })
        : this.volume(id);
      const why = capabilityProblem(cap, v.access_type, p.backendOf(v));
      if (why || type !== v.access_type) {
        this.forget(id);
        throw precondition(`volume_capability: ${why ?? `the volume is a ${v.access_type} volume`}`);
      }
      try {
        return await this.stage(v, path, cap, gluster);
      } finally {
        this.forget(id); // kept only while a node path points at it
      }
    });
  }

  private async stage(v: VolumeRow, path: string, cap: VolumeCapability, gluster: GlusterId | null): Promise<object> {
    const p = this.p;
    const id = v.id;
    const here = await this.settle(p.records.nodePath('stage', path));
    if (here) {
      if (here.volume_id === id && here.capability === capKey(cap)) return {};
      throw exists(`${path} already has ${here.volume_id === id ? 'this volume staged with another capability' : `volume ${here.volume_id} staged`}`);
    }
    const other = p.records.nodePathsOf(id, 'stage');
    if (other.length) throw precondition(`volume ${id} is already staged at ${other[0]!.path}`);
    if (!p.records.insertNodePath({ kind: 'stage', path, volume_id: id, capability: capKey(cap), readonly: 0, device: null, staging_path: null })) throw aborted(`${path} is being staged`);
    let made = false;
    try {
      if (gluster) {
        // The whole Gluster volume, once for this volume on this node; publishes bind its directory.
        if (!existsSync(path)) { mkdirSync(path, { mode: 0o750 }); made = true; }
        mkdirSync(dirname(p.gluster.logFile()), { recursive: true }); // the FUSE client's log
        await mountGluster(gluster.target, path, p.gluster.logFile(), cap.mount?.mount_flags ?? []);
        if (!existsSync(join(path, 'volumes', gluster.dir))) throw notFoundCsi(`volume ${id} does not exist: Gluster volume ${gluster.target.volume} has no volumes/${gluster.dir}`);
        p.records.setNodePathState('stage', path, 'ready');
      } else if (v.access_type === 'mount') {
        if (!existsSync(path)) { mkdirSync(path, { mode: 0o750 }); made = true; }
        await mountImage(p.imageOf(v), path, cap.mount?.mount_flags ?? []);
        p.records.setNodePathState('stage', path, 'ready');
      } else {
        const dev = await attachLoop(p.imageOf(v));
        p.records.setNodePathState('stage', path, 'ready', dev);
      }
    } catch (err) {
      const row = p.records.nodePath('stage', path);
      if (row) await undoNodePath(p, row);
      if (made) try { rmdirSync(path); } catch { /* not empty or gone */ }
      throw err;
    }
    return {};
  }

  async NodeUnstageVolume(req: Req) {
    const p = this.p;
    const id = requireString(req.volume_id, 'volume_id');
    const path = checkNodePath(requireString(req.staging_target_path, 'staging_target_path'), 'staging_target_path', p.allowedDirs);
    return p.locks.with([`volume:${id}`, `path:${path}`], async () => {
      if (!this.known(id)) return {};
      const r = await this.settle(p.records.nodePath('stage', path));
      if (!r || r.volume_id !== id) { this.forget(id); return {}; }
      const pubs = p.records.nodePathsOf(id, 'publish').filter((x) => x.staging_path === path);
      if (pubs.length) throw precondition(`volume ${id} is still published at ${pubs.map((x) => x.path).join(', ')}`);
      p.records.setNodePathState('stage', path, 'removing');
      await undoNodePath(p, r);
      this.forget(id);
      return {};
    });
  }

  async NodePublishVolume(req: Req) {
    const p = this.p;
    const id = requireString(req.volume_id, 'volume_id');
    const rawTarget = requireString(req.target_path, 'target_path');
    const cap = req.volume_capability as VolumeCapability;
    const type = capabilityAccessType(cap, 'volume_capability');
    checkMap(req.secrets, 'secrets');
    if (!req.staging_target_path) throw precondition('staging_target_path is required: this plugin stages volumes (STAGE_UNSTAGE_VOLUME)');
    const staging = checkNodePath(requireString(req.staging_target_path, 'staging_target_path'), 'staging_target_path', p.allowedDirs);
    const target = checkNodePath(rawTarget, 'target_path', p.allowedDirs);
    if (target === staging) throw invalid('target_path must differ from staging_target_path');
    const readonly = !!req.readonly || READ_ONLY_MODES.includes(cap.access_mode?.mode ?? 'UNKNOWN');
    return p.locks.with([`volume:${id}`, `path:${target}`], async () => {
      const v = this.volume(id);
      const gluster = p.glusterOf(id);
      const why = capabilityProblem(cap, v.access_type, p.backendOf(v));
      if (why || type !== v.access_type) throw precondition(`volume_capability: ${why ?? `the volume is a ${v.access_type} volume`}`);
      const here = await this.settle(p.records.nodePath('publish', target));
      if (here) {
        if (here.volume_id === id && here.capability === capKey(cap) && !!here.readonly === readonly && here.staging_path === staging) return {};
        throw exists(`${target} already has ${here.volume_id === id ? 'this volume published differently (capability, read-only or stage)' : `volume ${here.volume_id} published`}`);
      }
      const stage = p.records.nodePath('stage', staging);
      if (!stage || stage.state !== 'ready' || stage.volume_id !== id) throw precondition(`volume ${id} is not staged at ${staging}`);
      // The spec's table: a second target path is fine for MULTI_NODE_* and SINGLE_NODE_MULTI_WRITER only.
      const others = p.records.nodePathsOf(id, 'publish');
      const oneTarget = (m: string) => (ONE_TARGET_MODES as readonly string[]).includes(m);
      const blocker = others.find((o) => oneTarget(modeOfKey(o.capability)) || oneTarget(cap.access_mode?.mode ?? ''));
      if (blocker) throw precondition(`volume ${id} is already published at ${blocker.path}; access mode ${oneTarget(cap.access_mode?.mode ?? '') ? cap.access_mode?.mode : modeOfKey(blocker.capability)} allows one target path on this node`);
      // A read-only publish records no device until its own read-only loop device is
      // attached (below): undo detaches a read-only publish's device, never the stage's.
      if (!p.records.insertNodePath({ kind: 'publish', path: target, volume_id: id, capability: capKey(cap), readonly: readonly ? 1 : 0, device: readonly ? null : stage.device, staging_path: staging })) {
        throw aborted(`${target} is being published`);
      }
      let made = false;
      try {
        if (v.access_type === 'mount') {
          if (!existsSync(target)) { mkdirSync(target, { mode: 0o750 }); made = true; }
          // A GlusterFS stage holds the whole Gluster volume: the pod gets its volume's directory only.
          const source = gluster ? join(staging, 'volumes', gluster.dir) : staging;
          mountAll([{ type: 'bind', source, options: ['bind', ...(readonly ? ['ro'] : [])] }], target);
        } else {
          if (!existsSync(target)) { writeFileSync(target, '', { mode: 0o600, flag: 'wx' }); made = true; }
          // A read-only mount does not stop writes to a device node: a read-only
          // publish gets a read-only loop device of its own.
          const dev = readonly ? await attachLoop(p.imageOf(v), true) : stage.device!;
          if (readonly) p.records.setNodePathState('publish', target, 'creating', dev);
          mountAll([{ type: 'bind', source: dev, options: ['bind', ...(readonly ? ['ro'] : [])] }], target);
        }
        p.records.setNodePathState('publish', target, 'ready');
      } catch (err) {
        const row = p.records.nodePath('publish', target);
        if (row) await undoNodePath(p, row);
        if (made) removeTarget(target);
        throw err;
      }
      return {};
    });
  }

  async NodeUnpublishVolume(req: Req) {
    const p = this.p;
    const id = requireString(req.volume_id, 'volume_id');
    const target = checkNodePath(requireString(req.target_path, 'target_path'), 'target_path', p.allowedDirs);
    return p.locks.with([`volume:${id}`, `path:${target}`], async () => {
      if (!this.known(id)) return {};
      const r = await this.settle(p.records.nodePath('publish', target));
      if (!r || r.volume_id !== id) return {};
      p.records.setNodePathState('publish', target, 'removing');
      await undoNodePath(p, r);
      removeTarget(target);
      return {};
    });
  }

  /**
   * The volume's stage or publish row at path; NOT_FOUND when the volume is not there —
   * also for a path that is not clean, lies outside the allowed folders or does not
   * exist: the volume cannot be there (the spec's NodeGetVolumeStats and NodeExpandVolume tables).
   */
  private at(v: VolumeRow, raw: string, field: string): NodePathRow {
    let path: string;
    try { path = checkNodePath(raw, field, this.p.allowedDirs); } catch (err) {
      throw notFoundCsi(`volume ${v.id} is not staged or published at ${raw}: ${(err as Error).message}`);
    }
    const r = this.p.records.nodePath('publish', path) ?? this.p.records.nodePath('stage', path);
    if (!r || r.volume_id !== v.id || r.state !== 'ready') throw notFoundCsi(`volume ${v.id} is not staged or published at ${raw}`);
    return r;
  }

  async NodeGetVolumeStats(req: Req) {
    const id = requireString(req.volume_id, 'volume_id');
    const raw = requireString(req.volume_path, 'volume_path');
    const v = this.volume(id);
    const r = this.at(v, raw, 'volume_path');
    const mounted = v.access_type === 'block' ? existsSync(r.device ?? '') : isMountPoint(r.path);
    const condition = mounted ? { abnormal: false, message: 'healthy' } : { abnormal: true, message: `${r.path} is no longer ${v.access_type === 'block' ? 'attached' : 'mounted'}` };
    if (v.access_type === 'block') return { usage: [{ total: v.capacity, available: 0, used: 0, unit: 'BYTES' }], volume_condition: condition };
    const s = statfsSync(r.path);
    return {
      usage: [
        { total: s.blocks * s.bsize, available: s.bavail * s.bsize, used: (s.blocks - s.bfree) * s.bsize, unit: 'BYTES' },
        { total: s.files, available: s.ffree, used: s.files - s.ffree, unit: 'INODES' },
      ],
      volume_condition: condition,
    };
  }

  /** The controller grows everything on this one host; here the node makes sure it is done (idempotent). */
  async NodeExpandVolume(req: Req) {
    const p = this.p;
    const id = requireString(req.volume_id, 'volume_id');
    const raw = requireString(req.volume_path, 'volume_path');
    return p.locks.with([`volume:${id}`], async () => {
      const v = this.volume(id);
      this.at(v, raw, 'volume_path');
      if (req.volume_capability) {
        capabilityAccessType(req.volume_capability, 'volume_capability');
        const why = capabilityProblem(req.volume_capability, v.access_type);
        if (why) throw invalid(`volume_capability: ${why}`);
      }
      // A GlusterFS volume's quota is the controller's; there is nothing to grow on a node.
      if (p.glusterOf(id)) return { capacity_bytes: Math.max(v.capacity, req.capacity_range?.required_bytes ?? 0) };
      const want = req.capacity_range?.required_bytes ?? 0;
      const limit = req.capacity_range?.limit_bytes ?? 0;
      if (want > v.capacity) throw outOfRange(`required_bytes ${want} is above the volume's ${v.capacity} bytes: expand it through the controller first`);
      if (limit > 0 && limit < v.capacity) throw outOfRange(`limit_bytes ${limit} is below the volume's ${v.capacity} bytes`);
      // Grown already when the controller expanded it; a mounted filesystem can grow here only with CAP_SYS_RESOURCE.
      if (v.access_type === 'mount' && !p.onlineExpansion) return { capacity_bytes: v.capacity };
      await this.controller.grow(v, v.capacity);
      return { capacity_bytes: v.capacity };
    });
  }

  async NodeGetCapabilities() {
    return { capabilities: ['STAGE_UNSTAGE_VOLUME', 'GET_VOLUME_STATS', 'EXPAND_VOLUME', 'VOLUME_CONDITION', 'SINGLE_NODE_MULTI_WRITER'].map((type) => ({ rpc: { type } })) };
  }

  async NodeGetInfo() {
    return { node_id: this.p.nodeId, max_volumes_per_node: 0, accessible_topology: this.p.topology };
  }
}

/** Removes a target this plugin made: an empty folder or an empty file. */
function removeTarget(path: string): void {
  try {
    const st = lstatSync(path);
    if (st.isDirectory()) rmdirSync(path);
    else if (st.isFile() && st.size === 0) unlinkSync(path);
  } catch { /* gone, or not empty: leave it */ }
}
