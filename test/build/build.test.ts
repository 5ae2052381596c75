// `stowage build` end to end, through the CLI, on overlay2: the user's example (a
// source change rebuilds only from the source step, and the images share the layers
// before it), the Dockerfile features, the cache (--no-cache, builder prune, CACHED),
// and bad input (clear errors, nothing half-built left tagged or behind).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readdirSync, symlinkSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { requiresRoot, mountsUnder } from '../helpers/env.js';
import { stowage, type Stowage } from '../helpers/cli.js';
import { makeRootfs, makeDockerArchive, makeLayerTar } from '../helpers/images.js';

const isRoot = process.getuid?.() === 0;
let dir = '';
let s: Stowage;

function ctx(name: string, files: Record<string, string>): string {
  const d = join(dir, name);
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(join(d, p, '..'), { recursive: true });
    writeFileSync(join(d, p), content);
  }
  return d;
}

function layerDirs(): number {
  return readdirSync(join(s.root, 'overlay2')).filter((n) => /^[a-f0-9]{64}$/.test(n)).length;
}

/** The engine's exec root for a data root (src/engine.ts execRoot): runtime state and its mounts. */
function execRootOf(dataRoot: string): string {
  return join('/run/stowage', createHash('sha256').update(dataRoot).digest('hex').slice(0, 12));
}

async function inspect(ref: string): Promise<{ Id: string; RootFS: { Layers: string[] }; Config: Record<string, unknown> }> {
  return JSON.parse(await s.ok(['image', 'inspect', ref]))[0];
}

async function runOut(image: string, script: string): Promise<string> {
  return s.ok(['run', '--rm', '--entrypoint', '/bin/sh', image, '-c', script]);
}

describe('stowage build', { concurrency: false }, () => {
  before(async () => {
    if (!isRoot) return;
    dir = mkdtempSync(join(process.env.STOWAGE_TEST_TMP ?? tmpdir(), 'stowage-build-'));
    s = stowage(join(dir, 'root'), 'overlay2');
    await makeRootfs(join(dir, 'rootfs'), 'busybox');
    await makeDockerArchive(join(dir, 'busybox.tar'), { layers: [join(dir, 'rootfs')], repoTags: ['busybox:latest'] });
    await s.ok(['load', '-i', join(dir, 'busybox.tar')]);
  });
  after(async () => {
    if (!dir) return;
    const left = mountsUnder(dir);
    const leftExec = mountsUnder(execRootOf(join(dir, 'root')));
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(left, [], 'no mounts left');
    assert.deepEqual(leftExec, [], 'no mounts left under the exec root');
  });

  it('the user\'s example: a source change reuses every earlier step and shares its layers', async (t) => {
    if (!requiresRoot(t)) return;
    const c = ctx('example', {
      Dockerfile: [
        'FROM busybox',
        'RUN mkdir -p /usr/lib/pkg && echo "pkg 1.0" > /usr/lib/pkg/installed',
        'COPY deps/ /app/node_modules/',
        'COPY src/ /app/src/',
        'COPY entrypoint.sh /entrypoint.sh',
        'ENTRYPOINT ["/bin/sh", "/entrypoint.sh"]',
      ].join('\n'),
      'deps/lib-a/index.js': 'module.exports = 1;\n'.repeat(2000),
      'deps/lib-b/index.js': 'module.exports = 2;\n'.repeat(2000),
      'src/main.js': 'console.log("v1");\n',
      'src/util.js': 'exports.u = 1;\n',
      'entrypoint.sh': 'cat /app/src/main.js\n',
    });
    const before = layerDirs();
    const out1 = await s.ok(['build', '-t', 'app:1', c]);
    assert.match(out1, /Step 1\/6 : FROM busybox/);
    assert.match(out1, /Successfully built [0-9a-f]{12}\nSuccessfully tagged app:1\n/);
    assert.equal(layerDirs(), before + 4);
    const v1 = await inspect('app:1');
    assert.equal((await s.ok(['run', '--rm', 'app:1'])).trim(), 'console.log("v1");');

    writeFileSync(join(c, 'src/main.js'), 'console.log("v2");\n');
    const out2 = await s.ok(['build', '-t', 'app:2', c]);
    const cachedSteps = [...out2.matchAll(/Step (\d)\/6[^\n]*\n ---> Using cache/g)].map((m) => Number(m[1]));
    assert.deepEqual(cachedSteps, [2, 3], out2);
    const v2 = await inspect('app:2');
    assert.equal(v2.RootFS.Layers.length, 5);
    assert.deepEqual(v2.RootFS.Layers.slice(0, 3), v1.RootFS.Layers.slice(0, 3), 'base, packages, dependencies shared');
    assert.notEqual(v2.RootFS.Layers[3], v1.RootFS.Layers[3], 'the source layer changed');
    assert.equal(v2.RootFS.Layers[4], v1.RootFS.Layers[4], 'the entrypoint layer has the same content');
    assert.equal(layerDirs(), before + 6, 'only the source and entrypoint layers took new space');
    assert.equal((await s.ok(['run', '--rm', 'app:2'])).trim(), 'console.log("v2");');
    const df = await s.ok(['system', 'df', '-v']);
    assert.match(df, /app\s+2/);

    // A rebuild with nothing changed is all cache and gives the same image.
    const out3 = await s.ok(['build', '--progress', 'plain', '-t', 'app:3', c]);
    assert.equal((out3.match(/CACHED/g) ?? []).length, 5, out3);
    assert.equal((await inspect('app:3')).Id, v2.Id);
    // --no-cache runs every step again; content-identical layers are still stored once.
    const out4 = await s.ok(['build', '--no-cache', '-t', 'app:4', c]);
    assert.doesNotMatch(out4, /Using cache/);
    assert.deepEqual((await inspect('app:4')).RootFS.Layers.slice(2), v2.RootFS.Layers.slice(2));
  });

  it('history shows metadata steps as empty layers; config fields as Docker sets them', async (t) => {
    if (!requiresRoot(t)) return;
    const c = ctx('meta', {
      Dockerfile: [
        'FROM busybox', 'ARG VERSION=1.0', 'ENV APP_HOME=/srv/app PORT=8080', 'WORKDIR $APP_HOME', 'LABEL version=$VERSION "maint ainer"="a b"',
        'EXPOSE ${PORT} 9000-9001/udp', 'VOLUME ["/data", "/logs"]', 'USER nobody:nogroup', 'STOPSIGNAL SIGINT',
        'HEALTHCHECK --interval=30s --retries=3 CMD wget -q localhost || exit 1', 'SHELL ["/bin/sh", "-ec"]', 'CMD echo $PORT',
      ].join('\n'),
    });
    const id = (await s.ok(['build', '-q', '--label', 'built-by=test', c])).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    const img = await inspect(id);
    const cfg = img.Config;
    assert.deepEqual(cfg.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'APP_HOME=/srv/app', 'PORT=8080']);
    assert.equal(cfg.WorkingDir, '/srv/app');
    assert.deepEqual(cfg.Labels, { version: '1.0', 'maint ainer': 'a b', 'built-by': 'test' });
    assert.deepEqual(cfg.ExposedPorts, { '8080/tcp': {}, '9000/udp': {}, '9001/udp': {} });
    assert.deepEqual(cfg.Volumes, { '/data': {}, '/logs': {} });
    assert.equal(cfg.User, 'nobody:nogroup');
    assert.equal(cfg.StopSignal, 'SIGINT');
    assert.deepEqual(cfg.Healthcheck, { Test: ['CMD-SHELL', 'wget -q localhost || exit 1'], Interval: 30e9, Retries: 3 });
    assert.deepEqual(cfg.Cmd, ['/bin/sh', '-ec', 'echo $PORT']);
    const hist = await s.ok(['history', id]);
    assert.match(hist, /#\(nop\)  ENV APP_HOME=\/srv\/app POR\S*\s+0B/);
    assert.match(hist, /#\(nop\) WORKDIR \/srv\/app/);
    assert.equal(img.RootFS.Layers.length, 2, 'only WORKDIR (creating the folder) made a layer');
  });

  it('multi-stage, --target, ARG scoping, --build-arg, heredocs, ADD of a tar, .dockerignore, ONBUILD, stdin context', async (t) => {
    if (!requiresRoot(t)) return;
    const tarSrc = join(dir, 'tarsrc');
    mkdirSync(join(tarSrc, 'pkg'), { recursive: true });
    writeFileSync(join(tarSrc, 'pkg/file.txt'), 'from the tar\n');
    const c = ctx('multi', {
      Dockerfile: [
        'ARG BASE=busybox',
        'FROM $BASE AS build',
        'ARG BASE',
        'ARG FLAVOR=plain',
        'RUN echo "base=$BASE flavor=$FLAVOR" > /built.txt',
        'RUN <<EOF',
        'echo one > /heredoc.txt',
        'echo two >> /heredoc.txt',
        'EOF',
        'COPY <<EOF /etc/app.conf',
        'flavor=${FLAVOR}',
        'EOF',
        'FROM busybox AS final',
        'RUN [ -z "$FLAVOR" ] && echo no-arg-leak > /leak.txt',
        'COPY --from=build /built.txt /heredoc.txt /etc/app.conf /out/',
        'ADD pkg.tar /opt/',
        'COPY . /ctx/',
        'FROM final AS extra',
        'RUN echo extra',
      ].join('\n'),
      '.dockerignore': 'secret.txt\n*.log\n!keep.log\n',
      'secret.txt': 'no', 'x.log': 'no', 'keep.log': 'yes',
    });
    writeFileSync(join(c, 'pkg.tar'), await makeLayerTar(tarSrc));
    const out = await s.ok(['build', '--target', 'final', '--build-arg', 'FLAVOR=spicy', '-t', 'multi:1', c]);
    assert.doesNotMatch(out, /RUN echo extra/, 'stages after the target are not built');
    const files = await runOut('multi:1', 'cat /out/built.txt /out/heredoc.txt /out/app.conf /leak.txt /opt/pkg/file.txt; ls /ctx');
    assert.equal(files, 'base=busybox flavor=spicy\none\ntwo\nflavor=spicy\nno-arg-leak\nfrom the tar\nDockerfile\nkeep.log\npkg.tar\n');

    const parent = ctx('onbuild', { Dockerfile: 'FROM busybox\nONBUILD RUN echo triggered > /trigger.txt\n' });
    await s.ok(['build', '-t', 'parent:1', parent]);
    const child = ctx('onbuild-child', { Dockerfile: 'FROM parent:1\nRUN cat /trigger.txt\n' });
    const cout = await s.ok(['build', '-t', 'child:1', child]);
    assert.match(cout, /# Executing 1 build trigger/);
    assert.match(cout, /triggered/);
    assert.equal((await inspect('child:1')).Config.OnBuild ?? null, null);

    const tar = spawnSync('tar', ['-C', join(dir, 'onbuild'), '-cf', '-', '.']).stdout;
    const sout = await s.ok(['build', '-t', 'fromstdin:1', '-'], { input: tar });
    assert.match(sout, /Successfully tagged fromstdin:1/);
  });

  it('bad input: clear errors with line numbers, and nothing half-built left', async (t) => {
    if (!requiresRoot(t)) return;
    const layers0 = layerDirs();
    const fail = async (name: string, files: Record<string, string>, expect: RegExp, code = 1, extra: string[] = []) => {
      const c = ctx(name, files);
      const r = await s.run(['build', '-t', `bad-${name}:1`, ...extra, c]);
      assert.equal(r.code, code, `${name}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout + r.stderr, expect, name);
      const tagged = await s.run(['image', 'inspect', `bad-${name}:1`]);
      assert.notEqual(tagged.code, 0, `${name}: no image tagged`);
      return r;
    };
    await fail('syntax', { Dockerfile: 'FROM busybox\nRUN true\nENV A=1 B\n' }, /Dockerfile parse error line 3: Syntax error/);
    await fail('unknown', { Dockerfile: 'FROM busybox\nRUNN true\n' }, /line 2: unknown instruction: RUNN/);
    await fail('missing', { Dockerfile: 'FROM busybox\nCOPY nothere.txt /x\n' }, /COPY failed: file not found in build context or excluded by \.dockerignore: stat nothere\.txt/);
    await fail('glob', { Dockerfile: 'FROM busybox\nCOPY *.none /x/\n' }, /no source files were specified/);
    await fail('stage', { Dockerfile: 'FROM busybox\nCOPY --from=nosuchstage /a /b\n' }, /no build stage named "nosuchstage"/);
    await fail('from', { Dockerfile: 'FROM nosuchstage\n' }, /line 1: FROM nosuchstage: no build stage named "nosuchstage"/);
    await fail('target', { Dockerfile: 'FROM busybox AS a\n' }, /failed to reach build target nope/, 1, ['--target', 'nope']);
    await fail('url', { Dockerfile: 'FROM busybox\nADD https://example.com/x.tgz /x\n' }, /downloading remote sources is not supported/);
    const r = await fail('run', { Dockerfile: 'FROM busybox\nRUN echo output-before-failing && exit 3\n' }, /The command '\/bin\/sh -c echo output-before-failing && exit 3' returned a non-zero code: 3/, 3);
    assert.match(r.stdout, /output-before-failing/);
    assert.equal(layerDirs(), layers0, 'no layer left by failed builds');
    assert.equal((await s.ok(['ps', '-a', '-q'])).trim(), '', 'no container left');
    assert.deepEqual(mountsUnder(s.root), []);
    assert.deepEqual(mountsUnder(execRootOf(s.root)), [], 'no mounts left under the exec root');

    // Symlinks pointing outside the context are contained: resolved inside it (and
    // then missing), or copied as symlinks, never followed out.
    const c = ctx('symlinks', { Dockerfile: 'FROM busybox\nCOPY . /ctx/\n' });
    symlinkSync('/etc/passwd', join(c, 'passwd-link'));
    symlinkSync('/etc', join(c, 'etc-link'));
    await s.ok(['build', '-t', 'links:1', c]);
    assert.equal(await runOut('links:1', 'readlink /ctx/passwd-link; readlink /ctx/etc-link; [ -L /ctx/etc-link ] && echo is-a-link'), '/etc/passwd\n/etc\nis-a-link\n');
    writeFileSync(join(c, 'Dockerfile'), 'FROM busybox\nCOPY passwd-link /stolen\n');
    const r2 = await s.run(['build', c]);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /file not found in build context/);
    writeFileSync(join(c, 'Dockerfile'), 'FROM busybox\nCOPY etc-link/shadow /stolen\n');
    assert.equal((await s.run(['build', c])).code, 1);
  });

  it('builder prune empties the cache and removes the layers only it kept', async (t) => {
    if (!requiresRoot(t)) return;
    const c = ctx('prune', { Dockerfile: 'FROM busybox\nRUN echo prune-me > /p\nCOPY f /f\n', f: createHash('sha256').update('x').digest('hex') });
    await s.ok(['build', '-t', 'prune:1', c]);
    const withImage = layerDirs();
    await s.ok(['rmi', 'prune:1']);
    assert.equal(layerDirs(), withImage, 'the cache keeps the layers after rmi');
    const out = await s.ok(['builder', 'prune', '-f']);
    assert.match(out, /Total reclaimed space: /);
    assert.ok(layerDirs() < withImage);
    const again = await s.ok(['build', '-t', 'prune:2', c]);
    assert.doesNotMatch(again, /Using cache/);
    const check = await s.run(['system', 'check']);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.ok(!existsSync(join(s.root, 'tmp')) || readdirSync(join(s.root, 'tmp')).length === 0);
  });
});
