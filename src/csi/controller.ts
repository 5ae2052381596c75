// controller.ts: the CSI Controller service over stowage volumes. A CSI volume is a
// stowage volume (id = its name, labelled io.stowage.csi=1): a mount volume has the
// local driver's `size` quota (an ext4 image), a block volume holds a sparse
// block.img. Snapshots are sparse copies of the image under csi/snapshots/; clones
// and restores copy an image into the new volume and grow it to the new capacity.
//
// Order of work, for crash safety: the CSI row first ('creating', owner token), then
// the stowage volume and its contents, then 'ready'. Deletion removes the row first
// (SQLite refuses while a node path points at it), the stowage volume after.
// GlusterFS volumes (StorageClass backend: glusterfs, see gluster.ts) are directories of
// a Gluster volume with a quota; any node's controller can find, grow and delete them.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statfsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ownerAlive } from '../store/owner.js';
import { isForeignKeyViolation } from '../store/db.js';
import { isNotFound } from '../errors.js';
import type { CapacityRange, Topology, VolumeCapability, VolumeContentSource } from './proto.js';
import { CsiPlugin } from './plugin.js';
import type { AccessType, VolumeRow } from './records.js';
import { aborted, exhausted, exists, invalid, notFoundCsi, outOfRange, precondition } from './status.js';
import { capabilityAccessType, capabilityProblem, checkCapabilities, checkMap, chooseCapacity, MIN_CAPACITY, requireString } from './validate.js';
import { copyImage, growFile, loopDevicesOf, refreshLoop, resizeDeviceOnline, resizeImageOffline, whileFrozen } from './backing.js';
import { recoverVolume, recoverSnapshot } from './recover.js';
import { backendOf, glusterTarget, glusterVolumeId, quotaSize } from './gluster.js';
import type { GlusterLayout } from '../plugins/glusterfs/volume.js';

type Req = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const sameMap = (a: Record<string, string>, b: Record<string, string>) =>
  JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

/** Loop devices of an image that are mounted (source field of mountinfo). */
function mountedDevices(devs: string[], mountinfo: string): string[] {
  return devs.filter((d) => mountinfo.includes(` - ext4 ${d} `));
}

/** The size of a mounted Gluster volume: the largest quota a directory of it can have. */
function statfsTotal(g: GlusterLayout): number {
  const s = statfsSync(g.base);
  return s.blocks * s.bsize;
}

/**
 * The ready volume of that name, if any. A half-made one whose creator is alive is
 * ABORTED (being created); one whose creator died is recovered (removed) first, so the
 * caller creates it anew.
 */
async function readyByName(p: CsiPlugin, name: string) {
  const existing = p.records.volumeByName(name);
  if (existing && existing.state === 'creating') {
    if (ownerAlive(existing.owner)) throw aborted(`volume ${name} is being created by another process`);
    await recoverVolume(p, existing);
    return undefined;
  }
  return existing;
}

export class Controller {
  constructor(private readonly p: CsiPlugin) {}

  async CreateVolume(req: Req) {
    const p = this.p;
    const name = requireString(req.name, 'name');
    const parameters = checkMap(req.parameters, 'parameters');
    const backend = backendOf(parameters);
    const access = checkCapabilities(req.volume_capabilities as VolumeCapability[], 'volume_capabilities', backend);
    checkMap(req.secrets, 'secrets');
    if (Object.keys(req.mutable_parameters ?? {}).length) throw invalid('mutable_parameters are not supported (MODIFY_VOLUME is not offered)');
    if (backend === 'glusterfs') return this.createGluster(req, name, parameters);
    // A local volume lives on this node: it is made only when the topology asked for names this node.
    const reqs = req.accessibility_requirements as { requisite?: Topology[]; preferred?: Topology[] } | null;
    const named = [...(reqs?.requisite ?? []), ...(reqs?.preferred ?? [])];
    if (named.length && !named.some((t) => p.topologyMatches(t))) {
      throw exhausted(`neither the requisite nor the preferred topology names this node (${JSON.stringify(p.topology.segments)}): local volumes are made only on the node they live on`);
    }
    const source = req.volume_content_source as VolumeContentSource | null;
    let sourceKind: '' | 'snapshot' | 'volume' = '';
    let sourceId = '';
    if (source && (source.type || source.snapshot || source.volume)) {
      sourceKind = source.type ?? (source.snapshot ? 'snapshot' : 'volume');
      sourceId = sourceKind === 'snapshot' ? requireString(source.snapshot?.snapshot_id, 'volume_content_source.snapshot.snapshot_id')
        : requireString(source.volume?.volume_id, 'volume_content_source.volume.volume_id');
    }
    const id = CsiPlugin.volumeId(name);
    return p.locks.with([`name:${name}`, `volume:${id}`], async () => {
      const existing = await readyByName(p, name);
      if (existing) return { volume: p.toVolume(this.compatible(existing, req.capacity_range, access, parameters, sourceKind, sourceId)) };

      // The source, its access type and size.
      let sourceImage: string | null = null;
      let sourceRow: VolumeRow | undefined;
      let floor = 0;
      if (sourceKind === 'snapshot') {
        const s = p.records.snapshotById(sourceId);
        if (!s || s.state !== 'ready') throw notFoundCsi(`snapshot ${sourceId} does not exist`);
        if (s.access_type !== access) throw invalid(`snapshot ${sourceId} is of a ${s.access_type} volume; it cannot restore a ${access} volume`);
        sourceImage = p.layout.csiSnapshot(s.id);
        floor = s.size;
      } else if (sourceKind === 'volume') {
        sourceRow = p.records.volumeById(sourceId);
        if (!sourceRow || sourceRow.state !== 'ready') throw notFoundCsi(`volume ${sourceId} does not exist`);
        if (sourceRow.access_type !== access) throw invalid(`volume ${sourceId} is a ${sourceRow.access_type} volume; it cannot be cloned as a ${access} volume`);
        sourceImage = p.imageOf(sourceRow);
        floor = sourceRow.capacity;
      }
      const range = req.capacity_range as CapacityRange | null;
      if (floor && range?.limit_bytes && range.limit_bytes < floor) throw outOfRange(`capacity_range: limit_bytes ${range.limit_bytes} is below the source's ${floor} bytes`);
      const capacity = chooseCapacity(range, p.space().total, floor);

      if (!p.records.insertVolume({ id, name, capacity, access_type: access, parameters: JSON.stringify(parameters), source_kind: sourceKind, source_id: sourceId })) {
        throw aborted(`volume ${name} is being created by another call`);
      }
      try {
        await this.makeVolume(id, name, access, capacity, sourceImage, sourceRow);
        p.records.markVolumeReady(id);
      } catch (err) {
        const row = p.records.volumeById(id);
        if (row) await recoverVolume(p, row, true);
        throw err;
      }
      return { volume: p.toVolume(p.records.volumeById(id)!) };
    });
  }

  /**
   * A GlusterFS volume: a directory of the Gluster volume with the capacity as a quota.
   * Row first ('creating'), then directory, quota and metadata file, then 'ready'. The
   * directory's name comes from the CSI name, so another node's controller asked for
   * the same name finds the same directory and gives the same volume.
   */
  private async createGluster(req: Req, name: string, parameters: Record<string, string>) {
    const p = this.p;
    const source = req.volume_content_source as VolumeContentSource | null;
    if (source && (source.type || source.snapshot || source.volume)) {
      throw invalid('volume_content_source: GlusterFS volumes cannot be made from a snapshot or another volume (CLONE_VOLUME and snapshots are local volumes only)');
    }
    const target = glusterTarget(parameters, p.glusterArgs);
    const dir = CsiPlugin.volumeId(name);
    const id = glusterVolumeId(target, dir);
    const range = req.capacity_range as CapacityRange | null;
    return p.locks.with([`name:${name}`, `volume:${id}`], async () => {
      const existing = await readyByName(p, name);
      if (existing) return { volume: p.toVolume(this.compatible(existing, range, 'mount', parameters, '', '')) };
      return p.gluster.with(target, async (g) => {
        const capacity = chooseCapacity(range, statfsTotal(g));
        const meta = g.readMeta(dir);
        // A directory without metadata is what an interrupted create of this very name
        // left (the directory's name comes from the CSI name): it is made again below.
        if (meta) {
          // Made before, by this controller's process that lost its row, or by another node's controller.
          if (meta.csi?.name !== name) throw exists(`directory volumes/${dir} of Gluster volume ${target.volume} exists and is not CSI volume ${name}`);
          const have = meta.csi.capacity;
          if ((range?.required_bytes ?? 0) > have || ((range?.limit_bytes ?? 0) > 0 && have > range!.limit_bytes!)) {
            throw exists(`volume ${name} already exists and is incompatible: its capacity ${have} is outside capacity_range`);
          }
          this.recordGluster(id, name, have, parameters);
          return { volume: p.toVolume(p.records.volumeById(id)!) };
        }
        if (p.records.isLearned(id)) p.records.adoptLearned(id, name, capacity, parameters);
        else if (!p.records.insertVolume({ id, name, capacity, access_type: 'mount', parameters: JSON.stringify(parameters), source_kind: '', source_id: '' })) {
          throw aborted(`volume ${name} is being created by another call`);
        }
        try {
          mkdirSync(g.data(dir), { recursive: true, mode: 0o777 }); // another node's controller may be making it at this instant
          g.setQuota(dir, quotaSize(capacity));
          g.writeMeta(dir, { createdAt: new Date().toISOString(), options: { size: quotaSize(capacity) }, csi: { name, capacity } });
          p.records.markVolumeReady(id, false);
        } catch (err) {
          p.records.deleteVolume(id);
          g.removeQuota(dir);
          g.removeVolume(dir);
          throw err;
        }
        return { volume: p.toVolume(p.records.volumeById(id)!) };
      });
    });
  }

  /** Records a GlusterFS volume found on the Gluster volume (made before) as this controller's. */
  private recordGluster(id: string, name: string, capacity: number, parameters: Record<string, string>): void {
    const p = this.p;
    if (p.records.isLearned(id)) { p.records.adoptLearned(id, name, capacity, parameters); return; }
    if (!p.records.volumeById(id)) {
      p.records.insertVolume({ id, name, capacity, access_type: 'mount', parameters: JSON.stringify(parameters), source_kind: '', source_id: '' });
      p.records.markVolumeReady(id, false);
    }
  }

  /**
   * A ready volume by id. A GlusterFS volume is asked of the Gluster volume itself (its
   * metadata file): another node's controller may have made or deleted it; this node's
   * row, when there is one, gives the rest.
   */
  private async findVolume(id: string): Promise<VolumeRow | undefined> {
    const v = this.p.records.volumeById(id);
    const g = this.p.glusterOf(id);
    if (!g) return v?.state === 'ready' ? v : undefined;
    const meta = await this.p.gluster.with(g.target, (l) => l.readMeta(g.dir));
    if (!meta?.csi) return undefined;
    if (v?.state === 'ready' && !this.p.records.isLearned(id)) return { ...v, capacity: meta.csi.capacity };
    return { id, name: meta.csi.name, volume: null, capacity: meta.csi.capacity, access_type: 'mount', parameters: JSON.stringify({ backend: 'glusterfs', servers: g.target.servers.join(','), volume: g.target.volume }),
      source_kind: '', source_id: '', state: 'ready', owner: null, created_at: Date.parse(meta.createdAt) || 0 };
  }

  /** The existing volume when the request is compatible with it, else ALREADY_EXISTS. */
  private compatible(v: VolumeRow, range: CapacityRange | null, access: AccessType, parameters: Record<string, string>, kind: string, sourceId: string): VolumeRow {
    const why = v.access_type !== access ? `it is a ${v.access_type} volume`
      : (range?.required_bytes ?? 0) > v.capacity ? `its capacity ${v.capacity} is below required_bytes ${range?.required_bytes}`
      : (range?.limit_bytes ?? 0) > 0 && v.capacity > range!.limit_bytes! ? `its capacity ${v.capacity} is above limit_bytes ${range?.limit_bytes}`
      : !sameMap(JSON.parse(v.parameters), parameters) ? 'its parameters differ'
      : v.source_kind !== kind || v.source_id !== sourceId ? 'its content source differs'
      : null;
    if (why) throw exists(`volume ${v.name} already exists and is incompatible: ${why}`);
    return v;
  }

  private async makeVolume(id: string, name: string, access: AccessType, capacity: number, sourceImage: string | null, sourceRow?: VolumeRow): Promise<void> {
    const p = this.p;
    const labels = p.labelsFor(name, access);
    if (access === 'mount') {
      await p.volumes.create(id, { driver: 'local', labels, options: { size: String(capacity) } });
    } else {
      await p.volumes.create(id, { driver: 'local', labels });
    }
    const image = p.imageOf({ id, access_type: access });
    const stage = p.layout.tmpPath(`csi-image-${id}`);
    try {
      if (sourceImage) {
        const live = sourceRow ? p.mountedAt(sourceRow) : null;
        await whileFrozen(live, () => copyImage(sourceImage, stage));
        await growFile(stage, capacity);
        if (access === 'mount') await resizeImageOffline(stage);
      } else if (access === 'block') {
        const fh = await open(stage, 'wx', 0o600);
        try { await fh.truncate(capacity); } finally { await fh.close(); }
      }
      if (sourceImage || access === 'block') renameSync(stage, image);
    } finally {
      rmSync(stage, { force: true });
    }
  }

  async DeleteVolume(req: Req) {
    const p = this.p;
    const id = requireString(req.volume_id, 'volume_id');
    checkMap(req.secrets, 'secrets');
    return p.locks.with([`volume:${id}`], async () => {
      const v = p.records.volumeById(id);
      if (p.glusterOf(id)) return this.deleteGluster(id, v);
      if (!v) return {};
      if (v.state === 'creating') {
        if (ownerAlive(v.owner)) throw aborted(`volume ${id} is being created`);
        await recoverVolume(p, v);
        return {};
      }
      const paths = p.records.nodePathsOf(id);
      if (paths.length) throw precondition(`volume ${id} is in use: ${paths.map((r) => `${r.kind}d at ${r.path}`).join(', ')}`);
      if (p.volumes.find(id) && p.volumes.isUsed(id)) throw precondition(`volume ${id} is in use by containers: ${p.volumes.users(id).join(', ')}`);
      try {
        p.records.deleteVolume(id);
      } catch (err) {
        if (isForeignKeyViolation(err)) throw precondition(`volume ${id} is in use on this node`);
        throw err;
      }
      try { await p.volumes.remove(id); } catch (err) { if (!isNotFound(err)) throw err; }
      return {};
    });
  }

  /** Row first (refused while this node has it staged), then quota, directory and metadata on the Gluster volume. */
  private async deleteGluster(id: string, v: VolumeRow | undefined) {
    const p = this.p;
    const g = p.glusterOf(id)!;
    if (v?.state === 'creating' && ownerAlive(v.owner)) throw aborted(`volume ${id} is being created`);
    const paths = p.records.nodePathsOf(id);
    if (paths.length) throw precondition(`volume ${id} is in use on this node: ${paths.map((r) => `${r.kind}d at ${r.path}`).join(', ')}`);
    if (v) {
      try { p.records.deleteVolume(id); } catch (err) {
        if (isForeignKeyViolation(err)) throw precondition(`volume ${id} is in use on this node`);
        throw err;
      }
    }
    await p.gluster.with(g.target, (l: GlusterLayout) => {
      const meta = l.readMeta(g.dir);
      if (meta && !meta.csi) throw precondition(`volumes/${g.dir} of Gluster volume ${g.target.volume} is not a CSI volume; not removing it`);
      if (!meta && !existsSync(l.data(g.dir))) return;
      l.removeQuota(g.dir);
      l.removeVolume(g.dir);
    });
    return {};
  }

  async ValidateVolumeCapabilities(req: Req) {
    const p = this.p;
    const id = requireString(req.volume_id, 'volume_id');
    const caps = req.volume_capabilities as VolumeCapability[];
    if (!caps?.length) throw invalid('volume_capabilities is required');
    caps.forEach((c, i) => capabilityAccessType(c, `volume_capabilities[${i}]`));
    const v = await this.findVolume(id);
    if (!v) throw notFoundCsi(`volume ${id} does not exist`);
    const problems = caps.map((c) => capabilityProblem(c, v.access_type, p.backendOf(v))).filter((x): x is string => x !== null);
    const params = checkMap(req.parameters, 'parameters');
    if (Object.keys(params).length && !sameMap(params, JSON.parse(v.parameters))) problems.push('parameters differ from the volume\'s');
    if (Object.keys(req.mutable_parameters ?? {}).length) problems.push('mutable_parameters are not supported');
    if (problems.length) return { confirmed: null, message: problems.join('; ') };
    return { confirmed: { volume_context: req.volume_context ?? {}, volume_capabilities: caps, parameters: params, mutable_parameters: {} }, message: '' };
  }

  private page<T>(items: T[], maxEntries: unknown, token: unknown): { items: T[]; next: string } {
    const max = Number(maxEntries ?? 0);
    if (!Number.isInteger(max) || max < 0) throw invalid('max_entries must not be negative');
    const tok = String(token ?? '');
    let start = 0;
    if (tok !== '') {
      if (!/^\d{1,9}$/.test(tok) || Number(tok) > items.length) throw aborted(`starting_token ${JSON.stringify(tok)} is not valid; start again without one`);
      start = Number(tok);
    }
    const end = max > 0 ? Math.min(items.length, start + max) : items.length;
    return { items: items.slice(start, end), next: end < items.length ? String(end) : '' };
  }

  private status(v: VolumeRow) {
    return { published_node_ids: this.p.records.nodePathsOf(v.id, 'publish').length ? [this.p.nodeId] : [], volume_condition: this.p.volumeCondition(v) };
  }

  async ListVolumes(req: Req) {
    const { items, next } = this.page(this.p.records.ownVolumes(), req.max_entries, req.starting_token);
    return { entries: items.map((v) => ({ volume: this.p.toVolume(v), status: this.status(v) })), next_token: next };
  }

  async ControllerGetVolume(req: Req) {
    const id = requireString(req.volume_id, 'volume_id');
    const v = await this.findVolume(id);
    if (!v) throw notFoundCsi(`volume ${id} does not exist`);
    return { volume: this.p.toVolume(v), status: this.status(v) };
  }

  /**
   * Local backend: this node's data root, and nothing for a topology that is not this
   * node. GlusterFS: the Gluster volume's free space, whatever the topology (it is
   * reachable from every node).
   */
  async GetCapacity(req: Req) {
    const p = this.p;
    const params = checkMap(req.parameters, 'parameters');
    const backend = backendOf(params);
    const caps = (req.volume_capabilities ?? []) as VolumeCapability[];
    const { available, total } = backend === 'glusterfs' ? await p.gluster.space(glusterTarget(params, p.glusterArgs)) : p.space();
    let ok = backend === 'glusterfs' || p.topologyMatches(req.accessible_topology);
    try { if (caps.length) checkCapabilities(caps, 'volume_capabilities', backend); } catch { ok = false; }
    return { available_capacity: ok ? available : 0, maximum_volume_size: { value: total }, minimum_volume_size: { value: MIN_CAPACITY } };
  }

  async ControllerGetCapabilities() {
    const rpcs = ['CREATE_DELETE_VOLUME', 'LIST_VOLUMES', 'GET_CAPACITY', 'CREATE_DELETE_SNAPSHOT', 'LIST_SNAPSHOTS', 'CLONE_VOLUME',
      'EXPAND_VOLUME', 'LIST_VOLUMES_PUBLISHED_NODES', 'VOLUME_CONDITION', 'GET_VOLUME', 'GET_SNAPSHOT', 'SINGLE_NODE_MULTI_WRITER'];
    return { capabilities: rpcs.map((type) => ({ rpc: { type } })) };
  }

  /**
   * Grows the image file, then the filesystem: offline when nothing has the image
   * attached, online through its loop device when it is mounted (ext4 grows online).
   * Everything happens here, on the one host, so the node has nothing left to do.
   */
  async ControllerExpandVolume(req: Req) {
    const p = this.p;
    const id = requireString(req.volume_id, 'volume_id');
    if (!req.capacity_range) throw invalid('capacity_range is required');
    checkMap(req.secrets, 'secrets');
    return p.locks.with([`volume:${id}`], async () => {
      const v = await this.findVolume(id);
      if (!v) throw notFoundCsi(`volume ${id} does not exist`);
      if (req.volume_capability) {
        capabilityAccessType(req.volume_capability, 'volume_capability');
        const why = capabilityProblem(req.volume_capability, v.access_type, p.backendOf(v));
        if (why) throw invalid(`volume_capability: ${why}`);
      }
      const range = req.capacity_range as CapacityRange;
      const g = p.glusterOf(id);
      if (g) {
        // A bigger quota on the directory, seen at once on every node that mounts it.
        if ((range.limit_bytes ?? 0) > 0 && range.limit_bytes! < v.capacity) throw outOfRange(`limit_bytes ${range.limit_bytes} is below the volume's ${v.capacity} bytes; volumes do not shrink`);
        if ((range.required_bytes ?? 0) <= v.capacity) return { capacity_bytes: v.capacity, node_expansion_required: false };
        const capacity = await p.gluster.with(g.target, (l) => {
          const c = chooseCapacity(range, statfsTotal(l), v.capacity);
          const meta = l.readMeta(g.dir);
          if (!meta?.csi) throw notFoundCsi(`volume ${id} does not exist`);
          l.setQuota(g.dir, quotaSize(c));
          l.writeMeta(g.dir, { ...meta, options: { ...meta.options, size: quotaSize(c) }, csi: { ...meta.csi, capacity: c } });
          return c;
        });
        if (p.records.volumeById(id)) p.records.setCapacity(id, capacity, false);
        return { capacity_bytes: capacity, node_expansion_required: false };
      }
      if ((range.limit_bytes ?? 0) > 0 && range.limit_bytes! < v.capacity) throw outOfRange(`limit_bytes ${range.limit_bytes} is below the volume's ${v.capacity} bytes; volumes do not shrink`);
      if ((range.required_bytes ?? 0) <= v.capacity) return { capacity_bytes: v.capacity, node_expansion_required: false };
      const capacity = chooseCapacity(range, p.space().total, v.capacity);
      const busyAt = v.access_type === 'mount' && !p.onlineExpansion ? p.mountedAt(v) : null;
      if (busyAt) {
        throw precondition(`volume ${id} is in use (mounted at ${busyAt}) and this plugin expands mount volumes offline only (no CAP_SYS_RESOURCE): unpublish and unstage it first`);
      }
      await this.grow(v, capacity);
      p.records.setCapacity(id, capacity, v.access_type === 'mount');
      return { capacity_bytes: capacity, node_expansion_required: false };
    });
  }

  /** Grows a volume's image and what sits on it to capacity; idempotent (node.ts calls it too). */
  async grow(v: VolumeRow, capacity: number): Promise<void> {
    const image = this.p.imageOf(v);
    await growFile(image, capacity);
    const devs = await loopDevicesOf(image);
    for (const d of devs) await refreshLoop(d);
    if (v.access_type !== 'mount') return;
    const mounted = mountedDevices(devs, readFileSync('/proc/self/mountinfo', 'utf8'));
    if (mounted.length) await resizeDeviceOnline(mounted[0]!);
    else await resizeImageOffline(image);
  }

  async CreateSnapshot(req: Req) {
    const p = this.p;
    const sourceId = requireString(req.source_volume_id, 'source_volume_id');
    const name = requireString(req.name, 'name');
    checkMap(req.parameters, 'parameters');
    checkMap(req.secrets, 'secrets');
    const id = CsiPlugin.snapshotId(name);
    return p.locks.with([`snapshot-name:${name}`, `snapshot:${id}`, `volume:${sourceId}`], async () => {
      let s = p.records.snapshotByName(name);
      if (s && s.state === 'creating') {
        if (ownerAlive(s.owner)) throw aborted(`snapshot ${name} is being created by another process`);
        await recoverSnapshot(p, s);
        s = undefined;
      }
      if (s) {
        if (s.source_volume_id !== sourceId) throw exists(`snapshot ${name} already exists with source volume ${s.source_volume_id}`);
        return { snapshot: p.toSnapshot(s) };
      }
      if (p.glusterOf(sourceId)) throw invalid(`source_volume_id ${sourceId}: GlusterFS volumes have no snapshots (local volumes only)`);
      const v = p.records.volumeById(sourceId);
      if (!v || v.state !== 'ready') throw notFoundCsi(`source volume ${sourceId} does not exist`);
      if (!p.records.insertSnapshot({ id, name, source_volume_id: sourceId, access_type: v.access_type, size: v.capacity })) {
        throw aborted(`snapshot ${name} is being created by another call`);
      }
      const file = p.layout.csiSnapshot(id);
      const stage = p.layout.tmpPath(`csi-snapshot-${id}`);
      try {
        mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
        await whileFrozen(p.mountedAt(v), () => copyImage(p.imageOf(v), stage));
        renameSync(stage, file);
        p.records.markSnapshotReady(id);
      } catch (err) {
        rmSync(stage, { force: true });
        const row = p.records.snapshotById(id);
        if (row) await recoverSnapshot(p, row, true);
        throw err;
      }
      return { snapshot: p.toSnapshot(p.records.snapshotById(id)!) };
    });
  }

  async DeleteSnapshot(req: Req) {
    const p = this.p;
    const id = requireString(req.snapshot_id, 'snapshot_id');
    checkMap(req.secrets, 'secrets');
    return p.locks.with([`snapshot:${id}`], async () => {
      const s = p.records.snapshotById(id);
      if (!s) return {};
      if (s.state === 'creating' && ownerAlive(s.owner)) throw aborted(`snapshot ${id} is being created`);
      await recoverSnapshot(p, s, true);
      return {};
    });
  }

  async ListSnapshots(req: Req) {
    const p = this.p;
    let all = p.records.readySnapshots();
    if (req.snapshot_id) all = all.filter((s) => s.id === req.snapshot_id);
    if (req.source_volume_id) all = all.filter((s) => s.source_volume_id === req.source_volume_id);
    const { items, next } = this.page(all, req.max_entries, req.starting_token);
    return { entries: items.map((s) => ({ snapshot: p.toSnapshot(s) })), next_token: next };
  }

  async GetSnapshot(req: Req) {
    const id = requireString(req.snapshot_id, 'snapshot_id');
    const s = this.p.records.snapshotById(id);
    if (!s || s.state !== 'ready') throw notFoundCsi(`snapshot ${id} does not exist`);
    return { snapshot: this.p.toSnapshot(s) };
  }
}
