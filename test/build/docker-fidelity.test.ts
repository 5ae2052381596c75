// Fidelity with Docker's classic builder: one Dockerfile built by a real Docker
// engine (20.10, classic builder) and by stowage, on the same busybox base loaded
// into both, gives the same file trees (exports of a container of each) and the same
// runtime config (Env, Cmd, Entrypoint, WorkingDir, User, Volumes, ExposedPorts, Labels).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { tempDir, requiresRoot, requires } from '../helpers/env.js';
import { startDockerd, dockerAvailable } from '../helpers/dockerd.js';
import { stowage } from '../helpers/cli.js';
import { makeRootfs, makeDockerArchive } from '../helpers/images.js';

/** Runtime mount points and files each engine adds on its own: not part of the image. */
const ENGINE_OWN = /^\.\/(\.dockerenv|proc|sys|dev|etc\/(hosts|hostname|resolv\.conf|mtab))( |\/)/;

function tree(dir: string): string[] {
  const r = spawnSync('find', ['.', '-printf', '%p %y %s %m %U:%G %l\\n'], { cwd: dir, encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l && !l.startsWith('. ') && !ENGINE_OWN.test(l))
    .map((l) => l.replace(/ d \d+ /, ' d - ')).sort();
}

function untar(buf: Buffer, into: string): void {
  mkdirSync(into, { recursive: true });
  const r = spawnSync('tar', ['-xf', '-', '-C', into, '--numeric-owner', '--same-owner', '--same-permissions'], { input: buf, encoding: 'buffer' });
  assert.equal(r.status, 0, r.stderr.toString());
}

const DOCKERFILE = [
  'FROM busybox',
  'ARG GREETING=hello',
  'ENV APP_HOME=/srv/app NODE_ENV=production',
  'WORKDIR $APP_HOME',
  'RUN mkdir -p /var/lib/pkg && echo "$GREETING" > /var/lib/pkg/greeting && chmod 600 /var/lib/pkg/greeting && rm /etc/hostname.bak 2>/dev/null; ln -s /srv/app/bin/run.sh /usr/bin/app',
  'COPY deps/ ./node_modules/',
  'COPY src ./src',
  'COPY --chown=65534:65534 run.sh bin/',
  'RUN rm -rf node_modules/lib-b && touch src/built.flag',
  'LABEL org.example.name="fidelity test" version=1',
  'EXPOSE 8080 53/udp',
  'VOLUME /srv/app/data',
  'USER nobody',
  'ENTRYPOINT ["/bin/sh", "/srv/app/bin/run.sh"]',
  'CMD ["--port", "8080"]',
].join('\n');

describe('build fidelity with Docker\'s classic builder', () => {
  it('same Dockerfile, same file trees and config', async (t) => {
    if (!requiresRoot(t)) return;
    if (!requires(t, dockerAvailable(), 'needs dockerd (Debian docker.io)')) return;
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
    chmodSync(join(ctx, 'run.sh'), 0o755);
    chmodSync(join(ctx, 'src/main.js'), 0o640);

    const db = await d.docker(['build', '-t', 'fid:1', ctx], { check: true });
    assert.match(db.stdout.toString(), /Successfully tagged fid:1/);
    await s.ok(['build', '-t', 'fid:1', ctx]);

    const [di] = JSON.parse((await d.docker(['image', 'inspect', 'fid:1'], { check: true })).stdout.toString());
    const [si] = JSON.parse(await s.ok(['image', 'inspect', 'fid:1']));
    for (const k of ['Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'User', 'Volumes', 'ExposedPorts', 'Labels']) {
      assert.deepEqual(si.Config[k] ?? null, di.Config[k] ?? null, `Config.${k}`);
    }
    assert.equal(si.RootFS.Layers.length, di.RootFS.Layers.length, 'as many layers');

    const dc = (await d.docker(['create', 'fid:1'], { check: true })).stdout.toString().trim();
    const dexp = (await d.docker(['export', dc], { check: true })).stdout;
    await d.docker(['rm', dc], { check: true });
    const sc = (await s.ok(['create', 'fid:1'])).trim();
    const sexp = (await s.run(['export', sc])).stdoutBuf;
    await s.ok(['rm', sc]);
    untar(dexp, join(dir, 'docker-fs'));
    untar(sexp, join(dir, 'stowage-fs'));
    assert.deepEqual(tree(join(dir, 'stowage-fs')), tree(join(dir, 'docker-fs')));
  });
});
