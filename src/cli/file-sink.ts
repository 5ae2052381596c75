// file-sink.ts: a Writable onto an open file descriptor that writes with synchronous
// calls and gathers small chunks into 1 MiB writes. `save -o` uses it: a write stream
// hands each chunk to the thread pool (on a busy machine the hand-offs cost more than
// the writes), and an image archive arrives as tens of thousands of small pieces
// (tar headers, small files), one write(2) each otherwise.
import { writeSync } from 'node:fs';
import { Writable } from 'node:stream';

const STAGE = 1 << 20;

export function fileSink(fd: number): Writable {
  const stage = Buffer.allocUnsafe(STAGE);
  let used = 0;
  const writeAll = (b: Buffer): void => {
    for (let off = 0; off < b.length;) off += writeSync(fd, b, off);
  };
  const flush = (): void => {
    if (used > 0) writeAll(stage.subarray(0, used));
    used = 0;
  };
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      try {
        if (chunk.length >= STAGE / 2) {
          flush(); // what is staged goes first
          writeAll(chunk);
        } else {
          if (used + chunk.length > STAGE) flush();
          chunk.copy(stage, used);
          used += chunk.length;
        }
        done();
      } catch (err) {
        done(err as Error);
      }
    },
    final(done) {
      try {
        flush();
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
}
