// plugin.ts: a volume driver that is a Docker volume plugin (see plugins/client.ts for
// the wire and plugins/discovery.ts for where plugins are found). The handshake runs
// once per driver object and must list "VolumeDriver". Every reply is checked for the
// shape the protocol promises before it is used; a plugin that answers something else
// gets an error naming it, not a crash.
//
// Where a plugin may mount (checkPluginMountpoint): the path it returns from Mount is
// bound into a container, so it must be an absolute path to an existing directory
// (after following symlinks) that is not `/`, not inside /proc, /sys, /dev or /boot, not
// one of the top-level system folders themselves (/etc, /usr, /var, /run, /tmp …), and
// not stowage's data root or anything in it. A Mount answered with any other path is
// undone with an Unmount for the same id and refused.
import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, normalize } from 'node:path';
import { failedPrecondition } from '../../errors.js';
import { PluginClient, type ClientOptions } from '../../plugins/client.js';
import type { PluginLocation } from '../../plugins/discovery.js';
import type { DriverVolume, VolumeDriver } from './driver.js';

const FORBIDDEN_TREES = ['/proc', '/sys', '/dev', '/boot'];
const FORBIDDEN_EXACT = ['/', '/etc', '/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/var', '/var/lib', '/run', '/tmp', '/home', '/root', '/opt', '/srv', '/mnt', '/media'];

const under = (p: string, dir: string) => p === dir || p.startsWith(dir === '/' ? '/' : dir + '/');

/** Why a plugin's mountpoint may not be used, or null when it may. */
export function mountpointProblem(path: unknown, dataRoot: string): string | null {
  if (typeof path !== 'string' || path === '') return 'it returned no mountpoint';
  if (!isAbsolute(path)) return `${JSON.stringify(path)} is not an absolute path`;
  if (normalize(path) !== path) return `${JSON.stringify(path)} is not a clean path`;
  let real: string;
  try { real = realpathSync(path); } catch { return `${path} does not exist`; }
  try { if (!statSync(real).isDirectory()) return `${path} is not a directory`; } catch { return `${path} does not exist`; }
  let root = dataRoot;
  try { root = realpathSync(dataRoot); } catch { /* not made yet */ }
  for (const p of [path, real]) {
    if (FORBIDDEN_EXACT.includes(p)) return `${p} is a system folder`;
    const t = FORBIDDEN_TREES.find((d) => under(p, d));
    if (t) return `${p} is inside ${t}`;
    if (under(p, root) || under(p, dataRoot)) return `${p} is inside stowage's data root ${dataRoot}`;
  }
  return null;
}

function str(v: unknown): v is string { return typeof v === 'string'; }
function obj(v: unknown): v is Record<string, unknown> { return v !== null && typeof v === 'object' && !Array.isArray(v); }

export class PluginVolumeDriver implements VolumeDriver {
  readonly client: PluginClient;
  private activated: Promise<void> | undefined;

  constructor(readonly location: PluginLocation, private readonly dataRoot: string, opts: ClientOptions = {}) {
    this.client = new PluginClient(location, opts);
  }

  get name(): string { return this.location.name; }

  private nonsense(method: string, why: string): Error {
    return failedPrecondition(`volume plugin ${this.name}: ${method}: the plugin's reply makes no sense: ${why}`, { name: this.name });
  }

  /** The handshake, once; the plugin must implement VolumeDriver. */
  activate(opts: { signal?: AbortSignal; retryMs?: number } = {}): Promise<void> {
    if (!this.activated) {
      this.activated = this.client.activate(opts).then((impl) => {
        if (!impl.includes('VolumeDriver')) {
          throw failedPrecondition(`volume plugin ${this.name} does not implement VolumeDriver (it implements: ${impl.join(', ') || 'nothing'})`, { name: this.name });
        }
      });
      this.activated.catch(() => { this.activated = undefined; });
    }
    return this.activated;
  }

  private async call(method: string, body: unknown, signal?: AbortSignal): Promise<Record<string, unknown>> {
    await this.activate(signal ? { signal } : {});
    return this.client.call(`VolumeDriver.${method}`, body, signal ? { signal } : {});
  }

  async capabilities(): Promise<{ scope: 'local' | 'global' }> {
    const r = await this.call('Capabilities', {});
    if (r.Capabilities === undefined || r.Capabilities === null) return { scope: 'local' };
    if (!obj(r.Capabilities)) throw this.nonsense('VolumeDriver.Capabilities', '"Capabilities" is not an object');
    const s = r.Capabilities.Scope;
    if (s === undefined || s === '' || s === 'local') return { scope: 'local' };
    if (s === 'global') return { scope: 'global' };
    throw this.nonsense('VolumeDriver.Capabilities', `scope ${JSON.stringify(s)} is neither "local" nor "global"`);
  }

  async create(name: string, options: Record<string, string>, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.call('Create', { Name: name, Opts: options }, opts.signal);
  }

  async remove(name: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.call('Remove', { Name: name }, opts.signal);
  }

  async mount(name: string, containerId: string, opts: { signal?: AbortSignal } = {}): Promise<string> {
    const r = await this.call('Mount', { Name: name, ID: containerId }, opts.signal);
    const why = mountpointProblem(r.Mountpoint, this.dataRoot);
    if (why) {
      // The plugin may have mounted something: give it back before refusing.
      await this.unmount(name, containerId).catch(() => {});
      throw failedPrecondition(`volume plugin ${this.name}: VolumeDriver.Mount of ${name}: refusing the mountpoint: ${why} (a plugin must mount on an existing directory outside /, /proc, /sys, /dev, the system folders and stowage's data root)`, { name });
    }
    return r.Mountpoint as string;
  }

  async unmount(name: string, containerId: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.call('Unmount', { Name: name, ID: containerId }, opts.signal);
  }

  async path(name: string): Promise<string | null> {
    const r = await this.call('Path', { Name: name });
    if (r.Mountpoint === undefined || r.Mountpoint === '') return null;
    if (!str(r.Mountpoint)) throw this.nonsense('VolumeDriver.Path', '"Mountpoint" is not a string');
    return r.Mountpoint;
  }

  private volume(method: string, v: unknown): DriverVolume {
    if (!obj(v) || !str(v.Name) || v.Name === '') throw this.nonsense(method, 'a volume without a "Name"');
    const out: DriverVolume = { name: v.Name };
    if (str(v.Mountpoint) && v.Mountpoint !== '') out.mountpoint = v.Mountpoint;
    if (obj(v.Status)) out.status = v.Status;
    if (str(v.CreatedAt) && v.CreatedAt !== '') out.createdAt = v.CreatedAt;
    return out;
  }

  async list(): Promise<DriverVolume[]> {
    const r = await this.call('List', {});
    if (r.Volumes === undefined || r.Volumes === null) return [];
    if (!Array.isArray(r.Volumes)) throw this.nonsense('VolumeDriver.List', '"Volumes" is not a list');
    return r.Volumes.map((v) => this.volume('VolumeDriver.List', v));
  }

  async get(name: string): Promise<DriverVolume | null> {
    let r: Record<string, unknown>;
    try {
      r = await this.call('Get', { Name: name });
    } catch (err) {
      // Plugins answer a missing volume with an Err; the wording is theirs, so only the reply kind tells.
      if ((err as { kind?: string }).kind === 'FailedPrecondition' && /no such|not found|not exist|unknown volume/i.test((err as Error).message)) return null;
      throw err;
    }
    if (r.Volume === undefined || r.Volume === null) return null;
    return this.volume('VolumeDriver.Get', r.Volume);
  }
}
