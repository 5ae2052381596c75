// case.ts: what a benchmark case is, and the runner that times it side by side.
//
// A case times one operation three ways: stowage, Docker, and (optionally) the physical
// floor, the least work any implementation must do (e.g. untar + hash for load). The
// runner calls, for each repetition and each side: prepare (untimed), run (timed), reset
// (untimed, e.g. remove the image again). Medians are reported. Adding a case (create/rm,
// diff, commit …) means writing one object of this shape and listing it in run.ts.
// No console output here.
import type { Dockerd } from '../test/helpers/dockerd.js';
import type { AppImage } from './app-image.js';
import type { StowageCli } from './stowage-cli.js';
import { exec } from './exec.js';

export interface BenchContext {
  image: AppImage;
  /** A private dockerd, or undefined with dockerWhy saying why not. */
  docker?: Dockerd;
  dockerWhy?: string;
  stowage: StowageCli;
  /** A scratch directory for the case (removed after the run). */
  tmp: string;
  signal: AbortSignal;
  /** Seconds a `settle` case waits after a reset before its next timed run (settle.ts); 0: none. */
  settleSeconds: number;
}

/** One side of a case. run() is the timed part; it may return sub-timings in seconds. */
export interface Side {
  /** Why this side cannot run here, or null when it can. Checked once, before repetitions. */
  unavailable?(ctx: BenchContext): Promise<string | null>;
  prepare?(ctx: BenchContext): Promise<void>;
  run(ctx: BenchContext): Promise<Record<string, number> | void>;
  reset?(ctx: BenchContext): Promise<void>;
}

export interface Case {
  name: string;
  /** One line saying what is timed, for the report. */
  what: string;
  setup?(ctx: BenchContext): Promise<void>;
  runStowage: Side;
  runDocker: Side;
  floor?: Side;
  teardown?(ctx: BenchContext): Promise<void>;
  /**
   * The timed run creates many files right after a reset deleted as many: wait
   * ctx.settleSeconds after each reset (and after setup) before timing (settle.ts).
   */
  settle?: boolean;
}

export type SideName = 'stowage' | 'docker' | 'floor';

export interface SideResult {
  /** Median seconds, or null when the side did not run. */
  median: number | null;
  runs: number[];
  /** Median of each sub-timing the side reported. */
  parts?: Record<string, number>;
  skipped?: string;
  error?: string;
}

export interface CaseResult {
  name: string;
  what: string;
  sides: Record<SideName, SideResult>;
  ratios: { stowageOverFloor: number | null; stowageOverDocker: number | null; dockerOverFloor: number | null };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function ratio(a: number | null, b: number | null): number | null {
  return a !== null && b !== null && b > 0 ? a / b : null;
}

/** Runs a case: `reps` timed repetitions per side, interleaved, the first side rotating. */
export async function runCase(c: Case, ctx: BenchContext, reps: number, progress: (msg: string) => void): Promise<CaseResult> {
  const sides: Array<[SideName, Side | undefined]> = [
    ['floor', c.floor],
    ['docker', c.runDocker],
    ['stowage', c.runStowage],
  ];
  const results = {} as Record<SideName, SideResult>;
  const parts = {} as Record<SideName, Record<string, number[]>>;
  for (const [name, side] of sides) {
    results[name] = { median: null, runs: [] };
    parts[name] = {};
    if (!side) results[name].skipped = 'no such measurement for this case';
    else {
      const why = side.unavailable ? await side.unavailable(ctx) : null;
      if (why) results[name].skipped = why;
    }
  }
  await c.setup?.(ctx);
  // When the last deletion ended (setup and resets remove images).
  let deleted = Date.now();
  const settle = async (): Promise<void> => {
    if (!c.settle || ctx.settleSeconds <= 0) return;
    await exec('sync', []);
    const ms = deleted + ctx.settleSeconds * 1000 - Date.now();
    if (ms > 0) await new Promise<void>((r) => setTimeout(r, ms));
  };
  try {
    for (let rep = 1; rep <= reps; rep++) {
      // Rotate which side goes first: the file system carries effects from one run to the
      // next (inode tables and bitmaps warmed by the previous run's deletions, write-back).
      const order = [...sides.slice((rep - 1) % sides.length), ...sides.slice(0, (rep - 1) % sides.length)];
      for (const [name, side] of order) {
        const r = results[name];
        if (!side || r.skipped || r.error) continue;
        ctx.signal.throwIfAborted();
        try {
          await side.prepare?.(ctx);
          await settle();
          const t0 = process.hrtime.bigint();
          const sub = await side.run(ctx);
          const s = Number(process.hrtime.bigint() - t0) / 1e9;
          r.runs.push(s);
          for (const [k, v] of Object.entries(sub ?? {})) (parts[name][k] ??= []).push(v);
          progress(`${c.name} ${name} #${rep}: ${s.toFixed(3)} s`);
          await side.reset?.(ctx);
          deleted = Date.now();
        } catch (e) {
          if (ctx.signal.aborted) throw e;
          // One side failing (stowage under construction, say) must not lose the others.
          r.error = (e as Error).message.split('\n').slice(0, 6).join('\n');
          progress(`${c.name} ${name} #${rep}: FAILED: ${r.error}`);
        }
      }
    }
  } finally {
    await c.teardown?.(ctx);
  }
  for (const [name] of sides) {
    const r = results[name];
    if (r.runs.length && !r.error) {
      r.median = median(r.runs);
      const p = Object.entries(parts[name]);
      if (p.length) r.parts = Object.fromEntries(p.map(([k, v]) => [k, median(v)]));
    }
  }
  const [s, d, f] = [results.stowage.median, results.docker.median, results.floor.median];
  return {
    name: c.name,
    what: c.what,
    sides: results,
    ratios: { stowageOverFloor: ratio(s, f), stowageOverDocker: ratio(s, d), dockerOverFloor: ratio(d, f) },
  };
}
