// cli.ts: runs the real `stowage` command (bin/stowage, the installed command: Node from
// stowage's start-up snapshot) against a test's own data root.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** The bundle's entry, for `node BIN …` (servers and special users start it this way). */
export const BIN = join(new URL('../../..', import.meta.url).pathname, 'bin', 'stowage.js');
/** The installed command: a sh wrapper that starts Node from the start-up snapshot. */
export const CMD = join(new URL('../../..', import.meta.url).pathname, 'bin', 'stowage');

export interface CliResult { code: number; stdout: string; stderr: string; stdoutBuf: Buffer }

export interface Stowage {
  root: string;
  driver: string;
  run(args: string[], opts?: { input?: Buffer | string; env?: NodeJS.ProcessEnv }): Promise<CliResult>;
  /** Runs and asserts exit 0, returning stdout. */
  ok(args: string[], opts?: { input?: Buffer | string }): Promise<string>;
  spawn(args: string[]): ChildProcess;
}

export function stowage(root: string, driver: string): Stowage {
  const base = ['--data-root', root, '--storage-driver', driver];
  const s: Stowage = {
    root,
    driver,
    run(args, opts = {}) {
      return new Promise((resolve, reject) => {
        const c = spawn(CMD, [...base, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
        const out: Buffer[] = [];
        let err = '';
        c.stdout.on('data', (b: Buffer) => out.push(b));
        c.stderr.on('data', (b: Buffer) => (err += b.toString()));
        c.on('error', reject);
        c.on('close', (code) => {
          const buf = Buffer.concat(out);
          resolve({ code: code ?? -1, stdout: buf.toString(), stderr: err, stdoutBuf: buf });
        });
        c.stdin.on('error', () => {});
        if (opts.input !== undefined) c.stdin.end(opts.input);
        else c.stdin.end();
      });
    },
    async ok(args, opts = {}) {
      const r = await s.run(args, opts);
      if (r.code !== 0) throw new Error(`stowage ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
      return r.stdout;
    },
    spawn(args) {
      return spawn(CMD, [...base, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    },
  };
  return s;
}
