// spec.ts: MountSpec, the one normalised form of every way a container gets a
// mount (`-v/--volume`, `--mount`, `--tmpfs`, an image's VOLUME, `--volumes-from`).
// The parsers in parse.ts produce it; the container code consumes it. See the
// "mounts/" section of docs/contracts.md.

export type MountType = 'bind' | 'volume' | 'tmpfs';
export type Propagation = 'private' | 'rprivate' | 'shared' | 'rshared' | 'slave' | 'rslave';
export const PROPAGATIONS: readonly Propagation[] = ['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'];

/** Where a mount came from: decides defaults (a -v bind source is created when missing) and messages. */
export type MountOrigin = 'volume-flag' | 'mount-flag' | 'tmpfs-flag' | 'image' | 'volumes-from';

export interface BindOptions {
  propagation: Propagation;
  /** bind-recursive=disabled (or bind-nonrecursive): submounts of the source are not carried over. */
  nonRecursive: boolean;
  /** bind-recursive=writable: read-only, but submounts stay writable (Docker 24 behaviour). */
  readOnlyNonRecursive: boolean;
  /** bind-recursive=readonly: every submount read-only too, or fail. */
  readOnlyForceRecursive: boolean;
  /** -v creates a missing host directory at start; --mount refuses a missing source (checked at parse). */
  createHostPath: boolean;
  /** The user named the propagation (a default one may change: a bind of the data root gets rslave, as Docker). */
  propagationGiven?: boolean;
}

export interface VolumeOptions {
  /** Volume driver ("local" unless --volume-driver or volume-driver= says otherwise). */
  driver: string;
  /** Do not copy the image's files at the target into an empty volume on first mount. */
  noCopy: boolean;
  /** Labels and driver options for the volume if this mount creates it (ignored when it exists). */
  labels: Record<string, string>;
  options: Record<string, string>;
  /** Mount only this path inside the volume ("" = the whole volume). */
  subpath: string;
}

export interface TmpfsOptions {
  /** tmpfs-size in bytes (0 = the kernel's default, half of RAM). */
  sizeBytes: number;
  /** tmpfs-mode permission bits (0 = the kernel's default, 1777). */
  mode: number;
  /** --tmpfs's mount(8)-style options as given ("rw", "noexec", "size=64m" …), checked when mounted. */
  options: string[];
}

export interface MountSpec {
  type: MountType;
  /**
   * bind: the host path, absolute and cleaned. volume: the volume name, "" for an
   * anonymous volume (named with 64 random hex digits when created). tmpfs: "".
   */
  source: string;
  /**
   * Path in the container: absolute and cleaned. Never "/", except for an anonymous
   * -v volume: Docker accepts `-v /` and `-v .` at create (relative anonymous paths
   * are taken from "/"); the container code may refuse it when it starts.
   */
  target: string;
  readOnly: boolean;
  origin: MountOrigin;
  /** The specification as the user gave it, for messages ("-v /a:/b:ro", "--mount type=bind,…"). */
  spec: string;
  bind?: BindOptions;
  volume?: VolumeOptions;
  tmpfs?: TmpfsOptions;
  /** -v's z / Z: SELinux relabelling (shared / private); stowage records it and does not relabel. */
  relabel?: 'z' | 'Z';
  /** -v's / --mount's consistency (cached, delegated, consistent): accepted and ignored on Linux, as Docker. */
  consistency?: string;
  /** -v's mode words exactly as written ("ro,nocopy", "Z", "rslave"): inspect's `Mode` shows them. */
  mode?: string;
  /**
   * The destination as Docker reports it, when it differs from target: an anonymous
   * -v volume at a relative path ("data", "a:/data") keeps it as written (cleaned,
   * not made absolute); the runtime mounts it at target ("/" + it).
   */
  destination?: string;
}

/** What `create`/`run` collect from their flags; parseContainerMounts turns it into MountSpecs. */
export interface MountFlags {
  /** -v / --volume, in order given. */
  volumes?: string[];
  /** --mount, in order given. */
  mounts?: string[];
  /** --tmpfs, in order given. */
  tmpfs?: string[];
  /** --volume-driver: the driver for -v's named and anonymous volumes (not --mount's). */
  volumeDriver?: string;
  /** VOLUME paths from the image config (anonymous volumes unless something else mounts there). */
  imageVolumes?: string[];
  /** The CLI's working directory: relative bind sources starting with "." are made absolute against it. */
  cwd?: string;
}
