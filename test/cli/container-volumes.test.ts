// Volumes, bind mounts and tmpfs in containers, through the CLI: the user's
// walk-through (a named volume outlives its containers; a bind mount maps a host
// folder), populate-on-first-mount, anonymous volumes from the image's VOLUME and
// their lifetimes, in-use refusal, tmpfs, and --read-only with writable mounts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, requiresRoot, mountsUnder, cleanupFirst } from '../helpers/env.js';
import { stowage } from '../helpers/cli.js';
import { makeRootfs, makeDockerArchive } from '../helpers/images.js';

async function setup(t: import('node:test').TestContext, driver: string) {
  const dir = tempDir(t);
  const s = stowage(join(dir, 'root'), driver);
  const base = join(dir, 'base');
  await makeRootfs(base, 'busybox');
  const top = join(dir, 'top');
  mkdirSync(join(top, 'var', 'lib', 'mysql'), { recursive: true });
  writeFileSync(join(top, 'var', 'lib', 'mysql', 'seed.sql'), 'CREATE TABLE t;\n');
  const arch = await makeDockerArchive(join(dir, 'db.tar'), { layers: [base, top], repoTags: ['db:1'], runConfig: { Cmd: ['/bin/sh'], Volumes: { '/var/lib/mysql': {} } } });
  await s.ok(['load', '-i', arch.path]);
  cleanupFirst(t, async () => {
    const ids = (await s.ok(['ps', '-aq'])).trim().split('\n').filter(Boolean);
    if (ids.length) await s.run(['rm', '-f', '-v', ...ids]);
  });
  return { s, dir };
}

for (const driver of ['overlay2', 'vfs']) {
  describe(`container volumes on ${driver}`, () => {
    it("the user's walk-through: a named volume outlives its containers; a bind mount maps a host folder", async (t) => {
      if (!requiresRoot(t)) return;
      const { s, dir } = await setup(t, driver);
      assert.equal((await s.ok(['volume', 'create', 'data_volume'])).trim(), 'data_volume');
      await s.ok(['run', '--name', 'mysql1', '-v', 'data_volume:/var/lib/mysql', 'db:1', 'sh', '-c', 'echo row1 >> /var/lib/mysql/table']);
      // populate on first mount: the image's seed file was copied into the empty volume
      assert.ok(existsSync(join(s.root, 'volumes', 'data_volume', '_data', 'seed.sql')), 'ls of the data root shows volumes/data_volume/_data');
      await s.ok(['rm', '-v', 'mysql1']);
      assert.equal(await s.ok(['run', '--rm', '-v', 'data_volume:/var/lib/mysql', 'db:1', 'cat', '/var/lib/mysql/table']), 'row1\n');
      // never populated again: remove the seed, it does not come back
      await s.ok(['run', '--rm', '-v', 'data_volume:/var/lib/mysql', 'db:1', 'rm', '/var/lib/mysql/seed.sql']);
      assert.equal(await s.ok(['run', '--rm', '-v', 'data_volume:/var/lib/mysql', 'db:1', 'ls', '/var/lib/mysql']), 'table\n');
      const host = join(dir, 'data', 'mysql');
      mkdirSync(host, { recursive: true });
      await s.ok(['run', '--rm', '--mount', `type=bind,source=${host},target=/var/lib/mysql`, 'db:1', 'sh', '-c', 'echo bound > /var/lib/mysql/x']);
      assert.equal(readFileSync(join(host, 'x'), 'utf8'), 'bound\n');
      assert.equal(await s.ok(['run', '--rm', '--mount', `type=bind,source=${host},target=/var/lib/mysql`, 'db:1', 'cat', '/var/lib/mysql/x']), 'bound\n');
      // What the shell makes of `--mount type=bind, source=…`: the mount value ends at the comma.
      const spaced = await s.run(['run', '--rm', '--mount', 'type=bind,', 'db:1', 'true']);
      assert.equal(spaced.code, 125);
      assert.match(spaced.stderr, /invalid argument "type=bind," for "--mount" flag/);
      const missing = await s.run(['run', '--rm', '--mount', `type=bind,source=${join(dir, 'nope')},target=/x`, 'db:1', 'true']);
      assert.equal(missing.code, 125);
      assert.match(missing.stderr, /bind source path does not exist/);
      assert.ok(!existsSync(join(dir, 'nope')), 'nothing created for a refused spec');
      const created = join(dir, 'made-by-v');
      await s.ok(['run', '--rm', '-v', `${created}:/x`, 'db:1', 'true']);
      assert.ok(existsSync(created), '-v creates a missing host directory, as Docker does');
      assert.deepEqual(mountsUnder(s.root), []);
    });

    it("anonymous volumes from the image's VOLUME go with rm -v and --rm; named ones stay; in-use volumes are refused", async (t) => {
      if (!requiresRoot(t)) return;
      const { s } = await setup(t, driver);
      await s.ok(['create', '--name', 'anon1', 'db:1', 'true']);
      const [info] = JSON.parse(await s.ok(['inspect', 'anon1']));
      assert.equal(info.Mounts.length, 1);
      assert.equal(info.Mounts[0].Type, 'volume');
      assert.equal(info.Mounts[0].Destination, '/var/lib/mysql');
      const anon = info.Mounts[0].Name as string;
      assert.match(anon, /^[a-f0-9]{64}$/);
      const inUse = await s.run(['volume', 'rm', anon]);
      assert.equal(inUse.code, 1);
      assert.match(inUse.stderr, new RegExp(`volume is in use - \\[${info.Id}\\]`));
      await s.ok(['start', '-a', 'anon1']);
      assert.deepEqual(readdirSync(join(s.root, 'volumes', anon, '_data')), ['seed.sql'], 'populated from the image');
      await s.ok(['rm', '-v', 'anon1']);
      assert.ok(!(await s.ok(['volume', 'ls', '-q'])).includes(anon), 'rm -v removed the anonymous volume');
      await s.ok(['volume', 'create', 'keep']);
      await s.ok(['run', '--rm', '-v', 'keep:/k', 'db:1', 'true']);
      const left = (await s.ok(['volume', 'ls', '-q'])).trim().split('\n');
      assert.deepEqual(left, ['keep'], '--rm removed the anonymous volume and kept the named one');
      await s.ok(['create', '--name', 'anon2', 'db:1', 'true']);
      await s.ok(['rm', 'anon2']);
      assert.equal((await s.ok(['volume', 'ls', '-q', '--filter', 'dangling=true'])).trim().split('\n').length, 2, 'rm without -v keeps the anonymous volume');
      const pr = await s.ok(['volume', 'prune', '-f']);
      assert.match(pr, /Deleted Volumes:/);
      assert.deepEqual((await s.ok(['volume', 'ls', '-q'])).trim().split('\n'), ['keep']);
    });

    it('tmpfs mounts, --read-only with writable volumes, nocopy, ro volumes', async (t) => {
      if (!requiresRoot(t)) return;
      const { s } = await setup(t, driver);
      assert.match(await s.ok(['run', '--rm', '--tmpfs', '/scratch', 'db:1', 'sh', '-c', 'echo t > /scratch/a && grep " /scratch " /proc/mounts']), /tmpfs \/scratch tmpfs/);
      const ro = await s.run(['run', '--rm', '--read-only', '-v', 'rwvol:/data', 'db:1', 'sh', '-c', 'echo ok > /data/f && cat /data/f && touch /rootfile']);
      assert.notEqual(ro.code, 0);
      assert.match(ro.stdout, /^ok\n/);
      assert.match(ro.stderr, /Read-only file system/);
      await s.ok(['volume', 'create', 'empty']);
      await s.ok(['run', '--rm', '--mount', 'type=volume,source=empty,target=/var/lib/mysql,volume-nocopy', 'db:1', 'true']);
      assert.deepEqual(readdirSync(join(s.root, 'volumes', 'empty', '_data')), [], 'nocopy: nothing copied');
      const rov = await s.run(['run', '--rm', '-v', 'empty:/e:ro', 'db:1', 'touch', '/e/x']);
      assert.notEqual(rov.code, 0);
      assert.deepEqual(mountsUnder(s.root), []);
      assert.match(await s.ok(['system', 'check']), /No problems found/);
    });
  });
}
