// ui/layers.ts: the two things the store page needs that Docker's Engine API does not
// say: which images stand on which layers (so a layer shared by several images can be
// drawn once), and what files one layer holds. Everything else on the page (images,
// containers, volumes, df, info, events, diff) comes from the Engine API's own
// endpoints, so the page is an ordinary API client.
//
// The graph is read from records only (the layer and image rows, image configs), never
// by walking the layers' directories: with 5,000 layers a walk per request would take
// seconds. A layer's files are read as `save` reads the layer (its tar-split with the
// files' bytes), one layer per click; the file contents are read and dropped, so a
// large layer costs what saving it costs (a headers-only reader would avoid that).
import type { Engine } from '../engine.js';
import type { LayerRecord } from '../layers/store.js';
import { readTar } from '../archive/tar-reader.js';
import { notFound, invalidArgument } from '../errors.js';

export interface LayerNode {
  /** The storage driver's layer id (internal). */
  id: string;
  parent: string | null;
  chainId: string;
  diffId: string;
  /** Bytes, as the layer record keeps them. */
  size: number;
  /** The history line that made the layer (`created_by`), from the first image that names it. */
  createdBy: string;
  /** Images whose chain contains the layer. */
  images: string[];
}

export interface ImageStack {
  id: string;
  /** Layer ids, base first. */
  layers: string[];
}

export interface LayerGraph {
  driver: string;
  layers: LayerNode[];
  images: ImageStack[];
}

/** The image layers of the store and the images standing on them. */
export function layerGraph(e: Engine): LayerGraph {
  const records = new Map<string, LayerRecord>();
  for (const l of e.layers.all()) if (l.state === 'ready' && l.chainId) records.set(l.id, l);
  const nodes = new Map<string, LayerNode>();
  const images: ImageStack[] = [];
  for (const img of e.imageStore.all()) {
    const chain: string[] = [];
    for (let id = img.topLayer; id; id = records.get(id)?.parent ?? null) {
      if (!records.has(id)) break; // being removed right now
      chain.push(id);
    }
    chain.reverse();
    // history lines, one per non-empty history entry, in layer order
    let lines: string[] = [];
    try {
      const cfg = e.images.config(img);
      lines = (cfg.history ?? []).filter((h) => !h.empty_layer).map((h) => h.created_by ?? '');
    } catch { /* a config that cannot be read: the page shows no history line */ }
    chain.forEach((id, i) => {
      let n = nodes.get(id);
      if (!n) {
        const r = records.get(id)!;
        n = { id, parent: r.parent, chainId: r.chainId ?? '', diffId: r.diffId ?? '', size: r.size, createdBy: lines[i] ?? '', images: [] };
        nodes.set(id, n);
      } else if (!n.createdBy && lines[i]) n.createdBy = lines[i]!;
      n.images.push(img.id);
    });
    images.push({ id: img.id, layers: chain });
  }
  return { driver: e.driver.name, layers: [...nodes.values()], images };
}

export interface LayerFile {
  /** Path inside the layer, without a leading "./" or "/". */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'whiteout' | 'opaque';
  size: number;
  mode: number;
  /** Symlink or hardlink target. */
  link?: string;
}

export interface LayerFiles { layer: string; entries: LayerFile[]; total: number; truncated: boolean }

/**
 * The files a layer holds, as its tar lists them: whiteouts shown as such (the
 * deleted path), an opaque directory marked. `limit` caps the entries returned
 * (total still counts all of them).
 */
export async function layerFiles(e: Engine, chainOrId: string, opts: { limit?: number; signal?: AbortSignal } = {}): Promise<LayerFiles> {
  const limit = opts.limit ?? 10_000;
  if (!Number.isInteger(limit) || limit < 0) throw invalidArgument(`invalid limit: ${String(opts.limit)}`);
  const layer = findLayer(e, chainOrId);
  if (!e.layers.hasTarSplit(layer.id)) throw notFound(`layer ${chainOrId} has no file list (not an image layer)`, { name: chainOrId });
  const entries: LayerFile[] = [];
  let total = 0;
  for await (const { header: h } of readTar(e.layers.assemble(layer, opts.signal), opts.signal ? { signal: opts.signal } : {})) {
    total++;
    if (entries.length >= limit) continue;
    const path = h.name.replace(/^(\.\/|\/)+/, '').replace(/\/$/, '');
    if (path === '' || path === '.') { total--; continue; }
    const slash = path.lastIndexOf('/');
    const base = path.slice(slash + 1);
    const dir = slash >= 0 ? path.slice(0, slash + 1) : '';
    if (base === '.wh..wh..opq') {
      entries.push({ path: dir.replace(/\/$/, ''), type: 'opaque', size: 0, mode: h.mode });
    } else if (base.startsWith('.wh.')) {
      entries.push({ path: dir + base.slice(4), type: 'whiteout', size: 0, mode: h.mode });
    } else {
      const f: LayerFile = { path, type: h.type, size: h.type === 'file' ? h.size : 0, mode: h.mode };
      if (h.linkname) f.link = h.linkname;
      entries.push(f);
    }
  }
  return { layer: layer.chainId ?? layer.id, entries, total, truncated: total > entries.length };
}

/** A layer by chainID (sha256:…), diffID of a base layer, or internal id. */
function findLayer(e: Engine, ref: string): LayerRecord {
  if (!/^(sha256:)?[0-9a-f]{64}$/.test(ref)) throw invalidArgument(`invalid layer reference: ${JSON.stringify(ref)} (want a sha256 chain ID or a layer id)`);
  const l = ref.startsWith('sha256:') ? e.layers.byChainId(ref) : e.layers.get(ref) ?? e.layers.byChainId(`sha256:${ref}`);
  if (!l || l.state !== 'ready') throw notFound(`No such layer: ${ref}`, { name: ref });
  return l;
}
