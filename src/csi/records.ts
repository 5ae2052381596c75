// records.ts: the CSI plugin's rows (tables in store/db.ts CSI_SCHEMA). Rows come
// first, with the owner token of the process doing the work, and turn 'ready' when
// the files and mounts exist; removal marks or deletes the row before the files go.
// Recovery (csi/recover.ts) finishes what dead owners left. This module never touches
// files.
import type { DB } from '../store/db.js';
import { CSI_SCHEMA, isUniqueViolation } from '../store/db.js';
import { ownerToken } from '../store/owner.js';

export type AccessType = 'mount' | 'block';

export interface VolumeRow {
  id: string; name: string; volume: string | null; capacity: number; access_type: AccessType;
  parameters: string; source_kind: '' | 'snapshot' | 'volume'; source_id: string;
  state: 'creating' | 'ready'; owner: string | null; created_at: number;
}
export interface SnapshotRow {
  id: string; name: string; source_volume_id: string; access_type: AccessType; size: number;
  state: 'creating' | 'ready'; owner: string | null; created_at: number;
}
export interface NodePathRow {
  kind: 'stage' | 'publish'; path: string; volume_id: string; capability: string; readonly: number;
  device: string | null; staging_path: string | null; state: 'creating' | 'ready' | 'removing'; owner: string | null;
}

export class CsiRecords {
  constructor(readonly db: DB) {
    if (!db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'csi_node_paths'`).get()) db.exec(CSI_SCHEMA);
  }

  // ------------------------------------------------------------ volumes

  volumeById(id: string): VolumeRow | undefined {
    return this.db.prepare('SELECT * FROM csi_volumes WHERE id = ?').get(id) as VolumeRow | undefined;
  }
  volumeByName(name: string): VolumeRow | undefined {
    return this.db.prepare('SELECT * FROM csi_volumes WHERE name = ?').get(name) as VolumeRow | undefined;
  }
  readyVolumes(): VolumeRow[] {
    return this.db.prepare(`SELECT * FROM csi_volumes WHERE state = 'ready' ORDER BY created_at, id`).all() as VolumeRow[];
  }
  allVolumes(): VolumeRow[] {
    return this.db.prepare('SELECT * FROM csi_volumes').all() as VolumeRow[];
  }
  /** Inserts a 'creating' row; false when the name or id is taken. */
  insertVolume(v: Omit<VolumeRow, 'volume' | 'state' | 'owner' | 'created_at'>): boolean {
    try {
      this.db.prepare(`INSERT INTO csi_volumes (id, name, volume, capacity, access_type, parameters, source_kind, source_id, state, owner, created_at)
        VALUES (@id, @name, NULL, @capacity, @access_type, @parameters, @source_kind, @source_id, 'creating', @owner, @now)`)
        .run({ ...v, owner: ownerToken(), now: Date.now() });
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }
  /** The row turns ready; `stowageVolume`: it points at the stowage volume of the same name (local backend). */
  markVolumeReady(id: string, stowageVolume = true): void {
    if (stowageVolume) this.db.prepare(`UPDATE csi_volumes SET state = 'ready', owner = NULL, volume = id WHERE id = ?`).run(id);
    else this.db.prepare(`UPDATE csi_volumes SET state = 'ready', owner = NULL WHERE id = ?`).run(id);
  }
  /** Ready volumes this controller made (not the shared ones a node only learned about to stage them). */
  ownVolumes(): VolumeRow[] {
    return this.db.prepare(`SELECT * FROM csi_volumes WHERE state = 'ready' AND id NOT IN (SELECT id FROM csi_learned_volumes) ORDER BY created_at, id`).all() as VolumeRow[];
  }
  isLearned(id: string): boolean {
    return this.db.prepare('SELECT 1 FROM csi_learned_volumes WHERE id = ?').get(id) !== undefined;
  }
  /**
   * Records a shared volume another node's controller made, so this node can keep node
   * paths on it: a ready row (named by its id) and its csi_learned_volumes mark, in one transaction.
   */
  learnVolume(id: string, parameters: Record<string, string>): VolumeRow {
    this.db.transaction(() => {
      this.db.prepare(`INSERT OR IGNORE INTO csi_volumes (id, name, volume, capacity, access_type, parameters, source_kind, source_id, state, owner, created_at)
        VALUES (?, ?, NULL, 0, 'mount', ?, '', '', 'ready', NULL, ?)`).run(id, id, JSON.stringify(parameters), Date.now());
      this.db.prepare('INSERT OR IGNORE INTO csi_learned_volumes (id) VALUES (?)').run(id);
    }).immediate();
    return this.volumeById(id)!;
  }
  /** Forgets a learned volume once no node path points at it; false when it is not learned or still used. */
  forgetLearned(id: string): boolean {
    return this.db.transaction(() => {
      if (!this.isLearned(id)) return false;
      if (this.db.prepare('SELECT 1 FROM csi_node_paths WHERE volume_id = ?').get(id)) return false;
      this.db.prepare('DELETE FROM csi_volumes WHERE id = ?').run(id);
      return true;
    }).immediate();
  }
  /** A learned row becomes this controller's own volume (CreateVolume of the same name here). */
  adoptLearned(id: string, name: string, capacity: number, parameters: Record<string, string>): void {
    this.db.transaction(() => {
      this.db.prepare('UPDATE csi_volumes SET name = ?, capacity = ?, parameters = ? WHERE id = ?').run(name, capacity, JSON.stringify(parameters), id);
      this.db.prepare('DELETE FROM csi_learned_volumes WHERE id = ?').run(id);
    }).immediate();
  }
  deleteVolume(id: string): void {
    this.db.prepare('DELETE FROM csi_volumes WHERE id = ?').run(id);
  }
  /**
   * New capacity, in the CSI row and in the stowage volume's recorded `size` option
   * (so `volume inspect` shows the size in force), in one transaction.
   */
  setCapacity(id: string, capacity: number, mountVolume: boolean): void {
    this.db.transaction(() => {
      this.db.prepare('UPDATE csi_volumes SET capacity = ? WHERE id = ?').run(capacity, id);
      if (mountVolume) this.db.prepare(`UPDATE volumes SET options = json_set(options, '$.size', ?) WHERE name = ?`).run(String(capacity), id);
    }).immediate();
  }

  // ------------------------------------------------------------ snapshots

  snapshotById(id: string): SnapshotRow | undefined {
    return this.db.prepare('SELECT * FROM csi_snapshots WHERE id = ?').get(id) as SnapshotRow | undefined;
  }
  snapshotByName(name: string): SnapshotRow | undefined {
    return this.db.prepare('SELECT * FROM csi_snapshots WHERE name = ?').get(name) as SnapshotRow | undefined;
  }
  readySnapshots(): SnapshotRow[] {
    return this.db.prepare(`SELECT * FROM csi_snapshots WHERE state = 'ready' ORDER BY created_at, id`).all() as SnapshotRow[];
  }
  allSnapshots(): SnapshotRow[] {
    return this.db.prepare('SELECT * FROM csi_snapshots').all() as SnapshotRow[];
  }
  insertSnapshot(s: Omit<SnapshotRow, 'state' | 'owner' | 'created_at'>): boolean {
    try {
      this.db.prepare(`INSERT INTO csi_snapshots (id, name, source_volume_id, access_type, size, state, owner, created_at)
        VALUES (@id, @name, @source_volume_id, @access_type, @size, 'creating', @owner, @now)`).run({ ...s, owner: ownerToken(), now: Date.now() });
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }
  markSnapshotReady(id: string): void {
    this.db.prepare(`UPDATE csi_snapshots SET state = 'ready', owner = NULL WHERE id = ?`).run(id);
  }
  deleteSnapshot(id: string): void {
    this.db.prepare('DELETE FROM csi_snapshots WHERE id = ?').run(id);
  }

  // ------------------------------------------------------------ node paths

  nodePath(kind: 'stage' | 'publish', path: string): NodePathRow | undefined {
    return this.db.prepare('SELECT * FROM csi_node_paths WHERE kind = ? AND path = ?').get(kind, path) as NodePathRow | undefined;
  }
  nodePathsOf(volumeId: string, kind?: 'stage' | 'publish'): NodePathRow[] {
    if (kind) return this.db.prepare('SELECT * FROM csi_node_paths WHERE volume_id = ? AND kind = ? ORDER BY path').all(volumeId, kind) as NodePathRow[];
    return this.db.prepare('SELECT * FROM csi_node_paths WHERE volume_id = ? ORDER BY kind, path').all(volumeId) as NodePathRow[];
  }
  allNodePaths(): NodePathRow[] {
    return this.db.prepare('SELECT * FROM csi_node_paths').all() as NodePathRow[];
  }
  insertNodePath(r: Omit<NodePathRow, 'state' | 'owner'>): boolean {
    try {
      this.db.prepare(`INSERT INTO csi_node_paths (kind, path, volume_id, capability, readonly, device, staging_path, state, owner)
        VALUES (@kind, @path, @volume_id, @capability, @readonly, @device, @staging_path, 'creating', @owner)`).run({ ...r, owner: ownerToken() });
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }
  setNodePathState(kind: 'stage' | 'publish', path: string, state: 'creating' | 'ready' | 'removing', device?: string | null): void {
    const owner = state === 'ready' ? null : ownerToken();
    if (device !== undefined) this.db.prepare('UPDATE csi_node_paths SET state = ?, owner = ?, device = ? WHERE kind = ? AND path = ?').run(state, owner, device, kind, path);
    else this.db.prepare('UPDATE csi_node_paths SET state = ?, owner = ? WHERE kind = ? AND path = ?').run(state, owner, kind, path);
  }
  deleteNodePath(kind: 'stage' | 'publish', path: string): void {
    this.db.prepare('DELETE FROM csi_node_paths WHERE kind = ? AND path = ?').run(kind, path);
  }
}
