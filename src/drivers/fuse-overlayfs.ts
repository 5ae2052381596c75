// fuse-overlayfs.ts: overlay semantics through FUSE, for hosts where the kernel's
// overlay cannot be mounted (inside some containers and user namespaces, or with a
// backing filesystem overlay refuses). It is overlay2 on disk: the same
// <id>/{diff,work,merged}, link, lower and l/ layout, the same whiteouts (0/0
// character devices, trusted.overlay.opaque, which fuse-overlayfs reads and, as
// root, writes), the same 'upper' change source. Only the mounts differ: type
// "fuse-overlayfs", which drivers/mount.ts performs by starting the fuse-overlayfs
// program, where overlay2's are mount(2) calls of type "overlay".
//
// Docker's fuse-overlayfs driver (moby daemon/graphdriver/fuse-overlayfs) does the
// same with its own copy of the overlay2 code; here the layout code is shared by
// inheritance, so both drivers stay byte-for-byte alike on disk.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { DriverStatus, Mount } from './driver.js';
import { Overlay2Driver, type ProbeResult } from './overlay2.js';
import { backingFs, removeTreeSync } from './fsutil.js';
import { mountAll, unmount } from './mount.js';
import { haveCommand, runSync } from './exec.js';
import { errnoCode } from '../errors.js';

export interface FuseProbe { ok: boolean; reason: string; backingFs: string; version: string }

function nearestExisting(path: string): string {
  let p = resolve(path);
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

export class FuseOverlayfsDriver extends Overlay2Driver {
  override readonly name: string = 'fuse-overlayfs';
  private fuseProbe: FuseProbe | undefined;

  constructor(home: string, probed?: FuseProbe) {
    // The kernel overlay's feature options (index=off …) mean nothing to
    // fuse-overlayfs: the overlay2 code gets an empty option list.
    const base: ProbeResult = {
      ok: true, reason: 'fuse-overlayfs', backingFs: probed?.backingFs ?? backingFs(home), supportsDType: true,
      options: [], userxattr: false, nativeDiff: true,
    };
    super(home, base);
    this.fuseProbe = probed;
  }

  /**
   * Checks the program and /dev/fuse, then mounts a one-file overlay in a temp dir
   * under home and reads through it: a host where FUSE mounts are refused (no
   * /dev/fuse in a container, no fusermount3 setuid helper) fails here, not at the
   * first container.
   */
  static probeFuse(home: string): FuseProbe {
    const fs = backingFs(home);
    const no = (reason: string): FuseProbe => ({ ok: false, reason, backingFs: fs, version: '' });
    if (process.platform !== 'linux') return no('fuse-overlayfs needs Linux');
    if (!haveCommand('fuse-overlayfs')) return no('the fuse-overlayfs program (Debian package fuse-overlayfs) is not installed');
    if (!existsSync('/dev/fuse')) return no('there is no /dev/fuse');
    if (process.getuid?.() !== 0) return no('the fuse-overlayfs driver needs root: whiteouts are device nodes');
    let version = '';
    try {
      const r = runSync('fuse-overlayfs', ['--version']);
      version = /fuse-overlayfs: version (\S+)/.exec(r.stdout + r.stderr)?.[1] ?? '';
    } catch {
      // the version is only shown by `info`
    }
    let tmp: string;
    try {
      tmp = mkdtempSync(join(nearestExisting(home), '.stowage-fuse-probe-'));
    } catch (err) {
      return no(`cannot create a probe directory: ${errnoCode(err) ?? String(err)}`);
    }
    const merged = join(tmp, 'merged');
    try {
      for (const d of ['lower', 'upper', 'work', 'merged']) mkdirSync(join(tmp, d));
      writeFileSync(join(tmp, 'lower/f'), 'ok');
      try {
        mountAll([{ type: 'fuse-overlayfs', source: 'fuse-overlayfs', cwd: tmp, options: ['lowerdir=lower', 'upperdir=upper', 'workdir=work'] }], merged);
      } catch (err) {
        return no(`a fuse-overlayfs mount on ${fs} failed: ${(err as Error).message}`);
      }
      try {
        if (readFileSync(join(merged, 'f'), 'utf8') !== 'ok') return no('a fuse-overlayfs mount did not show its lower layer');
      } finally {
        unmount(merged);
      }
      return { ok: true, reason: `fuse-overlayfs ${version} mounts work on ${fs}`.replace('  ', ' '), backingFs: fs, version };
    } finally {
      removeTreeSync(tmp);
    }
  }

  override status(): DriverStatus {
    const p = this.fuseProbe ?? { backingFs: backingFs(this.home), version: '' };
    return {
      details: [
        ['Backing Filesystem', p.backingFs],
        ['Supports d_type', 'true'],
        ['fuse-overlayfs version', p.version || 'unknown'],
      ],
    };
  }

  /**
   * overlay2's mounts, as FUSE mounts, with fast_ino=1: inode numbers straight from
   * the layer files (all layers are on one filesystem, under home, so they are
   * unique). Without it fuse-overlayfs 1.10 maps a copied-up file that has hardlinks
   * in a lower layer back to the lower inode after a remount, and reads its new
   * size with the old data: "same" + 8 bytes appended reads as "same" + 8 NULs
   * (the suite's hardlink copy-up case caught this).
   */
  override mounts(id: string, opts: { readonly?: boolean } = {}): Mount[] {
    return super.mounts(id, opts).map((m) => (m.type === 'overlay'
      ? { ...m, type: 'fuse-overlayfs', source: 'fuse-overlayfs', options: [...m.options, 'fast_ino=1'] }
      : m));
  }
}
