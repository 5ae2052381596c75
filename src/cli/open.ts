// open.ts: opens the engine for a command, importing it only then (the engine
// pulls in SQLite and the native module; `--help` should not).
import type { Engine } from '../engine.js';
import type { GlobalOptions } from './main.js';

export async function openEngine(g: GlobalOptions): Promise<Engine> {
  const { Engine } = await import('../engine.js');
  return Engine.open({
    ...(g.dataRoot ? { dataRoot: g.dataRoot } : {}),
    ...(g.storageDriver ? { storageDriver: g.storageDriver } : {}),
  });
}

/** Runs fn with an engine, closing it after. */
export async function withEngine<T>(g: GlobalOptions, fn: (e: Engine) => Promise<T> | T): Promise<T> {
  const e = await openEngine(g);
  try {
    return await fn(e);
  } finally {
    e.close();
  }
}

/** Collects repeatable options: --filter a --filter b. */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
