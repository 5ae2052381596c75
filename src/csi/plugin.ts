// plugin.ts: what the CSI handlers share: the engine's stores, the CSI records, the
// per-volume locks, and this node's identity. Handlers in controller.ts and node.ts
// take a CsiPlugin; server.ts turns them into gRPC services.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { mountPoints } from '../drivers/mount.js';
import type { Engine } from '../engine.js';
import type { Layout } from '../store/layout.js';
import { volumeService, type VolumeService } from '../volumes/service.js';
import { CsiRecords, type AccessType, type VolumeRow, type SnapshotRow } from './records.js';
import { OpLocks } from './locks.js';
import type { CsiSnapshot, CsiVolume, Topology } from './proto.js';
import { BACKEND_KEY, glusterContext, GlusterMounts, parseGlusterVolumeId, type GlusterId } from './gluster.js';
import type { Backend } from './validate.js';

/** The topology segment that names the node a volume lives on. */
export const TOPOLOGY_KEY = 'topology.stowage.io/node';
/** Labels on the stowage volumes the CSI server makes (`volume ls --filter label=io.stowage.csi`). */
export const CSI_LABEL = 'io.stowage.csi';
export const CSI_NAME_LABEL = 'io.stowage.csi.name';
export const CSI_ACCESS_LABEL = 'io.stowage.csi.access-type';
export const DEFAULT_DRIVER_NAME = 'csi.stowage.io';

/** True when this process has capability number n in its effective set. */
export function hasCapability(n: number): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? ((BigInt(`0x${m[1]}`) >> BigInt(n)) & 1n) === 1n : false;
  } catch {
    return false;
  }
}

export type Mode = 'controller' | 'node' | 'both';

export interface PluginOptions {
  nodeId: string;
  mode: Mode;
  /** Folders staging and target paths must lie in. */
  allowedDirs: string[];
  driverName?: string;
  /** Extra arguments for the gluster CLI (quotas of GlusterFS volumes); default --remote-host=<first server>. */
  glusterArgs?: string[];
}

export class CsiPlugin {
  readonly records: CsiRecords;
  readonly locks = new OpLocks();
  readonly layout: Layout;
  readonly nodeId: string;
  readonly mode: Mode;
  readonly allowedDirs: string[];
  readonly driverName: string;
  readonly glusterArgs: string[] | undefined;
  readonly gluster: GlusterMounts;

  constructor(readonly engine: Engine, opts: PluginOptions) {
    this.layout = engine.layout;
    this.records = new CsiRecords(engine.db);
    this.nodeId = opts.nodeId;
    this.mode = opts.mode;
    this.allowedDirs = opts.allowedDirs;
    this.driverName = opts.driverName ?? DEFAULT_DRIVER_NAME;
    this.glusterArgs = opts.glusterArgs;
    this.gluster = new GlusterMounts(this.layout);
  }

  /** The Gluster volume and directory of a GlusterFS volume id, null for a local volume. */
  glusterOf(id: string): GlusterId | null { return parseGlusterVolumeId(id, this.glusterArgs); }
  backendOf(v: Pick<VolumeRow, 'id'>): Backend { return this.glusterOf(v.id) ? 'glusterfs' : 'local'; }

  /**
   * Whether a mounted ext4 volume can grow: the kernel's resize ioctl wants
   * CAP_SYS_RESOURCE, which containers often drop (this one's CI machine does).
   * Without it the plugin offers OFFLINE expansion only.
   */
  readonly onlineExpansion: boolean = hasCapability(24 /* CAP_SYS_RESOURCE */);

  get volumes(): VolumeService { return volumeService(this.engine); }

  get topology(): Topology { return { segments: { [TOPOLOGY_KEY]: this.nodeId } }; }

  /** True when every segment of t is one of ours. */
  topologyMatches(t: Topology | null | undefined): boolean {
    const segs = t?.segments ?? {};
    return Object.entries(segs).every(([k, v]) => this.topology.segments[k] === v);
  }

  /** A volume id from its name: the same name always gives the same id (and stowage volume name). */
  static volumeId(name: string): string { return `csi-${createHash('sha256').update(name).digest('hex').slice(0, 32)}`; }
  static snapshotId(name: string): string { return `snap-${createHash('sha256').update(name).digest('hex').slice(0, 32)}`; }

  /** The image file that holds a volume: quota.img (ext4) for mount volumes, block.img for block ones. */
  imageOf(v: Pick<VolumeRow, 'id' | 'access_type'>): string {
    return v.access_type === 'block' ? this.layout.volumeBlockImage(v.id) : this.layout.volumeQuotaImage(v.id);
  }

  /** Bytes the data root's filesystem has free, and its size (the largest sparse volume it can hold). */
  space(): { available: number; total: number } {
    const s = statfsSync(this.layout.root);
    return { available: s.bavail * s.bsize, total: s.blocks * s.bsize };
  }

  /** A mount point where the volume's filesystem is mounted now (a stage, or stowage's own _data), else null. */
  mountedAt(v: VolumeRow): string | null {
    if (v.access_type !== 'mount' || this.glusterOf(v.id)) return null;
    const points = new Set(mountPoints());
    for (const r of this.records.nodePathsOf(v.id)) if (r.state === 'ready' && points.has(r.path)) return r.path;
    const data = this.layout.volumeData(v.id);
    return points.has(data) ? data : null;
  }

  volumeCondition(v: VolumeRow): { abnormal: boolean; message: string } {
    const g = this.glusterOf(v.id);
    if (g) return { abnormal: false, message: `directory ${g.dir} of Gluster volume ${g.target.volume}` };
    if (!existsSync(this.imageOf(v))) return { abnormal: true, message: `the volume's image ${this.imageOf(v)} is missing` };
    if (!this.volumes.find(v.id)) return { abnormal: true, message: `stowage volume ${v.id} is missing` };
    return { abnormal: false, message: 'healthy' };
  }

  toVolume(v: VolumeRow): CsiVolume {
    const src = v.source_kind === 'snapshot' ? { snapshot: { snapshot_id: v.source_id } }
      : v.source_kind === 'volume' ? { volume: { volume_id: v.source_id } } : null;
    const g = this.glusterOf(v.id);
    // A GlusterFS volume is reachable from every node: no topology, and the context says where it is.
    return {
      capacity_bytes: v.capacity,
      volume_id: v.id,
      volume_context: g ? { [CSI_ACCESS_LABEL]: v.access_type, ...glusterContext(g) }
        : { [CSI_ACCESS_LABEL]: v.access_type, [BACKEND_KEY]: 'local', 'io.stowage.volume': v.id },
      content_source: src,
      accessible_topology: g ? [] : [this.topology],
    };
  }

  toSnapshot(s: SnapshotRow): CsiSnapshot {
    return {
      size_bytes: s.size,
      snapshot_id: s.id,
      source_volume_id: s.source_volume_id,
      creation_time: { seconds: Math.floor(s.created_at / 1000), nanos: (s.created_at % 1000) * 1e6 },
      ready_to_use: true,
      group_snapshot_id: '',
    };
  }

  labelsFor(name: string, access: AccessType): Record<string, string> {
    return { [CSI_LABEL]: '1', [CSI_NAME_LABEL]: name, [CSI_ACCESS_LABEL]: access };
  }
}
