// driver.ts: the volume driver interface. VolumeService calls one of these for a
// volume's data, chosen by the driver name recorded with the volume (resolveVolumeDriver
// in index.ts). Drivers never touch the database; the service records first and calls
// the driver after (see volumes/service.ts for the order of each operation).
//
// Vocabulary: `name` is the volume's name; `containerId` the container a mount is for.
// A driver keeps its own count of mounts per container id (Docker's plugins do), so
// mount/unmount come in pairs per (name, containerId), and the host path mount returns
// is what the container gets bound.

/** A volume as a driver reports it. */
export interface DriverVolume {
  name: string;
  mountpoint?: string;
  status?: Record<string, unknown>;
  createdAt?: string;
}

export interface VolumeDriver {
  readonly name: string;                          // "local", a plugin's name ("glusterfs", "rexray/ebs"), "csi"
  capabilities(): Promise<{ scope: 'local' | 'global' }>;
  create(name: string, options: Record<string, string>, opts?: { signal?: AbortSignal }): Promise<void>;
  remove(name: string, opts?: { signal?: AbortSignal }): Promise<void>;
  /** Makes the volume usable by one container (id); returns the host path to bind into it. */
  mount(name: string, containerId: string, opts?: { signal?: AbortSignal }): Promise<string>;
  unmount(name: string, containerId: string, opts?: { signal?: AbortSignal }): Promise<void>;
  /** The host path while mounted, else null. */
  path(name: string): Promise<string | null>;
  /** Volumes the driver knows (plugins may hold volumes stowage has no record of). */
  list(): Promise<Array<{ name: string; mountpoint?: string; status?: Record<string, unknown> }>>;
  get(name: string): Promise<DriverVolume | null>;
}
