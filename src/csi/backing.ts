// backing.ts: the files under CSI volumes, and the programs that work on them.
// A mount volume is a stowage volume with a size quota, whose quota.img (an ext4
// image, see volumes/local.ts) is the volume; a block volume is a stowage volume
// holding one sparse file, _data/block.img, attached as a loop device on the node.
// Snapshots and clones copy those image files (sparse, reflinked where the
// filesystem can), so a copy costs the bytes written, not the capacity.
//
// Every program runs asynchronously: the CSI server keeps answering other calls
// (and refusing concurrent ones on the same volume) while mkfs or cp works.
import { spawn } from 'node:child_process';
import { truncate, stat } from 'node:fs/promises';
import { failedPrecondition, internal } from '../errors.js';

const PACKAGES: Record<string, string> = {
  losetup: 'mount', mount: 'mount', cp: 'coreutils', resize2fs: 'e2fsprogs', e2fsck: 'e2fsprogs', fsfreeze: 'util-linux', 'mkfs.ext4': 'e2fsprogs',
};

/** Runs a program; resolves with its stdout, rejects with its stderr. okCodes: exit codes that count as success. */
export function run(cmd: string, args: string[], okCodes: number[] = [0]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (b: Buffer) => { out += b; });
    p.stderr.on('data', (b: Buffer) => { err += b; });
    p.on('error', (e) => {
      if ((e as { code?: string }).code === 'ENOENT') reject(failedPrecondition(`${cmd} is not installed (apt-get install ${PACKAGES[cmd] ?? cmd})`));
      else reject(e);
    });
    p.on('close', (code) => {
      if (code !== null && okCodes.includes(code)) resolve(out);
      else reject(internal(`${cmd} ${args.join(' ')} exited ${code}: ${(err || out).trim()}`));
    });
  });
}

/** A sparse copy of an image file (reflinked when the filesystem can). */
export async function copyImage(src: string, dst: string): Promise<void> {
  await run('cp', ['--sparse=always', '--reflink=auto', '--', src, dst]);
}

export async function fileSize(path: string): Promise<number> {
  return (await stat(path)).size;
}

/** Grows (never shrinks) a file to size bytes; sparse. */
export async function growFile(path: string, size: number): Promise<void> {
  if ((await fileSize(path)) < size) await truncate(path, size);
}

/** Loop devices attached to a file ("/dev/loopN"). */
export async function loopDevicesOf(file: string): Promise<string[]> {
  const out = await run('losetup', ['-n', '-O', 'NAME', '-j', file]);
  return out.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('/dev/'));
}

export async function attachLoop(file: string, readOnly = false): Promise<string> {
  const dev = (await run('losetup', ['--find', '--show', ...(readOnly ? ['--read-only'] : []), file])).trim();
  if (!dev.startsWith('/dev/')) throw internal(`losetup gave no device for ${file}: ${dev}`);
  return dev;
}

/** Detaches a loop device; one that is already gone is fine. */
export async function detachLoop(dev: string): Promise<void> {
  try {
    await run('losetup', ['-d', dev]);
  } catch (err) {
    if (!/No such device|No such file|failed to use device/i.test((err as Error).message)) throw err;
  }
}

/** Makes a loop device see its file's new size. */
export async function refreshLoop(dev: string): Promise<void> {
  await run('losetup', ['-c', dev]);
}

/** Mounts an ext4 image (through a loop device mount(8) reuses when one exists for the file). */
export async function mountImage(image: string, target: string, words: string[]): Promise<void> {
  await run('mount', ['-t', 'ext4', '-o', ['loop', 'nosuid', 'nodev', ...words].join(','), image, target]);
}

/** Grows an unmounted ext4 image to fill its file (a forced check first, as resize2fs wants). */
export async function resizeImageOffline(image: string): Promise<void> {
  await run('e2fsck', ['-f', '-y', image], [0, 1]);
  await run('resize2fs', ['-f', image]);
}

/** Grows a mounted ext4 filesystem on a loop device to fill the device. */
export async function resizeDeviceOnline(dev: string): Promise<void> {
  await run('resize2fs', [dev]);
}

/** Freezes a mounted filesystem for the time fn runs (a consistent copy of its image), then thaws it. */
export async function whileFrozen<T>(mountpoint: string | null, fn: () => Promise<T>): Promise<T> {
  if (!mountpoint) return fn();
  await run('fsfreeze', ['-f', mountpoint]);
  try {
    return await fn();
  } finally {
    await run('fsfreeze', ['-u', mountpoint]);
  }
}
