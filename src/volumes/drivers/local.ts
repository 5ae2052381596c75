// local.ts: the built-in `local` driver behind the VolumeDriver interface. The files
// are volumes/local.ts's LocalDriver (which stays the one that knows the layout); this
// adapter adds the option parsing and the mount decision. The volume service keeps
// calling LocalDriver synchronously inside its transactions for local volumes (first
// acquire mounts, last release unmounts, under SQLite's write lock); this adapter is
// what other code (list, inspect, tests of the interface) sees.
import type { LocalDriver } from '../local.js';
import { parseLocalOptions, needsMount } from '../options.js';
import type { DriverVolume, VolumeDriver } from './driver.js';

export class LocalVolumeDriver implements VolumeDriver {
  readonly name = 'local';

  /** optionsOf: the recorded options of a volume (the driver never reads the database itself). */
  constructor(readonly files: LocalDriver, private readonly dataOf: (name: string) => string, private readonly optionsOf: (name: string) => Record<string, string> | undefined) {}

  async capabilities(): Promise<{ scope: 'local' | 'global' }> { return { scope: 'local' }; }

  async create(name: string, options: Record<string, string>): Promise<void> {
    this.files.create(name, parseLocalOptions(options, name));
  }

  async remove(name: string): Promise<void> { this.files.remove(name); }

  /** Mounts when the options need it; per-container counting is the service's (volume_mounts). */
  async mount(name: string, _containerId: string): Promise<string> {
    const o = parseLocalOptions(this.optionsOf(name) ?? {}, name);
    if (needsMount(o)) this.files.mount(name, o);
    return this.dataOf(name);
  }

  async unmount(name: string, _containerId: string): Promise<void> { this.files.unmount(name); }

  async path(name: string): Promise<string | null> { return this.files.exists(name) ? this.dataOf(name) : null; }

  async list(): Promise<DriverVolume[]> {
    return this.files.list().filter((n) => this.files.exists(n)).map((n) => ({ name: n, mountpoint: this.dataOf(n) }));
  }

  async get(name: string): Promise<DriverVolume | null> {
    return this.files.exists(name) ? { name, mountpoint: this.dataOf(name) } : null;
  }
}
