// service.ts: the volume service. Records live in the metadata database (tables in
// store/db.ts VOLUMES_SCHEMA); data is the volume's driver's: `local` (files under the
// data root, called synchronously inside the transactions below), a Docker volume
// plugin or CSI (volumes/drivers/, called asynchronously after the record is written).
//
// Plugin volumes, in the same record-first order: create inserts the row 'creating',
// calls the plugin's Create, then turns the row 'ready' (deleted again if Create fails;
// a creator that dies leaves a 'creating' row that is dropped, never a plugin Remove,
// since the plugin's volume may be another engine's). acquire inserts the volume_mounts
// row with its holder before the plugin's Mount, so a process that dies after Mount
// leaves a row recover() answers with an Unmount; release calls Unmount first and
// deletes the row after (a failed Unmount keeps the row for recover() to retry).
// remove deletes the row (refused while used) and then calls Remove; when the plugin
// refuses, the row is put back.
//
// Crash safety, as the layer store: create writes the row in state 'creating' with
// the creator's owner token, then the driver makes the directory (staged, renamed
// into place), then the row turns 'ready'. Removal deletes the row first, the files
// after. recover() removes 'creating' rows of dead processes and directories
// without rows (listing directories before reading rows, so a volume another process
// is creating is never mistaken for garbage), and voids mounts held by dead processes.
//
// In use is derived, never counted: container_volumes (which containers use a
// volume) and volume_mounts (which containers have it acquired) point at the volume
// with ON DELETE RESTRICT, so removing a used volume fails inside SQLite, atomically
// across processes. The first acquire mounts a volume that needs it; the last
// release unmounts it. Acquire and release run in an IMMEDIATE transaction that
// holds SQLite's write lock across the mount, so two processes never both mount.
import { randomBytes } from 'node:crypto';
import { lstatSync, readdirSync, realpathSync } from 'node:fs';
import { mountPoints } from '../drivers/mount.js';
import { join } from 'node:path';
import type { DB } from '../store/db.js';
import { isForeignKeyViolation, isUniqueViolation } from '../store/db.js';
import type { Layout } from '../store/layout.js';
import { ownerAlive, ownerToken } from '../store/owner.js';
import { conflict, invalidArgument, notFound, internal, StowageError } from '../errors.js';
import { volumeNameProblem } from '../mounts/parse.js';
import type { MountSpec } from '../mounts/spec.js';
import { LocalDriver } from './local.js';
import { parseLocalOptions, needsMount, type LocalOptions } from './options.js';
import { parseVolumeFilters, type VolumeFilter } from './filters.js';
import { LocalVolumeDriver } from './drivers/local.js';
import { resolveVolumeDriver, type VolumeDriver } from './drivers/index.js';
import { PluginVolumeDriver } from './drivers/plugin.js';
import { discoverPlugins, findPlugin } from '../plugins/discovery.js';
import { EventService } from '../events/service.js';
import { MountLedger } from '../store/mount-ledger.js';
import { isMountPoint } from '../drivers/mount.js';
import { failpoint } from '../util/failpoint.js';

export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

export interface VolumeRecord {
  name: string;
  driver: string;
  labels: Record<string, string>;
  options: Record<string, string>;
  state: 'creating' | 'ready';
  owner: string | null;
  createdAt: number; // ms
  /** The host path containers see: volumes/NAME/_data. */
  mountpoint: string;
}

/** `volume inspect`'s JSON, as Docker's. */
export interface VolumeInspect {
  CreatedAt: string;
  Driver: string;
  Labels: Record<string, string> | null;
  Mountpoint: string;
  Name: string;
  Options: Record<string, string> | null;
  Scope: 'local' | 'global';
  /** What a plugin reports about the volume (VolumeDriver.Get's Status). */
  Status?: Record<string, unknown>;
}

export interface CreateVolumeOptions {
  driver?: string;
  labels?: Record<string, string>;
  options?: Record<string, string>;
  /** How long to wait for another process creating the same name (ms). */
  waitMs?: number;
}

interface Row { name: string; driver: string; labels: string; options: string; state: 'creating' | 'ready'; owner: string | null; created_at: number }

/** RFC 3339 in local time with its offset, as Go's time.Format(time.RFC3339). */
export function rfc3339(ms: number): string {
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const p = (n: number) => String(Math.floor(Math.abs(n))).padStart(2, '0');
  const local = new Date(ms + off * 60_000).toISOString().replace(/\.\d+Z$/, '');
  return local + (off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${p(off / 60)}:${p(off % 60)}`);
}

export const isLocalDriver = (driver: string) => driver === '' || driver === 'local';

/** Refuses a driver that cannot be found: a plugin name nothing answers to (NotFound names where stowage looked). */
export function checkDriver(driver: string): void {
  if (isLocalDriver(driver) || driver === 'csi') return;
  findPlugin(driver);
}

/** Everything `volume create` would refuse about a request, without creating anything (plugins judge their own options). */
export function checkVolumeRequest(name: string, driver: string, options: Record<string, string>): LocalOptions {
  checkDriver(driver);
  const why = volumeNameProblem(name);
  if (why) throw invalidArgument(`create ${name}: ${why}`, { op: 'volume create', name });
  if (!isLocalDriver(driver)) return {};
  try {
    return parseLocalOptions(options, name);
  } catch (err) {
    if (err instanceof StowageError) throw invalidArgument(`create ${name}: ${err.message}`, { op: 'volume create', name, cause: err });
    throw err;
  }
}

export class VolumeService {
  readonly local: LocalDriver;
  readonly localDriver: LocalVolumeDriver;
  /** The key plugin drivers are cached under (one handshake per plugin per service). */
  private readonly driverKey: { layout: Layout };

  constructor(private readonly db: DB, private readonly layout: Layout) {
    this.local = new LocalDriver(layout);
    this.localDriver = new LocalVolumeDriver(this.local, (n) => layout.volumeData(n), (n) => { const r = this.row(n); return r ? JSON.parse(r.options) : undefined; });
    this.driverKey = { layout };
  }

  private get ledger(): MountLedger {
    if (!this.ledgerObj) this.ledgerObj = new MountLedger(this.db);
    return this.ledgerObj;
  }
  private ledgerObj: MountLedger | undefined;

  private toRecord(r: Row): VolumeRecord {
    return {
      name: r.name, driver: r.driver, labels: JSON.parse(r.labels), options: JSON.parse(r.options), state: r.state, owner: r.owner,
      createdAt: r.created_at, mountpoint: isLocalDriver(r.driver) ? this.layout.volumeData(r.name) : '',
    };
  }

  /** The driver of that name (local, csi, or a plugin found by discovery). */
  driver(name: string): VolumeDriver {
    return resolveVolumeDriver(this.driverKey, name, { local: this.localDriver });
  }

  private row(name: string): Row | undefined {
    return this.db.prepare('SELECT * FROM volumes WHERE name = ?').get(name) as Row | undefined;
  }

  /** A ready volume; NotFound with Docker's wording otherwise. */
  get(name: string): VolumeRecord {
    const r = this.row(name);
    if (!r || r.state !== 'ready') throw notFound(`get ${name}: no such volume`, { op: 'volume inspect', name });
    return this.toRecord(r);
  }

  find(name: string): VolumeRecord | undefined {
    const r = this.row(name);
    return r && r.state === 'ready' ? this.toRecord(r) : undefined;
  }

  all(): VolumeRecord[] {
    return (this.db.prepare(`SELECT * FROM volumes WHERE state = 'ready' ORDER BY name`).all() as Row[]).map((r) => this.toRecord(r));
  }

  /**
   * Creates a volume, or returns the existing one of that name (as Docker does; its
   * labels and options stay as they were). No name: an anonymous volume, 64 random
   * hex digits, labelled com.docker.volume.anonymous.
   */
  async create(name: string | undefined, opts: CreateVolumeOptions = {}): Promise<{ volume: VolumeRecord; created: boolean }> {
    const driver = opts.driver || 'local';
    const labels = { ...(opts.labels ?? {}) };
    if (name === undefined || name === '') {
      name = randomBytes(32).toString('hex');
      labels[ANONYMOUS_LABEL] = labels[ANONYMOUS_LABEL] ?? '';
    }
    const options = { ...(opts.options ?? {}) };
    checkDriver(driver);
    const existing = await this.waitReady(name, opts.waitMs ?? 60_000);
    if (existing) return { volume: this.sameDriver(existing, driver), created: false };
    const parsed = checkVolumeRequest(name, driver, options);
    const plugin = isLocalDriver(driver) ? undefined : this.driver(driver);
    try {
      this.db.prepare(`INSERT INTO volumes (name, driver, labels, options, state, owner, created_at) VALUES (?, ?, ?, ?, 'creating', ?, ?)`)
        .run(name, driver, JSON.stringify(labels), JSON.stringify(options), ownerToken(), Date.now());
    } catch (err) {
      if (isUniqueViolation(err)) return this.create(name, opts); // another process got there first: wait for it
      throw err;
    }
    failpoint('volume:row');
    try {
      if (plugin) await plugin.create(name, options);
      else this.local.create(name, parsed);
      failpoint('volume:dir');
      this.db.prepare(`UPDATE volumes SET state = 'ready', owner = NULL WHERE name = ?`).run(name);
    } catch (err) {
      this.db.prepare('DELETE FROM volumes WHERE name = ?').run(name);
      if (!plugin) this.local.remove(name);
      throw err;
    }
    this.event('create', name, { driver });
    return { volume: this.get(name), created: true };
  }

  /** Docker's volume events (create, mount, unmount, destroy), for subscribers in any process. */
  private event(action: string, name: string, attrs: Record<string, string>): void {
    new EventService(this.db).record({ Type: 'volume', Action: action, Actor: { ID: name, Attributes: attrs } });
  }

  private sameDriver(v: VolumeRecord, driver: string): VolumeRecord {
    if (v.driver !== driver) throw conflict(`create ${v.name}: volume name must be unique: a volume of that name exists with driver ${v.driver}`, { name: v.name });
    return v;
  }

  /** The ready volume of that name, waiting while a live process is creating it; undefined when there is none. */
  private async waitReady(name: string, waitMs: number): Promise<VolumeRecord | undefined> {
    const deadline = Date.now() + waitMs;
    for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
      const r = this.row(name);
      if (!r) return undefined;
      if (r.state === 'ready') return this.toRecord(r);
      if (!ownerAlive(r.owner)) { this.reclaim(r); return undefined; }
      if (Date.now() > deadline) throw conflict(`create ${name}: being created by another process (${r.owner})`, { name });
      await new Promise((res) => setTimeout(res, delay));
    }
  }

  /** Removes a 'creating' volume whose creator died, if it still is one. */
  private reclaim(r: Row): void {
    const gone = this.db.transaction(() => {
      const now = this.row(r.name);
      if (!now || now.state !== 'creating' || ownerAlive(now.owner)) return false;
      this.db.prepare('DELETE FROM volumes WHERE name = ?').run(r.name);
      return true;
    }).immediate();
    if (gone && isLocalDriver(r.driver)) this.local.remove(r.name);
  }

  /**
   * The volume a container mount uses, created when missing: for the container code's
   * `create`. An anonymous spec (source "") gets a new anonymous volume; the spec's
   * driver, labels and options apply only when the volume is created here.
   */
  async ensureForMount(spec: MountSpec): Promise<VolumeRecord> {
    if (spec.type !== 'volume') throw invalidArgument(`${spec.spec} is a ${spec.type} mount, not a volume`);
    const v = spec.volume!;
    // A mount that names no other driver uses an existing volume whatever its driver
    // (Docker conflicts only when a driver is asked for and differs).
    const existing = spec.source ? this.find(spec.source) : undefined;
    if (existing && isLocalDriver(v.driver)) return existing;
    const { volume } = await this.create(spec.source || undefined, { driver: v.driver, labels: v.labels, options: v.options });
    return volume;
  }

  /** The containers that use the volume (container_volumes) or have it acquired (volume_mounts). */
  users(name: string): string[] {
    const rows = this.db.prepare(`SELECT container_id FROM container_volumes WHERE volume_name = ?
      UNION SELECT container_id FROM volume_mounts WHERE volume_name = ? ORDER BY 1`).all(name, name) as Array<{ container_id: string }>;
    return rows.map((r) => r.container_id);
  }

  /** Records that a container uses a volume at destination (for the container code's `create`). */
  attach(containerId: string, name: string, destination: string): void {
    try {
      this.db.prepare('INSERT OR REPLACE INTO container_volumes (container_id, volume_name, destination) VALUES (?, ?, ?)').run(containerId, name, destination);
    } catch (err) {
      if (isForeignKeyViolation(err)) throw notFound(`attach volume ${name} to ${containerId}: no such volume or container`, { name, cause: err });
      throw err;
    }
  }

  /** Volumes a container uses, with their destinations. */
  volumesOf(containerId: string): Array<{ name: string; destination: string }> {
    return (this.db.prepare('SELECT volume_name AS name, destination FROM container_volumes WHERE container_id = ? ORDER BY destination').all(containerId)) as Array<{ name: string; destination: string }>;
  }

  /**
   * A container starts using a volume: the first acquire mounts it when its options
   * need a mount (type/device/o, size). Returns the host path to mount into the
   * container. holder: the owner token of the process that will call release (by
   * default this one); when that process is gone, recover() releases for it.
   * Idempotent per (volume, container).
   */
  async acquire(name: string, containerId: string, opts: { holder?: string | null; signal?: AbortSignal } = {}): Promise<string> {
    const holder = opts.holder === undefined ? ownerToken() : opts.holder;
    const rec = this.get(name);
    if (!isLocalDriver(rec.driver)) {
      const mountpoint = await this.acquirePlugin(rec, containerId, holder, opts.signal);
      this.event('mount', name, { container: containerId, driver: rec.driver });
      return mountpoint;
    }
    // A mount is recorded in the ledger (committed) before it is made, owned by this
    // process; once volume_mounts says who holds the volume, the ledger row is handed
    // over (owner NULL) and unmountIfIdle releases it with the last holder.
    const o = parseLocalOptions(rec.options, name);
    const ledger = this.ledger;
    const data = this.layout.volumeData(name);
    const recorded = needsMount(o) && !this.local.mounted(name);
    if (recorded) ledger.record(data, 'volume', o.size ? this.layout.volumeQuotaImage(name) : undefined);
    try {
      const path = this.db.transaction(() => {
        const v = this.get(name);
        this.insertMount(name, containerId, holder);
        if (needsMount(o)) this.local.mount(name, o); // throws: the transaction rolls the row back
        return v.mountpoint;
      }).immediate();
      failpoint('volume:mounted');
      if (needsMount(o)) ledger.mounted(data, { handOver: true });
      this.event('mount', name, { container: containerId, driver: rec.driver });
      return path;
    } catch (err) {
      if (recorded && !this.local.mounted(name)) ledger.forget(data, ownerToken());
      throw err;
    }
  }

  private insertMount(name: string, containerId: string, holder: string | null): void {
    try {
      this.db.prepare('INSERT OR REPLACE INTO volume_mounts (volume_name, container_id, holder) VALUES (?, ?, ?)').run(name, containerId, holder);
    } catch (err) {
      if (isForeignKeyViolation(err)) throw notFound(`acquire volume ${name}: no such container ${containerId}`, { name, cause: err });
      throw err;
    }
  }

  /** Row first, then the plugin's Mount; the row goes again when Mount fails. */
  private async acquirePlugin(v: VolumeRecord, containerId: string, holder: string | null, signal?: AbortSignal): Promise<string> {
    const d = this.driver(v.driver);
    this.insertMount(v.name, containerId, holder);
    try {
      return await d.mount(v.name, containerId, signal ? { signal } : {});
    } catch (err) {
      // A hang or a dropped connection leaves it unknown whether the plugin mounted: give it back.
      if ((err as StowageError).kind === 'Unavailable') await d.unmount(v.name, containerId).catch(() => {});
      this.db.prepare('DELETE FROM volume_mounts WHERE volume_name = ? AND container_id = ?').run(v.name, containerId);
      throw err;
    }
  }

  /** A container stops using a volume: the last release unmounts it (a plugin's Unmount for every release). Idempotent. */
  async release(name: string, containerId: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    const r = this.row(name);
    if (r && !isLocalDriver(r.driver)) {
      if (!this.db.prepare('SELECT 1 FROM volume_mounts WHERE volume_name = ? AND container_id = ?').get(name, containerId)) return;
      try {
        await this.driver(r.driver).unmount(name, containerId, opts.signal ? { signal: opts.signal } : {});
      } catch (err) {
        // Recorded apart from volume_mounts (whose row goes with the container), so that
        // recovery retries the Unmount even after the container is removed.
        this.db.prepare(`INSERT INTO pending_unmounts (driver, volume_name, container_id, error, attempts, next_at) VALUES (?, ?, ?, ?, 1, ?)
          ON CONFLICT (volume_name, container_id) DO UPDATE SET error = excluded.error, attempts = attempts + 1`).run(r.driver, name, containerId, (err as Error).message, Date.now() + 1000);
        throw err;
      }
      this.db.prepare('DELETE FROM volume_mounts WHERE volume_name = ? AND container_id = ?').run(name, containerId);
      this.event('unmount', name, { container: containerId, driver: r.driver });
      return;
    }
    const released = this.db.transaction(() => {
      const n = this.db.prepare('DELETE FROM volume_mounts WHERE volume_name = ? AND container_id = ?').run(name, containerId).changes;
      this.unmountIfIdle(name);
      return n;
    }).immediate();
    if (released > 0) this.event('unmount', name, { container: containerId, driver: r?.driver ?? 'local' });
  }

  /** Call inside an IMMEDIATE transaction. */
  private unmountIfIdle(name: string): void {
    if (this.db.prepare('SELECT 1 FROM volume_mounts WHERE volume_name = ?').get(name)) return;
    const r = this.row(name);
    if (r && !isLocalDriver(r.driver)) return;
    const o = r ? parseLocalOptions(JSON.parse(r.options), name) : undefined;
    if (!o || needsMount(o) || this.local.mounted(name)) {
      this.local.unmount(name);
      this.ledger.forget(this.layout.volumeData(name));
    }
  }

  /** True when the mount point is a volume's _data that a live container has acquired (check.ts: not a leak). */
  isHeldMount(mountPoint: string): boolean {
    const prefix = this.layout.volumesDir + '/';
    if (!mountPoint.startsWith(prefix)) return false;
    const [name, data, ...rest] = mountPoint.slice(prefix.length).split('/');
    if (data !== '_data' || rest.length > 0 || !name) return false;
    const holders = this.db.prepare('SELECT holder FROM volume_mounts WHERE volume_name = ?').all(name) as Array<{ holder: string | null }>;
    return holders.some((h) => h.holder === null || ownerAlive(h.holder));
  }

  /**
   * Removes a volume: row first (SQLite refuses while a container uses it), files
   * after. Conflict names the containers; NotFound when there is no such volume.
   */
  async remove(name: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    const r = this.row(name);
    if (!r || r.state !== 'ready') throw notFound(`get ${name}: no such volume`, { op: 'volume rm', name });
    try {
      const changed = this.db.prepare(`DELETE FROM volumes WHERE name = ? AND state = 'ready'`).run(name).changes;
      if (changed === 0) throw notFound(`get ${name}: no such volume`, { op: 'volume rm', name });
    } catch (err) {
      if (isForeignKeyViolation(err)) {
        const users = this.users(name);
        throw conflict(`remove ${name}: volume is in use - [${users.join(', ')}]`, { op: 'volume rm', name, refs: users });
      }
      throw err;
    }
    failpoint('volume:row-deleted');
    if (isLocalDriver(r.driver)) { this.local.remove(name); this.event('destroy', name, { driver: r.driver }); return; }
    try {
      await this.driver(r.driver).remove(name, opts.signal ? { signal: opts.signal } : {});
      this.event('destroy', name, { driver: r.driver });
    } catch (err) {
      // The plugin kept it: so does stowage (unless the name was taken meanwhile).
      try {
        this.db.prepare(`INSERT INTO volumes (name, driver, labels, options, state, owner, created_at) VALUES (?, ?, ?, ?, 'ready', NULL, ?)`)
          .run(r.name, r.driver, r.labels, r.options, r.created_at);
      } catch { /* another process made one of that name */ }
      throw err;
    }
  }

  /** Volumes matching --filter values (dangling=, driver=, label=, name=). */
  list(filters: string[] = []): VolumeRecord[] {
    const f = parseVolumeFilters(filters, 'list');
    const used = this.usedNames();
    return this.all().filter((v) => f.matches(v, used.has(v.name)));
  }

  /**
   * list() plus the volumes plugins report that stowage has no record of (Docker's
   * `volume ls` asks every driver). A plugin that cannot be asked becomes a warning.
   */
  async listAll(filters: string[] = []): Promise<{ volumes: VolumeRecord[]; warnings: string[] }> {
    const f = parseVolumeFilters(filters, 'list');
    const records = this.all();
    const known = new Set(records.map((v) => v.name));
    const warnings: string[] = [];
    const extra: VolumeRecord[] = [];
    for (const d of this.pluginDrivers(warnings, records.map((v) => v.driver))) {
      try {
        await d.activate({ retryMs: 0 });
        for (const v of await d.list()) {
          if (known.has(v.name)) continue;
          known.add(v.name);
          extra.push({ name: v.name, driver: d.name, labels: {}, options: {}, state: 'ready', owner: null, createdAt: 0, mountpoint: v.mountpoint ?? '' });
        }
      } catch (err) {
        warnings.push((err as Error).message);
      }
    }
    const used = this.usedNames();
    const volumes = [...records, ...extra].filter((v) => f.matches(v, used.has(v.name)));
    return { volumes, warnings };
  }

  /** The plugin drivers of recorded volumes and of every discovered plugin. */
  private pluginDrivers(warnings: string[], recorded: string[]): PluginVolumeDriver[] {
    const names = new Set(recorded.filter((d) => !isLocalDriver(d) && d !== 'csi'));
    for (const p of discoverPlugins()) {
      if ('error' in p) warnings.push(`plugin ${p.name} (${p.source}): ${p.error}`);
      else names.add(p.name);
    }
    const out: PluginVolumeDriver[] = [];
    for (const n of names) {
      try {
        const d = this.driver(n);
        if (d instanceof PluginVolumeDriver) out.push(d);
      } catch (err) { warnings.push((err as Error).message); }
    }
    return out;
  }

  /** The volumes isUsed() is true for, in one query (a listing asks for every volume). */
  private usedNames(): Set<string> {
    const rows = this.db.prepare('SELECT volume_name FROM container_volumes UNION SELECT volume_name FROM volume_mounts').all() as Array<{ volume_name: string }>;
    return new Set(rows.map((r) => r.volume_name));
  }

  isUsed(name: string): boolean {
    return !!this.db.prepare('SELECT 1 WHERE EXISTS (SELECT 1 FROM container_volumes WHERE volume_name = @n) OR EXISTS (SELECT 1 FROM volume_mounts WHERE volume_name = @n)').get({ n: name });
  }

  /** Unused volumes (anonymous ones only unless all), matching label filters; removed one by one. */
  async prune(opts: { all?: boolean; filters?: string[] } = {}): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }> {
    const f: VolumeFilter = parseVolumeFilters(opts.filters ?? [], 'prune');
    const all = opts.all || f.all;
    const deleted: string[] = [];
    let space = 0;
    for (const v of this.all()) {
      if (!all && !(ANONYMOUS_LABEL in v.labels)) continue;
      if (this.isUsed(v.name) || !f.matches(v, false)) continue;
      const size = this.sizeOf(v.name);
      try {
        await this.remove(v.name);
        deleted.push(v.name);
        space += size;
      } catch (err) {
        if (!(err instanceof StowageError) || (err.kind !== 'Conflict' && err.kind !== 'NotFound')) throw err;
      }
    }
    return { VolumesDeleted: deleted, SpaceReclaimed: space };
  }

  /**
   * Bytes a volume holds, as Docker counts them (the sizes of the regular files under
   * _data), plus the disk a quota volume's image takes.
   */
  sizeOf(name: string): number {
    let total = 0;
    const walk = (p: string): void => {
      let st;
      try { st = lstatSync(p); } catch { return; }
      if (st.isFile()) total += st.size;
      if (st.isDirectory()) {
        let names: string[] = [];
        try { names = readdirSync(p); } catch { return; }
        for (const n of names) walk(join(p, n));
      }
    };
    walk(this.layout.volumeData(name));
    try { total += lstatSync(this.layout.volumeQuotaImage(name)).blocks * 512; } catch { /* no quota */ }
    return total;
  }

  /** Docker's inspect JSON. A plugin volume's Mountpoint, Status and Scope come from the plugin (Get, Capabilities). */
  async inspect(name: string): Promise<VolumeInspect> {
    const v = this.find(name);
    if (v && isLocalDriver(v.driver)) {
      return {
        CreatedAt: rfc3339(v.createdAt), Driver: v.driver, Labels: Object.keys(v.labels).length ? v.labels : null,
        Mountpoint: v.mountpoint, Name: v.name, Options: Object.keys(v.options).length ? v.options : null, Scope: 'local',
      };
    }
    const candidates: VolumeDriver[] = [];
    if (v) candidates.push(this.driver(v.driver));
    else for (const d of this.pluginDrivers([], [])) candidates.push(d);
    for (const d of candidates) {
      let got;
      try {
        if (!v && d instanceof PluginVolumeDriver) await d.activate({ retryMs: 0 });
        got = await d.get(name);
      } catch (err) {
        if (v) throw err;
        continue; // looking for an unrecorded volume: a plugin that cannot answer does not have it for us
      }
      if (!got) {
        if (v) throw notFound(`get ${name}: volume plugin ${d.name} no longer has it (stowage's record remains; volume rm removes it)`, { op: 'volume inspect', name });
        continue;
      }
      const { scope } = await d.capabilities();
      const out: VolumeInspect = {
        CreatedAt: got.createdAt ?? (v ? rfc3339(v.createdAt) : ''), Driver: d.name,
        Labels: v && Object.keys(v.labels).length ? v.labels : null, Mountpoint: got.mountpoint ?? '', Name: name,
        Options: v && Object.keys(v.options).length ? v.options : null, Scope: scope,
      };
      if (got.status) out.Status = got.status;
      return out;
    }
    throw notFound(`get ${name}: no such volume`, { op: 'volume inspect', name });
  }

  /** Plugin Unmounts that failed and are due again (pending_unmounts). */
  pendingUnmounts(): Array<{ driver: string; volume: string; container: string; error: string; attempts: number }> {
    return this.db.prepare('SELECT driver, volume_name AS volume, container_id AS container, error, attempts FROM pending_unmounts ORDER BY volume_name').all() as Array<{ driver: string; volume: string; container: string; error: string; attempts: number }>;
  }

  /**
   * Retries failed plugin Unmounts whose time has come, with a short timeout each (a
   * plugin that is down answers at once; a hanging one costs 2 s, then waits its
   * back-off: 1 s doubling up to 10 minutes). Returns the volumes released.
   */
  async retryUnmounts(): Promise<string[]> {
    const due = this.db.prepare('SELECT driver, volume_name, container_id, attempts FROM pending_unmounts WHERE next_at <= ?').all(Date.now()) as Array<{ driver: string; volume_name: string; container_id: string; attempts: number }>;
    const done: string[] = [];
    for (const p of due) {
      // A live holder still has it acquired (it will release, or die and be released as a dead mount).
      const held = this.db.prepare('SELECT holder FROM volume_mounts WHERE volume_name = ? AND container_id = ?').get(p.volume_name, p.container_id) as { holder: string | null } | undefined;
      if (held && (held.holder === null || ownerAlive(held.holder))) continue;
      try {
        await this.driver(p.driver).unmount(p.volume_name, p.container_id, { signal: AbortSignal.timeout(2000) });
        this.db.prepare('DELETE FROM pending_unmounts WHERE volume_name = ? AND container_id = ?').run(p.volume_name, p.container_id);
        this.db.prepare('DELETE FROM volume_mounts WHERE volume_name = ? AND container_id = ?').run(p.volume_name, p.container_id);
        done.push(p.volume_name);
      } catch (err) {
        const backoff = Math.min(1000 * 2 ** p.attempts, 600_000);
        this.db.prepare('UPDATE pending_unmounts SET attempts = attempts + 1, error = ?, next_at = ? WHERE volume_name = ? AND container_id = ?')
          .run((err as Error).message, Date.now() + backoff, p.volume_name, p.container_id);
      }
    }
    return done;
  }

  /** Ledger rows of volume mounts that are gone (their mounting process died before mounting, or they were unmounted). */
  private forgetStaleLedgerRows(): void {
    const rows = this.db.prepare(`SELECT path FROM owned_mounts WHERE kind = 'volume' AND owner IS NULL`).all() as Array<{ path: string }>;
    if (rows.length === 0) return;
    const mounted = new Set(mountPoints()); // mountinfo once, not once per row
    const real = (p: string): string => { try { return realpathSync(p); } catch { return p; } };
    for (const r of rows) if (!mounted.has(real(r.path))) this.ledger.forget(r.path, null);
  }

  /** What recover() would remove, without changing anything. */
  inspectGarbage(): { abandoned: string[]; orphanDirs: string[]; missingDirs: string[]; deadMounts: Array<{ volume: string; container: string }>; idleMounts: string[] } {
    const dirs = this.local.list();
    const rows = this.db.prepare('SELECT * FROM volumes').all() as Row[];
    const known = new Set(rows.map((r) => r.name));
    const held = this.db.prepare('SELECT volume_name, container_id, holder FROM volume_mounts').all() as Array<{ volume_name: string; container_id: string; holder: string | null }>;
    const deadMounts = held.filter((h) => h.holder !== null && !ownerAlive(h.holder)).map((h) => ({ volume: h.volume_name, container: h.container_id }));
    const live = new Set(held.filter((h) => h.holder === null || ownerAlive(h.holder)).map((h) => h.volume_name));
    // Which _data folders are mount points: mountinfo read once, not once per volume
    // (every command that changes the store runs this; 100 volumes cost 100 reads).
    // Usually none is mounted under volumes/: then no per-volume realpath either.
    const mps = mountPoints();
    const vdir = realpathOrSelf(this.layout.volumesDir) + '/';
    const mountedData = mps.some((m) => m.startsWith(vdir)) ? new Set(mps) : undefined;
    const isMounted = (name: string): boolean => mountedData !== undefined && mountedData.has(realpathOrSelf(this.layout.volumeData(name)));
    return {
      abandoned: rows.filter((r) => r.state === 'creating' && !ownerAlive(r.owner)).map((r) => r.name),
      orphanDirs: dirs.filter((d) => !known.has(d)),
      missingDirs: rows.filter((r) => r.state === 'ready' && isLocalDriver(r.driver) && !this.local.exists(r.name)).map((r) => r.name),
      deadMounts,
      idleMounts: rows.filter((r) => r.state === 'ready' && isLocalDriver(r.driver) && !live.has(r.name) && isMounted(r.name)).map((r) => r.name),
    };
  }

  /**
   * Start-up reconciliation: releases mounts of dead holders, unmounts volumes
   * nobody holds, removes volumes whose creator died and directories without rows.
   */
  async recover(): Promise<{ abandoned: string[]; orphans: string[]; released: string[] }> {
    const dirs = this.local.list(); // before the rows: see the header
    const released: string[] = [];
    const g = this.inspectGarbage();
    for (const d of g.deadMounts) {
      const r = this.row(d.volume);
      if (r && !isLocalDriver(r.driver)) {
        // The plugin mounted for a process that is gone: Unmount for that container id.
        // A plugin that cannot be reached keeps the row; the next recover() tries again.
        try {
          await this.driver(r.driver).unmount(d.volume, d.container, { signal: AbortSignal.timeout(10_000) });
          this.db.prepare('DELETE FROM volume_mounts WHERE volume_name = ? AND container_id = ? AND holder IS NOT NULL').run(d.volume, d.container);
          this.db.prepare('DELETE FROM pending_unmounts WHERE volume_name = ? AND container_id = ?').run(d.volume, d.container);
          released.push(d.volume);
        } catch { /* reported by system check as a dead mount */ }
        continue;
      }
      this.db.transaction(() => {
        const h = this.db.prepare('SELECT holder FROM volume_mounts WHERE volume_name = ? AND container_id = ?').get(d.volume, d.container) as { holder: string | null } | undefined;
        if (!h || h.holder === null || ownerAlive(h.holder)) return;
        this.db.prepare('DELETE FROM volume_mounts WHERE volume_name = ? AND container_id = ?').run(d.volume, d.container);
        this.unmountIfIdle(d.volume);
        released.push(d.volume);
      }).immediate();
    }
    for (const name of g.idleMounts) this.db.transaction(() => this.unmountIfIdle(name)).immediate();
    released.push(...await this.retryUnmounts());
    this.forgetStaleLedgerRows();
    const abandoned: string[] = [];
    for (const name of g.abandoned) {
      const r = this.row(name);
      if (r) { this.reclaim(r); abandoned.push(name); }
    }
    const orphans: string[] = [];
    const known = new Set((this.db.prepare('SELECT name FROM volumes').all() as Array<{ name: string }>).map((r) => r.name));
    for (const d of dirs) {
      if (known.has(d) || abandoned.includes(d)) continue;
      try {
        this.local.remove(d);
        orphans.push(d);
      } catch (err) {
        throw internal(`recover: cannot remove orphan volume directory ${d}: ${(err as Error).message}`, { cause: err });
      }
    }
    return { abandoned, orphans, released };
  }
}

function realpathOrSelf(p: string): string {
  try { return realpathSync(p); } catch { return p; }
}

const services = new WeakMap<object, VolumeService>();
/** The volume service of an engine (made once per engine): `volumeService(engine)`. */
export function volumeService(engine: { db: DB; layout: Layout }): VolumeService {
  let s = services.get(engine);
  if (!s) { s = new VolumeService(engine.db, engine.layout); services.set(engine, s); }
  return s;
}
