// push.ts: an image from the store to a registry, as `docker push` does it.
//
// Layers go up in parallel (settings.maxConcurrentUploads). For each, blobs this
// store already knows for it in that registry (blob-map.ts, learnt on pull and on
// earlier pushes) are tried first: HEAD in the target repository ("Layer already
// exists"), then a cross-repository mount ("Mounted from …"). Only a layer the
// registry lacks is re-assembled from its tar-split, gzip-compressed while it
// streams up (PATCH, then PUT ?digest=), and its compressed digest remembered, so
// the next push of it compresses nothing. The config follows, the manifest last:
// a registry never holds a manifest whose blobs are missing.
import { createHash } from 'node:crypto';
import { sha256 } from '../content/store.js';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { Engine } from '../engine.js';
import { invalidArgument, notFound, findStowageError } from '../errors.js';
import { MediaTypes, parseImageConfig } from '../images/config.js';
import { familiarString, normalizedName, parseReference, referenceString } from '../images/reference.js';
import { RegistryClient } from './client.js';
import { blobsOf, forgetBlob, rememberBlob } from './blob-map.js';
import { bytesEvent, throttle, type OnProgress } from './progress.js';
import type { AuthConfig } from './credentials.js';
import type { RegistrySettings } from './settings.js';
import type { LayerRecord } from '../layers/store.js';

export interface PushOptions {
  auth?: AuthConfig;
  onProgress?: OnProgress;
  signal?: AbortSignal;
  settings?: RegistrySettings;
}

export interface PushResult { tag: string; digest: string; size: number }

interface Pushed { mediaType: string; digest: string; size: number }

const shortOf = (d: string) => d.replace(/^sha256:/, '').slice(0, 12);

export async function push(engine: Engine, refStr: string, opts: PushOptions = {}): Promise<PushResult> {
  await engine.recover();
  const ref = parseReference(refStr);
  if (ref.digest) throw invalidArgument(`cannot push a digest reference: ${refStr}`, { name: refStr });
  const tag = ref.tag!;
  const name = referenceString(ref);
  const emit = opts.onProgress ?? (() => {});
  // First, as dockerd: a missing image is then an error inside the progress stream.
  emit({ status: `The push refers to repository [${normalizedName(ref)}]` });
  const local = engine.imageStore.ref(name);
  if (!local) throw notFound(`An image does not exist locally with the tag: ${familiarString({ domain: ref.domain, path: ref.path })}`, { name: refStr });
  const img = engine.imageStore.get(local.imageId)!;
  const configBuf = engine.imageStore.config(img.id);
  const cfg = parseImageConfig(configBuf);
  const layers = engine.imageStore.layersOf(img);
  if (layers.length !== cfg.rootfs.diff_ids.length) throw invalidArgument(`image ${img.id}: ${layers.length} layers stored but its config lists ${cfg.rootfs.diff_ids.length}`, { name: img.id });
  const repo = ref.path;
  const client = new RegistryClient(ref.domain, { ...(opts.auth ? { auth: opts.auth } : {}), ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.settings ? { settings: opts.settings } : {}) });
  try {
    await client.ping();
    // Docker lists the top layer first.
    const order = layers.map((l, i) => ({ l, i })).reverse();
    for (const { l } of order) emit({ status: 'Preparing', id: shortOf(l.diffId!) });
    const results: Pushed[] = new Array(layers.length);
    let next = 0;
    const limit = client.settings.maxConcurrentUploads;
    if (order.length > limit) for (const { l } of order.slice(limit)) emit({ status: 'Waiting', id: shortOf(l.diffId!) });
    const worker = async () => {
      while (next < order.length) {
        const { l, i } = order[next++]!;
        results[i] = await pushLayer(engine, client, ref.domain, repo, l, emit, client.settings.compressionLevel);
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, order.length) }, worker));

    const configDigest = img.id;
    if ((await client.headBlob(repo, configDigest, [`repository:${repo}:pull,push`])) === undefined) {
      await client.uploadBytes(repo, configBuf, configDigest);
    }
    const oci = results.some((r) => r.mediaType.startsWith('application/vnd.oci.'));
    const manifest = {
      schemaVersion: 2,
      mediaType: oci ? MediaTypes.ociManifest : MediaTypes.dockerManifest,
      config: { mediaType: oci ? MediaTypes.ociConfig : MediaTypes.dockerConfig, size: configBuf.length, digest: configDigest },
      // In an OCI manifest, gzip layers carry the OCI name for the same format.
      layers: results.map((r) => ({ mediaType: oci && r.mediaType === MediaTypes.dockerLayerGzip ? MediaTypes.ociLayerGzip : r.mediaType, size: r.size, digest: r.digest })),
    };
    // Docker writes manifests indented with three spaces; the digest is of these bytes.
    const bytes = Buffer.from(JSON.stringify(manifest, null, 3));
    const digest = sha256(bytes);
    await client.putManifest(repo, tag, bytes, manifest.mediaType);
    engine.imageStore.setRef(`${normalizedName(ref)}@${digest}`, img.id, 'digest');
    emit({ status: `${tag}: digest: ${digest} size: ${bytes.length}` });
    emit({ status: '', aux: { Tag: tag, Digest: digest, Size: bytes.length } });
    return { tag, digest, size: bytes.length };
  } finally {
    client.close();
  }
}

async function pushLayer(engine: Engine, client: RegistryClient, registry: string, repo: string, l: LayerRecord, emit: OnProgress, level: number): Promise<Pushed> {
  const diffId = l.diffId!;
  const id = shortOf(diffId);
  for (const b of blobsOf(engine.db, diffId, registry, repo)) {
    if (b.repository === repo) {
      const size = await client.headBlob(repo, b.digest, [`repository:${repo}:pull,push`]);
      if (size !== undefined) {
        emit({ status: 'Layer already exists', id });
        return { mediaType: b.mediaType, digest: b.digest, size: b.size };
      }
      forgetBlob(engine.db, b);
      continue;
    }
    if (await client.mountBlob(repo, b.digest, b.repository)) {
      rememberBlob(engine.db, { ...b, repository: repo });
      emit({ status: `Mounted from ${b.repository}`, id });
      return { mediaType: b.mediaType, digest: b.digest, size: b.size };
    }
  }
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await uploadLayer(engine, client, repo, l, emit, level);
      rememberBlob(engine.db, { diffId, digest: r.digest, mediaType: MediaTypes.dockerLayerGzip, size: r.size, registry, repository: repo });
      emit({ status: 'Pushed', id });
      return { mediaType: MediaTypes.dockerLayerGzip, digest: r.digest, size: r.size };
    } catch (err) {
      const k = findStowageError(err)?.kind;
      if (attempt >= 2 || (k !== 'Unavailable' && k !== undefined)) throw err;
      emit({ status: `Retrying in ${attempt + 1} second${attempt ? 's' : ''}`, id });
      await client.backoff(attempt, (attempt + 1) * 1000);
    }
  }
}

async function uploadLayer(engine: Engine, client: RegistryClient, repo: string, l: LayerRecord, emit: OnProgress, level: number): Promise<{ digest: string; size: number }> {
  const id = shortOf(l.diffId!);
  const tick = throttle(100);
  let read = 0;
  const source = engine.layers.assemble(l);
  const counted = (async function* () {
    for await (const c of source) {
      read += c.length;
      if (tick()) emit(bytesEvent('Pushing', id, read, l.size));
      yield c;
    }
  })();
  const gz = createGzip({ level, chunkSize: 256 * 1024 });
  const input = Readable.from(counted, { objectMode: false, highWaterMark: 1 << 20 });
  input.on('error', (e) => gz.destroy(e));
  input.pipe(gz);
  const h = createHash('sha256');
  let size = 0;
  const hashed = (async function* () {
    for await (const c of gz) {
      h.update(c as Buffer);
      size += (c as Buffer).length;
      yield c as Buffer;
    }
  })();
  try {
    return await client.uploadStream(repo, hashed, () => ({ digest: 'sha256:' + h.digest('hex'), size }));
  } finally {
    input.destroy();
    gz.destroy();
  }
}
