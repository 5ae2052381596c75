// stowage-cli.ts: runs the stowage CLI the way a user does (`node bin/stowage.js …`, node
// start-up included) against a private data root. No console output.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { exec, type ExecResult } from './exec.js';
import { mountsUnder } from '../test/helpers/env.js';

export class StowageCli {
  readonly bin: string;
  readonly dataRoot: string;

  constructor(
    repoRoot: string,
    scratch: string,
    readonly storageDriver = 'overlay2',
  ) {
    // The installed command (a sh wrapper that starts Node without NODE_EXTRA_CA_CERTS), as users run it.
    this.bin = join(repoRoot, 'bin/stowage');
    this.dataRoot = mkdtempSync(join(scratch, 'stowage-data-'));
  }

  run(args: string[], signal?: AbortSignal, check = true): Promise<ExecResult> {
    return exec(this.bin, ['--data-root', this.dataRoot, '--storage-driver', this.storageDriver, ...args], { signal, check });
  }

  /** Why `stowage <command>` cannot run yet, or null when it can. */
  async unavailable(command: string): Promise<string | null> {
    if (!existsSync(this.bin)) return `stowage ${command} not available yet (no ${this.bin})`;
    const r = await exec(this.bin, [command, '--help'], { check: false });
    if (r.code !== 0) return `stowage ${command} not available yet (\`stowage ${command} --help\` exited ${r.code}: ${(r.stderr || r.stdout).trim().split('\n')[0] ?? ''})`;
    return null;
  }

  /** Unmounts anything left under the data root and starts again from an empty one. */
  wipe(): void {
    for (const m of mountsUnder(this.dataRoot).sort((a, b) => b.length - a.length)) {
      if (spawnSync('umount', [m]).status !== 0) spawnSync('umount', ['-l', m]);
    }
    rmSync(this.dataRoot, { recursive: true, force: true });
  }

  /** wipe() and recreate the empty data root. */
  reset(): void {
    this.wipe();
    mkdirSync(this.dataRoot, { recursive: true });
  }
}
