// Proves the test helpers themselves: fixture tars are reproducible, a docker-archive
// made by makeDockerArchive loads into a real (private) dockerd with the image ID we
// computed, and stopping the daemon leaves nothing running or mounted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { requires, tempDir, mountsUnder } from './env.js';
import { dockerAvailable, dockerMissing, startDockerd } from './dockerd.js';
import { makeRootfs, makeLayerTar, makeDockerArchive, sha256, FIXED_MTIME } from './images.js';
import { indexTarFile } from '../../src/archive/tar-reader.js';
import { createHash } from 'node:crypto';

function tarList(file: string): string[] {
  const r = spawnSync('tar', ['-tvf', file, '--numeric-owner', '--full-time'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n');
}

test('makeLayerTar is reproducible and looks like a Docker layer', async (t) => {
  const a = join(tempDir(t), 'root');
  const b = join(tempDir(t), 'root');
  await makeRootfs(a, 'sample');
  await new Promise((r) => setTimeout(r, 1100)); // different real mtimes must not matter
  await makeRootfs(b, 'sample');
  const ta = await makeLayerTar(a);
  const tb = await makeLayerTar(b);
  assert.equal(sha256(ta), sha256(tb));
  const out = join(tempDir(t), 'l.tar');
  const f = await makeLayerTar(a, out);
  assert.equal(f.diffId, sha256(ta));
  assert.equal(f.size, ta.length);
  const lines = tarList(out);
  const names = lines.map((l) => l.split(/\s+/).slice(5).join(' '));
  assert.ok(names.every((n) => !n.startsWith('./') && !n.startsWith('/')), 'no ./ or / prefixes');
  assert.ok(names.some((n) => n.startsWith('usr/bin/tool-hardlink link to usr/bin/tool')));
  assert.ok(names.some((n) => n.length > 100), 'a long name survives');
  assert.ok(lines.every((l) => l.includes('2000-01-01 00:00:00')), 'fixed mtime');
  assert.equal(FIXED_MTIME, Date.UTC(2000, 0, 1) / 1000);
});

test('an empty directory gives an empty (but valid) layer', async (t) => {
  const tar = await makeLayerTar(tempDir(t));
  assert.equal(tar.length % 512, 0);
  assert.ok(tar.every((x) => x === 0));
});

test('makeDockerArchive: valid docker-save layout, IDs as the spec says', async (t) => {
  const dir = tempDir(t);
  await makeRootfs(join(dir, 'l1'), 'busybox');
  await makeRootfs(join(dir, 'l2'), 'sample');
  const a = await makeDockerArchive(join(dir, 'img.tar'), { layers: [join(dir, 'l1'), join(dir, 'l2')], repoTags: ['fixture:1'] });
  const b = await makeDockerArchive(join(dir, 'img2.tar'), { layers: [join(dir, 'l1'), join(dir, 'l2')], repoTags: ['fixture:1'] });
  assert.equal(sha256(readFileSync(a.path)), sha256(readFileSync(b.path)), 'archive bytes are reproducible');
  // Everything below is read back from the archive's bytes and recomputed here, not
  // taken from what the helper says it wrote.
  const idx = await indexTarFile(a.path);
  const member = (n: string) => { const m = idx.get(n); assert.ok(m, `archive has ${n}`); return readFileSync(a.path).subarray(m.offset, m.offset + m.size); };
  const [manifest] = JSON.parse(member('manifest.json').toString()) as Array<{ Config: string; RepoTags: string[]; Layers: string[] }>;
  assert.deepEqual(manifest!.RepoTags, ['fixture:1']);
  const config = member(manifest!.Config);
  assert.equal(manifest!.Config, `${sha256(config).slice(7)}.json`, 'the config is named by its digest');
  assert.equal(a.imageId, sha256(config), 'the reported image ID is the digest of the config in the archive');
  const layerDigests = manifest!.Layers.map((l) => sha256(member(l)));
  assert.deepEqual(JSON.parse(config.toString()).rootfs.diff_ids, layerDigests, "diff_ids are the digests of the archive's layer tars");
  assert.deepEqual(a.diffIds, layerDigests);
  // chain IDs by the OCI formula, written out here (not the helper's chainIds()).
  const chain: string[] = [];
  for (const d of layerDigests) chain.push(chain.length === 0 ? d : `sha256:${createHash('sha256').update(`${chain[chain.length - 1]} ${d}`).digest('hex')}`);
  assert.deepEqual(manifest!.Layers, chain.map((c) => `${c.slice(7)}/layer.tar`), 'layer folders are named by chain ID');
  assert.deepEqual(a.chainIds, chain);
  assert.ok(idx.has('repositories'));
});

test('private dockerd: start, docker load our archive, inspect, stop cleanly', async (t) => {
  if (!requires(t, dockerAvailable(), dockerMissing() ?? '')) return;
  const dir = tempDir(t);
  await makeRootfs(join(dir, 'root'), 'busybox');
  const img = await makeDockerArchive(join(dir, 'img.tar'), {
    layers: [join(dir, 'root')],
    repoTags: ['stowage-fixture:busybox'],
    runConfig: { Cmd: ['/bin/sh', '-c', 'echo hi'], WorkingDir: '/' },
  });

  const d = await startDockerd(t);
  const base = d.host.slice('unix://'.length).replace(/\/docker\.sock$/, '');
  const load = await d.docker(['load', '-i', img.path], { check: true });
  assert.match(load.stdout.toString(), /Loaded image: stowage-fixture:busybox/);

  const inspect = await d.docker(['image', 'inspect', 'stowage-fixture:busybox'], { check: true });
  const [info] = JSON.parse(inspect.stdout.toString()) as Array<{ Id: string; RootFS: { Layers: string[] }; Config: { Cmd: string[] } }>;
  assert.equal(info!.Id, img.imageId, 'Docker reports the image ID we computed');
  assert.deepEqual(info!.RootFS.Layers, img.diffIds);
  assert.deepEqual(info!.Config.Cmd, ['/bin/sh', '-c', 'echo hi']);

  // docker save gives back our layer bytes (Docker keeps tar-split to reproduce them).
  const savedPath = join(dir, 'saved.tar');
  await d.docker(['save', '-o', savedPath, 'stowage-fixture:busybox'], { check: true });
  const sidx = await indexTarFile(savedPath);
  const sbytes = readFileSync(savedPath);
  const smember = (n: string) => { const m = sidx.get(n); assert.ok(m, `docker's archive has ${n}`); return sbytes.subarray(m.offset, m.offset + m.size); };
  const [smanifest] = JSON.parse(smember('manifest.json').toString()) as Array<{ Layers: string[] }>;
  assert.deepEqual(smanifest!.Layers.map((l) => sha256(smember(l))), img.diffIds, 'the saved layer tars are our exact bytes');

  const missing = await d.docker(['image', 'inspect', 'nope:none']);
  assert.notEqual(missing.code, 0);

  const pid = Number(readFileSync(join(base, 'dockerd.pid'), 'utf8'));
  await d.stop();
  await d.stop(); // idempotent
  assert.equal(existsSync(base), false, 'directories removed');
  assert.deepEqual(mountsUnder(base), []);
  assert.throws(() => process.kill(pid, 0), 'dockerd is gone');
  const stragglers = readdirSync('/proc').filter((p) => {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) return false;
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(base);
    } catch {
      return false;
    }
  });
  assert.deepEqual(stragglers, [], 'no process (containerd, shim) mentions the daemon directory');
});
