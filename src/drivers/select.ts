// select.ts: which storage driver a data root uses, decided as Docker decides it
// (moby daemon/graphdriver/driver.go, driver_linux.go):
//   1. a driver named by the user is used if it can work here, else an error says why;
//   2. otherwise a root that already holds one driver's layers keeps that driver
//      (two such drivers: refuse, since silently picking one hides the other's layers);
//   3. otherwise the first that works, by priority: overlay2, then vfs.
// Drivers are registered explicitly in DRIVERS below, not by import side effects.
import { join } from 'node:path';
import type { StorageDriver } from './driver.js';
import { Overlay2Driver, type ProbeResult } from './overlay2.js';
import { VfsDriver } from './vfs.js';
import { failedPrecondition, invalidArgument } from '../errors.js';

export interface DriverChoice {
  driver: StorageDriver;
  /** One sentence explaining the choice, shown by `stowage info`. */
  reason: string;
}

export interface SelectOptions {
  /** Replaces Overlay2Driver.probe (tests simulate hosts where overlay fails). */
  probe?: (home: string) => ProbeResult;
}

/** Priority order when nothing is requested. */
export const DRIVER_PRIORITY = ['overlay2', 'vfs'] as const;
export type DriverName = (typeof DRIVER_PRIORITY)[number];

/** Drivers Docker removed, refused by name with the reason. */
const REMOVED: Record<string, string> = {
  aufs: 'the aufs storage driver was removed from Docker (deprecated in 20.10, gone in 24.0) and this kernel has no aufs; use overlay2',
  devicemapper: 'the devicemapper storage driver was removed from Docker (deprecated in 18.09, gone in 25.0) and this kernel has no device-mapper thin pool support here; use overlay2',
  overlay: 'the overlay (v1) storage driver was removed from Docker (deprecated in 18.09, gone in 24.0); overlay2 uses the same kernel filesystem with multiple lower layers: use overlay2',
};

function isDriverName(s: string): s is DriverName {
  return (DRIVER_PRIORITY as readonly string[]).includes(s);
}

function make(name: DriverName, home: string, probe?: ProbeResult): StorageDriver {
  return name === 'overlay2' ? new Overlay2Driver(home, probe) : new VfsDriver(home);
}

/** Whether root already holds layers of driver `name` (an empty folder does not count). */
function hasLayers(name: DriverName, root: string): boolean {
  return make(name, join(root, name)).list().length > 0;
}

export function selectDriver(root: string, requested?: string, opts: SelectOptions = {}): DriverChoice {
  const probe = opts.probe ?? ((home: string) => Overlay2Driver.probe(home));
  const home = (name: DriverName) => join(root, name);
  const priors = DRIVER_PRIORITY.filter((n) => hasLayers(n, root));

  if (requested !== undefined && requested !== '') {
    const name = requested.trim().toLowerCase();
    const removed = REMOVED[name];
    if (removed) throw invalidArgument(`storage driver "${requested}" is not supported: ${removed}`, { name: requested });
    if (!isDriverName(name)) {
      throw invalidArgument(`unknown storage driver "${requested}"; valid drivers: ${DRIVER_PRIORITY.join(', ')}`, { name: requested });
    }
    const others = priors.filter((p) => p !== name);
    const note = others.length > 0 ? `; layers under ${others.map(home).join(', ')} are not visible with it` : '';
    if (name === 'overlay2') {
      const p = probe(home(name));
      if (!p.ok) throw failedPrecondition(`storage driver overlay2 cannot be used on ${root}: ${p.reason}`, { name });
      return { driver: make(name, home(name), p), reason: `overlay2 was requested and ${p.reason}${note}.` };
    }
    return { driver: make(name, home(name)), reason: `${name} was requested${note}.` };
  }

  if (priors.length > 1) {
    throw failedPrecondition(
      `${root} contains layers of several storage drivers (${priors.join(', ')}); choose one explicitly (for example --storage-driver ${priors[0]}) or remove the other's folder`,
      { name: root, refs: priors.map(home) },
    );
  }
  if (priors.length === 1) {
    const name = priors[0]!;
    if (name === 'overlay2') {
      const p = probe(home(name));
      if (!p.ok) throw failedPrecondition(`${root} holds overlay2 layers but overlay2 cannot be used here: ${p.reason}`, { name });
      return { driver: make(name, home(name), p), reason: `${home(name)} already holds overlay2 layers.` };
    }
    return { driver: make(name, home(name)), reason: `${home(name)} already holds ${name} layers.` };
  }

  const p = probe(home('overlay2'));
  if (p.ok) {
    return { driver: make('overlay2', home('overlay2'), p), reason: `overlay2 is the first choice and ${p.reason}.` };
  }
  return { driver: make('vfs', home('vfs')), reason: `overlay2 is unavailable (${p.reason}), so vfs (a full copy per layer) is used.` };
}
