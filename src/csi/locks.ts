// locks.ts: one operation at a time per volume, snapshot or name. The spec wants
// ABORTED ("operation pending for volume") when a second call arrives while one
// runs, not a queue: the CO retries with back-off. Keys are held for the whole
// call, including the programs it waits for; several keys are taken all or none.
import { aborted } from './status.js';

export class OpLocks {
  private held = new Set<string>();

  async with<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    const busy = keys.find((k) => this.held.has(k));
    if (busy !== undefined) throw aborted(`an operation on ${busy} is already in progress; retry later`);
    for (const k of keys) this.held.add(k);
    try {
      return await fn();
    } finally {
      for (const k of keys) this.held.delete(k);
    }
  }

  get size(): number { return this.held.size; }
}
