// blob-map.ts: the layer_blobs table (store/db.ts): diffID → compressed blob per
// registry repository, so a push knows what a registry already has.
import type { DB } from '../store/db.js';

export interface BlobRecord { diffId: string; digest: string; mediaType: string; size: number; registry: string; repository: string }

export function rememberBlob(db: DB, r: BlobRecord): void {
  db.prepare(`INSERT OR IGNORE INTO layer_blobs (diff_id, digest, media_type, size, registry, repository) VALUES (?, ?, ?, ?, ?, ?)`)
    .run(r.diffId, r.digest, r.mediaType, r.size, r.registry, r.repository);
}

export function forgetBlob(db: DB, r: Pick<BlobRecord, 'diffId' | 'digest' | 'registry' | 'repository'>): void {
  db.prepare('DELETE FROM layer_blobs WHERE diff_id = ? AND digest = ? AND registry = ? AND repository = ?').run(r.diffId, r.digest, r.registry, r.repository);
}

/** Known blobs of a layer in one registry, this repository's first. */
export function blobsOf(db: DB, diffId: string, registry: string, repository: string): BlobRecord[] {
  const rows = db.prepare(`SELECT diff_id, digest, media_type, size, registry, repository FROM layer_blobs WHERE diff_id = ? AND registry = ?
    ORDER BY repository = ? DESC, rowid DESC`).all(diffId, registry, repository) as Array<{ diff_id: string; digest: string; media_type: string; size: number; registry: string; repository: string }>;
  return rows.map((x) => ({ diffId: x.diff_id, digest: x.digest, mediaType: x.media_type, size: x.size, registry: x.registry, repository: x.repository }));
}
