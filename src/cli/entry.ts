// entry.ts: how this stowage process was started: from the V8 start-up snapshot
// (bin/stowage: `node --snapshot-blob dist/cli/stowage.blob -- ARGS`) or from the bundle
// (`node dist/cli/main.js ARGS`). Helper processes (the detached monitor) are started
// from the bundle next to the snapshot, which needs no snapshot-specific arguments.
import { dirname, join, resolve } from 'node:path';

/** The snapshot blob this process was started from, or undefined. */
export function snapshotBlob(): string | undefined {
  const a = process.execArgv;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--snapshot-blob' && a[i + 1]) return resolve(a[i + 1]!);
    if (a[i]!.startsWith('--snapshot-blob=')) return resolve(a[i]!.slice('--snapshot-blob='.length));
  }
  return undefined;
}

/** A script that runs this same CLI: `node <entryScript()> ARGS`. */
export function entryScript(): string {
  const blob = snapshotBlob();
  return blob ? join(dirname(blob), 'main.js') : process.argv[1]!;
}
