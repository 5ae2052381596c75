// procs.ts: `docker top` and `docker stats` (one sample) for a running container.
//
// top: the container's processes are the pids its runtime lists (`ps --format json`,
// read from the container's cgroup by crun and runc alike); `ps` runs on the host with
// the user's arguments (default `-ef`) and its rows are kept for those pids, as
// Docker's daemon does (moby daemon/top_unix.go). Titles are the header's fields; the
// last column (the command) keeps its spaces.
//
// stats: Docker's stats JSON read from the container's cgroup — found through
// /proc/<init pid>/cgroup, so it holds whatever path the runtime chose — on cgroup v1
// (cpuacct, memory, pids, cpu, blkio) or v2 (cpu.stat, memory.*, pids.*). Every field
// Docker sends is present; what the host does not have is zero. precpu_stats comes from
// a first sample PRE_SAMPLE_MS earlier, so the CPU share of one answer means something
// (Docker's stream=false takes two samples a second apart; one-shot has none).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import type { Engine } from '../engine.js';
import type { ContainerRecord } from './types.js';
import { conflict, invalidArgument, internal } from '../errors.js';

const PRE_SAMPLE_MS = 100;
/** /proc/stat counts in USER_HZ, which is 100 on every Linux ABI Node runs on. */
const NS_PER_TICK = 10_000_000;

async function running(engine: Engine, ref: string): Promise<ContainerRecord> {
  await engine.containers.reconcile();
  const c = engine.containerStore.resolve(ref);
  if (!c.State.Running) throw conflict(`Container ${c.Id} is not running`, { name: ref });
  return c;
}

function runPs(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('ps', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (b: Buffer) => { out += b.toString('utf8'); });
    p.stderr.on('data', (b: Buffer) => { err += b.toString('utf8'); });
    p.on('error', (e) => reject(internal(`ps: ${e.message} (procps is needed for top)`, { op: 'top', cause: e })));
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(invalidArgument(`Error running ps: exit status ${code}: ${err.trim()}`, { op: 'top' }))));
  });
}

/** Docker's parsePSOutput: the PID column found by title; the last column keeps its spaces. */
export function parsePs(output: string, pids: Set<number>): { Titles: string[]; Processes: string[][] } {
  const lines = output.split('\n').filter((l) => l.trim() !== '');
  const titles = (lines[0] ?? '').trim().split(/\s+/);
  const pidIndex = titles.indexOf('PID');
  if (pidIndex < 0) throw invalidArgument("Couldn't find PID field in ps output", { op: 'top' });
  const processes: string[][] = [];
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < titles.length) continue;
    const pid = Number(fields[pidIndex]);
    if (!pids.has(pid)) continue;
    processes.push([...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(' ')]);
  }
  return { Titles: titles, Processes: processes };
}

export async function top(engine: Engine, ref: string, psArgs?: string): Promise<{ Titles: string[]; Processes: string[][] }> {
  const c = await running(engine, ref);
  const args = (psArgs === undefined || psArgs.trim() === '' ? '-ef' : psArgs).trim().split(/\s+/);
  const rt = engine.runtime(c.HostConfig.Runtime || undefined);
  const pids = new Set(await rt.pids(c.Id));
  const r = parsePs(await runPs(args), pids);
  engine.events.record({ Type: 'container', Action: 'top', Actor: { ID: c.Id, Attributes: { image: c.ImageRef, name: c.Name } } });
  return r;
}

/** The container's cgroup directories by controller ('' = the v2 unified hierarchy). */
async function cgroupDirs(engine: Engine, c: ContainerRecord): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const st = await engine.runtime(c.HostConfig.Runtime || undefined).state(c.Id).catch(() => null);
  if (!st || !st.pid) return out;
  let text = '';
  try { text = readFileSync(`/proc/${st.pid}/cgroup`, 'utf8'); } catch { return out; }
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, , ctrls, path] = m;
    if (ctrls === '') { out.set('', `/sys/fs/cgroup${path === '/' ? '' : path}`); continue; }
    for (const ctl of ctrls!.split(',')) {
      const mount = ctl.startsWith('name=') ? ctl.slice(5) : ctl;
      // cpu and cpuacct are one hierarchy mounted as cpu,cpuacct (with cpu and cpuacct links).
      out.set(mount, `/sys/fs/cgroup/${mount}${path}`);
    }
  }
  // On a hybrid host the v2 line names the unified mount.
  if (out.has('') && !isV2()) out.set('', out.get('')!.replace('/sys/fs/cgroup', '/sys/fs/cgroup/unified'));
  return out;
}

function isV2(): boolean {
  try { readFileSync('/sys/fs/cgroup/cgroup.controllers'); return true; } catch { return false; }
}

function read(path: string | undefined): string | undefined {
  if (!path) return undefined;
  try { return readFileSync(path, 'utf8'); } catch { return undefined; }
}
function num(path: string | undefined): number {
  const t = read(path)?.trim();
  if (t === undefined || t === '' || t === 'max') return 0;
  const n = Number(t);
  return Number.isFinite(n) ? n : 0;
}
function keyed(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** The host's CPU time in ns (Docker's system_cpu_usage) and the number of online CPUs. */
function systemCpu(): { usage: number; online: number } {
  const text = read('/proc/stat') ?? '';
  const cpuLine = text.split('\n').find((l) => l.startsWith('cpu '));
  const parts = (cpuLine ?? '').trim().split(/\s+/).slice(1, 8).map(Number);
  const online = text.split('\n').filter((l) => /^cpu\d+ /.test(l)).length || cpus().length;
  return { usage: parts.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0) * NS_PER_TICK, online };
}

interface CpuSample {
  cpu_usage: { total_usage: number; percpu_usage?: number[]; usage_in_kernelmode: number; usage_in_usermode: number };
  system_cpu_usage?: number;
  online_cpus?: number;
  throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
}

function cpuSample(dirs: Map<string, string>): CpuSample {
  const sys = systemCpu();
  const v2 = dirs.get('');
  const acct = dirs.get('cpuacct');
  if (acct && read(`${acct}/cpuacct.usage`) !== undefined) {
    const st = keyed(read(`${acct}/cpuacct.stat`));
    const per = (read(`${acct}/cpuacct.usage_percpu`) ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
    const thr = keyed(read(`${dirs.get('cpu') ?? acct}/cpu.stat`));
    return {
      cpu_usage: { total_usage: num(`${acct}/cpuacct.usage`), percpu_usage: per, usage_in_kernelmode: (st.system ?? 0) * NS_PER_TICK, usage_in_usermode: (st.user ?? 0) * NS_PER_TICK },
      system_cpu_usage: sys.usage, online_cpus: sys.online,
      throttling_data: { periods: thr.nr_periods ?? 0, throttled_periods: thr.nr_throttled ?? 0, throttled_time: thr.throttled_time ?? 0 },
    };
  }
  const st = keyed(read(v2 ? `${v2}/cpu.stat` : undefined));
  return {
    cpu_usage: { total_usage: (st.usage_usec ?? 0) * 1000, usage_in_kernelmode: (st.system_usec ?? 0) * 1000, usage_in_usermode: (st.user_usec ?? 0) * 1000 },
    system_cpu_usage: sys.usage, online_cpus: sys.online,
    throttling_data: { periods: st.nr_periods ?? 0, throttled_periods: st.nr_throttled ?? 0, throttled_time: (st.throttled_usec ?? 0) * 1000 },
  };
}

function memoryStats(dirs: Map<string, string>): Record<string, unknown> {
  const mem = dirs.get('memory');
  if (mem && read(`${mem}/memory.usage_in_bytes`) !== undefined) {
    return {
      usage: num(`${mem}/memory.usage_in_bytes`), max_usage: num(`${mem}/memory.max_usage_in_bytes`),
      // Unlimited is a huge number on v1; Docker reports the host's memory then.
      stats: keyed(read(`${mem}/memory.stat`)), limit: Math.min(num(`${mem}/memory.limit_in_bytes`), hostMemory() || Infinity),
    };
  }
  const v2 = dirs.get('');
  if (v2 && read(`${v2}/memory.current`) !== undefined) {
    const max = read(`${v2}/memory.max`)?.trim();
    return { usage: num(`${v2}/memory.current`), stats: keyed(read(`${v2}/memory.stat`)), limit: max === 'max' || max === undefined ? hostMemory() : Number(max) };
  }
  return { usage: 0, max_usage: 0, stats: {}, limit: 0 };
}

function hostMemory(): number {
  const m = /MemTotal:\s+(\d+) kB/.exec(read('/proc/meminfo') ?? '');
  return m ? Number(m[1]) * 1024 : 0;
}

function blkioStats(dirs: Map<string, string>): Record<string, unknown> {
  const blk = dirs.get('blkio');
  const entries = (file: string) => {
    const text = read(blk ? `${blk}/${file}` : undefined);
    if (text === undefined) return null;
    const out: Array<{ major: number; minor: number; op: string; value: number }> = [];
    for (const line of text.split('\n')) {
      const m = /^(\d+):(\d+) (\w+) (\d+)$/.exec(line.trim());
      if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3]!, value: Number(m[4]) });
    }
    return out;
  };
  return {
    io_service_bytes_recursive: entries('blkio.throttle.io_service_bytes_recursive') ?? entries('blkio.throttle.io_service_bytes'),
    io_serviced_recursive: entries('blkio.throttle.io_serviced_recursive') ?? entries('blkio.throttle.io_serviced'),
    io_queue_recursive: null, io_service_time_recursive: null, io_wait_time_recursive: null,
    io_merged_recursive: null, io_time_recursive: null, sectors_recursive: null,
  };
}

function pidsStats(dirs: Map<string, string>): { current?: number; limit?: number } {
  const d = dirs.get('pids') ?? dirs.get('');
  const current = num(d ? `${d}/pids.current` : undefined);
  const limit = num(d ? `${d}/pids.max` : undefined);
  return { current, ...(limit > 0 ? { limit } : {}) };
}

export async function stats(engine: Engine, ref: string): Promise<object> {
  const c = await running(engine, ref);
  const dirs = await cgroupDirs(engine, c);
  const preread = new Date().toISOString();
  const pre = cpuSample(dirs);
  await new Promise((r) => setTimeout(r, PRE_SAMPLE_MS));
  const cpu = cpuSample(dirs);
  return {
    read: new Date().toISOString(),
    preread,
    pids_stats: pidsStats(dirs),
    blkio_stats: blkioStats(dirs),
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpu,
    precpu_stats: pre,
    memory_stats: memoryStats(dirs),
    name: `/${c.Name}`,
    id: c.Id,
  };
}
