// Image config, manifest and index parsing; digests; chain ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  parseImageConfig, parseManifest, parseIndex, chainIds, chainId, sha256Digest, parseDigest, isDigest,
  MediaTypes, layerCompression, isLayerMediaType, parseJson,
} from '../../src/images/config.js';
import { StowageError } from '../../src/errors.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const base = () => ({
  architecture: 'amd64', os: 'linux', created: '2024-01-02T03:04:05.123456789Z',
  config: { Env: ['PATH=/usr/bin'], Cmd: ['sh'], Labels: { a: 'b' }, ExposedPorts: { '80/tcp': {} }, Volumes: { '/data': {} }, WorkingDir: '/', User: '1000', StopSignal: 'SIGTERM' },
  rootfs: { type: 'layers', diff_ids: [d('a'), d('b')] },
  history: [
    { created: '2024-01-01T00:00:00Z', created_by: 'ADD rootfs' },
    { created_by: 'ENV x=y', empty_layer: true },
    { created_by: 'RUN make', comment: 'c', author: 'me' },
  ],
});

type Mut = (c: any) => void;
const badConfigs: Array<{ doc: string; mut: Mut; field: string }> = [
  { doc: 'missing architecture', mut: (c) => { delete c.architecture; }, field: 'architecture is required' },
  { doc: 'os not a string', mut: (c) => { c.os = 1; }, field: 'os must be a string' },
  { doc: 'missing rootfs', mut: (c) => { delete c.rootfs; }, field: 'rootfs is required' },
  { doc: 'rootfs type', mut: (c) => { c.rootfs.type = 'tar'; }, field: 'rootfs.type must be "layers"' },
  { doc: 'diff_ids not array', mut: (c) => { c.rootfs.diff_ids = 'x'; }, field: 'rootfs.diff_ids must be an array' },
  { doc: 'diff id not sha256', mut: (c) => { c.rootfs.diff_ids[1] = `sha512:${'a'.repeat(128)}`; }, field: 'rootfs.diff_ids[1] must be a sha256 digest' },
  { doc: 'diff id uppercase', mut: (c) => { c.rootfs.diff_ids[0] = `sha256:${'A'.repeat(64)}`; }, field: 'rootfs.diff_ids[0] must be a sha256 digest' },
  { doc: 'history count', mut: (c) => { c.history[1].empty_layer = false; }, field: 'history has 3 non-empty layer entries but rootfs.diff_ids has 2' },
  { doc: 'history not array', mut: (c) => { c.history = {}; }, field: 'history must be an array' },
  { doc: 'history entry not object', mut: (c) => { c.history[0] = 'x'; }, field: 'history[0] must be an object' },
  { doc: 'history empty_layer type', mut: (c) => { c.history[1].empty_layer = 'yes'; }, field: 'history[1].empty_layer must be a boolean' },
  { doc: 'bad created', mut: (c) => { c.created = 'yesterday'; }, field: 'created must be an RFC 3339 time' },
  { doc: 'Env not strings', mut: (c) => { c.config.Env = [1]; }, field: 'config.Env must be an array of strings' },
  { doc: 'Env with NUL', mut: (c) => { c.config.Env = ['A=\0']; }, field: 'config.Env[0] must not contain NUL' },
  { doc: 'Cmd string', mut: (c) => { c.config.Cmd = 'sh'; }, field: 'config.Cmd must be an array of strings' },
  { doc: 'Labels values', mut: (c) => { c.config.Labels = { a: 1 }; }, field: 'config.Labels must be an object of strings' },
  { doc: 'ExposedPorts', mut: (c) => { c.config.ExposedPorts = ['80']; }, field: 'config.ExposedPorts must be an object of objects' },
  { doc: 'Volumes', mut: (c) => { c.config.Volumes = { '/d': true }; }, field: 'config.Volumes must be an object of objects' },
  { doc: 'config not object', mut: (c) => { c.config = []; }, field: 'config must be an object' },
  { doc: 'Healthcheck retries', mut: (c) => { c.config.Healthcheck = { Retries: -1 }; }, field: 'config.Healthcheck.Retries must be a non-negative integer' },
];

test('parseImageConfig accepts a full config and keeps unknown fields', () => {
  const c = { ...base(), docker_version: '20.10.24', 'x-extra': { y: 1 } };
  const p = parseImageConfig(Buffer.from(JSON.stringify(c)));
  assert.equal(p.architecture, 'amd64');
  assert.deepEqual(p.rootfs.diff_ids, [d('a'), d('b')]);
  assert.deepEqual(p['x-extra'], { y: 1 });
  assert.equal(p.config?.Cmd?.[0], 'sh');
});

test('parseImageConfig accepts null Cmd/Entrypoint/Labels, no history, no diff_ids', () => {
  const c: any = base();
  c.config = { Cmd: null, Entrypoint: null, Labels: null, Env: null };
  delete c.history;
  c.rootfs = { type: 'layers' };
  const p = parseImageConfig(JSON.stringify(c));
  assert.deepEqual(p.rootfs.diff_ids, []);
  // An empty history array does not have to match.
  c.history = [];
  c.rootfs.diff_ids = [d('c')];
  parseImageConfig(JSON.stringify(c));
});

for (const b of badConfigs) {
  test(`parseImageConfig rejects: ${b.doc}`, () => {
    const c = base();
    b.mut(c);
    assert.throws(() => parseImageConfig(JSON.stringify(c)), (e: unknown) => {
      assert.ok(e instanceof StowageError && e.kind === 'InvalidArgument');
      assert.equal(e.message, `invalid image config: ${b.field}`);
      return true;
    });
  });
}

test('parseImageConfig rejects non-JSON, non-objects and huge documents', () => {
  assert.throws(() => parseImageConfig('{'), /image config is not valid JSON/);
  assert.throws(() => parseImageConfig('[]'), /must be a JSON object/);
  assert.throws(() => parseImageConfig('null'), /must be a JSON object/);
  assert.throws(() => parseImageConfig(JSON.stringify(base()), { maxBytes: 100 }), /image config is too large/);
  assert.throws(() => parseJson(Buffer.alloc(20, 0x20), 'manifest.json', 10), /manifest.json is too large \(20 bytes, limit 10\)/);
});

const desc = (mediaType: string, c: string, size = 10) => ({ mediaType, digest: d(c), size });

test('parseManifest: OCI and Docker schema2', () => {
  const m = { schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: desc(MediaTypes.ociConfig, '1'), layers: [desc(MediaTypes.ociLayerGzip, '2')] };
  assert.equal(parseManifest(JSON.stringify(m)).layers.length, 1);
  const dm = { ...m, mediaType: MediaTypes.dockerManifest, config: desc(MediaTypes.dockerConfig, '1') };
  parseManifest(JSON.stringify(dm));
  const noMt: any = { ...m }; delete noMt.mediaType;
  parseManifest(JSON.stringify(noMt));
});

const badManifests: Array<{ doc: string; mut: Mut; msg: string }> = [
  { doc: 'schemaVersion', mut: (m) => { m.schemaVersion = 1; }, msg: 'schemaVersion must be 2' },
  { doc: 'index media type', mut: (m) => { m.mediaType = MediaTypes.ociIndex; }, msg: `mediaType is not a manifest type: ${MediaTypes.ociIndex}` },
  { doc: 'config digest', mut: (m) => { m.config.digest = 'sha256:xyz'; }, msg: 'config.digest must be a digest' },
  { doc: 'layer size', mut: (m) => { m.layers[0].size = -1; }, msg: 'layers[0].size must be a non-negative integer' },
  { doc: 'layer size fraction', mut: (m) => { m.layers[0].size = 1.5; }, msg: 'layers[0].size must be a non-negative integer' },
  { doc: 'layers missing', mut: (m) => { delete m.layers; }, msg: 'layers must be an array' },
  { doc: 'layer mediaType missing', mut: (m) => { delete m.layers[0].mediaType; }, msg: 'layers[0].mediaType is required' },
  { doc: 'annotations', mut: (m) => { m.annotations = { a: 1 }; }, msg: 'annotations must be an object of strings' },
];
for (const b of badManifests) {
  test(`parseManifest rejects: ${b.doc}`, () => {
    const m: any = { schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: desc(MediaTypes.ociConfig, '1'), layers: [desc(MediaTypes.ociLayer, '2')] };
    b.mut(m);
    assert.throws(() => parseManifest(JSON.stringify(m)), { message: `invalid image manifest: ${b.msg}` });
  });
}

test('parseIndex', () => {
  const i = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [{ ...desc(MediaTypes.ociManifest, '3'), platform: { architecture: 'arm64', os: 'linux', variant: 'v8' }, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] };
  assert.equal(parseIndex(JSON.stringify(i)).manifests[0]!.platform!.variant, 'v8');
  assert.throws(() => parseIndex(JSON.stringify({ ...i, manifests: [{ ...i.manifests[0], platform: { os: 'linux' } }] })), { message: 'invalid image index: manifests[0].platform.architecture is required' });
  assert.throws(() => parseIndex(JSON.stringify({ schemaVersion: 2 })), { message: 'invalid image index: manifests must be an array' });
});

test('digests', () => {
  assert.equal(sha256Digest(''), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.deepEqual(parseDigest(d('a')), { algorithm: 'sha256', hex: 'a'.repeat(64) });
  assert.ok(isDigest(`sha512:${'0'.repeat(128)}`));
  assert.ok(!isDigest('sha256:abc'));
  assert.ok(!isDigest(42));
  assert.throws(() => parseDigest('nope'), { message: 'invalid checksum digest format' });
  assert.throws(() => parseDigest(`sha256:${'a'.repeat(10)}`), { message: 'invalid checksum digest length' });
});

test('media type helpers', () => {
  assert.equal(layerCompression(MediaTypes.ociLayerGzip), 'gzip');
  assert.equal(layerCompression(MediaTypes.dockerLayerGzip), 'gzip');
  assert.equal(layerCompression(MediaTypes.ociLayerZstd), 'zstd');
  assert.equal(layerCompression(MediaTypes.ociLayer), 'none');
  assert.equal(layerCompression('text/plain'), undefined);
  assert.ok(isLayerMediaType(MediaTypes.ociLayerNondistributableGzip));
  assert.ok(!isLayerMediaType(MediaTypes.ociConfig));
});

// Chain ids checked against sha256sum, an implementation other than ours.
function shellSha256(s: string): string {
  return 'sha256:' + execFileSync('sha256sum', { input: s }).toString().split(' ')[0];
}

test('chainIds against independently computed vectors', () => {
  const diffs = [shellSha256('layer one'), shellSha256('layer two'), shellSha256('layer three')];
  const c2 = shellSha256(`${diffs[0]} ${diffs[1]}`);
  const c3 = shellSha256(`${c2} ${diffs[2]}`);
  assert.deepEqual(chainIds(diffs), [diffs[0], c2, c3]);
  assert.equal(chainId(diffs), c3);
  assert.equal(chainId([]), undefined);
  assert.deepEqual(chainIds([diffs[0]!]), [diffs[0]]);
  assert.throws(() => chainIds(['sha256:nope']), StowageError);
});

test('chainIds: a fixed known vector', () => {
  // sha256("") and sha256("a"), and the chain of the two, computed with sha256sum once.
  const e = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
  const a = 'sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb';
  assert.deepEqual(chainIds([e, a]), [e, shellSha256(`${e} ${a}`)]);
});
