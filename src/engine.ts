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
import { EventService } from './events/service.js';
import { createHash } from 'node:crypto';
import type { StorageDriver } from './drivers/driver.js';
import { selectDriver } from './drivers/select.js';
import { staleTmpEntries } from './store/check.js';
import { mountLedger } from './store/mount-ledger.js';
import { crashEvidence, openSession, closeSession, sweepAfterCrash } from './store/sweep.js';
import { removeTreeSync } from './drivers/fsutil.js';
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
  /** Docker's event log (record / subscribe), shared by every process on the data root. */
  readonly events: EventService;
  private runtimes = new Map<string, OciRuntime>();
  private recovered = false;
  private recoveredAt = 0;
  /**
   * A long-running engine (stowage serve) sets this: recovery then runs again when the
   * last run is older, so garbage of CLI processes that died meanwhile is swept too.
   * (Recovery only touches what dead owners left, so it is safe beside live work.)
   */
  recoverEveryMs?: number;
  private sessionOpen = false;

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
    this.events = new EventService(this.db);
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
   * layers, orphan directories, mounts of dead owners). Every command that changes the
   * store runs it first. The crash sweeps (store/sweep.ts) run only when a session or a
   * mount of a dead process proves a crash: one query otherwise.
   */
  async recover(): Promise<{ abandoned: string[]; orphans: string[] }> {
    const stale = this.recoverEveryMs !== undefined && Date.now() - this.recoveredAt > this.recoverEveryMs;
    if (this.recovered && !stale) return { abandoned: [], orphans: [] };
    this.recovered = true;
    this.recoveredAt = Date.now();
    const evidence = crashEvidence(this.db);
    if (evidence.deadMountOwners.length || evidence.deadSessions.length) {
      // A watcher that died leaves its container running in namespaces of its own,
      // holding the mounts: stop and finalise those first, then release the mounts.
      await this.containers.reconcile();
      mountLedger(this).recover();
    }
    openSession(this.db);
    this.sessionOpen = true;
    // removeTreeSync unmounts first: a recursive delete must never walk into a mount.
    for (const n of staleTmpEntries(this.layout.tmpDir)) removeTreeSync(join(this.layout.tmpDir, n));
    const { volumeService } = await import('./volumes/service.js');
    await volumeService(this).recover();
    const r = await this.layers.recover();
    if (evidence.deadSessions.length) {
      // A sweep that fails (a cleanup that cannot finish) must not fail the command that
      // ran it: the dead sessions stay, so the next recovery sweeps again.
      try { await sweepAfterCrash(this, evidence.deadSessions); } catch { /* retried next time */ }
    }
    return r;
  }

  close(): void {
    if (this.sessionOpen) {
      try { closeSession(this.db); } catch { /* a full disk: the next recovery sweeps once more */ }
    }
    this.db.close();
  }
}
