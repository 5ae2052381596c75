// commands/streams.ts: `attach`, `events`, `top` and `stats` — the commands built on
// the container's attach socket and the event log (docs/containers.md). Docker's flags,
// output and exit codes.
import type { Command } from 'commander';
import type { GlobalOptions } from '../main.js';
import { withEngine, collect } from '../open.js';
import { compileTemplate, renderTemplate, table } from '../format.js';
import { conflict, invalidArgument } from '../../errors.js';
import { rawTerminal } from '../terminal.js';
import { TIME_NANO_TEXT } from '../../events/service.js';

/** Docker's `--filter name=value` list as a filter map. */
export function parseFilterFlags(list: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const f of list) {
    const i = f.indexOf('=');
    if (i <= 0) throw invalidArgument(`bad format of filter (expected name=value)`, { name: f });
    (out[f.slice(0, i).trim().toLowerCase()] ??= []).push(f.slice(i + 1));
  }
  return out;
}

/** Go's RFC3339Nano with a fixed 9-digit fraction (jsonmessage.RFC3339NanoFixed), local time. */
export function rfc3339NanoFixed(timeNano: number | bigint): string {
  const ns = BigInt(timeNano);
  const ms = Number(ns / 1_000_000n);
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const local = new Date(ms + off * 60_000);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  const tz = off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${String(Math.floor(Math.abs(off) / 60)).padStart(2, '0')}:${String(Math.abs(off) % 60).padStart(2, '0')}`;
  return `${local.toISOString().slice(0, 19)}.${frac}${tz}`;
}

/** One event as `docker events` prints it without --format. */
export function prettyEvent(e: { timeNano: number; Type: string; Action: string; Actor: { ID: string; Attributes: Record<string, string> } }): string {
  const attrs = Object.keys(e.Actor.Attributes).sort().map((k) => `${k}=${e.Actor.Attributes[k]}`);
  const exact = (e as { [TIME_NANO_TEXT]?: string })[TIME_NANO_TEXT];
  return `${rfc3339NanoFixed(exact !== undefined ? BigInt(exact) : e.timeNano)} ${e.Type} ${e.Action} ${e.Actor.ID}${attrs.length ? ` (${attrs.join(', ')})` : ''}\n`;
}

export function registerStreamCommands(program: Command, g: () => GlobalOptions): void {
  const attach = (cmd: Command) => cmd.argument('<CONTAINER>')
    .option('--detach-keys <string>', 'override the key sequence for detaching a container')
    .option('--no-stdin', 'do not attach STDIN')
    .option('--sig-proxy [bool]', 'proxy all received signals to the process (non-TTY mode only)', true)
    .action(async (name: string, f: { detachKeys?: string; stdin?: boolean; sigProxy?: boolean | string }) => withEngine(g(), async (e) => {
      await e.containers.reconcile();
      const c = e.containers.resolve(name);
      if (!c.State.Running) throw conflict('You cannot attach to a stopped container, start it first', { name });
      const withStdin = f.stdin !== false && c.Config.OpenStdin;
      const session = await e.containers.attach(c.Id, {
        stdin: withStdin, stdout: true, stderr: true, stream: true, logs: false,
        ...(f.detachKeys !== undefined ? { detachKeys: f.detachKeys } : {}),
      });
      let restore: (() => void) | undefined;
      let input: NodeJS.ReadableStream | undefined;
      if (withStdin && session.stdin) {
        if (c.Config.Tty && process.stdin.isTTY) {
          const t = await rawTerminal();
          restore = t.restore;
          input = t.stdin;
        } else input = process.stdin;
        input.pipe(session.stdin);
      }
      const resize = () => { void e.containers.resize(c.Id, process.stdout.rows, process.stdout.columns).catch(() => {}); };
      if (c.Config.Tty && process.stdout.isTTY) { resize(); process.stdout.on('resize', resize); }
      const proxy = f.sigProxy !== false && f.sigProxy !== 'false' && !c.Config.Tty;
      const forward = (sig: NodeJS.Signals) => { void e.containers.kill(c.Id, sig).catch(() => {}); };
      if (proxy) { process.on('SIGINT', forward); process.on('SIGTERM', forward); }
      try {
        for await (const chunk of session.output) (chunk.stream === 'stderr' ? process.stderr : process.stdout).write(chunk.data);
      } finally {
        restore?.();
        process.stdout.off('resize', resize);
        process.off('SIGINT', forward);
        process.off('SIGTERM', forward);
        if (input) { input.unpipe(); process.stdin.destroy(); }
      }
      const code = await session.exitCode;
      // null: detached with the detach keys (exit 0, as Docker), or the watcher went away.
      if (code === null) {
        const now = e.containerStore.get(c.Id);
        process.exitCode = now && !now.State.Running ? now.State.ExitCode : 0;
      } else process.exitCode = code;
    }));
  attach(program.command('attach').description("Attach local standard input, output, and error streams to a running container"));

  const events = (cmd: Command) => cmd
    .option('-f, --filter <filter>', 'filter output based on conditions provided', collect)
    .option('--format <string>', 'format output using a Go template')
    .option('--since <string>', 'show all events created since timestamp')
    .option('--until <string>', 'stream events until this timestamp')
    .action(async (f: { filter?: string[]; format?: string; since?: string; until?: string }) => withEngine(g(), async (e) => {
      const { parseEventTime } = await import('../../events/service.js');
      const filters = parseFilterFlags(f.filter ?? []);
      const tpl = f.format ? compileTemplate(f.format) : undefined;
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      process.stdout.on('error', stop); // a closed pipe (| head) ends the stream
      try {
        for await (const ev of e.events.subscribe({
          ...(f.since !== undefined ? { since: parseEventTime(f.since) } : {}),
          ...(f.until !== undefined ? { until: parseEventTime(f.until) } : {}),
          filters, signal: ac.signal,
        })) {
          process.stdout.write(tpl ? renderTemplate(tpl, [ev]) : prettyEvent(ev));
        }
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    }));
  events(program.command('events').description('Get real time events from the server'));

  const top = (cmd: Command) => cmd.argument('<CONTAINER>').argument('[ps OPTIONS...]')
    .allowUnknownOption().passThroughOptions()
    .action(async (name: string, psArgs: string[]) => withEngine(g(), async (e) => {
      const r = await e.containers.top(name, psArgs.length ? psArgs.join(' ') : undefined);
      process.stdout.write(table([r.Titles, ...r.Processes]));
    }));
  top(program.command('top').description('Display the running processes of a container'));

  const stats = (cmd: Command) => cmd.argument('[CONTAINER...]')
    .option('-a, --all', 'show all containers (default shows just running)')
    .option('--no-stream', 'disable streaming stats and only pull the first result')
    .option('--no-trunc', 'do not truncate output')
    .option('--format <string>', 'format output using a Go template')
    .action(async (names: string[], f: { all?: boolean; stream?: boolean; trunc?: boolean; format?: string }) => withEngine(g(), async (e) => {
      await e.containers.reconcile();
      const list = names.length ? names.map((n) => e.containers.resolve(n)) : e.containers.list().filter((c) => f.all || c.State.Running);
      const headers = { Container: 'CONTAINER', ID: 'CONTAINER ID', Name: 'NAME', CPUPerc: 'CPU %', MemUsage: 'MEM USAGE / LIMIT', MemPerc: 'MEM %', NetIO: 'NET I/O', BlockIO: 'BLOCK I/O', PIDs: 'PIDS' };
      const tpl = compileTemplate(f.format ?? 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}', headers);
      for (;;) {
        const rows = [];
        for (const c of list) {
          const s = (c.State.Running ? await e.containers.stats(c.Id).catch(() => undefined) : undefined) as StatsJson | undefined;
          rows.push(statsRow(c.Id, c.Name, s, f.trunc === false));
        }
        process.stdout.write(renderTemplate(tpl, rows));
        if (f.stream === false) return;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }));
  stats(program.command('stats').description('Display a live stream of container(s) resource usage statistics'));

  program.command('__exec', { hidden: true }).argument('<ID>')
    .action(async (id: string) => withEngine(g(), async (e) => {
      const { runHandedOver } = await import('../../containers/exec.js');
      await runHandedOver(e, id);
    }));

  const container = program.commands.find((c) => c.name() === 'container');
  if (container) {
    attach(container.command('attach'));
    top(container.command('top'));
    stats(container.command('stats'));
  }
  const system = program.commands.find((c) => c.name() === 'system');
  if (system) events(system.command('events'));
}

interface StatsJson {
  cpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage: number; online_cpus: number };
  precpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage: number };
  memory_stats: { usage?: number; limit?: number; stats?: Record<string, number> };
  pids_stats: { current?: number };
}

/** A row of `docker stats`: the CPU share between the two samples, memory without page cache. */
function statsRow(id: string, name: string, s: StatsJson | undefined, noTrunc: boolean): Record<string, string> {
  const ID = noTrunc ? id : id.slice(0, 12);
  if (!s) return { Container: ID, ID, Name: name, CPUPerc: '0.00%', MemUsage: '0B / 0B', MemPerc: '0.00%', NetIO: '0B / 0B', BlockIO: '0B / 0B', PIDs: '0' };
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - s.precpu_stats.cpu_usage.total_usage;
  const sysDelta = s.cpu_stats.system_cpu_usage - s.precpu_stats.system_cpu_usage;
  const cpu = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * (s.cpu_stats.online_cpus || 1) * 100 : 0;
  const cache = s.memory_stats.stats?.total_inactive_file ?? s.memory_stats.stats?.inactive_file ?? 0;
  const used = Math.max(0, (s.memory_stats.usage ?? 0) - cache);
  const limit = s.memory_stats.limit ?? 0;
  const b = bytesSize;
  return {
    Container: ID, ID, Name: name, CPUPerc: `${cpu.toFixed(2)}%`, MemUsage: `${b(used)} / ${b(limit)}`,
    MemPerc: `${limit > 0 ? ((used / limit) * 100).toFixed(2) : '0.00'}%`, NetIO: '0B / 0B', BlockIO: '0B / 0B', PIDs: String(s.pids_stats.current ?? 0),
  };
}

/** Docker's units.BytesSize: binary units, 4 significant digits ("1.5MiB", "7.773GiB"). */
export function bytesSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${Number(v.toPrecision(4))}${units[i]}`;
}
