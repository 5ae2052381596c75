// Parsers and small rules of the registry client, table-driven: the
// WWW-Authenticate challenge, which registries may use plain HTTP, the settings
// file, platforms, Docker's config.json credentials, and the progress renderer.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/env.js';
import { parseChallenge } from '../../src/registry/client.js';
import { isInsecure, loadSettings, type RegistrySettings } from '../../src/registry/settings.js';
import { parsePlatform } from '../../src/registry/pull.js';
import { decodeAuthHeader, eraseCredentials, getCredentials, storeCredentials, DOCKER_HUB_KEY } from '../../src/registry/credentials.js';
import { registryHost } from '../../src/registry/index.js';
import { ProgressRenderer } from '../../src/cli/progress.js';
import { humanBytes, progressBar } from '../../src/registry/progress.js';

describe('registry units', () => {
  it('parses WWW-Authenticate challenges', () => {
    const cases: Array<{ input: string; scheme: string; params: Record<string, string> }> = [
      { input: 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"', scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io' } },
      { input: 'Bearer realm="https://a/t",service="s",scope="repository:x/y:pull,push",error="insufficient_scope"', scheme: 'bearer', params: { realm: 'https://a/t', service: 's', scope: 'repository:x/y:pull,push', error: 'insufficient_scope' } },
      { input: 'Basic realm="test-realm"', scheme: 'basic', params: { realm: 'test-realm' } },
      { input: 'Basic', scheme: 'basic', params: {} },
      { input: 'Bearer realm=unquoted,service="a \\"q\\""', scheme: 'bearer', params: { realm: 'unquoted', service: 'a "q"' } },
    ];
    for (const c of cases) assert.deepEqual(parseChallenge(c.input), { scheme: c.scheme, params: c.params }, c.input);
  });

  it('allows plain HTTP only for loopback and listed registries', () => {
    const s = { insecure: ['myhost:5000', '10.1.0.0/16', 'http://other.example/'] } as RegistrySettings;
    const cases: Array<[string, boolean]> = [
      ['127.0.0.1:5000', true], ['127.3.4.5', true], ['localhost:5000', true], ['[::1]:5000', true],
      ['myhost:5000', true], ['myhost:5001', false], ['10.1.200.3:443', true], ['10.2.0.1', false],
      ['other.example', true], ['registry.example.com', false], ['128.0.0.1', false], ['docker.io', false],
    ];
    for (const [host, want] of cases) assert.equal(isInsecure(host, s), want, host);
  });

  it('reads the settings file and names bad fields', (t) => {
    const dir = tempDir(t);
    const p = join(dir, 'r.json');
    assert.equal(loadSettings({ STOWAGE_REGISTRY_CONFIG: p }).maxConcurrentDownloads, 3);
    writeFileSync(p, JSON.stringify({ 'registry-mirrors': ['https://m.example/'], 'insecure-registries': ['a:1'], 'max-concurrent-downloads': 6 }));
    const s = loadSettings({ STOWAGE_REGISTRY_CONFIG: p, STOWAGE_CERTS_DIRS: '/x:/y' });
    assert.deepEqual(s.mirrors, ['https://m.example']);
    assert.deepEqual(s.insecure, ['a:1']);
    assert.equal(s.maxConcurrentDownloads, 6);
    assert.deepEqual(s.certsDirs, ['/x', '/y']);
    for (const [doc, msg] of [['{', /not valid JSON/], [JSON.stringify({ 'max-concurrent-downloads': 0 }), /"max-concurrent-downloads" must be an integer from 1 to 64/], [JSON.stringify({ 'registry-mirrors': ['ftp://x'] }), /must be an http:\/\/ or https:\/\/ URL/], [JSON.stringify({ 'insecure-registries': 'x' }), /must be an array of strings/]] as Array<[string, RegExp]>) {
      writeFileSync(p, doc);
      assert.throws(() => loadSettings({ STOWAGE_REGISTRY_CONFIG: p }), msg);
    }
  });

  it('parses platforms', () => {
    assert.deepEqual(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.deepEqual(parsePlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64' });
    assert.throws(() => parsePlatform('linux'), /invalid platform "linux"/);
    assert.throws(() => parsePlatform('a/b/c/d'), /invalid platform/);
  });

  it('keeps credentials in Docker\'s config.json format', (t) => {
    const dir = tempDir(t);
    const env = { DOCKER_CONFIG: join(dir, 'cfg') };
    assert.equal(getCredentials('docker.io', env), undefined);
    storeCredentials('docker.io', { username: 'u', password: 'p:w' }, env);
    storeCredentials('localhost:5000', { username: 'a', password: 'b' }, env);
    const doc = JSON.parse(readFileSync(join(dir, 'cfg', 'config.json'), 'utf8'));
    assert.deepEqual(Object.keys(doc.auths).sort(), [DOCKER_HUB_KEY, 'localhost:5000'].sort());
    assert.equal(doc.auths[DOCKER_HUB_KEY].auth, Buffer.from('u:p:w').toString('base64'));
    assert.deepEqual(getCredentials('docker.io', env), { serveraddress: DOCKER_HUB_KEY, username: 'u', password: 'p:w' });
    // Old-style keys with a scheme still match.
    mkdirSync(join(dir, 'old'));
    writeFileSync(join(dir, 'old', 'config.json'), JSON.stringify({ auths: { 'https://reg.example:5000/v1/': { auth: Buffer.from('x:y').toString('base64') } }, other: 1 }));
    assert.equal(getCredentials('reg.example:5000', { DOCKER_CONFIG: join(dir, 'old') })?.password, 'y');
    assert.equal(eraseCredentials('localhost:5000', env), true);
    assert.equal(eraseCredentials('localhost:5000', env), false);
    assert.equal(getCredentials('localhost:5000', env), undefined);
    writeFileSync(join(dir, 'cfg', 'config.json'), '{bad');
    assert.throws(() => getCredentials('docker.io', env), /not valid JSON/);
    const hdr = Buffer.from(JSON.stringify({ username: 'a', password: 'b', serveraddress: 'h' })).toString('base64url');
    assert.deepEqual(decodeAuthHeader(hdr), { username: 'a', password: 'b', serveraddress: 'h' });
    assert.equal(decodeAuthHeader(''), undefined);
    assert.equal(registryHost(undefined), 'docker.io');
    assert.equal(registryHost('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(registryHost('https://reg.example:5000/'), 'reg.example:5000');
  });

  it('renders progress as Docker does: in place on a terminal, plain lines off it', () => {
    const sink = () => { const s = { isTTY: false, data: '', write(x: string) { s.data += x; return true; } }; return s; };
    const events = [
      { status: 'Pulling from library/x', id: 'latest' },
      { status: 'Pulling fs layer', id: 'aaaaaaaaaaaa' },
      { status: 'Pulling fs layer', id: 'bbbbbbbbbbbb' },
      { status: 'Downloading', id: 'aaaaaaaaaaaa', progressDetail: { current: 500, total: 1000 }, progress: progressBar(500, 1000) },
      { status: 'Pull complete', id: 'aaaaaaaaaaaa' },
      { status: 'Digest: sha256:00' },
    ];
    const plain = sink();
    const r = new ProgressRenderer(plain as never);
    for (const e of events) r.on(e);
    assert.equal(plain.data, 'latest: Pulling from library/x\naaaaaaaaaaaa: Pulling fs layer\nbbbbbbbbbbbb: Pulling fs layer\naaaaaaaaaaaa: Pull complete\nDigest: sha256:00\n');
    const tty = sink();
    const rt = new ProgressRenderer(tty as never, 'tty');
    for (const e of events) rt.on(e);
    // The Downloading and Pull complete updates of layer a rewrite its line, two up.
    assert.ok(tty.data.includes('\x1b[2A\x1b[2K\raaaaaaaaaaaa: Downloading [========================>                         ]    500B/1kB\r\x1b[2B'), JSON.stringify(tty.data));
    assert.ok(tty.data.includes('\x1b[2A\x1b[2K\raaaaaaaaaaaa: Pull complete\r\x1b[2B'));
    const quiet = sink();
    const rq = new ProgressRenderer(quiet as never, 'quiet');
    for (const e of events) rq.on(e);
    assert.equal(quiet.data, '');
    assert.equal(humanBytes(1234567), '1.23MB');
    assert.equal(humanBytes(999), '999B');
  });
});
