// service.ts: the volume service. Records live in the metadata database (tables in
// store/db.ts VOLUMES_SCHEMA), files are the driver's (only `local` so far; plugins
// and CSI come later and are refused by name until then).
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
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DB } from '../store/db.js';
import { VOLUMES_SCHEMA, isForeignKeyViolation, isUniqueViolation } from '../store/db.js';
import type { Layout } from '../store/layout.js';
import { ownerAlive, ownerToken } from '../store/owner.js';
import { conflict, invalidArgument, notFound, notImplemented, internal, StowageError } from '../errors.js';
import { volumeNameProblem } from '../mounts/parse.js';
import type { MountSpec } from '../mounts/spec.js';
import { LocalDriver } from './local.js';
import { parseLocalOptions, needsMount, type LocalOptions } from './options.js';
import { parseVolumeFilters, type VolumeFilter } from './filters.js';

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
  Scope: 'local';
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

/** Refuses drivers other than local, naming them (plugins and CSI come later). */
export function checkDriver(driver: string): void {
  if (driver === '' || driver === 'local') return;
  throw notImplemented(`error looking up volume plugin ${driver}: volume driver plugins are not supported yet (driver ${JSON.stringify(driver)}; only "local" is available)`, { name: driver });
}

/** Everything `volume create` would refuse about a request, without creating anything. */
export function checkVolumeRequest(name: string, driver: string, options: Record<string, string>): LocalOptions {
  checkDriver(driver);
  const why = volumeNameProblem(name);
  if (why) throw invalidArgument(`create ${name}: ${why}`, { op: 'volume create', name });
  try {
    return parseLocalOptions(options, name);
  } catch (err) {
    if (err instanceof StowageError) throw invalidArgument(`create ${name}: ${err.message}`, { op: 'volume create', name, cause: err });
    throw err;
  }
}

export class VolumeService {
  readonly local: LocalDriver;

  constructor(private readonly db: DB, private readonly layout: Layout) {
    this.local = new LocalDriver(layout);
    // Data roots made before the volume tables existed get them now.
    if (!db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'volume_mounts'`).get()) db.exec(VOLUMES_SCHEMA);
  }

  private toRecord(r: Row): VolumeRecord {
    return {
      name: r.name, driver: r.driver, labels: JSON.parse(r.labels), options: JSON.parse(r.options), state: r.state, owner: r.owner,
      createdAt: r.created_at, mountpoint: this.layout.volumeData(r.name),
    };
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
    try {
      this.db.prepare(`INSERT INTO volumes (name, driver, labels, options, state, owner, created_at) VALUES (?, ?, ?, ?, 'creating', ?, ?)`)
        .run(name, driver, JSON.stringify(labels), JSON.stringify(options), ownerToken(), Date.now());
    } catch (err) {
      if (isUniqueViolation(err)) return this.create(name, opts); // another process got there first: wait for it
      throw err;
    }
    try {
      this.local.create(name, parsed);
      this.db.prepare(`UPDATE volumes SET state = 'ready', owner = NULL WHERE name = ?`).run(name);
    } catch (err) {
      this.db.prepare('DELETE FROM volumes WHERE name = ?').run(name);
      this.local.remove(name);
      throw err;
    }
    return { volume: this.get(name), created: true };
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
    if (gone) this.local.remove(r.name);
  }

  /**
   * The volume a container mount uses, created when missing: for the container code's
   * `create`. An anonymous spec (source "") gets a new anonymous volume; the spec's
   * driver, labels and options apply only when the volume is created here.
   */
  async ensureForMount(spec: MountSpec): Promise<VolumeRecord> {
    if (spec.type !== 'volume') throw invalidArgument(`${spec.spec} is a ${spec.type} mount, not a volume`);
    const v = spec.volume!;
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
  acquire(name: string, containerId: string, opts: { holder?: string | null } = {}): string {
    const holder = opts.holder === undefined ? ownerToken() : opts.holder;
    return this.db.transaction(() => {
      const v = this.get(name);
      try {
        this.db.prepare('INSERT OR REPLACE INTO volume_mounts (volume_name, container_id, holder) VALUES (?, ?, ?)').run(name, containerId, holder);
      } catch (err) {
        if (isForeignKeyViolation(err)) throw notFound(`acquire volume ${name}: no such container ${containerId}`, { name, cause: err });
        throw err;
      }
      const o = parseLocalOptions(v.options, name);
      if (needsMount(o)) this.local.mount(name, o); // throws: the transaction rolls the row back
      return v.mountpoint;
    }).immediate();
  }

  /** A container stops using a volume: the last release unmounts it. Idempotent. */
  release(name: string, containerId: string): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM volume_mounts WHERE volume_name = ? AND container_id = ?').run(name, containerId);
      this.unmountIfIdle(name);
    }).immediate();
  }

  /** Call inside an IMMEDIATE transaction. */
  private unmountIfIdle(name: string): void {
    if (this.db.prepare('SELECT 1 FROM volume_mounts WHERE volume_name = ?').get(name)) return;
    const r = this.row(name);
    const o = r ? parseLocalOptions(JSON.parse(r.options), name) : undefined;
    if (!o || needsMount(o) || this.local.mounted(name)) this.local.unmount(name);
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
  remove(name: string): void {
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
    this.local.remove(name);
  }

  /** Volumes matching --filter values (dangling=, driver=, label=, name=). */
  list(filters: string[] = []): VolumeRecord[] {
    const f = parseVolumeFilters(filters, 'list');
    return this.all().filter((v) => f.matches(v, this.isUsed(v.name)));
  }

  isUsed(name: string): boolean {
    return !!this.db.prepare('SELECT 1 WHERE EXISTS (SELECT 1 FROM container_volumes WHERE volume_name = @n) OR EXISTS (SELECT 1 FROM volume_mounts WHERE volume_name = @n)').get({ n: name });
  }

  /** Unused volumes (anonymous ones only unless all), matching label filters; removed one by one. */
  prune(opts: { all?: boolean; filters?: string[] } = {}): { VolumesDeleted: string[]; SpaceReclaimed: number } {
    const f: VolumeFilter = parseVolumeFilters(opts.filters ?? [], 'prune');
    const all = opts.all || f.all;
    const deleted: string[] = [];
    let space = 0;
    for (const v of this.all()) {
      if (!all && !(ANONYMOUS_LABEL in v.labels)) continue;
      if (this.isUsed(v.name) || !f.matches(v, false)) continue;
      const size = this.sizeOf(v.name);
      try {
        this.remove(v.name);
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

  inspect(name: string): VolumeInspect {
    const v = this.get(name);
    return {
      CreatedAt: rfc3339(v.createdAt),
      Driver: v.driver,
      Labels: Object.keys(v.labels).length ? v.labels : null,
      Mountpoint: v.mountpoint,
      Name: v.name,
      Options: Object.keys(v.options).length ? v.options : null,
      Scope: 'local',
    };
  }

  /** What recover() would remove, without changing anything. */
  inspectGarbage(): { abandoned: string[]; orphanDirs: string[]; missingDirs: string[]; deadMounts: Array<{ volume: string; container: string }>; idleMounts: string[] } {
    const dirs = this.local.list();
    const rows = this.db.prepare('SELECT * FROM volumes').all() as Row[];
    const known = new Set(rows.map((r) => r.name));
    const held = this.db.prepare('SELECT volume_name, container_id, holder FROM volume_mounts').all() as Array<{ volume_name: string; container_id: string; holder: string | null }>;
    const deadMounts = held.filter((h) => h.holder !== null && !ownerAlive(h.holder)).map((h) => ({ volume: h.volume_name, container: h.container_id }));
    const live = new Set(held.filter((h) => h.holder === null || ownerAlive(h.holder)).map((h) => h.volume_name));
    return {
      abandoned: rows.filter((r) => r.state === 'creating' && !ownerAlive(r.owner)).map((r) => r.name),
      orphanDirs: dirs.filter((d) => !known.has(d)),
      missingDirs: rows.filter((r) => r.state === 'ready' && !this.local.exists(r.name)).map((r) => r.name),
      deadMounts,
      idleMounts: rows.filter((r) => r.state === 'ready' && !live.has(r.name) && this.local.mounted(r.name)).map((r) => r.name),
    };
  }

  /**
   * Start-up reconciliation: releases mounts of dead holders, unmounts volumes
   * nobody holds, removes volumes whose creator died and directories without rows.
   */
  recover(): { abandoned: string[]; orphans: string[]; released: string[] } {
    const dirs = this.local.list(); // before the rows: see the header
    const released: string[] = [];
    const g = this.inspectGarbage();
    for (const d of g.deadMounts) {
      this.db.transaction(() => {
        const h = this.db.prepare('SELECT holder FROM volume_mounts WHERE volume_name = ? AND container_id = ?').get(d.volume, d.container) as { holder: string | null } | undefined;
        if (!h || h.holder === null || ownerAlive(h.holder)) return;
        this.db.prepare('DELETE FROM volume_mounts WHERE volume_name = ? AND container_id = ?').run(d.volume, d.container);
        this.unmountIfIdle(d.volume);
        released.push(d.volume);
      }).immediate();
    }
    for (const name of g.idleMounts) this.db.transaction(() => this.unmountIfIdle(name)).immediate();
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

const services = new WeakMap<object, VolumeService>();
/** The volume service of an engine (made once per engine): `volumeService(engine)`. */
export function volumeService(engine: { db: DB; layout: Layout }): VolumeService {
  let s = services.get(engine);
  if (!s) { s = new VolumeService(engine.db, engine.layout); services.set(engine, s); }
  return s;
}
