// load.ts: images into the store, from a rootfs tar (`import`) or an image
// archive (`load`: docker-archive or OCI image layout).
//
// Layers are applied one by one on their parents; a layer whose chainID is
// already stored is not applied again (it is shared). Everything a load makes
// is leased to this process until the image row is written, so a crash at any
// point leaves only things recovery removes, never a half-image.
import type { Engine } from '../engine.js';
import type { LayerRecord } from '../layers/store.js';
import { parseImageConfig, hostPlatform, type ImageConfig, type ContainerConfig } from './config.js';
import { parseReference, referenceString, familiarString } from './reference.js';
import { applyChanges } from './changes.js';
import { openImageArchive } from './archive-format.js';
import { failedPrecondition, invalidArgument } from '../errors.js';
import { ownerToken } from '../store/owner.js';
import { sha256 } from '../content/store.js';
import { countedBytes, type OnProgress } from '../registry/progress.js';
import { failpoint } from '../util/failpoint.js';
import { createReadStream, createWriteStream, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { decompress, detectCompression } from '../archive/compression.js';

export interface ImportOptions {
  reference?: string;
  message?: string;
  changes?: string[];
  platform?: string;
  signal?: AbortSignal;
}

export interface LoadedImage { id: string; tags: string[]; layersLoaded: number; layersShared: number }
export interface LoadResult { images: LoadedImage[]; messages: string[] }

/**
 * Records config + top layer as an image and points tags (and digest references,
 * "name@sha256:…" of a pulled manifest) at it, in one transaction.
 */
export function recordImage(engine: Engine, configBuf: Buffer, top: LayerRecord | null, tags: string[], messages: string[], digestRefs: string[] = []): string {
  const db = engine.db;
  const owner = ownerToken();
  // Lease the config blob before writing it, so a concurrent image delete never
  // sees it unleased and unused between the write and the images row.
  const digest = sha256(configBuf);
  db.prepare('INSERT OR IGNORE INTO blob_leases (owner, digest) VALUES (?, ?)').run(owner, digest);
  try {
    engine.content.write(configBuf);
    failpoint('image:blob');
    db.transaction(() => {
      engine.imageStore.put(digest, top);
      for (const t of tags) {
        const prev = engine.imageStore.setRef(t, digest, 'tag');
        if (prev) messages.push(`The image ${familiarString(parseReference(t))} already exists, renaming the old one with ID ${prev} to empty string`);
      }
      for (const d of digestRefs) engine.imageStore.setRef(d, digest, 'digest');
    }).immediate();
  } finally {
    db.prepare('DELETE FROM blob_leases WHERE owner = ?').run(owner);
    engine.layers.releaseLeases();
  }
  return digest;
}

export async function importImage(engine: Engine, src: AsyncIterable<Buffer>, opts: ImportOptions): Promise<string> {
  await engine.recover();
  const tag = opts.reference ? referenceString(parseReference(opts.reference)) : undefined;
  if (tag && parseReference(opts.reference!).digest) throw invalidArgument(`import: cannot use a digest reference as the new image name`, { name: opts.reference });
  const platform = hostPlatform();
  if (opts.platform) {
    const [os, arch, variant] = opts.platform.split('/');
    if (!os || !arch) throw invalidArgument(`invalid platform "${opts.platform}": want os/arch[/variant]`);
    platform.os = os; platform.architecture = arch; if (variant) platform.variant = variant;
  }
  let containerConfig: ContainerConfig = {};
  if (opts.changes?.length) containerConfig = applyChanges(containerConfig, opts.changes);
  try {
    const { layer } = await engine.layers.add(null, () => src, opts.signal ? { signal: opts.signal } : {});
    const created = new Date().toISOString();
    const config: ImageConfig = {
      architecture: platform.architecture,
      ...(platform.variant ? { variant: platform.variant } : {}),
      os: platform.os,
      config: containerConfig,
      created,
      history: [{ created, comment: opts.message || 'Imported from -' }],
      rootfs: { type: 'layers', diff_ids: [layer.diffId!] },
    };
    if (opts.message) config.comment = opts.message;
    return recordImage(engine, Buffer.from(JSON.stringify(config)), layer, tag ? [tag] : [], []);
  } finally {
    engine.layers.releaseLeases();
  }
}

/**
 * `docker load` takes a whole archive compressed with gzip, bzip2, xz or zstd
 * (moby's DecompressStream sniffs it). An archive is read by offset, so a compressed
 * one is first decompressed into staging (removed when the load ends; a crash leaves
 * it to the staging sweep). Returns the path to read and whether it is staged.
 */
async function plainArchive(engine: Engine, path: string, signal?: AbortSignal): Promise<{ path: string; staged: boolean }> {
  const fh = await open(path, 'r');
  let head: Buffer;
  try {
    const b = Buffer.alloc(8);
    const { bytesRead } = await fh.read(b, 0, 8, 0);
    head = b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  if (detectCompression(head) === 'none') return { path, staged: false };
  const staged = engine.layout.tmpPath('load-plain');
  try {
    await pipeline(Readable.from(decompress(createReadStream(path, { highWaterMark: 1 << 20 }))), createWriteStream(staged), signal ? { signal } : {});
  } catch (e) {
    rmSync(staged, { force: true });
    throw e;
  }
  return { path: staged, staged: true };
}

export async function loadImages(engine: Engine, archivePath: string, opts: { signal?: AbortSignal; onProgress?: OnProgress } = {}): Promise<LoadResult> {
  await engine.recover();
  const plain = await plainArchive(engine, archivePath, opts.signal);
  try {
    return await loadPlain(engine, plain.path, opts);
  } finally {
    if (plain.staged) rmSync(plain.path, { force: true });
  }
}

async function loadPlain(engine: Engine, archivePath: string, opts: { signal?: AbortSignal; onProgress?: OnProgress }): Promise<LoadResult> {
  const images = await openImageArchive(archivePath);
  const result: LoadResult = { images: [], messages: [] };
  try {
    for (const img of images) {
      const cfg: ImageConfig = parseImageConfig(img.config);
      const diffIds = cfg.rootfs.diff_ids;
      if (diffIds.length !== img.layers.length) {
        throw invalidArgument(`image ${img.configDigest}: its config lists ${diffIds.length} layers but the archive has ${img.layers.length}`, { name: img.configDigest });
      }
      // Refused before any layer is applied (LayerStore.add would refuse only at the
      // layer past the limit, after applying all before it), in LayerStore's words.
      const max = engine.layers.maxImageDepth;
      if (diffIds.length > max) {
        throw failedPrecondition(`max depth exceeded: the image would have ${diffIds.length} layers; the ${engine.driver.name} driver stacks at most ${engine.driver.maxDepth}, one of them a container's writable layer`, { op: 'load', name: img.configDigest });
      }
      let parent: LayerRecord | null = null;
      let loaded = 0;
      for (let i = 0; i < diffIds.length; i++) {
        const l = img.layers[i]!;
        const onProgress = opts.onProgress;
        const id = diffIds[i]!.replace(/^sha256:/, '').slice(0, 12);
        const r: { layer: LayerRecord; existed: boolean } = await engine.layers.add(parent, () => (onProgress ? countedBytes(l.open(), 'Loading layer', id, l.size, onProgress) : l.open()), {
          expectDiffId: diffIds[i]!,
          ...(l.digest && l.digest !== diffIds[i] ? { expectBlobDigest: l.digest } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
        if (!r.existed) loaded++;
        parent = r.layer;
      }
      const tags = img.repoTags.map((t: string) => referenceString(parseReference(t)));
      const id = recordImage(engine, img.config, parent, tags, result.messages);
      result.images.push({ id, tags: img.repoTags.map((t: string) => familiarString(parseReference(t))), layersLoaded: loaded, layersShared: diffIds.length - loaded });
    }
  } finally {
    engine.layers.releaseLeases();
  }
  return result;
}
