// server.ts: serves CSI (Identity, and Controller and/or Node by mode) over a unix
// socket with @grpc/grpc-js. Handlers are the methods of Controller and Node; each
// runs as a promise, and whatever it throws becomes a gRPC status (status.ts).
// Services a mode leaves out answer UNIMPLEMENTED, as do RPCs not offered
// (ControllerPublishVolume, ControllerModifyVolume).
import { existsSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Engine } from '../engine.js';
import { invalidArgument } from '../errors.js';
import { VERSION } from '../cli/version.js';
import { csiServices } from './proto.js';
import { CsiPlugin, type PluginOptions } from './plugin.js';
import { Controller } from './controller.js';
import { Node } from './node.js';
import { recoverAll } from './recover.js';
import { toStatus } from './status.js';

/** The socket path of a unix endpoint: unix:///abs/path, unix:/abs/path or /abs/path. */
export function socketPath(endpoint: string): string {
  const m = /^unix:(?:\/\/)?(\/.*)$/.exec(endpoint) ?? /^(\/.*)$/.exec(endpoint);
  if (!m || m[1]!.startsWith('//')) throw invalidArgument(`endpoint ${JSON.stringify(endpoint)}: expected unix:///absolute/path.sock`);
  return m[1]!;
}

type Handler = (req: Record<string, unknown>) => Promise<unknown>;

function wrap(fn: Handler, log?: (line: string) => void): grpc.handleUnaryCall<Record<string, unknown>, unknown> {
  return (call, callback) => {
    const started = Date.now();
    fn(call.request).then(
      (res) => { callback(null, res); },
      (err: unknown) => {
        const s = toStatus(err);
        log?.(`${grpc.status[s.code]} after ${Date.now() - started} ms: ${s.details}`);
        callback({ code: s.code, details: s.details });
      },
    );
  };
}

function handlers(obj: object, names: readonly string[], log?: (l: string) => void): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const n of names) {
    const f = (obj as Record<string, Handler>)[n]!;
    out[n] = wrap((req) => f.call(obj, req), log && ((l) => log(`${n}: ${l}`)));
  }
  return out;
}

export interface CsiServer { plugin: CsiPlugin; socket: string; close(): Promise<void> }

export async function startCsiServer(engine: Engine, endpoint: string, opts: PluginOptions & { log?: (line: string) => void }): Promise<CsiServer> {
  const socket = socketPath(endpoint);
  const plugin = new CsiPlugin(engine, opts);
  await recoverAll(plugin);
  const svc = csiServices();
  const server = new grpc.Server();
  const controller = new Controller(plugin);
  const node = new Node(plugin, controller);
  server.addService(svc.Identity.service, handlers({
    GetPluginInfo: async () => ({ name: plugin.driverName, vendor_version: VERSION, manifest: { mode: plugin.mode, node: plugin.nodeId } }),
    GetPluginCapabilities: async () => ({
      capabilities: [
        ...(plugin.mode !== 'node' ? [{ service: { type: 'CONTROLLER_SERVICE' } }] : []),
        { service: { type: 'VOLUME_ACCESSIBILITY_CONSTRAINTS' } },
        { volume_expansion: { type: plugin.onlineExpansion ? 'ONLINE' : 'OFFLINE' } },
      ],
    }),
    Probe: async () => { engine.db.prepare('SELECT 1').get(); return { ready: { value: true } }; },
  }, ['GetPluginInfo', 'GetPluginCapabilities', 'Probe'], opts.log));
  if (plugin.mode !== 'node') {
    server.addService(svc.Controller.service, handlers(controller, ['CreateVolume', 'DeleteVolume', 'ValidateVolumeCapabilities', 'ListVolumes',
      'GetCapacity', 'ControllerGetCapabilities', 'CreateSnapshot', 'DeleteSnapshot', 'ListSnapshots', 'GetSnapshot', 'ControllerExpandVolume',
      'ControllerGetVolume'], opts.log));
  }
  if (plugin.mode !== 'controller') {
    server.addService(svc.Node.service, handlers(node, ['NodeStageVolume', 'NodeUnstageVolume', 'NodePublishVolume', 'NodeUnpublishVolume',
      'NodeGetVolumeStats', 'NodeExpandVolume', 'NodeGetCapabilities', 'NodeGetInfo'], opts.log));
  }
  mkdirSync(dirname(socket), { recursive: true });
  // A socket left by a server that died would make bind fail; anything else at that path is not ours to remove.
  if (existsSync(socket) && lstatSync(socket).isSocket()) unlinkSync(socket);
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
  });
  return {
    plugin,
    socket,
    close: () => new Promise<void>((resolve) => {
      server.tryShutdown(() => {
        try { unlinkSync(socket); } catch { /* gone */ }
        resolve();
      });
    }),
  };
}
