// size.ts: a layer's size as Docker reports it (image Size, history SIZE, system df).
//
// Docker records, when a layer is applied, the number its graph driver's ApplyDiff
// returns, and never recomputes it:
//   - overlay2 and fuse-overlayfs (native diff): the size of the layer's diff
//     directory as moby's pkg/directory.Size counts it: every non-directory entry's
//     apparent size (st_size; a symlink counts the length of its target), each inode
//     once (hardlinks count once), directories and empty files nothing.
//   - naive-diff drivers (vfs, btrfs, zfs): the sum of the tar entries' sizes
//     (archive.UnpackLayer's count), because their layer directory holds the whole
//     tree, not the layer.
// Neither is the tar's byte count (headers and padding): a 611 kB layer of small
// files is 769 kB of tar.
import { lstatSync, readdirSync } from 'node:fs';
import type { WhiteoutForm } from '../drivers/driver.js';

/** moby pkg/directory.Size over dir: see the header. */
export function directorySize(dir: string, signal?: AbortSignal): number {
  const seen = new Set<bigint>();
  let size = 0;
  // Names are walked as bytes (latin1 strings turned into Buffer paths): a name that
  // is not valid UTF-8 must still be found.
  const walk = (abs: Buffer): void => {
    signal?.throwIfAborted();
    for (const name of readdirSync(abs, { encoding: 'buffer' })) {
      const p = Buffer.concat([abs, SLASH, name]);
      const st = lstatSync(p, { bigint: true });
      if (st.isDirectory()) { walk(p); continue; }
      if (st.size === 0n || seen.has(st.ino)) continue;
      seen.add(st.ino);
      size += Number(st.size);
    }
  };
  walk(Buffer.from(dir));
  return size;
}

const SLASH = Buffer.from('/');

/** The size Docker would record for a layer just applied into `root` (see the header). */
export function appliedLayerSize(form: WhiteoutForm, root: string, contentSize: number): number {
  return form === 'overlay' ? directorySize(root) : contentSize;
}
