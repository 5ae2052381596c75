// model.ts: turns what the API answers into the rows the store page draws. Pure (no
// DOM), so it is unit-tested in node and can run anywhere.
//
// The picture is a tree of layers: every layer once, its child layers below it.
// A run of layers each with a single child (one image's private stack) stays at one
// indent, so a 500-layer image does not walk off the screen; the tree only indents
// where it branches (a layer that two images share and then diverge from). The images
// standing on a layer hang below it, their containers (each one thin writable layer)
// below them. Cost: O(layers + images + containers), a few milliseconds for 5,000 layers.

export interface LayerNode { id: string; parent: string | null; chainId: string; diffId: string; size: number; createdBy: string; images: string[] }
export interface ImageStack { id: string; layers: string[] }
export interface LayerGraph { driver: string; layers: LayerNode[]; images: ImageStack[] }
export interface ImageSummary { Id: string; RepoTags: string[] | null; RepoDigests?: string[] | null; Size: number; Created: number }
export interface ContainerMount { Type: string; Name?: string; Source: string; Destination: string; Driver?: string; RW?: boolean }
export interface ContainerSummary { Id: string; Names: string[]; Image: string; ImageID: string; State: string; Status: string; SizeRw?: number; Mounts?: ContainerMount[] }
export interface VolumeSummary { Name: string; Driver: string; Mountpoint: string; Labels: Record<string, string> | null; Scope: string; CreatedAt?: string }

export interface StoreData {
  graph: LayerGraph;
  images: ImageSummary[];
  containers: ContainerSummary[];
  volumes: VolumeSummary[];
  /** Volume name -> bytes (from /system/df), when known. */
  volumeSizes: Map<string, number>;
}

export type RowKind = 'layer' | 'image' | 'container';

export interface Row {
  key: string;
  kind: RowKind;
  depth: number;
  id: string;
  label: string;
  meta: string;
  size: number | null;
  badges: string[];
  /** A layer that more than one image stands on. */
  shared: boolean;
  /** An image without tags. */
  dangling: boolean;
}

export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

export const short = (id: string): string => id.replace(/^sha256:/, '').slice(0, 12);

export function imageName(img: ImageSummary | undefined, id: string): string {
  const tags = (img?.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
  return tags.length ? tags.join(', ') : `<none> ${short(id)}`;
}

export function containerName(c: ContainerSummary): string {
  return (c.Names[0] ?? '').replace(/^\//, '') || short(c.Id);
}

/** Containers per image id. */
export function containersByImage(containers: ContainerSummary[]): Map<string, ContainerSummary[]> {
  const m = new Map<string, ContainerSummary[]>();
  for (const c of containers) {
    const l = m.get(c.ImageID) ?? [];
    l.push(c);
    m.set(c.ImageID, l);
  }
  return m;
}

/** How many containers stand on each layer (through any image whose stack holds it). */
export function containersPerLayer(d: StoreData): Map<string, number> {
  const byImage = containersByImage(d.containers);
  const out = new Map<string, number>();
  for (const s of d.graph.images) {
    const n = byImage.get(s.id)?.length ?? 0;
    if (n === 0) continue;
    for (const l of s.layers) out.set(l, (out.get(l) ?? 0) + n);
  }
  return out;
}

/** Volume name -> containers that mount it (from the containers' Mounts). */
export function volumeUsers(containers: ContainerSummary[]): Map<string, ContainerSummary[]> {
  const m = new Map<string, ContainerSummary[]>();
  for (const c of containers) {
    for (const mt of c.Mounts ?? []) {
      if (mt.Type !== 'volume' || !mt.Name) continue;
      const l = m.get(mt.Name) ?? [];
      if (!l.includes(c)) l.push(c);
      m.set(mt.Name, l);
    }
  }
  return m;
}

function matches(text: string, q: string): boolean {
  return text.toLowerCase().includes(q);
}

/**
 * The rows of the tree. With a filter, a row is kept when it or something below it
 * matches (so a matching container keeps its image and layers as context).
 */
export function buildRows(d: StoreData, filter = ''): Row[] {
  const q = filter.trim().toLowerCase();
  const layers = new Map(d.graph.layers.map((l) => [l.id, l]));
  const children = new Map<string | null, string[]>();
  for (const l of d.graph.layers) {
    const p = l.parent && layers.has(l.parent) ? l.parent : null;
    const list = children.get(p) ?? [];
    list.push(l.id);
    children.set(p, list);
  }
  const imagesOnTop = new Map<string, ImageStack[]>();
  const layerless: ImageStack[] = [];
  for (const s of d.graph.images) {
    const top = s.layers[s.layers.length - 1];
    if (!top) { layerless.push(s); continue; }
    const l = imagesOnTop.get(top) ?? [];
    l.push(s);
    imagesOnTop.set(top, l);
  }
  const summaries = new Map(d.images.map((i) => [i.Id, i]));
  const byImage = containersByImage(d.containers);
  const perLayer = containersPerLayer(d);

  const imageMatches = (s: ImageStack): boolean =>
    !q || matches(s.id, q) || matches(imageName(summaries.get(s.id), s.id), q) || (byImage.get(s.id) ?? []).some((c) => containerMatches(c));
  const containerMatches = (c: ContainerSummary): boolean => !q || matches(containerName(c), q) || matches(c.Id, q);
  // whether a subtree holds a match: computed bottom-up once, iteratively (chains can be 500 deep)
  const keep = new Map<string, boolean>();
  if (q) {
    const order: string[] = [];
    const stack = [...(children.get(null) ?? [])];
    while (stack.length) {
      const id = stack.pop()!;
      order.push(id);
      for (const c of children.get(id) ?? []) stack.push(c);
    }
    for (let i = order.length - 1; i >= 0; i--) {
      const id = order[i]!;
      const l = layers.get(id)!;
      const self = matches(l.chainId, q) || matches(l.diffId, q) || matches(l.createdBy, q);
      keep.set(id, self || (imagesOnTop.get(id) ?? []).some(imageMatches) || (children.get(id) ?? []).some((c) => keep.get(c)));
    }
  }

  const rows: Row[] = [];
  const pushImage = (s: ImageStack, depth: number) => {
    if (!imageMatches(s)) return;
    const sum = summaries.get(s.id);
    const cs = byImage.get(s.id) ?? [];
    rows.push({
      key: `i:${s.id}`, kind: 'image', depth, id: s.id, label: imageName(sum, s.id), meta: short(s.id),
      size: sum?.Size ?? null, badges: [`${s.layers.length} layer${s.layers.length === 1 ? '' : 's'}`, ...(cs.length ? [`${cs.length} container${cs.length === 1 ? '' : 's'}`] : [])],
      shared: false, dangling: !(sum?.RepoTags ?? []).some((t) => t !== '<none>:<none>'),
    });
    for (const c of cs) {
      if (!containerMatches(c) && q && !imageMatchesSelf(s)) continue;
      rows.push({
        key: `c:${c.Id}`, kind: 'container', depth: depth + 1, id: c.Id, label: containerName(c), meta: c.Status || c.State,
        size: c.SizeRw ?? null, badges: [c.State], shared: false, dangling: false,
      });
    }
  };
  const imageMatchesSelf = (s: ImageStack): boolean => matches(s.id, q) || matches(imageName(summaries.get(s.id), s.id), q);

  // depth-first, iteratively; a single child continues at the same depth
  const walk: Array<{ id: string; depth: number }> = (children.get(null) ?? []).slice().reverse().map((id) => ({ id, depth: 0 }));
  while (walk.length) {
    const { id, depth } = walk.pop()!;
    if (q && !keep.get(id)) continue;
    const l = layers.get(id)!;
    const users = l.images.length;
    const cn = perLayer.get(id) ?? 0;
    rows.push({
      key: `l:${id}`, kind: 'layer', depth, id, label: short(l.chainId), meta: l.createdBy,
      size: l.size, badges: [`${users} image${users === 1 ? '' : 's'}`, ...(cn ? [`${cn} container${cn === 1 ? '' : 's'}`] : [])],
      shared: users > 1, dangling: false,
    });
    const tops = imagesOnTop.get(id) ?? [];
    for (const s of tops) pushImage(s, depth + 1);
    const kids = children.get(id) ?? [];
    const next = kids.length === 1 && tops.length === 0 ? depth : depth + 1;
    for (let i = kids.length - 1; i >= 0; i--) walk.push({ id: kids[i]!, depth: next });
  }
  for (const s of layerless) pushImage(s, 0);
  return rows;
}

/** Human sizes as Docker prints them (decimal units, 3 significant digits). */
export function humanSize(n: number | null | undefined): string {
  if (n === null || n === undefined || n < 0) return '—';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${i === 0 ? v : v.toPrecision(3).replace(/\.?0+$/, '')}${units[i]}`;
}

/** Docker's change kinds. */
export const CHANGE_KIND = ['C', 'A', 'D'] as const;
