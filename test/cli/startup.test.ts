// The installed command starts Node from stowage's V8 start-up snapshot (bin/stowage,
// dist/cli/stowage.blob); `node bin/stowage.js` and STOWAGE_NO_SNAPSHOT=1 start from the
// bundle. Both must behave the same: output, errors, exit codes, the monitor of a
// detached container (spawned from the bundle next to the snapshot), and the native
// addons found where the program is, not where it was built.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, linkSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, requiresRoot } from '../helpers/env.js';
import { CMD, stowage } from '../helpers/cli.js';
import { makeRootfs, makeDockerArchive } from '../helpers/images.js';

const repo = join(CMD, '..', '..');

interface Out { code: number; stdout: string; stderr: string }

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Out> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    c.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** The same command from the snapshot and from the bundle. */
async function both(args: string[]): Promise<[Out, Out]> {
  return [await run(CMD, args), await run(CMD, args, { STOWAGE_NO_SNAPSHOT: '1' })];
}

describe('start-up snapshot', () => {
  it('is built next to the bundle and newer than node, so bin/stowage uses it', () => {
    const blob = join(repo, 'dist', 'cli', 'stowage.blob');
    assert.ok(existsSync(blob), `${blob} is built by scripts/build.mjs`);
    assert.ok(statSync(blob).mtimeMs > statSync(process.execPath).mtimeMs);
  });

  it('answers --version, --help, usage errors and unknown commands as the bundle does', async () => {
    for (const args of [['--version'], ['version'], ['--help'], ['volume', '--help'], ['no-such-command'], ['images', '--no-such-flag'], ['-v']]) {
      const [snap, bundle] = await both(args);
      assert.deepEqual(snap, bundle, `stowage ${args.join(' ')}`);
    }
    const [bad] = await both(['no-such-command']);
    assert.equal(bad.code, 125);
  });

  it('runs commands against a data root with the same output and exit codes as the bundle', async (t) => {
    if (!requiresRoot(t)) return;
    const dir = tempDir(t);
    const root = join(dir, 'root');
    const rootfs = join(dir, 'rootfs');
    await makeRootfs(rootfs, 'busybox');
    const archive = await makeDockerArchive(join(dir, 'img.tar'), { layers: [rootfs], repoTags: ['snap:1'] });
    const s = stowage(root, 'vfs');
    await s.ok(['load', '-i', archive.path]);
    await s.ok(['volume', 'create', 'snapvol']);
    const base = ['--data-root', root, '--storage-driver', 'vfs'];
    for (const args of [['images', '--format', '{{.ID}} {{.Repository}}'], ['volume', 'ls'], ['info', '--format', '{{.Driver}} {{.KernelVersion}} {{.NCPU}} {{.MemTotal}} {{.DriverStatus}}'], ['system', 'df'], ['ps', '-a', '--format', '{{.Names}}'], ['image', 'inspect', 'nope'], ['rmi', 'nope']]) {
      const [snap, bundle] = await both([...base, ...args]);
      assert.deepEqual(snap, bundle, `stowage ${args.join(' ')}`);
    }
    // A container's exit code comes through the snapshot, and a detached one's monitor
    // (started from the bundle next to the blob) records its exit.
    const fg = await run(CMD, [...base, 'run', '--rm', '--network', 'none', 'snap:1', 'sh', '-c', 'echo out; exit 7']);
    assert.equal(fg.code, 7);
    assert.equal(fg.stdout, 'out\n');
    const id = (await s.ok(['run', '-d', '--network', 'none', 'snap:1', 'sh', '-c', 'exit 5'])).trim();
    assert.equal((await s.ok(['wait', id])).trim(), '5');
    await s.ok(['rm', id]);
  });

  it('finds its native addons where the program is, not where it was built', async (t) => {
    if (!requiresRoot(t)) return;
    const dir = tempDir(t);
    // A copy of the program elsewhere (node_modules linked, not copied): the snapshot in
    // the copy must load the copy's SQLite addon and sys.c addon.
    const copy = join(dir, 'copy');
    mkdirSync(copy);
    for (const d of ['bin', 'dist/cli', 'build']) cpSync(join(repo, d), join(copy, d), { recursive: true, preserveTimestamps: true });
    cpSync(join(repo, 'package.json'), join(copy, 'package.json'));
    const args = ['--data-root', join(dir, 'root'), '--storage-driver', 'vfs', 'volume', 'create', 'v1'];
    // Without an addon in the copy, the build's own (still in place) must not be found.
    const without = await run(join(copy, 'bin', 'stowage'), args);
    assert.notEqual(without.code, 0, 'the snapshot looked for SQLite where it was built');
    const nm = join(repo, 'node_modules', 'better-sqlite3', 'build', 'Release');
    mkdirSync(join(copy, 'node_modules', 'better-sqlite3', 'build', 'Release'), { recursive: true });
    linkSync(join(nm, 'better_sqlite3.node'), join(copy, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'));
    const r = await run(join(copy, 'bin', 'stowage'), args);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'v1\n');
    assert.ok(existsSync(join(dir, 'root', 'stowage.db')));
  });
});
