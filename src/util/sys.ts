// sys.ts: typed access to native/sys.c, the Linux calls Node lacks (mknod,
// l*xattr, mount, umount2). Loaded lazily so that commands which never touch
// the filesystem at that level do not pay for dlopen.
import { createRequire } from 'node:module';
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

/** Finds build/Release/stowage_sys.node above this module (works from src, dist and the bundle). */
function locate(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'build', 'Release', 'stowage_sys.node');
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  throw new Error('stowage native module not built: run `npm ci` (it compiles native/sys.c with node-gyp)');
}

export function native(): Sys {
  if (!sys) sys = createRequire(import.meta.url)(locate()) as Sys;
  return sys;
}
