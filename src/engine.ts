// engine.ts: wires the stores together. Every front end (CLI, later API servers)
// opens one Engine and calls it; the engine never prints.
import type { DB } from './store/db.js';
import { openDatabase } from './store/db.js';
import { Layout, defaultDataRoot } from './store/layout.js';
import { ContentStore } from './content/store.js';
import { LayerStore } from './layers/store.js';
import { ImageStore } from './images/image-store.js';
import { ImageService } from './images/service.js';
import { ContainerStore } from './containers/store.js';
import { ContainerService } from './containers/service.js';
import { OciRuntime, findRuntime } from './runtime/runtime.js';
import { createHash } from 'node:crypto';
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
  private readonly driverChoice: { reason: string };
  readonly layers: LayerStore;
  readonly imageStore: ImageStore;
  readonly images: ImageService;
  readonly containerStore: ContainerStore;
  readonly containers: ContainerService;
  private runtimes = new Map<string, OciRuntime>();
  private recovered = false;

  private constructor(opts: EngineOptions) {
    this.layout = new Layout(opts.dataRoot ?? defaultDataRoot());
    this.layout.ensure();
    this.db = openDatabase(this.layout.database);
    this.content = new ContentStore(this.layout);
    const choice = selectDriver(this.layout.root, opts.storageDriver);
    this.driver = choice.driver;
    this.driverChoice = choice; // its reason may be worked out on first read (select.ts)
    this.layers = new LayerStore(this.db, this.layout, this.driver);
    this.imageStore = new ImageStore(this.db, this.content, this.layers);
    this.images = new ImageService(this);
    this.containerStore = new ContainerStore(this.db);
    this.containers = new ContainerService(this);
  }

  /** Why this driver, in one sentence (`stowage info`). */
  get driverReason(): string {
    return this.driverChoice.reason;
  }

  /**
   * Where runtimes keep their state: on /run (tmpfs), so a host reboot clears it,
   * one folder per data root.
   */
  get execRoot(): string {
    return join('/run/stowage', createHash('sha256').update(this.layout.root).digest('hex').slice(0, 12));
  }

  /** The OCI runtime (crun preferred, else runc), found once per name. */
  runtime(name?: string): OciRuntime {
    const key = name ?? '';
    let r = this.runtimes.get(key);
    if (!r) {
      const info = findRuntime(name);
      r = new OciRuntime(info, join(this.execRoot, info.name));
      this.runtimes.set(key, r);
    }
    return r;
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
    const { volumeService } = await import('./volumes/service.js');
    await volumeService(this).recover();
    return this.layers.recover();
  }

  close(): void {
    this.db.close();
  }
}
