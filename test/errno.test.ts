// Node's errno text rewritten the way Docker's errors read, table-driven, with the
// real messages Node produces (made here by failing calls, not typed in).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, lstatSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/env.js';
import { plainMessage, errnoPhrase } from '../src/errno.js';
import { messageFor } from '../src/cli/exit.js';
import { failedPrecondition } from '../src/errors.js';

function errorOf(fn: () => unknown): Error {
  try { fn(); } catch (err) { return err as Error; }
  throw new Error('did not throw');
}

describe('errno text', () => {
  it('real fs errors read as "syscall path: phrase"', (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'file'), '');
    const long = join(dir, 'x'.repeat(300));
    const cases = [
      { err: errorOf(() => mkdirSync(long)), expect: `mkdir ${long}: file name too long (at most 255 bytes per name, 4095 per path)` },
      { err: errorOf(() => lstatSync(join(dir, 'nope'))), expect: `lstat ${join(dir, 'nope')}: no such file or directory` },
      { err: errorOf(() => mkdirSync(join(dir, 'file', 'sub'))), expect: `mkdir ${join(dir, 'file', 'sub')}: not a directory` },
      { err: errorOf(() => renameSync(join(dir, 'nope'), join(dir, 'b'))), expect: `rename ${join(dir, 'nope')} to ${join(dir, 'b')}: no such file or directory` },
    ];
    for (const c of cases) {
      assert.match(c.err.message, /^E[A-Z]+: /, 'the input is Node\'s raw form');
      assert.equal(plainMessage(c.err.message), c.expect);
      assert.equal(messageFor(c.err), `Error: ${c.expect}`);
    }
  });

  it('errno text wrapped inside a stowage error is rewritten too; other text is left alone', () => {
    const inner = "ENOENT: no such file or directory, lstat '/var/lib/x'";
    assert.equal(messageFor(failedPrecondition(`copying into volume v: ${inner}`)), 'Error: copying into volume v: lstat /var/lib/x: no such file or directory');
    assert.equal(plainMessage('volume name is too long (256 characters)'), 'volume name is too long (256 characters)');
    assert.equal(plainMessage('spawn mkfs.ext4 ENOENT'), 'mkfs.ext4: executable file not found in $PATH');
    assert.equal(plainMessage('failed to mount local volume v: mount none /d [bind] on /r/_data: ENOENT'), 'failed to mount local volume v: mount none /d [bind] on /r/_data: no such file or directory');
    assert.equal(plainMessage('unexpected EOF; EXAMPLE stays'), 'unexpected EOF; EXAMPLE stays');
    assert.equal(errnoPhrase('EBUSY'), 'device or resource busy (still mounted or in use)');
  });
});
