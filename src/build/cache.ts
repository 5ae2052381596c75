// cache.ts: the layer cache of build steps (table build_cache, see store/db.ts).
// A row maps a step's key to the image config it produced and its top layer. The
// row's foreign key keeps the layer (and through layers.parent its whole chain)
// alive: reference counts are derived, never counted. prune() deletes the rows and
// then removes every layer nothing else uses.
import type { Engine } from '../engine.js';
import type { LayerRecord } from '../layers/store.js';
import { BUILD_SCHEMA, type DB } from '../store/db.js';

/** Creates the build tables in a data root whose schema predates them (idempotent). */
export function ensureBuildTables(db: DB): void {
  if (!db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'build_file_sums'`).get()) db.exec(BUILD_SCHEMA);
}

export interface CachedStep { config: string; layer: LayerRecord | null }

export class BuildCache {
  constructor(private readonly engine: Engine) {
    ensureBuildTables(engine.db);
  }

  private get driver(): string { return this.engine.driver.name; }

  /** The step built before under this key, leased to this process; undefined when none (or its layer is gone). */
  get(key: string): CachedStep | undefined {
    const row = this.engine.db.prepare('SELECT layer_id, config FROM build_cache WHERE driver = ? AND key = ?').get(this.driver, key) as { layer_id: string | null; config: string } | undefined;
    if (!row) return undefined;
    if (row.layer_id === null) return { config: row.config, layer: null };
    const layer = this.engine.layers.get(row.layer_id);
    if (!layer || layer.state !== 'ready' || !this.engine.layers.lease(layer.id)) return undefined;
    return { config: row.config, layer };
  }

  put(key: string, config: string, layer: LayerRecord | null): void {
    this.engine.db.prepare(`INSERT INTO build_cache (driver, key, layer_id, config, created_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT(driver, key) DO UPDATE SET layer_id = excluded.layer_id, config = excluded.config, created_at = excluded.created_at`)
      .run(this.driver, key, layer?.id ?? null, config, Date.now());
  }

  /** Rows and the bytes of the layers only the cache keeps. */
  usage(): { entries: number; layers: string[] } {
    const rows = this.engine.db.prepare('SELECT DISTINCT layer_id FROM build_cache WHERE driver = ? AND layer_id IS NOT NULL').all(this.driver) as Array<{ layer_id: string }>;
    const n = (this.engine.db.prepare('SELECT COUNT(*) AS n FROM build_cache WHERE driver = ?').get(this.driver) as { n: number }).n;
    return { entries: n, layers: rows.map((r) => r.layer_id) };
  }

  /** Empties the cache (and the kept file checksums); removes the layers nothing else uses. */
  async prune(): Promise<{ entries: number; removedLayers: LayerRecord[]; reclaimed: number }> {
    await this.engine.recover();
    const { entries, layers } = this.usage();
    this.engine.db.transaction(() => {
      this.engine.db.prepare('DELETE FROM build_cache WHERE driver = ?').run(this.driver);
      this.engine.db.prepare('DELETE FROM build_file_sums').run();
    }).immediate();
    const removed: LayerRecord[] = [];
    for (const id of layers) removed.push(...(await this.engine.layers.releaseChain(id)));
    return { entries, removedLayers: removed, reclaimed: removed.reduce((s, l) => s + l.size, 0) };
  }
}
