// events/service.ts: Docker's event stream (`docker events`, GET /events).
//
// There is no daemon to hold events in memory, and the process that makes a change
// (a CLI command, a container's monitor) is rarely the one that serves a subscriber
// (`stowage serve`, another `stowage events`). So events are rows in the metadata
// database: record() appends one, subscribe() replays the stored ones that match
// since/until and then polls for newer rows by their sequence number. The table is
// capped (MAX_EVENTS rows, oldest deleted first), as Docker keeps only the last 256
// in memory for `--since` replay; ours survive a restart of whoever serves them.
//
// Why a poll and not a wake-up: writers are many short-lived processes that may die
// at any instant, and SQLite gives a reader no change notification across processes.
// One indexed SELECT every POLL_MS costs ~20 µs, so a subscriber sees an event within
// POLL_MS with no cooperation from the writer (a fs.watch on the WAL misses writes
// that land in the main file after a checkpoint, and inotify needs a watch per root).
import type { DB } from '../store/db.js';
import { invalidArgument } from '../errors.js';

export type EventType = 'container' | 'image' | 'volume' | 'network' | 'plugin' | 'daemon';

export interface EventInput {
  Type: EventType;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
}

/** Docker's event JSON (API ≥ 1.22 fields plus the deprecated status/id/from). */
export interface DockerEvent {
  status?: string;
  id?: string;
  from?: string;
  Type: EventType;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
}

export interface SubscribeOptions {
  /** Unix seconds (may be fractional): replay stored events from then. */
  since?: number;
  /** Unix seconds: stop after events up to then (and at then, when it is in the future). */
  until?: number;
  filters?: Record<string, string[]>;
  signal?: AbortSignal;
}

export const MAX_EVENTS = 2048;
const POLL_MS = 100;

interface Row { seq: number; time_nano: string; type: string; action: string; actor_id: string; attributes: string }

/** Nanoseconds since the epoch as a bigint (Date has ms; process.hrtime gives the rest). */
function nowNano(): bigint {
  return BigInt(Date.now()) * 1_000_000n + BigInt(Number(process.hrtime.bigint() % 1_000_000n));
}

/** The exact nanoseconds of an event as decimal text (see toDockerEvent). */
export const TIME_NANO_TEXT = Symbol('timeNanoText');

export function toDockerEvent(r: { type: string; action: string; actor_id: string; attributes: string; time_nano: string }): DockerEvent {
  const attrs = JSON.parse(r.attributes) as Record<string, string>;
  const tn = BigInt(r.time_nano);
  const e: DockerEvent = {
    Type: r.type as EventType, Action: r.action, Actor: { ID: r.actor_id, Attributes: attrs },
    scope: 'local', time: Number(tn / 1_000_000_000n), timeNano: Number(tn),
  };
  // The deprecated fields Docker still sends for containers and images.
  const out: DockerEvent = r.type === 'container' || r.type === 'image'
    ? { status: r.action, id: r.actor_id, ...(r.type === 'container' && attrs.image ? { from: attrs.image } : {}), ...e }
    : e;
  // timeNano as a JS number is exact to ~256 ns only; the exact digits ride along,
  // not enumerable, so JSON output is Docker's shape and text output is exact.
  Object.defineProperty(out, TIME_NANO_TEXT, { value: r.time_nano, enumerable: false });
  return out;
}

const FILTER_KEYS = new Set(['container', 'image', 'volume', 'event', 'type', 'label', 'network', 'plugin', 'daemon', 'scope', 'node', 'config', 'secret', 'service']);

/** Checks a filter map as Docker does: unknown keys are an error. */
export function validateEventFilters(f: Record<string, string[]> | undefined): void {
  for (const k of Object.keys(f ?? {})) {
    if (!FILTER_KEYS.has(k)) throw invalidArgument(`invalid filter '${k}'`, { name: k });
  }
  for (const t of f?.type ?? []) {
    if (!['container', 'image', 'volume', 'network', 'plugin', 'daemon', 'service', 'node', 'secret', 'config'].includes(t)) {
      throw invalidArgument(`invalid filter 'type=${t}'`, { name: t });
    }
  }
}

/** Docker's event filter (moby daemon/events/filter.go): every key given must match; values of one key are OR-ed. */
export function matchesEvent(e: DockerEvent, f: Record<string, string[]> | undefined): boolean {
  if (!f) return true;
  const any = (k: string, pred: (v: string) => boolean) => { const vs = f[k]; return !vs || vs.length === 0 || vs.some(pred); };
  const attrs = e.Actor.Attributes;
  // "exec_create: sh -c …" matches event=exec_create.
  const action = e.Action.includes(':') ? e.Action.slice(0, e.Action.indexOf(':')) : e.Action;
  const prefixOf = (id: string, v: string) => v.length > 0 && id.startsWith(v);
  return any('type', (v) => v === e.Type)
    && any('event', (v) => v === e.Action || v === action)
    && any('scope', (v) => v === e.scope)
    && any('container', (v) => e.Type === 'container' && (prefixOf(e.Actor.ID, v) || attrs.name === v))
    && any('image', (v) => (e.Type === 'image' && (e.Actor.ID === v || attrs.name === v || prefixOf(e.Actor.ID.replace(/^sha256:/, ''), v.replace(/^sha256:/, ''))))
      || (e.Type === 'container' && (attrs.image === v || stripTag(attrs.image ?? '') === v)))
    && any('volume', (v) => e.Type === 'volume' && e.Actor.ID === v)
    && any('network', (v) => e.Type === 'network' && (e.Actor.ID === v || attrs.name === v))
    && any('plugin', (v) => e.Type === 'plugin' && (e.Actor.ID === v || attrs.name === v))
    && any('daemon', (v) => e.Type === 'daemon' && (e.Actor.ID === v || attrs.name === v))
    && any('label', (v) => {
      const i = v.indexOf('=');
      return i < 0 ? Object.hasOwn(attrs, v) : attrs[v.slice(0, i)] === v.slice(i + 1);
    });
}

function stripTag(ref: string): string {
  const at = ref.indexOf('@');
  const r = at >= 0 ? ref.slice(0, at) : ref;
  const colon = r.lastIndexOf(':');
  return colon > r.lastIndexOf('/') ? r.slice(0, colon) : r;
}

/**
 * Docker's --since/--until values: Unix seconds (fractional allowed), an RFC 3339
 * date-time (or a date), or a duration before now ("10m", "1h30m", "2.5s").
 */
export function parseEventTime(value: string, now = Date.now()): number {
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const dur = /^((\d+(\.\d+)?)(ns|us|µs|ms|s|m|h))+$/.test(v);
  if (dur) {
    const unit: Record<string, number> = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
    let secs = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) secs += Number(m[1]) * unit[m[2]!]!;
    return (now / 1000) - secs;
  }
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v)) {
    const t = Date.parse(v.length === 10 ? `${v}T00:00:00Z` : v);
    if (!Number.isNaN(t)) return t / 1000;
  }
  throw invalidArgument(`failed to parse value as time or duration: "${value}"`, { name: value });
}

export class EventService {
  private inserts = 0;

  constructor(private readonly db: DB) {}

  /** Appends an event. Never throws: an event that cannot be stored must not fail the change it reports. */
  record(e: EventInput): void {
    try {
      this.db.prepare('INSERT INTO events (time_nano, type, action, actor_id, attributes) VALUES (?, ?, ?, ?, ?)')
        .run(nowNano().toString(), e.Type, e.Action, e.Actor.ID, JSON.stringify(e.Actor.Attributes ?? {}));
      // Trim now and then rather than on every insert: one DELETE per 64 events.
      if (++this.inserts % 64 === 1) {
        this.db.prepare('DELETE FROM events WHERE seq <= (SELECT MAX(seq) FROM events) - ?').run(MAX_EVENTS);
      }
    } catch { /* a busy or read-only store loses the event, not the operation */ }
  }

  /** The newest sequence number (0 when there is none): a cursor for "from now on". */
  cursor(): number {
    const r = this.db.prepare('SELECT MAX(seq) AS m FROM events').get() as { m: number | null };
    return r.m ?? 0;
  }

  /** Stored events after `afterSeq`, oldest first, with their sequence numbers. */
  after(afterSeq: number, limit = 1000): Array<{ seq: number; event: DockerEvent }> {
    const rows = this.db.prepare('SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?').all(afterSeq, limit) as Row[];
    return rows.map((r) => ({ seq: r.seq, event: toDockerEvent(r) }));
  }

  /**
   * Docker's event stream: with `since`, the stored events from then; then (unless
   * `until` has passed) new events as they are recorded, until `until` or the signal.
   */
  async *subscribe(o: SubscribeOptions = {}): AsyncGenerator<DockerEvent> {
    validateEventFilters(o.filters);
    if (o.since !== undefined && o.until !== undefined && o.until < o.since) {
      throw invalidArgument('`since` time cannot be after `until` time');
    }
    const untilNano = o.until !== undefined ? BigInt(Math.round(o.until * 1e9)) : undefined;
    const sinceNano = o.since !== undefined ? BigInt(Math.round(o.since * 1e9)) : undefined;
    // Without since, only what happens from now on.
    let seq = sinceNano === undefined ? this.cursor() : 0;
    const aborted = () => o.signal?.aborted === true;
    for (;;) {
      if (aborted()) return;
      const rows = this.db.prepare('SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT 500').all(seq) as Row[];
      for (const r of rows) {
        seq = r.seq;
        const tn = BigInt(r.time_nano);
        if (sinceNano !== undefined && tn < sinceNano) continue;
        if (untilNano !== undefined && tn > untilNano) return;
        const e = toDockerEvent(r);
        if (matchesEvent(e, o.filters)) yield e;
        if (aborted()) return;
      }
      if (rows.length === 500) continue;
      if (untilNano !== undefined && nowNano() > untilNano) return;
      await sleep(POLL_MS, o.signal);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() { clearTimeout(t); signal?.removeEventListener('abort', done); resolve(); }
    signal?.addEventListener('abort', done, { once: true });
  });
}
