// Progress of long image operations through the real CLI: `load` and `save -o` draw
// per-layer bars on a terminal (a pty from util-linux's `script`), and print no bars
// off one; `build -` reports how much of the context tar it read.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { tempDir, requiresRoot, requires } from '../helpers/env.js';
import { stowage, CMD } from '../helpers/cli.js';
import { makeRootfs, makeDockerArchive, makeLayerTar, sha256 } from '../helpers/images.js';
import { humanBytes } from '../../src/registry/progress.js';

/** Runs the stowage command on a pseudo-terminal; returns what the terminal showed. */
function onTerminal(root: string, args: string[]): { status: number | null; out: string } {
  const quoted = [CMD, '--data-root', root, '--storage-driver', 'vfs', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('script', ['-qec', quoted, '/dev/null'], { input: '', encoding: 'latin1', timeout: 60_000 });
  return { status: r.status, out: r.stdout };
}

describe('progress of load, save and a context upload', () => {
  it('load and save -o draw layer bars on a terminal and none off it; the saved archive is the same either way', async (t) => {
    if (!requiresRoot(t)) return;
    if (!requires(t, spawnSync('script', ['--version']).status === 0, 'script (util-linux)')) return;
    const dir = tempDir(t);
    const base = join(dir, 'base');
    const top = join(dir, 'top');
    await makeRootfs(base, 'busybox');
    mkdirSync(join(top, 'app'), { recursive: true });
    writeFileSync(join(top, 'app', 'blob'), Buffer.alloc(3 << 20, 7));
    const arch = await makeDockerArchive(join(dir, 'img.tar'), { layers: [base, top], repoTags: ['prog:1'] });
    const root = join(dir, 'root');
    const s = stowage(root, 'vfs');

    const tty = onTerminal(root, ['load', '-i', arch.path]);
    assert.equal(tty.status, 0, tty.out);
    const shorts = arch.diffIds.map((d) => d.replace(/^sha256:/, '').slice(0, 12));
    for (const id of shorts) assert.match(tty.out, new RegExp(`${id}: Loading layer \\[=+>\\]`), tty.out);
    assert.match(tty.out, /Loaded image: prog:1/);

    const ttySave = onTerminal(root, ['save', '-o', join(dir, 'tty.tar'), 'prog:1']);
    assert.equal(ttySave.status, 0, ttySave.out);
    for (const id of shorts) assert.match(ttySave.out, new RegExp(`${id}: Saving layer \\[=+>\\]\\s+[0-9.]+[kM]?B/[0-9.]+[kM]?B`), ttySave.out);

    // Off a terminal: no bars, the same bytes.
    const plain = await s.run(['save', '-o', join(dir, 'plain.tar'), 'prog:1']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, '');
    assert.equal(sha256(readFileSync(join(dir, 'plain.tar'))), sha256(readFileSync(join(dir, 'tty.tar'))));
    await s.ok(['rmi', 'prog:1']);
    const plainLoad = await s.run(['load', '-i', join(dir, 'plain.tar')]);
    assert.equal(plainLoad.code, 0, plainLoad.stderr);
    assert.equal(plainLoad.stdout, 'Loaded image: prog:1\n');
  });

  it('build - says how much of the context tar it read, once off a terminal and before the first step', async (t) => {
    if (!requiresRoot(t)) return;
    const dir = tempDir(t);
    const base = join(dir, 'base');
    await makeRootfs(base, 'busybox');
    const arch = await makeDockerArchive(join(dir, 'base.tar'), { layers: [base], repoTags: ['progbase:1'] });
    const s = stowage(join(dir, 'root'), 'vfs');
    await s.ok(['load', '-i', arch.path]);
    const ctx = join(dir, 'ctx');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM progbase:1\nCOPY data /data\n');
    writeFileSync(join(ctx, 'data'), Buffer.alloc(1 << 20, 1));
    const tar = await makeLayerTar(ctx);
    const r = await s.run(['build', '-t', 'progctx:1', '-'], { input: tar });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    const ctxLines = lines.filter((l) => l.startsWith('Reading build context'));
    assert.deepEqual(ctxLines, [`Reading build context  ${humanBytes(tar.length)}`], r.stdout);
    assert.ok(lines.indexOf(ctxLines[0]!) < lines.findIndex((l) => l.startsWith('Step 1/2 : FROM progbase:1')), r.stdout);
    // -q prints the image ID only.
    const q = await s.run(['build', '-q', '-'], { input: tar });
    assert.equal(q.code, 0, q.stderr);
    assert.match(q.stdout, /^sha256:[0-9a-f]{64}\n$/);
  });
});
