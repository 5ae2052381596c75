// sys.ts: typed access to native/sys.c, the Linux calls Node lacks (mknod,
// l*xattr, mount, umount2). Loaded lazily so that commands which never touch
// the filesystem at that level do not pay for dlopen.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Sys {
  mknod(path: string | Buffer, mode: number, major: number, minor: number): void;
  lsetxattr(path: string | Buffer, name: string, value: Buffer): void;
  /** The value, or null when the attribute is absent or xattrs are unsupported. */
  lgetxattr(path: string | Buffer, name: string): Buffer | null;
  llistxattr(path: string | Buffer): string[];
  lremovexattr(path: string, name: string): void;
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void;
  umount2(target: string, flags: number): void;
}

export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_NOEXEC = 8;
export const MS_REMOUNT = 32;
export const MS_BIND = 4096;
export const MS_REC = 16384;
export const MS_PRIVATE = 1 << 18;
export const MNT_DETACH = 2;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;

let sys: Sys | undefined;

/**
 * Finds rel (a path under the package root) above this module: works from src, dist,
 * the bundle and the start-up snapshot (where import.meta.url names the blob).
 */
export function findInPackage(rel: string): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, rel);
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  return undefined;
}

/** Loads a native addon by its path, without the module system (no resolution, no package.json reads). */
export function loadAddon<T>(path: string): T {
  const m = { exports: {} as T };
  process.dlopen(m, path);
  return m.exports;
}

export function native(): Sys {
  if (!sys) {
    const p = findInPackage('build/Release/stowage_sys.node');
    if (!p) throw new Error('stowage native module not built: run `npm ci` (it compiles native/sys.c with node-gyp)');
    sys = loadAddon<Sys>(p);
  }
  return sys;
}
