// Fidelity with Docker's classic builder: one Dockerfile built by a real Docker
// engine (20.10, classic builder) and by stowage, on the same busybox base loaded
// into both, gives:
//   - the same runtime config, every key (Env, Cmd, Entrypoint, WorkingDir, User,
//     Volumes, ExposedPorts, Labels, Shell, StopSignal, Healthcheck, OnBuild, the
//     zero-valued Hostname/Attach*/Tty… and Image = the image the last step ran on);
//   - the same container_config (the last step's command), container id and
//     docker_version fields present;
//   - the same history: every created_by line (COPY file:/dir:/multi: digests as
//     Docker computes them), empty_layer flags and layer sizes;
//   - the same diffIDs for the inherited layers and as many built ones (built layers
//     hold times of "now", so their digests cannot match);
//   - the same files: an export of a container of each (exit code checked), every
//     entry's name, type, mode, owner, link target, content hash, xattrs and mtime
//     (times of the build itself compared as "now").
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, chmodSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { tempDir, requiresRoot, requires } from '../helpers/env.js';
import { startDockerd, dockerAvailable } from '../helpers/dockerd.js';
import { stowage } from '../helpers/cli.js';
import { makeRootfs, makeDockerArchive } from '../helpers/images.js';

const FIXTURES = new URL('../../../test/interop/fixtures.py', import.meta.url).pathname;

/** Runtime mount points and files each engine adds on its own: not part of the image. */
// The engines put their mount points (hosts, resolv.conf …) in /etc, which changes
// its mtime in Docker: /etc itself is the engine's too.
const ENGINE_OWN = /^(\.dockerenv|proc|sys|dev|etc\/(hosts|hostname|resolv\.conf|mtab))(\/|$)|^etc$/;

interface Entry { shown: string; mtime: number | string; [k: string]: unknown }

/** Every entry of an exported tree (see test/interop/fixtures.py list). */
function listing(tar: Buffer, dir: string, name: string, since: number): Entry[] {
  const file = join(dir, name);
  writeFileSync(file, tar);
  const r = spawnSync('python3', [FIXTURES, 'list', file], { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Entry)
    .filter((e) => !ENGINE_OWN.test(e.shown))
    // Folders a build step makes or writes into: Docker stamps them with the time of
    // the step, stowage keeps its layers reproducible (docs/archive-fidelity.md);
    // every other mtime (files, links, the base's folders) is compared.
    .map((e) => ({ ...e, mtime: e.type === '5' && (e.mtime === 0 || (typeof e.mtime === 'number' && e.mtime >= since)) ? 'build' : e.mtime }))
    .map((e) => ({ ...e, mtime: typeof e.mtime === 'number' && e.mtime >= since ? 'now' : e.mtime }));
}

const DOCKERFILE = [
  'FROM busybox',
  'ARG GREETING=hello',
  'ENV APP_HOME=/srv/app NODE_ENV=production',
  'WORKDIR $APP_HOME',
  'WORKDIR /tmp',
  'WORKDIR $APP_HOME',
  'RUN mkdir -p /var/lib/pkg && echo "$GREETING" > /var/lib/pkg/greeting && chmod 600 /var/lib/pkg/greeting && rm /etc/hostname.bak 2>/dev/null; ln -s /srv/app/bin/run.sh /usr/bin/app',
  'RUN ["/bin/true"]',
  'COPY deps/ ./node_modules/',
  'COPY src ./src',
  'COPY --chown=65534:65534 run.sh bin/',
  'COPY a.txt b.txt /multi/',
  'ADD a.txt /added.txt',
  'RUN rm -rf node_modules/lib-b && touch src/built.flag',
  'LABEL org.example.name="fidelity test" version=1',
  'EXPOSE 8080 53/udp',
  'VOLUME /srv/app/data',
  'SHELL ["/bin/sh", "-e", "-c"]',
  'STOPSIGNAL SIGUSR1',
  'HEALTHCHECK --interval=30s --timeout=5s --retries=2 CMD ["/bin/true"]',
  'ONBUILD RUN echo child',
  'USER nobody',
  'ENTRYPOINT ["/bin/sh", "/srv/app/bin/run.sh"]',
  'CMD ["--port", "8080"]',
].join('\n');

const IMAGE_ID = /^sha256:[0-9a-f]{64}$/;

describe('build fidelity with Docker\'s classic builder', () => {
  it('same Dockerfile: same config (every key), history, layers and file trees', async (t) => {
    if (!requiresRoot(t)) return;
    if (!requires(t, dockerAvailable(), 'needs dockerd (Debian docker.io)')) return;
    if (!requires(t, spawnSync('python3', ['--version']).status === 0, 'needs python3')) return;
    const dir = tempDir(t);
    const d = await startDockerd(t);
    const s = stowage(join(dir, 'root'), 'overlay2');
    await makeRootfs(join(dir, 'rootfs'), 'busybox');
    const base = await makeDockerArchive(join(dir, 'busybox.tar'), { layers: [join(dir, 'rootfs')], repoTags: ['busybox:latest'] });
    await d.docker(['load', '-i', base.path], { check: true });
    await s.ok(['load', '-i', base.path]);

    const ctx = join(dir, 'ctx');
    for (const p of ['deps/lib-a', 'deps/lib-b', 'src/sub']) mkdirSync(join(ctx, p), { recursive: true });
    writeFileSync(join(ctx, 'Dockerfile'), DOCKERFILE);
    writeFileSync(join(ctx, 'deps/lib-a/index.js'), 'module.exports = "a";\n');
    writeFileSync(join(ctx, 'deps/lib-b/index.js'), 'module.exports = "b";\n');
    writeFileSync(join(ctx, 'src/main.js'), 'console.log("main");\n');
    writeFileSync(join(ctx, 'src/sub/util.js'), 'exports.x = 1;\n');
    writeFileSync(join(ctx, 'run.sh'), '#!/bin/sh\necho run "$@"\n');
    writeFileSync(join(ctx, 'a.txt'), 'a\n');
    writeFileSync(join(ctx, 'b.txt'), 'b\n');
    chmodSync(join(ctx, 'run.sh'), 0o755);
    chmodSync(join(ctx, 'src/main.js'), 0o640);
    // Fixed times for the context, so copied files carry the same mtime in both.
    for (const p of ['deps', 'deps/lib-a', 'deps/lib-b', 'deps/lib-a/index.js', 'deps/lib-b/index.js', 'src', 'src/sub', 'src/main.js', 'src/sub/util.js', 'run.sh', 'a.txt', 'b.txt']) {
      utimesSync(join(ctx, p), 1_000_000_000, 1_000_000_000);
    }
    const since = Math.floor(Date.now() / 1000) - 5;

    const db = await d.docker(['build', '-t', 'fid:1', ctx], { check: true });
    assert.match(db.stdout.toString(), /Successfully tagged fid:1/);
    await s.ok(['build', '-t', 'fid:1', ctx]);

    const [di] = JSON.parse((await d.docker(['image', 'inspect', 'fid:1'], { check: true })).stdout.toString());
    const [si] = JSON.parse(await s.ok(['image', 'inspect', 'fid:1']));
    // Config: every key, the same (Image names each engine's own intermediate image).
    assert.match(di.Config.Image, IMAGE_ID);
    assert.match(si.Config.Image, IMAGE_ID);
    assert.deepEqual({ ...si.Config, Image: '<id>' }, { ...di.Config, Image: '<id>' }, 'Config');
    assert.deepEqual(Object.keys(si.Config), Object.keys(di.Config), 'Config keys in Docker\'s order');
    assert.deepEqual({ ...si.ContainerConfig, Hostname: '<c>', Image: '<id>' }, { ...di.ContainerConfig, Hostname: '<c>', Image: '<id>' }, 'ContainerConfig');
    assert.match(si.Container, /^[0-9a-f]{64}$/);
    assert.equal(si.ContainerConfig.Hostname, si.Container.slice(0, 12));
    assert.ok(si.DockerVersion !== '', 'DockerVersion is set');
    for (const k of ['Architecture', 'Os', 'Author', 'Comment']) assert.equal(si[k], di[k], k);

    // Layers: the base's diffIDs, then as many built layers (empty steps add none).
    assert.equal(si.RootFS.Layers.length, di.RootFS.Layers.length, 'as many layers');
    assert.deepEqual(si.RootFS.Layers.slice(0, 1), di.RootFS.Layers.slice(0, 1), 'the base layer');

    // History: every line, empty_layer (a size of 0 on a step without a layer) and sizes.
    const fmt = ['history', '--no-trunc', '--format', '{{.CreatedBy}}\t{{.Size}}'];
    const dh = (await d.docker([...fmt.slice(0, 1), '--human=false', ...fmt.slice(1), 'fid:1'], { check: true })).stdout.toString().trimEnd().split('\n');
    const sh = (await s.ok([...fmt.slice(0, 1), '--no-human', ...fmt.slice(1), 'fid:1'])).trimEnd().split('\n');
    assert.deepEqual(sh, dh, 'history');
    assert.ok(dh.some((l) => /COPY dir:[0-9a-f]{64} in \.\/node_modules\/ /.test(l)), 'Docker writes dir: digests');
    assert.ok(dh.some((l) => /COPY multi:[0-9a-f]{64} in \/multi\/ /.test(l)), 'and multi: digests');

    // The files: an export of a container of each, every entry and field.
    const dc = (await d.docker(['create', 'fid:1'], { check: true })).stdout.toString().trim();
    const dexp = await d.docker(['export', dc]);
    assert.equal(dexp.code, 0, `docker export: ${dexp.stderr}`);
    await d.docker(['rm', dc], { check: true });
    const sc = (await s.ok(['create', 'fid:1'])).trim();
    const sexp = await s.run(['export', sc]);
    assert.equal(sexp.code, 0, `stowage export: ${sexp.stderr}`);
    await s.ok(['rm', sc]);
    assert.deepEqual(listing(sexp.stdoutBuf, dir, 'stowage.tar', since), listing(dexp.stdout, dir, 'docker.tar', since), 'exported files');
  });
});
