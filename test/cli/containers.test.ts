// Containers through the real CLI with a real OCI runtime, on both storage
// drivers: the writable layer's semantics, the lifecycle, exit codes, bad input.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readFileSync, existsSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { tempDir, requiresRoot, mountsUnder, cleanupFirst } from '../helpers/env.js';
import { stowage, type Stowage } from '../helpers/cli.js';
import { makeRootfs, makeDockerArchive } from '../helpers/images.js';

/** A two-layer busybox image "bb:1" with /data/base.txt in the top layer. */
async function setup(t: import('node:test').TestContext, driver: string): Promise<{ s: Stowage; dir: string }> {
  const dir = tempDir(t);
  const s = stowage(join(dir, 'root'), driver);
  const base = join(dir, 'base');
  await makeRootfs(base, 'busybox');
  const top = join(dir, 'top');
  mkdirSync(join(top, 'data'), { recursive: true });
  writeFileSync(join(top, 'data', 'base.txt'), 'from the image\n');
  const arch = await makeDockerArchive(join(dir, 'bb.tar'), { layers: [base, top], repoTags: ['bb:1'], runConfig: { Cmd: ['/bin/sh'], Env: ['FROM_IMAGE=yes'] } });
  await s.ok(['load', '-i', arch.path]);
  cleanupFirst(t, async () => {
    // Nothing may outlive the test: containers stopped, mounts released.
    await s.run(['rm', '-f', ...(await s.ok(['ps', '-aq'])).trim().split('\n').filter(Boolean)]);
  });
  return { s, dir };
}

/** sha256 of every file under dir, for "the image layers did not change". */
function treeHash(dir: string): string {
  const r = spawnSync('sh', ['-c', 'find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum'], { cwd: dir, encoding: 'utf8' });
  return r.stdout;
}

function layerDirs(s: Stowage): string[] {
  const home = join(s.root, s.driver, s.driver === 'vfs' ? 'dir' : '');
  return existsSync(home) ? readdirSync(home).filter((n) => /^[a-f0-9]{64}$/.test(n)) : [];
}

for (const driver of ['overlay2', 'vfs']) {
  describe(`containers on ${driver}`, () => {
    it('run streams output and passes the exit code; 127 for a missing command, 125 for an unknown image', async (t) => {
      if (!requiresRoot(t)) return;
      const { s } = await setup(t, driver);
      const r = await s.run(['run', '--rm', 'bb:1', 'sh', '-c', 'echo out; echo err >&2; echo $FROM_IMAGE; exit 3']);
      assert.equal(r.code, 3);
      assert.equal(r.stdout, 'out\nyes\n');
      assert.equal(r.stderr, 'err\n');
      const missing = await s.run(['run', '--rm', 'bb:1', 'nosuchcommand']);
      assert.equal(missing.code, 127, missing.stderr);
      assert.match(missing.stderr, /nosuchcommand/);
      const unknown = await s.run(['run', '--rm', 'nosuchimage:1', 'true']);
      assert.equal(unknown.code, 125);
      assert.match(unknown.stderr, /Unable to find image 'nosuchimage:1' locally/);
      assert.equal((await s.ok(['ps', '-aq'])).trim(), '', '--rm removed them, and nothing was created for the unknown image');
      assert.deepEqual(mountsUnder(s.root), []);
    });

    it('writes land in the writable layer only; two containers do not see each other; rm removes the layer', async (t) => {
      if (!requiresRoot(t)) return;
      const { s } = await setup(t, driver);
      const layerPath = (d: string) => join(s.root, driver, driver === 'vfs' ? 'dir' : '', d);
      const imageLayers = layerDirs(s);
      const before = imageLayers.map((d) => treeHash(layerPath(d)));
      const a = (await s.ok(['create', '--name', 'ca', 'bb:1', 'sh', '-c', 'echo changed > /data/base.txt; echo new > /data/new.txt; rm /bin/cat; mkdir -p /var/log; echo log > /var/log/app.log'])).trim();
      const b = (await s.ok(['create', '--name', 'cb', 'bb:1', 'sh', '-c', 'cat /data/base.txt; ls /data'])).trim();
      assert.match(a, /^[a-f0-9]{64}$/);
      assert.match(b, /^[a-f0-9]{64}$/);
      await s.ok(['start', '-a', 'ca']);
      const outB = await s.ok(['start', '-a', 'cb']);
      assert.equal(outB, 'from the image\nbase.txt\n', "b sees the image, not a's writes");
      // diff shows A/C/D as Docker prints it.
      const diff = (await s.ok(['diff', 'ca'])).trim().split('\n');
      assert.ok(diff.includes('C /data'), diff.join('|'));
      assert.ok(diff.includes('C /data/base.txt'));
      assert.ok(diff.includes('A /data/new.txt'));
      assert.ok(diff.includes('D /bin/cat'));
      assert.ok(diff.includes('A /var/log/app.log') || diff.includes('A /var/log'));
      // The image's layers are byte-for-byte unchanged: the edit was copied up, not made in place.
      assert.deepEqual(imageLayers.map((d) => treeHash(layerPath(d))), before);
      // Each container: an init layer (this image lacks /proc, /sys, /dev, /etc/hosts …) and its writable layer.
      assert.equal(layerDirs(s).length, imageLayers.length + 4, 'an init and a writable layer per container');
      assert.ok(!diff.some((l) => /^A \/(proc|sys|dev|etc\/hostname|etc\/hosts|etc\/resolv\.conf)$/.test(l)), `no runtime placeholders in diff: ${diff.join('|')}`);
      const dirsBefore = layerDirs(s).length;
      await s.ok(['rm', 'ca', 'cb']);
      assert.equal(layerDirs(s).length, dirsBefore - 4, "both containers' layers are gone");
      assert.equal(layerDirs(s).length, imageLayers.length, 'only the image layers remain');
      assert.match(await s.ok(['system', 'check']), /No problems found/);
    });

    it('commit makes the changes a shared layer; export and diff agree with what the process wrote', async (t) => {
      if (!requiresRoot(t)) return;
      const { s, dir } = await setup(t, driver);
      await s.ok(['run', '--name', 'cw', 'bb:1', 'sh', '-c', 'echo hi > /data/hello.txt; rm /data/base.txt']);
      const id = (await s.ok(['commit', '-m', 'add hello', '-c', 'CMD ["cat", "/data/hello.txt"]', 'cw', 'bb:2'])).trim();
      assert.match(id, /^sha256:[a-f0-9]{64}$/);
      const [img] = JSON.parse(await s.ok(['image', 'inspect', 'bb:2']));
      const [base] = JSON.parse(await s.ok(['image', 'inspect', 'bb:1']));
      assert.deepEqual(img.RootFS.Layers.slice(0, 2), base.RootFS.Layers, 'the new image shares the old layers');
      assert.equal(img.RootFS.Layers.length, 3);
      assert.deepEqual(img.Config.Cmd, ['cat', '/data/hello.txt']);
      const r = await s.run(['run', '--rm', 'bb:2']);
      assert.equal(r.stdout, 'hi\n');
      const gone = await s.run(['run', '--rm', 'bb:2', 'ls', '/data']);
      assert.equal(gone.stdout, 'hello.txt\n', 'the deletion (whiteout) is in the committed layer');
      // export: the flattened filesystem has hello.txt and no base.txt
      const tarFile = join(dir, 'w.tar');
      await s.ok(['export', '-o', tarFile, 'cw']);
      const list = spawnSync('tar', ['-tf', tarFile], { encoding: 'utf8' }).stdout.split('\n');
      assert.ok(list.includes('data/hello.txt') || list.includes('./data/hello.txt'), 'export holds the new file');
      assert.ok(!list.some((l) => l.endsWith('data/base.txt')), 'export lacks the deleted file');
      assert.deepEqual(mountsUnder(s.root), [], 'export released its mount');
      const h = await s.run(['history', '--format', '{{.Comment}}', 'bb:2']);
      assert.equal(h.stdout.split('\n')[0], 'add hello');
    });

    it('commit of a container that changed nothing adds no layer and leaves none behind', async (t) => {
      if (!requiresRoot(t)) return;
      const { s } = await setup(t, driver);
      await s.ok(['create', '--name', 'idle', 'bb:1', 'true']);
      const before = layerDirs(s).length;
      await s.ok(['commit', 'idle', 'bb:same']);
      const [img] = JSON.parse(await s.ok(['image', 'inspect', 'bb:same']));
      const [base] = JSON.parse(await s.ok(['image', 'inspect', 'bb:1']));
      assert.deepEqual(img.RootFS.Layers, base.RootFS.Layers, 'the same layers as its image');
      assert.equal(layerDirs(s).length, before, 'no layer is left for the empty diff');
      // Checked before any other command could sweep it: nothing is garbage.
      assert.match(await s.ok(['system', 'check', '--quick']), /No problems found/);
    });

    it('detached containers: run -d, logs, ps, stop, wait, restart, and reconciliation after the monitor dies', async (t) => {
      if (!requiresRoot(t)) return;
      const { s } = await setup(t, driver);
      const id = (await s.ok(['run', '-d', '--name', 'cd', 'bb:1', 'sh', '-c', 'echo started; trap "echo bye; exit 0" TERM; while true; do sleep 0.1; done'])).trim();
      assert.match(id, /^[a-f0-9]{64}$/);
      const ps = await s.ok(['ps']);
      assert.match(ps, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES\n/);
      assert.match(ps, /\s+Up .*\s+cd\n/);
      for (let i = 0; i < 50 && !(await s.ok(['logs', 'cd'])).includes('started'); i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(await s.ok(['logs', 'cd']), 'started\n');
      await s.ok(['stop', '-t', '5', 'cd']);
      assert.equal((await s.ok(['wait', 'cd'])).trim(), '0');
      assert.match(await s.ok(['logs', 'cd']), /bye/);
      assert.match(await s.ok(['ps', '-a', '--format', '{{.Status}}']), /^Exited \(0\)/);
      assert.deepEqual(mountsUnder(s.root), []);
      // Monitor killed with SIGKILL: the next command reconciles.
      await s.ok(['start', 'cd']);
      const [info] = JSON.parse(await s.ok(['inspect', 'cd']));
      assert.equal(info.State.Running, true);
      const monitors = spawnSync('pgrep', ['-f', `__monitor ${id}`], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
      assert.ok(monitors.length >= 1, 'a monitor watches the container');
      for (const p of monitors) process.kill(Number(p), 'SIGKILL');
      await new Promise((r) => setTimeout(r, 200));
      const [after] = JSON.parse(await s.ok(['inspect', 'cd']));
      assert.equal(after.State.Running, false);
      assert.equal(after.State.Status, 'exited');
      assert.deepEqual(mountsUnder(s.root), [], 'reconciliation released the mount');
      await s.ok(['rm', 'cd']);
    });

    it('bad input: name in use, rm of a running container, start of a removed one, unknown network', async (t) => {
      if (!requiresRoot(t)) return;
      const { s } = await setup(t, driver);
      await s.ok(['create', '--name', 'cx', 'bb:1', 'true']);
      const dirs = layerDirs(s).length;
      const dup = await s.run(['create', '--name', 'cx', 'bb:1', 'true']);
      assert.equal(dup.code, 1);
      assert.match(dup.stderr, /The container name "\/cx" is already in use/);
      assert.equal(layerDirs(s).length, dirs, 'no layer left behind by the refused create');
      await s.ok(['run', '-d', '--name', 'cr', 'bb:1', 'sleep', '30']);
      const rm = await s.run(['rm', 'cr']);
      assert.equal(rm.code, 1);
      assert.match(rm.stderr, /You cannot remove a running container/);
      await s.ok(['rm', '-f', 'cr']);
      await s.ok(['rm', 'cx']);
      const st = await s.run(['start', 'cx']);
      assert.equal(st.code, 1);
      assert.match(st.stderr, /No such container: cx/);
      const net = await s.run(['run', '--network', 'bridge', 'bb:1', 'true']);
      assert.equal(net.code, 125);
      assert.match(net.stderr, /network mode "bridge" is not supported/);
      assert.deepEqual(mountsUnder(s.root), []);
      assert.match(await s.ok(['system', 'check']), /No problems found/);
    });

    it('exec, cp in both directions, rename, container prune', async (t) => {
      if (!requiresRoot(t)) return;
      const { s, dir } = await setup(t, driver);
      await s.ok(['run', '-d', '--name', 'ce', 'bb:1', 'sleep', '30']);
      assert.equal(await s.ok(['exec', 'ce', 'cat', '/data/base.txt']), 'from the image\n');
      const x = await s.run(['exec', 'ce', 'sh', '-c', 'exit 4']);
      assert.equal(x.code, 4);
      writeFileSync(join(dir, 'in.txt'), 'copied in\n');
      await s.ok(['cp', join(dir, 'in.txt'), 'ce:/data/']);
      assert.equal(await s.ok(['exec', 'ce', 'cat', '/data/in.txt']), 'copied in\n');
      await s.ok(['exec', 'ce', 'ln', '-s', '/etc/passwd', '/data/link']);
      await s.ok(['cp', 'ce:/data/base.txt', join(dir, 'out.txt')]);
      assert.equal(readFileSync(join(dir, 'out.txt'), 'utf8'), 'from the image\n');
      // A symlink the container planted never leads a copy onto the host: copied out, it
      // stays a link; copied into, a host file at the link's target is untouched.
      await s.ok(['cp', 'ce:/data/link', join(dir, 'link-out')]);
      assert.equal(readlinkSync(join(dir, 'link-out')), '/etc/passwd');
      const victim = join(dir, 'victim.txt');
      writeFileSync(victim, 'host data\n');
      await s.ok(['exec', 'ce', 'ln', '-s', victim, '/data/in2.txt']);
      writeFileSync(join(dir, 'in2.txt'), 'from the host\n');
      await s.ok(['cp', join(dir, 'in2.txt'), 'ce:/data/']);
      assert.equal(readFileSync(victim, 'utf8'), 'host data\n', 'the host file behind the planted link is unchanged');
      assert.equal(await s.ok(['exec', 'ce', 'cat', '/data/in2.txt']), 'from the host\n');
      await s.ok(['rename', 'ce', 'ce2']);
      await s.ok(['rm', '-f', 'ce2']);
      await s.ok(['create', 'bb:1', 'true']);
      const pr = await s.ok(['container', 'prune', '-f']);
      assert.match(pr, /Deleted Containers:\n[a-f0-9]{64}\n/);
      assert.equal((await s.ok(['ps', '-aq'])).trim(), '');
    });
  });
}

