// usage.ts: the numbers behind `system df`: how much disk the images, containers,
// volumes and build cache take, what is shared and what could be reclaimed.
//
// Image and layer sizes are Docker's: the size recorded for each layer when it was
// applied (layers/size.ts: the bytes of the files it holds, not the tar's bytes and
// not disk blocks), as `docker system df` reports them. Containers' writable layers
// are measured (`driver.usage()`): they change after they are made.
// Who uses what is derived from the records at the time of asking (images.top_layer
// and the layer parent chain, containers.layer_id), never kept as counters.
import type { Engine } from '../engine.js';

export interface ImageUsage {
  id: string;
  repoTags: string[];
  /** Unix seconds, from the image config. */
  created: number;
  /** Bytes of every layer in the image's chain. */
  size: number;
  /** Bytes of the layers in the chain that another image uses too. */
  sharedSize: number;
  /** size - sharedSize: what removing this image alone would free. */
  uniqueSize: number;
  /** Containers made from the image. */
  containers: number;
}

export interface TypeUsage {
  total: number;
  active: number;
  size: number;
  reclaimable: number;
}

export interface ContainerUsage { id: string; image: string; command: string; created: number; status: string; name: string; size: number; volumes: number }
export interface VolumeUsage { name: string; links: number; size: number }

export interface DiskUsageReport {
  images: ImageUsage[];
  containers: ContainerUsage[];
  volumes: VolumeUsage[];
  /** Images: total = images, active = images with a container, size = every image layer once. */
  imageTotals: TypeUsage;
  containerTotals: TypeUsage;
  volumeTotals: TypeUsage;
  buildCacheTotals: TypeUsage;
}

const none = (): TypeUsage => ({ total: 0, active: 0, size: 0, reclaimable: 0 });

/** Measures the store. Cost: one usage walk (or query) per distinct layer. */
export async function systemDiskUsage(e: Engine, signal?: AbortSignal): Promise<DiskUsageReport> {
  const driver = e.driver;
  const summaries = new Map(e.images.list({ all: true }).map((s) => [s.Id, s]));
  const records = e.imageStore.all();
  const containerRows = e.db.prepare('SELECT image_id AS image, layer_id AS layer FROM containers WHERE driver = ?')
    .all(driver.name) as Array<{ image: string; layer: string | null }>;
  const containersOf = new Map<string, number>();
  for (const c of containerRows) containersOf.set(c.image, (containersOf.get(c.image) ?? 0) + 1);

  // Each image's chain, and how many images use each layer.
  // Layer sizes are the ones recorded when each layer was applied, as Docker's df
  // reports them (layers/size.ts): no walk of the layers here.
  const chains = new Map<string, string[]>();
  const users = new Map<string, number>();
  const bytes = new Map<string, number>();
  for (const img of records) {
    signal?.throwIfAborted();
    const layers = img.topLayer ? e.layers.chain(img.topLayer) : [];
    const chain = layers.map((l) => l.id);
    chains.set(img.id, chain);
    for (const l of layers) { users.set(l.id, (users.get(l.id) ?? 0) + 1); bytes.set(l.id, l.diffSize); }
  }

  const images: ImageUsage[] = [];
  const activeLayers = new Set<string>();
  for (const img of records) {
    const chain = chains.get(img.id)!;
    let size = 0;
    let shared = 0;
    for (const id of chain) {
      const b = bytes.get(id) ?? 0;
      size += b;
      if ((users.get(id) ?? 0) > 1) shared += b;
    }
    const containers = containersOf.get(img.id) ?? 0;
    if (containers > 0) for (const id of chain) activeLayers.add(id);
    const s = summaries.get(img.id);
    images.push({ id: img.id, repoTags: s?.RepoTags ?? [], created: s?.Created ?? 0, size, sharedSize: shared, uniqueSize: size - shared, containers });
  }

  let layersSize = 0;
  let activeSize = 0;
  for (const [id, b] of bytes) {
    layersSize += b;
    if (activeLayers.has(id)) activeSize += b;
  }
  const imageTotals: TypeUsage = {
    total: records.length,
    active: images.filter((i) => i.containers > 0).length,
    size: layersSize,
    // Docker's rule: what the images no container uses hold beyond the layers of those that are used.
    reclaimable: layersSize - activeSize,
  };

  // A container's own size is its writable layer; a running one is active, and what
  // the stopped ones hold is reclaimable (container prune).
  const containerTotals = none();
  const containers: ContainerUsage[] = [];
  for (const c of e.containers.list().filter((x) => x.Driver === driver.name)) {
    containerTotals.total++;
    signal?.throwIfAborted();
    let size = 0;
    try { size = (await driver.usage(c.LayerId)).bytes; } catch { /* being removed right now: its layer is gone */ }
    containerTotals.size += size;
    if (c.State.Running) containerTotals.active++;
    else containerTotals.reclaimable += size;
    containers.push({
      id: c.Id, image: c.ImageRef, command: [c.Path, ...c.Args].join(' '), created: Date.parse(c.Created) / 1000,
      status: c.State.Status, name: c.Name, size, volumes: (c.MountSpecs ?? []).filter((m) => m.type === 'volume').length,
    });
  }

  // Volumes: their data's size; one is active while a container uses it.
  const { volumeService } = await import('../volumes/service.js');
  const vs = volumeService(e);
  const volumeTotals = none();
  const volumes: VolumeUsage[] = [];
  for (const v of vs.all()) {
    signal?.throwIfAborted();
    const links = vs.users(v.name).length;
    let size = 0;
    try { size = vs.sizeOf(v.name); } catch { /* removed meanwhile */ }
    volumeTotals.total++;
    volumeTotals.size += size;
    if (links > 0) volumeTotals.active++; else volumeTotals.reclaimable += size;
    volumes.push({ name: v.name, links, size });
  }

  return { images, imageTotals, containerTotals, volumeTotals, buildCacheTotals: none(), containers, volumes };
}
