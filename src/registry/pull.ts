// pull.ts: images from a registry into the store, through the same layer store
// as `load`.
//
// The manifest (or the host's manifest from an index) and the config are fetched
// and verified first. Layers whose chainID is already stored are skipped. The
// others download concurrently (settings.maxConcurrentDownloads) into spools
// (spool.ts), hashed as they arrive, resuming with Range after a dropped
// connection; meanwhile the layer store applies them in order, each read from its
// spool while it is still downloading (decompressed and extracted on the fly, its
// blob digest and diffID checked by the layer store at the end). Layers are leased
// to this process until the image row is written, and spools live in tmp/ under
// this process's owner token: a crash at any point leaves only what the next
// command's recovery removes. A wrong digest, a short body or a manifest that does
// not match: a clear error, the layer discarded, no image recorded.
import { createHash } from 'node:crypto';
import { sha256 } from '../content/store.js';
import type { Engine } from '../engine.js';
import type { LayerRecord } from '../layers/store.js';
import { failedPrecondition, invalidArgument, notFound, unavailable } from '../errors.js';
import {
  MediaTypes, chainIds, hostPlatform, isIndexMediaType, isLayerMediaType, parseImageConfig, parseIndex, parseManifest,
  type Descriptor, type ImageConfig, type Manifest, type Platform,
} from '../images/config.js';
import { familiarString, parseReference, referenceString, normalizedName, type Reference } from '../images/reference.js';
import { recordImage } from '../images/load.js';
import { RegistryClient } from './client.js';
import { isTransient, readBody } from './http.js';
import { Spool } from './spool.js';
import { rememberBlob } from './blob-map.js';
import { bytesEvent, throttle, type OnProgress } from './progress.js';
import type { AuthConfig } from './credentials.js';
import type { RegistrySettings } from './settings.js';

export interface PullOptions {
  /** "os/arch[/variant]"; default the host's. */
  platform?: string;
  /** Every tag of the repository. */
  allTags?: boolean;
  auth?: AuthConfig;
  onProgress?: OnProgress;
  signal?: AbortSignal;
  settings?: RegistrySettings;
}

export interface PullResult {
  /** The full reference pulled: "docker.io/library/busybox:latest". */
  reference: string;
  /** The manifest (or index) digest the reference resolved to. */
  digest: string;
  id: string;
  /** false when the image was already there under that reference. */
  downloaded: boolean;
}

/** Bytes received but not yet in the spool before the socket is paused. */
const HIGH_WATER = 8 << 20;

const SCHEMA1 = ['application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws'];
const MAX_CONFIG_BYTES = 8 << 20;

export function parsePlatform(s: string): Platform {
  const [os, arch, variant, extra] = s.toLowerCase().split('/');
  if (!os || !arch || extra !== undefined) throw invalidArgument(`invalid platform "${s}": want os/arch[/variant]`, { name: s });
  const alias: Record<string, string> = { x86_64: 'amd64', aarch64: 'arm64', armhf: 'arm', armel: 'arm' };
  const p: Platform = { os, architecture: alias[arch] ?? arch };
  if (variant) p.variant = variant;
  else if (arch === 'armhf') p.variant = 'v7';
  else if (arch === 'armel') p.variant = 'v6';
  return p;
}

function platformString(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? '/' + p.variant : ''}`;
}

function matches(p: Platform | undefined, want: Platform): boolean {
  if (!p || p.os !== want.os || p.architecture !== want.architecture) return false;
  if (want.variant === undefined) return p.variant === undefined || p.architecture !== 'arm' || p.variant === 'v7' || p.variant === 'v8';
  return p.variant === undefined || p.variant === want.variant;
}

const shortOf = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);

/** `docker pull`: one reference, or every tag of a repository with allTags. */
export async function pull(engine: Engine, refStr: string, opts: PullOptions = {}): Promise<PullResult[]> {
  await engine.recover();
  const ref = parseReference(refStr, { defaultTag: !opts.allTags });
  if (opts.allTags && (ref.tag !== undefined || ref.digest !== undefined)) throw invalidArgument('tag can\'t be used with --all-tags/-a', { name: refStr });
  const client = new RegistryClient(ref.domain, { ...(opts.auth ? { auth: opts.auth } : {}), ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.settings ? { settings: opts.settings } : {}), mirrors: true });
  const emit = opts.onProgress ?? (() => {});
  try {
    if (!opts.allTags) {
      const r = await pullOne(engine, client, ref, opts, emit);
      emit({ status: `Digest: ${r.digest}` });
      emit({ status: `Status: ${r.downloaded ? 'Downloaded newer image' : 'Image is up to date'} for ${familiarString(ref)}` });
      return [r];
    }
    const tags = await client.tags(ref.path);
    const results: PullResult[] = [];
    for (const tag of tags) {
      const r = await pullOne(engine, client, { ...ref, tag }, opts, emit);
      emit({ status: `Digest: ${r.digest}` });
      results.push(r);
    }
    const any = results.some((r) => r.downloaded);
    emit({ status: `Status: ${any ? 'Downloaded newer image' : 'Image is up to date'} for ${familiarString({ domain: ref.domain, path: ref.path })}` });
    return results;
  } finally {
    client.close();
  }
}

async function pullOne(engine: Engine, client: RegistryClient, ref: Reference, opts: PullOptions, emit: OnProgress): Promise<PullResult> {
  const repo = ref.path;
  const want = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
  const tagOrDigest = ref.digest ?? ref.tag!;
  // After the manifest, as dockerd: a pull that fails there (missing, refused) has
  // written nothing yet, so the Engine API answers it with an error status.
  const top = await client.getManifest(repo, tagOrDigest);
  emit({ status: `Pulling from ${repo}`, id: tagOrDigest });
  let m = top;
  let manifest: Manifest;
  for (let depth = 0; ; depth++) {
    const doc = parseJsonLoose(m.bytes);
    if (SCHEMA1.includes(m.mediaType) || doc?.schemaVersion === 1) {
      throw failedPrecondition(`Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed. Suggest the author of ${referenceString(ref)} to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2. More information at https://docs.docker.com/go/deprecated-image-specs/`, { name: referenceString(ref) });
    }
    const mt = m.mediaType && m.mediaType !== 'application/json' ? m.mediaType : (doc?.mediaType as string | undefined) ?? (Array.isArray(doc?.manifests) ? MediaTypes.ociIndex : MediaTypes.ociManifest);
    if (!isIndexMediaType(mt)) {
      try { manifest = parseManifest(m.bytes); } catch (e) { throw invalidArgument(`manifest ${m.digest}: ${(e as Error).message}`, { name: m.digest, cause: e }); }
      break;
    }
    if (depth > 2) throw invalidArgument(`manifest ${m.digest}: indexes nested too deeply`, { name: m.digest });
    let idx;
    try { idx = parseIndex(m.bytes); } catch (e) { throw invalidArgument(`index ${m.digest}: ${(e as Error).message}`, { name: m.digest, cause: e }); }
    const pick: Descriptor | undefined = idx.manifests.find((d) => matches(d.platform, want) && d.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest');
    if (!pick) throw notFound(`no matching manifest for ${platformString(want)} in the manifest list entries`, { name: referenceString(ref) });
    const next = await client.getManifest(repo, pick.digest);
    if (next.bytes.length !== pick.size) throw invalidArgument(`manifest ${pick.digest} has ${next.bytes.length} bytes but the index says ${pick.size}`, { name: pick.digest });
    m = next;
  }

  // Config: small, fetched whole and verified.
  const cd = manifest.config;
  if (cd.mediaType !== MediaTypes.dockerConfig && cd.mediaType !== MediaTypes.ociConfig) {
    throw invalidArgument(`${referenceString(ref)} is not a container image: its config media type is ${cd.mediaType}`, { name: referenceString(ref) });
  }
  if (cd.size > MAX_CONFIG_BYTES) throw invalidArgument(`image config ${cd.digest} is too large (${cd.size} bytes)`, { name: cd.digest });
  let configBuf: Buffer;
  if (engine.content.has(cd.digest)) configBuf = engine.content.read(cd.digest);
  else {
    const res = await client.getBlob(repo, cd.digest);
    configBuf = await readBody(res, MAX_CONFIG_BYTES, `config ${cd.digest}`);
    const got = sha256(configBuf);
    if (got !== cd.digest || configBuf.length !== cd.size) {
      throw invalidArgument(`config blob ${cd.digest} failed verification: got ${configBuf.length} bytes hashing to ${got} (want ${cd.size})`, { name: cd.digest });
    }
  }
  let cfg: ImageConfig;
  try { cfg = parseImageConfig(configBuf); } catch (e) { throw invalidArgument(`image config ${cd.digest}: ${(e as Error).message}`, { name: cd.digest, cause: e }); }
  const diffIds = cfg.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw invalidArgument(`manifest ${m.digest} lists ${manifest.layers.length} layers but its config lists ${diffIds.length} diff IDs`, { name: m.digest });
  }
  for (const l of manifest.layers) {
    if (!isLayerMediaType(l.mediaType)) throw invalidArgument(`manifest ${m.digest}: unsupported layer media type ${l.mediaType}`, { name: l.digest });
    if (l.urls?.length) throw invalidArgument(`manifest ${m.digest}: foreign layers (urls) are not supported`, { name: l.digest });
  }
  if (diffIds.length > engine.layers.maxImageDepth) {
    throw failedPrecondition(`max depth exceeded: the image would have ${diffIds.length} layers; the ${engine.driver.name} driver stacks at most ${engine.driver.maxDepth}, one of them a container's writable layer`, { op: 'pull', name: m.digest });
  }

  const chains = chainIds(diffIds);
  const tagName = ref.tag !== undefined && ref.digest === undefined ? referenceString({ domain: ref.domain, path: ref.path, tag: ref.tag }) : undefined;
  const digestName = `${normalizedName(ref)}@${top.digest}`;
  const existingImage = engine.imageStore.get(cd.digest);
  const already = !!existingImage && (tagName ? engine.imageStore.ref(tagName)?.imageId === cd.digest : engine.imageStore.ref(digestName)?.imageId === cd.digest);

  const ctl = new AbortController();
  const onAbort = () => ctl.abort(opts.signal!.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const downloads = new Map<string, Download>();
  const slots = new Semaphore(client.settings.maxConcurrentDownloads);
  try {
    // Which layers are missing: announce them all, as Docker does, then start them.
    const missing = new Set<number>();
    for (let i = 0; i < diffIds.length; i++) {
      const id = shortOf(manifest.layers[i]!.digest);
      const l = engine.layers.byChainId(chains[i]!);
      // An image already here is not pulled at all: dockerd prints no layer lines for it.
      if (l && l.state === 'ready') { if (!existingImage) emit({ status: 'Already exists', id }); }
      else { missing.add(i); emit({ status: 'Pulling fs layer', id }); }
    }
    const start = (d: Descriptor): Download => {
      let dl = downloads.get(d.digest);
      if (!dl) {
        dl = new Download(engine, client, repo, d, slots, emit, ctl.signal);
        downloads.set(d.digest, dl);
        dl.run().catch(() => { /* surfaced through the spool to the applier */ });
      }
      return dl;
    };
    for (const i of missing) start(manifest.layers[i]!);

    let parent: LayerRecord | null = null;
    for (let i = 0; i < diffIds.length; i++) {
      const d = manifest.layers[i]!;
      const id = shortOf(d.digest);
      let used: Download | undefined;
      const r: { layer: LayerRecord; existed: boolean } = await engine.layers.add(parent, () => {
        used = start(d);
        return used.read((n, total) => emit(bytesEvent('Extracting', id, n, total)));
      }, { expectDiffId: diffIds[i]!, expectBlobDigest: d.digest, signal: ctl.signal });
      if (used) emit({ status: 'Pull complete', id });
      parent = r.layer;
    }
    const id = recordImage(engine, configBuf, parent, tagName ? [tagName] : [], [], [digestName]);
    for (let i = 0; i < diffIds.length; i++) {
      const d = manifest.layers[i]!;
      rememberBlob(engine.db, { diffId: diffIds[i]!, digest: d.digest, mediaType: d.mediaType, size: d.size, registry: ref.domain, repository: repo });
    }
    return { reference: tagName ?? digestName, digest: top.digest, id, downloaded: !already };
  } finally {
    // Downloads nobody needs any more (an error, or a layer another process stored
    // meanwhile) stop here; their spools go.
    ctl.abort(new Error('pull finished'));
    opts.signal?.removeEventListener('abort', onAbort);
    await Promise.all([...downloads.values()].map((d) => d.close()));
    engine.layers.releaseLeases();
  }
}

function parseJsonLoose(b: Buffer): Record<string, unknown> | undefined {
  try { const v = JSON.parse(b.toString('utf8')) as unknown; return v && typeof v === 'object' ? v as Record<string, unknown> : undefined; } catch { return undefined; }
}

class Semaphore {
  private waiting: Array<() => void> = [];
  constructor(private free: number) {}
  get available(): boolean { return this.free > 0; }
  async take(): Promise<void> {
    if (this.free > 0) { this.free--; return; }
    await new Promise<void>((r) => this.waiting.push(r));
  }
  give(): void {
    const next = this.waiting.shift();
    if (next) next(); else this.free++;
  }
}

/** One blob's download into a spool: slot, resume, verification, progress. */
class Download {
  private spool: Spool | undefined;
  private ready: Promise<Spool>;
  private setReady!: (s: Spool) => void;
  private failReady!: (e: unknown) => void;

  constructor(
    private readonly engine: Engine, private readonly client: RegistryClient, private readonly repo: string,
    private readonly d: Descriptor, private readonly slots: Semaphore, private readonly emit: OnProgress, private readonly signal: AbortSignal,
  ) {
    this.ready = new Promise<Spool>((ok, ko) => { this.setReady = ok; this.failReady = ko; });
    this.ready.catch(() => {});
  }

  async run(): Promise<void> {
    const id = shortOf(this.d.digest);
    if (!this.slots.available) this.emit({ status: 'Waiting', id });
    await this.slots.take();
    let spool: Spool;
    try {
      if (this.signal.aborted) throw this.signal.reason;
      spool = this.spool = await Spool.create(this.engine.layout.tmpPath('pull'));
      this.setReady(spool);
    } catch (e) {
      this.slots.give();
      this.failReady(e);
      throw e;
    }
    try {
      await this.fetch(spool, id);
      spool.finish();
    } catch (e) {
      spool.fail(e);
      throw e;
    } finally {
      this.slots.give();
    }
  }

  private async fetch(spool: Spool, id: string): Promise<void> {
    const h = createHash('sha256');
    const total = this.d.size;
    const tick = throttle(100);
    let got = 0;
    let failures = 0;
    for (;;) {
      if (this.signal.aborted) throw this.signal.reason;
      try {
        const res = await this.client.getBlob(this.repo, this.d.digest, got);
        // A server that ignores Range sends everything again: skip what we have.
        let skip = res.status === 200 ? got : 0;
        // Flowing mode with our own buffer (up to HIGH_WATER bytes waiting for the
        // spool), not `for await`: the body's 16 KiB buffer would stop reading the
        // socket whenever the layer store's extraction holds the thread, and the
        // download of the layer being extracted would crawl behind it.
        await new Promise<void>((resolve, reject) => {
          const body = res.body;
          let settled = false;
          let paused = false;
          let ended = false;
          const onAbort = () => fail(this.signal.reason);
          this.signal.addEventListener('abort', onAbort, { once: true });
          const fail = (e: unknown) => { if (settled) return; settled = true; this.signal.removeEventListener('abort', onAbort); body.destroy(); reject(e); };
          const maybeDone = () => { if (ended && queue.pending === 0 && !settled) { settled = true; this.signal.removeEventListener('abort', onAbort); resolve(); } };
          const queue = spool.queue((e) => fail(e), () => {
            if (paused && queue.pending < HIGH_WATER / 2) { paused = false; body.resume(); }
            maybeDone();
          });
          body.on('data', (raw: Buffer) => {
            if (settled) return;
            let c = raw;
            if (skip > 0) {
              if (c.length <= skip) { skip -= c.length; return; }
              c = c.subarray(skip);
              skip = 0;
            }
            if (got + c.length > total) return fail(invalidArgument(`blob ${this.d.digest} is larger than the ${total} bytes its manifest says`, { name: this.d.digest }));
            h.update(c);
            got += c.length;
            queue.push(c);
            if (queue.pending > HIGH_WATER && !paused) { paused = true; body.pause(); }
            if (tick()) this.emit(bytesEvent('Downloading', id, got, total));
            if (this.signal.aborted) fail(this.signal.reason);
          });
          body.on('end', () => { ended = true; maybeDone(); });
          body.on('error', (e) => fail(e));
          body.on('close', () => { if (!ended) fail(Object.assign(new Error('connection closed mid-body'), { code: 'ECONNRESET' })); });
        });
        await spool.flushed();
        if (got < total) throw Object.assign(new Error(`unexpected EOF: blob ${this.d.digest} ended after ${got} of ${total} bytes`), { code: 'ECONNRESET' });
        break;
      } catch (e) {
        // Bytes already received are still on their way into the spool: the next
        // request appends after them, so let them land first.
        await spool.flushed();
        if (this.signal.aborted) throw this.signal.reason;
        if (isTransient(e) && ++failures <= 5) {
          await this.client.backoff(failures - 1);
          continue;
        }
        if (isTransient(e)) throw unavailable(`download of ${this.d.digest} failed after ${failures} attempts: ${(e as Error).message}`, { name: this.d.digest, cause: e });
        throw e;
      }
    }
    this.emit(bytesEvent('Downloading', id, got, total));
    this.emit({ status: 'Verifying Checksum', id });
    const digest = 'sha256:' + h.digest('hex');
    if (digest !== this.d.digest) {
      throw invalidArgument(`filesystem layer verification failed for digest ${this.d.digest}: the downloaded bytes hash to ${digest}`, { name: this.d.digest });
    }
    this.emit({ status: 'Download complete', id });
  }

  /** The blob's bytes for the layer store, as they arrive. */
  async *read(onProgress: (n: number, total: number) => void): AsyncGenerator<Buffer> {
    const spool = await this.ready;
    let n = 0;
    const tick = throttle(100);
    const total = this.d.size;
    // While the blob still downloads, its line says Downloading (as Docker's does);
    // Extracting takes over once the download is complete.
    yield* spool.reader((k) => { n += k; if (spool.finished && (tick() || n === total)) onProgress(n, total); });
  }

  async close(): Promise<void> {
    this.failReady(new Error('closed'));
    await this.spool?.close();
  }
}

