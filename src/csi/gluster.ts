// gluster.ts: the CSI server's GlusterFS backend. A StorageClass with
//   backend: glusterfs, servers: "HOST[,HOST…]", volume: GLUSTER_VOLUME
// makes each CSI volume a directory of that Gluster volume, in the layout the Docker
// GlusterFS plugin uses (plugins/glusterfs/volume.ts: volumes/DIR plus
// .stowage/DIR.json), with the capacity as a Gluster directory quota. Such a volume is
// reachable from every node (no topology), in every mount access mode.
//
// The volume id names everything needed to find the directory again on any node and
// by any node's controller (each node runs its own controller, with its own records):
//   glusterfs/<server>[,<server>…]/<gluster volume>/<dir>     dir = csi-<32 hex of sha256(name)>
// volume_context carries the same facts for the node (backend, servers, volume, dir).
// The controller mounts the Gluster volume for the length of one call, at
// csi/gluster/<owner token>-<n> under the data root (recovery unmounts those of dead
// processes); NodeStageVolume mounts it with the FUSE client at the staging path,
// NodePublishVolume binds the volume's directory from there.
import { statfsSync, mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isMountPoint, unmount } from '../drivers/mount.js';
import { ownerAlive, ownerToken } from '../store/owner.js';
import { GLUSTER_HOST, GLUSTER_VOLUME_NAME, GlusterLayout, glusterMountArgs, type GlusterTarget } from '../plugins/glusterfs/volume.js';
import type { Layout } from '../store/layout.js';
import { run } from './backing.js';
import { invalid } from './status.js';
import { MAX_STRING, type Backend } from './validate.js';

/**
 * Every StorageClass parameter the plugin reads, with what it means (the manifests'
 * test checks that the StorageClasses use only these and docs/kubernetes.md documents each).
 * Keys under csi.storage.k8s.io/ (the external-provisioner's own) are passed through and ignored.
 */
export const STORAGE_CLASS_PARAMETERS: Readonly<Record<string, string>> = {
  backend: '`local` (default): a volume on the node that creates it; `glusterfs`: a directory of a Gluster volume, shared by every node',
  servers: 'glusterfs: the Gluster servers, comma-separated host names or IPv4 addresses (the first is the volfile server, the others backups)',
  volume: 'glusterfs: the name of the Gluster volume that holds the CSI volumes',
};

export const BACKEND_KEY = 'io.stowage.csi.backend';

const isProvisionerKey = (k: string) => k.startsWith('csi.storage.k8s.io/');

/** The backend a CreateVolume's parameters ask for; INVALID_ARGUMENT for unknown ones or stray keys. */
export function backendOf(params: Record<string, string>): Backend {
  const b = params.backend ?? 'local';
  if (b !== 'local' && b !== 'glusterfs') throw invalid(`parameters.backend ${JSON.stringify(b)}: expected local or glusterfs`);
  for (const k of Object.keys(params)) {
    if (isProvisionerKey(k) || k === 'backend') continue;
    if (b === 'glusterfs' && (k === 'servers' || k === 'volume')) continue;
    if (b === 'local') continue; // the local backend has always kept parameters it does not read (they decide idempotency)
    throw invalid(`parameters.${k} is not a parameter of the ${b} backend (${Object.keys(STORAGE_CLASS_PARAMETERS).join(', ')})`);
  }
  return b;
}

export function glusterTarget(params: Record<string, string>, glusterArgs?: string[]): GlusterTarget {
  const servers = (params.servers ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (servers.length === 0) throw invalid('parameters.servers is required for backend glusterfs (comma-separated Gluster server hosts)');
  for (const s of servers) if (!GLUSTER_HOST.test(s)) throw invalid(`parameters.servers: ${JSON.stringify(s)} is not a host name or IPv4 address`);
  const volume = params.volume ?? '';
  if (!GLUSTER_VOLUME_NAME.test(volume)) throw invalid(`parameters.volume ${JSON.stringify(volume)}: the name of a Gluster volume is required for backend glusterfs`);
  return { servers, volume, ...(glusterArgs ? { glusterArgs } : {}) };
}

export interface GlusterId { target: GlusterTarget; dir: string }

const DIR = /^csi-[0-9a-f]{32}$/;

export function glusterVolumeId(t: GlusterTarget, dir: string): string {
  const id = `glusterfs/${t.servers.join(',')}/${t.volume}/${dir}`;
  if (Buffer.byteLength(id) > MAX_STRING) throw invalid(`servers and volume are too long: the volume id ${id} would exceed the spec's ${MAX_STRING} bytes`);
  return id;
}

/** The Gluster volume and directory a volume id names; null for ids of other backends. Only directories CSI makes (csi-<hex>) are accepted. */
export function parseGlusterVolumeId(id: string, glusterArgs?: string[]): GlusterId | null {
  const m = /^glusterfs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(id);
  if (!m) return null;
  const servers = m[1]!.split(',');
  if (!servers.every((s) => GLUSTER_HOST.test(s)) || !GLUSTER_VOLUME_NAME.test(m[2]!) || !DIR.test(m[3]!)) return null;
  return { target: { servers, volume: m[2]!, ...(glusterArgs ? { glusterArgs } : {}) }, dir: m[3]! };
}

/** What travels to the nodes in volume_context. */
export function glusterContext(g: GlusterId): Record<string, string> {
  return { [BACKEND_KEY]: 'glusterfs', 'io.stowage.gluster.servers': g.target.servers.join(','), 'io.stowage.gluster.volume': g.target.volume, 'io.stowage.gluster.dir': g.dir };
}

/**
 * The Gluster volume a node is asked to stage, from the volume id and checked against
 * volume_context when the CO sends one (a mismatch is INVALID_ARGUMENT: one of them was altered).
 */
export function glusterFromRequest(id: string, ctx: Record<string, string> | undefined, glusterArgs?: string[]): GlusterId | null {
  const g = parseGlusterVolumeId(id, glusterArgs);
  const c = ctx ?? {};
  if (!g) {
    if (c[BACKEND_KEY] === 'glusterfs') throw invalid(`volume_id ${JSON.stringify(id)} is not a GlusterFS volume id, but volume_context says it is`);
    return null;
  }
  if (c[BACKEND_KEY] !== undefined) {
    const want = glusterContext(g);
    for (const [k, v] of Object.entries(want)) {
      if (c[k] !== v) throw invalid(`volume_context.${k} ${JSON.stringify(c[k] ?? '')} does not match volume_id ${id}`);
    }
  }
  return g;
}

/** A capacity in bytes (whole MiB) as a gluster quota size. */
export const quotaSize = (bytes: number) => `${Math.ceil(bytes / (1 << 20))}MB`;

/** The controller's short-lived mounts of Gluster volumes, under <data root>/csi/gluster. */
export class GlusterMounts {
  /** Numbers this process's mount folders, so concurrent calls never share one. */
  private seq = 0;

  constructor(private readonly layout: Layout) {}

  get dir(): string { return this.layout.csiGlusterMountsDir; }
  logFile(): string { return this.layout.csiGlusterLog; }

  /** Mounts t for the length of fn, then unmounts it. */
  async with<T>(t: GlusterTarget, fn: (g: GlusterLayout) => Promise<T> | T): Promise<T> {
    const mp = join(this.dir, `${ownerToken().replace(':', '-')}-${++this.seq}`);
    mkdirSync(dirname(this.logFile()), { recursive: true }); // first: a failure leaves no mount folder
    mkdirSync(mp, { recursive: true, mode: 0o700 });
    try {
      await run('mount', glusterMountArgs(t, mp, this.logFile()));
      const g = new GlusterLayout(t, mp);
      g.mount(this.logFile()); // mounted already: makes volumes/ and .stowage/
      return await fn(g);
    } finally {
      unmount(mp);
      try { rmdirSync(mp); } catch { /* left for recovery */ }
    }
  }

  /** Bytes free on the Gluster volume, and its size. */
  async space(t: GlusterTarget): Promise<{ available: number; total: number }> {
    return this.with(t, (g) => { const s = statfsSync(g.base); return { available: s.bavail * s.bsize, total: s.blocks * s.bsize }; });
  }

  /** Unmounts and removes the mount folders of dead processes. */
  recover(): string[] {
    const done: string[] = [];
    let names: string[] = [];
    try { names = readdirSync(this.dir); } catch { return done; }
    for (const n of names) {
      const m = /^(\d+)-(\d+)-\d+$/.exec(n);
      if (!m || ownerAlive(`${m[1]}:${m[2]}`)) continue;
      const mp = join(this.dir, n);
      if (isMountPoint(mp)) unmount(mp);
      try { rmdirSync(mp); done.push(mp); } catch { /* not empty: not ours to remove */ }
    }
    return done;
  }
}

/** Mounts the Gluster volume at a staging path (FUSE), with the capability's mount flags. */
export async function mountGluster(t: GlusterTarget, path: string, logFile: string, flags: readonly string[]): Promise<void> {
  await run('mount', glusterMountArgs(t, path, logFile, flags));
}
