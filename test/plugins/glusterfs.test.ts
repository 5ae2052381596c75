// The GlusterFS plugin against a real single-node GlusterFS server (test/plugins/gluster.ts),
// used by stowage and by a real Docker engine through the same plugin socket.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync, readFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { requires, mountsUnder, assertNoMountsUnder } from '../helpers/env.js';
import { stowage, BIN } from '../helpers/cli.js';
import { makeRootfs, makeDockerArchive } from '../helpers/images.js';
import { dockerMissing } from '../helpers/dockerd.js';
import { glusterMissing, startGluster } from './gluster.js';

const cleanups: Array<() => unknown> = [];

async function startPlugin(socket: string, root: string, gl: { addr: string; volume: string; cliArgs: string[] }): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, 'plugin-glusterfs', '--socket', socket, '--servers', gl.addr, '--volume', gl.volume, '--root', root, ...gl.cliArgs.map((a) => `--gluster-arg=${a}`)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (b) => (log += b));
  cleanups.push(async () => {
    if (child.exitCode === null) { child.kill('SIGTERM'); await new Promise((r) => child.on('close', r)); }
    for (const m of mountsUnder(root).reverse()) spawnSync('umount', ['-l', m]);
  });
  for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(existsSync(socket), `plugin did not start: ${log}`);
  return child;
}

describe('GlusterFS volume plugin', () => {
  it('stowage and a real Docker engine share volumes on a real GlusterFS server through the same plugin', async (t) => {
    if (!requires(t, glusterMissing() === null, glusterMissing() ?? '')) return;
    const dockerOk = dockerMissing() === null;
    if (!requires(t, dockerOk, dockerMissing() ?? '')) return;
    // One ordered clean-up (Docker, plugin, Gluster, then the directory), also on failure.
    const dir = mkdtempSync('/tmp/stg-');
    t.after(async () => {
      for (const c of cleanups.reverse()) { try { await c(); } catch (err) { console.error('cleanup:', err); } }
      rmSync(`/run/docker/plugins/stowage-gtest-${process.pid}.sock`, { force: true });
      assertNoMountsUnder(dir);
      rmSync(dir, { recursive: true, force: true });
    });
    const gl = startGluster(join(dir, 'gluster'));
    cleanups.push(() => gl.stop());
    // Docker finds plugins only in /run/docker/plugins: the socket goes there, under a test-only name.
    const name = `stowage-gtest-${process.pid}`;
    mkdirSync('/run/docker/plugins', { recursive: true });
    const socket = `/run/docker/plugins/${name}.sock`;
    const pluginRoot = join(dir, 'plugin');
    await startPlugin(socket, pluginRoot, gl);
    process.env.STOWAGE_PLUGIN_SOCKET_DIRS = '/run/docker/plugins';
    process.env.STOWAGE_PLUGIN_SPEC_DIRS = '';
    const s = stowage(join(dir, 'root'), 'overlay2');
    const base = join(dir, 'base');
    await makeRootfs(base, 'busybox');
    const arch = await makeDockerArchive(join(dir, 'img.tar'), { layers: [base], repoTags: ['gimg:1'], runConfig: { Cmd: ['/bin/sh'] } });
    await s.ok(['load', '-i', arch.path]);
    cleanups.push(async () => { const ids = (await s.ok(['ps', '-aq'])).trim().split('\n').filter(Boolean); if (ids.length) await s.run(['rm', '-f', ...ids]); });

    // stowage alone: options become the directory's owner and mode on the Gluster volume
    await s.ok(['volume', 'create', '-d', name, '-o', 'uid=1000', '-o', 'gid=1001', '-o', 'mode=0750', 'gv1']);
    const brickDir = join(gl.brick, 'volumes', 'gv1');
    const st = statSync(brickDir);
    assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [1000, 1001, 0o750]);
    await s.ok(['run', '--rm', '-v', 'gv1:/data', 'gimg:1', 'sh', '-c', 'echo on-gluster > /data/f']);
    assert.equal(readFileSync(join(brickDir, 'f'), 'utf8'), 'on-gluster\n', 'the data is on the brick');
    const [ins] = JSON.parse(await s.ok(['volume', 'inspect', 'gv1']));
    assert.equal(ins.Driver, name);
    assert.equal(ins.Scope, 'global');
    assert.equal((ins.Status as { volume: string }).volume, gl.volume);
    assert.deepEqual(mountsUnder(join(pluginRoot, 'mounts')), [], 'the per-volume bind goes with the last Unmount');
    const bad = await s.run(['volume', 'create', '-d', name, '-o', 'colour=red', 'gv2']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, new RegExp(`volume plugin ${name}: VolumeDriver.Create: invalid option "colour"`));
    assert.equal((await s.ok(['volume', 'ls', '-q'])).trim(), 'gv1', 'a refused create leaves no record');

    // Docker through the same socket
    const { launchDockerd } = await import('../helpers/dockerd.js');
    const d = await launchDockerd();
    cleanups.push(() => d.stop());
    await d.docker(['load', '-i', arch.path], { check: true });
    await d.docker(['volume', 'create', '-d', name, 'dv'], { check: true });
    await d.docker(['run', '--rm', '--network', 'none', '-v', 'dv:/data', 'gimg:1', 'sh', '-c', 'echo from-docker > /data/f'], { check: true });
    assert.equal(readFileSync(join(gl.brick, 'volumes', 'dv', 'f'), 'utf8'), 'from-docker\n');
    assert.match(await s.ok(['volume', 'ls']), new RegExp(`${name}\\s+dv`), "stowage lists the plugin's volume Docker made");
    assert.equal(await s.ok(['run', '--rm', '--volume-driver', name, '-v', 'dv:/data', 'gimg:1', 'sh', '-c', 'cat /data/f; echo from-stowage >> /data/f']), 'from-docker\n');
    const back = await d.docker(['run', '--rm', '--network', 'none', '-v', 'dv:/data', 'gimg:1', 'cat', '/data/f'], { check: true });
    assert.equal(back.stdout.toString(), 'from-docker\nfrom-stowage\n');
    const dins = JSON.parse((await d.docker(['volume', 'inspect', 'dv'], { check: true })).stdout.toString())[0];
    assert.equal(dins.Driver, name);
    assert.equal(dins.Scope, 'global');
    // stowage forgets its record and the plugin removes the data; Docker's record then points at nothing
    await s.ok(['volume', 'rm', 'dv', 'gv1']);
    assert.ok(!existsSync(join(gl.brick, 'volumes', 'dv')));
    await d.docker(['volume', 'rm', '-f', 'dv']);
    const check = await s.run(['system', 'check']);
    assert.equal(check.code, 0, check.stdout + check.stderr);
  });
});
