// validate.ts: checks of CSI requests, table-tested in test/csi/validate.test.ts.
// Everything from the caller is hostile until checked here: names and ids (the spec's
// 128-byte string limit), capacity ranges, capabilities, and node paths, which must
// be absolute, clean, and inside one of the folders the server was allowed
// (--allowed-dir), with no symbolic link on the way out of it.
import { realpathSync } from 'node:fs';
import { dirname, isAbsolute, normalize, sep, basename } from 'node:path';
import type { AccessModeName, CapacityRange, VolumeCapability } from './proto.js';
import type { AccessType } from './records.js';
import { invalid, outOfRange } from './status.js';

/** The spec's limits: strings up to 128 bytes, maps up to 4 KiB. */
export const MAX_STRING = 128;
export const MAX_MAP = 4096;
const MiB = 1 << 20;
/** Smallest volume: an ext4 image below 1 MiB cannot hold its metadata and a file (volumes/options.ts MIN_SIZE). */
export const MIN_CAPACITY = MiB;
/** Capacity when the caller gives none. */
export const DEFAULT_CAPACITY = 100 * MiB;

/** Where a volume lives: on this node's data root, or in a Gluster volume (csi/gluster.ts). */
export type Backend = 'local' | 'glusterfs';

/** Access modes a volume on one node can honour. MULTI_NODE_* need storage shared between nodes. */
export const SUPPORTED_MODES: readonly AccessModeName[] = ['SINGLE_NODE_WRITER', 'SINGLE_NODE_READER_ONLY', 'SINGLE_NODE_SINGLE_WRITER', 'SINGLE_NODE_MULTI_WRITER'];
/** Access modes of Gluster volumes: every mode; the directory is shared storage. */
export const GLUSTER_MODES: readonly AccessModeName[] = [...SUPPORTED_MODES, 'MULTI_NODE_READER_ONLY', 'MULTI_NODE_SINGLE_WRITER', 'MULTI_NODE_MULTI_WRITER'];
export const modesOf = (b: Backend) => (b === 'glusterfs' ? GLUSTER_MODES : SUPPORTED_MODES);
/** Modes under which a volume is published at one target path of one node at a time (the spec's NodePublishVolume table). */
export const ONE_TARGET_MODES: readonly AccessModeName[] = ['SINGLE_NODE_WRITER', 'SINGLE_NODE_READER_ONLY', 'SINGLE_NODE_SINGLE_WRITER'];
/** Modes that only read. */
export const READ_ONLY_MODES: readonly AccessModeName[] = ['SINGLE_NODE_READER_ONLY', 'MULTI_NODE_READER_ONLY'];

export function requireString(v: unknown, field: string): string {
  if (typeof v !== 'string' || v === '') throw invalid(`${field} is required`);
  if (Buffer.byteLength(v) > MAX_STRING) throw invalid(`${field} is longer than ${MAX_STRING} bytes`);
  if (v.includes('\0')) throw invalid(`${field} contains a NUL byte`);
  return v;
}

export function checkMap(m: Record<string, string> | undefined | null, field: string): Record<string, string> {
  const map = m ?? {};
  let bytes = 0;
  for (const [k, v] of Object.entries(map)) bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
  if (bytes > MAX_MAP) throw invalid(`${field} is larger than ${MAX_MAP} bytes`);
  return map;
}

/**
 * The capacity to provision for a range: the required bytes rounded up to a MiB,
 * at least MIN_CAPACITY (or `floor`, a source's size); OUT_OF_RANGE when that cannot
 * stay within the limit or exceeds max.
 */
export function chooseCapacity(range: CapacityRange | null | undefined, max: number, floor = 0): number {
  const req = range?.required_bytes ?? 0;
  const limit = range?.limit_bytes ?? 0;
  if (req < 0 || limit < 0) throw invalid('capacity_range: required_bytes and limit_bytes must not be negative');
  if (limit > 0 && req > limit) throw outOfRange(`capacity_range: required_bytes ${req} is above limit_bytes ${limit}`);
  let want = req > 0 ? req : floor > 0 ? floor : limit > 0 ? Math.min(DEFAULT_CAPACITY, limit) : DEFAULT_CAPACITY;
  want = Math.max(want, floor, MIN_CAPACITY);
  const size = Math.ceil(want / MiB) * MiB;
  if (limit > 0 && size > limit) {
    throw outOfRange(`capacity_range: limit_bytes ${limit} is below the smallest volume this plugin can make here (${size} bytes: 1 MiB steps${floor ? `, source of ${floor} bytes` : ''})`);
  }
  if (size > max) throw outOfRange(`capacity_range: ${size} bytes is more than the largest volume here (${max} bytes)`);
  return size;
}

/** The access type of one capability; INVALID_ARGUMENT for a malformed one. */
export function capabilityAccessType(c: VolumeCapability | null | undefined, field: string): AccessType {
  if (!c) throw invalid(`${field} is required`);
  const t = c.access_type ?? (c.block ? 'block' : c.mount ? 'mount' : undefined);
  if (t !== 'block' && t !== 'mount') throw invalid(`${field}: access_type (block or mount) is required`);
  if (!c.access_mode || !c.access_mode.mode || c.access_mode.mode === 'UNKNOWN') throw invalid(`${field}: access_mode is required`);
  return t;
}

/**
 * Why this plugin cannot honour a capability (null when it can): the access mode,
 * the filesystem type (ext4 only), mount flags that are not plain option words.
 */
export function capabilityProblem(c: VolumeCapability, accessType?: AccessType, backend: Backend = 'local'): string | null {
  const t = c.access_type ?? (c.block ? 'block' : 'mount');
  if (accessType && t !== accessType) return `the volume is a ${accessType} volume, not a ${t} volume`;
  if (backend === 'glusterfs' && t === 'block') return 'GlusterFS volumes are mount volumes (a directory), not block volumes';
  const mode = c.access_mode?.mode ?? 'UNKNOWN';
  const modes = modesOf(backend);
  if (!modes.includes(mode)) return `access mode ${mode} is not supported (${backend === 'local' ? 'local volumes live on one node' : 'GlusterFS volumes'}: ${modes.join(', ')})`;
  if (t === 'mount') {
    const fs = c.mount?.fs_type ?? '';
    const want = backend === 'local' ? 'ext4' : 'glusterfs';
    if (fs !== '' && fs !== want) return `fs_type ${JSON.stringify(fs)} is not supported (${want})`;
    for (const f of c.mount?.mount_flags ?? []) {
      if (!/^[A-Za-z0-9_=.:+-]+$/.test(f)) return `mount flag ${JSON.stringify(f)} is not a plain mount option word`;
    }
    if (c.mount?.volume_mount_group) return 'volume_mount_group is not supported';
  }
  return null;
}

/** Checks a request's capabilities; returns their one access type. */
export function checkCapabilities(caps: VolumeCapability[] | null | undefined, field = 'volume_capabilities', backend: Backend = 'local'): AccessType {
  if (!caps || caps.length === 0) throw invalid(`${field} is required`);
  const types = new Set(caps.map((c, i) => capabilityAccessType(c, `${field}[${i}]`)));
  if (types.size > 1) throw invalid(`${field}: a volume is either block or mount, not both`);
  for (const [i, c] of caps.entries()) {
    const why = capabilityProblem(c, undefined, backend);
    if (why) throw invalid(`${field}[${i}]: ${why}`);
  }
  return [...types][0]!;
}

/** True when `path` is `root` or inside it (both canonical). */
function inside(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * A node path from a request, checked: absolute, already clean (no "..", ".", "//"),
 * and inside an allowed folder once symbolic links in its parent are resolved. The
 * last component may not exist yet, and must not be a symbolic link when it does
 * (the caller mounts on it). Returns the path with its parent canonical.
 */
export function checkNodePath(p: string, field: string, allowed: readonly string[]): string {
  if (!isAbsolute(p)) throw invalid(`${field} must be an absolute path: ${JSON.stringify(p)}`);
  if (normalize(p) !== p.replace(/\/+$/, '') && normalize(p) !== p) throw invalid(`${field} must be a clean path (no "..", "." or "//"): ${JSON.stringify(p)}`);
  if (p.split('/').includes('..')) throw invalid(`${field} must not contain "..": ${JSON.stringify(p)}`);
  const clean = normalize(p).replace(/\/+$/, '') || '/';
  let parent: string;
  try {
    parent = realpathSync(dirname(clean));
  } catch {
    throw invalid(`${field}: the parent folder of ${clean} does not exist`);
  }
  const resolved = parent === '/' ? `/${basename(clean)}` : `${parent}/${basename(clean)}`;
  const roots = allowed.map((a) => { try { return realpathSync(a); } catch { return normalize(a); } });
  if (!roots.some((r) => inside(resolved, r) && resolved !== r)) {
    throw invalid(`${field} ${JSON.stringify(p)} is outside the folders this plugin may mount in (${allowed.join(', ')})`);
  }
  return resolved;
}
