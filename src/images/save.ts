// save.ts: images out as one archive that both `docker load` (manifest.json) and
// OCI tools (index.json, oci-layout) read. Each layer is re-assembled from its
// tar-split and its files, byte for byte the tar that was loaded, and verified
// against its diffID while it streams: an image's ID and digests never change on
// a round trip, and a damaged layer fails the save instead of writing a bad archive.
import { createHash } from 'node:crypto';
import type { Engine } from '../engine.js';
import type { ImageRecord } from './image-store.js';
import { parseImageArg, parseReference, referenceString, familiarString, normalizedName } from './reference.js';
import { writeImageArchive } from './archive-format.js';
import { internal, invalidArgument } from '../errors.js';
import { countedBytes, type OnProgress } from '../registry/progress.js';

async function* verified(src: AsyncIterable<Buffer>, diffId: string, size: number): AsyncIterable<Buffer> {
  const h = createHash('sha256');
  let n = 0;
  for await (const chunk of src) {
    h.update(chunk);
    n += chunk.length;
    yield chunk;
  }
  const got = `sha256:${h.digest('hex')}`;
  if (got !== diffId || n !== size) {
    throw internal(`layer ${diffId} no longer matches its content (re-assembled ${n} bytes hashing to ${got}); run \`stowage system check\``, { name: diffId });
  }
}

export async function saveImages(engine: Engine, args: string[], out: NodeJS.WritableStream, opts: { signal?: AbortSignal; onProgress?: OnProgress } = {}): Promise<void> {
  if (args.length === 0) throw invalidArgument('"save" requires at least 1 argument');
  const chosen = new Map<string, { img: ImageRecord; tags: Set<string> }>();
  for (const arg of args) {
    const img = engine.images.resolve(arg);
    const entry = chosen.get(img.id) ?? { img, tags: new Set<string>() };
    chosen.set(img.id, entry);
    let p;
    try { p = parseImageArg(arg, { defaultTag: false }); } catch { p = undefined; }
    if (p?.kind === 'reference') {
      if (p.ref.tag) entry.tags.add(familiarString(p.ref));
      else if (!p.ref.digest) {
        // A bare repository name: every tag of that repository on this image.
        const repo = normalizedName(p.ref);
        for (const r of engine.imageStore.refsOf(img.id)) {
          const rr = parseReference(r.name, { defaultTag: false });
          if (r.kind === 'tag' && normalizedName(rr) === repo) entry.tags.add(familiarString(rr));
        }
        if (entry.tags.size === 0 && engine.imageStore.ref(referenceString(parseReference(arg)))) entry.tags.add(familiarString(parseReference(arg)));
      }
    }
  }
  const images = [...chosen.values()].map(({ img, tags }) => {
    const layers = engine.imageStore.layersOf(img);
    return {
      config: engine.imageStore.config(img.id),
      configDigest: img.id,
      repoTags: [...tags],
      layers: layers.map((l) => ({
        diffId: l.diffId!,
        size: l.size,
        open: () => {
          const v = verified(engine.layers.assemble(l, opts.signal), l.diffId!, l.size);
          return opts.onProgress ? countedBytes(v, 'Saving layer', l.diffId!.replace(/^sha256:/, '').slice(0, 12), l.size, opts.onProgress) : v;
        },
      })),
    };
  });
  // Each layer is hashed once, here (verified()), with a message that points at `system check`.
  await writeImageArchive(out, images, { verifyLayers: false, ...(opts.signal ? { signal: opts.signal } : {}) });
}
