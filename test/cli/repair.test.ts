// `system check` and mounts: a mount under the data root that stowage has no record of
// is reported as a leak and `--repair` unmounts it; a loop device attached to a file
// under the data root and mounted nowhere is reported and detached; a mount whose
// owner was killed (export at a failpoint) is garbage that repair (or the next
// command) releases.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, openSync, ftruncateSync, closeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tempDir, requiresRoot, cleanupFirst, mountsUnder } from '../helpers/env.js';
import { stowage } from '../helpers/cli.js';
import { makeRootfs, makeDockerArchive } from '../helpers/images.js';
import { victim, loopsUnder, removeExecRoot } from '../helpers/crash.js';

interface Report { issues: Array<{ kind: string; what: string; subject: string; message: string; repaired?: boolean }> }

describe('system check and mounts', () => {
  it('reports a leaked mount and a leaked loop device; --repair unmounts and detaches them', async (t) => {
    if (!requiresRoot(t)) return;
    const dir = tempDir(t);
    const s = stowage(join(dir, 'root'), 'overlay2');
    cleanupFirst(t, () => removeExecRoot(s.root));
    await s.ok(['volume', 'create', 'v1']); // makes the data root
    const leak = join(s.root, 'leak');
    mkdirSync(leak);
    assert.equal(spawnSync('mount', ['-t', 'tmpfs', 'none', leak]).status, 0);
    cleanupFirst(t, () => { spawnSync('umount', [leak]); });
    const img = join(s.root, 'leak.img');
    const fd = openSync(img, 'w');
    ftruncateSync(fd, 4 << 20);
    closeSync(fd);
    const lo = spawnSync('losetup', ['-f', '--show', img], { encoding: 'utf8' });
    assert.equal(lo.status, 0, lo.stderr);
    const dev = lo.stdout.trim();
    cleanupFirst(t, () => { spawnSync('losetup', ['-d', dev]); });

    const r = await s.run(['system', 'check', '--format', 'json']);
    assert.equal(r.code, 1, 'leaks are errors');
    const report = JSON.parse(r.stdout) as Report;
    assert.ok(report.issues.some((i) => i.kind === 'error' && i.what === 'mount' && i.subject === leak && /leaked mount/.test(i.message)), JSON.stringify(report.issues));
    assert.ok(report.issues.some((i) => i.kind === 'error' && i.subject === dev && /leaked loop device: attached to .*leak\.img/.test(i.message)), JSON.stringify(report.issues));

    const rep = JSON.parse((await s.run(['system', 'check', '--repair', '--format', 'json'])).stdout) as Report;
    assert.ok(rep.issues.filter((i) => i.kind === 'error').every((i) => i.repaired), JSON.stringify(rep.issues));
    assert.deepEqual(mountsUnder(s.root), []);
    assert.deepEqual(loopsUnder(s.root), []);
    assert.match(await s.ok(['system', 'check']), /No problems found/);
  });

  it("a killed export's mount is garbage with a dead owner: check says so, repair releases it", async (t) => {
    if (!requiresRoot(t)) return;
    const dir = tempDir(t);
    const s = stowage(join(dir, 'root'), 'overlay2');
    cleanupFirst(t, () => removeExecRoot(s.root));
    const base = join(dir, 'base');
    await makeRootfs(base, 'busybox');
    await s.ok(['load', '-i', (await makeDockerArchive(join(dir, 'img.tar'), { layers: [base], repoTags: ['img:1'], runConfig: { Cmd: ['/bin/sh'] } })).path]);
    await s.ok(['create', '--name', 'cx', 'img:1', 'true']);
    const v = await victim(s, ['export', '-o', join(dir, 'out.tar'), 'cx'], { failpoint: 'export:mounted' });
    assert.equal(v.signal, 'SIGKILL', 'killed with the rootfs mounted');
    const merged = mountsUnder(s.root);
    assert.equal(merged.length, 1, 'the export left its mount');
    const report = JSON.parse((await s.run(['system', 'check', '--format', 'json'])).stdout) as Report;
    assert.deepEqual(report.issues.map((i) => [i.kind, i.what, i.subject]), [['garbage', 'mount', merged[0]]]);
    assert.match(report.issues[0]!.message, /rootfs mount of a process that is gone/);
    const rep = JSON.parse((await s.run(['system', 'check', '--repair', '--format', 'json'])).stdout) as Report;
    assert.equal(rep.issues[0]!.repaired, true);
    assert.deepEqual(mountsUnder(s.root), []);
    assert.match(await s.ok(['system', 'check']), /No problems found/);
    await s.ok(['rm', 'cx']);
  });
});
