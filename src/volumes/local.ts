// local.ts: the `local` volume driver's files. A volume is volumes/NAME/_data,
// made in tmp/ and renamed into place (it appears whole or not at all), and
// removed by renaming it back into tmp/ and deleting it there.
//
// Volumes that need a mount before use are mounted over _data on the first
// acquire and unmounted on the last release (the service decides when):
//   type/device/o   Docker's options: mount(2) of device on _data (o's flag words
//                   become MS_* flags, the rest filesystem data; o=bind binds a path)
//   size            beyond Docker: a hard quota. quota.img, a sparse file of that
//                   size holding an ext4 filesystem (made at create, lost+found
//                   removed so the volume starts empty), loop-mounted on _data. A full
//                   volume fails writes with ENOSPC; the host's disk is untouched
//                   beyond the image's size. The loop device is released with the
//                   unmount (mount(8) sets autoclear), so none is ever left attached.
// This module never touches the database.
import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, openSync, closeSync, ftruncateSync, chmodSync, readdirSync, existsSync } from 'node:fs';
import type { Layout } from '../store/layout.js';
import { mountAll, unmount, mountsUnder, isMountPoint } from '../drivers/mount.js';
import { internal, failedPrecondition } from '../errors.js';
import type { LocalOptions } from './options.js';

function run(cmd: string, args: string[], what: string): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error && (r.error as { code?: string }).code === 'ENOENT') {
    throw failedPrecondition(`${what}: ${cmd} is not installed (apt-get install e2fsprogs)`);
  }
  if (r.status !== 0) throw internal(`${what}: ${cmd} ${args.join(' ')} exited ${r.status}: ${(r.stderr || r.stdout).trim()}`);
}

export class LocalDriver {
  constructor(private readonly layout: Layout) {}

  readonly name = 'local';

  /** Makes volumes/NAME with an empty _data (and its quota image), atomically. */
  create(name: string, opts: LocalOptions): void {
    // Staging names carry only a prefix of the volume's name: a 255-character name (the
    // most a local volume may have) plus the owner token would overflow NAME_MAX.
    const stage = this.layout.tmpPath(`volume-${name.slice(0, 32)}`);
    try {
      mkdirSync(`${stage}/_data`, { recursive: true, mode: 0o755 });
      chmodSync(stage, 0o701);
      chmodSync(`${stage}/_data`, 0o755);
      if (opts.size) this.makeQuotaImage(`${stage}/quota.img`, opts.size);
      renameSync(stage, this.layout.volume(name));
    } catch (err) {
      rmSync(stage, { recursive: true, force: true });
      throw err;
    }
  }

  private makeQuotaImage(path: string, size: number): void {
    const fd = openSync(path, 'wx', 0o600);
    try { ftruncateSync(fd, size); } finally { closeSync(fd); }
    // -m 0: no blocks reserved for root (the quota is the user's); small images get no journal.
    run('mkfs.ext4', ['-q', '-F', '-m', '0', '-E', 'root_owner=0:0', path], 'making the quota filesystem');
    run('debugfs', ['-w', '-R', 'rmdir lost+found', path], 'emptying the quota filesystem');
  }

  exists(name: string): boolean {
    return existsSync(this.layout.volumeData(name));
  }

  /** Volume directories on disk (names), for recovery. */
  list(): string[] {
    try { return readdirSync(this.layout.volumesDir); } catch { return []; }
  }

  mounted(name: string): boolean {
    return isMountPoint(this.layout.volumeData(name));
  }

  /** Mounts what the options say over _data. Idempotent when already mounted. */
  mount(name: string, opts: LocalOptions): void {
    const data = this.layout.volumeData(name);
    if (isMountPoint(data)) return;
    if (opts.size) {
      run('mount', ['-t', 'ext4', '-o', 'loop,nosuid,nodev', this.layout.volumeQuotaImage(name), data], `mounting volume ${name}`);
      return;
    }
    if (!opts.device) throw failedPrecondition(`volume ${name}: missing device in volume options`);
    const words = (opts.o ?? '').split(',').filter((w) => w !== '');
    try {
      mountAll([{ type: opts.type ?? 'none', source: opts.device, options: words }], data);
    } catch (err) {
      throw internal(`failed to mount local volume ${name}: ${(err as Error).message}`, { name, cause: err });
    }
  }

  /** Unmounts everything on and under _data. Idempotent. */
  unmount(name: string): void {
    unmount(this.layout.volumeData(name));
  }

  /**
   * Removes volumes/NAME: unmounted first (an o=bind volume's files are the host's:
   * deleting through a mount would destroy them), then renamed into tmp/ and deleted.
   */
  remove(name: string): void {
    const dir = this.layout.volume(name);
    if (!existsSync(dir)) return;
    unmount(this.layout.volumeData(name));
    const left = mountsUnder(dir);
    if (left.length) throw internal(`volume ${name}: still mounted at ${left.join(', ')}; not deleting its files`);
    const trash = this.layout.tmpPath(`volume-rm-${name.slice(0, 32)}`);
    try {
      renameSync(dir, trash);
    } catch (err) {
      // Its row was deleted first, so another process's recovery may have taken the
      // directory for an orphan and removed it meanwhile: gone is what we wanted.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    rmSync(trash, { recursive: true, force: true });
  }
}
