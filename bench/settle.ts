// settle.ts: how long a case that creates many files must wait after a repetition's reset
// deleted many, so that the deletions are not paid by the next timed run.
//
// ext4 without a journal (this workplace's root filesystem is one) refuses to hand out
// an inode deleted less than 60 s ago (300 s more while its inode-table block is dirty):
// the kernel's find_inode_bit() asks recently_deleted() of every free inode it passes,
// a buffer-cache lookup each. After a reset removed the 14,000 files of an image, the
// next load or pull of it scans past thousands of those inodes for every file it
// creates: a profile of such a pull spends half of its system time in
// recently_deleted/find_get_block_common, and the same pull takes 5-11 s instead of
// 1.7 s. Which engine pays depends only on which block groups the last reset freed, so
// the ratio becomes noise. A journalled ext4, xfs or btrfs has no such rule: no wait.
//
// The wait is `sync` (clean inode-table blocks: the 60 s rule, not 360 s) and then until
// `seconds` have passed since the last reset ended.
import { readdirSync } from 'node:fs';
import { basename } from 'node:path';
import { mountOf } from '../src/drivers/fsutil.js';

export interface Settle {
  seconds: number;
  why: string;
}

/** The wait a file-creating case needs under `dir`: `override` seconds when given, else by the filesystem. */
export function settleFor(dir: string, override?: number): Settle {
  if (override !== undefined) return { seconds: override, why: `--settle ${override}` };
  const m = mountOf(dir);
  const fstype = m?.fsType ?? 'unknown';
  if (fstype !== 'ext4') return { seconds: 0, why: `${fstype}: no wait needed` };
  // jbd2 lists every journalled filesystem as DEVICE-INODE (vda-8, loop3-8).
  const device = basename(m!.source);
  if (journals().some((n) => n.startsWith(`${device}-`))) return { seconds: 0, why: 'ext4 with a journal: no wait needed' };
  return { seconds: 61, why: 'ext4 without a journal: inodes deleted in the last 60 s are skipped one by one (see bench/settle.ts)' };
}

function journals(): string[] {
  try {
    return readdirSync('/proc/fs/jbd2');
  } catch {
    return [];
  }
}
