// proto.ts: loads csi.proto (the project's own CSI definitions) for the server, the
// client and the tests. The file is found from the package root, not from this
// module's folder: the CLI is an esbuild bundle (dist/cli/*.js) and the tests run
// transpiled copies (dist/src/csi/*.js), so the module's own folder differs per
// build; walking up to stowage's package.json works for all of them and for the
// image (which ships src/csi/csi.proto, see deploy/kubernetes/Dockerfile).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { failedPrecondition } from '../errors.js';

/** The absolute path of csi.proto; STOWAGE_CSI_PROTO overrides it. */
export function protoPath(): string {
  if (process.env.STOWAGE_CSI_PROTO) return process.env.STOWAGE_CSI_PROTO;
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'stowage') return join(dir, 'src', 'csi', 'csi.proto');
      } catch { /* not ours: keep walking */ }
    }
    if (dirname(dir) === dir) break;
  }
  throw failedPrecondition('csi: cannot find csi.proto (looked for stowage\'s package.json above the program; set STOWAGE_CSI_PROTO)');
}

/**
 * Field names stay as in the spec (snake_case), int64 become numbers (sizes here stay
 * far below 2^53), enums travel as their names, unset scalars read as their defaults,
 * and a oneof's chosen member is named by a virtual field (access_type, type).
 */
export const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true };

export interface CsiServices {
  Identity: grpc.ServiceClientConstructor;
  Controller: grpc.ServiceClientConstructor;
  Node: grpc.ServiceClientConstructor;
}

let loaded: CsiServices | undefined;
export function csiServices(): CsiServices {
  if (!loaded) {
    const def = protoLoader.loadSync(protoPath(), LOADER_OPTIONS);
    const pkg = grpc.loadPackageDefinition(def) as unknown as { csi: { v1: CsiServices } };
    loaded = pkg.csi.v1;
  }
  return loaded;
}

// The message shapes as the loader gives them (only what stowage reads and writes).
export type AccessModeName = 'UNKNOWN' | 'SINGLE_NODE_WRITER' | 'SINGLE_NODE_READER_ONLY' | 'MULTI_NODE_READER_ONLY'
  | 'MULTI_NODE_SINGLE_WRITER' | 'MULTI_NODE_MULTI_WRITER' | 'SINGLE_NODE_SINGLE_WRITER' | 'SINGLE_NODE_MULTI_WRITER';
export interface VolumeCapability {
  block?: Record<string, never> | null;
  mount?: { fs_type?: string; mount_flags?: string[]; volume_mount_group?: string } | null;
  access_type?: 'block' | 'mount';
  access_mode?: { mode?: AccessModeName } | null;
}
export interface CapacityRange { required_bytes?: number; limit_bytes?: number }
export interface Topology { segments: Record<string, string> }
export interface VolumeContentSource { snapshot?: { snapshot_id: string } | null; volume?: { volume_id: string } | null; type?: 'snapshot' | 'volume' }
export interface CsiVolume { capacity_bytes: number; volume_id: string; volume_context: Record<string, string>; content_source: VolumeContentSource | null; accessible_topology: Topology[] }
export interface CsiSnapshot { size_bytes: number; snapshot_id: string; source_volume_id: string; creation_time: { seconds: number; nanos: number }; ready_to_use: boolean; group_snapshot_id: string }
