// config.ts: the image formats as data. Types for the image config (OCI and
// Docker share one JSON shape), manifests, indexes and descriptors; strict
// parsers that name the bad field; digests; and chain ids (OCI image spec,
// config.md). Nothing here touches the disk.
import { chainIdOf } from '../layers/identity.js';
import { invalidArgument } from '../errors.js';
import { validateDigestString } from './reference.js';

// ---------------------------------------------------------------------------
// Media types

export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerForeignGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export const Annotations = {
  /** OCI: the reference of a manifest in an image layout's index.json (often only a tag). */
  refName: 'org.opencontainers.image.ref.name',
  /** containerd and Docker 25+: the full normalised image name. */
  containerdImageName: 'io.containerd.image.name',
  created: 'org.opencontainers.image.created',
} as const;

export function isIndexMediaType(mt: string | undefined): boolean {
  return mt === MediaTypes.ociIndex || mt === MediaTypes.dockerManifestList;
}
export function isManifestMediaType(mt: string | undefined): boolean {
  return mt === MediaTypes.ociManifest || mt === MediaTypes.dockerManifest;
}
export function isLayerMediaType(mt: string | undefined): boolean {
  return mt !== undefined && (mt.startsWith('application/vnd.oci.image.layer.') ||
    mt.startsWith('application/vnd.docker.image.rootfs.'));
}
/** The compression a layer media type declares, when it declares one. */
export function layerCompression(mt: string | undefined): 'none' | 'gzip' | 'zstd' | undefined {
  if (mt === undefined) return undefined;
  if (mt.endsWith('+gzip') || mt.endsWith('.tar.gzip')) return 'gzip';
  if (mt.endsWith('+zstd')) return 'zstd';
  if (mt.endsWith('.tar')) return 'none';
  return undefined;
}

// ---------------------------------------------------------------------------
// Digests

export { sha256 as sha256Digest } from '../content/store.js';

export interface Digest { algorithm: string; hex: string }

/** Splits and validates "<algo>:<hex>" (sha256, sha384, sha512). */
export function parseDigest(d: string): Digest {
  validateDigestString(d);
  const i = d.indexOf(':');
  return { algorithm: d.slice(0, i), hex: d.slice(i + 1) };
}

export function isDigest(d: unknown): d is string {
  if (typeof d !== 'string') return false;
  try { validateDigestString(d); return true; } catch { return false; }
}

export function isSha256Digest(d: unknown): d is string {
  return typeof d === 'string' && /^sha256:[a-f0-9]{64}$/.test(d);
}

/** Chain ids per the OCI image spec: chain(L1) = diff(L1); chain(Ln) = sha256(chain(Ln-1) + " " + diff(Ln)). */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    if (!isSha256Digest(d)) throw invalidArgument(`invalid diff id: ${d}`, { name: d });
    out.push(chainIdOf(out.length === 0 ? null : out[out.length - 1]!, d));
  }
  return out;
}

/** The chain id of the whole stack, or undefined for an image with no layers. */
export function chainId(diffIds: readonly string[]): string | undefined {
  const ids = chainIds(diffIds);
  return ids[ids.length - 1];
}

// ---------------------------------------------------------------------------
// Types

export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** The runtime defaults of an image ("config" in the config JSON). */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, object> | null;
  Env?: string[] | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object> | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  Healthcheck?: HealthConfig;
  OnBuild?: string[] | null;
  Shell?: string[] | null;
  [other: string]: unknown;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface RootFS { type: 'layers'; diff_ids: string[] }

export interface ImageConfig {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  created?: string;
  author?: string;
  config?: ContainerConfig;
  rootfs: RootFS;
  history?: HistoryEntry[];
  docker_version?: string;
  container?: string;
  container_config?: ContainerConfig;
  comment?: string;
  [other: string]: unknown;
}

// ---------------------------------------------------------------------------
// Strict parsing

/** Largest JSON document (config, manifest, index) we parse. Real configs are a few KB;
 *  a config with thousands of history entries stays well below 1 MiB. */
export const MAX_JSON_BYTES = 8 << 20;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

class Checker {
  constructor(readonly what: string) {}
  fail(field: string, msg: string): never {
    throw invalidArgument(`invalid ${this.what}: ${field} ${msg}`, { name: field });
  }
  str(o: Obj, k: string, prefix: string, required = false): void {
    const v = o[k];
    if (v === undefined) { if (required) this.fail(prefix + k, 'is required'); return; }
    if (typeof v !== 'string') this.fail(prefix + k, 'must be a string');
  }
  bool(o: Obj, k: string, prefix: string): void {
    const v = o[k];
    if (v !== undefined && typeof v !== 'boolean') this.fail(prefix + k, 'must be a boolean');
  }
  int(o: Obj, k: string, prefix: string, required = false): void {
    const v = o[k];
    if (v === undefined) { if (required) this.fail(prefix + k, 'is required'); return; }
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) this.fail(prefix + k, 'must be a non-negative integer');
  }
  strArray(o: Obj, k: string, prefix: string, nullable = true): void {
    const v = o[k];
    if (v === undefined || (v === null && nullable)) return;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) this.fail(prefix + k, 'must be an array of strings');
  }
  strMap(o: Obj, k: string, prefix: string): void {
    const v = o[k];
    if (v === undefined || v === null) return;
    if (!isObj(v) || !Object.values(v).every((x) => typeof x === 'string')) this.fail(prefix + k, 'must be an object of strings');
  }
  set(o: Obj, k: string, prefix: string): void {
    const v = o[k];
    if (v === undefined || v === null) return;
    if (!isObj(v) || !Object.values(v).every((x) => isObj(x))) this.fail(prefix + k, 'must be an object of objects');
  }
  obj(o: Obj, k: string, prefix: string, required = false): Obj | undefined {
    const v = o[k];
    if (v === undefined || (v === null && !required)) { if (required) this.fail(prefix + k, 'is required'); return undefined; }
    if (!isObj(v)) this.fail(prefix + k, 'must be an object');
    return v;
  }
}

/** JSON.parse with a size cap and an InvalidArgument naming `what` on failure. */
export function parseJson(buf: Buffer | string, what: string, maxBytes = MAX_JSON_BYTES): unknown {
  const len = typeof buf === 'string' ? Buffer.byteLength(buf) : buf.length;
  if (len > maxBytes) throw invalidArgument(`${what} is too large (${len} bytes, limit ${maxBytes})`, { name: what });
  try {
    return JSON.parse(typeof buf === 'string' ? buf : buf.toString('utf8'));
  } catch (e) {
    throw invalidArgument(`${what} is not valid JSON: ${(e as Error).message}`, { name: what, cause: e });
  }
}

function checkContainerConfig(c: Checker, cfg: Obj, p: string): void {
  c.str(cfg, 'User', p);
  c.strArray(cfg, 'Env', p);
  c.strArray(cfg, 'Entrypoint', p);
  c.strArray(cfg, 'Cmd', p);
  c.str(cfg, 'WorkingDir', p);
  c.strMap(cfg, 'Labels', p);
  c.set(cfg, 'ExposedPorts', p);
  c.set(cfg, 'Volumes', p);
  c.str(cfg, 'StopSignal', p);
  c.bool(cfg, 'ArgsEscaped', p);
  c.strArray(cfg, 'OnBuild', p);
  c.strArray(cfg, 'Shell', p);
  const hc = c.obj(cfg, 'Healthcheck', p);
  if (hc) {
    c.strArray(hc, 'Test', `${p}Healthcheck.`);
    for (const k of ['Interval', 'Timeout', 'StartPeriod', 'StartInterval', 'Retries']) c.int(hc, k, `${p}Healthcheck.`);
  }
  if (Array.isArray(cfg.Env)) {
    cfg.Env.forEach((e: string, i: number) => { if (e.includes('\0')) c.fail(`${p}Env[${i}]`, 'must not contain NUL'); });
  }
}

/**
 * Parses and validates an image config. Throws InvalidArgument naming the bad
 * field ("invalid image config: rootfs.diff_ids[2] must be a sha256 digest").
 * Unknown fields are kept: the bytes, not this object, are what gets stored.
 */
export function parseImageConfig(buf: Buffer | string, opts: { maxBytes?: number } = {}): ImageConfig {
  const c: Checker = new Checker('image config');
  const v = parseJson(buf, 'image config', opts.maxBytes);
  if (!isObj(v)) c.fail('(document)', 'must be a JSON object');
  c.str(v, 'architecture', '', true);
  c.str(v, 'os', '', true);
  c.str(v, 'os.version', '');
  c.strArray(v, 'os.features', '', false);
  c.str(v, 'variant', '');
  c.str(v, 'created', '');
  if (typeof v.created === 'string' && Number.isNaN(Date.parse(v.created))) c.fail('created', 'must be an RFC 3339 time');
  c.str(v, 'author', '');
  c.str(v, 'docker_version', '');
  c.str(v, 'comment', '');
  const cfg = c.obj(v, 'config', '');
  if (cfg) checkContainerConfig(c, cfg, 'config.');
  const ccfg = c.obj(v, 'container_config', '');
  if (ccfg) checkContainerConfig(c, ccfg, 'container_config.');

  const rootfs = c.obj(v, 'rootfs', '', true)!;
  if (rootfs.type !== 'layers') c.fail('rootfs.type', 'must be "layers"');
  const ids = rootfs.diff_ids;
  if (ids === undefined || ids === null) {
    rootfs.diff_ids = [];
  } else if (!Array.isArray(ids)) {
    c.fail('rootfs.diff_ids', 'must be an array');
  } else {
    ids.forEach((d, i) => { if (!isSha256Digest(d)) c.fail(`rootfs.diff_ids[${i}]`, 'must be a sha256 digest'); });
  }
  const nLayers = (rootfs.diff_ids as unknown[]).length;

  if (v.history !== undefined && v.history !== null) {
    if (!Array.isArray(v.history)) c.fail('history', 'must be an array');
    let nonEmpty = 0;
    v.history.forEach((h: unknown, i: number) => {
      const p = `history[${i}].`;
      if (!isObj(h)) c.fail(`history[${i}]`, 'must be an object');
      for (const k of ['created_by', 'author', 'comment']) c.str(h, k, p);
      c.str(h, 'created', p);
      if (typeof h.created === 'string' && Number.isNaN(Date.parse(h.created))) c.fail(p + 'created', 'must be an RFC 3339 time');
      c.bool(h, 'empty_layer', p);
      if (h.empty_layer !== true) nonEmpty++;
    });
    if (v.history.length > 0 && nonEmpty !== nLayers) {
      c.fail('history', `has ${nonEmpty} non-empty layer entries but rootfs.diff_ids has ${nLayers}`);
    }
  }
  return v as ImageConfig;
}

function checkDescriptor(c: Checker, d: unknown, p: string): Descriptor {
  if (!isObj(d)) c.fail(p.replace(/\.$/, ''), 'must be an object');
  c.str(d, 'mediaType', p, true);
  c.str(d, 'digest', p, true);
  if (!isDigest(d.digest)) c.fail(p + 'digest', 'must be a digest');
  c.int(d, 'size', p, true);
  c.strArray(d, 'urls', p, false);
  c.strMap(d, 'annotations', p);
  c.str(d, 'artifactType', p);
  const pl = c.obj(d, 'platform', p);
  if (pl) {
    c.str(pl, 'architecture', `${p}platform.`, true);
    c.str(pl, 'os', `${p}platform.`, true);
    c.str(pl, 'variant', `${p}platform.`);
    c.str(pl, 'os.version', `${p}platform.`);
    c.strArray(pl, 'os.features', `${p}platform.`, false);
  }
  return d as unknown as Descriptor;
}

/** Parses an OCI or Docker schema2 image manifest. */
export function parseManifest(buf: Buffer | string, opts: { maxBytes?: number } = {}): Manifest {
  const c: Checker = new Checker('image manifest');
  const v = parseJson(buf, 'image manifest', opts.maxBytes);
  if (!isObj(v)) c.fail('(document)', 'must be a JSON object');
  if (v.schemaVersion !== 2) c.fail('schemaVersion', 'must be 2');
  c.str(v, 'mediaType', '');
  if (v.mediaType !== undefined && !isManifestMediaType(v.mediaType as string)) c.fail('mediaType', `is not a manifest type: ${String(v.mediaType)}`);
  checkDescriptor(c, v.config, 'config.');
  if (!Array.isArray(v.layers)) c.fail('layers', 'must be an array');
  v.layers.forEach((l: unknown, i: number) => checkDescriptor(c, l, `layers[${i}].`));
  if (v.subject !== undefined) checkDescriptor(c, v.subject, 'subject.');
  c.strMap(v, 'annotations', '');
  return v as unknown as Manifest;
}

/** Parses an OCI image index or a Docker manifest list. */
export function parseIndex(buf: Buffer | string, opts: { maxBytes?: number } = {}): ImageIndex {
  const c: Checker = new Checker('image index');
  const v = parseJson(buf, 'image index', opts.maxBytes);
  if (!isObj(v)) c.fail('(document)', 'must be a JSON object');
  if (v.schemaVersion !== 2) c.fail('schemaVersion', 'must be 2');
  c.str(v, 'mediaType', '');
  if (v.mediaType !== undefined && !isIndexMediaType(v.mediaType as string)) c.fail('mediaType', `is not an index type: ${String(v.mediaType)}`);
  if (!Array.isArray(v.manifests)) c.fail('manifests', 'must be an array');
  v.manifests.forEach((m: unknown, i: number) => checkDescriptor(c, m, `manifests[${i}].`));
  c.strMap(v, 'annotations', '');
  return v as unknown as ImageIndex;
}

/** The platform of this Node process in OCI terms (amd64, arm64, …). */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', mips: 'mips', mipsel: 'mipsle', loong64: 'loong64' };
  return { architecture: arch[process.arch] ?? process.arch, os: process.platform === 'win32' ? 'windows' : process.platform };
}
