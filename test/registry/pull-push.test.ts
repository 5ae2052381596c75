// Pull and push against a real registry (Debian's docker-registry, distribution
// 2.8) on 127.0.0.1 over plain HTTP: round trip with the same image ID and diffIDs,
// RepoDigests, layers skipped and blobs mounted on a second push, pull by digest, a
// multi-platform index, run/create pulling a missing image, and Docker's errors.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { makeRootfs, makeLayerTar } from '../helpers/images.js';
import { tempDir, requiresRoot, requires } from '../helpers/env.js';
import { cli, fixtureArchive, haveRegistry, inspect, startRegistry } from './harness.js';

const sha = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

async function putJson(url: string, body: unknown, mediaType: string): Promise<Response> {
  const bytes = Buffer.from(JSON.stringify(body));
  return fetch(url, { method: 'PUT', headers: { 'Content-Type': mediaType }, body: bytes });
}

/** Uploads a blob in one monolithic PUT (POST then PUT ?digest=). */
async function putBlob(base: string, repo: string, bytes: Buffer): Promise<string> {
  const digest = sha(bytes);
  const post = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  assert.equal(post.status, 202);
  const loc = new URL(post.headers.get('location')!, base);
  loc.searchParams.set('digest', digest);
  const put = await fetch(loc, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream' }, body: new Uint8Array(bytes) });
  assert.equal(put.status, 201, await put.text());
  return digest;
}

describe('registry pull and push (plain HTTP)', () => {
  it('an OCI image with zstd and gzip layers: pulled with the right diffIDs, its blobs mounted on push', async (t) => {
    if (!requiresRoot(t) || !requires(t, haveRegistry, 'docker-registry not installed')) return;
    if (!requires(t, spawnSync('sh', ['-c', 'command -v zstd']).status === 0, 'zstd not installed')) return;
    const dir = tempDir(t);
    const reg = await startRegistry(t, dir);
    const base = `${dir}/rootfs`;
    await makeRootfs(base, 'busybox');
    const tar1 = await makeLayerTar(base);
    mkdirSync(`${dir}/top/etc`, { recursive: true });
    writeFileSync(`${dir}/top/etc/zstd-was-here`, 'yes\n');
    const tar2 = await makeLayerTar(`${dir}/top`);
    const z = spawnSync('zstd', ['-q', '-c'], { input: tar1, maxBuffer: 1 << 28 });
    assert.equal(z.status, 0);
    const zst = z.stdout as Buffer;
    const gz = gzipSync(tar2);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [sha(tar1), sha(tar2)] }, history: [{ created_by: 'zstd' }, { created_by: 'gzip' }] }));
    const url = `http://${reg.host}`;
    const layers = [
      { mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', digest: await putBlob(url, 'oci/z', zst), size: zst.length },
      { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await putBlob(url, 'oci/z', gz), size: gz.length },
    ];
    const manifest = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await putBlob(url, 'oci/z', config), size: config.length }, layers };
    assert.equal((await putJson(`${url}/v2/oci/z/manifests/1`, manifest, manifest.mediaType)).status, 201);

    const a = cli(`${dir}/a`);
    const out = await a.ok(['pull', `${reg.host}/oci/z:1`]);
    assert.equal((out.match(/Pull complete/g) ?? []).length, 2, out);
    const info = inspect(await a.ok(['image', 'inspect', `${reg.host}/oci/z:1`]));
    assert.equal(info.Id, sha(config));
    assert.deepEqual(info.RootFS.Layers, [sha(tar1), sha(tar2)]);
    // Pushed to another repository of the same registry: both blobs mounted, the manifest stays OCI.
    await a.ok(['tag', `${reg.host}/oci/z:1`, `${reg.host}/oci/copy:1`]);
    const pushed = await a.ok(['push', `${reg.host}/oci/copy:1`]);
    assert.equal((pushed.match(/Mounted from oci\/z/g) ?? []).length, 2, pushed);
    const man = JSON.parse(await (await fetch(`${url}/v2/oci/copy/manifests/1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })).text());
    assert.equal(man.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.deepEqual(man.layers.map((l: { digest: string }) => l.digest), layers.map((l) => l.digest));
    assert.equal(man.config.digest, sha(config));
  });

  it('push then pull: same image ID, diffIDs and RepoDigests; second push skips, other repo mounts; pull by digest', async (t) => {
    if (!requiresRoot(t) || !requires(t, haveRegistry, 'docker-registry not installed')) return;
    const dir = tempDir(t);
    const reg = await startRegistry(t, dir);
    const a = cli(`${dir}/a`);
    const b = cli(`${dir}/b`);
    const arch = await fixtureArchive(dir, 'app', [`${reg.host}/team/app:v1`]);
    await a.ok(['load', '-i', arch.path]);

    const pushed = await a.ok(['push', `${reg.host}/team/app:v1`]);
    assert.match(pushed, new RegExp(`The push refers to repository \\[${reg.host}/team/app\\]`));
    assert.equal((pushed.match(/: Pushed$/gm) ?? []).length, 3, pushed);
    const m = /^v1: digest: (sha256:[a-f0-9]{64}) size: (\d+)$/m.exec(pushed);
    assert.ok(m, pushed);
    const digest = m[1]!;

    // The registry holds what the push said: the manifest by tag hashes to the digest.
    const man = Buffer.from(await (await fetch(`${reg.url}/v2/team/app/manifests/v1`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } })).arrayBuffer());
    assert.equal(sha(man), digest);
    assert.equal(man.length, Number(m[2]));
    assert.equal(JSON.parse(man.toString()).config.digest, arch.imageId);

    const again = await a.ok(['push', `${reg.host}/team/app:v1`]);
    assert.equal((again.match(/: Layer already exists$/gm) ?? []).length, 3, again);
    assert.match(again, new RegExp(`v1: digest: ${digest} size:`));

    await a.ok(['tag', `${reg.host}/team/app:v1`, `${reg.host}/other/app:v2`]);
    const mounted = await a.ok(['push', `${reg.host}/other/app:v2`]);
    assert.equal((mounted.match(/: Mounted from team\/app$/gm) ?? []).length, 3, mounted);

    const pulled = await b.ok(['pull', `${reg.host}/team/app:v1`]);
    assert.match(pulled, /^v1: Pulling from team\/app$/m);
    assert.equal((pulled.match(/: Pull complete$/gm) ?? []).length, 3, pulled);
    assert.match(pulled, new RegExp(`^Digest: ${digest}$`, 'm'));
    assert.match(pulled, new RegExp(`^Status: Downloaded newer image for ${reg.host}/team/app:v1$`, 'm'));
    assert.match(pulled, new RegExp(`^${reg.host}/team/app:v1\\n$`, 'm'));
    const info = inspect(await b.ok(['image', 'inspect', `${reg.host}/team/app:v1`]));
    assert.equal(info.Id, arch.imageId);
    assert.deepEqual(info.RootFS.Layers, arch.diffIds);
    assert.deepEqual(info.RepoDigests, [`${reg.host}/team/app@${digest}`]);
    const digests = await b.ok(['images', '--digests', '--format', '{{.Repository}} {{.Tag}} {{.Digest}}']);
    assert.match(digests, new RegExp(`${reg.host}/team/app v1 ${digest}`));

    const upToDate = await b.ok(['pull', `${reg.host}/team/app:v1`]);
    assert.match(upToDate, /Status: Image is up to date for/);
    assert.doesNotMatch(upToDate, /Pull complete/);

    // By digest, into a third store: the image is named by its digest only.
    const c = cli(`${dir}/c`);
    const q = await c.ok(['pull', '-q', `${reg.host}/other/app@${digest}`]);
    assert.equal(q, `${reg.host}/other/app@${digest}\n`);
    const ci = inspect(await c.ok(['image', 'inspect', `${reg.host}/other/app@${digest}`]));
    assert.equal(ci.Id, arch.imageId);
    assert.deepEqual(ci.RepoTags, []);

    // The pulled layers are the real thing: saved, they are the loaded tars byte for byte.
    assert.match(await b.ok(['system', 'check']), /No problems found/);
    const hist = await b.ok(['history', '-q', `${reg.host}/team/app:v1`]);
    assert.match(hist, /[a-f0-9]{12}/);
  });

  it('a multi-platform index: the host platform by default, --platform picks another', async (t) => {
    if (!requiresRoot(t) || !requires(t, haveRegistry, 'docker-registry not installed')) return;
    const dir = tempDir(t);
    const reg = await startRegistry(t, dir);
    const a = cli(`${dir}/a`);
    const amd = await fixtureArchive(dir, 'amd', [`${reg.host}/multi:amd64`], { config: { architecture: 'amd64', os: 'linux' } });
    const arm = await fixtureArchive(dir, 'arm', [`${reg.host}/multi:arm64`], { config: { architecture: 'arm64', variant: 'v8', os: 'linux' }, seed: 'arm' });
    await a.ok(['load', '-i', amd.path]);
    await a.ok(['load', '-i', arm.path]);
    const d1 = /digest: (sha256:\S+) size: (\d+)/.exec(await a.ok(['push', `${reg.host}/multi:amd64`]))!;
    const d2 = /digest: (sha256:\S+) size: (\d+)/.exec(await a.ok(['push', `${reg.host}/multi:arm64`]))!;
    const index = {
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: d2[1], size: Number(d2[2]), platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
        { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: d1[1], size: Number(d1[2]), platform: { architecture: 'amd64', os: 'linux' } },
      ],
    };
    const put = await putJson(`${reg.url}/v2/multi/manifests/latest`, index, index.mediaType);
    assert.equal(put.status, 201, await put.text());
    const indexDigest = put.headers.get('docker-content-digest')!;

    const b = cli(`${dir}/b`);
    const out = await b.ok(['pull', `${reg.host}/multi`]);
    assert.match(out, new RegExp(`Digest: ${indexDigest}`));
    const host = inspect(await b.ok(['image', 'inspect', `${reg.host}/multi:latest`]));
    const hostArch = process.arch === 'x64' ? 'amd64' : process.arch;
    assert.equal(host.Id, hostArch === 'amd64' ? amd.imageId : arm.imageId);
    assert.deepEqual(host.RepoDigests, [`${reg.host}/multi@${indexDigest}`]);

    const c = cli(`${dir}/c`);
    await c.ok(['pull', '--platform', 'linux/arm64', `${reg.host}/multi:latest`]);
    const other = inspect(await c.ok(['image', 'inspect', `${reg.host}/multi:latest`]));
    assert.equal(other.Id, arm.imageId);
    assert.equal(other.Architecture, 'arm64');

    const none = await c.run(['pull', '--platform', 'linux/s390x', `${reg.host}/multi:latest`]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no matching manifest for linux\/s390x in the manifest list entries/);
  });

  it('run and create pull a missing image; --pull never refuses; -a pulls every tag', async (t) => {
    if (!requiresRoot(t) || !requires(t, haveRegistry, 'docker-registry not installed')) return;
    const dir = tempDir(t);
    const reg = await startRegistry(t, dir);
    const a = cli(`${dir}/a`);
    const arch = await fixtureArchive(dir, 'app', [`${reg.host}/app:1`, `${reg.host}/app:2`]);
    await a.ok(['load', '-i', arch.path]);
    await a.ok(['push', `${reg.host}/app:1`]);
    await a.ok(['push', `${reg.host}/app:2`]);

    const b = cli(`${dir}/b`, 'overlay2');
    const never = await b.run(['run', '--rm', '--pull', 'never', `${reg.host}/app:1`]);
    assert.equal(never.code, 125);
    assert.match(never.stderr, new RegExp(`No such image: ${reg.host}/app:1`));
    const bad = await b.run(['run', '--rm', '--pull', 'sometimes', `${reg.host}/app:1`]);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /invalid pull option: 'sometimes'/);

    const r = await b.run(['run', '--rm', `${reg.host}/app:1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`^Unable to find image '${reg.host}/app:1' locally$`, 'm'));
    assert.match(r.stderr, /Pull complete/);
    assert.equal(r.stdout, 'hello from app\n');
    // Present now: no pull the second time.
    const r2 = await b.run(['run', '--rm', `${reg.host}/app:1`]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(r2.stderr, '');

    const created = await b.run(['create', '--pull', 'always', `${reg.host}/app:2`]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stderr, /Status: Image is up to date|Status: Downloaded newer image/);
    await b.ok(['rm', created.stdout.trim()]);

    // A build's FROM pulls a missing base image, its lines in the build output.
    const ctx = `${dir}/ctx`;
    mkdirSync(ctx, { recursive: true });
    writeFileSync(`${ctx}/Dockerfile`, `FROM ${reg.host}/app:2\nLABEL built=yes\n`);
    const d = cli(`${dir}/d`);
    const built = await d.run(['build', '-t', 'child:1', ctx]);
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stdout, /2: Pulling from app/);
    assert.equal(inspect(await d.ok(['image', 'inspect', `${reg.host}/app:2`])).Id, arch.imageId);
    assert.deepEqual(inspect(await d.ok(['image', 'inspect', 'child:1'])).RootFS.Layers, arch.diffIds);

    const c = cli(`${dir}/c`);
    const all = await c.ok(['pull', '-a', `${reg.host}/app`]);
    assert.match(all, /^1: Pulling from app$/m);
    assert.match(all, /^2: Pulling from app$/m);
    const tags = (await c.ok(['images', '--format', '{{.Tag}}'])).trim().split('\n').sort();
    assert.deepEqual(tags, ['1', '2']);
  });

  it('docker.io names go to the registry mirrors of the settings file first', async (t) => {
    if (!requiresRoot(t) || !requires(t, haveRegistry, 'docker-registry not installed')) return;
    const dir = tempDir(t);
    const reg = await startRegistry(t, dir);
    const a = cli(`${dir}/a`);
    const arch = await fixtureArchive(dir, 'mir', [`${reg.host}/library/mirrored:1`]);
    await a.ok(['load', '-i', arch.path]);
    await a.ok(['push', `${reg.host}/library/mirrored:1`]);
    const b = cli(`${dir}/b`);
    mkdirSync(`${dir}/b`, { recursive: true });
    writeFileSync(b.env.STOWAGE_REGISTRY_CONFIG!, JSON.stringify({ 'registry-mirrors': [`http://${reg.host}`] }));
    const out = await b.ok(['pull', 'mirrored:1']);
    assert.match(out, /^1: Pulling from library\/mirrored$/m);
    assert.match(out, /^docker\.io\/library\/mirrored:1$/m);
    const info = inspect(await b.ok(['image', 'inspect', 'mirrored:1']));
    assert.equal(info.Id, arch.imageId);
    assert.deepEqual(info.RepoTags, ['mirrored:1']);
    assert.match(info.RepoDigests[0]!, /^mirrored@sha256:/);
  });

  it('errors: unreachable registry named fast, unknown manifest, tag with -a, push of a missing image', async (t) => {
    if (!requiresRoot(t) || !requires(t, haveRegistry, 'docker-registry not installed')) return;
    const dir = tempDir(t);
    const reg = await startRegistry(t, dir);
    const a = cli(`${dir}/a`);
    const { freePort } = await import('./harness.js');
    const dead = await freePort();
    const t0 = Date.now();
    const refused = await a.run(['pull', `127.0.0.1:${dead}/x:1`]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`^Error: Get "https?://127.0.0.1:${dead}/v2/": dial tcp 127.0.0.1:${dead}: connect: connection refused$`, 'm'));
    assert.ok(Date.now() - t0 < 10_000);
    const unknownHost = await a.run(['pull', 'nosuchhost.invalid/x:1']);
    assert.equal(unknownHost.code, 1);
    assert.match(unknownHost.stderr, /nosuchhost\.invalid.*(no such host|i\/o timeout)/);

    const missing = await a.run(['pull', `${reg.host}/nothing:here`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, new RegExp(`Error: manifest for ${reg.host}/nothing:here not found: manifest unknown`));
    const withTag = await a.run(['pull', '-a', `${reg.host}/nothing:here`]);
    assert.match(withTag.stderr, /tag can't be used with --all-tags\/-a/);
    const noImage = await a.run(['push', `${reg.host}/absent:1`]);
    assert.equal(noImage.code, 1);
    assert.match(noImage.stderr, new RegExp(`An image does not exist locally with the tag: ${reg.host}/absent`));
    assert.equal((await a.ok(['images', '-q'])).trim(), '');
  });
});
