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
