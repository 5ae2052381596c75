// logs.ts: Docker's json-file log format, one JSON object per line:
//   {"log":"hello\n","stream":"stdout","time":"2026-11-28T19:40:00.123456789Z"}
// Written by the process that watches the container; read by `logs`.
import { openSync, writeSync, closeSync, readFileSync, existsSync, statSync, createReadStream } from 'node:fs';

export interface LogLine { log: string; stream: 'stdout' | 'stderr'; time: string }

export class LogWriter {
  private fd: number;
  private partial: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };

  constructor(path: string) {
    this.fd = openSync(path, 'a', 0o640);
  }

  /** Splits chunks into lines; a trailing partial line waits for the next chunk or close(). */
  write(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    const text = this.partial[stream] + chunk.toString('utf8');
    const parts = text.split('\n');
    this.partial[stream] = parts.pop() ?? '';
    const time = new Date().toISOString();
    let out = '';
    for (const p of parts) out += JSON.stringify({ log: p + '\n', stream, time }) + '\n';
    if (out) this.append(out);
  }

  /**
   * A log line that cannot be written (a full disk) is dropped: the log is a record,
   * and losing a line must not kill the watcher, which would orphan the container.
   */
  private append(text: string): void {
    try {
      writeSync(this.fd, text);
    } catch {
      this.dropped++;
    }
  }

  /** Lines that could not be written (the disk was full). */
  dropped = 0;

  close(): void {
    const time = new Date().toISOString();
    for (const s of ['stdout', 'stderr'] as const) {
      if (this.partial[s]) this.append(JSON.stringify({ log: this.partial[s], stream: s, time }) + '\n');
      this.partial[s] = '';
    }
    try { closeSync(this.fd); } catch { /* already reported by the writes */ }
  }
}

export function readLog(path: string): LogLine[] {
  if (!existsSync(path)) return [];
  const out: LogLine[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line) continue;
    try { out.push(JSON.parse(line) as LogLine); } catch { /* a torn last line after a crash */ }
  }
  return out;
}

/** Lines appended after byte offset `from`; returns them and the new offset. */
export async function readFrom(path: string, from: number): Promise<{ lines: LogLine[]; offset: number }> {
  if (!existsSync(path)) return { lines: [], offset: from };
  const size = statSync(path).size;
  if (size <= from) return { lines: [], offset: from };
  let text = '';
  for await (const c of createReadStream(path, { start: from, end: size - 1 })) text += (c as Buffer).toString('utf8');
  const lastNl = text.lastIndexOf('\n');
  if (lastNl < 0) return { lines: [], offset: from };
  const lines: LogLine[] = [];
  for (const l of text.slice(0, lastNl).split('\n')) {
    if (!l) continue;
    try { lines.push(JSON.parse(l) as LogLine); } catch { /* skip */ }
  }
  return { lines, offset: from + Buffer.byteLength(text.slice(0, lastNl + 1)) };
}
