// Interoperability with the real thing: an archive written by writeImageArchive
// loads into Docker 20.10 (which reads manifest.json) with the image ids we
// computed, and what that Docker saves reads back with openImageArchive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createWriteStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { requires, tempDir } from '../helpers/env.js';
import { dockerAvailable, dockerMissing, startDockerd } from '../helpers/dockerd.js';
import { TarWriter } from '../../src/archive/tar-writer.js';
import { openImageArchive, writeImageArchive, type SaveImage } from '../../src/images/archive-format.js';

const sha = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

async function layer(files: Record<string, string>): Promise<Buffer> {
  const parts: Buffer[] = [];
  const tw = new TarWriter(new Writable({ write(c, _e, cb) { parts.push(c); cb(); } }));
  for (const [name, body] of Object.entries(files)) {
    await tw.add({ name, type: 'file', mode: 0o644, size: Buffer.byteLength(body), mtime: 946684800 }, Buffer.from(body));
  }
  await tw.finish();
  return Buffer.concat(parts);
}

function image(layers: Buffer[], repoTags: string[], author: string): SaveImage {
  const diffIds = layers.map(sha);
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', author, created: '2024-01-01T00:00:00Z',
    config: { Cmd: ['/bin/true'] }, rootfs: { type: 'layers', diff_ids: diffIds },
  }));
  async function* one(b: Buffer) { yield b; }
  return { config, repoTags, layers: layers.map((b) => ({ diffId: sha(b), size: b.length, open: () => one(b) })) };
}

async function bytes(src: AsyncIterable<Buffer>): Promise<Buffer> {
  const p: Buffer[] = [];
  for await (const c of src) p.push(c);
  return Buffer.concat(p);
}

test('docker 20.10 loads our archive, and we read what it saves', async (t) => {
  if (!requires(t, dockerAvailable(), dockerMissing() ?? '')) return;
  const dir = tempDir(t);
  const base = await layer({ 'etc/hello': 'hello\n' });
  const a = await layer({ 'a.txt': 'a' });
  const b = await layer({ 'b.txt': 'b' });
  const imgs = [image([base, a], ['stowage-a:1', 'stowage-a:latest'], 'a'), image([base, b], ['localhost:5000/stowage-b:2'], 'b')];
  const file = join(dir, 'ours.tar');
  const ws = createWriteStream(file);
  await writeImageArchive(ws, imgs);
  await new Promise<void>((res, rej) => ws.end((e?: Error | null) => (e ? rej(e) : res())));

  const d = await startDockerd(t);
  const load = await d.docker(['load', '-i', file], { check: true });
  const out = load.stdout.toString();
  for (const tag of ['stowage-a:1', 'stowage-a:latest', 'localhost:5000/stowage-b:2']) assert.match(out, new RegExp(`Loaded image: ${tag}`));
  const ids = await d.docker(['image', 'inspect', '--format', '{{.Id}}', 'stowage-a:1', 'localhost:5000/stowage-b:2'], { check: true });
  assert.deepEqual(ids.stdout.toString().trim().split('\n'), imgs.map((i) => sha(i.config)));

  const saved = join(dir, 'theirs.tar');
  await d.docker(['save', '-o', saved, 'stowage-a:1', 'stowage-a:latest', 'localhost:5000/stowage-b:2'], { check: true });
  const got = await openImageArchive(saved);
  const byId = new Map(got.map((g) => [g.configDigest, g]));
  for (const [i, want] of imgs.entries()) {
    const g = byId.get(sha(want.config));
    assert.ok(g, `image ${i} missing from docker save output`);
    assert.deepEqual(g.config, want.config);
    assert.deepEqual([...g.repoTags].sort(), i === 0 ? ['stowage-a:1', 'stowage-a:latest'] : ['localhost:5000/stowage-b:2']);
    const diffs = await Promise.all(g.layers.map(async (l) => sha(await bytes(l.open()))));
    assert.deepEqual(diffs, want.layers.map((l) => l.diffId));
  }
});
