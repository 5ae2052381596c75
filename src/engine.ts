// engine.ts: wires the stores together. Every front end (CLI, later API servers)
// opens one Engine and calls it; the engine never prints.
import type { DB } from './store/db.js';
import { openDatabase } from './store/db.js';
import { Layout, defaultDataRoot } from './store/layout.js';
import { ContentStore } from './content/store.js';
import { LayerStore } from './layers/store.js';
import { ImageStore } from './images/image-store.js';
import { ImageService } from './images/service.js';
import type { StorageDriver } from './drivers/driver.js';
import { selectDriver } from './drivers/select.js';
import { staleTmpEntries } from './store/check.js';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

export interface EngineOptions {
  dataRoot?: string;
  storageDriver?: string;
}

export class Engine {
  readonly layout: Layout;
  readonly db: DB;
  readonly content: ContentStore;
  readonly driver: StorageDriver;
  readonly driverReason: string;
  readonly layers: LayerStore;
  readonly imageStore: ImageStore;
  readonly images: ImageService;
  private recovered = false;

  private constructor(opts: EngineOptions) {
    this.layout = new Layout(opts.dataRoot ?? defaultDataRoot());
    this.layout.ensure();
    this.db = openDatabase(this.layout.database);
    this.content = new ContentStore(this.layout);
    const choice = selectDriver(this.layout.root, opts.storageDriver);
    this.driver = choice.driver;
    this.driverReason = choice.reason;
    this.layers = new LayerStore(this.db, this.layout, this.driver);
    this.imageStore = new ImageStore(this.db, this.content, this.layers);
    this.images = new ImageService(this);
  }

  static open(opts: EngineOptions = {}): Engine {
    return new Engine(opts);
  }

  /**
   * Start-up recovery: finishes what crashed processes left half-done (abandoned
   * layers, orphan directories). Cheap (one readdir and one query); every command
   * that changes the store runs it first.
   */
  async recover(): Promise<{ abandoned: string[]; orphans: string[] }> {
    if (this.recovered) return { abandoned: [], orphans: [] };
    this.recovered = true;
    for (const n of staleTmpEntries(this.layout.tmpDir)) rmSync(join(this.layout.tmpDir, n), { recursive: true, force: true });
    return this.layers.recover();
  }

  close(): void {
    this.db.close();
  }
}
