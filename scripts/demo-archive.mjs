// demo-archive.mjs BASE.tar APPDIR OUT.tar NAME:TAG
// Makes a docker-archive of an image that is BASE.tar's image plus one layer with
// APPDIR's contents (what a build step would add), using GNU tar. The demo uses it
// to show layer sharing before `commit` and `build` exist.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, rmSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const [baseTar, appDir, outTar, ref] = process.argv.slice(2);
const work = mkdtempSync(join(tmpdir(), 'demo-archive-'));
try {
  const x = join(work, 'x');
  mkdirSync(x);
  execFileSync('tar', ['-xf', baseTar, '-C', x]);
  const [m] = JSON.parse(readFileSync(join(x, 'manifest.json'), 'utf8'));
  const config = JSON.parse(readFileSync(join(x, m.Config), 'utf8'));
  const layer = execFileSync('tar', ['-C', appDir, '--sort=name', '--numeric-owner', '--mtime=@946684800', '-c', '.'], { maxBuffer: 1 << 30 });
  const diffId = 'sha256:' + createHash('sha256').update(layer).digest('hex');
  const out = join(work, 'out');
  mkdirSync(join(out, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(out, 'blobs', 'sha256', diffId.slice(7)), layer);
  for (const l of m.Layers) copyFileSync(join(x, l), join(out, 'blobs', 'sha256', createHash('sha256').update(readFileSync(join(x, l))).digest('hex')));
  const created = new Date().toISOString();
  config.created = created;
  config.rootfs.diff_ids.push(diffId);
  config.history = [...(config.history ?? []), { created, created_by: `COPY ${appDir} /` }];
  config.config = { ...(config.config ?? {}), Cmd: ['/app/run.sh'] };
  const cfg = Buffer.from(JSON.stringify(config));
  const cfgHex = createHash('sha256').update(cfg).digest('hex');
  writeFileSync(join(out, 'blobs', 'sha256', cfgHex), cfg);
  const layers = config.rootfs.diff_ids.map((d) => `blobs/sha256/${d.slice(7)}`);
  writeFileSync(join(out, 'manifest.json'), JSON.stringify([{ Config: `blobs/sha256/${cfgHex}`, RepoTags: [ref], Layers: layers }]));
  execFileSync('tar', ['-C', out, '-cf', outTar, '.']);
} finally {
  rmSync(work, { recursive: true, force: true });
}
