// paths.ts: resolving a path inside a container's root filesystem the way the
// container would see it: symlinks are followed, but "/" and ".." never leave
// the root (an absolute link target is taken relative to the root). Used by cp.
import { lstatSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { invalidArgument } from '../errors.js';

const MAX_LINKS = 40;

/** The host path of `path` inside root, with every symlink resolved within root. The last component may not exist. */
export function resolveInRoot(root: string, path: string, opts: { followLast?: boolean } = {}): string {
  const followLast = opts.followLast ?? true;
  const pending = path.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') { done.pop(); continue; }
    const candidate = join(root, ...done, part);
    let st;
    try { st = lstatSync(candidate); } catch { done.push(part); continue; }
    if (st.isSymbolicLink() && (pending.length > 0 || followLast)) {
      if (++links > MAX_LINKS) throw invalidArgument(`too many levels of symbolic links resolving ${path}`, { name: path });
      const target = readlinkSync(candidate);
      if (target.startsWith('/')) done.length = 0;
      pending.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
      continue;
    }
    done.push(part);
  }
  return join(root, ...done);
}
