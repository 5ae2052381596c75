// Loading an OCI image layout archive whose layers are gzip-compressed: the blob
// digests (compressed) and diffIDs (uncompressed) are both checked, and save then
// gives back the uncompressed layers with the same image ID.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { tempDir, requiresRoot } from '../helpers/env.js';
import { stowage } from '../helpers/cli.js';
import { makeRootfs, makeLayerTar, sha256 } from '../helpers/images.js';

function ociArchive(dir: string, layers: Buffer[], name: string, corruptBlob = false): { path: string; imageId: string; diffIds: string[]; blobDigests: string[] } {
  const root = join(dir, `oci-${Math.random().toString(16).slice(2)}`);
  const blobs = join(root, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer) => { const d = sha256(b); writeFileSync(join(blobs, d.slice(7)), b); return d; };
  const diffIds = layers.map((l) => sha256(l));
  const gz = layers.map((l) => gzipSync(l));
  const layerDescs = gz.map((g) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: put(g), size: g.length }));
  if (corruptBlob) {
    // Same name and a matching descriptor size, different bytes: only the blob digest check can catch it.
    const bad = gzipSync(Buffer.concat([layers[0]!, Buffer.alloc(1024)]));
    writeFileSync(join(blobs, layerDescs[0]!.digest.slice(7)), bad);
    layerDescs[0]!.size = bad.length;
  }
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: diffIds } }));
  const cfgDigest = put(config);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfgDigest, size: config.length }, layers: layerDescs }));
  const mDigest = put(manifest);
  writeFileSync(join(root, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(root, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: mDigest, size: manifest.length, annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': name.split(':')[1] } }] }));
  const path = `${root}.tar`;
  const r = spawnSync('tar', ['-C', root, '-cf', path, '.'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { path, imageId: cfgDigest, diffIds, blobDigests: layerDescs.map((d) => d.digest) };
}

describe('OCI image layout archives', () => {
  for (const driver of ['overlay2', 'vfs']) {
    it(`load gzip layers from an OCI layout on ${driver}, refusing a blob that does not match its digest`, async (t) => {
      if (!requiresRoot(t)) return;
      const dir = tempDir(t);
      const s = stowage(join(dir, 'root'), driver);
      const base = join(dir, 'base');
      await makeRootfs(base, 'busybox');
      const top = join(dir, 'top');
      mkdirSync(join(top, 'srv'), { recursive: true });
      writeFileSync(join(top, 'srv', 'index.html'), 'hello\n');
      const layers = [await makeLayerTar(base), await makeLayerTar(top)];
      const bad = ociArchive(dir, layers, 'docker.io/library/web:1', true);
      const r = await s.run(['load', '-i', bad.path]);
      assert.equal(r.code, 1);
      assert.ok(r.stderr.includes(bad.blobDigests[0]!), `the error names the bad blob: ${r.stderr}`);
      assert.match(r.stderr, /layer blob digest mismatch/, 'the blob digest check is what fails');
      assert.equal((await s.ok(['images', '-q'])).trim(), '');
      assert.match(await s.ok(['system', 'check']), /No problems found/);

      const good = ociArchive(dir, layers, 'docker.io/library/web:1');
      assert.match(await s.ok(['load', '-i', good.path]), /Loaded image: web:1/);
      const [info] = JSON.parse(await s.ok(['image', 'inspect', 'web:1']));
      assert.equal(info.Id, good.imageId);
      assert.deepEqual(info.RootFS.Layers, good.diffIds);
      const saved = join(dir, 'saved.tar');
      await s.ok(['save', '-o', saved, 'web:1']);
      const s2 = stowage(join(dir, 'root2'), driver);
      await s2.ok(['load', '-i', saved]);
      const [info2] = JSON.parse(await s2.ok(['image', 'inspect', 'web:1']));
      assert.equal(info2.Id, good.imageId);
    });
  }
});
