// Registries behind TLS and authentication: a test CA in a certs.d folder (and a
// client certificate the registry demands), htpasswd basic auth, and distribution's
// token auth against a token server in the test (the Bearer flow: challenge, realm,
// service, scope). Credentials are stored in Docker's config.json format.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync, existsSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, requiresRoot, requires } from '../helpers/env.js';
import { cli, fixtureArchive, haveHtpasswd, haveOpenssl, haveRegistry, inspect, makePki, startRegistry, startTokenServer } from './harness.js';

const NAME = 'registry.stowage.test';

describe('registry TLS and auth', () => {
  it('TLS with a certs.d CA and client certificate, htpasswd basic auth, login/logout in config.json', async (t) => {
    if (!requiresRoot(t) || !requires(t, haveRegistry && haveHtpasswd && haveOpenssl, 'docker-registry, htpasswd and openssl needed')) return;
    const dir = tempDir(t);
    const pki = makePki(join(dir, 'pki'), [NAME]);
    const reg = await startRegistry(t, dir, { tls: { cert: pki.serverCert, key: pki.serverKey, clientCa: pki.caCert }, htpasswd: { user: 'alice', password: 's3cret' } });
    const host = `${NAME}:${reg.port}`;
    // A name that is not loopback, so plain HTTP and unverified TLS are not allowed.
    const env = { STOWAGE_REGISTRY_HOSTS: `${NAME}=127.0.0.1` };
    const a = cli(`${dir}/a`, 'vfs', env);
    const arch = await fixtureArchive(dir, 'app', [`${host}/secure/app:1`]);
    await a.ok(['load', '-i', arch.path]);

    // Without the CA: the certificate is not trusted, and said so.
    const untrusted = await a.run(['push', `${host}/secure/app:1`]);
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stderr, /tls: failed to verify certificate/);

    const certsd = join(dir, 'a', 'certs.d', host);
    mkdirSync(certsd, { recursive: true });
    copyFileSync(pki.caCert, join(certsd, 'ca.crt'));
    // The CA alone is not enough: the registry wants a client certificate.
    const noClient = await a.run(['push', `${host}/secure/app:1`]);
    assert.equal(noClient.code, 1, noClient.stdout);
    copyFileSync(pki.clientCert, join(certsd, 'client.cert'));
    copyFileSync(pki.clientKey, join(certsd, 'client.key'));

    const anon = await a.run(['push', `${host}/secure/app:1`]);
    assert.equal(anon.code, 1);
    assert.match(anon.stderr, /unauthorized: authentication required/);

    const wrong = await a.run(['login', '-u', 'alice', '--password-stdin', host], { input: 'nope\n' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /401/);
    assert.ok(!existsSync(join(dir, 'a', 'docker-config', 'config.json')) || !readFileSync(join(dir, 'a', 'docker-config', 'config.json'), 'utf8').includes(host));

    const both = await a.run(['login', '-u', 'alice', '-p', 'x', '--password-stdin', host], { input: 'x' });
    assert.match(both.stderr, /--password and --password-stdin are mutually exclusive/);
    const noUser = await a.run(['login', '--password-stdin', host], { input: 'x' });
    assert.match(noUser.stderr, /Must provide --username with --password-stdin/);

    const ok = await a.run(['login', '-u', 'alice', '--password-stdin', host], { input: 's3cret\n' });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'Login Succeeded\n');
    assert.match(ok.stderr, /WARNING! Your password will be stored unencrypted in .*config\.json/);
    const cfg = JSON.parse(readFileSync(join(dir, 'a', 'docker-config', 'config.json'), 'utf8'));
    assert.equal(cfg.auths[host].auth, Buffer.from('alice:s3cret').toString('base64'));

    const pushed = await a.ok(['push', `${host}/secure/app:1`]);
    assert.match(pushed, /1: digest: sha256:/);

    // A second store with the same credentials file pulls it.
    const b = cli(`${dir}/b`, 'vfs', { ...env, DOCKER_CONFIG: join(dir, 'a', 'docker-config'), STOWAGE_CERTS_DIRS: join(dir, 'a', 'certs.d') });
    await b.ok(['pull', `${host}/secure/app:1`]);
    assert.equal(inspect(await b.ok(['image', 'inspect', `${host}/secure/app:1`])).Id, arch.imageId);

    assert.equal(await a.ok(['logout', host]), `Removing login credentials for ${host}\n`);
    assert.equal(await a.ok(['logout', host]), `Not logged in to ${host}\n`);
    const denied = await a.run(['pull', `${host}/secure/app:1`]);
    assert.equal(denied.code, 1);
    // dockerd's words for a basic-auth registry and no credentials: it never sends the request.
    assert.match(denied.stderr, new RegExp(`Head "https://${host}/v2/secure/app/manifests/1": no basic auth credentials`));
  });

  it('token auth: Bearer tokens per scope from the challenge, credential helpers honoured', async (t) => {
    if (!requiresRoot(t) || !requires(t, haveRegistry && haveOpenssl, 'docker-registry and openssl needed')) return;
    const dir = tempDir(t);
    const ts = await startTokenServer(t, join(dir, 'token'), 'bob', 'hunter2');
    const reg = await startRegistry(t, dir, { token: ts });
    const a = cli(`${dir}/a`);
    const arch = await fixtureArchive(dir, 'app', [`${reg.host}/tok/app:1`]);
    await a.ok(['load', '-i', arch.path]);

    const anon = await a.run(['push', `${reg.host}/tok/app:1`]);
    assert.equal(anon.code, 1);
    assert.match(anon.stderr, /denied|unauthorized/);
    assert.ok(ts.requests.some((r) => !r.authorized && r.scope.includes('repository:tok/app:pull,push')), JSON.stringify(ts.requests));

    const bad = await a.run(['login', '-u', 'bob', '-p', 'wrong', reg.host]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /incorrect username or password/);
    const good = await a.run(['login', '-u', 'bob', '-p', 'hunter2', reg.host]);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stderr, /WARNING! Using --password via the CLI is insecure/);

    ts.requests.length = 0;
    await a.ok(['push', `${reg.host}/tok/app:1`]);
    assert.ok(ts.requests.some((r) => r.authorized && r.account === 'bob' && r.scope.includes('repository:tok/app:pull,push')), JSON.stringify(ts.requests));
    // One token per scope, reused: not one per request.
    assert.ok(ts.requests.length <= 3, `token requests: ${ts.requests.length}`);

    // A credential helper (credsStore) answers instead of the file.
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'docker-credential-fake'), `#!/bin/sh\ncase "$1" in\n get) read server; echo "{\\"ServerURL\\":\\"$server\\",\\"Username\\":\\"bob\\",\\"Secret\\":\\"hunter2\\"}";;\n store) cat > ${join(dir, 'stored.json')};;\n erase) read server; echo "$server" > ${join(dir, 'erased')};;\nesac\n`);
    chmodSync(join(bin, 'docker-credential-fake'), 0o755);
    const helperConf = join(dir, 'helper-config');
    mkdirSync(helperConf);
    writeFileSync(join(helperConf, 'config.json'), JSON.stringify({ credsStore: 'fake' }));
    const b = cli(`${dir}/b`, 'vfs', { DOCKER_CONFIG: helperConf, PATH: `${bin}:${process.env.PATH}` });
    await b.ok(['pull', `${reg.host}/tok/app:1`]);
    assert.equal(inspect(await b.ok(['image', 'inspect', `${reg.host}/tok/app:1`])).Id, arch.imageId);
    await b.ok(['login', '-u', 'bob', '--password-stdin', reg.host], { input: 'hunter2' });
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'stored.json'), 'utf8')), { ServerURL: reg.host, Username: 'bob', Secret: 'hunter2' });
    await b.ok(['logout', reg.host]);
    assert.equal(readFileSync(join(dir, 'erased'), 'utf8').trim(), reg.host);
  });
});
