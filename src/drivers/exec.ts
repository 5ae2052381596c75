// exec.ts: runs the helper programs some drivers are built on (btrfs, zfs,
// fuse-overlayfs) and turns their failures into stowage errors carrying the
// program's own message. Arguments are passed as an array, never through a shell.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { internal, unavailable } from '../errors.js';

export interface ExecResult { stdout: string; stderr: string }

/** Where Debian puts these tools; added to PATH so that a minimal environment still finds them. */
const EXTRA_PATH = '/usr/local/sbin:/usr/sbin:/sbin';

function env(): NodeJS.ProcessEnv {
  const path = process.env.PATH ?? '/usr/bin:/bin';
  return { ...process.env, PATH: `${path}:${EXTRA_PATH}`, LC_ALL: 'C' };
}

function failure(cmd: string, args: readonly string[], code: number | null, stderr: string, op?: string) {
  const what = `${cmd} ${args.join(' ')}`;
  return internal(`${what} failed (exit ${code ?? 'signal'}): ${stderr.trim() || 'no message'}`, { op: op ?? cmd });
}

function missing(cmd: string, err: Error) {
  return unavailable(`cannot run ${cmd}: ${err.message} (is its Debian package installed? see scripts/install-deps.sh)`, { op: cmd, cause: err });
}

/** Runs cmd and resolves with its output; rejects with the program's stderr on a non-zero exit. */
export function run(cmd: string, args: readonly string[], opts: { cwd?: string; op?: string } = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env(), ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    p.stderr.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < 8192) stderr += d; });
    p.on('error', (err) => reject(missing(cmd, err)));
    p.on('close', (code) => {
      if (code === 0) resolve({ stdout, stderr });
      else reject(failure(cmd, args, code, stderr, opts.op));
    });
  });
}

/** Synchronous run, for the interface's synchronous methods (list, changeSource, mounting). */
export function runSync(cmd: string, args: readonly string[], opts: { cwd?: string; op?: string; timeoutMs?: number } = {}): ExecResult {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8', env: env(), stdio: ['ignore', 'pipe', 'pipe'],
    timeout: opts.timeoutMs ?? 60_000, ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
  if (r.error) throw missing(cmd, r.error);
  if (r.status !== 0) throw failure(cmd, args, r.status, r.stderr ?? '', opts.op);
  return { stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Whether cmd can be found on PATH (plus the sbin directories). */
export function haveCommand(cmd: string): boolean {
  for (const d of env().PATH!.split(':')) {
    if (d === '') continue;
    try {
      accessSync(`${d}/${cmd}`, constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}
