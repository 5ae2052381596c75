// csi.ts: the `csi` volume driver: any CSI plugin backs a stowage volume.
//   stowage volume create -d csi -o endpoint=unix:///run/plugin.sock [-o size=1g] [-o access=mount] [-o param.KEY=VALUE] NAME
// create calls the plugin's CreateVolume (name "stowage-NAME", one SINGLE_NODE_WRITER
// mount capability, the size as required_bytes, param.* as parameters); the first
// container's mount calls NodeStageVolume and NodePublishVolume with targets under the
// data root (csi/targets/NAME/{stage,publish}); the last unmount undoes both, and
// remove calls DeleteVolume. Drivers never touch the database: the driver keeps its
// own record per volume (csi/driver/NAME.json: endpoint, the plugin's volume id, and
// the containers holding it), written to a temp file and renamed into place.
// The plugin must accept those target paths (for `stowage csi`, --allowed-dir).
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../../drivers/fsutil.js';
import type { Layout } from '../../store/layout.js';
import { invalidArgument, notFound, StowageError, type ErrorKind } from '../../errors.js';
import { ramInBytes } from '../../mounts/gostr.js';
import type { DriverVolume, VolumeDriver } from './driver.js';

interface CsiRecord { endpoint: string; volumeId: string; capability: object; containers: string[]; published: boolean; volumeContext?: Record<string, string> }

const GRPC_KINDS: Record<number, ErrorKind> = { 3: 'InvalidArgument', 5: 'NotFound', 6: 'AlreadyExists', 7: 'PermissionDenied', 9: 'FailedPrecondition', 10: 'Conflict', 11: 'InvalidArgument', 12: 'NotImplemented', 14: 'Unavailable', 4: 'Unavailable' };

export class CsiVolumeDriver implements VolumeDriver {
  readonly name = 'csi';
  constructor(private readonly layout: Layout) {}

  async capabilities(): Promise<{ scope: 'local' | 'global' }> { return { scope: 'local' }; }

  private read(name: string): CsiRecord | null {
    try { return JSON.parse(readFileSync(this.layout.csiDriverRecord(name), 'utf8')) as CsiRecord; } catch { return null; }
  }
  private write(name: string, r: CsiRecord): void {
    const file = this.layout.csiDriverRecord(name);
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileAtomic(file, JSON.stringify(r), 0o666); // writeFileSync's default mode (umask applies)
  }
  private targets(name: string) {
    const dir = `${this.layout.csiTargetsDir}/${name}`;
    return { dir, stage: `${dir}/stage`, publish: `${dir}/publish` };
  }

  /** One call to the plugin; gRPC failures become StowageErrors naming the plugin. */
  private async call(endpoint: string, service: 'Controller' | 'Node', method: string, req: object): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const { CsiClient } = await import('../../csi/client.js');
    const c = new CsiClient(endpoint);
    try {
      return await c.call(service, method, req, { timeoutMs: 120_000 });
    } catch (err) {
      const e = err as { code?: number; details?: string };
      const kind = GRPC_KINDS[e.code ?? -1] ?? (e.code === undefined ? 'Internal' : 'Internal');
      throw new StowageError(kind === 'Internal' && e.code === 14 ? 'Unavailable' : kind, `csi plugin at ${endpoint}: ${method}: ${e.details ?? (err as Error).message}`, { cause: err });
    } finally {
      c.close();
    }
  }

  async create(name: string, options: Record<string, string>): Promise<void> {
    // The record is csi/driver/NAME.json: NAME_MAX (255) less ".json".
    if (Buffer.byteLength(name) > 250) throw invalidArgument(`volume name is too long (${name.length} characters): a csi volume's name has at most 250`, { name });
    const endpoint = options.endpoint;
    if (!endpoint) throw invalidArgument('the csi driver needs -o endpoint=unix:///path/to/plugin.sock', { name });
    const { socketPath } = await import('../../csi/server.js');
    socketPath(endpoint);
    const parameters: Record<string, string> = {};
    for (const [k, v] of Object.entries(options)) {
      if (k.startsWith('param.')) parameters[k.slice(6)] = v;
      else if (!['endpoint', 'size', 'access'].includes(k)) throw invalidArgument(`invalid option ${JSON.stringify(k)} for the csi driver (endpoint, size, access, param.KEY)`, { name });
    }
    const access = options.access ?? 'mount';
    if (access !== 'mount') throw invalidArgument('the csi driver gives containers mount volumes only (access=mount)', { name });
    const capability = { mount: { fs_type: '', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
    const size = options.size ? ramInBytes(options.size) : 0;
    const res = await this.call(endpoint, 'Controller', 'CreateVolume', {
      name: `stowage-${name}`, volume_capabilities: [capability], parameters, ...(size ? { capacity_range: { required_bytes: size } } : {}),
    });
    try {
      // The spec wants CreateVolume's volume_context passed to every node call on the volume.
      this.write(name, { endpoint, volumeId: res.volume.volume_id, capability, containers: [], published: false, volumeContext: res.volume.volume_context ?? {} });
    } catch (err) {
      await this.call(endpoint, 'Controller', 'DeleteVolume', { volume_id: res.volume.volume_id }).catch(() => {});
      throw err;
    }
  }

  async remove(name: string): Promise<void> {
    const r = this.read(name);
    if (!r) return;
    if (r.published) await this.unpublish(name, r);
    await this.call(r.endpoint, 'Controller', 'DeleteVolume', { volume_id: r.volumeId });
    rmSync(this.layout.csiDriverRecord(name), { force: true });
    rmSync(this.targets(name).dir, { recursive: true, force: true });
  }

  async mount(name: string, containerId: string): Promise<string> {
    const r = this.read(name);
    if (!r) throw notFound(`csi volume ${name}: no record of it in ${this.layout.csiDriverDir}`, { name });
    const t = this.targets(name);
    if (!r.published) {
      mkdirSync(t.dir, { recursive: true, mode: 0o700 });
      await this.call(r.endpoint, 'Node', 'NodeStageVolume', { volume_id: r.volumeId, staging_target_path: t.stage, volume_capability: r.capability, volume_context: r.volumeContext ?? {} });
      try {
        await this.call(r.endpoint, 'Node', 'NodePublishVolume', { volume_id: r.volumeId, staging_target_path: t.stage, target_path: t.publish, volume_capability: r.capability, volume_context: r.volumeContext ?? {} });
      } catch (err) {
        await this.call(r.endpoint, 'Node', 'NodeUnstageVolume', { volume_id: r.volumeId, staging_target_path: t.stage }).catch(() => {});
        throw err;
      }
      r.published = true;
    }
    if (!r.containers.includes(containerId)) r.containers.push(containerId);
    this.write(name, r);
    return t.publish;
  }

  private async unpublish(name: string, r: CsiRecord): Promise<void> {
    const t = this.targets(name);
    await this.call(r.endpoint, 'Node', 'NodeUnpublishVolume', { volume_id: r.volumeId, target_path: t.publish });
    await this.call(r.endpoint, 'Node', 'NodeUnstageVolume', { volume_id: r.volumeId, staging_target_path: t.stage });
    r.published = false;
  }

  async unmount(name: string, containerId: string): Promise<void> {
    const r = this.read(name);
    if (!r) return;
    r.containers = r.containers.filter((c) => c !== containerId);
    if (r.containers.length === 0 && r.published) await this.unpublish(name, r);
    this.write(name, r);
  }

  async path(name: string): Promise<string | null> {
    const r = this.read(name);
    return r?.published ? this.targets(name).publish : null;
  }

  async list(): Promise<DriverVolume[]> {
    let names: string[] = [];
    try { names = readdirSync(this.layout.csiDriverDir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)); } catch { /* none */ }
    const out: DriverVolume[] = [];
    for (const n of names) { const v = await this.get(n); if (v) out.push(v); }
    return out;
  }

  async get(name: string): Promise<DriverVolume | null> {
    const r = this.read(name);
    if (!r) return null;
    return { name, ...(r.published ? { mountpoint: this.targets(name).publish } : {}), status: { endpoint: r.endpoint, volumeId: r.volumeId, containers: r.containers } };
  }
}


