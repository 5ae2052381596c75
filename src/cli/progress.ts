// progress.ts: draws progress events (registry/progress.ts) as the Docker CLI
// does. On a terminal, one line per layer, rewritten in place (cursor up, clear
// line, cursor down); a line without a layer id starts a new block. Not on a
// terminal: one plain line per event, without the byte-counting bars. Quiet:
// nothing.
import type { ProgressEvent } from '../registry/progress.js';

const LAYER_ID = /^[0-9a-f]{12}$/;

export class ProgressRenderer {
  private ids = new Map<string, number>();

  constructor(private readonly out: NodeJS.WritableStream & { isTTY?: boolean }, private readonly mode: 'tty' | 'plain' | 'quiet' = out.isTTY ? 'tty' : 'plain') {}

  readonly on = (e: ProgressEvent): void => {
    if (this.mode === 'quiet' || (e.status === '' && e.aux)) return;
    const tracked = e.id !== undefined && LAYER_ID.test(e.id);
    if (this.mode === 'plain') {
      if (e.progressDetail && e.progress) return; // Docker drops the bars off a terminal
      this.out.write(`${e.id ? `${e.id}: ` : ''}${e.status}\n`);
      return;
    }
    if (!tracked) {
      this.ids.clear();
      this.out.write(`${e.id ? `${e.id}: ` : ''}${e.status}\n`);
      return;
    }
    let line = this.ids.get(e.id!);
    if (line === undefined) {
      line = this.ids.size;
      this.ids.set(e.id!, line);
      this.out.write('\n');
    }
    const up = this.ids.size - line;
    const text = `${e.id}: ${e.status}${e.progress ? ' ' + e.progress : ''}`;
    this.out.write(`\x1b[${up}A\x1b[2K\r${text}\r\x1b[${up}B`);
  };
}
