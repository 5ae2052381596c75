// mount.ts: performs the Mount descriptions that drivers return (driver.ts), and
// undoes them. Drivers never mount for the caller; the layer store, the container
// runtime glue and the tests call mountAll/unmount here.
//
// A Mount of type "fuse-overlayfs" is made by starting the fuse-overlayfs program;
// every other type is a mount(2) call.
//
// Option strings follow mount(8): flag words ("ro", "nosuid", "rbind", "rprivate" …)
// become MS_* flags, everything else is filesystem data ("lowerdir=…", "index=off")
// passed through in order, comma-joined.
import { spawnSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  native, MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE, MNT_DETACH,
} from '../util/sys.js';
import type { Mount } from './driver.js';
import { errnoCode, invalidArgument, internal } from '../errors.js';

// Flags sys.ts does not name (values from <linux/mount.h>).
const MS_SYNCHRONOUS = 16;
const MS_MANDLOCK = 64;
const MS_DIRSYNC = 128;
const MS_NOATIME = 1024;
const MS_NODIRATIME = 2048;
const MS_UNBINDABLE = 1 << 17;
const MS_SLAVE = 1 << 19;
const MS_SHARED = 1 << 20;
const MS_RELATIME = 1 << 21;
const MS_STRICTATIME = 1 << 24;

/** Word -> [flag, set (true) or clear (false)]. */
const FLAG_WORDS: Record<string, [number, boolean]> = {
  ro: [MS_RDONLY, true], rw: [MS_RDONLY, false],
  nosuid: [MS_NOSUID, true], suid: [MS_NOSUID, false],
  nodev: [MS_NODEV, true], dev: [MS_NODEV, false],
  noexec: [MS_NOEXEC, true], exec: [MS_NOEXEC, false],
  sync: [MS_SYNCHRONOUS, true], async: [MS_SYNCHRONOUS, false],
  dirsync: [MS_DIRSYNC, true],
  mand: [MS_MANDLOCK, true], nomand: [MS_MANDLOCK, false],
  noatime: [MS_NOATIME, true], atime: [MS_NOATIME, false],
  nodiratime: [MS_NODIRATIME, true], diratime: [MS_NODIRATIME, false],
  relatime: [MS_RELATIME, true], norelatime: [MS_RELATIME, false],
  strictatime: [MS_STRICTATIME, true], nostrictatime: [MS_STRICTATIME, false],
  remount: [MS_REMOUNT, true],
  bind: [MS_BIND, true],
  rbind: [MS_BIND | MS_REC, true],
};

/** Propagation changes need a mount call of their own (the kernel refuses them mixed with other flags). */
const PROPAGATION_WORDS: Record<string, number> = {
  private: MS_PRIVATE, rprivate: MS_PRIVATE | MS_REC,
  shared: MS_SHARED, rshared: MS_SHARED | MS_REC,
  slave: MS_SLAVE, rslave: MS_SLAVE | MS_REC,
  unbindable: MS_UNBINDABLE, runbindable: MS_UNBINDABLE | MS_REC,
};

/** mount(2) copies at most one page of data; the terminating NUL must fit too. */
export const MOUNT_DATA_MAX = 4095;

export interface ParsedOptions {
  /** MS_* flags for the main mount call. */
  flags: number;
  /** Propagation flags for a follow-up call, 0 when none. */
  propagation: number;
  /** Filesystem-specific options, comma-joined in the given order ("" when none). */
  data: string;
}

/** Splits mount(8)-style option words into flags, propagation and data. Later words win ("ro,rw" is rw). */
export function parseMountOptions(options: readonly string[]): ParsedOptions {
  let flags = 0;
  let propagation = 0;
  const data: string[] = [];
  for (const raw of options) {
    const word = raw.trim();
    if (word === '') continue;
    const f = FLAG_WORDS[word];
    if (f) {
      flags = f[1] ? flags | f[0] : flags & ~f[0];
      continue;
    }
    const p = PROPAGATION_WORDS[word];
    if (p !== undefined) {
      propagation = p;
      continue;
    }
    data.push(word);
  }
  return { flags, propagation, data: data.join(',') };
}

/** Decodes the octal escapes mountinfo uses for space, tab, newline and backslash. */
function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Every mount point in this mount namespace, in mount order. */
export function mountPoints(): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (mp) out.push(unescapeMountinfo(mp));
  }
  return out;
}

function canonical(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}

export function isMountPoint(path: string): boolean {
  const p = canonical(path);
  return p !== null && mountPoints().includes(p);
}

/** Mount points at or below dir, deepest (latest) first: the order to unmount them in. */
export function mountsUnder(dir: string): string[] {
  const p = canonical(dir);
  if (p === null) return [];
  const prefix = p === '/' ? '/' : p + '/';
  return mountPoints().filter((m) => m === p || m.startsWith(prefix)).reverse();
}

/** Per-mount flags (field 6 of mountinfo) of the mount at target, as MS_* bits, without ro/rw. */
function inheritedFlags(target: string): number {
  const want = canonical(target) ?? target;
  let opts: string | undefined;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[4] !== undefined && unescapeMountinfo(f[4]) === want) opts = f[5]; // the last one is on top
  }
  let flags = 0;
  for (const w of (opts ?? '').split(',')) {
    const f = FLAG_WORDS[w];
    if (f && f[1] && f[0] !== MS_RDONLY) flags |= f[0];
  }
  return flags;
}

function describe(m: Mount): string {
  return `${m.type} ${m.source} [${m.options.join(',')}]${m.cwd ? ` (from ${m.cwd})` : ''}`;
}

/**
 * A FUSE overlay: fuse-overlayfs takes the same lowerdir/upperdir/workdir options as
 * the kernel's overlay (relative paths resolved against Mount.cwd, where it is
 * started) and daemonizes once the mount is in place, so when the command returns
 * the target is mounted. Its options go as one -o list; flag words such as "ro",
 * "nosuid" and "nodev" are FUSE mount options too.
 */
function mountFuseOverlay(m: Mount, target: string): void {
  const opts = m.options.map((o) => o.trim()).filter((o) => o !== '' && !PROPAGATION_WORDS[o]);
  const r = spawnSync('fuse-overlayfs', ['-o', opts.join(','), target], {
    cwd: m.cwd ?? process.cwd(), stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 30_000,
  });
  if (r.error) throw internal(`cannot run fuse-overlayfs: ${r.error.message} (Debian package fuse-overlayfs)`, { op: 'mount', name: target, cause: r.error });
  if (r.status !== 0) {
    throw internal(`fuse-overlayfs on ${target} failed (exit ${r.status}): ${(r.stderr ?? '').trim()}`, { op: 'mount', name: target });
  }
}

function mountOne(m: Mount, target: string): void {
  if (m.type === 'fuse-overlayfs') {
    mountFuseOverlay(m, target);
    return;
  }
  const sys = native();
  const { flags, propagation, data } = parseMountOptions(m.options);
  if (Buffer.byteLength(data) > MOUNT_DATA_MAX) {
    throw invalidArgument(`mount options are ${Buffer.byteLength(data)} bytes, over the kernel's one-page limit (${MOUNT_DATA_MAX})`, { op: 'mount', name: target });
  }
  const isBind = m.type === 'bind' || (flags & MS_BIND) !== 0;
  const prev = m.cwd ? process.cwd() : null;
  // Relative lowerdir/upperdir paths (overlay2 keeps its option string under a page
  // that way) are resolved by the kernel against the calling process's cwd. The mount
  // call is synchronous, so no other JavaScript runs while the cwd is changed.
  if (m.cwd) process.chdir(m.cwd);
  try {
    if (isBind) {
      const bindFlags = MS_BIND | (flags & MS_REC);
      sys.mount(m.source, target, null, bindFlags, null);
      // A bind mount ignores every flag but MS_BIND|MS_REC on the first call: ro,
      // nosuid … take a remount of the new mount point.
      const rest = flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
      if (rest !== 0) {
        try {
          // A remount sets the per-mount flags wholesale: keep the ones the bind
          // inherited (nosuid, nodev … of the source mount), or they would be cleared.
          sys.mount(null, target, null, MS_BIND | MS_REMOUNT | rest | inheritedFlags(target), null);
        } catch (err) {
          tryUnmount(target);
          throw err;
        }
      }
    } else {
      sys.mount(m.source, target, m.type, flags, data === '' ? null : data);
    }
  } finally {
    if (prev !== null) process.chdir(prev);
  }
  // Binds default to rprivate, as Docker's do: unmounting a submount of a shared
  // bind would otherwise propagate to the source tree and unmount it there too.
  const prop = propagation !== 0 ? propagation : isBind ? MS_PRIVATE | MS_REC : 0;
  if (prop !== 0) {
    try {
      sys.mount(null, target, null, prop, null);
    } catch (err) {
      tryUnmount(target);
      throw err;
    }
  }
}

function tryUnmount(target: string): void {
  try {
    native().umount2(target, MNT_DETACH);
  } catch {
    // best effort while already failing
  }
}

/**
 * Performs mounts onto target, in order (later ones stack on earlier ones). If one
 * fails, the ones already made are undone before the error is thrown.
 */
export function mountAll(mounts: readonly Mount[], target: string): void {
  const abs = resolve(target);
  let done = 0;
  try {
    for (const m of mounts) {
      try {
        mountOne(m, abs);
      } catch (err) {
        const code = errnoCode(err);
        if (code === undefined) throw err;
        throw internal(`mount ${describe(m)} on ${abs}: ${code}`, { op: 'mount', name: abs, cause: err });
      }
      done++;
    }
  } catch (err) {
    for (let i = 0; i < done; i++) tryUnmount(abs);
    throw err;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Unmounts one mount point; EBUSY is retried briefly, then the mount is detached. Returns false when nothing was mounted. */
function unmountOnce(mp: string): boolean {
  const sys = native();
  for (let attempt = 0; ; attempt++) {
    try {
      sys.umount2(mp, 0);
      return true;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'EINVAL' || code === 'ENOENT') return false;
      // Without CAP_SYS_ADMIN a FUSE mount of our own comes off through fusermount3.
      if (code === 'EPERM' && spawnSync('fusermount3', ['-u', mp], { stdio: 'ignore' }).status === 0) return true;
      if (code !== 'EBUSY') throw internal(`unmount ${mp}: ${code ?? String(err)}`, { op: 'unmount', name: mp, cause: err });
      // A process may still be closing a file on it: 10 tries over ~150 ms, then
      // detach it (the kernel finishes once the last user goes).
      if (attempt < 10) {
        sleepSync(5 + attempt * 2);
        continue;
      }
      sys.umount2(mp, MNT_DETACH);
      return true;
    }
  }
}

/**
 * Unmounts everything at target and below it, deepest first, including mounts
 * stacked on target by mountAll. Idempotent: a path that is not mounted (or does
 * not exist) is fine.
 */
export function unmount(target: string): void {
  const abs = resolve(target);
  for (const mp of mountsUnder(abs)) {
    if (mp !== canonical(abs)) unmountOnce(mp);
  }
  // Stacked mounts come off one at a time; bound the loop in case of a runaway stack.
  for (let i = 0; i < 64; i++) {
    if (!unmountOnce(abs)) return;
  }
  throw internal(`unmount ${abs}: still mounted after 64 unmounts`, { op: 'unmount', name: abs });
}
