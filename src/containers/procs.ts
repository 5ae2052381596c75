// procs.ts: `docker top` and `docker stats` (one sample) for a running container.
import type { Engine } from '../engine.js';
import { notImplemented } from '../errors.js';

export async function top(_e: Engine, ref: string, _psArgs?: string): Promise<{ Titles: string[]; Processes: string[][] }> {
  throw notImplemented(`top is not implemented yet (${ref})`);
}
export async function stats(_e: Engine, ref: string): Promise<object> {
  throw notImplemented(`stats is not implemented yet (${ref})`);
}
