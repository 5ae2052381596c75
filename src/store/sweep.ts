// sweep.ts: recovery after a crash, kept cheap when nothing crashed.
//
// Every command that changes the store opens a session (a row in `sessions` with its
// owner token) at its first recovery and closes it when the engine closes. A session
// row whose owner is dead is proof of a crash, and only then does recovery walk the
// file system for what has no record:
//   - the storage driver's cleanup() (staging and half-removed directories of dead
//     processes, dangling overlay2 links, overlay probes),
//   - build scratch under the exec root (/run/stowage/<root>/build) named by dead owners,
//   - content blobs that no image uses and no live process has leased (what a killed
//     load or rmi left).
// Mounts need no proof: they are in the mount ledger (store/mount-ledger.ts), whose
// dead rows are found with the same query. So the fast path is one indexed query
// (sessions ∪ ledger owners), one /proc read per distinct owner, and one insert.
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DB } from './db.js';
import { ownerAlive, ownerToken } from './owner.js';
import { isCleaner, type StorageDriver } from '../drivers/driver.js';
import { mountsUnder, unmount } from '../drivers/mount.js';
import type { ContentStore } from '../content/store.js';

export interface CrashEvidence {
  /** Owners of sessions that never closed: processes that died mid-command. */
  deadSessions: string[];
  /** Some mount in the ledger belongs to a dead process. */
  deadMountOwners: string[];
}

/** One query: the owners of open sessions and of owned mounts; the dead ones are the evidence. */
export function crashEvidence(db: DB): CrashEvidence {
  const rows = db.prepare(`SELECT 's' AS t, owner FROM sessions UNION ALL SELECT DISTINCT 'm', owner FROM owned_mounts WHERE owner IS NOT NULL`).all() as Array<{ t: 's' | 'm'; owner: string }>;
  const alive = new Map<string, boolean>();
  const isAlive = (o: string) => { let a = alive.get(o); if (a === undefined) { a = ownerAlive(o); alive.set(o, a); } return a; };
  return {
    deadSessions: rows.filter((r) => r.t === 's' && !isAlive(r.owner)).map((r) => r.owner),
    deadMountOwners: rows.filter((r) => r.t === 'm' && !isAlive(r.owner)).map((r) => r.owner),
  };
}

export function openSession(db: DB): void {
  db.prepare('INSERT OR REPLACE INTO sessions (owner, started_at) VALUES (?, ?)').run(ownerToken(), Date.now());
}

export function closeSession(db: DB): void {
  db.prepare('DELETE FROM sessions WHERE owner = ?').run(ownerToken());
}

/** Build scratch (views, bundles) under the exec root whose owner is dead: unmounted, then removed. */
export function sweepBuildScratch(execRoot: string): string[] {
  const dir = join(execRoot, 'build');
  const removed: string[] = [];
  let names: string[];
  try { names = readdirSync(dir); } catch { return removed; }
  for (const n of names) {
    const m = /^[a-z]+-(\d+)-(\d+)-/.exec(n);
    if (m && ownerAlive(`${m[1]}:${m[2]}`)) continue;
    const p = join(dir, n);
    for (const mp of mountsUnder(p)) unmount(mp);
    rmSync(p, { recursive: true, force: true });
    removed.push(p);
  }
  return removed;
}

/** Blobs no image uses and no live process has leased; each deleted under the write lock, as rmi does. */
export function sweepBlobs(db: DB, content: ContentStore): string[] {
  const removed: string[] = [];
  for (const b of content.list()) {
    const gone = db.transaction(() => {
      if (db.prepare('SELECT 1 FROM images WHERE id = ? LIMIT 1').get(b)) return false;
      const leases = db.prepare('SELECT owner FROM blob_leases WHERE digest = ?').all(b) as Array<{ owner: string }>;
      if (leases.some((l) => ownerAlive(l.owner))) return false;
      db.prepare('DELETE FROM blob_leases WHERE digest = ?').run(b);
      content.delete(b);
      return true;
    }).immediate();
    if (gone) removed.push(b);
  }
  return removed;
}

/** The file-system sweep after a crash; then the dead sessions are closed. */
export async function sweepAfterCrash(o: { db: DB; driver: StorageDriver; execRoot: string; content: ContentStore }, deadSessions: string[]): Promise<string[]> {
  const removed: string[] = [];
  if (isCleaner(o.driver)) removed.push(...await o.driver.cleanup());
  removed.push(...sweepBuildScratch(o.execRoot));
  removed.push(...sweepBlobs(o.db, o.content));
  const del = o.db.prepare('DELETE FROM sessions WHERE owner = ?');
  for (const s of deadSessions) del.run(s);
  return removed;
}
