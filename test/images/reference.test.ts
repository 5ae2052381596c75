// Table-driven tests for image references, plus a fuzz-style loop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseReference, parseStrict, normalizedName, familiarName, familiarString, referenceString,
  isImageIdPrefix, parseImageIdPrefix, parseImageArg, isValidTag,
} from '../../src/images/reference.js';
import { StowageError } from '../../src/errors.js';

const H64 = 'a'.repeat(60) + 'b0c1';
const D256 = `sha256:${'0123456789abcdef'.repeat(4)}`;
const D512 = `sha512:${'0123456789abcdef'.repeat(8)}`;

interface Ok { doc: string; input: string; domain: string; path: string; tag?: string; digest?: string; familiar: string; full: string }
const ok: Ok[] = [
  { doc: 'official image', input: 'busybox', domain: 'docker.io', path: 'library/busybox', tag: 'latest', familiar: 'busybox:latest', full: 'docker.io/library/busybox:latest' },
  { doc: 'official with tag', input: 'busybox:1.36', domain: 'docker.io', path: 'library/busybox', tag: '1.36', familiar: 'busybox:1.36', full: 'docker.io/library/busybox:1.36' },
  { doc: 'user repo', input: 'myrepo/app', domain: 'docker.io', path: 'myrepo/app', tag: 'latest', familiar: 'myrepo/app:latest', full: 'docker.io/myrepo/app:latest' },
  { doc: 'explicit docker.io', input: 'docker.io/busybox', domain: 'docker.io', path: 'library/busybox', tag: 'latest', familiar: 'busybox:latest', full: 'docker.io/library/busybox:latest' },
  { doc: 'legacy index domain', input: 'index.docker.io/foo/bar:v1', domain: 'docker.io', path: 'foo/bar', tag: 'v1', familiar: 'foo/bar:v1', full: 'docker.io/foo/bar:v1' },
  { doc: 'explicit library', input: 'docker.io/library/ubuntu:22.04', domain: 'docker.io', path: 'library/ubuntu', tag: '22.04', familiar: 'ubuntu:22.04', full: 'docker.io/library/ubuntu:22.04' },
  { doc: 'nested library path stays', input: 'library/distros/ubuntu', domain: 'docker.io', path: 'library/distros/ubuntu', tag: 'latest', familiar: 'library/distros/ubuntu:latest', full: 'docker.io/library/distros/ubuntu:latest' },
  { doc: 'localhost registry', input: 'localhost/x', domain: 'localhost', path: 'x', tag: 'latest', familiar: 'localhost/x:latest', full: 'localhost/x:latest' },
  { doc: 'localhost with port', input: 'localhost:5000/x:1', domain: 'localhost:5000', path: 'x', tag: '1', familiar: 'localhost:5000/x:1', full: 'localhost:5000/x:1' },
  { doc: 'registry with dots', input: 'ghcr.io/org/team/app:2.0-rc.1', domain: 'ghcr.io', path: 'org/team/app', tag: '2.0-rc.1', familiar: 'ghcr.io/org/team/app:2.0-rc.1', full: 'ghcr.io/org/team/app:2.0-rc.1' },
  { doc: 'ipv4 with port', input: '10.0.0.1:5000/app', domain: '10.0.0.1:5000', path: 'app', tag: 'latest', familiar: '10.0.0.1:5000/app:latest', full: '10.0.0.1:5000/app:latest' },
  { doc: 'ipv6 with port', input: '[::1]:5000/app:t', domain: '[::1]:5000', path: 'app', tag: 't', familiar: '[::1]:5000/app:t', full: '[::1]:5000/app:t' },
  { doc: 'host with port but no dot', input: 'myhost:5000/app', domain: 'myhost:5000', path: 'app', tag: 'latest', familiar: 'myhost:5000/app:latest', full: 'myhost:5000/app:latest' },
  { doc: 'uppercase first component is a host', input: 'Example/app', domain: 'Example', path: 'app', tag: 'latest', familiar: 'Example/app:latest', full: 'Example/app:latest' },
  { doc: 'digest only: no default tag', input: `busybox@${D256}`, domain: 'docker.io', path: 'library/busybox', digest: D256, familiar: `busybox@${D256}`, full: `docker.io/library/busybox@${D256}` },
  { doc: 'tag and digest', input: `busybox:1@${D256}`, domain: 'docker.io', path: 'library/busybox', tag: '1', digest: D256, familiar: `busybox:1@${D256}`, full: `docker.io/library/busybox:1@${D256}` },
  { doc: 'sha512 digest', input: `x.io/a@${D512}`, domain: 'x.io', path: 'a', digest: D512, familiar: `x.io/a@${D512}`, full: `x.io/a@${D512}` },
  { doc: 'separators', input: 'me/a.b_c__d-e---f', domain: 'docker.io', path: 'me/a.b_c__d-e---f', tag: 'latest', familiar: 'me/a.b_c__d-e---f:latest', full: 'docker.io/me/a.b_c__d-e---f:latest' },
  { doc: 'tag with underscore start and uppercase', input: 'app:_Build.2-x', domain: 'docker.io', path: 'library/app', tag: '_Build.2-x', familiar: 'app:_Build.2-x', full: 'docker.io/library/app:_Build.2-x' },
  { doc: 'max tag length', input: `app:${'t'.repeat(128)}`, domain: 'docker.io', path: 'library/app', tag: 't'.repeat(128), familiar: `app:${'t'.repeat(128)}`, full: `docker.io/library/app:${'t'.repeat(128)}` },
  { doc: 'short hex is a name', input: 'abcdef12', domain: 'docker.io', path: 'library/abcdef12', tag: 'latest', familiar: 'abcdef12:latest', full: 'docker.io/library/abcdef12:latest' },
  { doc: 'numeric path', input: '0/1', domain: 'docker.io', path: '0/1', tag: 'latest', familiar: '0/1:latest', full: 'docker.io/0/1:latest' },
];

for (const c of ok) {
  test(`parseReference ok: ${c.doc} (${c.input.slice(0, 60)})`, () => {
    const r = parseReference(c.input);
    assert.equal(r.domain, c.domain);
    assert.equal(r.path, c.path);
    assert.equal(r.tag, c.tag);
    assert.equal(r.digest, c.digest);
    assert.equal(familiarString(r), c.familiar);
    assert.equal(referenceString(r), c.full);
    // Round trips through both printed forms.
    assert.deepEqual(parseReference(familiarString(r)), r);
    assert.deepEqual(parseReference(referenceString(r)), r);
  });
}

interface Bad { doc: string; input: string; msg: string | RegExp }
const bad: Bad[] = [
  { doc: 'empty', input: '', msg: 'invalid reference format' },
  { doc: 'uppercase official name', input: 'Foo', msg: 'invalid reference format: repository name (library/Foo) must be lowercase' },
  { doc: 'uppercase in user repo', input: 'me/App:1', msg: 'invalid reference format: repository name (me/App) must be lowercase' },
  { doc: 'uppercase path after registry', input: 'x.io/App', msg: 'invalid reference format: repository name (App) must be lowercase' },
  { doc: '64 hex', input: H64, msg: `invalid repository name (${H64}), cannot specify 64-byte hexadecimal strings` },
  { doc: 'leading separator', input: '-app', msg: 'invalid reference format' },
  { doc: 'trailing separator', input: 'app-', msg: 'invalid reference format' },
  { doc: 'triple underscore', input: 'a___b', msg: 'invalid reference format' },
  { doc: 'double dot', input: 'a..b', msg: 'invalid reference format' },
  { doc: 'empty component', input: 'a//b', msg: 'invalid reference format' },
  { doc: 'trailing slash', input: 'a/', msg: 'invalid reference format' },
  { doc: 'empty tag', input: 'app:', msg: 'invalid reference format' },
  { doc: 'tag too long', input: `app:${'t'.repeat(129)}`, msg: 'invalid reference format' },
  { doc: 'tag starting with dot', input: 'app:.x', msg: 'invalid reference format' },
  { doc: 'two tags', input: 'app:a:b', msg: 'invalid reference format' },
  { doc: 'space', input: 'app x', msg: 'invalid reference format' },
  { doc: 'unicode', input: 'appé', msg: 'invalid reference format' },
  { doc: 'short digest', input: 'app@sha256:abc', msg: 'invalid reference format' },
  { doc: 'digest wrong length', input: `app@sha256:${'a'.repeat(63)}`, msg: 'invalid checksum digest length' },
  { doc: 'unknown algorithm', input: `app@md5:${'a'.repeat(32)}`, msg: 'unsupported digest algorithm' },
  { doc: 'uppercase hex digest', input: `app@sha256:${'A'.repeat(64)}`, msg: 'invalid checksum digest format' },
  { doc: 'name too long', input: 'a/'.repeat(130) + 'a', msg: 'repository name must not be more than 255 characters' },
  { doc: 'very long input', input: 'a'.repeat(5000), msg: 'invalid reference format' },
  { doc: 'domain with bad port', input: 'x.io:port/app', msg: 'invalid reference format' },
  { doc: 'domain only', input: 'x.io/', msg: 'invalid reference format' },
  { doc: 'dotted first component is a host, and hosts have no underscores', input: 'a.b_c/g', msg: 'invalid reference format' },
  { doc: 'at without digest', input: 'app@', msg: 'invalid reference format' },
];

for (const c of bad) {
  test(`parseReference rejects: ${c.doc}`, () => {
    assert.throws(() => parseReference(c.input), (e: unknown) => {
      assert.ok(e instanceof StowageError, String(e));
      assert.equal(e.kind, 'InvalidArgument');
      if (typeof c.msg === 'string') assert.equal(e.message, c.msg);
      else assert.match(e.message, c.msg);
      return true;
    });
  });
}

test('parseStrict: no normalisation, uppercase message', () => {
  assert.deepEqual(parseStrict('busybox'), { domain: '', path: 'busybox' });
  assert.deepEqual(parseStrict('x.io/a/b:1'), { domain: 'x.io', path: 'a/b', tag: '1' });
  assert.throws(() => parseStrict('Busybox'), /repository name must be lowercase/);
  assert.throws(() => parseStrict(''), /repository name must have at least one component/);
});

test('parseReference with defaultTag false keeps a bare name bare', () => {
  const r = parseReference('busybox', { defaultTag: false });
  assert.equal(r.tag, undefined);
  assert.equal(familiarString(r), 'busybox');
  assert.equal(normalizedName(r), 'docker.io/library/busybox');
});

test('familiarName', () => {
  assert.equal(familiarName(parseReference('busybox')), 'busybox');
  assert.equal(familiarName(parseReference('myrepo/app:2')), 'myrepo/app');
  assert.equal(familiarName(parseReference('localhost:5000/x')), 'localhost:5000/x');
  assert.equal(familiarName(parseReference('docker.io/library/a/b')), 'library/a/b');
});

test('image id prefixes', () => {
  assert.equal(parseImageIdPrefix('abc123'), 'abc123');
  assert.equal(parseImageIdPrefix(`sha256:${H64}`), H64);
  assert.equal(parseImageIdPrefix(H64), H64);
  assert.equal(parseImageIdPrefix('xyz'), undefined);
  assert.equal(parseImageIdPrefix('ABC'), undefined);
  assert.equal(parseImageIdPrefix(''), undefined);
  assert.equal(parseImageIdPrefix('sha256:'), undefined);
  assert.equal(parseImageIdPrefix('a'.repeat(65)), undefined);
  assert.ok(isImageIdPrefix('0123456789ab'));
  assert.ok(!isImageIdPrefix('busybox'));
  assert.deepEqual(parseImageArg(H64), { kind: 'id', hexPrefix: H64, full: true });
  assert.deepEqual(parseImageArg('sha256:abcd'), { kind: 'id', hexPrefix: 'abcd', full: false });
  assert.equal(parseImageArg('busybox').kind, 'reference');
  assert.throws(() => parseImageArg('sha256:zz'), StowageError);
});

test('isValidTag', () => {
  assert.ok(isValidTag('latest'));
  assert.ok(isValidTag('_x'));
  assert.ok(!isValidTag('-x'));
  assert.ok(!isValidTag(''));
  assert.ok(!isValidTag('x'.repeat(129)));
});

// Deterministic PRNG so a failure can be replayed.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

test('fuzz: random strings throw only StowageError and re-parse stably', () => {
  const rand = rng(12345);
  const alphabet = 'abcxyz019ABZ._-_/:@[]sha256:' + 'é\0 ';
  const pieces = ['busybox', 'docker.io', 'localhost', ':5000', '/', ':', '@', D256, 'library', '..', '__', '--', 'a', 'A', 'x.io', H64];
  let parsed = 0;
  for (let i = 0; i < 20000; i++) {
    let s = '';
    const n = Math.floor(rand() * 8);
    for (let j = 0; j < n; j++) {
      s += rand() < 0.5 ? pieces[Math.floor(rand() * pieces.length)]! : alphabet[Math.floor(rand() * alphabet.length)]!;
    }
    let r;
    try {
      r = parseReference(s);
    } catch (e) {
      assert.ok(e instanceof StowageError && e.kind === 'InvalidArgument', `input ${JSON.stringify(s)} threw ${String(e)}`);
      continue;
    }
    parsed++;
    const again = parseReference(familiarString(r));
    assert.deepEqual(again, r, `unstable for ${JSON.stringify(s)}`);
    assert.deepEqual(parseReference(referenceString(again)), r);
  }
  assert.ok(parsed > 100, `only ${parsed} random inputs parsed`);
});
