// The image commands through the real CLI, on every storage driver: import, load,
// save (byte-exact round trip), images, inspect, history, tag, rmi, prune, check.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, requiresRoot } from '../helpers/env.js';
import { stowage } from '../helpers/cli.js';
import { makeRootfs, makeLayerTar, makeDockerArchive, sha256, tarMemberDigest, dockerLayerSize } from '../helpers/images.js';
import { indexTarFile } from '../../src/archive/tar-reader.js';

const DRIVERS = ['overlay2', 'vfs'];

async function twoLayerArchive(dir: string, name: string, tags: string[], extra = 'app') {
  const base = join(dir, `${name}-base`);
  const top = join(dir, `${name}-top`);
  await makeRootfs(base, 'busybox');
  mkdirSync(join(top, 'app'), { recursive: true });
  writeFileSync(join(top, 'app', 'main.sh'), `#!/bin/sh\necho ${extra}\n`);
  return makeDockerArchive(join(dir, `${name}.tar`), { layers: [base, top], repoTags: tags, runConfig: { Cmd: ['/app/main.sh'], Env: ['A=1'] } });
}

async function layerDirs(s: { root: string; driver: string }): Promise<string[]> {
  const home = join(s.root, s.driver, s.driver === 'vfs' ? 'dir' : '');
  if (!existsSync(home)) return [];
  return readdirSync(home).filter((n) => /^[a-f0-9]{64}$/.test(n));
}

for (const driver of DRIVERS) {
  describe(`images on ${driver}`, () => {
    it('import makes a one-layer image whose diffID is the tar\'s sha256', async (t) => {
      if (!requiresRoot(t)) return;
      const dir = tempDir(t);
      const s = stowage(join(dir, 'root'), driver);
      const rootfs = join(dir, 'rootfs');
      await makeRootfs(rootfs, 'busybox');
      const tar = await makeLayerTar(rootfs);
      const id = (await s.ok(['import', '-m', 'first', '-c', 'CMD ["/bin/sh"]', '-', 'base:1'], { input: tar })).trim();
      assert.match(id, /^sha256:[a-f0-9]{64}$/);
      const [info] = JSON.parse(await s.ok(['image', 'inspect', 'base:1']));
      assert.equal(info.Id, id);
      assert.deepEqual(info.RepoTags, ['base:1']);
      assert.deepEqual(info.RootFS.Layers, [sha256(tar)]);
      assert.deepEqual(info.Config.Cmd, ['/bin/sh']);
      assert.equal(info.Comment, 'first');
      assert.equal(info.GraphDriver.Name, driver);
      // Docker's size: the bytes of the layer's files, not of its tar.
      assert.equal(info.Size, await dockerLayerSize(rootfs, driver));
      assert.ok(info.Size < tar.length);
      const hist = await s.ok(['history', '--format', '{{.Comment}}', 'base:1']);
      assert.equal(hist.trim(), 'first');
      // The saved layer is byte-identical to the imported tar.
      const saved = join(dir, 'saved.tar');
      await s.ok(['save', '-o', saved, 'base:1']);
      const idx = await indexTarFile(saved);
      const hex = sha256(tar).slice(7);
      assert.equal(tarMemberDigest(saved, idx.get(`blobs/sha256/${hex}`)), sha256(tar), `saved archive has the layer's exact bytes: ${[...idx.keys()].join(', ')}`);
    });

    it('load keeps image ID and diffIDs, shares common layers, and save gives back the same bytes', async (t) => {
      if (!requiresRoot(t)) return;
      const dir = tempDir(t);
      const s = stowage(join(dir, 'root'), driver);
      const a = await twoLayerArchive(dir, 'a', ['app:1', 'app:latest'], 'one');
      const b = await twoLayerArchive(dir, 'b', ['other:2'], 'two');
      assert.equal(a.diffIds[0], b.diffIds[0], 'fixtures share their base layer');
      const outA = await s.ok(['load', '-i', a.path]);
      assert.match(outA, /Loaded image: app:1\n/);
      assert.match(outA, /Loaded image: app:latest\n/);
      await s.ok(['load', '-i', b.path]);
      const [ia] = JSON.parse(await s.ok(['image', 'inspect', 'app:1']));
      assert.equal(ia.Id, a.imageId);
      assert.deepEqual(ia.RootFS.Layers, a.diffIds);
      assert.deepEqual(ia.Config.Env, ['A=1']);
      // 3 distinct layers on disk: the base is stored once.
      assert.equal((await layerDirs(s)).length, 3);
      // Loading again changes nothing.
      await s.ok(['load', '-i', a.path]);
      assert.equal((await layerDirs(s)).length, 3);
      const q = (await s.ok(['images', '-q'])).trim().split('\n').sort();
      assert.deepEqual(q, [a.imageId.slice(7, 19), b.imageId.slice(7, 19)].sort());
      const table = await s.ok(['images']);
      assert.match(table, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\n/);
      assert.match(table, /\napp\s+1\s+[a-f0-9]{12}\s+/);
      const fmt = await s.ok(['images', '--format', '{{.Repository}}:{{.Tag}}', '--filter', 'reference=app']);
      assert.deepEqual(fmt.trim().split('\n').sort(), ['app:1', 'app:latest']);

      // save -> load into a fresh root gives the same image ID; layer blobs are the original tars.
      const saved = join(dir, 'out.tar');
      await s.ok(['save', '-o', saved, 'app:1', 'other:2']);
      const idx = await indexTarFile(saved);
      for (const d of [...a.diffIds, ...b.diffIds]) assert.equal(tarMemberDigest(saved, idx.get(`blobs/sha256/${d.slice(7)}`)), d, `layer ${d} in saved archive, byte-exact`);
      const manifest = JSON.parse(readFileSync(saved).subarray(idx.get('manifest.json')!.offset, idx.get('manifest.json')!.offset + idx.get('manifest.json')!.size).toString());
      assert.deepEqual(manifest.map((m: { RepoTags: string[] }) => m.RepoTags).flat().sort(), ['app:1', 'other:2']);
      const s2 = stowage(join(dir, 'root2'), driver);
      await s2.ok(['load', '-i', saved]);
      const [ia2] = JSON.parse(await s2.ok(['image', 'inspect', 'app:1']));
      assert.equal(ia2.Id, a.imageId);
      const check = await s2.ok(['system', 'check']);
      assert.match(check, /No problems found/);
    });

    it('tag and rmi: untag first, delete what nothing references, keep shared layers', async (t) => {
      if (!requiresRoot(t)) return;
      const dir = tempDir(t);
      const s = stowage(join(dir, 'root'), driver);
      const a = await twoLayerArchive(dir, 'a', ['app:1'], 'one');
      const b = await twoLayerArchive(dir, 'b', ['other:2'], 'two');
      await s.ok(['load', '-i', a.path]);
      await s.ok(['load', '-i', b.path]);
      await s.ok(['tag', 'app:1', 'myrepo/app:v2']);
      assert.equal((await s.ok(['rmi', 'app:1'])).trim(), 'Untagged: app:1');
      const [still] = JSON.parse(await s.ok(['image', 'inspect', 'myrepo/app:v2']));
      assert.equal(still.Id, a.imageId);
      const rm = await s.ok(['rmi', 'myrepo/app:v2']);
      assert.match(rm, /^Untagged: myrepo\/app:v2\nDeleted: sha256:/);
      assert.ok(rm.includes(`Deleted: ${a.imageId}`));
      assert.ok(rm.includes(`Deleted: ${a.chainIds[1]}`), 'the top layer goes');
      assert.ok(!rm.includes(`Deleted: ${a.chainIds[0]}`), 'the shared base stays');
      assert.equal((await layerDirs(s)).length, 2);
      const gone = await s.run(['image', 'inspect', 'app:1']);
      assert.equal(gone.code, 1);
      assert.match(gone.stderr, /No such image: app:1/);
      await s.ok(['rmi', b.imageId.slice(7, 19)]);
      assert.equal((await layerDirs(s)).length, 0);
      assert.deepEqual(readdirSync(join(s.root, 'content', 'blobs', 'sha256')), []);
      assert.deepEqual(readdirSync(join(s.root, 'layers')), []);
      assert.match(await s.ok(['system', 'check']), /No problems found/);
    });

    it('image prune removes dangling images only, -a removes all unused', async (t) => {
      if (!requiresRoot(t)) return;
      const dir = tempDir(t);
      const s = stowage(join(dir, 'root'), driver);
      const a = await twoLayerArchive(dir, 'a', ['app:1'], 'one');
      const b = await twoLayerArchive(dir, 'b', ['other:2'], 'two');
      await s.ok(['load', '-i', a.path]);
      await s.ok(['load', '-i', b.path]);
      await s.ok(['tag', 'other:2', 'app:1']); // app:1 moves: a's image is now dangling
      const p = await s.ok(['image', 'prune', '-f']);
      assert.ok(p.includes(`deleted: ${a.imageId}`));
      assert.match(p, /Total reclaimed space: /);
      assert.equal((await s.ok(['images', '-q'])).trim(), b.imageId.slice(7, 19));
      await s.ok(['image', 'prune', '-a', '-f']);
      assert.equal((await s.ok(['images', '-q'])).trim(), '');
      assert.equal((await layerDirs(s)).length, 0);
    });

    it('a layer whose bytes do not match its diff ID is refused and leaves nothing', async (t) => {
      if (!requiresRoot(t)) return;
      const dir = tempDir(t);
      const s = stowage(join(dir, 'root'), driver);
      const rootfs = join(dir, 'r');
      await makeRootfs(rootfs, 'sample');
      const tar = await makeLayerTar(rootfs);
      const cfg = { architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha256('not this layer')] } };
      const arch = await makeDockerArchive(join(dir, 'bad.tar'), { layers: [{ tar: writeTmp(dir, tar) }], rawConfig: Buffer.from(JSON.stringify(cfg)), repoTags: ['bad:1'] });
      const r = await s.run(['load', '-i', arch.path]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /does not match/);
      assert.equal((await layerDirs(s)).length, 0);
      assert.deepEqual(readdirSync(join(s.root, 'layers')), []);
      assert.equal((await s.ok(['images', '-q'])).trim(), '');
      assert.match(await s.ok(['system', 'check']), /No problems found/);
    });

    it('system check finds a layer whose files changed, and --repair removes the damaged image', async (t) => {
      if (!requiresRoot(t)) return;
      const dir = tempDir(t);
      const s = stowage(join(dir, 'root'), driver);
      const a = await twoLayerArchive(dir, 'a', ['app:1'], 'one');
      await s.ok(['load', '-i', a.path]);
      const [info] = JSON.parse(await s.ok(['image', 'inspect', 'app:1']));
      assert.equal(info.Id, a.imageId);
      // Tamper with the top layer's file behind stowage's back.
      const dirs = await layerDirs(s);
      let tampered = false;
      for (const d of dirs) {
        const f = driver === 'vfs' ? join(s.root, 'vfs', 'dir', d, 'app', 'main.sh') : join(s.root, 'overlay2', d, 'diff', 'app', 'main.sh');
        if (existsSync(f)) { writeFileSync(f, '#!/bin/sh\necho evil\n'); tampered = true; }
      }
      assert.ok(tampered);
      const r = await s.run(['system', 'check']);
      assert.equal(r.code, 1);
      assert.match(r.stdout, /ERROR: layer sha256:[a-f0-9]{64}: (content changed|cannot re-assemble)/);
      const save = await s.run(['save', '-o', join(dir, 'x.tar'), 'app:1']);
      assert.notEqual(save.code, 0, 'save refuses a damaged layer');
      assert.ok(!existsSync(join(dir, 'x.tar')), 'no partial archive');
      const rep = await s.run(['system', 'check', '--repair']);
      assert.equal(rep.code, 0, rep.stdout + rep.stderr);
      assert.match(await s.ok(['system', 'check']), /No problems found/);
      assert.equal((await s.ok(['images', '-q'])).trim(), '');
    });
  });
}

function writeTmp(dir: string, buf: Buffer): string {
  const p = join(dir, `layer-${Math.random().toString(16).slice(2)}.tar`);
  writeFileSync(p, buf);
  return p;
}
