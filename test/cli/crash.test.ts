// Crash safety: stowage kills itself with SIGKILL at failpoints (STOWAGE_FAILPOINT)
// during `load` and `rmi`, so each kill provably lands inside the operation. Whatever the instant, `system check` finds no damage (only garbage that
// recovery removes), nothing stays mounted, and the next changing command
// recovers the store to "No problems found".
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { tempDir, requiresRoot, mountsUnder } from '../helpers/env.js';
import { stowage, type Stowage } from '../helpers/cli.js';
import { makeRootfs, makeDockerArchive } from '../helpers/images.js';
import { victim } from '../helpers/crash.js';

async function bigArchive(dir: string) {
  const layers: string[] = [];
  const base = join(dir, 'l0');
  await makeRootfs(base, 'busybox');
  layers.push(base);
  for (let i = 1; i <= 4; i++) {
    const d = join(dir, `l${i}`);
    for (let j = 0; j < 300; j++) {
      mkdirSync(join(d, `dep${i}`, `m${j % 30}`), { recursive: true });
      writeFileSync(join(d, `dep${i}`, `m${j % 30}`, `f${j}.js`), randomBytes(2000 + (j % 7) * 1000));
    }
  }
  for (let i = 1; i <= 4; i++) layers.push(join(dir, `l${i}`));
  return makeDockerArchive(join(dir, 'big.tar'), { layers, repoTags: ['big:1'] });
}

/** Runs `stowage ARGS` armed to SIGKILL itself at a failpoint; asserts it died there (the kill landed inside the operation). */
async function killAt(s: Stowage, args: string[], fp: string): Promise<void> {
  const v = await victim(s, args, { failpoint: fp });
  assert.equal(v.signal, 'SIGKILL', `${args[0]} reached failpoint ${fp} (exit ${v.code}: ${v.stderr})`);
}

async function assertRecoverable(s: Stowage, what: string): Promise<void> {
  const r = await s.run(['system', 'check', '--format', 'json']);
  const report = JSON.parse(r.stdout) as { issues: Array<{ kind: string; what: string; subject: string; message: string }> };
  const errors = report.issues.filter((i) => i.kind === 'error');
  assert.deepEqual(errors, [], `${what}: damage found after the kill`);
  assert.deepEqual(mountsUnder(s.root), [], `${what}: mounts left`);
}

for (const driver of ['overlay2', 'vfs']) {
  describe(`crash safety on ${driver}`, () => {
    it('SIGKILL at many points during load, then rmi, leaves a store that checks clean', async (t) => {
      if (!requiresRoot(t)) return;
      const dir = tempDir(t);
      const arch = await bigArchive(dir);
      const s = stowage(join(dir, 'root'), driver);
      // Kill points spread over the load: at entries of every layer (some 1,300 entries in
      // all), after a layer is applied, while a blob is staged, before the image is recorded.
      const points = ['apply:entry=5', 'apply:entry=150', 'apply:entry=400', 'apply:entry=700', 'apply:entry=1100', 'layer:row', 'layer:applied=3', 'blob:staged', 'image:blob'];
      for (const fp of points) {
        await killAt(s, ['load', '-i', arch.path], fp);
        await assertRecoverable(s, `load killed at ${fp}`);
      }
      // The next load recovers what the kills left, and completes.
      await s.ok(['load', '-i', arch.path]);
      assert.match(await s.ok(['system', 'check']), /No problems found/);
      const [info] = JSON.parse(await s.ok(['image', 'inspect', 'big:1']));
      assert.equal(info.Id, arch.imageId);
      for (const fp of ['rmi:row-deleted', 'layer:row-deleted=2', 'tree:renamed=3']) {
        await killAt(s, ['rmi', 'big:1'], fp);
        await assertRecoverable(s, `rmi killed at ${fp}`);
        if ((await s.ok(['images', '-q'])).trim() === '') await s.ok(['load', '-i', arch.path]);
      }
      await s.ok(['system', 'check', '--repair']);
      assert.match(await s.ok(['system', 'check']), /No problems found/);
    });

    it('two processes loading the same archive at once store its layers once', async (t) => {
      if (!requiresRoot(t)) return;
      const dir = tempDir(t);
      const arch = await bigArchive(dir);
      const s = stowage(join(dir, 'root'), driver);
      const [r1, r2] = await Promise.all([s.run(['load', '-i', arch.path]), s.run(['load', '-i', arch.path])]);
      assert.equal(r1.code, 0, r1.stderr);
      assert.equal(r2.code, 0, r2.stderr);
      const [info] = JSON.parse(await s.ok(['image', 'inspect', 'big:1']));
      assert.equal(info.Id, arch.imageId);
      assert.match(await s.ok(['system', 'check']), /No problems found/);
      const report = JSON.parse(await s.ok(['system', 'check', '--format', 'json']));
      assert.equal(report.checked.layers, 5);
    });
  });
}
