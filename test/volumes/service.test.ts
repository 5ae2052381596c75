// The volume service and the local driver: names, labels, options, removal of
// volumes in use, acquire/release mounting (tmpfs, bind, size quota really
// enforced), recovery, and no leaked mounts or loop devices.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync, readFileSync, statSync, openSync, writeSync, closeSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { tempDir, requiresRoot, mountsUnder } from '../helpers/env.js';
import { Layout } from '../../src/store/layout.js';
import { openDatabase } from '../../src/store/db.js';
import { VolumeService, ANONYMOUS_LABEL } from '../../src/volumes/service.js';
import { kindOf } from '../../src/errors.js';
import { isMountPoint } from '../../src/drivers/mount.js';

function setup(t: import('node:test').TestContext) {
  const dir = tempDir(t);
  const layout = new Layout(join(dir, 'root'));
  layout.ensure();
  const db = openDatabase(layout.database);
  t.after(() => db.close());
  const vs = new VolumeService(db, layout);
  // Containers for the relations: a container row needs an image row.
  db.prepare(`INSERT INTO images (driver, id, top_layer, size, created_at) VALUES ('vfs', 'sha256:img', NULL, 0, 0)`).run();
  const container = (id: string) => db.prepare(`INSERT INTO containers (id, name, driver, image_id, layer_id, config, state, created_at) VALUES (?, ?, 'vfs', 'sha256:img', NULL, '{}', '{}', 0)`).run(id, `c-${id}`);
  return { dir, layout, db, vs, container };
}

/** Loop devices backed by files under dir. */
function loopsUnder(dir: string): string[] {
  const r = spawnSync('losetup', ['-l', '-n', '-O', 'NAME,BACK-FILE'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l.includes(dir));
}

describe('volume service', () => {
  it('creates named and anonymous volumes with labels; create of an existing name returns it', async (t) => {
    const { vs, layout } = setup(t);
    const { volume, created } = await vs.create('data_volume', { labels: { a: '1' } });
    assert.equal(created, true);
    assert.equal(volume.mountpoint, join(layout.root, 'volumes', 'data_volume', '_data'));
    assert.ok(statSync(volume.mountpoint).isDirectory());
    const again = await vs.create('data_volume', { labels: { b: '2' } });
    assert.equal(again.created, false);
    assert.deepEqual(again.volume.labels, { a: '1' });
    const anon = (await vs.create(undefined)).volume;
    assert.match(anon.name, /^[0-9a-f]{64}$/);
    assert.deepEqual(anon.labels, { [ANONYMOUS_LABEL]: '' });
    const ins = await vs.inspect('data_volume');
    assert.deepEqual(Object.keys(ins), ['CreatedAt', 'Driver', 'Labels', 'Mountpoint', 'Name', 'Options', 'Scope']);
    assert.match(ins.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$/);
    assert.equal(ins.Options, null);
  });

  it('refuses bad names, options and drivers, leaving nothing behind', async (t) => {
    const { vs, layout } = setup(t);
    const bad: Array<[string | undefined, object, string, RegExp]> = [
      ['a', {}, 'InvalidArgument', /too short/],
      ['../escape', {}, 'InvalidArgument', /invalid characters/],
      ['x/y', {}, 'InvalidArgument', /invalid characters/],
      ['.hidden', {}, 'InvalidArgument', /invalid characters/],
      ['ok1', { options: { foo: 'bar' } }, 'InvalidArgument', /invalid option: "foo"/],
      ['ok2', { options: { type: 'tmpfs' } }, 'InvalidArgument', /missing required option: "device"/],
      ['ok3', { options: { o: 'size=1m', device: 'tmpfs' } }, 'InvalidArgument', /missing required option: "type"/],
      ['ok4', { options: { size: '10x' } }, 'InvalidArgument', /invalid suffix/],
      ['ok5', { options: { size: '1k' } }, 'InvalidArgument', /smallest quota/],
      ['ok6', { driver: 'rexray' }, 'NotFound', /error looking up volume plugin rexray: plugin "rexray" not found \(looked for /],
    ];
    for (const [name, opts, kind, re] of bad) {
      await assert.rejects(vs.create(name, opts), (err: Error) => kindOf(err) === kind && re.test(err.message), `${name}`);
    }
    assert.deepEqual(vs.all(), []);
    assert.deepEqual(vs.local.list(), []);
    assert.ok(!existsSync(join(layout.root, 'escape')));
  });

  it('refuses to remove a volume in use, naming the containers; removes it when unused', async (t) => {
    const { vs, container } = setup(t);
    await vs.create('shared');
    container('c1');
    container('c2');
    vs.attach('c1', 'shared', '/data');
    vs.attach('c2', 'shared', '/data');
    await assert.rejects(() => vs.remove('shared'), (err: Error) => kindOf(err) === 'Conflict' && /remove shared: volume is in use - \[c1, c2\]/.test(err.message));
    assert.deepEqual(vs.list(['dangling=true']), []);
    assert.deepEqual(vs.list(['dangling=false']).map((v) => v.name), ['shared']);
    vs['db'].prepare('DELETE FROM containers').run(); // the container code removes its containers
    await vs.remove('shared');
    await assert.rejects(() => vs.remove('shared'), (err: Error) => kindOf(err) === 'NotFound' && /no such volume/.test(err.message));
  });

  it('filters and prune (anonymous only unless all; label filters)', async (t) => {
    const { vs, container } = setup(t);
    await vs.create('web1', { labels: { env: 'prod' } });
    await vs.create('web2', { labels: { env: 'dev', keep: '' } });
    const anon = (await vs.create(undefined)).volume.name;
    const anonUsed = (await vs.create(undefined)).volume.name;
    container('c1');
    vs.attach('c1', anonUsed, '/x');
    assert.deepEqual(vs.list(['label=env=prod']).map((v) => v.name), ['web1']);
    assert.deepEqual(vs.list(['label=env']).map((v) => v.name), ['web1', 'web2']);
    assert.deepEqual(vs.list(['name=^web']).map((v) => v.name), ['web1', 'web2']);
    assert.deepEqual(vs.list(['driver=local', 'name=2']).map((v) => v.name).filter((n) => n.length < 10), ['web2']);
    assert.throws(() => vs.list(['dangling=maybe']), /invalid filter 'dangling=maybe'/);
    assert.throws(() => vs.list(['colour=red']), /invalid filter 'colour'/);
    assert.deepEqual((await vs.prune()).VolumesDeleted, [anon]);
    assert.deepEqual((await vs.prune({ all: true, filters: ["label!=keep"] })).VolumesDeleted, ['web1']);
    assert.deepEqual(vs.all().map((v) => v.name).sort(), [anonUsed, 'web2'].sort());
  });

  it('recovers from a create that died mid-way and from directories without rows', async (t) => {
    const { vs, db, layout } = setup(t);
    db.prepare(`INSERT INTO volumes (name, driver, labels, options, state, owner, created_at) VALUES ('halfmade', 'local', '{}', '{}', 'creating', '999999999:1', 0)`).run();
    mkdirSync(layout.volumeData('halfmade'), { recursive: true });
    mkdirSync(layout.volumeData('orphan'), { recursive: true });
    const g = vs.inspectGarbage();
    assert.deepEqual(g.abandoned, ['halfmade']);
    assert.deepEqual(g.orphanDirs, ['orphan']);
    const r = await vs.recover();
    assert.deepEqual(r.abandoned, ['halfmade']);
    assert.deepEqual(r.orphans, ['orphan']);
    assert.deepEqual(vs.local.list(), []);
    // A dead creator's name can be created again.
    await vs.create('halfmade');
    assert.ok(existsSync(layout.volumeData('halfmade')));
  });
});

describe('volume mounts (acquire / release)', () => {
  it('type=tmpfs: mounted on first acquire, unmounted on last release', async (t) => {
    if (!requiresRoot(t)) return;
    const { vs, container, layout } = setup(t);
    await vs.create('tmp1', { options: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m,uid=1000' } });
    container('c1');
    container('c2');
    const mp = await vs.acquire('tmp1', 'c1');
    assert.ok(isMountPoint(mp));
    assert.equal(statSync(mp).uid, 1000);
    assert.equal(await vs.acquire('tmp1', 'c2'), mp);
    assert.equal(mountsUnder(layout.root).length, 1, 'one mount for two users');
    await assert.rejects(() => vs.remove('tmp1'), /volume is in use - \[c1, c2\]/);
    await vs.release('tmp1', 'c1');
    assert.ok(isMountPoint(mp), 'still mounted for c2');
    await vs.release('tmp1', 'c2');
    assert.ok(!isMountPoint(mp));
    await vs.remove('tmp1');
  });

  it('type=none,o=bind: binds a host directory; removing the volume never deletes the host files', async (t) => {
    if (!requiresRoot(t)) return;
    const { vs, container, dir } = setup(t);
    const host = join(dir, 'host');
    mkdirSync(host);
    writeFileSync(join(host, 'keep.txt'), 'precious');
    await vs.create('b1', { options: { type: 'none', o: 'bind', device: host } });
    container('c1');
    const mp = await vs.acquire('b1', 'c1');
    assert.equal(readFileSync(join(mp, 'keep.txt'), 'utf8'), 'precious');
    // The process holding it dies: recovery releases and unmounts.
    vs['db'].prepare(`UPDATE volume_mounts SET holder = '999999999:1'`).run();
    assert.deepEqual(vs.inspectGarbage().deadMounts, [{ volume: 'b1', container: 'c1' }]);
    await vs.recover();
    assert.ok(!isMountPoint(mp));
    await vs.remove('b1');
    assert.equal(readFileSync(join(host, 'keep.txt'), 'utf8'), 'precious');
  });

  it('a failed mount leaves no acquisition behind', async (t) => {
    if (!requiresRoot(t)) return;
    const { vs, container } = setup(t);
    await vs.create('broken', { options: { type: 'ext4', device: '/dev/nonexistent-stowage' } });
    container('c1');
    await assert.rejects(() => vs.acquire('broken', 'c1'), /failed to mount local volume broken/);
    assert.deepEqual(vs.users('broken'), []);
    await vs.remove('broken');
  });

  it('size: a hard quota; writing past it fails with ENOSPC and the host is unaffected; no loop device left', async (t) => {
    if (!requiresRoot(t)) return;
    const { vs, container, layout, dir } = setup(t);
    t.after(() => { for (const l of loopsUnder(dir)) spawnSync('losetup', ['-d', l.split(/\s+/)[0]!]); });
    await vs.create('capped', { options: { size: '8m' } });
    const imgSize = statSync(layout.volumeQuotaImage('capped'));
    assert.ok(imgSize.blocks * 512 < 4 << 20, 'the image is sparse');
    container('c1');
    const mp = await vs.acquire('capped', 'c1');
    assert.deepEqual(spawnSync('ls', ['-A', mp], { encoding: 'utf8' }).stdout, '', 'starts empty (no lost+found)');
    const hostFree = statfsSync(layout.root).bavail * statfsSync(layout.root).bsize;
    const fd = openSync(join(mp, 'big'), 'w');
    const chunk = Buffer.alloc(1 << 20, 1);
    let written = 0;
    let code: string | undefined;
    try {
      for (let i = 0; i < 64; i++) written += writeSync(fd, chunk);
    } catch (err) {
      code = (err as { code?: string }).code;
    } finally {
      closeSync(fd);
    }
    assert.equal(code, 'ENOSPC');
    assert.ok(written <= 8 << 20, `wrote ${written} bytes into an 8 MiB volume`);
    const hostFreeAfter = statfsSync(layout.root).bavail * statfsSync(layout.root).bsize;
    assert.ok(hostFree - hostFreeAfter < 16 << 20, 'the host lost at most the image size');
    assert.equal(loopsUnder(dir).length, 1);
    await vs.release('capped', 'c1');
    assert.ok(!isMountPoint(mp));
    assert.deepEqual(loopsUnder(dir), [], 'the loop device went with the unmount');
    // The data persists in the image: acquire again and it is there.
    const mp2 = await vs.acquire('capped', 'c1');
    assert.ok(statSync(join(mp2, 'big')).size > 4 << 20);
    await vs.release('capped', 'c1');
    vs['db'].prepare('DELETE FROM containers').run();
    await vs.remove('capped');
    assert.ok(!existsSync(layout.volume('capped')));
  });
});
