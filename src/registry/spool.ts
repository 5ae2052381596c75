// spool.ts: a blob being downloaded, readable while it is written. The download
// appends to a file in the data root's tmp/ (named with this process's owner
// token, so a crash leaves a file the next command's recovery removes); readers
// follow it from the start and wait at the end for more. This lets three layers
// download at once while the layer store applies them one after the other, each
// starting as soon as its parent is applied, with memory bounded by one read
// buffer per reader instead of whole blobs.
import { open, rm, type FileHandle } from 'node:fs/promises';

const READ_SIZE = 1 << 20;

export class Spool {
  private written = 0;
  private done = false;
  private error: unknown;
  private waiters: Array<() => void> = [];
  private closed = false;

  private constructor(readonly path: string, private readonly fh: FileHandle) {}

  static async create(path: string): Promise<Spool> {
    return new Spool(path, await open(path, 'wx+', 0o600));
  }

  get size(): number { return this.written; }
  get finished(): boolean { return this.done; }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  async write(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      const { bytesWritten } = await this.fh.write(chunk, off, chunk.length - off, this.written);
      off += bytesWritten;
      this.written += bytesWritten;
    }
    this.wake();
  }

  /**
   * Ordered writes that do not wait for each other: chunks pushed while a write is
   * in flight go out together in the next one (one writev). onError gets the first
   * failure; onWritten runs after each write.
   */
  queue(onError: (e: unknown) => void, onWritten: () => void): { push(c: Buffer): void; readonly pending: number } {
    const waiting: Buffer[] = [];
    let pending = 0;
    const run = async () => {
      while (waiting.length > 0) {
        const batch = waiting.splice(0, waiting.length);
        const n = batch.reduce((a, b) => a + b.length, 0);
        await this.writev(batch);
        pending -= n;
        onWritten();
      }
    };
    const self = this;
    return {
      push(c: Buffer) {
        waiting.push(c);
        pending += c.length;
        if (waiting.length === 1 && !self.busy) {
          self.busy = true;
          self.tail = run().catch(onError).finally(() => { self.busy = false; });
        }
      },
      get pending() { return pending; },
    };
  }

  private busy = false;
  private tail: Promise<void> = Promise.resolve();

  /** Waits for queued writes. */
  async flushed(): Promise<void> {
    while (this.busy) await this.tail;
  }

  private async writev(bufs: Buffer[]): Promise<void> {
    const { bytesWritten } = await this.fh.writev(bufs, this.written);
    const total = bufs.reduce((a, b) => a + b.length, 0);
    this.written += bytesWritten;
    if (bytesWritten < total) {
      // A short writev: the rest one buffer at a time.
      let skip = bytesWritten;
      for (const b of bufs) {
        if (skip >= b.length) { skip -= b.length; continue; }
        await this.write(b.subarray(skip));
        skip = 0;
      }
    }
    this.wake();
  }

  finish(): void { this.done = true; this.wake(); }
  fail(err: unknown): void { if (this.done) return; this.error = err; this.done = true; this.wake(); }

  /** Everything written, from the start, as it arrives; throws the download's error. */
  async *reader(onRead?: (n: number) => void): AsyncGenerator<Buffer> {
    let pos = 0;
    for (;;) {
      if (this.error !== undefined) throw this.error;
      if (pos < this.written) {
        const buf = Buffer.allocUnsafe(Math.min(READ_SIZE, this.written - pos));
        const { bytesRead } = await this.fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) throw new Error(`spool ${this.path}: short read`);
        pos += bytesRead;
        onRead?.(bytesRead);
        yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
        continue;
      }
      if (this.done) {
        if (this.error !== undefined) throw this.error;
        return;
      }
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fail(new Error('download closed'));
    await this.fh.close().catch(() => {});
    await rm(this.path, { force: true });
  }
}
