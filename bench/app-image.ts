// app-image.ts: the benchmark's application-like image, built by code and cached.
//
//   1 base OS      Debian bookworm minbase from debootstrap (fallback: a synthetic tree of
//                  similar size and entry count, labelled as such in every result)
//   2 packages     ~300 files, ~30 MB (shared libraries and data, incompressible bytes)
//   3 dependencies ~5,000 small files in a node_modules-like tree
//   4 application  ~200 source files
//   5 config       a few files, plus one whiteout (deletes /etc/motd)
//   6 entrypoint   one script
//
// The total aims at the figures in shared/FACTS.md (196 MB, 6 layers, ~14k entries): layer 3's
// size fills up to that total. Generated content comes from a seeded PRNG and every tar
// entry has one fixed mtime, so with a given base tree the image ID is the same every run.
// The debootstrap tree itself is not bit-reproducible across machines or days; it is made
// once and kept in the cache. No console output here: progress goes to a callback.
import { existsSync, readFileSync, writeFileSync, mkdirSync, readdirSync, lstatSync, renameSync, rmSync } from 'node:fs';
import { mkdir, writeFile, chmod, symlink, copyFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { exec, timed } from './exec.js';
import { Prng, text } from './prng.js';
import { makeLayerTar, makeDockerArchive, BUSYBOX_PATH } from '../test/helpers/images.js';
import { mountsUnder } from '../test/helpers/env.js';

/** Bump when anything below changes what the image contains. */
const RECIPE = 'app-v1';
const MB = 1024 * 1024;
const TARGET_BYTES = 196 * MB;
export const REPO_TAG = 'stowage-bench/app:1';

export interface AppImage {
  /** The docker-archive. */
  archive: string;
  imageId: string;
  repoTag: string;
  /** Uncompressed layer tars, in order (the same bytes as inside the archive). */
  layerTars: string[];
  diffIds: string[];
  layerSizes: number[];
  entries: number;
  bytes: number;
  rootfs: 'debootstrap' | 'synthetic';
  /** Why the base is synthetic, when it is. */
  rootfsNote?: string;
  /** Seconds spent building now (0 when everything came from the cache). */
  buildSeconds: number;
  cached: boolean;
}

export type Progress = (msg: string) => void;

/** The Debian mirror apt is configured with (deb822 .sources or one-line sources.list). */
export function configuredMirror(): string {
  if (process.env.STOWAGE_BENCH_MIRROR) return process.env.STOWAGE_BENCH_MIRROR;
  const files = ['/etc/apt/sources.list'];
  try {
    for (const f of readdirSync('/etc/apt/sources.list.d')) files.push(join('/etc/apt/sources.list.d', f));
  } catch {
    // no directory
  }
  for (const f of files) {
    let s: string;
    try {
      s = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const stanza of s.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.*)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      if (uri && suites.includes('bookworm') && /^Types:.*\bdeb\b/m.test(stanza)) return uri;
    }
    for (const line of s.split('\n')) {
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/.exec(line.trim());
      if (m) return m[1]!;
    }
  }
  return 'http://deb.debian.org/debian';
}

function countEntries(dir: string): { entries: number; bytes: number } {
  let entries = 0;
  let bytes = 0;
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      entries++;
      if (st.isFile()) bytes += st.size;
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return { entries, bytes };
}

function unmountAllUnder(dir: string): void {
  for (const m of mountsUnder(dir).sort((a, b) => b.length - a.length)) spawnSync('umount', ['-l', m]);
}

/** Debian minbase via debootstrap into cacheDir/rootfs-bookworm-minbase, made once. */
async function debootstrapRootfs(cacheDir: string, progress: Progress, signal?: AbortSignal): Promise<string> {
  const done = join(cacheDir, 'rootfs-bookworm-minbase');
  if (existsSync(join(done, '.stowage-bench-complete'))) return done;
  if (process.getuid?.() !== 0) throw new Error('debootstrap needs root');
  const which = await exec('sh', ['-c', 'command -v debootstrap'], { check: false });
  if (which.code !== 0) throw new Error('debootstrap is not installed');
  const tmp = `${done}.tmp`;
  rmSync(done, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
  const mirror = configuredMirror();
  progress(`debootstrap --variant=minbase bookworm from ${mirror} (about half a minute)`);
  try {
    const r = await exec('debootstrap', ['--variant=minbase', 'bookworm', tmp, mirror], { signal, check: false });
    if (r.code !== 0) throw new Error(`debootstrap exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(-1500)}`);
  } finally {
    // debootstrap mounts /proc and /sys in the target; a failure or a Ctrl-C can leave them.
    unmountAllUnder(tmp);
  }
  // What a Dockerfile's base image does not carry: package lists and caches, logs,
  // device nodes (a container gets its own /dev), the host's resolv.conf and hostname.
  for (const rel of ['var/lib/apt/lists', 'var/cache/apt/archives', 'var/log', 'dev', 'run', 'tmp']) {
    const d = join(tmp, rel);
    if (!existsSync(d)) continue;
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (lstatSync(p).isDirectory() && rel !== 'dev') {
        if (name === 'partial' || name === 'apt') continue; // keep the directories apt expects
        rmSync(p, { recursive: true, force: true });
      } else rmSync(p, { recursive: true, force: true });
    }
  }
  for (const f of ['var/cache/apt/pkgcache.bin', 'var/cache/apt/srcpkgcache.bin']) rmSync(join(tmp, f), { force: true });
  writeFileSync(join(tmp, 'etc/resolv.conf'), '');
  writeFileSync(join(tmp, 'etc/hostname'), 'localhost\n');
  writeFileSync(join(tmp, '.stowage-bench-complete'), `debootstrap --variant=minbase bookworm ${mirror}\n`);
  renameSync(tmp, done);
  return done;
}

async function put(root: string, rel: string, content: string | Buffer, mode = 0o644): Promise<void> {
  const p = join(root, rel);
  await mkdir(dirname(p), { recursive: true });
  await writeFile(p, content);
  await chmod(p, mode);
}

/** A tree shaped like a Debian base (bin, lib, share/doc …) of about `bytes` and `entries`. */
async function syntheticRootfs(root: string, entries: number, bytes: number): Promise<void> {
  const rng = new Prng(1);
  for (const d of ['bin', 'sbin', 'lib', 'lib64', 'etc', 'root', 'tmp', 'var/lib/dpkg/info', 'var/cache', 'usr/bin', 'usr/sbin', 'usr/lib/x86_64-linux-gnu', 'usr/share/doc', 'usr/share/locale', 'home', 'proc', 'sys', 'dev', 'run']) {
    await mkdir(join(root, d), { recursive: true });
  }
  await chmod(join(root, 'tmp'), 0o1777);
  await copyFile(BUSYBOX_PATH, join(root, 'bin/busybox'));
  await chmod(join(root, 'bin/busybox'), 0o755);
  await symlink('busybox', join(root, 'bin/sh'));
  await put(root, 'etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n');
  await put(root, 'etc/motd', 'synthetic base\n');
  const files = Math.floor(entries * 0.85);
  const perFile = bytes / files;
  let made = 0;
  for (let pkg = 0; made < files; pkg++) {
    const name = `pkg${pkg}`;
    const n = Math.min(files - made, rng.int(10, 120));
    for (let i = 0; i < n; i++, made++) {
      const kind = rng.int(0, 9);
      const size = rng.logSize(Math.max(64, perFile / 40), perFile * 6);
      if (kind < 3) await put(root, `usr/lib/x86_64-linux-gnu/${name}/lib${name}-${i}.so`, rng.bytes(size), 0o644);
      else if (kind < 5) await put(root, `usr/bin/${name}-${i}`, rng.bytes(size), 0o755);
      else if (kind < 8) await put(root, `usr/share/${name}/${i % 7}/file${i}.txt`, text(rng, size));
      else await put(root, `usr/share/doc/${name}/doc${i}`, text(rng, Math.min(size, 4096)));
    }
    await put(root, `var/lib/dpkg/info/${name}.list`, text(rng, 512));
  }
}

async function mkTree(root: string, files: Array<[string, string | Buffer, number?]>): Promise<void> {
  for (const [rel, content, mode] of files) await put(root, rel, content, mode ?? 0o644);
}

/** Layers 2–6. depsBytes is layer 3's size target. */
async function upperLayers(work: string, depsBytes: number): Promise<string[]> {
  const dirs = [2, 3, 4, 5, 6].map((n) => join(work, `layer${n}`));
  for (const d of dirs) mkdirSync(d, { recursive: true });
  const [pkgs, deps, app, conf, entry] = dirs as [string, string, string, string, string];

  // 2: packages, ~300 files, 30 MB: a few big shared objects and many small data files.
  {
    const rng = new Prng(2);
    const sizes = Array.from({ length: 300 }, () => rng.logSize(2_000, 2 * MB));
    const scale = (30 * MB) / sizes.reduce((a, b) => a + b, 0);
    const files: Array<[string, Buffer | string, number?]> = sizes.map((s, i) => {
      const pkg = `libapp${i % 23}`;
      const n = Math.max(1, Math.round(s * scale));
      return i % 3 === 0
        ? [`usr/lib/x86_64-linux-gnu/${pkg}/${pkg}.so.${i}`, rng.bytes(n)]
        : [`usr/share/${pkg}/data/${i}.dat`, i % 2 ? rng.bytes(n) : text(rng, n)];
    });
    await mkTree(pkgs, files);
  }
  // 3: dependencies, 5,000 files in ~420 packages, some nested.
  {
    const rng = new Prng(3);
    const count = 5000;
    const sizes = Array.from({ length: count }, () => rng.logSize(120, 60_000));
    const scale = depsBytes / sizes.reduce((a, b) => a + b, 0);
    let i = 0;
    for (let p = 0; i < count; p++) {
      const nested = p % 9 === 8 ? `node_modules/dep${p - 1}/node_modules/` : 'node_modules/';
      const base = `app/${nested}dep${p}`;
      const n = Math.min(count - i, rng.int(4, 20));
      for (let k = 0; k < n; k++, i++) {
        const size = Math.max(16, Math.round(sizes[i]! * scale));
        const rel =
          k === 0 ? 'package.json' : k === 1 ? 'README.md' : k === 2 ? 'LICENSE' : k === 3 ? 'index.js' : `${rng.pick(['lib', 'dist', 'src', 'lib/util'])}/m${k}.${rng.pick(['js', 'js', 'd.ts', 'json', 'map'])}`;
        await put(deps, `${base}/${rel}`, text(rng, size));
      }
    }
  }
  // 4: application source, 200 files.
  {
    const rng = new Prng(4);
    const files: Array<[string, string]> = [['app/package.json', '{"name":"app","version":"1.0.0","main":"src/index.js"}\n']];
    for (let i = 0; i < 199; i++) {
      files.push([`app/src/${rng.pick(['routes', 'models', 'services', 'lib', 'views', 'test'])}/f${i}.js`, text(rng, rng.logSize(300, 40_000))]);
    }
    await mkTree(app, files);
  }
  // 5: configuration, and `rm /etc/motd` as a whiteout.
  await mkTree(conf, [
    ['etc/app/config.json', JSON.stringify({ port: 8080, log: 'info', db: { host: 'db', pool: 10 } }, null, 2) + '\n'],
    ['etc/app/env', 'NODE_ENV=production\n'],
    ['app/config/default.yaml', 'server:\n  port: 8080\n'],
    ['etc/.wh.motd', ''],
  ]);
  // 6: entrypoint.
  await mkTree(entry, [['usr/local/bin/docker-entrypoint.sh', '#!/bin/sh\nset -e\nexec "$@"\n', 0o755]]);
  return dirs;
}

export function benchCacheDir(): string {
  return process.env.STOWAGE_BENCH_CACHE ?? '/var/tmp/stowage-bench';
}

/** The benchmark image: from the cache when it is complete there, else built now. */
export async function appImage(progress: Progress, signal?: AbortSignal): Promise<AppImage> {
  const cache = benchCacheDir();
  mkdirSync(cache, { recursive: true });

  let rootfs: AppImage['rootfs'] = 'debootstrap';
  let rootfsNote: string | undefined;
  let baseDir: string | undefined;
  let buildSeconds = 0;
  if (process.env.STOWAGE_BENCH_SYNTHETIC) {
    rootfs = 'synthetic';
    rootfsNote = 'STOWAGE_BENCH_SYNTHETIC is set';
  } else {
    try {
      buildSeconds += await timed(async () => {
        baseDir = await debootstrapRootfs(cache, progress, signal);
      });
    } catch (e) {
      if (signal?.aborted) throw e;
      rootfs = 'synthetic';
      rootfsNote = `debootstrap failed: ${(e as Error).message.split('\n')[0]}`;
    }
  }

  const dir = join(cache, `${RECIPE}-${rootfs}`);
  const metaFile = join(dir, 'meta.json');
  if (existsSync(metaFile)) {
    const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as AppImage;
    if ([meta.archive, ...meta.layerTars].every((f) => existsSync(f))) return { ...meta, buildSeconds, cached: true };
  }

  const t0 = process.hrtime.bigint();
  rmSync(dir, { recursive: true, force: true });
  const work = join(dir, 'work');
  mkdirSync(work, { recursive: true });
  try {
    if (rootfs === 'synthetic') {
      progress(`building a SYNTHETIC base tree (${rootfsNote})`);
      baseDir = join(work, 'layer1');
      await syntheticRootfs(baseDir, 6800, 126 * MB);
    }
    const base = countEntries(baseDir!);
    progress('writing layer 1 (base OS)');
    const l1 = await makeLayerTar(baseDir!, join(dir, 'layer1.tar'));
    // Layer 3 fills the image up to TARGET_BYTES (bounded, so a strange base stays sane).
    const others = base.bytes + 30 * MB + 3 * MB;
    const depsBytes = Math.min(60 * MB, Math.max(10 * MB, TARGET_BYTES - others));
    progress(`generating layers 2-6 (dependencies: ${(depsBytes / MB).toFixed(1)} MB)`);
    const uppers = await upperLayers(work, depsBytes);
    let entries = base.entries;
    let bytes = base.bytes;
    const tars = [l1];
    for (const [i, d] of uppers.entries()) {
      const c = countEntries(d);
      entries += c.entries;
      bytes += c.bytes;
      tars.push(await makeLayerTar(d, join(dir, `layer${i + 2}.tar`)));
    }
    progress('writing the docker-archive');
    const archive = await makeDockerArchive(join(dir, 'image.tar'), {
      layers: tars.map((t) => ({ tar: t.path })),
      repoTags: [REPO_TAG],
      runConfig: {
        Entrypoint: ['/usr/local/bin/docker-entrypoint.sh'],
        Cmd: ['node', '/app/src/index.js'],
        WorkingDir: '/app',
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'NODE_ENV=production'],
      },
      createdBy: [
        rootfs === 'debootstrap' ? 'debootstrap --variant=minbase bookworm' : 'synthetic base tree',
        'RUN install packages',
        'COPY node_modules /app/node_modules',
        'COPY src /app/src',
        'COPY config / && rm /etc/motd',
        'COPY docker-entrypoint.sh /usr/local/bin/',
      ],
    });
    const img: AppImage = {
      archive: archive.path,
      imageId: archive.imageId,
      repoTag: REPO_TAG,
      layerTars: tars.map((t) => t.path),
      diffIds: archive.diffIds,
      layerSizes: archive.layerSizes,
      entries,
      bytes,
      rootfs,
      ...(rootfsNote ? { rootfsNote } : {}),
      buildSeconds: 0,
      cached: false,
    };
    writeFileSync(metaFile, JSON.stringify(img, null, 2));
    buildSeconds += Number(process.hrtime.bigint() - t0) / 1e9;
    return { ...img, buildSeconds };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
