// store.ts: container records in the metadata database. The row holds the
// container's config and state as JSON; its writable layer is a foreign key, so
// the layer cannot go while the container exists. Names are unique (a UNIQUE
// column), so two processes creating "web" at once cannot both win.
import type { DB } from '../store/db.js';
import { isUniqueViolation } from '../store/db.js';
import type { ContainerRecord, ContainerState } from './types.js';
import { conflict, notFound, invalidArgument } from '../errors.js';

interface Row { id: string; name: string; driver: string; image_id: string; layer_id: string | null; config: string; state: string; created_at: number }

const NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function validateName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw invalidArgument(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, { name });
  }
  return name.replace(/^\//, '');
}

function toRecord(r: Row): ContainerRecord {
  const c = JSON.parse(r.config) as Omit<ContainerRecord, 'State'>;
  return { ...c, Id: r.id, Name: r.name, Driver: r.driver, Image: r.image_id, LayerId: r.layer_id ?? '', State: JSON.parse(r.state) as ContainerState };
}

export class ContainerStore {
  constructor(private readonly db: DB) {}

  insert(c: ContainerRecord): void {
    const { State, ...rest } = c;
    try {
      this.db.prepare(`INSERT INTO containers (id, name, driver, image_id, layer_id, config, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(c.Id, c.Name, c.Driver, c.Image, c.LayerId, JSON.stringify(rest), JSON.stringify(State), Date.parse(c.Created));
    } catch (err) {
      if (isUniqueViolation(err)) {
        const other = this.db.prepare('SELECT id FROM containers WHERE name = ?').get(c.Name) as { id: string } | undefined;
        throw conflict(`Conflict. The container name "/${c.Name}" is already in use by container "${other?.id ?? '?'}". You have to remove (or rename) that container to be able to reuse that name.`, { name: c.Name });
      }
      throw err;
    }
  }

  get(id: string): ContainerRecord | undefined {
    const r = this.db.prepare('SELECT * FROM containers WHERE id = ?').get(id) as Row | undefined;
    return r ? toRecord(r) : undefined;
  }

  /** Docker's lookup: full id, exact name (with or without "/"), then a unique id prefix. */
  resolve(ref: string): ContainerRecord {
    const name = ref.replace(/^\//, '');
    let r = this.db.prepare('SELECT * FROM containers WHERE id = ? OR name = ?').get(ref, name) as Row | undefined;
    if (!r && /^[a-f0-9]+$/.test(ref)) {
      const rows = this.db.prepare('SELECT * FROM containers WHERE id >= ? AND id < ? LIMIT 2').all(ref, ref + 'g') as Row[];
      if (rows.length > 1) throw conflict(`multiple IDs found with provided prefix: ${ref}`, { name: ref });
      r = rows[0];
    }
    if (!r) throw notFound(`No such container: ${ref}`, { name: ref });
    return toRecord(r);
  }

  all(): ContainerRecord[] {
    return (this.db.prepare('SELECT * FROM containers ORDER BY created_at DESC, rowid DESC').all() as Row[]).map(toRecord);
  }

  /** Read-modify-write of a container's state in one IMMEDIATE transaction. */
  updateState(id: string, fn: (s: ContainerState, c: ContainerRecord) => ContainerState | undefined): ContainerRecord {
    return this.db.transaction(() => {
      const c = this.get(id);
      if (!c) throw notFound(`No such container: ${id}`, { name: id });
      const next = fn(c.State, c);
      if (next) {
        this.db.prepare('UPDATE containers SET state = ? WHERE id = ?').run(JSON.stringify(next), id);
        c.State = next;
      }
      return c;
    }).immediate();
  }

  updateConfig(c: ContainerRecord): void {
    const { State: _s, ...rest } = c;
    this.db.prepare('UPDATE containers SET config = ? WHERE id = ?').run(JSON.stringify(rest), c.Id);
  }

  rename(id: string, newName: string): void {
    try {
      this.db.prepare('UPDATE containers SET name = ? WHERE id = ?').run(newName, id);
    } catch (err) {
      if (isUniqueViolation(err)) {
        const other = this.db.prepare('SELECT id FROM containers WHERE name = ?').get(newName) as { id: string } | undefined;
        throw conflict(`Conflict. The container name "/${newName}" is already in use by container "${other?.id ?? '?'}". You have to remove (or rename) that container to be able to reuse that name.`, { name: newName });
      }
      throw err;
    }
  }

  delete(id: string): boolean {
    return this.db.prepare('DELETE FROM containers WHERE id = ?').run(id).changes > 0;
  }
}
