// run.ts: the benchmark front end (`npm run bench`). The only file in bench/ that prints.
//
//   node dist/bench/run.js [--reps N] [--case NAME]... [--no-docker] [--storage-driver D] [--settle SECONDS] [--warm]
//   --fs ext4: both engines' data roots on a fresh loop-mounted ext4 with a journal (mkfs.ext4's
//           defaults), made here and removed after; see bench/settle.ts for why that matters.
//   --warm: stowage commands run through `stowage warm` (started here, on a private socket),
//           as docker commands run through an already running dockerd; without it every
//           stowage command starts Node itself (STOWAGE_NO_WARM=1).
//   STOWAGE_BENCH_CACHE=/var/tmp/stowage-bench  where the image is built and cached
//   STOWAGE_BENCH_SYNTHETIC=1                   skip debootstrap, use the synthetic base
//
// Prints a table, writes bench-results.json in the current directory, and prints a
// markdown section for docs/benchmarks.md. Every daemon is stopped and everything
// unmounted on the way out: normal end, failure, Ctrl-C (SIGINT) or SIGTERM.
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, release } from 'node:os';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { launchDockerd, dockerMissing, type Dockerd } from '../test/helpers/dockerd.js';
import { mountsUnder } from '../test/helpers/env.js';
import { appImage, benchCacheDir } from './app-image.js';
import { runCase, type Case, type CaseResult } from './case.js';
import { settleFor } from './settle.js';
import { StowageCli } from './stowage-cli.js';
import { consoleTable, markdown, imageLine, type BenchReport } from './report.js';
import { loadCase } from './cases/load.js';
import { volumeCases } from './cases/volumes.js';
import { containerCases } from './cases/containers.js';
import { buildCases } from './cases/build.js';
import { apiCases } from './cases/api.js';
import { pullCase, pushCase } from './cases/registry.js';
import { smallCases } from './cases/small.js';

/** Every case the bench knows, in the order they run. Add new ones here. */
const CASES: Case[] = [loadCase, ...containerCases, ...volumeCases, ...smallCases, ...buildCases, ...apiCases, pullCase, pushCase];

const repoRoot = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const log = (msg: string): void => console.error(`[bench] ${msg}`);

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      reps: { type: 'string', default: process.env.STOWAGE_BENCH_REPS ?? '3' },
      case: { type: 'string', multiple: true },
      'no-docker': { type: 'boolean', default: false },
      'storage-driver': { type: 'string', default: 'overlay2' },
      json: { type: 'string', default: 'bench-results.json' },
      settle: { type: 'string' },
      warm: { type: 'boolean', default: false },
      fs: { type: 'string' },
    },
  });
  const reps = Number(values.reps);
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps must be a positive integer, not ${values.reps}`);
  const settleOverride = values.settle === undefined ? undefined : Number(values.settle);
  if (settleOverride !== undefined && !(Number.isFinite(settleOverride) && settleOverride >= 0)) throw new Error(`--settle must be a number of seconds, not ${values.settle}`);
  const cases = values.case?.length ? CASES.filter((c) => values.case!.includes(c.name)) : CASES;
  if (cases.length === 0) throw new Error(`no such case; known: ${CASES.map((c) => c.name).join(', ')}`);

  const t0 = Date.now();
  const abort = new AbortController();
  const cleanups: Array<() => Promise<void> | void> = [];
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      for (const fn of cleanups.reverse()) {
        try {
          await fn();
        } catch (e) {
          log(`cleanup: ${(e as Error).message}`);
        }
      }
    })());
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interrupted) return; // a second Ctrl-C while cleaning up: keep cleaning
    interrupted = true;
    log(`${sig}: stopping daemons and cleaning up…`);
    abort.abort(new Error(sig));
    void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    log(`cache: ${benchCacheDir()}`);
    const tImg = Date.now();
    const image = await appImage(log, abort.signal);
    const imageSeconds = (Date.now() - tImg) / 1000;
    log(image.cached ? `image from cache (${imageSeconds.toFixed(1)} s)` : `image built in ${imageSeconds.toFixed(1)} s`);
    if (image.rootfs === 'synthetic') log(`NOTE: the base layer is SYNTHETIC, not Debian: ${image.rootfsNote ?? ''}`);
    log(imageLine({ ...image }));

    const scratch = mkdtempSync(join(benchCacheDir(), 'run-'));
    cleanups.push(() => {
      for (const m of mountsUnder(scratch).sort((a, b) => b.length - a.length)) {
        if (spawnSync('umount', [m]).status !== 0) spawnSync('umount', ['-l', m]);
      }
      rmSync(scratch, { recursive: true, force: true });
    });

    if (values.fs !== undefined && values.fs !== 'ext4') throw new Error(`--fs takes only ext4, not ${values.fs}`);
    const dataScratch = values.fs === 'ext4' ? loopFilesystem(scratch, 'ext4') : scratch;
    if (values.fs) log(`data roots on a loop-mounted ext4 (with a journal) at ${dataScratch}`);
    let docker: Dockerd | undefined;
    let dockerWhy: string | undefined = values['no-docker'] ? '--no-docker given' : (dockerMissing() ?? undefined);
    if (!dockerWhy) {
      log('starting a private dockerd');
      try {
        docker = await launchDockerd({ dataParent: dataScratch });
        const d = docker;
        cleanups.push(() => d.stop());
      } catch (e) {
        dockerWhy = (e as Error).message.split('\n')[0];
        log(`dockerd did not start: ${(e as Error).message}`);
      }
    }
    const dockerVersion = docker ? (await docker.docker(['version', '--format', '{{.Server.Version}}'])).stdout.toString().trim() : null;

    // btrfs needs its data root on btrfs: a loop-mounted image made here (unmounted and
    // detached on the way out with the rest of scratch's mounts).
    let stowageScratch = dataScratch;
    if (values['storage-driver'] === 'btrfs') {
      stowageScratch = loopFilesystem(dataScratch, 'btrfs');
      log(`stowage data root on a loop-mounted btrfs at ${stowageScratch}`);
    }
    const stowage = new StowageCli(repoRoot, stowageScratch, values['storage-driver']);
    cleanups.push(() => stowage.wipe());
    let cli = 'cold: every stowage command starts Node (STOWAGE_NO_WARM=1)';
    if (values.warm) {
      const socket = join(scratch, 'warm.sock');
      const w = spawn(stowage.bin, ['warm', '--socket', socket, '--processes', '2'], { stdio: ['ignore', 'ignore', 'pipe'] });
      cleanups.push(async () => {
        if (w.exitCode === null && w.signalCode === null) {
          const gone = new Promise((r) => w.once('exit', r));
          w.kill('SIGTERM');
          await gone;
        }
      });
      await waitForSocket(socket, w);
      process.env.STOWAGE_WARM_SOCKET = socket;
      delete process.env.STOWAGE_NO_WARM;
      cli = 'warm: stowage commands run through `stowage warm` (2 waiting processes), as docker commands through a running dockerd';
      log(`stowage warm on ${socket}`);
    } else {
      process.env.STOWAGE_NO_WARM = '1';
    }

    const settle = settleFor(dataScratch, settleOverride);
    const results: CaseResult[] = [];
    for (const c of cases) {
      const tmp = mkdtempSync(join(dataScratch, `${c.name}-`));
      log(`case ${c.name}: ${reps} repetition(s)`);
      if (c.settle && settle.seconds > 0) log(`case ${c.name}: waiting ${settle.seconds} s after each reset (${settle.why})`);
      results.push(await runCase(c, { image, docker, dockerWhy, stowage, tmp, signal: abort.signal, settleSeconds: settle.seconds }, reps, log));
    }

    const fs = spawnSync('findmnt', ['-no', 'FSTYPE', '-T', dataScratch], { encoding: 'utf8' }).stdout.trim();
    const report: BenchReport = {
      env: {
        date: new Date().toISOString(),
        kernel: release(),
        cpus: `${cpus().length} x ${cpus()[0]?.model.trim() ?? 'cpu'}`,
        node: process.version,
        docker: dockerVersion,
        filesystem: fs ? `${fs} backing filesystem${values.fs ? ' (a fresh loop-mounted ext4 with a journal, --fs ext4)' : ''}` : 'unknown filesystem',
        cli,
        settle: settle.seconds > 0 ? `load and pull wait ${settle.seconds} s after each reset (${settle.why})` : `no wait after resets (${settle.why})`,
        repetitions: reps,
        command: `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
      },
      image: { ...image, buildSeconds: image.buildSeconds, cached: image.cached },
      cases: results,
      totalSeconds: (Date.now() - t0) / 1000,
    };
    await cleanup();
    report.totalSeconds = (Date.now() - t0) / 1000;
    writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n');

    console.log(consoleTable(results));
    console.log(`\nimage ${image.cached ? 'from cache' : 'built'} in ${imageSeconds.toFixed(1)} s; whole bench ${report.totalSeconds.toFixed(1)} s; results in ${values.json}\n`);
    console.log('--- for docs/benchmarks.md ---\n');
    console.log(markdown(report));
    return results.some((r) => Object.values(r.sides).some((s) => s.error)) ? 1 : 0;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`[bench] failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exit(1);
  },
);

/**
 * A fresh filesystem of `type` on a sparse image under dir, loop-mounted (mount(8) sets
 * autoclear: unmounting with scratch's mounts detaches the loop device): ext4 with a
 * journal for --fs ext4 (32 GiB), btrfs for the btrfs driver's data root (8 GiB).
 */
function loopFilesystem(dir: string, type: 'ext4' | 'btrfs'): string {
  const img = join(dir, `${type}.img`);
  const mnt = join(dir, type);
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.trim()}`);
  };
  run('truncate', ['-s', type === 'ext4' ? '32G' : '8G', img]);
  run(`mkfs.${type}`, type === 'ext4' ? ['-q', '-F', img] : ['-q', img]);
  mkdirSync(mnt, { recursive: true });
  run('mount', ['-o', 'loop', img, mnt]);
  return mnt;
}

/** Waits for `stowage warm` to listen (its socket appears), or fails when it exits first. */
async function waitForSocket(path: string, child: ChildProcess): Promise<void> {
  let err = '';
  child.stderr?.on('data', (b: Buffer) => { err += b.toString(); });
  for (let i = 0; i < 200; i++) {
    if (existsSync(path)) return;
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`stowage warm did not start: ${err.trim()}`);
}
