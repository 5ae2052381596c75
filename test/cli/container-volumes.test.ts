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

  describe(`volume names, destinations and messages on ${driver}`, () => {
    it('a volume name of 255 characters works end to end; 256 is refused with the limit named; no errno text', async (t) => {
      if (!requiresRoot(t)) return;
      const { s } = await setup(t, driver);
      const long = 'v'.repeat(255);
      assert.equal((await s.ok(['volume', 'create', long])).trim(), long);
      const [vi] = JSON.parse(await s.ok(['volume', 'inspect', long]));
      assert.equal(vi.Mountpoint, join(s.root, 'volumes', long, '_data'));
      await s.ok(['run', '--rm', '-v', `${long}:/d`, 'db:1', 'sh', '-c', 'echo kept > /d/f']);
      assert.equal(await s.ok(['run', '--rm', '--mount', `type=volume,src=${long},dst=/d`, 'db:1', 'cat', '/d/f']), 'kept\n');
      await s.ok(['create', '--name', 'longuser', '-v', `${long}:/d:ro`, 'db:1', 'true']);
      const [ci] = JSON.parse(await s.ok(['inspect', 'longuser']));
      // (db:1's VOLUME /var/lib/mysql is the anonymous one)
      assert.deepEqual(ci.Mounts.map((m: { Name: string; Mode: string }) => [m.Name === long ? 'long' : m.Name.length, m.Mode]).sort(), [[64, ''], ['long', 'ro']]);
      await s.ok(['rm', '-v', 'longuser']);
      assert.equal((await s.ok(['volume', 'rm', long])).trim(), long);
      assert.deepEqual(readdirSync(join(s.root, 'tmp')), [], 'no staging left behind');
      for (const args of [['volume', 'create', `${long}w`], ['run', '--rm', '-v', `${long}w:/d`, 'db:1', 'true']]) {
        const r = await s.run(args);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /volume name is too long \(256 characters\): a local volume's name has at most 255/);
        assert.doesNotMatch(r.stderr, /\bE[A-Z]{3,}\b/);
      }
    });

    it('relative and drive-letter anonymous destinations are kept as written and mounted under /, as Docker does', async (t) => {
      if (!requiresRoot(t)) return;
      const { s } = await setup(t, driver);
      await s.ok(['create', '--name', 'rel', '-v', 'data', '-v', 'C:\\data', 'db:1', 'true']);
      const [ci] = JSON.parse(await s.ok(['inspect', 'rel']));
      assert.deepEqual(ci.Mounts.map((m: { Destination: string }) => m.Destination).sort(), ['/var/lib/mysql', 'C:\\data', 'data']);
      assert.deepEqual(ci.Config.Volumes, { 'C:\\data': {}, '/var/lib/mysql': {}, data: {} });
      assert.equal(await s.ok(['start', '-a', 'rel']), '');
      const out = await s.ok(['run', '--rm', '-v', 'data', '-v', 'C:\\data', 'db:1', 'sh', '-c', 'grep -c " /data " /proc/mounts; ls -d "/C:\\data"']);
      assert.equal(out, '1\n/C:\\data\n');
    });

    it('clear errors, never errno text or paths under the data root: a bind under a file, cp to bad places', async (t) => {
      if (!requiresRoot(t)) return;
      const { s, dir } = await setup(t, driver);
      const file = join(dir, 'afile');
      writeFileSync(file, 'x');
      const bind = await s.run(['run', '--rm', '-v', `${file}/sub:/d`, 'db:1', 'true']);
      assert.equal(bind.code, 125);
      assert.equal(bind.stderr.split('\n')[0], `Error: error while creating mount source path '${file}/sub': mkdir ${file}/sub: not a directory (in -v ${file}/sub:/d)`);
      await s.ok(['create', '--name', 'cpc', 'db:1', 'true']);
      const cases: Array<[string[], RegExp]> = [
        [['cp', file, 'cpc:/var/lib/mysql/seed.sql/x'], /^Error: extraction point is not a directory: \/var\/lib\/mysql\/seed.sql is not a directory in container cpc\n$/],
        [['cp', file, 'cpc:/nodir/x'], /^Error: Could not find the file \/nodir in container cpc\n$/],
        [['cp', 'cpc:/var/lib', `${file}/x`], new RegExp(`^Error: stat ${file}: not a directory\\n$`)],
        [['cp', 'cpc:/var/lib', join(dir, 'nodir', 'x')], /^Error: invalid output path: directory ".*nodir" does not exist\n$/],
        [['cp', 'cpc:/nonexistent', dir], /^Error: Could not find the file \/nonexistent in container cpc\n$/],
      ];
      for (const [args, expect] of cases) {
        const r = await s.run(args);
        assert.equal(r.code, 1, args.join(' '));
        assert.match(r.stderr, expect);
        assert.ok(!r.stderr.includes(s.root), `no data-root path in ${JSON.stringify(r.stderr)}`);
      }
      const over = await s.run(['create', '-v', '/var/lib/mysql/seed.sql', 'db:1', 'true']);
      assert.equal(over.code, 1, 'a daemon-side refusal: exit 1, as docker create');
      assert.match(over.stderr, /^Error: cannot mount volume over existing file: \/var\/lib\/mysql\/seed.sql is a file in image db:1, not a directory/);
      assert.equal((await s.ok(['volume', 'ls', '-q'])).trim().split('\n').filter(Boolean).length, 1, "nothing created for a refused spec (cpc's anonymous volume only)");
    });
  });
}
