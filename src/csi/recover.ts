// recover.ts: finishes what a dead CSI process left half-done, and removes what
// a failed call made. Run at server start (after the engine's own recovery) and by
// the handlers when they meet a 'creating' row whose owner is gone.
//   csi_volumes 'creating', owner dead      row deleted, then the stowage volume
//   stowage volumes labelled io.stowage.csi with no CSI row (a crash between the two
//     deletes of DeleteVolume) and no user   removed
//   csi_snapshots 'creating', owner dead    row deleted, then the file
//   csi/snapshots/*.img with no row          removed (files listed before rows are read)
//   csi_node_paths 'creating'/'removing', owner dead   unmounted, loop device detached, row deleted
//   csi/gluster/<owner>-<n> of dead owners    the controller's Gluster mounts: unmounted, removed
//   learned GlusterFS volumes with no node path   row deleted
//   GlusterFS volumes 'creating', owner dead  row deleted, then the directory on the Gluster volume
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { isNotFound } from '../errors.js';
import { ownerAlive } from '../store/owner.js';
import { unmount } from '../drivers/mount.js';
import type { CsiPlugin } from './plugin.js';
import { CSI_LABEL } from './plugin.js';
import type { NodePathRow, SnapshotRow, VolumeRow } from './records.js';
import { detachLoop, loopDevicesOf } from './backing.js';

export async function recoverVolume(p: CsiPlugin, v: VolumeRow, force = false): Promise<void> {
  if (!force && (v.state !== 'creating' || ownerAlive(v.owner))) return;
  p.records.deleteVolume(v.id);
  const g = p.glusterOf(v.id);
  if (g) {
    // The directory a dead create left, unless it turned out to be another controller's volume
    // of that name (it has metadata then). An unreachable Gluster server must not stop the
    // server from starting: a directory left behind is made again by the next create of that name.
    try {
      await p.gluster.with(g.target, (l) => {
        if (l.readMeta(g.dir)) return;
        l.removeQuota(g.dir);
        l.removeVolume(g.dir);
      });
    } catch { /* see above */ }
    return;
  }
  try { await p.volumes.remove(v.id); } catch (err) { if (!isNotFound(err)) throw err; }
}

export async function recoverSnapshot(p: CsiPlugin, s: SnapshotRow, force = false): Promise<void> {
  if (!force && (s.state !== 'creating' || ownerAlive(s.owner))) return;
  p.records.deleteSnapshot(s.id);
  rmSync(p.layout.csiSnapshot(s.id), { force: true });
}

/** Undoes a node path's mount and its loop device, then deletes its row. */
export async function undoNodePath(p: CsiPlugin, r: NodePathRow): Promise<void> {
  unmount(r.path);
  if (r.kind === 'publish' && r.readonly && r.device) await detachLoop(r.device); // a read-only block publish's own device
  if (r.kind === 'stage') {
    if (r.device) await detachLoop(r.device);
    else {
      // Attached, but the process died before recording the device: find it by the image.
      const v = p.records.volumeById(r.volume_id);
      if (v?.access_type === 'block') for (const d of await loopDevicesOf(p.imageOf(v))) await detachLoop(d);
      // A loop mount's device is freed by the kernel (autoclear) a moment after the
      // unmount, not always before umount returns: detach it now unless something
      // else still mounts it, so a DeleteVolume right after never leaves it behind.
      if (v?.access_type === 'mount' && !p.glusterOf(v.id)) {
        const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
        for (const d of await loopDevicesOf(p.imageOf(v))) if (!mountinfo.includes(` ${d} `)) await detachLoop(d);
      }
    }
  }
  p.records.deleteNodePath(r.kind, r.path);
}

export async function recoverAll(p: CsiPlugin): Promise<{ volumes: string[]; snapshots: string[]; paths: string[] }> {
  const done = { volumes: [] as string[], snapshots: [] as string[], paths: [] as string[] };
  let files: string[] = [];
  try { files = readdirSync(p.layout.csiSnapshotsDir); } catch { /* none yet */ }
  // Publishes before stages: a stage's mount lies under its publishes.
  const paths = p.records.allNodePaths().filter((r) => r.state !== 'ready' && !ownerAlive(r.owner)).sort((a, b) => (a.kind === 'publish' ? -1 : 1) - (b.kind === 'publish' ? -1 : 1));
  for (const r of paths) { await undoNodePath(p, r); done.paths.push(r.path); }
  done.paths.push(...p.gluster.recover());
  for (const v of p.records.allVolumes()) if (p.records.forgetLearned(v.id)) done.volumes.push(v.id);
  for (const v of p.records.allVolumes()) {
    if (v.state === 'creating' && !ownerAlive(v.owner)) { await recoverVolume(p, v); done.volumes.push(v.id); }
  }
  const known = new Set(p.records.allVolumes().map((v) => v.id));
  for (const v of p.volumes.all()) {
    if (v.labels[CSI_LABEL] === '1' && !known.has(v.name) && !p.volumes.isUsed(v.name)) {
      try { await p.volumes.remove(v.name); done.volumes.push(v.name); } catch (err) { if (!isNotFound(err)) throw err; }
    }
  }
  for (const s of p.records.allSnapshots()) {
    if (s.state === 'creating' && !ownerAlive(s.owner)) { await recoverSnapshot(p, s); done.snapshots.push(s.id); }
  }
  const snaps = new Set(p.records.allSnapshots().map((s) => `${s.id}.img`));
  for (const f of files) {
    if (!snaps.has(f)) { rmSync(`${p.layout.csiSnapshotsDir}/${f}`, { force: true }); done.snapshots.push(f); }
  }
  return done;
}
