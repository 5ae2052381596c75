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

/** Several per-argument failures as one error, Docker's way: one "Error: …" line each; exit 1. */
export function argErrors(messages: string[]): Error {
  return new Error(messages.join('\nError: '));
}

/** Runs fn for each argument, printing what it returns; failures are collected and thrown together at the end. */
export async function forEachArg(names: string[], fn: (n: string) => Promise<string | undefined>): Promise<void> {
  const errors: string[] = [];
  for (const n of names) {
    try {
      const r = await fn(n);
      if (r !== undefined) process.stdout.write(r + '\n');
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  if (errors.length) throw argErrors(errors);
}
