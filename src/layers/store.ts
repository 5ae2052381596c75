// layers/store.ts: the layer store. Layers are identified by diffID (sha256 of the
// uncompressed tar) and chainID (the identity of a layer on its parents, OCI
// image spec): a layer shared by several images has one chainID and is stored once.
//
// Crash safety without a daemon: a layer's row is written first, in state
// 'creating' with the creating process's owner token; then the driver makes the
// directory and the tar is applied; then the row turns 'ready'. Removal deletes
// the row first, the files after. So at any instant:
//   - a directory without a row is garbage (a removal that crashed), and
//   - a 'creating' row whose owner is dead is garbage (a load that crashed).
// recover() removes both. It lists directories *before* reading rows, so a layer
// that another process is creating right now (row first, then directory) is
// never mistaken for garbage.
//
// Who uses a layer is not counted: images.top_layer, layers.parent and
// containers.layer_id are foreign keys with ON DELETE RESTRICT, so deleting a
// used layer's row fails inside SQLite, atomically, across processes.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import type { DB } from '../store/db.js';
import { isForeignKeyViolation, isUniqueViolation } from '../store/db.js';
import type { Layout } from '../store/layout.js';
import type { StorageDriver } from '../drivers/driver.js';
import { ownerAlive, ownerToken } from '../store/owner.js';
import { applyLayer, type ApplyLimits } from '../archive/apply.js';
import { assembleLayer } from '../archive/tar-split.js';
import { conflict, failedPrecondition, invalidArgument, notFound, internal } from '../errors.js';
import { chainIdOf } from './identity.js';
import { failpoint } from '../util/failpoint.js';
import { appliedLayerSize } from './size.js';

export interface LayerRecord {
  id: string;
  driver: string;
  parent: string | null;
  chainId: string | null;
  diffId: string | null;
  /** Bytes of the layer's uncompressed tar. */
  size: number;
  /** The layer's size as Docker reports it (layers/size.ts): image Size, history, df. */
  diffSize: number;
  depth: number;
  state: 'creating' | 'ready';
  owner: string | null;
  createdAt: number;
}

interface Row {
  id: string; driver: string; parent: string | null; chain_id: string | null; diff_id: string | null;
  size: number; depth: number; state: 'creating' | 'ready'; owner: string | null; created_at: number;
  diff_size?: number | null;
}

const toRecord = (r: Row): LayerRecord => ({
  id: r.id, driver: r.driver, parent: r.parent, chainId: r.chain_id, diffId: r.diff_id,
  size: r.size, diffSize: r.diff_size ?? r.size, depth: r.depth, state: r.state, owner: r.owner, createdAt: r.created_at,
});

/** True for the row `layers` (in a query over it) when an image, child layer, container, lease or build step uses it. */
const REFERENCED_SQL = `EXISTS (SELECT 1 FROM images WHERE top_layer = layers.id) OR EXISTS (SELECT 1 FROM layers c WHERE c.parent = layers.id)
  OR EXISTS (SELECT 1 FROM containers WHERE layer_id = layers.id) OR EXISTS (SELECT 1 FROM layer_leases WHERE layer_id = layers.id)
  OR EXISTS (SELECT 1 FROM build_cache WHERE layer_id = layers.id)`;
/** Layer rows with their recorded Docker-style size. */
const COLS = 'layers.*, s.diff_size FROM layers LEFT JOIN layer_sizes s ON s.layer_id = layers.id';

export function newLayerId(): string {
  return randomBytes(32).toString('hex');
}

export interface AddLayerOptions {
  /** The diffID the caller expects (from an image config): checked, and used to find an existing layer first. */
  expectDiffId?: string;
  /** The digest of the bytes as given (an OCI manifest's layer digest): checked. */
  expectBlobDigest?: string;
  signal?: AbortSignal;
  limits?: Partial<ApplyLimits>;
  /** How long to wait for another process creating the same layer (ms). */
  waitMs?: number;
}

export interface AddLayerResult { layer: LayerRecord; existed: boolean }

export class LayerStore {
  constructor(
    private readonly db: DB,
    private readonly layout: Layout,
    readonly driver: StorageDriver,
  ) {}

  get driverName(): string { return this.driver.name; }

  /**
   * The deepest image this store accepts: one place is kept for a container's
   * writable layer, so an image that can be stored can also be run (an image that
   * lacks the runtime's mount points also needs an init layer: see containers/). Docker builds images deeper than it can run; this checks when the
   * image is made.
   */
  get maxImageDepth(): number { return this.driver.maxDepth - 1; }

  get(id: string): LayerRecord | undefined {
    const r = this.db.prepare(`SELECT ${COLS} WHERE id = ?`).get(id) as Row | undefined;
    return r ? toRecord(r) : undefined;
  }

  byChainId(chainId: string): LayerRecord | undefined {
    const r = this.db.prepare(`SELECT ${COLS} WHERE driver = ? AND chain_id = ?`).get(this.driver.name, chainId) as Row | undefined;
    return r ? toRecord(r) : undefined;
  }

  /** The layer and its ancestors, top first. */
  chain(id: string): LayerRecord[] {
    const rows = this.db.prepare(`
      WITH RECURSIVE c(id, n) AS (SELECT ?, 0 UNION ALL SELECT l.parent, c.n + 1 FROM layers l JOIN c ON l.id = c.id WHERE l.parent IS NOT NULL)
      SELECT layers.*, s.diff_size FROM c JOIN layers ON layers.id = c.id LEFT JOIN layer_sizes s ON s.layer_id = layers.id ORDER BY c.n`).all(id) as Row[];
    return rows.map(toRecord);
  }

  all(): LayerRecord[] {
    return (this.db.prepare(`SELECT ${COLS} WHERE driver = ?`).all(this.driver.name) as Row[]).map(toRecord);
  }

  /**
   * Adds an image layer on parent (null: a base layer) from a layer tar, or finds it
   * when the same chainID is already stored. `open` is called only when the
   * layer has to be applied.
   */
  async add(parent: LayerRecord | null, open: () => AsyncIterable<Buffer>, opts: AddLayerOptions = {}): Promise<AddLayerResult> {
    if (parent && parent.state !== 'ready') throw internal(`parent layer ${parent.id} is not ready`);
    const depth = (parent?.depth ?? 0) + 1;
    if (depth > this.maxImageDepth) {
      throw failedPrecondition(`max depth exceeded: the image would have ${depth} layers; the ${this.driver.name} driver stacks at most ${this.driver.maxDepth}, one of them a container's writable layer`, { op: 'add layer' });
    }
    let claimedChain: string | null = null;
    if (opts.expectDiffId) {
      claimedChain = chainIdOf(parent?.chainId ?? null, opts.expectDiffId);
      const found = await this.waitForChain(claimedChain, opts.waitMs ?? 600_000, opts.signal);
      if (found) {
        if (this.lease(found.id)) return { layer: found, existed: true };
        return this.add(parent, open, opts); // swept between our look and our lease: apply it again
      }
    }
    const id = newLayerId();
    try {
      this.db.prepare(`INSERT INTO layers (id, driver, parent, chain_id, diff_id, size, depth, state, owner, created_at)
        VALUES (?, ?, ?, ?, ?, 0, ?, 'creating', ?, ?)`)
        .run(id, this.driver.name, parent?.id ?? null, claimedChain, opts.expectDiffId ?? null, depth, ownerToken(), Date.now());
    } catch (err) {
      if (isUniqueViolation(err) && claimedChain) {
        // Another process claimed this chain between our look and our insert: wait for it.
        const found = await this.waitForChain(claimedChain, opts.waitMs ?? 600_000, opts.signal);
        if (found && this.lease(found.id)) return { layer: found, existed: true };
        return this.add(parent, open, opts);
      }
      throw err;
    }
    failpoint('layer:row');
    try {
      await this.driver.create(id, parent?.id ?? null);
      const target = this.driver.applyTarget(id);
      const result = await applyLayer(open(), target.root, {
        whiteouts: target.whiteouts,
        tarSplitPath: this.layout.tarSplit(id),
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.limits ? { limits: opts.limits } : {}),
      });
      if (opts.expectBlobDigest && result.blobDigest !== opts.expectBlobDigest) {
        throw invalidArgument(`layer blob digest mismatch: the archive names ${opts.expectBlobDigest}, its bytes hash to ${result.blobDigest}`, { name: opts.expectBlobDigest });
      }
      if (opts.expectDiffId && result.diffId !== opts.expectDiffId) {
        throw invalidArgument(`layer content does not match its diff ID: the image config names ${opts.expectDiffId}, the uncompressed layer hashes to ${result.diffId}`, { name: opts.expectDiffId });
      }
      failpoint('layer:applied');
      const chainId = claimedChain ?? chainIdOf(parent?.chainId ?? null, result.diffId);
      // Recorded once, at apply time, so listing images never walks a layer.
      const size = appliedLayerSize(target.whiteouts, target.root, result.contentSize);
      const existing = this.db.transaction(() => {
        if (!claimedChain) {
          const other = this.byChainId(chainId);
          if (other) return other; // same content already stored: ours is a duplicate
        }
        this.db.prepare(`UPDATE layers SET chain_id = ?, diff_id = ?, size = ?, state = 'ready', owner = NULL WHERE id = ?`)
          .run(chainId, result.diffId, result.size, id);
        this.db.prepare('INSERT OR REPLACE INTO layer_sizes (layer_id, diff_size) VALUES (?, ?)').run(id, size);
        this.db.prepare('INSERT OR IGNORE INTO layer_leases (owner, layer_id) VALUES (?, ?)').run(ownerToken(), id);
        return undefined;
      }).immediate();
      if (existing) {
        await this.discard(id);
        const found = existing.state === 'ready' ? existing : await this.waitForChain(chainId, opts.waitMs ?? 600_000, opts.signal);
        if (found && this.lease(found.id)) return { layer: found, existed: true };
        return this.add(parent, open, opts);
      }
      return { layer: this.get(id)!, existed: false };
    } catch (err) {
      await this.discard(id);
      throw err;
    }
  }

  /** Creates an empty read-write layer on parent (a container's writable layer). */
  async createWritable(parent: LayerRecord | null): Promise<LayerRecord> {
    const id = newLayerId();
    const depth = (parent?.depth ?? 0) + 1;
    if (depth > this.driver.maxDepth) throw failedPrecondition(`max depth exceeded (${depth} > ${this.driver.maxDepth})`);
    this.db.prepare(`INSERT INTO layers (id, driver, parent, chain_id, diff_id, size, depth, state, owner, created_at)
      VALUES (?, ?, ?, NULL, NULL, 0, ?, 'creating', ?, ?)`).run(id, this.driver.name, parent?.id ?? null, depth, ownerToken(), Date.now());
    try {
      await this.driver.create(id, parent?.id ?? null);
      failpoint('layer:writable');
      this.db.transaction(() => {
        this.db.prepare(`UPDATE layers SET state = 'ready', owner = NULL WHERE id = ?`).run(id);
        this.db.prepare('INSERT OR IGNORE INTO layer_leases (owner, layer_id) VALUES (?, ?)').run(ownerToken(), id);
      }).immediate();
      return this.get(id)!;
    } catch (err) {
      await this.discard(id);
      throw err;
    }
  }

  /**
   * Protects a layer from the garbage sweep until releaseLeases(). False when the
   * layer no longer exists (it was swept or removed before we could lease it).
   */
  lease(id: string): boolean {
    try {
      this.db.prepare('INSERT OR IGNORE INTO layer_leases (owner, layer_id) VALUES (?, ?)').run(ownerToken(), id);
      return true;
    } catch (err) {
      if (isForeignKeyViolation(err)) return false;
      throw err;
    }
  }

  /** Drops this process's lease on one layer (a build step's scratch layers, before removing them). */
  unlease(id: string): void {
    this.db.prepare('DELETE FROM layer_leases WHERE owner = ? AND layer_id = ?').run(ownerToken(), id);
  }

  /** Drops this process's leases: call when the operation has recorded what it made. */
  releaseLeases(): void {
    this.db.prepare('DELETE FROM layer_leases WHERE owner = ?').run(ownerToken());
  }

  /** Applies a small tar into a writable layer (a container's init layer); not an image layer: no tar-split. */
  async applyToWritable(layer: LayerRecord, tar: Buffer): Promise<void> {
    const target = this.driver.applyTarget(layer.id);
    await applyLayer((async function* () { yield tar; })(), target.root, { whiteouts: target.whiteouts });
  }

  /** Waits while another live process is creating chainId. Returns the ready layer, or undefined if none (or its creator died). */
  private async waitForChain(chainId: string, waitMs: number, signal?: AbortSignal): Promise<LayerRecord | undefined> {
    const deadline = Date.now() + waitMs;
    for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
      const l = this.byChainId(chainId);
      if (!l) return undefined;
      if (l.state === 'ready') return l;
      if (!ownerAlive(l.owner)) {
        await this.reclaim(l);
        return undefined;
      }
      if (Date.now() > deadline) throw conflict(`layer ${chainId} is being created by another process (${l.owner}) and did not finish in time`, { name: chainId });
      signal?.throwIfAborted();
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  /** Removes an abandoned 'creating' layer, if it is still abandoned. */
  private async reclaim(l: LayerRecord): Promise<void> {
    const gone = this.db.transaction(() => {
      const now = this.get(l.id);
      if (!now || now.state !== 'creating' || ownerAlive(now.owner)) return false;
      this.db.prepare('DELETE FROM layers WHERE id = ?').run(l.id);
      return true;
    }).immediate();
    if (gone) await this.removeFiles(l.id);
  }

  /** Deletes a layer this process created and that failed or turned out a duplicate. */
  private async discard(id: string): Promise<void> {
    try {
      this.db.prepare('DELETE FROM layers WHERE id = ?').run(id);
    } finally {
      await this.removeFiles(id);
    }
  }

  private async removeFiles(id: string): Promise<void> {
    await this.driver.remove(id);
    rmSync(this.layout.tarSplit(id), { force: true });
  }

  /**
   * Removes a layer if nothing uses it: row first (SQLite's foreign keys refuse
   * when an image, a child layer or a container still points at it), files after.
   * Returns true when removed, false when still in use.
   */
  async removeIfUnused(id: string): Promise<boolean> {
    try {
      const changed = this.db.prepare(`DELETE FROM layers WHERE id = ? AND state = 'ready'`).run(id).changes;
      if (changed === 0) return false;
    } catch (err) {
      if (isForeignKeyViolation(err)) return false;
      throw err;
    }
    failpoint('layer:row-deleted');
    await this.removeFiles(id);
    return true;
  }

  /** Removes id and then each ancestor that nothing else uses. Returns the removed layers. */
  async releaseChain(id: string, opts: { stopAtImageLayers?: boolean } = {}): Promise<LayerRecord[]> {
    const removed: LayerRecord[] = [];
    let cur = this.get(id);
    while (cur) {
      if (opts.stopAtImageLayers && cur.chainId && removed.length > 0) break;
      const parent = cur.parent;
      if (!(await this.removeIfUnused(cur.id))) break;
      removed.push(cur);
      cur = parent ? this.get(parent) : undefined;
    }
    return removed;
  }

  /** The exact bytes of an image layer's original tar. */
  assemble(layer: LayerRecord, signal?: AbortSignal): AsyncIterable<Buffer> {
    if (!layer.chainId || layer.state !== 'ready') throw notFound(`layer ${layer.id} is not a complete image layer`);
    const target = this.driver.applyTarget(layer.id);
    return assembleLayer(this.layout.tarSplit(layer.id), target.root, signal ? { signal } : {});
  }

  hasTarSplit(id: string): boolean {
    return existsSync(this.layout.tarSplit(id));
  }

  /**
   * Start-up reconciliation. In order: void the leases of dead processes; remove
   * layers whose creator died mid-way; remove layers nothing uses (no image, child,
   * container or live lease: what a crashed load or rmi left); remove directories
   * and tar-splits that have no row. Returns what it removed.
   */
  async recover(): Promise<{ abandoned: string[]; orphans: string[]; unused: string[] }> {
    // Directories first, rows second (see the header comment).
    const dirs = this.driver.list();
    const splits = this.listTarSplits();
    const owners = this.db.prepare('SELECT DISTINCT owner FROM layer_leases').all() as Array<{ owner: string }>;
    for (const { owner } of owners) {
      if (!ownerAlive(owner)) this.db.prepare('DELETE FROM layer_leases WHERE owner = ?').run(owner);
    }
    // Only rows that may need work are read: 'creating' ones, and ready ones that
    // nothing references (one query; usually empty, so recovery stays cheap).
    const known = new Set((this.db.prepare('SELECT id FROM layers').all() as Array<{ id: string }>).map((r) => r.id));
    const abandoned: string[] = [];
    const unused: string[] = [];
    const creating = (this.db.prepare(`SELECT * FROM layers WHERE driver = ? AND state = 'creating' ORDER BY depth DESC`).all(this.driver.name) as Row[]).map(toRecord);
    for (const l of creating) {
      if (ownerAlive(l.owner)) continue;
      await this.reclaim(l);
      abandoned.push(l.id);
    }
    const unreferenced = this.db.prepare(`SELECT * FROM layers WHERE driver = @driver AND state = 'ready' AND NOT (${REFERENCED_SQL}) ORDER BY depth DESC`);
    // Removing a layer can leave its parent unreferenced: go again until a pass removes nothing.
    for (;;) {
      let removed = 0;
      for (const l of (unreferenced.all({ driver: this.driver.name }) as Row[]).map(toRecord)) {
        if (await this.removeIfUnused(l.id)) { unused.push(l.id); removed++; }
      }
      if (removed === 0) break;
    }
    const orphans: string[] = [];
    for (const id of dirs) {
      if (!known.has(id)) {
        await this.driver.remove(id);
        orphans.push(id);
      }
    }
    for (const id of splits) {
      if (!known.has(id)) {
        rmSync(this.layout.tarSplit(id), { force: true });
        if (!orphans.includes(id)) orphans.push(id);
      }
    }
    return { abandoned, orphans, unused };
  }

  /** True when no image, child layer, container or lease points at the layer. */
  isUnreferenced(id: string): boolean {
    return !this.db.prepare(`SELECT 1 FROM layers WHERE id = @id AND (${REFERENCED_SQL})`).get({ id });
  }

  /** Orphans and abandoned layers as recover() would see them, without changing anything. */
  inspectGarbage(): { abandoned: string[]; unused: string[]; orphanDirs: string[]; orphanTarSplits: string[]; missingDirs: string[] } {
    const dirs = this.driver.list();
    const splits = this.listTarSplits();
    const rows = this.all();
    const known = new Set((this.db.prepare('SELECT id FROM layers').all() as Array<{ id: string }>).map((r) => r.id));
    const dirSet = new Set(dirs);
    return {
      abandoned: rows.filter((r) => r.state === 'creating' && !ownerAlive(r.owner)).map((r) => r.id),
      unused: rows.filter((r) => r.state === 'ready' && this.isUnreferencedIgnoringDeadLeases(r.id)).map((r) => r.id),
      orphanDirs: dirs.filter((d) => !known.has(d)),
      orphanTarSplits: splits.filter((s) => !known.has(s)),
      missingDirs: rows.filter((r) => r.state === 'ready' && !dirSet.has(r.id)).map((r) => r.id),
    };
  }

  private isUnreferencedIgnoringDeadLeases(id: string): boolean {
    if (!this.isUnreferenced(id)) {
      const leases = this.db.prepare('SELECT owner FROM layer_leases WHERE layer_id = ?').all(id) as Array<{ owner: string }>;
      const otherRefs = this.db.prepare(`SELECT 1 WHERE EXISTS (SELECT 1 FROM images WHERE top_layer = @id) OR EXISTS (SELECT 1 FROM layers WHERE parent = @id)
        OR EXISTS (SELECT 1 FROM containers WHERE layer_id = @id) OR EXISTS (SELECT 1 FROM build_cache WHERE layer_id = @id)`).get({ id });
      return !otherRefs && leases.every((l) => !ownerAlive(l.owner));
    }
    return true;
  }

  private listTarSplits(): string[] {
    try {
      return readdirSync(this.layout.layersDir).filter((n) => n.endsWith('.tar-split')).map((n) => n.slice(0, -'.tar-split'.length));
    } catch {
      return [];
    }
  }
}
