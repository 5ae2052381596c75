// A full disk: the data root sits on a small ext4 filesystem the test makes (a sparse
// image, loop-mounted), which a filler file brings to the edge and then fills. load,
// commit, volume creation and writes into a volume then fail with a clear error (never
// raw errno text), the store stays intact, and once the filler is gone every one of
// those operations works and the store checks clean.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, statfsSync, openSync, closeSync, ftruncateSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { tempDir, requiresRoot, requires, cleanupFirst, mountsUnder } from '../helpers/env.js';
import { stowage, type CliResult } from '../helpers/cli.js';
import { makeRootfs, makeDockerArchive } from '../helpers/images.js';
import { removeExecRoot } from '../helpers/crash.js';
import { findRuntime } from '../../src/runtime/runtime.js';

const MB = 1024 * 1024;

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? ''}${r.stderr}`);
}

function free(path: string): number {
  const s = statfsSync(path);
  return s.bavail * s.bsize;
}

/** Grows the filler until `leave` bytes are free (fallocate: real blocks, instantly). */
function fillTo(filler: string, leave: number): void {
  const grow = free(filler.replace(/\/[^/]+$/, '')) - leave;
  if (grow <= 0) return;
  sh('fallocate', ['-o', String(existingSize(filler)), '-l', String(grow), filler]);
}

function existingSize(p: string): number {
  const r = spawnSync('stat', ['-c', '%s', p], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : 0;
}

/** A clear disk-full error: says so in words, without Node's or the kernel's raw errno text. */
function assertDiskFull(r: CliResult, what: string): void {
  assert.notEqual(r.code, 0, `${what} fails on a full disk`);
  assert.match(r.stderr, /no space left on device|not enough disk space/i, `${what}: says the disk is full: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\bENOSPC\b|SQLITE_FULL|errno/, `${what}: no raw errno text: ${r.stderr}`);
}

describe('a full disk', () => {
  it('load, commit, volume create and volume writes fail clearly; the store stays whole and works once space is freed', { timeout: 10 * 60_000 }, async (t) => {
    if (!requiresRoot(t)) return;
    const tools = ['mkfs.ext4', 'fallocate', 'losetup'].filter((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0);
    if (!requires(t, tools.length === 0, `needs ${tools.join(', ')} (e2fsprogs, util-linux)`)) return;
    let rtWhy = '';
    try { findRuntime(); } catch (err) { rtWhy = (err as Error).message; }
    if (!requires(t, rtWhy === '', `an OCI runtime: ${rtWhy}`)) return;
    const dir = tempDir(t);
    const img = join(dir, 'disk.img');
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    // 256 MB: above apply's 128 MB disk reserve with room for the store and the tests' files.
    const fd = openSync(img, 'w');
    ftruncateSync(fd, 256 * MB);
    closeSync(fd);
    sh('mkfs.ext4', ['-q', '-F', '-m', '0', img]);
    sh('mount', ['-o', 'loop', img, mnt]);
    cleanupFirst(t, () => { for (const m of mountsUnder(mnt).reverse()) spawnSync('umount', [m]); });
    const s = stowage(join(mnt, 'root'), 'overlay2');
    cleanupFirst(t, async () => {
      rmSync(join(mnt, 'filler'), { force: true });
      const ids = (await s.run(['ps', '-aq'])).stdout.trim().split('\n').filter(Boolean);
      if (ids.length) await s.run(['rm', '-f', '-v', ...ids]);
      await s.run(['volume', 'prune', '-a', '-f']);
      removeExecRoot(s.root);
    });

    const base = join(dir, 'base');
    await makeRootfs(base, 'busybox');
    await s.ok(['load', '-i', (await makeDockerArchive(join(dir, 'camp.tar'), { layers: [base], repoTags: ['camp:1'], runConfig: { Cmd: ['/bin/sh'] } })).path]);
    const bigLayer = join(dir, 'big');
    mkdirSync(bigLayer);
    writeFileSync(join(bigLayer, 'blob.bin'), randomBytes(12 * MB));
    const big = await makeDockerArchive(join(dir, 'big.tar'), { layers: [bigLayer], repoTags: ['big:1'] });
    await s.ok(['run', '--name', 'writer', 'camp:1', 'sh', '-c', 'head -c 12000000 /dev/urandom > /big']);
    await s.ok(['volume', 'create', 'vol']);
    // Made now: a container's init layer needs the reserve too; starting it later does not.
    await s.ok(['create', '--name', 'volwriter', '-v', 'vol:/data', 'camp:1', 'sh', '-c', 'head -c 200000000 /dev/zero > /data/f']);
    const filler = join(mnt, 'filler');
    const before = JSON.parse(await s.ok(['images', '--format', '{{json .}}']).then((o) => `[${o.trim().split('\n').join(',')}]`)) as unknown[];

    // Below the 128 MB reserve layer application keeps (archive/apply.ts): load and
    // commit refuse before writing anything.
    fillTo(filler, 120 * MB);
    assertDiskFull(await s.run(['load', '-i', big.path]), 'load');
    assertDiskFull(await s.run(['commit', 'writer', 'committed:1']), 'commit');
    // Intact at the edge: nothing damaged, nothing half-made, the images as they were.
    await s.ok(['volume', 'ls']);
    const during = JSON.parse((await s.run(['system', 'check', '--quick', '--format', 'json'])).stdout) as { issues: unknown[] };
    assert.deepEqual(during.issues, [], 'the failed load and commit left nothing');
    const still = JSON.parse(await s.ok(['images', '--format', '{{json .}}']).then((o) => `[${o.trim().split('\n').join(',')}]`)) as unknown[];
    assert.deepEqual(still, before, 'the images are as they were');
    // The volume fills up the disk from inside a container: the container's write fails.
    const w = await s.run(['start', '-a', 'volwriter']);
    assert.notEqual(w.code, 0, 'writing into a volume beyond the disk fails');
    assert.match(w.stderr, /no space left on device/i, w.stderr);
    assert.doesNotMatch(w.stderr, /\bENOSPC\b|SQLITE_FULL/, w.stderr);
    // Full: nothing left at all. Even opening the database fails, with the same clear words.
    fillTo(filler, 0);
    assertDiskFull(await s.run(['volume', 'create', '-o', 'size=64m', 'quota']), 'volume create size=');
    assertDiskFull(await s.run(['volume', 'create', 'plain']), 'volume create');

    // Space freed: everything that failed now works, and the store checks clean.
    rmSync(filler);
    const [vinfo] = JSON.parse(await s.ok(['volume', 'inspect', 'vol'])) as Array<{ Mountpoint: string }>;
    rmSync(join(vinfo!.Mountpoint, 'f')); // what the container wrote into the volume
    await s.ok(['volume', 'create', 'ok']);
    assert.deepEqual(JSON.parse(await s.ok(['system', 'check', '--quick', '--format', 'json'])).issues, [], 'clean once space is back');
    assert.match(await s.ok(['load', '-i', big.path]), /Loaded image: big:1/);
    await s.ok(['commit', 'writer', 'committed:1']);
    await s.ok(['volume', 'create', '-o', 'size=64m', 'quota']);
    assert.equal((await s.run(['run', '--rm', '-v', 'vol:/data', '-v', 'quota:/q', 'camp:1', 'sh', '-c', 'head -c 4000000 /dev/zero > /data/f && head -c 4000000 /dev/zero > /q/f'])).code, 0);
    assert.match(await s.ok(['system', 'check']), /No problems found/);
  });
});
