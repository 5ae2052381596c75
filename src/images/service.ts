// service.ts: what users do with images: find, list, inspect, history, tag,
// remove, prune. Loading and saving are in load.ts and save.ts. Results are plain
// data in Docker's JSON shapes; front ends format them.
import type { Engine } from '../engine.js';
import type { ImageRecord } from './image-store.js';
import { shortId } from './image-store.js';
import { parseImageArg, parseImageIdPrefix, parseReference, referenceString, familiarString, type Reference } from './reference.js';
import { parseImageConfig, type ImageConfig } from './config.js';
import { conflict, invalidArgument, notFound, findStowageError } from '../errors.js';
import { ImageFilter, parseImageFilters } from './filters.js';
import { importImage, loadImages, type ImportOptions, type LoadResult } from './load.js';
import { saveImages } from './save.js';
import { imageEvent } from '../events/actors.js';
import { dockerRunConfig } from './run-config.js';

/** `docker image inspect`'s shape (API 1.41 fields that apply). */
export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Parent: string;
  Comment: string;
  Created: string;
  Container: string;
  ContainerConfig: ImageConfig['config'];
  DockerVersion: string;
  Author: string;
  Config: ImageConfig['config'] | null;
  Architecture: string;
  Variant?: string;
  Os: string;
  Size: number;
  VirtualSize: number;
  GraphDriver: { Name: string; Data: Record<string, string> | null };
  RootFS: { Type: string; Layers: string[] };
  Metadata: { LastTagTime: string };
}

export interface ImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number;
  Size: number;
  SharedSize: number;
  VirtualSize: number;
  Labels: Record<string, string>;
  Containers: number;
}

export interface HistoryItem { Id: string; Created: number; CreatedBy: string; Tags: string[] | null; Size: number; Comment: string }

export type DeleteItem = { Untagged: string } | { Deleted: string };

export class ImageService {
  constructor(private readonly engine: Engine) {}

  private get store() { return this.engine.imageStore; }

  /**
   * Finds an image as Docker does: a full id or "sha256:" id; a reference by tag or
   * digest; else a unique id prefix. NotFound says "No such image: X".
   */
  resolve(arg: string): ImageRecord {
    let parsed;
    try {
      parsed = parseImageArg(arg);
    } catch (err) {
      const hex = parseImageIdPrefix(arg);
      if (hex) return this.byPrefix(arg, hex);
      throw err;
    }
    if (parsed.kind === 'id') return this.byPrefix(arg, parsed.hexPrefix);
    const name = referenceString(parsed.ref);
    const ref = this.store.ref(name);
    if (ref) return this.store.get(ref.imageId)!;
    const hex = parseImageIdPrefix(arg);
    if (hex && !arg.includes(':')) {
      try {
        return this.byPrefix(arg, hex);
      } catch { /* fall through to the reference's error */ }
    }
    throw notFound(`No such image: ${familiarString(parsed.ref)}`, { name: arg });
  }

  private byPrefix(arg: string, hex: string): ImageRecord {
    const found = this.store.byPrefix(hex);
    if (found.length === 1) return found[0]!;
    if (found.length > 1) throw conflict(`multiple IDs found with provided prefix: ${hex}`, { name: arg });
    throw notFound(`No such image: ${arg}`, { name: arg });
  }

  config(img: ImageRecord): ImageConfig {
    return parseImageConfig(this.store.config(img.id));
  }

  private tagsAndDigests(id: string): { tags: string[]; digests: string[] } {
    const tags: string[] = [];
    const digests: string[] = [];
    for (const r of this.store.refsOf(id)) {
      const ref = parseReference(r.name, { defaultTag: false });
      (r.kind === 'tag' ? tags : digests).push(familiarString(ref));
    }
    return { tags, digests };
  }

  inspect(arg: string): ImageInspect {
    const img = this.resolve(arg);
    const cfg = this.config(img);
    const { tags, digests } = this.tagsAndDigests(img.id);
    const layers = this.store.layersOf(img);
    const top = layers[layers.length - 1];
    return {
      Id: img.id,
      RepoTags: tags,
      RepoDigests: digests,
      Parent: '',
      Comment: cfg.comment ?? '',
      Created: cfg.created ?? new Date(0).toISOString(),
      // Docker shows the zero-valued config when the image has none.
      Container: cfg.container ?? '',
      ContainerConfig: dockerRunConfig(cfg.container_config ?? {}, ''),
      DockerVersion: cfg.docker_version ?? '',
      Author: cfg.author ?? '',
      Config: cfg.config ?? null,
      Architecture: cfg.architecture,
      ...(cfg.variant ? { Variant: cfg.variant } : {}),
      Os: cfg.os,
      Size: img.size,
      VirtualSize: img.size,
      GraphDriver: { Name: this.engine.driver.name, Data: top ? this.graphDriverData(top.id) : null },
      RootFS: { Type: 'layers', Layers: cfg.rootfs.diff_ids },
      Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
    };
  }

  /** The driver's view of a layer, as Docker shows it in GraphDriver.Data. */
  graphDriverData(layerId: string): Record<string, string> | null {
    const src = this.engine.driver.changeSource(layerId);
    if (src.kind === 'upper') {
      const home = this.engine.driver.home;
      const data: Record<string, string> = { MergedDir: `${home}/${layerId}/merged`, UpperDir: src.dir, WorkDir: `${home}/${layerId}/work` };
      if (src.lower.length > 0) data.LowerDir = src.lower.join(':');
      return data;
    }
    return null;
  }

  list(opts: { all?: boolean; filters?: string[]; reference?: string } = {}): ImageSummary[] {
    const filter: ImageFilter = parseImageFilters(opts.filters ?? [], (arg) => this.resolve(arg));
    if (opts.reference) filter.references.push(opts.reference);
    const out: ImageSummary[] = [];
    for (const img of this.store.all()) {
      const cfg = this.config(img);
      const { tags, digests } = this.tagsAndDigests(img.id);
      const created = cfg.created ? Math.floor(Date.parse(cfg.created) / 1000) : 0;
      const summary: ImageSummary = {
        Id: img.id,
        ParentId: '',
        RepoTags: tags,
        RepoDigests: digests,
        Created: Number.isFinite(created) ? created : 0,
        Size: img.size,
        SharedSize: -1,
        VirtualSize: img.size,
        Labels: cfg.config?.Labels ?? {},
        Containers: -1,
      };
      if (filter.matches(summary, img)) out.push(summary);
    }
    return out.sort((a, b) => b.Created - a.Created);
  }

  history(arg: string): HistoryItem[] {
    const img = this.resolve(arg);
    const cfg = this.config(img);
    const layers = this.store.layersOf(img);
    const { tags } = this.tagsAndDigests(img.id);
    const items: HistoryItem[] = [];
    let li = 0;
    const hist = cfg.history && cfg.history.length > 0 ? cfg.history : cfg.rootfs.diff_ids.map(() => ({} as NonNullable<ImageConfig['history']>[number]));
    for (const h of hist) {
      let size = 0;
      if (!h.empty_layer) size = layers[li++]?.diffSize ?? 0;
      items.push({
        Id: '<missing>',
        Created: h.created ? Math.floor(Date.parse(h.created) / 1000) : 0,
        CreatedBy: h.created_by ?? '',
        Tags: null,
        Size: size,
        Comment: h.comment ?? '',
      });
    }
    items.reverse();
    if (items[0]) {
      items[0].Id = img.id;
      items[0].Tags = tags.length ? tags : null;
    }
    return items;
  }

  /** `docker tag SOURCE TARGET`. */
  tag(source: string, target: string): void {
    const img = this.resolve(source);
    const ref = parseReference(target);
    if (ref.digest) throw invalidArgument(`refusing to create a tag with a digest reference`, { name: target });
    this.store.setRef(referenceString(ref), img.id, 'tag');
    imageEvent(this.engine, img.id, 'tag', { name: familiarString(ref) });
  }

  /** `docker rmi`: untag, then delete what no image or container references. */
  async remove(arg: string, opts: { force?: boolean; noPrune?: boolean } = {}): Promise<DeleteItem[]> {
    const imageId = this.resolve(arg).id;
    const items = await this.removeOne(arg, opts);
    this.deleteEvents(items, imageId);
    return items;
  }

  /** untag / delete events for what rmi or prune did (Docker: Actor.ID the image id). */
  private deleteEvents(items: DeleteItem[], imageId?: string): void {
    const deleted = items.flatMap((i) => ('Deleted' in i ? [i.Deleted] : []));
    const id = deleted.find((d) => d.startsWith('sha256:'));
    for (const i of items) {
      if ('Untagged' in i) imageEvent(this.engine, imageId ?? id ?? i.Untagged, 'untag', { name: i.Untagged });
    }
    if (id) imageEvent(this.engine, imageId ?? id, 'delete', { name: imageId ?? id });
  }

  private async removeOne(arg: string, opts: { force?: boolean; noPrune?: boolean }): Promise<DeleteItem[]> {
    await this.engine.recover();
    const img = this.resolve(arg);
    const refs = this.store.refsOf(img.id);
    const users = this.store.containersUsing(img.id);
    const out: DeleteItem[] = [];
    let named: Reference | undefined;
    let untag: string[] = [];
    try {
      const p = parseImageArg(arg);
      if (p.kind === 'reference' && this.store.ref(referenceString(p.ref))) named = p.ref;
    } catch { /* an id prefix */ }

    if (named) {
      // By name: untag that name; delete the image only if that was its last reference.
      const name = referenceString(named);
      const others = refs.filter((r) => r.name !== name);
      if (others.length === 0 && users.length > 0 && !opts.force) {
        throw conflict(`conflict: unable to remove repository reference "${arg}" (must force) - container ${shortId(users[0]!.id)} is using its referenced image ${shortId(img.id)}`, { name: arg, refs: users.map((u) => u.id) });
      }
      out.push({ Untagged: familiarString(named) });
      if (others.length > 0 || users.length > 0) {
        this.store.deleteRef(name);
        return out;
      }
      untag = [name];
    } else {
      const running = users.filter((u) => u.running);
      if (running.length > 0) {
        throw conflict(`conflict: unable to delete ${shortId(img.id)} (cannot be forced) - image is being used by running container ${shortId(running[0]!.id)}`, { name: arg, refs: running.map((u) => u.id) });
      }
      if (users.length > 0 && !opts.force) {
        throw conflict(`conflict: unable to delete ${shortId(img.id)} (must be forced) - image is being used by stopped container ${shortId(users[0]!.id)}`, { name: arg, refs: users.map((u) => u.id) });
      }
      const tagRefs = refs.filter((r) => r.kind === 'tag');
      const repos = new Set(tagRefs.map((r) => parseReference(r.name, { defaultTag: false })).map((r) => `${r.domain}/${r.path}`));
      if (repos.size > 1 && !opts.force) {
        throw conflict(`conflict: unable to delete ${shortId(img.id)} (must be forced) - image is referenced in multiple repositories`, { name: arg });
      }
      for (const r of refs) out.push({ Untagged: familiarString(parseReference(r.name, { defaultTag: false })) });
      untag = refs.map((r) => r.name);
      if (users.length > 0) { // forced: untagged, kept for its containers
        for (const name of untag) this.store.deleteRef(name);
        return out;
      }
    }
    // Untagging and deleting the record are one transaction (see ImageStore.delete).
    const removed = await this.store.delete(img.id, untag);
    out.push({ Deleted: img.id });
    for (const l of removed) if (l.chainId) out.push({ Deleted: l.chainId });
    return out;
  }

  /** `docker image prune`: dangling images (no tags), or with all every image no container uses. */
  async prune(opts: { all?: boolean; filters?: string[] } = {}): Promise<{ ImagesDeleted: DeleteItem[] | null; SpaceReclaimed: number }> {
    await this.engine.recover();
    const filter = parseImageFilters(opts.filters ?? [], (arg) => this.resolve(arg), { prune: true });
    const deleted: DeleteItem[] = [];
    let reclaimed = 0;
    for (const s of this.list()) {
      const img = this.store.get(s.Id);
      if (!img) continue;
      if (!filter.matches(s, img)) continue;
      if (!opts.all && s.RepoTags.length > 0) continue;
      if (this.store.containersUsing(img.id).length > 0) continue;
      try {
        const refs = this.store.refsOf(img.id);
        const removed = await this.store.delete(img.id, refs.map((r) => r.name));
        for (const r of refs) deleted.push({ Untagged: familiarString(parseReference(r.name, { defaultTag: false })) });
        deleted.push({ Deleted: img.id });
        for (const l of removed) {
          if (l.chainId) deleted.push({ Deleted: l.chainId });
          reclaimed += l.diffSize;
        }
      } catch (err) {
        if (findStowageError(err)?.kind !== 'Conflict') throw err; // in use by now: leave it
      }
    }
    this.deleteEvents(deleted);
    return { ImagesDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed };
  }

  import(src: AsyncIterable<Buffer>, opts: ImportOptions): Promise<string> {
    return importImage(this.engine, src, opts).then((id) => { imageEvent(this.engine, id, 'import', { name: id }); return id; });
  }

  load(archivePath: string, opts: { signal?: AbortSignal; onProgress?: import('../registry/progress.js').OnProgress } = {}): Promise<LoadResult> {
    return loadImages(this.engine, archivePath, opts).then((r) => {
      for (const i of r.images) imageEvent(this.engine, i.id, 'load', { name: i.tags[0] ?? i.id });
      return r;
    });
  }

  save(args: string[], out: NodeJS.WritableStream, opts: { signal?: AbortSignal; onProgress?: import('../registry/progress.js').OnProgress } = {}): Promise<void> {
    return saveImages(this.engine, args, out, opts).then(() => {
      for (const a of args) imageEvent(this.engine, a, 'save', { name: a });
    });
  }
}
