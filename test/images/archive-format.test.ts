// Image archives: write-then-read round trips (docker-archive and OCI views),
// legacy layouts, OCI layouts with nested indexes, and hostile archives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createWriteStream, writeFileSync, readFileSync, rmSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { tempDir } from '../helpers/env.js';
import { TarWriter } from '../../src/archive/tar-writer.js';
import type { EntryType } from '../../src/archive/tar-reader.js';
import { indexTarFile } from '../../src/archive/tar-reader.js';
import { openImageArchive, writeImageArchive, verifyDigest, type SaveImage, type ArchiveImage } from '../../src/images/archive-format.js';
import { MediaTypes } from '../../src/images/config.js';
import { StowageError } from '../../src/errors.js';

const sha = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const hex = (d: string) => d.slice(7);

interface E { name: string; type?: EntryType; body?: Buffer | string; linkname?: string }
async function tarOf(entries: E[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  const out = new Writable({ write(c, _e, cb) { parts.push(c); cb(); } });
  const tw = new TarWriter(out);
  for (const e of entries) {
    const body = e.body === undefined ? undefined : Buffer.from(e.body);
    await tw.add({ name: e.name, type: e.type ?? 'file', mode: 0o644, size: body?.length ?? 0, linkname: e.linkname ?? '', mtime: 0 }, body);
  }
  await tw.finish();
  return Buffer.concat(parts);
}

async function layer(files: Record<string, string>): Promise<Buffer> {
  return tarOf(Object.entries(files).map(([name, body]) => ({ name, body })));
}

function configFor(diffIds: string[], extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', created: '2024-05-06T07:08:09Z',
    config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: diffIds.map((_d, i) => ({ created_by: `step ${i}` })),
    ...extra,
  }));
}

async function* chunks(b: Buffer, n = 7000): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += n) yield b.subarray(i, i + n);
}

async function collect(src: AsyncIterable<Buffer>): Promise<Buffer> {
  const p: Buffer[] = [];
  for await (const c of src) p.push(c);
  return Buffer.concat(p);
}

async function writeTo(file: string, images: SaveImage[], opened?: Map<string, number>): Promise<void> {
  const ws = createWriteStream(file);
  await writeImageArchive(ws, images.map((im) => ({
    ...im,
    layers: im.layers.map((l) => ({ ...l, open: () => { opened?.set(l.diffId, (opened.get(l.diffId) ?? 0) + 1); return l.open(); } })),
  })));
  await new Promise<void>((res, rej) => ws.end((e?: Error | null) => (e ? rej(e) : res())));
}

function saveLayer(b: Buffer) {
  return { diffId: sha(b), size: b.length, open: () => chunks(b) };
}

async function fixtures() {
  const base = await layer({ 'etc/os-release': 'ID=test\n', 'bin/sh': 'x'.repeat(100_000) });
  const app = await layer({ 'app/main.js': 'console.log(1)\n' });
  const other = await layer({ 'other/file': 'o' });
  const img1: SaveImage = { config: configFor([sha(base), sha(app)]), repoTags: ['busybox', 'myrepo/app:1.0', 'docker.io/myrepo/app:2'], layers: [saveLayer(base), saveLayer(app)] };
  const img2: SaveImage = { config: configFor([sha(base), sha(other)], { author: 'two' }), repoTags: ['localhost:5000/x:y'], layers: [saveLayer(base), saveLayer(other)] };
  const img3: SaveImage = { config: configFor([], { author: 'empty' }), repoTags: [], layers: [] };
  return { base, app, other, img1, img2, img3 };
}

async function checkImages(got: ArchiveImage[], want: SaveImage[], tags: string[][], source: string) {
  assert.equal(got.length, want.length);
  for (const [i, g] of got.entries()) {
    const w = want[i]!;
    assert.equal(g.source, source);
    assert.deepEqual(g.config, w.config);
    assert.equal(g.configDigest, sha(w.config));
    assert.deepEqual(g.repoTags, tags[i]);
    assert.equal(g.layers.length, w.layers.length);
    for (const [j, l] of g.layers.entries()) {
      const bytes = await collect(l.open());
      assert.equal(sha(bytes), w.layers[j]!.diffId);
      assert.equal(l.size, bytes.length);
      assert.equal(l.digest, w.layers[j]!.diffId);
    }
  }
}

const wantTags = [['busybox:latest', 'myrepo/app:1.0', 'myrepo/app:2'], ['localhost:5000/x:y'], []];

test('write then read: docker-archive view', async (t) => {
  const dir = tempDir(t);
  const f = await fixtures();
  const opened = new Map<string, number>();
  await writeTo(join(dir, 'a.tar'), [f.img1, f.img2, f.img3], opened);
  // The shared base layer is read and written once.
  assert.equal(opened.get(sha(f.base)), 1);
  const idx = await indexTarFile(join(dir, 'a.tar'));
  assert.ok(idx.has(`blobs/sha256/${hex(sha(f.base))}`));
  const got = await openImageArchive(join(dir, 'a.tar'));
  await checkImages(got, [f.img1, f.img2, f.img3], wantTags, 'docker-archive');
  // Manifest digests come from the OCI view that sits in the same archive.
  for (const g of got) assert.match(g.manifestDigest ?? '', /^sha256:[a-f0-9]{64}$/);
  assert.equal(got[0]!.layers[0]!.mediaType, MediaTypes.ociLayer);
});

test('write then read: GNU tar sees the docker and OCI layouts, OCI view reads alone', async (t) => {
  const dir = tempDir(t);
  const f = await fixtures();
  await writeTo(join(dir, 'a.tar'), [f.img1, f.img2, f.img3]);
  const x = join(dir, 'x');
  execFileSync('mkdir', [x]);
  execFileSync('tar', ['-xf', join(dir, 'a.tar'), '-C', x]);
  // Every blob is named by the sha256 of its bytes (checked with sha256sum).
  for (const name of readdirSync(join(x, 'blobs/sha256'))) {
    const sum = execFileSync('sha256sum', [join(x, 'blobs/sha256', name)]).toString().split(' ')[0];
    assert.equal(sum, name);
  }
  const manifest = JSON.parse(readFileSync(join(x, 'manifest.json'), 'utf8'));
  assert.deepEqual(manifest[0].RepoTags, wantTags[0]);
  assert.equal(manifest[0].Config, `blobs/sha256/${hex(sha(f.img1.config))}`);
  assert.deepEqual(manifest[1].Layers, [`blobs/sha256/${hex(sha(f.base))}`, `blobs/sha256/${hex(sha(f.other))}`]);
  assert.deepEqual(JSON.parse(readFileSync(join(x, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
  const repos = JSON.parse(readFileSync(join(x, 'repositories'), 'utf8'));
  assert.deepEqual(repos, { busybox: { latest: hex(sha(f.app)) }, 'localhost:5000/x': { y: hex(sha(f.other)) }, 'myrepo/app': { '1.0': hex(sha(f.app)), '2': hex(sha(f.app)) } });
  const index = JSON.parse(readFileSync(join(x, 'index.json'), 'utf8'));
  assert.equal(index.manifests.length, 5); // 3 tags + 1 tag + 1 untagged
  assert.deepEqual(index.manifests[0].annotations, { 'io.containerd.image.name': 'docker.io/library/busybox:latest', 'org.opencontainers.image.ref.name': 'latest' });
  assert.deepEqual(index.manifests[0].platform, { architecture: 'amd64', os: 'linux' });

  // The same directory without manifest.json is a plain OCI layout.
  rmSync(join(x, 'manifest.json'));
  rmSync(join(x, 'repositories'));
  execFileSync('tar', ['-cf', join(dir, 'oci.tar'), '-C', x, '.']);
  const got = await openImageArchive(join(dir, 'oci.tar'));
  await checkImages(got, [f.img1, f.img2, f.img3], wantTags, 'oci-layout');
});

test('write is deterministic and merges duplicate images', async (t) => {
  const dir = tempDir(t);
  const f = await fixtures();
  await writeTo(join(dir, 'a.tar'), [f.img1, f.img2]);
  await writeTo(join(dir, 'b.tar'), [f.img1, f.img2]);
  assert.deepEqual(readFileSync(join(dir, 'a.tar')), readFileSync(join(dir, 'b.tar')));
  await writeTo(join(dir, 'c.tar'), [f.img1, { ...f.img1, repoTags: ['extra:tag', 'busybox'] }]);
  const got = await openImageArchive(join(dir, 'c.tar'));
  assert.equal(got.length, 1);
  assert.deepEqual(got[0]!.repoTags, ['busybox:latest', 'extra:tag', 'myrepo/app:1.0', 'myrepo/app:2']);
});

test('write refuses layers that do not match their config, size or diffId', async () => {
  const f = await fixtures();
  const sink = () => new Writable({ write(_c, _e, cb) { cb(); } });
  await assert.rejects(writeImageArchive(sink(), [{ ...f.img1, layers: [f.img1.layers[0]!] }]), /do not match the config's rootfs.diff_ids/);
  const lying = { ...f.img1, layers: [f.img1.layers[0]!, { ...f.img1.layers[1]!, open: () => chunks(f.other) }] };
  await assert.rejects(writeImageArchive(sink(), [lying]), StowageError);
  const tamper = Buffer.from(f.app); tamper[600] ^= 1;
  const corrupt = { ...f.img1, layers: [f.img1.layers[0]!, { ...f.img1.layers[1]!, open: () => chunks(tamper) }] };
  await assert.rejects(writeImageArchive(sink(), [corrupt]), /content hashes to/);
  await assert.rejects(writeImageArchive(sink(), [{ ...f.img1, repoTags: ['Bad'] }]), /must be lowercase/);
});

// ---------------------------------------------------------------------------
// Legacy docker save (before Docker 25): <hex>.json configs, <v1id>/layer.tar,
// duplicate layers as symlinks, "./" prefixed names from some tools.

async function legacyArchive(dir: string, mut?: (m: any[], entries: E[]) => void): Promise<{ path: string; l1: Buffer; l2: Buffer; config: Buffer }> {
  const l1 = await layer({ 'a': '1' });
  const l2 = await layer({ 'b': '2' });
  const config = configFor([sha(l1), sha(l2), sha(l1)]);
  const v1 = ['1'.repeat(64), '2'.repeat(64), '3'.repeat(64)];
  const manifest: any[] = [{ Config: `${hex(sha(config))}.json`, RepoTags: ['old:v1'], Layers: v1.map((v) => `${v}/layer.tar`) }];
  const entries: E[] = [
    { name: `${hex(sha(config))}.json`, body: config },
    { name: `${v1[0]}/`, type: 'dir' }, { name: `${v1[0]}/VERSION`, body: '1.0' }, { name: `${v1[0]}/json`, body: '{}' },
    { name: `${v1[0]}/layer.tar`, body: l1 },
    { name: `./${v1[1]}/layer.tar`, body: l2 },
    { name: `${v1[2]}/layer.tar`, type: 'symlink', linkname: `../${v1[0]}/layer.tar` },
    { name: 'repositories', body: JSON.stringify({ old: { v1: v1[2] } }) },
  ];
  mut?.(manifest, entries);
  entries.push({ name: 'manifest.json', body: JSON.stringify(manifest) });
  const path = join(dir, 'legacy.tar');
  writeFileSync(path, await tarOf(entries));
  return { path, l1, l2, config };
}

test('reads a legacy docker save layout with symlinked duplicate layers', async (t) => {
  const dir = tempDir(t);
  const { path, l1, l2, config } = await legacyArchive(dir);
  const [img, ...rest] = await openImageArchive(path);
  assert.equal(rest.length, 0);
  assert.equal(img!.configDigest, sha(config));
  assert.deepEqual(img!.repoTags, ['old:v1']);
  assert.equal(img!.manifestDigest, undefined);
  const bodies = await Promise.all(img!.layers.map((l) => collect(l.open())));
  assert.deepEqual(bodies.map(sha), [sha(l1), sha(l2), sha(l1)]);
  assert.equal(img!.layers[0]!.digest, undefined);
});

test('reads a legacy archive made by GNU tar with a hardlinked duplicate', async (t) => {
  const dir = tempDir(t);
  const x = join(dir, 'x');
  const l1 = await layer({ a: '1' });
  const config = configFor([sha(l1), sha(l1)]);
  execFileSync('mkdir', ['-p', join(x, 'aa'), join(x, 'bb')]);
  writeFileSync(join(x, 'aa/layer.tar'), l1);
  execFileSync('ln', [join(x, 'aa/layer.tar'), join(x, 'bb/layer.tar')]);
  writeFileSync(join(x, `${hex(sha(config))}.json`), config);
  writeFileSync(join(x, 'manifest.json'), JSON.stringify([{ Config: `${hex(sha(config))}.json`, RepoTags: null, Layers: ['aa/layer.tar', 'bb/layer.tar'] }]));
  execFileSync('tar', ['-cf', join(dir, 'g.tar'), '-C', x, '.']);
  const [img] = await openImageArchive(join(dir, 'g.tar'));
  assert.deepEqual(img!.repoTags, []);
  for (const l of img!.layers) assert.equal(sha(await collect(l.open())), sha(l1));
});

// ---------------------------------------------------------------------------
// OCI layouts made by other tools: gzip/zstd media types, nested indexes,
// multi-platform selection, attestations, tag-only ref.name.

async function ociArchive(dir: string, opts: { mutIndex?: (i: any) => void; mutManifest?: (m: any) => void; extra?: E[]; noLayout?: boolean } = {}) {
  const l1 = await layer({ 'x': 'amd' });
  const gz = gzipSync(l1);
  const armLayer = gzipSync(await layer({ 'x': 'arm' }));
  const cfgAmd = configFor([sha(l1)]);
  const cfgArm = Buffer.from(JSON.stringify({ ...JSON.parse(configFor([sha(await layer({ x: 'arm' }))]).toString()), architecture: 'arm64', variant: 'v8' }));
  const mAmd: any = { schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: { mediaType: MediaTypes.ociConfig, digest: sha(cfgAmd), size: cfgAmd.length }, layers: [{ mediaType: MediaTypes.ociLayerGzip, digest: sha(gz), size: gz.length }] };
  opts.mutManifest?.(mAmd);
  const mAmdB = Buffer.from(JSON.stringify(mAmd));
  const mArm = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.dockerManifest, config: { mediaType: MediaTypes.dockerConfig, digest: sha(cfgArm), size: cfgArm.length }, layers: [{ mediaType: MediaTypes.dockerLayerGzip, digest: sha(armLayer), size: armLayer.length }] }));
  const att = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: { mediaType: 'application/vnd.in-toto+json', digest: sha('{}'), size: 2 }, layers: [] }));
  const nested = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [
    { mediaType: MediaTypes.dockerManifest, digest: sha(mArm), size: mArm.length, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
    { mediaType: MediaTypes.ociManifest, digest: sha(mAmdB), size: mAmdB.length, platform: { architecture: 'amd64', os: 'linux' } },
    { mediaType: MediaTypes.ociManifest, digest: sha(att), size: att.length, platform: { architecture: 'unknown', os: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } },
  ] }));
  const index: any = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [
    { mediaType: MediaTypes.ociIndex, digest: sha(nested), size: nested.length, annotations: { 'io.containerd.image.name': 'docker.io/library/multi:1', 'org.opencontainers.image.ref.name': '1' } },
    { mediaType: MediaTypes.ociManifest, digest: sha(mAmdB), size: mAmdB.length, annotations: { 'org.opencontainers.image.ref.name': 'tagonly' } },
    { mediaType: MediaTypes.ociManifest, digest: sha(mAmdB), size: mAmdB.length, annotations: { 'org.opencontainers.image.ref.name': 'ghcr.io/o/r:v2' } },
  ] };
  opts.mutIndex?.(index);
  const blobs = [cfgAmd, cfgArm, gz, armLayer, mAmdB, mArm, att, nested, Buffer.from('{}')];
  const entries: E[] = [
    ...(opts.noLayout ? [] : [{ name: 'oci-layout', body: JSON.stringify({ imageLayoutVersion: '1.0.0' }) }]),
    { name: 'index.json', body: JSON.stringify(index) },
    ...blobs.map((b) => ({ name: `blobs/sha256/${hex(sha(b))}`, body: b })),
    ...(opts.extra ?? []),
  ];
  const path = join(dir, 'oci.tar');
  writeFileSync(path, await tarOf(entries));
  return { path, l1, gz, cfgAmd, cfgArm, mAmdB, armLayer };
}

test('reads an OCI layout: nested index, platform choice, attestations skipped, names', async (t) => {
  const dir = tempDir(t);
  const o = await ociArchive(dir);
  const got = await openImageArchive(o.path, { platform: { os: 'linux', architecture: 'amd64' } });
  assert.equal(got.length, 1); // one manifest reached three ways
  const img = got[0]!;
  assert.equal(img.source, 'oci-layout');
  assert.equal(img.manifestDigest, sha(o.mAmdB));
  assert.deepEqual(img.repoTags, ['multi:1', 'ghcr.io/o/r:v2']);
  assert.deepEqual(img.refNames, ['tagonly']);
  assert.equal(img.layers[0]!.mediaType, MediaTypes.ociLayerGzip);
  assert.equal(img.layers[0]!.digest, sha(o.gz));
  assert.deepEqual(await collect(img.layers[0]!.open()), o.gz);

  const arm = await openImageArchive(o.path, { platform: { os: 'linux', architecture: 'arm64' } });
  assert.equal(arm.length, 2);
  assert.equal(arm[0]!.configDigest, sha(o.cfgArm));
  assert.deepEqual(arm[0]!.repoTags, ['multi:1']);
  assert.equal(arm[0]!.layers[0]!.mediaType, MediaTypes.dockerLayerGzip);

  await assert.rejects(openImageArchive(o.path, { platform: { os: 'linux', architecture: 's390x' } }),
    (e: unknown) => e instanceof StowageError && e.kind === 'NotFound' && /no manifest for platform linux\/s390x/.test(e.message));
});

// ---------------------------------------------------------------------------
// Hostile archives. Each test is named after what it stops.

async function rejectsWith(path: string, re: RegExp, opts?: Parameters<typeof openImageArchive>[1]) {
  await assert.rejects(openImageArchive(path, opts), (e: unknown) => {
    assert.ok(e instanceof StowageError, String(e));
    assert.equal(e.kind, 'InvalidArgument', e.message);
    assert.match(e.message, re);
    return true;
  });
}

test('hostile: path traversal in manifest.json layer paths', async (t) => {
  const dir = tempDir(t);
  for (const bad of ['../../etc/passwd', '/etc/passwd', 'a/../../x', '..']) {
    const { path } = await legacyArchive(dir, (m) => { m[0].Layers[1] = bad; });
    await rejectsWith(path, /Layers\[1\]: path escapes the archive/);
  }
});

test('hostile: traversal in Config path', async (t) => {
  const dir = tempDir(t);
  const { path } = await legacyArchive(dir, (m) => { m[0].Config = '../config.json'; });
  await rejectsWith(path, /Config: path escapes the archive: \.\.\/config\.json/);
});

test('hostile: symlinked layer pointing outside the archive', async (t) => {
  const dir = tempDir(t);
  const { path } = await legacyArchive(dir, (_m, entries) => {
    const e = entries.find((x) => x.type === 'symlink')!;
    e.linkname = '../../../etc/passwd';
  });
  await rejectsWith(path, /links outside the archive/);
});

test('hostile: symlink loop', async (t) => {
  const dir = tempDir(t);
  const { path } = await legacyArchive(dir, (m, entries) => {
    entries.push({ name: 'loop/a', type: 'symlink', linkname: 'b' }, { name: 'loop/b', type: 'symlink', linkname: 'a' });
    m[0].Layers[0] = 'loop/a';
  });
  await rejectsWith(path, /too many levels of links/);
});

test('hostile: layer path naming a directory', async (t) => {
  const dir = tempDir(t);
  const { path } = await legacyArchive(dir, (m) => { m[0].Layers[0] = '1'.repeat(64); });
  await rejectsWith(path, /is not a regular file/);
});

test('hostile: missing layer and missing config', async (t) => {
  const dir = tempDir(t);
  let a = await legacyArchive(dir, (m) => { m[0].Layers[0] = 'nothere/layer.tar'; });
  await rejectsWith(a.path, /nothere\/layer\.tar not found in archive/);
  a = await legacyArchive(dir, (m) => { m[0].Config = `${'9'.repeat(64)}.json`; });
  await rejectsWith(a.path, /not found in archive/);
});

test('hostile: config that does not match its digest name', async (t) => {
  const dir = tempDir(t);
  const { path } = await legacyArchive(dir, (m, entries) => {
    const e = entries[0]!;
    e.name = `${'f'.repeat(64)}.json`;
    m[0].Config = e.name;
  });
  await rejectsWith(path, /does not match its digest sha256:f{64}/);
});

test('hostile: config diff_ids and Layers disagree in count', async (t) => {
  const dir = tempDir(t);
  const { path } = await legacyArchive(dir, (m) => { m[0].Layers.pop(); });
  await rejectsWith(path, /image has 2 layers but its config lists 3 diff_ids/);
});

test('hostile: malformed manifest.json', async (t) => {
  const dir = tempDir(t);
  const cases: Array<[(m: any[]) => void, RegExp]> = [
    [(m) => { m[0].RepoTags = ['UPPER:x']; }, /invalid image name/],
    [(m) => { m[0].RepoTags = ['x@sha256:' + 'a'.repeat(64)]; }, /has no tag/],
    [(m) => { m[0].RepoTags = [1]; }, /RepoTags: must be an array of strings/],
    [(m) => { m[0].Layers = 'x'; }, /Layers: must be an array/],
    [(m) => { m[0].Config = 5; }, /Config: path must be a string/],
    [(m) => { m[0] = 'x'; }, /manifest.json\[0\]: must be an object/],
  ];
  for (const [mut, re] of cases) {
    const { path } = await legacyArchive(dir, mut);
    await rejectsWith(path, re);
  }
  const p = join(dir, 'nojson.tar');
  writeFileSync(p, await tarOf([{ name: 'manifest.json', body: '{not json' }]));
  await rejectsWith(p, /manifest.json is not valid JSON/);
  writeFileSync(p, await tarOf([{ name: 'manifest.json', body: '{}' }]));
  await rejectsWith(p, /manifest.json: must be a JSON array/);
});

test('hostile: huge manifest.json is refused before it is read', async (t) => {
  const dir = tempDir(t);
  const p = join(dir, 'huge.tar');
  writeFileSync(p, await tarOf([{ name: 'manifest.json', body: Buffer.alloc(9 << 20, 0x20) }]));
  await rejectsWith(p, /manifest.json is too large \(9437184 bytes, limit 8388608\)/);
  const { path } = await legacyArchive(dir);
  await rejectsWith(path, /too large/, { maxJsonBytes: 64 });
});

test('hostile: OCI blob missing, digest mismatch, size mismatch, bad layout', async (t) => {
  const dir = tempDir(t);
  const plat = { platform: { os: 'linux', architecture: 'amd64' } };
  let o = await ociArchive(dir, { mutManifest: (m) => { m.layers[0].digest = 'sha256:' + 'e'.repeat(64); } });
  await rejectsWith(o.path, /blobs\/sha256\/e{64} not found in archive/, plat);
  o = await ociArchive(dir, { mutManifest: (m) => { m.layers[0].size += 1; } });
  await rejectsWith(o.path, /has \d+ bytes but its descriptor says \d+/, plat);
  o = await ociArchive(dir, { mutIndex: (i) => { i.manifests = [{ ...i.manifests[1], digest: 'sha256:' + 'd'.repeat(64) }]; },
    extra: [{ name: `blobs/sha256/${'d'.repeat(64)}`, body: Buffer.alloc(0) }] });
  await rejectsWith(o.path, /has 0 bytes but its descriptor says/, plat);
  // Right size, wrong content.
  const fake = Buffer.from(JSON.stringify({ schemaVersion: 2 }));
  o = await ociArchive(dir, { mutIndex: (i) => { i.manifests = [{ mediaType: MediaTypes.ociManifest, digest: 'sha256:' + 'c'.repeat(64), size: fake.length }]; },
    extra: [{ name: `blobs/sha256/${'c'.repeat(64)}`, body: fake }] });
  await rejectsWith(o.path, /does not match its digest sha256:c{64}/, plat);
  o = await ociArchive(dir, { noLayout: true });
  await rejectsWith(o.path, /oci-layout: missing/, plat);
  o = await ociArchive(dir, { mutManifest: (m) => { m.layers[0].mediaType = 'text/plain'; } });
  await rejectsWith(o.path, /unsupported layer media type text\/plain/, plat);
});

test('hostile: not an image archive at all', async (t) => {
  const dir = tempDir(t);
  const p = join(dir, 'x.tar');
  writeFileSync(p, await tarOf([{ name: 'hello', body: 'x' }]));
  await rejectsWith(p, /not an image archive/);
  writeFileSync(p, await tarOf([{ name: 'repositories', body: '{}' }]));
  await rejectsWith(p, /pre-1\.10 docker save format is not supported/);
  const text = 'this is not a tar file at all, just text, repeated '.repeat(30);
  writeFileSync(p, Buffer.from(text));
  await assert.rejects(openImageArchive(p), (e: unknown) => e instanceof StowageError && e.kind === 'InvalidArgument');
  assert.equal(readFileSync(p, 'utf8'), text, 'the rejected input is left as it was');
});

test('verifyDigest passes good bytes and rejects bad ones', async () => {
  const b = Buffer.from('hello world');
  assert.deepEqual(await collect(verifyDigest(chunks(b, 3), sha(b), b.length, 'x')), b);
  await assert.rejects(collect(verifyDigest(chunks(b, 3), sha('other'), b.length, 'blob x')), /blob x: content digest/);
  await assert.rejects(collect(verifyDigest(chunks(b, 3), sha(b), 5, 'blob x')), /more than the declared 5 bytes/);
  await assert.rejects(collect(verifyDigest(chunks(b, 3), sha(b), 50, 'blob x')), /11 bytes, expected 50/);
});
