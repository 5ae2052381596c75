// select.ts: which storage driver a data root uses, decided as Docker decides it
// (moby daemon/graphdriver/driver.go, driver_linux.go), with a priority that looks
// at the data root's filesystem first:
//   1. a driver named by the user is used if it can work here, else an error says
//      why; layers of other drivers in the root are left alone and the reason says so;
//   2. otherwise a root that already holds one driver's layers keeps that driver
//      (two such drivers: refuse, since silently picking one hides the other's layers);
//   3. otherwise the first that works, by priority (the reason names those skipped):
//        btrfs           when the data root is on btrfs (snapshots are native there,
//                        and overlay on btrfs has had d_type and rename quirks),
//        zfs             when the data root is on a ZFS dataset (overlay cannot use
//                        zfs-fuse, a FUSE filesystem, as its upper layer at all),
//        overlay2        when a kernel overlay mount works,
//        fuse-overlayfs  when overlay cannot be mounted but FUSE can,
//        vfs             always.
// Docker's order is overlay2, fuse-overlayfs, btrfs, zfs, vfs, and it reaches btrfs
// or zfs only when overlay fails; we prefer the filesystem's own snapshots when the
// user has put the data root on one, which is the reason to do that.
// Each driver keeps its layers in its own folder (<root>/<driver>), so switching
// drivers never mixes or deletes layers: the other folders stay as they are.
// Drivers are registered explicitly in DRIVERS below, not by import side effects.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { StorageDriver } from './driver.js';
import { Overlay2Driver, type ProbeResult } from './overlay2.js';
import { VfsDriver } from './vfs.js';
import { BtrfsDriver } from './btrfs.js';
import { ZfsDriver } from './zfs.js';
import { FuseOverlayfsDriver, type FuseProbe } from './fuse-overlayfs.js';
import { backingFs } from './fsutil.js';
import { failedPrecondition, invalidArgument } from '../errors.js';

export interface DriverChoice {
  driver: StorageDriver;
  /** One sentence explaining the choice, shown by `stowage info`. */
  reason: string;
  /** The data root's filesystem, as `info` names it ("extfs", "btrfs", "zfs" …). */
  backingFs: string;
}

/** What a probe says: whether the driver can work in a home, and why (not). */
export interface Verdict { ok: boolean; reason: string }

export interface SelectOptions {
  /** Replaces Overlay2Driver.probe (tests simulate hosts where overlay fails). */
  probe?: (home: string) => ProbeResult;
  /** Replace the other drivers' probes (tests simulate btrfs, zfs and FUSE hosts). */
  probes?: Partial<Record<'btrfs' | 'zfs' | 'fuse-overlayfs', (home: string) => Verdict>>;
}

/** Priority order when nothing is requested (btrfs and zfs only when the root is on them). */
export const DRIVER_PRIORITY = ['btrfs', 'zfs', 'overlay2', 'fuse-overlayfs', 'vfs'] as const;
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

/** A driver instance that does nothing yet (constructors never touch the disk). */
function make(name: DriverName, home: string, probed?: ProbeResult | FuseProbe): StorageDriver {
  switch (name) {
    case 'overlay2': return new Overlay2Driver(home, probed as ProbeResult | undefined);
    case 'fuse-overlayfs': return new FuseOverlayfsDriver(home, probed as FuseProbe | undefined);
    case 'btrfs': return new BtrfsDriver(home);
    case 'zfs': return new ZfsDriver(home);
    case 'vfs': return new VfsDriver(home);
  }
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Whether root already holds layers of driver `name` (an empty folder does not count). */
function hasLayers(name: DriverName, root: string): boolean {
  try {
    return make(name, join(root, name)).list().length > 0;
  } catch {
    return false; // e.g. zfs datasets that cannot be listed here: not usable either way
  }
}

export function selectDriver(root: string, requested?: string, opts: SelectOptions = {}): DriverChoice {
  const home = (name: DriverName) => join(root, name);
  const fs = backingFs(root);
  // Probes run at most once each; results that carry details go to the driver.
  const o2 = new Map<string, ProbeResult>();
  const fuse = new Map<string, FuseProbe>();
  const probe = (name: DriverName): Verdict => {
    const h = home(name);
    switch (name) {
      case 'overlay2': {
        if (!o2.has(h)) o2.set(h, (opts.probe ?? ((x: string) => Overlay2Driver.probe(x)))(h));
        return o2.get(h)!;
      }
      case 'fuse-overlayfs': {
        const injected = opts.probes?.['fuse-overlayfs'];
        if (injected) return injected(h);
        if (!fuse.has(h)) fuse.set(h, FuseOverlayfsDriver.probeFuse(h));
        return fuse.get(h)!;
      }
      case 'btrfs': return (opts.probes?.btrfs ?? BtrfsDriver.probe)(h);
      case 'zfs': return (opts.probes?.zfs ?? ZfsDriver.probe)(h);
      case 'vfs': return { ok: true, reason: 'vfs works everywhere' };
    }
  };
  const build = (name: DriverName, reason: string): DriverChoice => ({
    driver: make(name, home(name), name === 'overlay2' ? o2.get(home(name)) : name === 'fuse-overlayfs' ? fuse.get(home(name)) : undefined),
    reason,
    backingFs: fs,
  });
  // Which drivers already hold layers here: only folders that exist are looked into
  // (one readdir of the root instead of one listing per driver).
  const folders = new Set(readdirOrEmpty(root));
  const findPriors = (): DriverName[] => DRIVER_PRIORITY.filter((n) => folders.has(n) && hasLayers(n, root));

  if (requested !== undefined && requested !== '') {
    const name = requested.trim().toLowerCase();
    const removed = REMOVED[name];
    if (removed) throw invalidArgument(`storage driver "${requested}" is not supported: ${removed}`, { name: requested });
    if (!isDriverName(name)) {
      throw invalidArgument(`unknown storage driver "${requested}"; valid drivers: ${DRIVER_PRIORITY.join(', ')}`, { name: requested });
    }
    const v = probe(name);
    if (!v.ok) throw failedPrecondition(`storage driver ${name} cannot be used on ${root}: ${v.reason}`, { name });
    // The other drivers' layers only matter to the reason (`info` shows it): listed when it is read.
    const choice = build(name, '');
    let reason: string | undefined;
    return {
      driver: choice.driver,
      backingFs: choice.backingFs,
      get reason(): string {
        if (reason === undefined) {
          const others = findPriors().filter((p) => p !== name);
          const note = others.length > 0
            ? `; the layers of ${others.join(', ')} (under ${others.map(home).join(', ')}) are kept separately and are not visible with it`
            : '';
          reason = name === 'vfs' ? `vfs was requested${note}.` : `${name} was requested and ${v.reason}${note}.`;
        }
        return reason;
      },
    };
  }
  const priors = findPriors();

  if (priors.length > 1) {
    throw failedPrecondition(
      `${root} contains layers of several storage drivers (${priors.join(', ')}); choose one explicitly (for example --storage-driver ${priors[0]}); each keeps its layers in its own folder`,
      { name: root, refs: priors.map(home) },
    );
  }
  if (priors.length === 1) {
    const name = priors[0]!;
    const v = probe(name);
    if (!v.ok) throw failedPrecondition(`${root} holds ${name} layers but ${name} cannot be used here: ${v.reason}`, { name });
    return build(name, `${home(name)} already holds ${name} layers.`);
  }

  const skipped: string[] = [];
  for (const name of DRIVER_PRIORITY) {
    // btrfs and zfs are candidates only on their own filesystem; elsewhere they are
    // not "unavailable", just not the right tool, and go unmentioned.
    if ((name === 'btrfs' && fs !== 'btrfs') || (name === 'zfs' && fs !== 'zfs')) continue;
    const v = probe(name);
    if (!v.ok) {
      skipped.push(`${name} is unavailable (${v.reason})`);
      continue;
    }
    const why = name === 'btrfs' || name === 'zfs'
      ? `the data root is on ${fs}, so ${name} (native snapshots) is the first choice and ${v.reason}`
      : skipped.length === 0
        ? `${name} is the first choice on ${fs} and ${v.reason}`
        : name === 'vfs'
          ? `${skipped.join(' and ')}, so vfs (a full copy per layer) is used`
          : `${skipped.join(' and ')}, so ${name} is used: ${v.reason}`;
    return build(name, `${why}.`);
  }
  /* c8 ignore next */
  throw failedPrecondition('no storage driver can work here');
}
