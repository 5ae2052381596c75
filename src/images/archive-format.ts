// archive-format.ts: image archives as files, read and written. No storage here:
// reading returns configs and layer byte sources; writing takes them.
//
// Read: a docker-archive (`docker save`: manifest.json [{Config, RepoTags, Layers}],
// legacy `<id>/layer.tar` dirs or, from Docker 25, `blobs/sha256/<hex>`) or an OCI
// image layout archive (oci-layout, index.json, blobs/<alg>/<hex>, nested indexes).
// The archive is indexed once (name -> payload offset) and members are read by
// offset, so a 2 GB archive is never held in memory nor extracted to disk.
//
// Write: ONE archive that both readers understand. Blobs (configs, uncompressed
// layers whose digest is their diffID, OCI manifests) live in blobs/sha256;
// manifest.json and repositories point into them for `docker load` (20.10 reads
// manifest.json only), oci-layout and index.json serve OCI tools. This is the
// layout Docker 25+ itself writes.
//
// Archives are hostile: every path named inside one is checked to stay inside it,
// JSON is size-capped before it is read, and metadata blobs are hashed and compared
// with the digest that names them. Layer bytes are not hashed here: whoever applies
// a layer computes its diffID anyway and compares (see verifyDigest for the rest).
import { closeSync, openSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { indexTarFile, type TarHeader } from '../archive/tar-reader.js';
import { TarWriter } from '../archive/tar-writer.js';
import { invalidArgument, notFound, findStowageError } from '../errors.js';
import {
  Annotations, MediaTypes, MAX_JSON_BYTES, hostPlatform, isIndexMediaType, isManifestMediaType, isLayerMediaType,
  isSha256Digest, parseDigest, parseImageConfig, parseIndex, parseJson, parseManifest, sha256Digest,
  type Descriptor, type ImageConfig, type Platform,
} from './config.js';
import { familiarName, familiarString, isValidTag, parseReference, referenceString } from './reference.js';

// ---------------------------------------------------------------------------
// Types

export interface ArchiveLayer {
  /** The layer's bytes as stored in the archive (possibly compressed). */
  open(): AsyncIterable<Buffer>;
  /** Digest of the stored bytes, when the archive names it (OCI blobs, Docker 25 blobs/). */
  digest?: string;
  mediaType?: string;
  size: number;
}

export interface ArchiveImage {
  /** The config bytes exactly as stored: their sha256 is the image id. */
  config: Buffer;
  configDigest: string;
  /** Familiar "name:tag" strings, as in manifest.json ("busybox:latest"). */
  repoTags: string[];
  manifestDigest?: string;
  layers: ArchiveLayer[];
  /** Which part of the archive described the image. */
  source: 'docker-archive' | 'oci-layout';
  /** OCI ref.name annotations that are only tags (no repository): the caller may name them. */
  refNames?: string[];
}

export interface OpenOptions {
  /** Cap for each JSON member (manifest.json, index.json, configs, manifests). */
  maxJsonBytes?: number;
  /** Platform chosen from multi-platform indexes (default: this host). */
  platform?: Platform;
}

/** How deep OCI indexes may nest, and how many descriptors we follow in all. */
const MAX_INDEX_DEPTH = 8;
const MAX_DESCRIPTORS = 100_000;
/** Symlink hops followed inside an archive (legacy saves link duplicate layer.tar files). */
const MAX_LINK_HOPS = 16;

// ---------------------------------------------------------------------------
// Paths and members

interface Member { name: string; header: TarHeader; offset: number; size: number }

/** The canonical form of a member path, or undefined when it leaves the archive root. */
function cleanPath(p: string): string | undefined {
  if (p.includes('\0') || p === '') return undefined;
  if (p.startsWith('/')) return undefined;
  const n = posix.normalize(p).replace(/\/+$/, '');
  if (n === '..' || n.startsWith('../') || n === '.' || n === '') return undefined;
  return n.replace(/^(\.\/)+/, '');
}

class ArchiveIndex {
  private readonly members = new Map<string, Member>();

  constructor(readonly path: string, raw: Map<string, { header: TarHeader; offset: number; size: number }>, readonly maxJson: number) {
    for (const [name, e] of raw) {
      const n = cleanPath(name);
      if (n !== undefined) this.members.set(n, { name: n, ...e });
    }
  }

  has(name: string): boolean {
    return this.members.has(name);
  }

  /** The regular file a path in `what` names, following links inside the archive. */
  file(name: unknown, what: string): Member {
    if (typeof name !== 'string') throw invalidArgument(`${what}: path must be a string`, { name: what });
    let n = cleanPath(name);
    if (n === undefined) throw invalidArgument(`${what}: path escapes the archive: ${name}`, { name });
    for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
      const m = this.members.get(n);
      if (m === undefined) throw invalidArgument(`${what}: ${name} not found in archive`, { name });
      const t = m.header.type;
      if (t === 'file') return m;
      let next: string | undefined;
      if (t === 'symlink' && !m.header.linkname.startsWith('/')) next = cleanPath(posix.join(posix.dirname(n), m.header.linkname));
      else if (t === 'hardlink') next = cleanPath(m.header.linkname);
      else throw invalidArgument(`${what}: ${name} is not a regular file`, { name });
      if (next === undefined) throw invalidArgument(`${what}: ${name} links outside the archive`, { name });
      n = next;
    }
    throw invalidArgument(`${what}: ${name}: too many levels of links`, { name });
  }

  /**
   * A member's bytes in 1 MiB chunks, read with synchronous calls by the thread that
   * applies them: a read stream hands every chunk over from the thread pool, and on a
   * busy machine waiting for that hand-off cost more than the reads (load spent most of
   * its time in epoll waits). Like a read stream, a truncated archive just ends early.
   */
  stream(m: Member): AsyncIterable<Buffer> {
    return readRange(this.path, m.offset, m.size);
  }

  async read(m: Member, what: string): Promise<Buffer> {
    if (m.size > this.maxJson) {
      throw invalidArgument(`${what} is too large (${m.size} bytes, limit ${this.maxJson})`, { name: m.name });
    }
    const parts: Buffer[] = [];
    for await (const c of this.stream(m)) parts.push(c);
    const b = Buffer.concat(parts);
    if (b.length !== m.size) throw invalidArgument(`${what}: archive is truncated`, { name: m.name });
    return b;
  }

  async readJson(name: string, what = name): Promise<unknown> {
    const m = this.file(name, what);
    return parseJson(await this.read(m, what), what, this.maxJson);
  }
}

function hashOf(algorithm: string, b: Buffer): string {
  return `${algorithm}:${createHash(algorithm).update(b).digest('hex')}`;
}

/** `blobs/sha256/<hex>` style path → digest, else undefined. */
function digestFromBlobPath(p: string): string | undefined {
  const m = /^blobs\/(sha256|sha384|sha512)\/([a-f0-9]+)$/.exec(p);
  if (!m) return undefined;
  const d = `${m[1]}:${m[2]}`;
  try { parseDigest(d); return d; } catch { return undefined; }
}

function blobPath(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `blobs/${algorithm}/${hex}`;
}

/** Familiar "name:tag", or undefined when the string names no tag. Throws on malformed names. */
function repoTagOf(s: string, what: string): string | undefined {
  let r;
  try {
    r = parseReference(s, { defaultTag: false });
  } catch (e) {
    throw invalidArgument(`${what}: invalid image name ${JSON.stringify(s)}: ${(e as Error).message}`, { name: s, cause: e });
  }
  if (r.tag === undefined) return undefined;
  return familiarString({ domain: r.domain, path: r.path, tag: r.tag });
}

function checkLayerCount(cfg: ImageConfig, n: number, what: string): void {
  if (cfg.rootfs.diff_ids.length !== n) {
    throw invalidArgument(`${what}: image has ${n} layers but its config lists ${cfg.rootfs.diff_ids.length} diff_ids`, { name: what });
  }
}

// ---------------------------------------------------------------------------
// Reading

/**
 * Reads the image list of a docker-archive or OCI layout archive at `path`.
 * Throws InvalidArgument naming the offending member for malformed or hostile input.
 */
export async function openImageArchive(path: string, opts: OpenOptions = {}): Promise<ArchiveImage[]> {
  let raw;
  try {
    raw = await indexTarFile(path);
  } catch (e) {
    if (findStowageError(e)) throw e;
    throw invalidArgument(`not a tar archive: ${(e as Error).message}`, { name: path, cause: e });
  }
  const ix = new ArchiveIndex(path, raw, opts.maxJsonBytes ?? MAX_JSON_BYTES);
  if (ix.has('manifest.json')) {
    const images = await readDockerArchive(ix);
    // Docker 25+ also writes an OCI view; when it is sound, take manifest digests and
    // layer media types from it. `docker load` itself ignores it, so a broken OCI
    // view does not make the archive unreadable.
    if (ix.has('index.json') && ix.has('oci-layout')) {
      try {
        const oci = await readOciLayout(ix, opts);
        const byConfig = new Map(oci.map((i) => [i.configDigest, i]));
        for (const img of images) {
          const o = byConfig.get(img.configDigest);
          if (!o || o.layers.length !== img.layers.length) continue;
          if (o.manifestDigest !== undefined) img.manifestDigest = o.manifestDigest;
          img.layers.forEach((l, i) => {
            const ol = o.layers[i]!;
            if (l.digest !== undefined && l.digest === ol.digest && ol.mediaType !== undefined) l.mediaType = ol.mediaType;
          });
        }
      } catch { /* see above */ }
    }
    return images;
  }
  if (ix.has('index.json')) return readOciLayout(ix, opts);
  if (ix.has('repositories')) {
    throw invalidArgument('archive has no manifest.json: the pre-1.10 docker save format is not supported', { name: path });
  }
  throw invalidArgument('not an image archive: neither manifest.json nor index.json found', { name: path });
}

async function readDockerArchive(ix: ArchiveIndex): Promise<ArchiveImage[]> {
  const doc = await ix.readJson('manifest.json');
  if (!Array.isArray(doc)) throw invalidArgument('manifest.json: must be a JSON array', { name: 'manifest.json' });
  const images: ArchiveImage[] = [];
  for (const [i, item] of doc.entries()) {
    const what = `manifest.json[${i}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw invalidArgument(`${what}: must be an object`, { name: 'manifest.json' });
    const { Config, RepoTags, Layers } = item as Record<string, unknown>;
    const cm = ix.file(Config, `${what}.Config`);
    const config = await ix.read(cm, `config ${cm.name}`);
    const configDigest = sha256Digest(config);
    // Legacy saves name the config "<hex>.json", Docker 25 "blobs/sha256/<hex>".
    const named = digestFromBlobPath(cm.name) ?? (/^([a-f0-9]{64})\.json$/.exec(cm.name) ? `sha256:${cm.name.slice(0, 64)}` : undefined);
    if (named !== undefined && named !== hashOf(parseDigest(named).algorithm, config)) {
      throw invalidArgument(`config ${cm.name} does not match its digest ${named}`, { name: cm.name });
    }
    const cfg = parseImageConfig(config, { maxBytes: ix.maxJson });
    if (RepoTags !== undefined && RepoTags !== null && (!Array.isArray(RepoTags) || !RepoTags.every((t) => typeof t === 'string'))) {
      throw invalidArgument(`${what}.RepoTags: must be an array of strings`, { name: 'manifest.json' });
    }
    const repoTags: string[] = [];
    for (const t of (RepoTags ?? []) as string[]) {
      const rt = repoTagOf(t, `${what}.RepoTags`);
      if (rt === undefined) throw invalidArgument(`${what}.RepoTags: ${t} has no tag`, { name: t });
      if (!repoTags.includes(rt)) repoTags.push(rt);
    }
    if (!Array.isArray(Layers)) throw invalidArgument(`${what}.Layers: must be an array`, { name: 'manifest.json' });
    checkLayerCount(cfg, Layers.length, what);
    const layers: ArchiveLayer[] = Layers.map((p: unknown, j: number) => {
      const m = ix.file(p, `${what}.Layers[${j}]`);
      const l: ArchiveLayer = { size: m.size, open: () => ix.stream(m) };
      const d = digestFromBlobPath(m.name);
      if (d !== undefined) l.digest = d;
      return l;
    });
    images.push({ config, configDigest, repoTags, layers, source: 'docker-archive' });
  }
  return images;
}

function platformMatches(p: Platform | undefined, want: Platform): boolean {
  if (p === undefined) return false;
  if (p.os !== want.os || p.architecture !== want.architecture) return false;
  if (want.variant === undefined || p.variant === undefined) return true;
  return p.variant === want.variant;
}

function isAttestation(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' ||
    (d.platform?.os === 'unknown' && d.platform?.architecture === 'unknown');
}

interface OciWalk { ix: ArchiveIndex; want: Platform; seen: number; byManifest: Map<string, ArchiveImage>; order: ArchiveImage[] }

async function readOciLayout(ix: ArchiveIndex, opts: OpenOptions): Promise<ArchiveImage[]> {
  if (!ix.has('oci-layout')) throw invalidArgument('oci-layout: missing from an archive with index.json', { name: 'oci-layout' });
  const layout = await ix.readJson('oci-layout');
  const ver = (layout as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion;
  if (typeof ver !== 'string' || !/^1\.\d+\.\d+$/.test(ver)) {
    throw invalidArgument(`oci-layout: unsupported imageLayoutVersion ${JSON.stringify(ver)}`, { name: 'oci-layout' });
  }
  const m = ix.file('index.json', 'index.json');
  const top = parseIndexIn('index.json', await ix.read(m, 'index.json'), ix.maxJson);
  const w: OciWalk = { ix, want: opts.platform ?? hostPlatform(), seen: 0, byManifest: new Map(), order: [] };
  for (const [i, d] of top.manifests.entries()) {
    // Top-level entries are separate images (one per tag); no platform filtering here.
    await walkDescriptor(w, d, `index.json manifests[${i}]`, namesOf(d), 0);
  }
  return w.order;
}

function parseIndexIn(what: string, b: Buffer, max: number) {
  try {
    return parseIndex(b, { maxBytes: max });
  } catch (e) {
    throw invalidArgument(`${what}: ${(e as Error).message}`, { name: what, cause: e });
  }
}

function namesOf(d: Descriptor): { tags: string[]; refNames: string[] } {
  const tags: string[] = [];
  const refNames: string[] = [];
  const a = d.annotations ?? {};
  const full = a[Annotations.containerdImageName];
  const ref = a[Annotations.refName];
  if (full !== undefined) {
    const t = repoTagOf(full, `annotation ${Annotations.containerdImageName}`);
    if (t !== undefined) tags.push(t);
  } else if (ref !== undefined) {
    // A ref.name with ":" or "/" is a full reference; a bare word is only a tag.
    if (/[:/]/.test(ref)) {
      const t = repoTagOf(ref, `annotation ${Annotations.refName}`);
      if (t !== undefined) tags.push(t);
    } else if (isValidTag(ref)) {
      refNames.push(ref);
    }
  }
  return { tags, refNames };
}

async function readBlob(w: OciWalk, d: Descriptor, what: string, verify: boolean): Promise<{ m: Member; bytes?: Buffer }> {
  const m = w.ix.file(blobPath(d.digest), what);
  if (m.size !== d.size) {
    throw invalidArgument(`${what}: blob ${d.digest} has ${m.size} bytes but its descriptor says ${d.size}`, { name: m.name });
  }
  if (!verify) return { m };
  const bytes = await w.ix.read(m, `${what} (${m.name})`);
  if (hashOf(parseDigest(d.digest).algorithm, bytes) !== d.digest) {
    throw invalidArgument(`${what}: blob ${m.name} does not match its digest ${d.digest}`, { name: m.name });
  }
  return { m, bytes };
}

async function walkDescriptor(
  w: OciWalk, d: Descriptor, what: string, names: { tags: string[]; refNames: string[] }, depth: number,
): Promise<void> {
  if (++w.seen > MAX_DESCRIPTORS) throw invalidArgument(`${what}: too many descriptors`, { name: 'index.json' });
  if (isIndexMediaType(d.mediaType)) {
    if (depth >= MAX_INDEX_DEPTH) throw invalidArgument(`${what}: indexes nested too deeply`, { name: d.digest });
    const { bytes } = await readBlob(w, d, what, true);
    const idx = parseIndexIn(`index ${d.digest}`, bytes!, w.ix.maxJson);
    const candidates = idx.manifests.filter((c) => !isAttestation(c));
    const withPlatform = candidates.filter((c) => c.platform !== undefined);
    let chosen = candidates;
    if (withPlatform.length > 0) {
      const match = candidates.find((c) => platformMatches(c.platform, w.want));
      if (match === undefined) {
        const p = `${w.want.os}/${w.want.architecture}${w.want.variant ? '/' + w.want.variant : ''}`;
        throw notFound(`${what}: no manifest for platform ${p} in index ${d.digest}`, { name: d.digest });
      }
      chosen = [match];
    }
    for (const [i, c] of chosen.entries()) {
      await walkDescriptor(w, c, `${what} > ${d.digest} manifests[${i}]`, names, depth + 1);
    }
    return;
  }
  if (!isManifestMediaType(d.mediaType)) return; // artifacts and unknown kinds are not images
  const prior = w.byManifest.get(d.digest);
  if (prior) {
    for (const t of names.tags) if (!prior.repoTags.includes(t)) prior.repoTags.push(t);
    for (const r of names.refNames) if (!prior.refNames!.includes(r)) prior.refNames!.push(r);
    return;
  }
  const { bytes } = await readBlob(w, d, what, true);
  let man;
  try {
    man = parseManifest(bytes!, { maxBytes: w.ix.maxJson });
  } catch (e) {
    throw invalidArgument(`manifest ${d.digest}: ${(e as Error).message}`, { name: d.digest, cause: e });
  }
  const cmt = man.config.mediaType;
  if (cmt !== MediaTypes.ociConfig && cmt !== MediaTypes.dockerConfig) return; // an artifact, not an image
  const cwhat = `config of manifest ${d.digest}`;
  const { bytes: config } = await readBlob(w, man.config, cwhat, true);
  let cfg;
  try {
    cfg = parseImageConfig(config!, { maxBytes: w.ix.maxJson });
  } catch (e) {
    throw invalidArgument(`${cwhat}: ${(e as Error).message}`, { name: man.config.digest, cause: e });
  }
  checkLayerCount(cfg, man.layers.length, `manifest ${d.digest}`);
  const layers: ArchiveLayer[] = [];
  for (const [i, ld] of man.layers.entries()) {
    const lwhat = `manifest ${d.digest} layers[${i}]`;
    if (!isLayerMediaType(ld.mediaType)) throw invalidArgument(`${lwhat}: unsupported layer media type ${ld.mediaType}`, { name: ld.digest });
    const { m } = await readBlob(w, ld, lwhat, false);
    layers.push({ size: m.size, digest: ld.digest, mediaType: ld.mediaType, open: () => w.ix.stream(m) });
  }
  const img: ArchiveImage = {
    config: config!, configDigest: sha256Digest(config!), repoTags: [...names.tags], manifestDigest: d.digest,
    layers, source: 'oci-layout', refNames: [...names.refNames],
  };
  w.byManifest.set(d.digest, img);
  w.order.push(img);
}

/**
 * Passes src through, throwing InvalidArgument at the end when its bytes do not
 * hash to `digest` or do not add up to `size`. For callers that store blobs as given.
 */
export async function* verifyDigest(src: AsyncIterable<Buffer>, digest: string, size: number | undefined, what: string): AsyncGenerator<Buffer> {
  const { algorithm } = parseDigest(digest);
  const h = createHash(algorithm);
  let n = 0;
  for await (const c of src) {
    n += c.length;
    if (size !== undefined && n > size) throw invalidArgument(`${what}: more than the declared ${size} bytes`, { name: what });
    h.update(c);
    yield c;
  }
  if (size !== undefined && n !== size) throw invalidArgument(`${what}: ${n} bytes, expected ${size}`, { name: what });
  const got = `${algorithm}:${h.digest('hex')}`;
  if (got !== digest) throw invalidArgument(`${what}: content digest ${got} does not match ${digest}`, { name: what });
}

// ---------------------------------------------------------------------------
// Writing

export interface SaveLayer {
  /** sha256 of the uncompressed tar; also its blob digest in the archive. */
  diffId: string;
  size: number;
  /** The uncompressed layer tar; called once per archive even when images share the layer. */
  open(): AsyncIterable<Buffer>;
}

export interface SaveImage {
  config: Buffer;
  /** References to record; any form parseReference accepts ("busybox" is busybox:latest).
   *  Digest-only references are skipped: RepoTags holds tags. */
  repoTags: string[];
  layers: SaveLayer[];
}

export interface WriteOptions {
  /** Hash each layer while writing and fail on a mismatch with its diffId (default true). */
  verifyLayers?: boolean;
  /** mtime of every member, seconds since the epoch (default 0, for reproducible archives). */
  mtime?: number;
  signal?: AbortSignal;
}

export interface WriteResult {
  images: Array<{ configDigest: string; manifestDigest: string; repoTags: string[] }>;
}

interface Prepared {
  configDigest: string;
  config: Buffer;
  manifest: Buffer;
  manifestDigest: string;
  platform: Platform;
  /** Normalised references, sorted. */
  refs: Array<{ full: string; familiar: string; name: string; tag: string }>;
  layers: SaveLayer[];
}

function hexOf(d: string): string {
  return d.slice(d.indexOf(':') + 1);
}

/** JSON with object keys sorted, for reproducible output of maps keyed by names. */
function sortedJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (val === null || typeof val !== 'object' || Array.isArray(val)) return val;
    return Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  });
}

function prepare(images: SaveImage[]): Prepared[] {
  const out: Prepared[] = [];
  const byConfig = new Map<string, Prepared>();
  for (const [i, img] of images.entries()) {
    const what = `image ${i}`;
    const configDigest = sha256Digest(img.config);
    const cfg = parseImageConfig(img.config);
    const ids = cfg.rootfs.diff_ids;
    if (ids.length !== img.layers.length || ids.some((d, j) => d !== img.layers[j]!.diffId)) {
      throw invalidArgument(`${what}: layers do not match the config's rootfs.diff_ids`, { name: configDigest });
    }
    for (const l of img.layers) {
      if (!isSha256Digest(l.diffId)) throw invalidArgument(`${what}: invalid diffId ${l.diffId}`, { name: l.diffId });
      if (!Number.isSafeInteger(l.size) || l.size < 0) throw invalidArgument(`${what}: invalid size for layer ${l.diffId}`, { name: l.diffId });
    }
    const refs: Prepared['refs'] = [];
    for (const t of img.repoTags) {
      const r = parseReference(t);
      if (r.tag === undefined) continue;
      const plain = { domain: r.domain, path: r.path, tag: r.tag };
      refs.push({ full: referenceString(plain), familiar: familiarString(plain), name: familiarName(plain), tag: r.tag });
    }
    let p = byConfig.get(configDigest);
    if (p === undefined) {
      const platform: Platform = { architecture: cfg.architecture, os: cfg.os };
      if (cfg.variant !== undefined) platform.variant = cfg.variant;
      const manifest = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        config: { mediaType: MediaTypes.ociConfig, digest: configDigest, size: img.config.length },
        layers: img.layers.map((l) => ({ mediaType: MediaTypes.ociLayer, digest: l.diffId, size: l.size })),
      }));
      p = { configDigest, config: img.config, manifest, manifestDigest: sha256Digest(manifest), platform, refs: [], layers: img.layers };
      byConfig.set(configDigest, p);
      out.push(p);
    }
    for (const r of refs) if (!p.refs.some((x) => x.full === r.full)) p.refs.push(r);
  }
  for (const p of out) p.refs.sort((a, b) => (a.full < b.full ? -1 : a.full > b.full ? 1 : 0));
  return out;
}

/** The layer's bytes, checked against its declared size (always) and diffId (when verify). */
async function* checkedLayer(l: SaveLayer, verify: boolean, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const h = verify ? createHash('sha256') : undefined;
  let n = 0;
  for await (const c of l.open()) {
    signal?.throwIfAborted();
    n += c.length;
    if (n > l.size) throw invalidArgument(`layer ${l.diffId}: more than its declared ${l.size} bytes`, { name: l.diffId });
    h?.update(c);
    yield c;
  }
  if (n !== l.size) throw invalidArgument(`layer ${l.diffId}: ${n} bytes, expected ${l.size}`, { name: l.diffId });
  if (h) {
    const got = `sha256:${h.digest('hex')}`;
    if (got !== l.diffId) throw invalidArgument(`layer ${l.diffId}: content hashes to ${got}`, { name: l.diffId });
  }
}

/**
 * Writes one archive holding `images` that both `docker load` and OCI tools read.
 * Layers are streamed (never held in memory) and written once however many images
 * share them; output is byte-for-byte reproducible for the same input. Ends with
 * the tar trailer; does not end `out`.
 */
export async function writeImageArchive(out: NodeJS.WritableStream, images: SaveImage[], opts: WriteOptions = {}): Promise<WriteResult> {
  const prepared = prepare(images);
  const verify = opts.verifyLayers ?? true;
  const mtime = opts.mtime ?? 0;
  const tw = new TarWriter(out);
  const base = { uid: 0, gid: 0, uname: '', gname: '', mtime };
  const dir = (name: string) => tw.add({ ...base, name, type: 'dir', mode: 0o755 });
  const file = (name: string, body: Buffer | AsyncIterable<Buffer>, size: number) =>
    tw.add({ ...base, name, type: 'file', mode: 0o644, size }, body);

  // Every blob, once, in digest order.
  const blobs = new Map<string, { size: number; body: () => Buffer | AsyncIterable<Buffer> }>();
  for (const p of prepared) {
    blobs.set(p.configDigest, { size: p.config.length, body: () => p.config });
    blobs.set(p.manifestDigest, { size: p.manifest.length, body: () => p.manifest });
    for (const l of p.layers) {
      if (!blobs.has(l.diffId)) blobs.set(l.diffId, { size: l.size, body: () => checkedLayer(l, verify, opts.signal) });
    }
  }
  await dir('blobs/');
  await dir('blobs/sha256/');
  for (const d of [...blobs.keys()].sort()) {
    opts.signal?.throwIfAborted();
    const b = blobs.get(d)!;
    await file(`blobs/sha256/${hexOf(d)}`, b.body(), b.size);
  }

  const indexEntries: Descriptor[] = [];
  for (const p of prepared) {
    const desc: Descriptor = { mediaType: MediaTypes.ociManifest, digest: p.manifestDigest, size: p.manifest.length, platform: p.platform };
    if (p.refs.length === 0) indexEntries.push(desc);
    for (const r of p.refs) {
      indexEntries.push({ ...desc, annotations: { [Annotations.containerdImageName]: r.full, [Annotations.refName]: r.tag } });
    }
  }
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: indexEntries }));
  await file('index.json', index, index.length);

  const manifestJson = Buffer.from(JSON.stringify(prepared.map((p) => ({
    Config: `blobs/sha256/${hexOf(p.configDigest)}`,
    RepoTags: p.refs.map((r) => r.familiar),
    Layers: p.layers.map((l) => `blobs/sha256/${hexOf(l.diffId)}`),
  }))));
  await file('manifest.json', manifestJson, manifestJson.length);

  const layout = Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await file('oci-layout', layout, layout.length);

  // Legacy `repositories`: familiar name -> tag -> hex of the top layer, as Docker 25 writes it.
  const repos: Record<string, Record<string, string>> = {};
  for (const p of prepared) {
    const top = p.layers[p.layers.length - 1];
    if (top === undefined) continue;
    for (const r of p.refs) (repos[r.name] ??= {})[r.tag] = hexOf(top.diffId);
  }
  if (Object.keys(repos).length > 0) {
    const rb = Buffer.from(sortedJson(repos));
    await file('repositories', rb, rb.length);
  }
  await tw.finish();
  return { images: prepared.map((p) => ({ configDigest: p.configDigest, manifestDigest: p.manifestDigest, repoTags: p.refs.map((r) => r.familiar) })) };
}

const READ_CHUNK = 1 << 20;

async function* readRange(path: string, start: number, size: number): AsyncGenerator<Buffer> {
  if (size === 0) return;
  const fd = openSync(path, 'r');
  try {
    let pos = start;
    let left = size;
    while (left > 0) {
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, left));
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) return;
      pos += n;
      left -= n;
      yield n === buf.length ? buf : buf.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}
