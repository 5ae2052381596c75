// Interop with a real Docker engine (Debian's docker.io, started privately by the
// test), both ways: what `docker save` writes loads into stowage with the same
// image ID, diffIDs and files; what `stowage save` writes loads into Docker with
// the same image ID.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync, readdirSync, mkdirSync, lstatSync, readlinkSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { native } from '../../src/util/sys.js';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { tempDir, requiresRoot, requires } from '../helpers/env.js';
import { startDockerd, dockerAvailable } from '../helpers/dockerd.js';
import { stowage } from '../helpers/cli.js';
import { makeRootfs, makeLayerTar, makeDockerArchive } from '../helpers/images.js';

/**
 * Every path under dir, sorted, with everything a layer holds: type, mode, owner,
 * mtime, size and content hash, symlink target, device numbers, xattrs, and which
 * names share an inode (hardlinks: every later name says "= first name").
 */
function tree(dir: string): string[] {
  const out: string[] = [];
  const inodes = new Map<number, string>();
  const sys = native();
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const p = rel ? `${rel}/${name}` : name;
      const abs = join(dir, p);
      const st = lstatSync(abs);
      const type = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : st.isFIFO() ? 'p' : st.isCharacterDevice() ? 'c' : 'b';
      let line = `${p} ${type} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} mtime=${Math.floor(st.mtimeMs / 1000)}`;
      if (type === 'f') line += ` size=${st.size} sha256=${createHash('sha256').update(readFileSync(abs)).digest('hex')}`;
      if (type === 'l') line += ` -> ${readlinkSync(abs)}`;
      if (type === 'c' || type === 'b') line += ` rdev=${st.rdev}`;
      const xattrs = sys.llistxattr(abs).sort().map((k) => `${k}=${sys.lgetxattr(abs, k)?.toString('hex')}`);
      if (xattrs.length) line += ` xattrs=${xattrs.join(',')}`;
      if (type !== 'd' && st.nlink > 1) {
        const first = inodes.get(st.ino);
        if (first) line += ` = ${first}`; else inodes.set(st.ino, p);
      }
      out.push(line);
      if (type === 'd') walk(p);
    }
  };
  walk('');
  return out;
}

function untar(tarFile: string, into: string): void {
  mkdirSync(into, { recursive: true });
  const r = spawnSync('tar', ['-xf', tarFile, '-C', into, '--numeric-owner', '--same-owner', '--same-permissions', '--xattrs', '--xattrs-include=*'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

describe('interop with a real Docker engine', () => {
  it('docker save -> stowage load keeps image ID, diffIDs and file trees; stowage save -> docker load keeps the ID', async (t) => {
    if (!requiresRoot(t)) return;
    if (!requires(t, dockerAvailable(), 'needs dockerd (Debian docker.io)')) return;
    const dir = tempDir(t);
    const d = await startDockerd(t);
    for (const driver of ['overlay2', 'vfs']) {
      const s = stowage(join(dir, `root-${driver}`), driver);

      // 1. An image Docker made itself (docker import), then saved by Docker.
      const rootfs = join(dir, `rootfs-${driver}`);
      await makeRootfs(rootfs, 'busybox');
      // And every kind of entry a layer holds: hardlinks, a FIFO, long and non-ASCII
      // names, dangling symlinks, and an xattr, so the tree comparison below sees them.
      await makeRootfs(rootfs, 'sample');
      native().lsetxattr(join(rootfs, 'usr/bin/tool'), 'user.origin', Buffer.from([0x66, 0x00, 0xff]));
      const tar = await makeLayerTar(rootfs, { xattrs: true });
      const imported = await d.docker(['import', '-', 'dimported:1'], { input: tar, check: true });
      const dockerId = imported.stdout.toString().trim();
      const dsave = join(dir, `docker-save-${driver}.tar`);
      await d.docker(['save', '-o', dsave, 'dimported:1'], { check: true });
      const out = await s.ok(['load', '-i', dsave]);
      assert.match(out, /Loaded image: dimported:1/);
      const [si] = JSON.parse(await s.ok(['image', 'inspect', 'dimported:1']));
      const [di] = JSON.parse((await d.docker(['image', 'inspect', 'dimported:1'], { check: true })).stdout.toString());
      assert.equal(si.Id, dockerId);
      assert.equal(si.Id, di.Id);
      assert.deepEqual(si.RootFS.Layers, di.RootFS.Layers);
      assert.deepEqual(si.Config.Cmd ?? null, di.Config.Cmd ?? null);
      // The files stowage stored are the files of the layer Docker saved.
      const layerDirs = readdirSync(join(s.root, driver, driver === 'vfs' ? 'dir' : '')).filter((n) => /^[a-f0-9]{64}$/.test(n));
      assert.equal(layerDirs.length, 1);
      const stored = driver === 'vfs' ? join(s.root, 'vfs', 'dir', layerDirs[0]!) : join(s.root, 'overlay2', layerDirs[0]!, 'diff');
      const ref = join(dir, `ref-${driver}`);
      untar(dsave, join(dir, `dsave-${driver}`));
      const idx = JSON.parse(readFileSync(join(dir, `dsave-${driver}`, 'manifest.json'), 'utf8'));
      untar(join(dir, `dsave-${driver}`, idx[0].Layers[0]), ref);
      assert.deepEqual(tree(stored), tree(ref));

      // 2. A two-layer image made by our fixtures, loaded into stowage, saved by stowage, loaded into Docker.
      const top = join(dir, `top-${driver}`);
      mkdirSync(join(top, 'app'), { recursive: true });
      writeFileSync(join(top, 'app', 'run.sh'), '#!/bin/sh\necho hi\n');
      const arch = await makeDockerArchive(join(dir, `fixture-${driver}.tar`), { layers: [rootfs, top], repoTags: [`fromstowage-${driver}:1`], runConfig: { Cmd: ['/app/run.sh'] } });
      await s.ok(['load', '-i', arch.path]);
      const ssave = join(dir, `stowage-save-${driver}.tar`);
      await s.ok(['save', '-o', ssave, `fromstowage-${driver}:1`]);
      const dl = await d.docker(['load', '-i', ssave], { check: true });
      assert.match(dl.stdout.toString(), new RegExp(`Loaded image: fromstowage-${driver}:1`));
      const [back] = JSON.parse((await d.docker(['image', 'inspect', `fromstowage-${driver}:1`], { check: true })).stdout.toString());
      assert.equal(back.Id, arch.imageId);
      assert.deepEqual(back.RootFS.Layers, arch.diffIds);
      // And Docker's save of it loads back into stowage with the same ID.
      const again = join(dir, `again-${driver}.tar`);
      await d.docker(['save', '-o', again, `fromstowage-${driver}:1`], { check: true });
      const s2 = stowage(join(dir, `root2-${driver}`), driver);
      await s2.ok(['load', '-i', again]);
      const [si2] = JSON.parse(await s2.ok(['image', 'inspect', `fromstowage-${driver}:1`]));
      assert.equal(si2.Id, arch.imageId);
      assert.match(await s2.ok(['system', 'check']), /No problems found/);
      await d.docker(['rmi', '-f', 'dimported:1', `fromstowage-${driver}:1`], { check: true });
    }
  });
});
