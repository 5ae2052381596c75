// image-store.ts: images (a config blob on a layer chain) and their references
// (name:tag, name@digest), per storage driver as Docker keeps them. The config's
// bytes live in the content store; the image's id is their sha256.
import type { DB } from '../store/db.js';
import { isForeignKeyViolation } from '../store/db.js';
import { ownerAlive } from '../store/owner.js';
import type { ContentStore } from '../content/store.js';
import type { LayerRecord, LayerStore } from '../layers/store.js';
import { conflict, notFound, internal } from '../errors.js';
import { failpoint } from '../util/failpoint.js';

export interface ImageRecord {
  id: string;
  topLayer: string | null;
  size: number;
  createdAt: number;
}

export interface RefRecord { name: string; imageId: string; kind: 'tag' | 'digest' }

interface ImageRow { id: string; top_layer: string | null; size: number; created_at: number }
const toImage = (r: ImageRow): ImageRecord => ({ id: r.id, topLayer: r.top_layer, size: r.size, createdAt: r.created_at });

export class ImageStore {
  constructor(
    private readonly db: DB,
    private readonly content: ContentStore,
    private readonly layers: LayerStore,
  ) {}

  private get driver(): string { return this.layers.driverName; }

  get(id: string): ImageRecord | undefined {
    const r = this.db.prepare('SELECT id, top_layer, size, created_at FROM images WHERE driver = ? AND id = ?').get(this.driver, id) as ImageRow | undefined;
    return r ? toImage(r) : undefined;
  }

  all(): ImageRecord[] {
    return (this.db.prepare('SELECT id, top_layer, size, created_at FROM images WHERE driver = ? ORDER BY created_at DESC').all(this.driver) as ImageRow[]).map(toImage);
  }

  /** Ids starting with prefix (hex, without "sha256:"). */
  byPrefix(hexPrefix: string): ImageRecord[] {
    const rows = this.db.prepare(`SELECT id, top_layer, size, created_at FROM images WHERE driver = ? AND id >= ? AND id < ?`)
      .all(this.driver, `sha256:${hexPrefix}`, `sha256:${hexPrefix}\uffff`) as ImageRow[];
    return rows.map(toImage);
  }

  config(id: string): Buffer {
    return this.content.read(id);
  }

  /** The image's layers, base first. */
  layersOf(img: ImageRecord): LayerRecord[] {
    return img.topLayer ? this.layers.chain(img.topLayer).reverse() : [];
  }

  /**
   * Records an image whose config is already in the content store and whose layers
   * are stored. Idempotent: an existing image is returned as it is.
   */
  put(configDigest: string, top: LayerRecord | null): ImageRecord {
    if (!this.content.has(configDigest)) throw internal(`config ${configDigest} must be in the content store before the image is recorded`);
    const size = top ? this.layers.chain(top.id).reduce((s, l) => s + l.diffSize, 0) : 0;
    this.db.prepare(`INSERT INTO images (driver, id, top_layer, size, created_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT(driver, id) DO NOTHING`).run(this.driver, configDigest, top?.id ?? null, size, Date.now());
    return this.get(configDigest)!;
  }

  refsOf(id: string): RefRecord[] {
    return (this.db.prepare('SELECT name, image_id, kind FROM refs WHERE driver = ? AND image_id = ? ORDER BY name').all(this.driver, id) as Array<{ name: string; image_id: string; kind: 'tag' | 'digest' }>)
      .map((r) => ({ name: r.name, imageId: r.image_id, kind: r.kind }));
  }

  allRefs(): RefRecord[] {
    return (this.db.prepare('SELECT name, image_id, kind FROM refs WHERE driver = ? ORDER BY name').all(this.driver) as Array<{ name: string; image_id: string; kind: 'tag' | 'digest' }>)
      .map((r) => ({ name: r.name, imageId: r.image_id, kind: r.kind }));
  }

  ref(name: string): RefRecord | undefined {
    const r = this.db.prepare('SELECT name, image_id, kind FROM refs WHERE driver = ? AND name = ?').get(this.driver, name) as { name: string; image_id: string; kind: 'tag' | 'digest' } | undefined;
    return r ? { name: r.name, imageId: r.image_id, kind: r.kind } : undefined;
  }

  /** Points name at id, moving it from another image if needed. Returns the image it was taken from. */
  setRef(name: string, id: string, kind: 'tag' | 'digest'): string | undefined {
    return this.db.transaction(() => {
      if (!this.get(id)) throw notFound(`No such image: ${id}`, { name: id });
      const prev = this.ref(name);
      this.db.prepare(`INSERT INTO refs (driver, name, image_id, kind) VALUES (?, ?, ?, ?)
        ON CONFLICT(driver, name) DO UPDATE SET image_id = excluded.image_id, kind = excluded.kind`).run(this.driver, name, id, kind);
      return prev && prev.imageId !== id ? prev.imageId : undefined;
    }).immediate();
  }

  deleteRef(name: string): boolean {
    return this.db.prepare('DELETE FROM refs WHERE driver = ? AND name = ?').run(this.driver, name).changes > 0;
  }

  /** Containers (id, name, running) that use image id. */
  containersUsing(id: string): Array<{ id: string; name: string; running: boolean }> {
    const rows = this.db.prepare('SELECT id, name, state FROM containers WHERE driver = ? AND image_id = ?').all(this.driver, id) as Array<{ id: string; name: string; state: string }>;
    return rows.map((r) => {
      let running = false;
      try { running = !!(JSON.parse(r.state) as { Running?: boolean }).Running; } catch { /* a bad state row reads as stopped */ }
      return { id: r.id, name: r.name, running };
    });
  }

  /**
   * Deletes the image record (refused while refs or containers point at it), then
   * the layers nothing else uses, then the config blob when no driver's image
   * uses it. Returns the removed layers. untag: names removed in the same
   * transaction as the record, so a kill leaves the image either tagged or gone,
   * never an untagged leftover that still holds its layers.
   */
  async delete(id: string, untag: readonly string[] = []): Promise<LayerRecord[]> {
    const img = this.get(id);
    if (!img) throw notFound(`No such image: ${id}`, { name: id });
    try {
      this.db.transaction(() => {
        for (const name of untag) this.deleteRef(name);
        const refs = this.refsOf(id);
        if (refs.length > 0) throw conflict(`image ${id} is still referenced by ${refs.map((r) => r.name).join(', ')}`, { name: id, refs: refs.map((r) => r.name) });
        this.db.prepare('DELETE FROM images WHERE driver = ? AND id = ?').run(this.driver, id);
      }).immediate();
    } catch (err) {
      if (isForeignKeyViolation(err)) {
        const users = this.containersUsing(id);
        throw conflict(`unable to delete ${shortId(id)} - image is being used by container ${users.map((u) => shortId(u.id)).join(', ')}`, { name: id, refs: users.map((u) => u.id), cause: err });
      }
      throw err;
    }
    failpoint('rmi:row-deleted');
    const removed = img.topLayer ? await this.layers.releaseChain(img.topLayer) : [];
    // Decide and unlink under one write lock: a concurrent recordImage leases the
    // config digest before writing the blob and adds its images row under this lock.
    this.db.transaction(() => {
      if (this.db.prepare('SELECT 1 FROM images WHERE id = ? LIMIT 1').get(id)) return;
      const leases = this.db.prepare('SELECT owner FROM blob_leases WHERE digest = ?').all(id) as Array<{ owner: string }>;
      if (leases.some((l) => ownerAlive(l.owner))) return;
      this.content.delete(id);
    }).immediate();
    return removed;
  }
}

export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}
