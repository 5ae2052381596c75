// backing.ts: real filesystems for the btrfs and zfs driver tests, made by the test
// and torn down after it, failures included (moby's quota tests do the same with
// loop-mounted images). Each returns a handle whose `dir` is a directory on the new
// filesystem, and registers its teardown with node:test's after() hook.
import { after, before } from 'node:test';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

const ENV = { ...process.env, PATH: `${process.env.PATH ?? '/usr/bin:/bin'}:/usr/sbin:/sbin`, LC_ALL: 'C' };

function sh(cmd: string, args: string[], okCodes = [0]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: ENV, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (!okCodes.includes(r.status ?? -1)) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { env: ENV, stdio: 'ignore' }).status === 0;
}

export interface Backing {
  /** A directory on the test filesystem (set once before() has run). */
  dir: string;
  /** Why it could not be made, when it could not (the tests then skip, or fail in CI). */
  unavailable?: string;
}

/** Runs each step of a teardown, keeping the first error for the end. */
function teardown(steps: Array<() => void>): void {
  let first: unknown;
  for (const s of steps) {
    try {
      s();
    } catch (err) {
      first ??= err;
    }
  }
  if (first) throw first;
}

/**
 * A btrfs filesystem on a sparse 1 GiB image file, through a loop device. mkfs.btrfs
 * wants at least ~110 MiB; 1 GiB sparse costs only what the tests write.
 */
export function btrfsFilesystem(): Backing {
  const b: Backing = { dir: '' };
  let work = '';
  let loop = '';
  let mnt = '';
  before(() => {
    if (process.getuid?.() !== 0) { b.unavailable = 'needs root'; return; }
    if (!have('mkfs.btrfs') || !have('losetup')) { b.unavailable = 'btrfs-progs is not installed (scripts/install-deps.sh)'; return; }
    work = mkdtempSync(join(tmpdir(), 'stowage-btrfs-'));
    const img = join(work, 'fs.img');
    mnt = join(work, 'mnt');
    mkdirSync(mnt);
    sh('truncate', ['-s', '1G', img]);
    sh('mkfs.btrfs', ['-q', img]);
    loop = sh('losetup', ['--find', '--show', img]).trim();
    sh('mount', ['-t', 'btrfs', loop, mnt]);
    b.dir = mnt;
  });
  after(() => {
    teardown([
      () => { if (mnt && existsSync(mnt) && isMounted(mnt)) sh('umount', [mnt]); },
      () => { if (mnt && isMounted(mnt)) sh('umount', ['-l', mnt]); },
      () => { if (loop) sh('losetup', ['-d', loop]); },
      () => { if (work) rmSync(work, { recursive: true, force: true }); },
    ]);
  });
  return b;
}

function isMounted(dir: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === dir);
}

function daemonRunning(): boolean {
  return spawnSync('zpool', ['list', '-H'], { env: ENV, stdio: 'ignore' }).status === 0;
}

/**
 * A ZFS pool on a 512 MiB sparse file vdev, through Debian's zfs-fuse. Its daemon
 * is started (with -x: extended attributes, which the suite checks) when none
 * runs, and stopped after, by its own pid, only if this helper started it. A
 * daemon that was already running is used as it is (without -x, the xattr case fails).
 */
export function zfsPool(): Backing {
  const b: Backing = { dir: '' };
  let work = '';
  let pool = '';
  let daemonPid = 0;
  before(async () => {
    if (process.getuid?.() !== 0) { b.unavailable = 'needs root'; return; }
    if (!have('zpool') || !have('zfs-fuse')) { b.unavailable = 'zfs-fuse is not installed (scripts/install-deps.sh)'; return; }
    if (!existsSync('/dev/fuse')) { b.unavailable = 'no /dev/fuse'; return; }
    work = mkdtempSync(join(tmpdir(), 'stowage-zfs-'));
    if (!daemonRunning()) {
      const pidFile = join(work, 'zfs-fuse.pid');
      sh('zfs-fuse', ['--pidfile', pidFile, '--enable-xattr', '--no-kstat-mount']);
      for (let i = 0; i < 100 && !daemonRunning(); i++) await new Promise((r) => setTimeout(r, 50));
      daemonPid = Number(readFileSync(pidFile, 'utf8').trim());
      if (!daemonRunning()) throw new Error('zfs-fuse started but zpool cannot reach it');
    }
    const vdev = join(work, 'vdev');
    sh('truncate', ['-s', '512M', vdev]);
    pool = `stowtest${randomBytes(4).toString('hex')}`;
    const mnt = join(work, 'pool');
    sh('zpool', ['create', '-m', mnt, pool, vdev]);
    b.dir = mnt;
  });
  after(async () => {
    try {
      // The pool is "busy" for a moment after its last dataset goes (zfs-fuse
      // releases mounts asynchronously): retry for up to 5 s.
      for (let i = 0; pool; i++) {
        try {
          sh('zpool', ['destroy', '-f', pool]);
          break;
        } catch (err) {
          if (i >= 20 || !/busy/.test(String(err))) throw err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    } finally {
      if (daemonPid > 0) {
        process.kill(daemonPid, 'SIGTERM');
        for (let i = 0; i < 200; i++) {
          try {
            process.kill(daemonPid, 0);
          } catch {
            break;
          }
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      if (work) rmSync(work, { recursive: true, force: true });
    }
  });
  return b;
}
