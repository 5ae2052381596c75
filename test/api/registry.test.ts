// The Engine API's pull, push and login with the real docker CLI against `stowage
// serve` and a local registry (Debian's docker-registry, started as test/registry/
// starts it): what the CLI prints from the JSON progress stream, the image the pull
// makes, the manifest the push leaves in the registry, Docker's errors and exit
// codes, run pulling a missing image, and credentials carried in X-Registry-Auth.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, requiresRoot, requires } from '../helpers/env.js';
import { cli, fixtureArchive, haveRegistry, haveHtpasswd, inspect, startRegistry, type Registry, type RegistryOptions } from '../registry/harness.js';
import { startServe, type Served } from './serve.js';
import type { DockerArchive } from '../helpers/images.js';

const sha = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const V2 = 'application/vnd.docker.distribution.manifest.v2+json';

interface Setup { dir: string; reg: Registry; arch: DockerArchive; digest: string; s: Served }

/**
 * A registry holding team/app:v1 (pushed by a separate stowage CLI) and a `stowage
 * serve` whose registry settings, certificates and credentials live in the test's folder.
 */
async function setup(t: TestContext, o: RegistryOptions = {}, login?: { user: string; password: string }): Promise<Setup> {
  const dir = tempDir(t, 'stowage-api-reg-');
  const reg = await startRegistry(t, dir, o);
  const seed = cli(join(dir, 'seed'));
  if (login) await seed.ok(['login', '-u', login.user, '--password-stdin', reg.host], { input: login.password });
  const arch = await fixtureArchive(dir, 'app', [`${reg.host}/team/app:v1`]);
  await seed.ok(['load', '-i', arch.path]);
  const pushed = await seed.ok(['push', `${reg.host}/team/app:v1`]);
  const digest = /^v1: digest: (sha256:[a-f0-9]{64})/m.exec(pushed)?.[1];
  assert.ok(digest, pushed);
  const s = await startServe(t, {
    dir: join(dir, 'srv'),
    env: { DOCKER_CONFIG: join(dir, 'server-docker-config'), STOWAGE_CERTS_DIRS: join(dir, 'certs.d'), STOWAGE_REGISTRY_CONFIG: join(dir, 'registries.json') },
  });
  return { dir, reg, arch, digest, s };
}

async function manifest(reg: Registry, repo: string, ref: string, headers: Record<string, string> = {}): Promise<Buffer> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${ref}`, { headers: { Accept: V2, ...headers } });
  assert.equal(res.status, 200, `manifest ${repo}:${ref}`);
  return Buffer.from(await res.arrayBuffer());
}

describe('Engine API: docker pull, push, run and login through stowage serve', () => {
  it('docker pull: the image as pushed, the progress Docker prints; a pull again is up to date; a missing image is Docker\'s error', async (t) => {
    if (!requiresRoot(t) || !requires(t, haveRegistry, 'docker-registry not installed')) return;
    const { reg, arch, digest, s } = await setup(t);
    const ref = `${reg.host}/team/app:v1`;

    const out = await s.dockerOk(['pull', ref]);
    assert.match(out, /^v1: Pulling from team\/app$/m);
    assert.equal((out.match(/^[a-f0-9]{12}: Pull complete$/gm) ?? []).length, 3, out);
    // The CLI's last lines: the digest, the status and the reference (which the CLI adds itself).
    const lines = out.trimEnd().split('\n');
    assert.deepEqual(lines.slice(-3), [`Digest: ${digest}`, `Status: Downloaded newer image for ${ref}`, ref], out);

    const info = inspect(await s.dockerOk(['image', 'inspect', ref]));
    assert.equal(info.Id, arch.imageId);
    assert.deepEqual(info.RootFS.Layers, arch.diffIds);
    assert.deepEqual(info.RepoDigests, [`${reg.host}/team/app@${digest}`]);

    // The stream itself: one JSON object per line, ending as dockerd's does.
    const raw = await s.http('POST', `/images/create?fromImage=${encodeURIComponent(`${reg.host}/team/app`)}&tag=v1`);
    assert.equal(raw.status, 200);
    assert.match(String(raw.headers['content-type']), /^application\/json/);
    const msgs = raw.body.toString('utf8').trimEnd().split(/\r?\n/).map((l) => JSON.parse(l) as { status?: string; error?: string });
    assert.deepEqual(msgs.map((m) => m.status), ['Pulling from team/app', `Digest: ${digest}`, `Status: Image is up to date for ${ref}`]);
    assert.ok(msgs.every((m) => m.error === undefined));

    const missing = await s.docker(['pull', `${reg.host}/nothing:here`]);
    assert.equal(missing.code, 1, missing.stderr);
    assert.equal(missing.stderr, `Error response from daemon: manifest for ${reg.host}/nothing:here not found: manifest unknown: manifest unknown\n`);
    const noTag = await s.docker(['pull', `${reg.host}/team/app:v9`]);
    assert.equal(noTag.code, 1, noTag.stderr);
    assert.equal(noTag.stderr, `Error response from daemon: manifest for ${reg.host}/team/app:v9 not found: manifest unknown: manifest unknown\n`);
    assert.equal((await s.docker(['image', 'inspect', `${reg.host}/team/app:v9`])).code, 1);
  });

  it('docker push: a loaded image goes up layer by layer, a retag mounts; the registry holds the manifest; pulled back, the same image', async (t) => {
    if (!requiresRoot(t) || !requires(t, haveRegistry, 'docker-registry not installed')) return;
    const { dir, reg, s } = await setup(t);
    const fresh = await fixtureArchive(dir, 'fresh', ['fresh:1'], { seed: 'other bytes' });
    await s.dockerOk(['load', '-i', fresh.path]);
    const ref = `${reg.host}/mine/fresh:1`;
    await s.dockerOk(['tag', 'fresh:1', ref]);

    const out = await s.dockerOk(['push', ref]);
    assert.match(out, new RegExp(`^The push refers to repository \\[${reg.host}/mine/fresh\\]$`, 'm'));
    // The busybox base layer is the one team/app already has there; the other two are new.
    assert.equal((out.match(/^[a-f0-9]{12}: Pushed$/gm) ?? []).length + (out.match(/^[a-f0-9]{12}: Mounted from team\/app$/gm) ?? []).length, 3, out);
    const m = /^1: digest: (sha256:[a-f0-9]{64}) size: (\d+)$/m.exec(out);
    assert.ok(m, out);

    const man = await manifest(reg, 'mine/fresh', '1');
    assert.equal(sha(man), m[1]);
    assert.equal(man.length, Number(m[2]));
    const parsed = JSON.parse(man.toString()) as { config: { digest: string }; layers: unknown[] };
    assert.equal(parsed.config.digest, fresh.imageId);
    assert.equal(parsed.layers.length, 3);

    const again = await s.dockerOk(['push', ref]);
    assert.equal((again.match(/^[a-f0-9]{12}: Layer already exists$/gm) ?? []).length, 3, again);
    // The stream itself ends as dockerd's: the digest line, then aux {Tag, Digest, Size}.
    const raw = await s.http('POST', `/images/${reg.host}/mine/fresh/push?tag=1`, { headers: { 'X-Registry-Auth': Buffer.from('{}').toString('base64url') } });
    assert.equal(raw.status, 200);
    const msgs = raw.body.toString('utf8').trimEnd().split(/\r?\n/).map((l) => JSON.parse(l) as { status?: string; aux?: unknown });
    assert.equal(msgs[0]!.status, `The push refers to repository [${reg.host}/mine/fresh]`);
    assert.equal(msgs.at(-2)!.status, `1: digest: ${m[1]} size: ${m[2]}`);
    assert.deepEqual(msgs.at(-1)!.aux, { Tag: '1', Digest: m[1], Size: Number(m[2]) });

    // Pulled back by another store (stowage's CLI): the same image ID and diffIDs.
    const back = cli(join(dir, 'back'));
    await back.ok(['pull', ref]);
    const info = inspect(await back.ok(['image', 'inspect', ref]));
    assert.equal(info.Id, fresh.imageId);
    assert.deepEqual(info.RootFS.Layers, fresh.diffIds);

    // As dockerd 20.10 answers it: the stream starts, then the error comes inside it.
    const absent = await s.docker(['push', `${reg.host}/mine/absent:1`]);
    assert.equal(absent.code, 1);
    assert.equal(absent.stdout.toString(), `The push refers to repository [${reg.host}/mine/absent]\n`);
    assert.equal(absent.stderr, `An image does not exist locally with the tag: ${reg.host}/mine/absent\n`);
  });

  it('docker run of an image only on the registry pulls it (create → 404 → pull → create) and runs it', async (t) => {
    if (!requiresRoot(t) || !requires(t, haveRegistry, 'docker-registry not installed')) return;
    const { reg, arch, s } = await setup(t);
    const ref = `${reg.host}/team/app:v1`;
    // Not --rm: a --rm container that exits between two polls of startDetached
    // (containers/lifecycle.ts) is reported "removed while starting" (a race seen here).
    const r = await s.docker(['run', '--name', 'first', ref]);
    assert.equal(r.code, 0, `${r.stderr}\n--- server log:\n${s.log()}`);
    assert.equal(r.stdout.toString(), 'hello from app\n');
    assert.match(r.stderr, new RegExp(`^Unable to find image '${ref}' locally$`, 'm'));
    assert.match(r.stderr, /^v1: Pulling from team\/app$/m);
    assert.match(r.stderr, new RegExp(`^Status: Downloaded newer image for ${ref}$`, 'm'));
    assert.equal(inspect(await s.dockerOk(['image', 'inspect', ref])).Id, arch.imageId);

    const missing = await s.docker(['run', '--rm', `${reg.host}/nothing:here`]);
    assert.equal(missing.code, 125, missing.stderr);
    assert.match(missing.stderr, new RegExp(`^docker: Error response from daemon: manifest for ${reg.host}/nothing:here not found: manifest unknown: manifest unknown$`, 'm'));
    assert.deepEqual((await s.dockerOk(['ps', '-a', '--format', '{{.Names}}'])).split('\n').filter(Boolean), ['first']);
  });

  it('docker login (POST /auth) against an htpasswd registry; pull and push carry the credentials in X-Registry-Auth', async (t) => {
    if (!requiresRoot(t) || !requires(t, haveRegistry, 'docker-registry not installed') || !requires(t, haveHtpasswd, 'htpasswd (apache2-utils) not installed')) return;
    const user = { user: 'tester', password: 'secret-pw' };
    const { dir, reg, arch, s } = await setup(t, { htpasswd: user }, user);
    const ref = `${reg.host}/team/app:v1`;

    const anon = await s.docker(['pull', ref]);
    assert.equal(anon.code, 1);
    assert.equal(anon.stderr, `Error response from daemon: Head "http://${reg.host}/v2/team/app/manifests/v1": no basic auth credentials\n`);

    const wrong = await s.docker(['login', '-u', user.user, '--password-stdin', reg.host], { input: 'not-it' });
    assert.equal(wrong.code, 1);
    assert.equal(wrong.stderr, `Error response from daemon: login attempt to http://${reg.host}/v2/ failed with status: 401 Unauthorized\n`);
    const direct = await s.http('POST', '/auth', { body: JSON.stringify({ username: user.user, password: 'not-it', serveraddress: reg.host }) });
    assert.equal(direct.status, 401);
    assert.deepEqual(direct.json(), { message: `login attempt to http://${reg.host}/v2/ failed with status: 401 Unauthorized` });
    const bad = await s.http('POST', '/auth', { body: '"x"' });
    assert.equal(bad.status, 400);

    const ok = await s.docker(['login', '-u', user.user, '--password-stdin', reg.host], { input: user.password });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout.toString(), /^Login Succeeded$/m);
    // The CLI keeps the credentials itself; the server keeps nothing.
    const cfg = JSON.parse(readFileSync(join(dir, 'srv', 'docker-config', 'config.json'), 'utf8')) as { auths: Record<string, { auth?: string }> };
    assert.equal(Buffer.from(cfg.auths[reg.host]!.auth!, 'base64').toString(), `${user.user}:${user.password}`);
    assert.throws(() => readFileSync(join(dir, 'server-docker-config', 'config.json')), /ENOENT/);

    const pulled = await s.dockerOk(['pull', ref]);
    assert.match(pulled, new RegExp(`^Status: Downloaded newer image for ${ref}$`, 'm'));
    assert.equal(inspect(await s.dockerOk(['image', 'inspect', ref])).Id, arch.imageId);

    await s.dockerOk(['tag', ref, `${reg.host}/team/copy:v2`]);
    const pushed = await s.dockerOk(['push', `${reg.host}/team/copy:v2`]);
    const m = /^v2: digest: (sha256:[a-f0-9]{64}) size: \d+$/m.exec(pushed);
    assert.ok(m, pushed);
    const auth = 'Basic ' + Buffer.from(`${user.user}:${user.password}`).toString('base64');
    assert.equal(sha(await manifest(reg, 'team/copy', 'v2', { Authorization: auth })), m[1]);
  });
});
