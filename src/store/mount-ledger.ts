// mount-ledger.ts: every mount stowage makes is owned. Before mount(2) a row
// (mount point, owner token, kind) is committed in owned_mounts; after umount(2) it is
// deleted. So whatever instant a process dies at, a mount it made has a row naming a
// dead owner, and recovery (recoverMounts) unmounts it. A mount under the data root or
// the exec root that has no row at all was not made by stowage (or by a stowage before
// the ledger): `system check` reports it and `--repair` unmounts it.
//
// Ownership can move: a container's monitor takes over the rootfs mount that an
// `export` made (mode 'claim'), while `export` and `cp` leave a live owner's mount
// alone and use it as it is (mode 'borrow'). The decision and the row write run in an
// IMMEDIATE transaction, so two processes never both think they own one mount point; a
// row in state 'mounting' of a live owner makes others wait until it is 'mounted'.
//
// Volume mounts (kind 'volume') are held through volume_mounts: their row is written
// with the mounting process as owner, then handed over (owner NULL) once the volume
// service has recorded who holds the volume; the volume service releases them.
import { readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { DB } from './db.js';
import { ownerAlive, ownerToken } from './owner.js';
import { isMountPoint, mountAll, unmount } from '../drivers/mount.js';
import type { Mount } from '../drivers/driver.js';
import { failpoint } from '../util/failpoint.js';
import { conflict } from '../errors.js';

export type MountKind = 'rootfs' | 'build' | 'view' | 'volume';

export interface OwnedMount {
  path: string;
  owner: string | null;
  kind: MountKind;
  loop: string | null;
  state: 'mounting' | 'mounted';
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Extra holders of a mount this process owns, per path: two requests of one long-running
 * server (two exports of one stopped container) share the mount, and the last release
 * unmounts it. Owner tokens are per process, so the count is too.
 */
const holders = new Map<string, number>();

export class MountLedger {
  constructor(private readonly db: DB) {}

  get(path: string): OwnedMount | undefined {
    return this.db.prepare('SELECT path, owner, kind, loop, state FROM owned_mounts WHERE path = ?').get(path) as OwnedMount | undefined;
  }

  all(): OwnedMount[] {
    return this.db.prepare('SELECT path, owner, kind, loop, state FROM owned_mounts ORDER BY path').all() as OwnedMount[];
  }

  /**
   * Mounts `mounts` on path, owned by this process. Returns true when this process
   * owns the mount (and must release() it), false when a live process already owns a
   * mount there and mode is 'borrow' (the caller uses the mount as it is). 'claim'
   * takes ownership from a live owner (a container's watcher over an export's mount).
   */
  mount(path: string, mounts: readonly Mount[], opts: { kind: MountKind; mode: 'claim' | 'borrow'; loop?: string }): boolean {
    const me = ownerToken();
    const until = Date.now() + 60_000;
    for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
      const verdict = this.db.transaction((): 'wait' | 'shared' | 'taken' | 'mine' | 'again' => {
        const row = this.get(path);
        if (row && row.owner === me && row.state === 'mounted' && isMountPoint(path)) return 'again';
        if (row && row.owner !== me && (row.owner === null || ownerAlive(row.owner))) {
          if (row.state === 'mounting') return 'wait';
          if (opts.mode === 'borrow' || row.owner === null) return 'shared';
          this.db.prepare('UPDATE owned_mounts SET owner = ? WHERE path = ?').run(me, path);
          return 'taken';
        }
        this.db.prepare(`INSERT OR REPLACE INTO owned_mounts (path, owner, kind, loop, state, created_at) VALUES (?, ?, ?, ?, 'mounting', ?)`)
          .run(path, me, opts.kind, opts.loop ?? null, Date.now());
        return 'mine';
      }).immediate();
      if (verdict === 'shared') return false;
      if (verdict === 'again') {
        holders.set(path, (holders.get(path) ?? 1) + 1);
        return true;
      }
      if (verdict === 'taken') {
        if (isMountPoint(path)) return true;
        continue; // the previous owner released it meanwhile: mount it ourselves
      }
      if (verdict === 'mine') break;
      if (Date.now() > until) throw conflict(`mount point ${path} is being mounted by another process that did not finish in time`, { name: path });
      sleepSync(delay);
    }
    failpoint('mount:recorded');
    try {
      if (!isMountPoint(path)) mountAll(mounts, path);
    } catch (err) {
      this.db.prepare('DELETE FROM owned_mounts WHERE path = ? AND owner = ?').run(path, me);
      throw err;
    }
    failpoint('mount:made');
    try {
      this.db.prepare(`UPDATE owned_mounts SET state = 'mounted' WHERE path = ? AND owner = ?`).run(path, me);
    } catch (err) {
      // A full disk or a lock timeout: the caller never gets the mount, so none may stay.
      unmount(path);
      this.db.prepare('DELETE FROM owned_mounts WHERE path = ? AND owner = ?').run(path, me);
      throw err;
    }
    return true;
  }

  /**
   * Records a mount that another module makes itself (a volume's quota image through
   * mount(8)), owned by this process: call before making it, and mounted() after.
   */
  record(path: string, kind: MountKind, loop?: string): void {
    this.db.prepare(`INSERT OR REPLACE INTO owned_mounts (path, owner, kind, loop, state, created_at) VALUES (?, ?, ?, ?, 'mounting', ?)`)
      .run(path, ownerToken(), kind, loop ?? null, Date.now());
  }

  /** After record(): the mount is made; owner null hands it to the records that hold it (volume_mounts). */
  mounted(path: string, opts: { handOver?: boolean } = {}): void {
    this.db.prepare(`UPDATE owned_mounts SET state = 'mounted', owner = CASE WHEN ? THEN NULL ELSE owner END WHERE path = ?`).run(opts.handOver ? 1 : 0, path);
  }

  /**
   * Unmounts path if this process owns it (or `force`: whoever owns it, for the volume
   * service and recovery), then forgets the row. The row goes after the unmount, so a
   * crash in between leaves a row that recovery finishes. Returns true when unmounted.
   */
  release(path: string, opts: { force?: boolean } = {}): boolean {
    const me = ownerToken();
    return this.db.transaction(() => {
      const row = this.get(path);
      if (row && !opts.force && row.owner !== me) return false;
      const n = holders.get(path) ?? 1;
      if (row?.owner === me && n > 1) { holders.set(path, n - 1); return false; }
      holders.delete(path);
      unmount(path);
      if (row?.loop) detachLoops(row.loop);
      failpoint('mount:unmounted');
      this.db.prepare('DELETE FROM owned_mounts WHERE path = ?').run(path);
      return true;
    }).immediate();
  }

  /**
   * Forgets a row without unmounting (the caller has unmounted). `owner` (a token, or
   * null for a handed-over row) forgets it only while it is still that owner's: another
   * process may have recorded the path anew meanwhile.
   */
  forget(path: string, owner?: string | null): void {
    if (owner === undefined) this.db.prepare('DELETE FROM owned_mounts WHERE path = ?').run(path);
    else if (owner === null) this.db.prepare('DELETE FROM owned_mounts WHERE path = ? AND owner IS NULL').run(path);
    else this.db.prepare('DELETE FROM owned_mounts WHERE path = ? AND owner = ?').run(path, owner);
  }

  /** Rows whose owner is dead: mounts nobody will release. One indexed query when there are none. */
  deadRows(): OwnedMount[] {
    const owners = this.db.prepare('SELECT DISTINCT owner FROM owned_mounts WHERE owner IS NOT NULL').all() as Array<{ owner: string }>;
    const dead = owners.filter((o) => !ownerAlive(o.owner)).map((o) => o.owner);
    if (dead.length === 0) return [];
    return this.all().filter((r) => r.owner !== null && dead.includes(r.owner));
  }

  /**
   * Releases the mounts of dead owners: unmounts, detaches their loop devices, forgets
   * the rows. Volume rows are handed to the volume service instead (owner NULL), which
   * unmounts a volume only when no live container holds it. Returns the paths released.
   */
  recover(): string[] {
    const released: string[] = [];
    for (const r of this.deadRows()) {
      // One mount that cannot be released (a FUSE mount whose helper fails) must not stop
      // the others or the command: its row stays, `system check` reports it, the next
      // recovery tries again.
      try { this.db.transaction(() => {
        const now = this.get(r.path);
        if (!now || now.owner === null || ownerAlive(now.owner)) return;
        if (now.kind === 'volume') {
          this.db.prepare('UPDATE owned_mounts SET owner = NULL, state = \'mounted\' WHERE path = ?').run(r.path);
          return;
        }
        unmount(r.path);
        if (now.loop) detachLoops(now.loop);
        this.db.prepare('DELETE FROM owned_mounts WHERE path = ?').run(r.path);
        released.push(r.path);
      }).immediate(); } catch { /* left for check and the next recovery */ }
    }
    return released;
  }
}

/** Loop devices attached to a backing file under dir (or to the file dir itself): [device, backing file]. */
export function loopDevices(under: string): Array<{ device: string; file: string }> {
  const out: Array<{ device: string; file: string }> = [];
  let names: string[];
  try { names = readdirSync('/sys/block'); } catch { return out; }
  for (const n of names) {
    if (!n.startsWith('loop')) continue;
    let file: string;
    try { file = readFileSync(join('/sys/block', n, 'loop', 'backing_file'), 'utf8').trim(); } catch { continue; }
    file = file.replace(/ \(deleted\)$/, '');
    if (file === under || file.startsWith(under.endsWith('/') ? under : under + '/')) out.push({ device: `/dev/${n}`, file });
  }
  return out;
}

/** Detaches the loop devices backed by file that nothing has mounted. */
export function detachLoops(file: string): string[] {
  const detached: string[] = [];
  let info = '';
  try { info = readFileSync('/proc/self/mountinfo', 'utf8'); } catch { /* none known mounted */ }
  for (const l of loopDevices(file)) {
    if (l.file !== file) continue;
    if (info.includes(` ${l.device} `)) continue; // still mounted somewhere: autoclear frees it at the unmount
    if (spawnSync('losetup', ['-d', l.device], { stdio: 'ignore' }).status === 0) detached.push(l.device);
  }
  return detached;
}

const ledgers = new WeakMap<object, MountLedger>();
/** The mount ledger of an engine (one per engine). */
export function mountLedger(engine: { db: DB }): MountLedger {
  let l = ledgers.get(engine);
  if (!l) { l = new MountLedger(engine.db); ledgers.set(engine, l); }
  return l;
}
