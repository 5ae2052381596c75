// driver.ts: the storage driver interface. A driver decides how layers sit on disk.
//
// Vocabulary (after containerd's snapshotter):
//   id      a layer's directory name inside the driver's folder, chosen by the caller
//           (the layer store), random, 64 hex characters.
//   parent  the layer this one is stacked on, or null for a base layer.
//   chain   a layer and all its ancestors, top first.
//
// A lifecycle, as the layer store drives it when an image layer is loaded:
//   await d.create(id, parent)              // empty layer on its parent
//   const t = d.applyTarget(id)             // where to extract, and in which whiteout form
//   ...extract the layer tar into t.root... // archive/apply.ts does this
//   d.seal?.(id)                            // optional: make it read-only
// and for a container's writable layer:
//   await d.create(rwId, imageTopId)
//   const ms = d.mounts(rwId)               // mounts as data; the caller mounts them
//   ...run...; d.changes(rwId) tells what changed; d.remove(rwId) when done.
//
// Drivers never touch the database and never mount for the caller: `mounts()`
// returns descriptions (a containerd idea), so a driver can be tested without
// privileges and its mounts handed to an OCI runtime as they are.

/** One mount, as mount(2) takes it. `source` may be relative to `cwd`. */
export interface Mount {
  type: string;              // "overlay", "bind", ...
  source: string;
  options: string[];         // "lowerdir=...", "upperdir=...", "workdir=...", "ro", "rbind" ...
  /** Directory to chdir into before mounting, so long lowerdir chains fit the option-size limit. */
  cwd?: string;
}

/** How deletions are represented on disk after a layer tar is applied. */
export type WhiteoutForm =
  /** overlayfs: .wh.NAME becomes a 0/0 character device NAME; .wh..wh..opq sets trusted.overlay.opaque=y. */
  | 'overlay'
  /** the layer directory holds the full filesystem: .wh.NAME removes NAME; an opaque dir is emptied first. */
  | 'remove';

export interface ApplyTarget {
  /** Directory to extract into. */
  root: string;
  whiteouts: WhiteoutForm;
}

/** Where a layer's own changes can be read from. */
export type ChangeSource =
  /** `dir` holds only this layer's changes, deletions in overlay form (overlay2 upper dir). */
  | { kind: 'upper'; dir: string; lower: string[] }
  /** `dir` holds the full filesystem; compare it with `parentDir` (null = empty) to find changes (vfs). */
  | { kind: 'full'; dir: string; parentDir: string | null };

export interface DriverStatus {
  /** Key/value pairs shown by `stowage info` under Storage Driver, e.g. ["Backing Filesystem", "extfs"]. */
  details: Array<[string, string]>;
}

export interface Usage { bytes: number; inodes: number }

export interface StorageDriver {
  readonly name: string;
  /** The driver's folder in the data root. */
  readonly home: string;
  status(): DriverStatus;
  /** Creates layer id on parent (null: a base layer). Creating an existing id is an error. */
  create(id: string, parent: string | null): Promise<void>;
  applyTarget(id: string): ApplyTarget;
  /** Mount descriptions presenting id's whole filesystem (its chain merged), read-write unless readonly. */
  mounts(id: string, opts?: { readonly?: boolean }): Mount[];
  /** Where id's own changes can be read (for diff, export, commit). */
  changeSource(id: string): ChangeSource;
  /** Removes id's directory and everything in it. Idempotent: a missing id is not an error. */
  remove(id: string): Promise<void>;
  /** Disk used by id's own directory. */
  usage(id: string): Promise<Usage>;
  /** Ids that have a directory in the driver folder (for reconciliation with the records). */
  list(): string[];
  /** Deepest chain the driver can present; the layer store refuses deeper images when they are made. */
  readonly maxDepth: number;
}

/** Optional ability: drivers that can mark a finished layer immutable. */
export interface Sealable { seal(id: string): Promise<void> }
export function isSealable(d: StorageDriver): d is StorageDriver & Sealable {
  return typeof (d as Partial<Sealable>).seal === 'function';
}

/**
 * Optional ability: drivers whose layers stay mounted for as long as they exist
 * (zfs: ZFS mounts each dataset on its directory under the driver folder). Those
 * mounts are the driver's own, not leaks: `system check` and tests ask here.
 */
export interface PersistentMounts { isOwnMount(path: string): boolean }
export function hasPersistentMounts(d: StorageDriver): d is StorageDriver & PersistentMounts {
  return typeof (d as Partial<PersistentMounts>).isOwnMount === 'function';
}

/**
 * Optional ability: drivers that can sweep what a crash left in their folder (staging
 * and half-removed directories of dead processes, dangling links). Recovery calls it
 * after a crash (store/sweep.ts); it must be safe while other processes work.
 */
export interface Cleaner { cleanup(): string[] | Promise<string[]> }
export function isCleaner(d: StorageDriver): d is StorageDriver & Cleaner {
  return typeof (d as Partial<Cleaner>).cleanup === 'function';
}
