// Without root: the default data root moves under $XDG_DATA_HOME, overlay2 is
// unavailable (whiteouts are device nodes, layers are mounted), so vfs is chosen
// and says why; import, images, save, rmi, load and check all work.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, requiresRoot } from '../helpers/env.js';
import { BIN } from '../helpers/cli.js';
import { makeRootfs, makeLayerTar } from '../helpers/images.js';

const NOBODY = 65534;

function asNobody(home: string, args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    uid: NOBODY, gid: NOBODY, encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: home, XDG_DATA_HOME: join(home, 'data') },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

it('works without root on vfs, under $XDG_DATA_HOME', async (t) => {
  if (!requiresRoot(t)) return; // root is needed to become nobody
  const dir = tempDir(t);
  chmodSync(dir, 0o777);
  const rootfs = join(dir, 'rootfs');
  await makeRootfs(rootfs, 'busybox');
  const tarPath = join(dir, 'base.tar');
  writeFileSync(tarPath, await makeLayerTar(rootfs));
  chmodSync(tarPath, 0o644);
  const home = join(dir, 'home');
  mkdirSync(home);
  chmodSync(home, 0o777);
  const info = asNobody(home, ['info']);
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout, /Storage Driver: vfs/);
  assert.match(info.stdout, /Reason: overlay2 is unavailable/);
  assert.ok(existsSync(join(home, 'data', 'stowage', 'stowage.db')), 'data root under XDG_DATA_HOME');
  const imp = asNobody(home, ['import', tarPath, 'nb:1']);
  assert.equal(imp.code, 0, imp.stderr);
  const saved = join(home, 's.tar');
  for (const args of [['save', '-o', saved, 'nb:1'], ['rmi', 'nb:1'], ['load', '-i', saved]]) {
    const r = asNobody(home, args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  }
  const ls = asNobody(home, ['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
  assert.equal(ls.stdout.trim(), `nb:1 ${imp.stdout.trim().slice(7, 19)}`);
  assert.match(asNobody(home, ['system', 'check']).stdout, /No problems found/);
});
