// layout.ts: the data root and every file name inside it. Only store/ knows these
// names; everything else asks a Layout for a path.
//
//   <root>/stowage.db          metadata database (SQLite, WAL): layers, images, tags, containers
//   <root>/content/blobs/sha256/<hex>   content store: configs, manifests, other blobs by digest
//   <root>/layers/<id>.tar-split        per image layer: the layer tar's headers and padding,
//                                       so `save` can give back its exact original bytes
//   <root>/<driver>/           one folder per storage driver (overlay2/, vfs/ ...)
//   <root>/containers/<id>/    per container: config, logs, runtime bundle
//   <root>/volumes/            volumes (local driver: volumes/NAME/_data; NAME/quota.img for a size quota)
//   <root>/csi/snapshots/<id>.img  CSI snapshots: copies of a volume's image (csi/ server)
//   <root>/csi/targets/NAME/{stage,publish}  where the CSI volume driver stages and publishes volume NAME
//   <root>/csi/driver/NAME.json  the CSI volume driver's record of volume NAME
//   <root>/csi/gluster/<owner>-<n>  the CSI controller's mount of a Gluster volume, for one call
//   <root>/csi/gluster-logs/fuse.log  the GlusterFS FUSE client's log (CSI GlusterFS stages and mounts)
//   <root>/tmp/                staging: everything is built here, then renamed into place
import { homedir } from 'node:os';
import { join } from 'node:path';
import { existsSync, mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { ownerToken } from './owner.js';

export function defaultDataRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.STOWAGE_DATA_ROOT) return env.STOWAGE_DATA_ROOT;
  if (process.getuid?.() === 0) return '/var/lib/stowage';
  const xdg = env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share');
  return join(xdg, 'stowage');
}

export class Layout {
  constructor(readonly root: string) {}

  get database(): string { return join(this.root, 'stowage.db'); }
  get contentDir(): string { return join(this.root, 'content'); }
  get blobsDir(): string { return join(this.root, 'content', 'blobs', 'sha256'); }
  blob(hex: string): string { return join(this.root, 'content', 'blobs', 'sha256', hex); }
  get layersDir(): string { return join(this.root, 'layers'); }
  tarSplit(layerId: string): string { return join(this.root, 'layers', `${layerId}.tar-split`); }
  driverDir(driver: string): string { return join(this.root, driver); }
  get containersDir(): string { return join(this.root, 'containers'); }
  container(id: string): string { return join(this.root, 'containers', id); }
  get volumesDir(): string { return join(this.root, 'volumes'); }
  /** volumes/NAME: one local volume (NAME already validated: [a-zA-Z0-9][a-zA-Z0-9_.-]+). */
  volume(name: string): string { return join(this.root, 'volumes', name); }
  /** volumes/NAME/_data: what containers see (Docker's Mountpoint). */
  volumeData(name: string): string { return join(this.root, 'volumes', name, '_data'); }
  /** volumes/NAME/quota.img: the filesystem image of a volume with a size quota, loop-mounted on _data. */
  volumeQuotaImage(name: string): string { return join(this.root, 'volumes', name, 'quota.img'); }
  /** volumes/NAME/_data/block.img: a CSI block volume's device image (attached as a loop device). */
  volumeBlockImage(name: string): string { return join(this.root, 'volumes', name, '_data', 'block.img'); }
  /** csi/: the CSI plugin's own files. */
  get csiDir(): string { return join(this.root, 'csi'); }
  get csiSnapshotsDir(): string { return join(this.root, 'csi', 'snapshots'); }
  /** csi/snapshots/ID.img: a snapshot, a sparse copy of its source volume's image. */
  csiSnapshot(id: string): string { return join(this.root, 'csi', 'snapshots', `${id}.img`); }
  /** csi/targets/: staging and publish targets of volumes used through the CSI volume driver. */
  get csiTargetsDir(): string { return join(this.root, 'csi', 'targets'); }
  /** csi/driver/NAME.json: the CSI volume driver's record of a volume (endpoint, CSI id, holders). */
  csiDriverRecord(name: string): string { return join(this.root, 'csi', 'driver', `${name}.json`); }
  get csiDriverDir(): string { return join(this.root, 'csi', 'driver'); }
  /** csi/gluster/<owner>-<n>: the CSI controller's short-lived mounts of Gluster volumes (GlusterFS backend). */
  get csiGlusterMountsDir(): string { return join(this.root, 'csi', 'gluster'); }
  /** csi/gluster-logs/fuse.log: the GlusterFS FUSE client's log for the CSI server's mounts. */
  get csiGlusterLog(): string { return join(this.root, 'csi', 'gluster-logs', 'fuse.log'); }
  get tmpDir(): string { return join(this.root, 'tmp'); }

  /**
   * A fresh staging path in tmp/. Its name starts with the owner token
   * ("<pid>-<starttime>-"), so recovery can tell a dead process's leftovers.
   */
  tmpPath(kind: string): string {
    return join(this.root, 'tmp', `${ownerToken().replace(':', '-')}-${kind}-${randomBytes(6).toString('hex')}`);
  }

  /**
   * Creates the folders every command may need. Idempotent and cheap: tmp/ is made
   * last, so when it exists the others do (one stat on every open of a set-up root).
   */
  ensure(): void {
    if (existsSync(this.tmpDir)) return;
    for (const d of [this.blobsDir, this.layersDir, this.containersDir, this.volumesDir, this.tmpDir]) {
      mkdirSync(d, { recursive: true, mode: 0o700 });
    }
  }
}
