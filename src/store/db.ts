// db.ts: the metadata database. SQLite in WAL mode with a busy timeout, so several
// stowage processes can share one data root: readers never block, writers queue.
// Every read-modify-write runs in an IMMEDIATE transaction (takes the write lock
// up front, so two processes cannot both decide from a stale read).
//
// Who uses what is never counted: it is the foreign keys below. A layer cannot be
// deleted while an image (images.top_layer), a child layer (layers.parent) or a
// container (containers.layer_id) points at it: SQLite refuses with a constraint
// error, which the stores turn into a Conflict.
import Database from 'better-sqlite3';
import type { Database as DB } from 'better-sqlite3';
import { createRequire } from 'node:module';
import { findInPackage, loadAddon } from '../util/sys.js';

// 2: the build tables (BUILD_SCHEMA) were added; the statements are idempotent, so a
// version-1 data root gets them on its next open.

/**
 * A layer's size as Docker reports it (layers/size.ts), recorded when the layer is
 * applied; layers.size stays the tar's byte count, which save needs. Its own table
 * because schema statements must be idempotent (no ALTER TABLE); a layer applied by
 * an older stowage has no row and reads as its tar size.
 */
const LAYER_SIZES_SCHEMA = `
CREATE TABLE IF NOT EXISTS layer_sizes (
  layer_id    TEXT PRIMARY KEY REFERENCES layers(id) ON DELETE CASCADE,
  diff_size   INTEGER NOT NULL
);
`;

/**
 * Volumes (volumes/ service). Kept as its own string so that a data root made
 * before these tables existed gets them too (openDatabase re-runs SCHEMA, which
 * includes it, whenever the schema's hash changes; the statements are idempotent).
 *   volumes            one row per volume; 'creating' with the creator's owner token
 *                      until its directory is in place, then 'ready'
 *   container_volumes  which containers use which volume (recorded by the container
 *                      code at create): a volume cannot be removed while a row points at it
 *   volume_mounts      which containers have the volume acquired (running): the first
 *                      acquire mounts a volume that needs a mount, the last release unmounts;
 *                      holder is the owner token of the process keeping it (void when dead)
 */
export const VOLUMES_SCHEMA = `
CREATE TABLE IF NOT EXISTS volumes (
  name        TEXT PRIMARY KEY,
  driver      TEXT NOT NULL,
  labels      TEXT NOT NULL DEFAULT '{}',   -- JSON object
  options     TEXT NOT NULL DEFAULT '{}',   -- JSON object, driver options as given
  state       TEXT NOT NULL CHECK (state IN ('creating', 'ready')),
  owner       TEXT,                         -- pid:starttime of the creator while 'creating'
  created_at  INTEGER NOT NULL              -- ms
);
CREATE TABLE IF NOT EXISTS container_volumes (
  container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
  volume_name  TEXT NOT NULL REFERENCES volumes(name) ON DELETE RESTRICT,
  destination  TEXT NOT NULL,
  PRIMARY KEY (container_id, destination)
);
CREATE INDEX IF NOT EXISTS container_volumes_volume ON container_volumes(volume_name);
CREATE TABLE IF NOT EXISTS volume_mounts (
  volume_name  TEXT NOT NULL REFERENCES volumes(name) ON DELETE RESTRICT,
  container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
  holder       TEXT,
  PRIMARY KEY (volume_name, container_id)
);
CREATE INDEX IF NOT EXISTS volume_mounts_container ON volume_mounts(container_id);
`;

/**
 * CSI plugin records (csi/ server), kept as their own string like VOLUMES_SCHEMA:
 * the CSI store creates them in data roots made before they existed.
 *   csi_volumes     one row per CSI volume; id is also the stowage volume's name.
 *                   'creating' with the creator's owner token until the volume and its
 *                   contents exist (volume NULL until then), then 'ready'. volume points
 *                   at the stowage volume, so `volume rm` refuses while the CSI record lives.
 *   csi_snapshots   one row per snapshot (an image file under csi/snapshots/); same states
 *   csi_node_paths  staged and published paths on this node: 'creating' / 'removing'
 *                   with the owner token while the mount is being made or undone, 'ready'
 *                   after; recovery finishes what a dead owner left. DeleteVolume is
 *                   refused (in SQLite, atomically) while a row points at the volume.
 *   csi_learned_volumes  shared (GlusterFS) volumes another node's controller made, which this
 *                   node recorded from a volume_context to stage them: not listed by ListVolumes,
 *                   deleted with the last node path on them.
 */
export const CSI_SCHEMA = `
CREATE TABLE IF NOT EXISTS csi_volumes (
  id           TEXT PRIMARY KEY,
  name         TEXT NOT NULL UNIQUE,
  volume       TEXT REFERENCES volumes(name) ON DELETE RESTRICT,
  capacity     INTEGER NOT NULL,
  access_type  TEXT NOT NULL CHECK (access_type IN ('mount', 'block')),
  parameters   TEXT NOT NULL DEFAULT '{}',
  source_kind  TEXT NOT NULL DEFAULT '' CHECK (source_kind IN ('', 'snapshot', 'volume')),
  source_id    TEXT NOT NULL DEFAULT '',
  state        TEXT NOT NULL CHECK (state IN ('creating', 'ready')),
  owner        TEXT,
  created_at   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS csi_snapshots (
  id           TEXT PRIMARY KEY,
  name         TEXT NOT NULL UNIQUE,
  source_volume_id TEXT NOT NULL,
  access_type  TEXT NOT NULL CHECK (access_type IN ('mount', 'block')),
  size         INTEGER NOT NULL,
  state        TEXT NOT NULL CHECK (state IN ('creating', 'ready')),
  owner        TEXT,
  created_at   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS csi_node_paths (
  kind         TEXT NOT NULL CHECK (kind IN ('stage', 'publish')),
  path         TEXT NOT NULL,
  volume_id    TEXT NOT NULL REFERENCES csi_volumes(id) ON DELETE RESTRICT,
  capability   TEXT NOT NULL,                -- JSON: the VolumeCapability as given
  readonly     INTEGER NOT NULL DEFAULT 0,
  device       TEXT,                         -- block volumes: the loop device
  staging_path TEXT,                         -- publish rows: the stage it came from
  state        TEXT NOT NULL CHECK (state IN ('creating', 'ready', 'removing')),
  owner        TEXT,
  PRIMARY KEY (kind, path)
);
CREATE INDEX IF NOT EXISTS csi_node_paths_volume ON csi_node_paths(volume_id);
CREATE TABLE IF NOT EXISTS csi_learned_volumes (
  id           TEXT PRIMARY KEY REFERENCES csi_volumes(id) ON DELETE CASCADE
);
`;

/**
 * The builder's tables (build/ module).
 *   build_cache      one row per build step ever run: the step's key (its parent state,
 *                    its instruction with the build args it sees, and for COPY/ADD the
 *                    checksums of what it copies) and what it produced: the image config
 *                    (exact bytes, so the state's id is stable) and the top layer. The
 *                    foreign key keeps that layer (and so its chain) alive while the row
 *                    exists; `builder prune` deletes the rows and lets unused layers go.
 *   build_file_sums  sha256 of build-context files keyed by path, size, mtime and inode,
 *                    so a rebuild hashes only files that changed.
 */
export const BUILD_SCHEMA = `
CREATE TABLE IF NOT EXISTS build_cache (
  driver      TEXT NOT NULL,
  key         TEXT NOT NULL,                -- sha256:<hex> of the step's inputs
  layer_id    TEXT REFERENCES layers(id) ON DELETE RESTRICT,  -- NULL: no layer yet (FROM scratch)
  config      TEXT NOT NULL,                -- the resulting image config JSON, exact bytes
  created_at  INTEGER NOT NULL,             -- ms
  PRIMARY KEY (driver, key)
);
CREATE INDEX IF NOT EXISTS build_cache_layer ON build_cache(layer_id);
CREATE TABLE IF NOT EXISTS build_file_sums (
  path        TEXT PRIMARY KEY,             -- absolute host path of a context file
  size        INTEGER NOT NULL,
  mtime_ns    TEXT NOT NULL,
  ino         INTEGER NOT NULL,
  sum         TEXT NOT NULL                 -- sha256:<hex> of the content
);
`;

/**
 * Streams (events/ and containers/exec.ts).
 *   events  Docker's event log, capped by the event service (the newest MAX_EVENTS rows
 *           stay): written by whichever process makes a change, read by subscribers in
 *           any process. time_nano is text: nanoseconds overflow SQLite's REAL precision.
 *   execs   `exec` instances (Docker's ExecConfig): created by one request, started by
 *           another, possibly from another process; the exit code is recorded by the
 *           process that ran it (owner), a dead owner leaves it not running, code unknown.
 */
export const STREAMS_SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  time_nano   TEXT NOT NULL,
  type        TEXT NOT NULL,
  action      TEXT NOT NULL,
  actor_id    TEXT NOT NULL,
  attributes  TEXT NOT NULL DEFAULT '{}'    -- JSON object
);
CREATE TABLE IF NOT EXISTS execs (
  id           TEXT PRIMARY KEY,            -- 64 hex
  container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
  config       TEXT NOT NULL,               -- JSON: Cmd, Env, User, WorkingDir, Tty, Attach*, Privileged, DetachKeys
  running      INTEGER NOT NULL DEFAULT 0,
  exit_code    INTEGER,                     -- NULL until it exited
  pid          INTEGER NOT NULL DEFAULT 0,
  owner        TEXT,                        -- pid:starttime of the process running it
  created_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS execs_container ON execs(container_id);
`;

/**
 * Registry blobs (registry/): which compressed blob carries a layer (by diffID) in
 * which registry repository, learnt on pull and on push, as Docker's v2metadata.
 * A push skips (HEAD) or mounts a known blob instead of compressing again. Content
 * addressed, so it needs no foreign key: a row for a removed layer is only unused.
 */
export const REGISTRY_SCHEMA = `
CREATE TABLE IF NOT EXISTS layer_blobs (
  diff_id     TEXT NOT NULL,
  digest      TEXT NOT NULL,
  media_type  TEXT NOT NULL,
  size        INTEGER NOT NULL,
  registry    TEXT NOT NULL,                -- "docker.io", "localhost:5000"
  repository  TEXT NOT NULL,                -- "library/busybox"
  PRIMARY KEY (diff_id, registry, repository, digest)
);
`;

/**
 * Crash robustness (issue 16; store/mount-ledger.ts and store/sweep.ts). Appended last.
 *   owned_mounts     every mount stowage makes, recorded with its owner token BEFORE
 *                    mount(2) and deleted after umount(2); a row whose owner is dead is
 *                    a mount nobody will release: recovery unmounts it (and detaches
 *                    the loop device of a `loop` row). owner NULL: held through other
 *                    records (volume_mounts), released by the volume service.
 *   sessions         one row per command that changes the store, from its first
 *                    recovery to its close; a row of a dead process means a crash, and
 *                    only then does recovery sweep the file system (driver cleanup,
 *                    build scratch under /run/stowage, unreferenced blobs).
 *   pending_unmounts plugin Unmounts that failed (the plugin was down or erred); kept
 *                    apart from volume_mounts, whose rows go with their container,
 *                    and retried by every recovery until the plugin answers.
 */
export const ROBUST_SCHEMA = `
CREATE TABLE IF NOT EXISTS owned_mounts (
  path        TEXT PRIMARY KEY,             -- absolute mount point
  owner       TEXT,                         -- pid:starttime of the process that releases it
  kind        TEXT NOT NULL,                -- rootfs, build, view, volume
  loop        TEXT,                         -- backing file of a loop mount (quota image)
  state       TEXT NOT NULL CHECK (state IN ('mounting', 'mounted')),
  created_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS owned_mounts_owner ON owned_mounts(owner);
CREATE TABLE IF NOT EXISTS sessions (
  owner       TEXT PRIMARY KEY,
  started_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pending_unmounts (
  driver       TEXT NOT NULL,
  volume_name  TEXT NOT NULL,
  container_id TEXT NOT NULL,
  error        TEXT NOT NULL DEFAULT '',
  attempts     INTEGER NOT NULL DEFAULT 1,
  next_at      INTEGER NOT NULL DEFAULT 0,  -- ms; retried with back-off (1 s doubling to 10 min)
  PRIMARY KEY (volume_name, container_id)
);
`;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
-- One row per layer known to a storage driver. Image layers have a chain_id;
-- containers' writable layers have none. id names the driver's directory.
CREATE TABLE IF NOT EXISTS layers (
  id          TEXT PRIMARY KEY,
  driver      TEXT NOT NULL,
  parent      TEXT REFERENCES layers(id) ON DELETE RESTRICT,
  chain_id    TEXT,
  diff_id     TEXT,
  size        INTEGER NOT NULL DEFAULT 0,   -- bytes of the uncompressed layer tar
  depth       INTEGER NOT NULL,             -- 1 for a base layer
  state       TEXT NOT NULL CHECK (state IN ('creating', 'ready')),
  owner       TEXT,                         -- pid:starttime of the creator while 'creating'
  created_at  INTEGER NOT NULL,
  UNIQUE (driver, chain_id)
);
CREATE INDEX IF NOT EXISTS layers_parent ON layers(parent);
-- An image: its config blob (id = sha256 of it) on one driver's layer chain.
CREATE TABLE IF NOT EXISTS images (
  driver      TEXT NOT NULL,
  id          TEXT NOT NULL,                -- sha256:<hex of the config>
  top_layer   TEXT REFERENCES layers(id) ON DELETE RESTRICT,
  size        INTEGER NOT NULL DEFAULT 0,   -- sum of the layers' sizes
  created_at  INTEGER NOT NULL,             -- when it was stored here (ms)
  PRIMARY KEY (driver, id)
);
CREATE INDEX IF NOT EXISTS images_top ON images(top_layer);
-- name:tag and name@digest references.
CREATE TABLE IF NOT EXISTS refs (
  driver      TEXT NOT NULL,
  name        TEXT NOT NULL,                -- docker.io/library/busybox:latest or …@sha256:…
  image_id    TEXT NOT NULL,
  kind        TEXT NOT NULL CHECK (kind IN ('tag', 'digest')),
  PRIMARY KEY (driver, name),
  FOREIGN KEY (driver, image_id) REFERENCES images(driver, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS refs_image ON refs(driver, image_id);
-- Leases: a live process protects the layers and blobs it is working with (a
-- load that has stored layers but not yet its image) from the garbage sweep.
-- A lease whose owner process is gone is void and removed by recovery.
CREATE TABLE IF NOT EXISTS layer_leases (
  owner       TEXT NOT NULL,
  layer_id    TEXT NOT NULL REFERENCES layers(id) ON DELETE RESTRICT,
  PRIMARY KEY (owner, layer_id)
);
CREATE INDEX IF NOT EXISTS layer_leases_layer ON layer_leases(layer_id);
CREATE TABLE IF NOT EXISTS blob_leases (
  owner       TEXT NOT NULL,
  digest      TEXT NOT NULL,
  PRIMARY KEY (owner, digest)
);
-- Containers: their writable layer sits on the image's top layer.
CREATE TABLE IF NOT EXISTS containers (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  driver      TEXT NOT NULL,
  image_id    TEXT NOT NULL,
  layer_id    TEXT REFERENCES layers(id) ON DELETE RESTRICT,
  config      TEXT NOT NULL,                -- JSON
  state       TEXT NOT NULL,                -- JSON
  created_at  INTEGER NOT NULL,
  FOREIGN KEY (driver, image_id) REFERENCES images(driver, id) ON DELETE RESTRICT
);
` + '\n' + VOLUMES_SCHEMA + '\n' + CSI_SCHEMA + '\n' + BUILD_SCHEMA + '\n' + STREAMS_SCHEMA + '\n' + REGISTRY_SCHEMA + '\n' + ROBUST_SCHEMA + '\n' + LAYER_SIZES_SCHEMA;

/** Synchronous sleep: start-up runs before any event loop work matters. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Runs fn, retrying while SQLite reports the database busy or locked in ways the
 * busy timeout does not cover (switching a new database to WAL takes an exclusive
 * lock without calling the busy handler, so two first commands can collide).
 */
function retryBusy<T>(fn: () => T, deadlineMs = 30_000): T {
  const until = Date.now() + deadlineMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
    try {
      return fn();
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (!code.startsWith('SQLITE_BUSY') && !code.startsWith('SQLITE_LOCKED')) throw err;
      if (Date.now() > until) throw err;
      sleepSync(delay);
    }
  }
}

/** A 31-bit hash of the schema text (SQLite's user_version is a signed 32-bit integer). */
function schemaVersion(): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < SCHEMA.length; i++) h = Math.imul(h ^ SCHEMA.charCodeAt(i), 0x01000193);
  return (h >>> 1) || 1;
}
/** Computed once per process (in the start-up snapshot: once per build), not per open. */
const SCHEMA_VERSION = schemaVersion();

let sqliteAddon: object | undefined;

/**
 * better-sqlite3's native part, loaded by path: its own loader (the `bindings` package)
 * searches a dozen places and reads package.json files, ~8 ms of a small command.
 */
function sqliteBinding(): object | undefined {
  if (!sqliteAddon) {
    const rel = 'better-sqlite3/build/Release/better_sqlite3.node';
    let p = findInPackage(`node_modules/${rel}`);
    if (!p) {
      try { p = createRequire(import.meta.url).resolve(rel); } catch { /* better-sqlite3's own loader then */ }
    }
    if (p) sqliteAddon = loadAddon<object>(p);
  }
  return sqliteAddon;
}

/** Loads SQLite's addon ahead of any open (a warm CLI process does, while it waits). */
export function preloadSqlite(): void {
  sqliteBinding();
}

export function openDatabase(path: string): DB {
  const binding = sqliteBinding();
  // nativeBinding takes the addon object too (lib/database.js); its types name only a path.
  const db = new Database(path, { timeout: 30_000, ...(binding ? { nativeBinding: binding as unknown as string } : {}) });
  db.pragma('synchronous = NORMAL'); // durable at checkpoint; WAL keeps it consistent on crash
  db.pragma('foreign_keys = ON');
  const version = retryBusy(() => db.pragma('user_version', { simple: true }) as number);
  // The schema's own hash is its version: any change to the text re-runs it (every
  // statement is CREATE … IF NOT EXISTS), so a data root made by an older stowage
  // gets the new tables without anyone remembering to bump a number. WAL mode is
  // kept in the file: a database at the current version was switched to it before
  // its version was written, so only a new or older one needs the switch.
  if (version !== SCHEMA_VERSION) {
    retryBusy(() => db.pragma('journal_mode = WAL'));
    retryBusy(() => db.transaction(() => {
      db.exec(SCHEMA);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }).immediate());
  }
  return db;
}

/** True when err is SQLite refusing a delete because a foreign key still points at the row. */
export function isForeignKeyViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | null;
  // ON DELETE RESTRICT is enforced like a trigger: SQLite reports SQLITE_CONSTRAINT_TRIGGER for it.
  return e?.code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || (e?.code === 'SQLITE_CONSTRAINT_TRIGGER' && /FOREIGN KEY/.test(e.message ?? ''));
}
export function isUniqueViolation(err: unknown): boolean {
  const c = (err as { code?: string } | null)?.code;
  return c === 'SQLITE_CONSTRAINT_UNIQUE' || c === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

export type { DB };
