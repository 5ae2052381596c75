// fileSink (save -o): chunks of every size, small ones gathered into larger writes, come
// out in order and complete; a write error reaches the stream.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { tempDir } from '../helpers/env.js';
import { fileSink } from '../../src/cli/file-sink.js';

function end(w: import('node:stream').Writable): Promise<void> {
  return new Promise((resolve, reject) => { w.on('error', () => {}); w.end((err?: Error | null) => (err ? reject(err) : resolve())); });
}

describe('fileSink', () => {
  it('writes small and large chunks in order, whatever their mix', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'out');
    const fd = openSync(file, 'w');
    const chunks: Buffer[] = [];
    // Small pieces around a staged 1 MiB, big pieces (>= 512 KiB) right after small ones,
    // pieces that just overflow the stage: the orders that a naive buffer gets wrong.
    const sizes = [512, 100, 600 * 1024, 3, 1 << 20, 300 * 1024, 300 * 1024, 500 * 1024, 512 * 1024, 1, 2 << 20, 7, 1000 * 1024, 24 * 1024];
    for (let i = 0; i < 300; i++) sizes.push(i * 37 % 5000);
    const w = fileSink(fd);
    for (const n of sizes) {
      const b = randomBytes(n);
      chunks.push(b);
      w.write(b);
    }
    await end(w);
    closeSync(fd);
    assert.ok(readFileSync(file).equals(Buffer.concat(chunks)));
  });

  it('reports a failed write as a stream error', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'ro');
    closeSync(openSync(file, 'w'));
    const fd = openSync(file, 'r'); // writes to a read-only descriptor fail with EBADF
    t.after(() => closeSync(fd));
    const w = fileSink(fd);
    w.write(randomBytes(1 << 20));
    await assert.rejects(end(w), /EBADF/);
  });
});
