// Image archives with the oddities found in the wild, loaded into a real Docker
// (20.10, private dockerd) and into stowage: both must end up with the same thing —
// the same image ID and layers, the same Size and history sizes, and the same files
// (every entry of an export of a container: name bytes, type, mode, owner, mtime,
// link target, device numbers, content hash, xattrs, hardlinks). Docker's result is
// never guessed: each case is loaded into Docker first. Deliberate deviations are
// asserted as such and listed in docs/archive-fidelity.md.
//
// Fixtures are made by test/interop/fixtures.py (Python's tarfile: hardlinks with
// their own metadata, non-UTF-8 names in PAX, ustar and GNU forms, PAX global
// headers, binary xattrs) and by GNU tar (sparse files in all four encodings).
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, openSync, writeSync, closeSync, ftruncateSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, requiresRoot, requires } from '../helpers/env.js';
import { startDockerd, dockerAvailable, type Dockerd } from '../helpers/dockerd.js';
import { stowage, type Stowage } from '../helpers/cli.js';
import { makeDockerArchive, dockerLayerSize, BUSYBOX_PATH } from '../helpers/images.js';

const FIXTURES = new URL('../../../test/interop/fixtures.py', import.meta.url).pathname;

interface Entry {
  name: string; shown: string; type: string; mode: number; uid: number; gid: number; mtime: number | 'now';
  link?: string; dev?: [number, number]; sha256?: string; size?: number; xattrs?: Record<string, string>;
}

/** Paths each engine adds to a container on its own (runtime mount points): not the image's. */
const ENGINE_OWN = /^(\.dockerenv|proc|sys|dev|etc)(\/|$)/;

function python(args: string[], input?: Buffer): string {
  const r = spawnSync('python3', [FIXTURES, ...args], { input, encoding: 'buffer', maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout.toString();
}

/** The entries of a container export, comparable across engines (times of "now" made equal). */
function listing(exported: Buffer, dir: string, tag: string, since: number): Entry[] {
  const file = join(dir, `${tag}.export.tar`);
  writeFileSync(file, exported);
  return python(['list', file]).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Entry)
    .filter((e) => !ENGINE_OWN.test(e.shown))
    .map((e) => ({ ...e, mtime: typeof e.mtime === 'number' && e.mtime >= since ? 'now' : e.mtime }));
}

function sha256(b: Buffer): string { return createHash('sha256').update(b).digest('hex'); }

async function dockerExport(d: Dockerd, image: string): Promise<Buffer> {
  const c = (await d.docker(['create', image], { check: true })).stdout.toString().trim();
  const r = await d.docker(['export', c]);
  await d.docker(['rm', c], { check: true });
  assert.equal(r.code, 0, `docker export: ${r.stderr}`);
  return r.stdout;
}

async function stowageExport(s: Stowage, image: string): Promise<Buffer> {
  const c = (await s.ok(['create', image])).trim();
  const r = await s.run(['export', c]);
  await s.ok(['rm', c]);
  assert.equal(r.code, 0, `stowage export: ${r.stderr}`);
  return r.stdoutBuf;
}

/** Loads archive into both; returns false (after checking both refused) when Docker refuses it. */
async function loadBoth(d: Dockerd, s: Stowage, archive: string, what: string): Promise<boolean> {
  const dl = await d.docker(['load', '-i', archive]);
  const sl = await s.run(['load', '-i', archive]);
  assert.equal(sl.code === 0, dl.code === 0, `${what}: docker load exit ${dl.code} (${dl.stderr.trim()}), stowage load exit ${sl.code} (${sl.stderr.trim()})`);
  return dl.code === 0;
}

/** Same ID, layers, Size, history sizes and exported files in both engines. */
async function sameImage(d: Dockerd, s: Stowage, image: string, dir: string, since: number,
  deviation?: (stowageFiles: Entry[], dockerFiles: Entry[]) => void): Promise<void> {
  const [di] = JSON.parse((await d.docker(['image', 'inspect', image], { check: true })).stdout.toString());
  const [si] = JSON.parse(await s.ok(['image', 'inspect', image]));
  assert.equal(si.Id, di.Id, `${image}: Id`);
  assert.deepEqual(si.RootFS, di.RootFS, `${image}: RootFS`);
  assert.equal(si.Size, di.Size, `${image}: Size (the bytes of the layers' files, as Docker counts them)`);
  const dh = (await d.docker(['history', '--human=false', '--format', '{{.Size}}', image], { check: true })).stdout.toString();
  const sh = await s.ok(['history', '--no-human', '--format', '{{.Size}}', image]);
  assert.equal(sh, dh, `${image}: history sizes`);
  // system df adds up the same layer sizes (both hold the same images at this point).
  const ddf = (await d.docker(['system', 'df', '--format', '{{.Type}} {{.TotalCount}} {{.Size}}'], { check: true })).stdout.toString().split('\n')[0];
  const sdf = (await s.ok(['system', 'df', '--format', '{{.Type}} {{.TotalCount}} {{.Size}}'])).split('\n')[0];
  assert.equal(sdf, ddf, `${image}: system df, images`);
  const tag = image.replace(/[^a-z0-9]/g, '_');
  const de = listing(await dockerExport(d, image), dir, `docker-${tag}`, since);
  const se = listing(await stowageExport(s, image), dir, `stowage-${tag}`, since);
  deviation?.(se, de);
  assert.deepEqual(se, de, `${image}: exported files`);
}

/** A file with data islands and holes (and a hole at the end). */
function sparseSource(path: string): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, Buffer.alloc(5000, 0x41), 0, 5000, 100_000);
    writeSync(fd, Buffer.alloc(70_000, 0x42), 0, 70_000, 2 * 1024 * 1024);
    ftruncateSync(fd, 3 * 1024 * 1024);
  } finally {
    closeSync(fd);
  }
}

/** A test's dockerd, stowage root and generated odd archives (fx/); undefined when it cannot run here. */
async function oddities(t: TestContext): Promise<{ dir: string; d: Dockerd; s: Stowage; fx: string; since: number } | undefined> {
  if (!requiresRoot(t)) return undefined;
  if (!requires(t, dockerAvailable(), 'needs dockerd (Debian docker.io)')) return undefined;
  if (!requires(t, spawnSync('python3', ['--version']).status === 0, 'needs python3')) return undefined;
  const dir = tempDir(t);
  const d = await startDockerd(t);
  const s = stowage(join(dir, 'root'), 'overlay2');
  const fx = join(dir, 'fx');
  mkdirSync(fx);
  python(['make', fx, BUSYBOX_PATH]);
  return { dir, d, s, fx, since: Math.floor(Date.now() / 1000) - 5 };
}

describe('image archives with oddities: loaded as Docker loads them', () => {
  it('hardlink metadata, links to symlinks/FIFOs/devices, .. inside the root, non-UTF-8 names, PAX globals, capabilities', async (t) => {
    const o = await oddities(t);
    if (!o) return;
    const { dir, d, s, fx, since } = o;

    for (const c of ['links', 'nonutf8', 'nonutf8-ustar', 'nonutf8-gnu', 'pax-global', 'caps-v3root0', 'caps-v3root1000', 'duplicates']) {
      const image = `odd-${c}:1`;
      const arch = await makeDockerArchive(join(dir, `${c}.image.tar`), { layers: [{ tar: join(fx, `${c}.tar`) }], repoTags: [image] });
      const loaded = await loadBoth(d, s, arch.path, c);
      assert.equal(loaded, c !== 'duplicates', `${c}: Docker refuses only the layer with a duplicate name`);
      if (!loaded) continue;
      await sameImage(d, s, image, dir, since, c !== 'caps-v3root1000' ? undefined : (se, de) => {
        // Deliberate deviation (docs/archive-fidelity.md): both store the v3 capability
        // with rootid 1000 as given; Docker's export shows it as v2, stowage's as stored.
        const sv3 = se.find((e) => e.shown === 'cap-v3')!;
        const dv3 = de.find((e) => e.shown === 'cap-v3')!;
        assert.equal(sv3.xattrs!['security.capability'], '0100000300040000000000000000000000000000e8030000');
        assert.equal(dv3.xattrs!['security.capability'], '0100000200040000000000000000000000000000');
        sv3.xattrs = dv3.xattrs;
      });
      // save gives back the very layer bytes (tar-split), odd names and all: compared as bytes.
      const saved = join(dir, `${c}.saved.tar`);
      await s.ok(['save', '-o', saved, image]);
      const out = join(dir, `${c}.saved`);
      mkdirSync(out);
      assert.equal(spawnSync('tar', ['-xf', saved, '-C', out]).status, 0);
      const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
      assert.equal(sha256(readFileSync(join(out, manifest[0].Layers[0]))), sha256(readFileSync(join(fx, `${c}.tar`))), `${c}: saved layer bytes`);
    }
  });

  it('sparse files: PAX 0.0, 0.1 and 1.0 expand as in Docker; old GNU sparse loads (Docker 20.10 refuses it)', async (t) => {
    if (!requiresRoot(t)) return;
    if (!requires(t, dockerAvailable(), 'needs dockerd (Debian docker.io)')) return;
    const dir = tempDir(t);
    const d = await startDockerd(t);
    const s = stowage(join(dir, 'root'), 'overlay2');
    const src = join(dir, 'src');
    mkdirSync(join(src, 'bin'), { recursive: true });
    copyFileSync(BUSYBOX_PATH, join(src, 'bin/busybox'));
    sparseSource(join(src, 'sparse.bin'));
    const hole = openSync(join(src, 'all-hole.bin'), 'w');
    ftruncateSync(hole, 512 * 1024);
    closeSync(hole);
    const want = sha256(readFileSync(join(src, 'sparse.bin')));
    const since = Math.floor(Date.now() / 1000) - 5;
    for (const v of ['0.0', '0.1', '1.0', 'gnu']) {
      const tar = join(dir, `sparse-${v}.tar`);
      const fmt = v === 'gnu' ? ['--format=gnu'] : ['--format=posix', `--sparse-version=${v}`, '--pax-option=delete=atime,delete=ctime'];
      const r = spawnSync('tar', ['--create', '--sparse', ...fmt, '--numeric-owner', '--mtime=@946684800', '-C', src, '-f', tar, 'bin', 'sparse.bin', 'all-hole.bin'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const image = `sparse-${v.replace('.', '')}:1`;
      const arch = await makeDockerArchive(join(dir, `sparse-${v}.image.tar`), { layers: [{ tar }], repoTags: [image] });
      if (v === 'gnu') {
        const dl = await d.docker(['load', '-i', arch.path]);
        assert.notEqual(dl.code, 0, 'Docker 20.10 refuses old GNU sparse entries (type S)');
        assert.match(dl.stderr, /unhandled tar header type 83/);
        await s.ok(['load', '-i', arch.path]);
        const [si] = JSON.parse(await s.ok(['image', 'inspect', image]));
        const [sd] = JSON.parse(await s.ok(['image', 'inspect', 'sparse-10:1']));
        assert.equal(si.Size, sd.Size, 'same size as the PAX 1.0 form of the same files');
        const out = join(dir, 'gnu-export');
        mkdirSync(out);
        assert.equal(spawnSync('tar', ['-xf', '-', '-C', out], { input: await stowageExport(s, image) }).status, 0);
        assert.equal(sha256(readFileSync(join(out, 'sparse.bin'))), want, 'old GNU sparse expanded byte for byte');
        continue;
      }
      assert.ok(await loadBoth(d, s, arch.path, `sparse ${v}`));
      await sameImage(d, s, image, dir, since);
      // And the content is the original file, holes as zeros.
      const out = join(dir, `export-${v}`);
      mkdirSync(out);
      assert.equal(spawnSync('tar', ['-xf', '-', '-C', out], { input: await stowageExport(s, image) }).status, 0);
      assert.equal(sha256(readFileSync(join(out, 'sparse.bin'))), want);
    }
  });

  it('whole-archive gzip, xz and bzip2 load in both with the same image; zstd in stowage (Docker 20.10 refuses it)', async (t) => {
    if (!requiresRoot(t)) return;
    if (!requires(t, dockerAvailable(), 'needs dockerd (Debian docker.io)')) return;
    const dir = tempDir(t);
    const d = await startDockerd(t);
    const src = join(dir, 'src');
    mkdirSync(join(src, 'bin'), { recursive: true });
    copyFileSync(BUSYBOX_PATH, join(src, 'bin/busybox'));
    writeFileSync(join(src, 'hello'), 'hello\n');
    const arch = await makeDockerArchive(join(dir, 'plain.tar'), { layers: [src], repoTags: ['packed:1'] });
    for (const [tool, ext] of [['gzip', 'gz'], ['zstd', 'zst'], ['xz', 'xz'], ['bzip2', 'bz2']] as const) {
      if (!requires(t, spawnSync(tool, ['--version']).status === 0, `needs ${tool}`)) return;
      const packed = join(dir, `packed.tar.${ext}`);
      const r = spawnSync('sh', ['-c', `${tool} -c < "$1" > "$2"`, 'sh', arch.path, packed]);
      assert.equal(r.status, 0, r.stderr?.toString());
      const s = stowage(join(dir, `root-${ext}`), 'overlay2');
      await d.docker(['rmi', '-f', 'packed:1']);
      if (ext === 'zst') {
        // Deliberate deviation (docs/archive-fidelity.md): Docker 20.10 has no zstd for
        // whole archives (23.0 added it); stowage loads it.
        const dl = await d.docker(['load', '-i', packed]);
        assert.notEqual(dl.code, 0);
        assert.match(dl.stderr, /invalid tar header/);
        await s.ok(['load', '-i', packed]);
      } else {
        assert.ok(await loadBoth(d, s, packed, ext));
        const [di] = JSON.parse((await d.docker(['image', 'inspect', 'packed:1'], { check: true })).stdout.toString());
        assert.equal(di.Id, arch.imageId);
      }
      const [si] = JSON.parse(await s.ok(['image', 'inspect', 'packed:1']));
      assert.equal(si.Id, arch.imageId, `${ext}: same image`);
      assert.equal(si.Size, await dockerLayerSize(src, 'overlay2'), `${ext}: Docker's size`);
      // From standard input too, as `docker load < file.tar.gz`.
      const s2 = stowage(join(dir, `root-${ext}-stdin`), 'overlay2');
      await s2.ok(['load'], { input: readFileSync(packed) });
      const [si2] = JSON.parse(await s2.ok(['image', 'inspect', 'packed:1']));
      assert.equal(si2.Id, arch.imageId);
      assert.match(await s.ok(['system', 'check']), /No problems found/);
    }
  });

  it('whiteouts of paths that never existed and other legal oddities: export, diff and commit as Docker', async (t) => {
    const o = await oddities(t);
    if (!o) return;
    const { dir, d, s, fx, since } = o;
    const arch = await makeDockerArchive(join(dir, 'wh.image.tar'), {
      layers: [{ tar: join(fx, 'whiteouts-lower.tar') }, { tar: join(fx, 'whiteouts-odd.tar') }], repoTags: ['wh:1'],
    });
    assert.ok(await loadBoth(d, s, arch.path, 'whiteouts'));
    await sameImage(d, s, 'wh:1', dir, since);

    // A container of it changes files; diff and commit must work and agree with Docker.
    const file = join(dir, 'added');
    writeFileSync(file, 'added\n');
    const dc = (await d.docker(['create', 'wh:1'], { check: true })).stdout.toString().trim();
    const sc = (await s.ok(['create', 'wh:1'])).trim();
    for (const target of ['/added', '/newdir/added', '/missing-parent/added']) {
      const dr = await d.docker(['cp', file, `${dc}:${target}`]);
      const sr = await s.run(['cp', file, `${sc}:${target}`]);
      assert.equal(sr.code, dr.code, `cp to ${target}: docker ${dr.stderr.trim()} / stowage ${sr.stderr.trim()}`);
    }
    const ddiff = (await d.docker(['diff', dc], { check: true })).stdout.toString().split('\n').filter(Boolean).sort();
    const sdiff = (await s.ok(['diff', sc])).split('\n').filter(Boolean).sort();
    assert.deepEqual(sdiff, ddiff, 'diff');
    await d.docker(['commit', dc, 'wh:2'], { check: true });
    await s.ok(['commit', sc, 'wh:2']);
    const [di] = JSON.parse((await d.docker(['image', 'inspect', 'wh:2'], { check: true })).stdout.toString());
    const [si] = JSON.parse(await s.ok(['image', 'inspect', 'wh:2']));
    assert.equal(si.RootFS.Layers.length, di.RootFS.Layers.length, 'commit adds one layer');
    assert.equal(si.Size, di.Size, 'committed image size');
    const de = listing(await dockerExport(d, 'wh:2'), dir, 'docker-wh2', since);
    const se = listing(await stowageExport(s, 'wh:2'), dir, 'stowage-wh2', since);
    assert.deepEqual(se, de, 'export of the committed image');
    await d.docker(['rm', dc], { check: true });
    await s.ok(['rm', sc]);
    assert.match(await s.ok(['system', 'check']), /No problems found/);
  });
});
