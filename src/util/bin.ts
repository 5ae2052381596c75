// bin.ts: where the stowage command is, for the helper processes the engine spawns
// (a container's monitor, a detached exec's watcher) from any front end — the CLI,
// the API server, a test — whatever process.argv[1] happens to be.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bin/stowage.js above this module (works from src, dist and the bundle). */
export function stowageBin(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'bin', 'stowage.js');
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  return process.argv[1]!;
}
