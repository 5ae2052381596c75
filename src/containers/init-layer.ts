// init-layer.ts: the thin layer between an image and a container's writable layer
// that holds the mount points the runtime needs (/proc, /sys, /dev, and /etc/hostname,
// /etc/hosts, /etc/resolv.conf) when the image lacks them. Docker keeps the same
// "-init" layer, for the same reason: without it the runtime creates them in the
// container's own layer, and `diff` and `commit` would show placeholders the
// container's process never wrote. Directories that must be created to hold a
// placeholder get the image's own metadata, so the merged view of /etc is unchanged.
import { lstatSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { ChangeSource } from '../drivers/driver.js';
import { encodeHeader, END_OF_ARCHIVE, type WriterHeader } from '../archive/tar-writer.js';

const DIRS = ['proc', 'sys', 'dev'];
const FILES = ['etc/hostname', 'etc/hosts', 'etc/resolv.conf'];

/** The image's view of path (top layer first), or undefined when absent or deleted. */
export function lookup(src: ChangeSource | null, path: string): Stats | undefined {
  if (!src) return undefined;
  const roots = src.kind === 'upper' ? [src.dir, ...src.lower] : [src.dir];
  for (const r of roots) {
    try {
      const st = lstatSync(join(r, path));
      // An overlay whiteout (0/0 character device) means: deleted in this layer.
      if (src.kind === 'upper' && st.isCharacterDevice() && st.rdev === 0) return undefined;
      return st;
    } catch { /* not in this layer: look below */ }
  }
  return undefined;
}

/** A tar holding the placeholders image `src` lacks; null when it lacks none. */
export function initLayerTar(src: ChangeSource | null): Buffer | null {
  const entries: WriterHeader[] = [];
  const dirMeta = (name: string, st: Stats | undefined): WriterHeader => ({
    name, type: 'dir', mode: st ? st.mode & 0o7777 : 0o755, uid: st?.uid ?? 0, gid: st?.gid ?? 0, mtime: st ? Math.floor(st.mtimeMs / 1000) : 0,
  });
  for (const d of DIRS) if (!lookup(src, d)) entries.push(dirMeta(d, undefined));
  const missingFiles = FILES.filter((f) => !lookup(src, f));
  if (missingFiles.length > 0) {
    const etc = lookup(src, 'etc');
    if (etc && !etc.isDirectory()) return entries.length ? tar(entries) : null; // an odd image: leave /etc alone
    entries.push(dirMeta('etc', etc));
    for (const f of missingFiles) entries.push({ name: f, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 });
  }
  return entries.length ? tar(entries) : null;
}

function tar(entries: WriterHeader[]): Buffer {
  return Buffer.concat([...entries.map((e) => encodeHeader(e)), END_OF_ARCHIVE]);
}
