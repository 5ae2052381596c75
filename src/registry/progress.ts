// progress.ts: progress events of long image operations (pull, push, load, save),
// in the shape of Docker's JSON messages ({status, id, progressDetail, progress}),
// so the CLI can draw them as Docker does and the Engine API can forward them
// unchanged as JSON lines. The engine only emits; front ends render.

export interface ProgressEvent {
  status: string;
  /** A layer's short id (12 hex) or a tag; absent for whole-operation lines. */
  id?: string;
  progressDetail?: { current?: number; total?: number };
  /** Docker's pre-rendered bar ("[==>   ]  1.2MB/3.4MB"), for clients that print it. */
  progress?: string;
  /** Extra data (push's {Tag, Digest, Size}). */
  aux?: Record<string, unknown>;
}

export type OnProgress = (e: ProgressEvent) => void;

/** Docker's byte units (go-units HumanSize: decimal, 3 significant digits). */
export function humanBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${Number(v.toPrecision(3))}${units[i]}`;
}

/** Docker's progress bar: 50 columns, "=" done, ">" head. */
export function progressBar(current: number, total: number): string {
  if (!(total > 0)) return `${humanBytes(current)}`;
  const width = 50;
  const filled = Math.min(width, Math.floor((current / total) * width));
  const bar = '='.repeat(Math.max(0, filled - 1)) + (filled > 0 ? '>' : '') + ' '.repeat(width - filled);
  return `[${bar}] ${humanBytes(current).padStart(7)}/${humanBytes(total)}`;
}

/** An event with a byte counter, throttled by the caller. */
export function bytesEvent(status: string, id: string, current: number, total: number): ProgressEvent {
  return { status, id, progressDetail: { current, total }, progress: progressBar(current, total) };
}

/** Calls fn at most every `ms`, plus always for the final call (force). */
export function throttle(ms: number): (force?: boolean) => boolean {
  let last = 0;
  return (force = false) => {
    const now = Date.now();
    if (!force && now - last < ms) return false;
    last = now;
    return true;
  };
}

/** Passes a layer's bytes through, emitting `status` progress for them (load's "Loading layer", save's "Saving layer"). */
export async function* countedBytes(src: AsyncIterable<Buffer>, status: string, id: string, total: number, onProgress: OnProgress): AsyncGenerator<Buffer> {
  let n = 0;
  const tick = throttle(100);
  for await (const c of src) {
    n += c.length;
    if (tick()) onProgress(bytesEvent(status, id, n, total));
    yield c;
  }
  onProgress(bytesEvent(status, id, n, total));
}
