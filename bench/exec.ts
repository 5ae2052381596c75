// exec.ts: child processes for the benchmark, timed and cancellable. No console output.
import { spawn } from 'node:child_process';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

export interface ExecOptions {
  signal?: AbortSignal;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Throw when the exit code is not 0 (default true). */
  check?: boolean;
  /** Keep at most this many bytes of stdout (default 1 MiB): `tar -t` can print a lot. */
  maxStdout?: number;
}

/** Runs cmd, timing from spawn to exit with the monotonic clock. */
export function exec(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(new Error('aborted', { cause: opts.signal.reason }));
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const max = opts.maxStdout ?? 1 << 20;
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => {
      if (out.length < max) out += b.toString('utf8');
    });
    child.stderr.on('data', (b: Buffer) => {
      if (err.length < 64 * 1024) err += b.toString('utf8');
    });
    const onAbort = (): void => void child.kill('SIGKILL');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => {
      opts.signal?.removeEventListener('abort', onAbort);
      reject(e);
    });
    child.on('close', (code, sig) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      opts.signal?.removeEventListener('abort', onAbort);
      if (opts.signal?.aborted) return reject(new Error(`${cmd} aborted`, { cause: opts.signal.reason }));
      const res = { code: code ?? 128, stdout: out, stderr: err, seconds };
      if ((opts.check ?? true) && res.code !== 0) {
        return reject(new Error(`${cmd} ${args.join(' ')} exited ${code ?? sig}: ${err.trim().slice(-2000)}`));
      }
      resolve(res);
    });
  });
}

/** Seconds taken by fn, with the monotonic clock. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}
