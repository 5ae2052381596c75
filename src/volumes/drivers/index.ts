// index.ts: a volume's driver from its name. An explicit table, no registration by
// import side effect: 'local' is built in, 'csi' is the CSI driver, and any other name
// is a Docker volume plugin found by discovery (plugins/discovery.ts); NotFound names
// every place looked in. Plugin drivers are cached per engine and name, so the
// handshake runs once per command.
import type { Layout } from '../../store/layout.js';
import { notImplemented } from '../../errors.js';
import { findPlugin } from '../../plugins/discovery.js';
import type { ClientOptions } from '../../plugins/client.js';
import type { VolumeDriver } from './driver.js';
import { PluginVolumeDriver } from './plugin.js';
import { CsiVolumeDriver } from './csi.js';

export type { VolumeDriver, DriverVolume } from './driver.js';

const cache = new WeakMap<object, Map<string, VolumeDriver>>();

/**
 * The driver called `name` for this engine. `local`: the engine's built-in driver
 * (passed in by the volume service, which owns it).
 */
export function resolveVolumeDriver(engine: { layout: Layout }, name: string, o: { local?: VolumeDriver; client?: ClientOptions } = {}): VolumeDriver {
  let m = cache.get(engine);
  if (!m) { m = new Map(); cache.set(engine, m); }
  const hit = m.get(name);
  if (hit) return hit;
  let d: VolumeDriver;
  switch (name) {
    case '':
    case 'local':
      if (!o.local) throw notImplemented('the local volume driver is reached through the volume service');
      d = o.local;
      break;
    case 'csi': d = new CsiVolumeDriver(engine.layout); break;
    default:
      d = new PluginVolumeDriver(findPlugin(name), engine.layout.root, o.client ?? {});
  }
  m.set(name, d);
  return d;
}
