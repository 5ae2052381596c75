// images.ts: test fixtures made by code: small root filesystems, reproducible layer tars
// (GNU tar, not stowage's own writer) and `docker save`-format archives. They are
// deliberately independent of src/ so they can check stowage's archive code, and
// reproducible (sorted names, numeric owners, one fixed mtime, no atime/ctime) so that
// the same inputs give the same diffIDs and image ID on every run.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, openSync, readSync, closeSync } from 'node:fs';
import { open, mkdir, writeFile, copyFile, symlink, link, chmod, readdir, rename, rm, mkdtemp, stat } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';

/** 2000-01-01T00:00:00Z: the mtime of every entry in fixture tars. */
export const FIXED_MTIME = 946684800;

export type RootfsKind =
  /** /bin/busybox (static) with the usual applet links, /etc/passwd, /tmp … */
  | 'busybox'
  /** A few files of each kind tar knows that matter for layers: file, dir, symlink,
   *  hardlink, empty file, executable, long name, non-ASCII name, fifo. No busybox. */
  | 'sample';

const BUSYBOX_APPLETS = [
  'sh', 'ls', 'cat', 'echo', 'true', 'false', 'env', 'id', 'mkdir', 'rm', 'rmdir', 'cp', 'mv', 'ln',
  'touch', 'sleep', 'find', 'grep', 'sed', 'wc', 'head', 'tail', 'stat', 'chmod', 'test', 'printf',
  'pwd', 'uname', 'hostname', 'mount', 'df', 'du', 'sha256sum', 'tar', 'ps', 'kill',
];

export const BUSYBOX_PATH = '/bin/busybox';

async function put(root: string, rel: string, content: string | Buffer, mode = 0o644): Promise<void> {
  const p = join(root, rel);
  await mkdir(dirname(p), { recursive: true });
  await writeFile(p, content);
  await chmod(p, mode); // explicit: the umask must not decide a fixture's bytes
}

async function dir(root: string, rel: string, mode = 0o755): Promise<void> {
  const p = join(root, rel);
  await mkdir(p, { recursive: true });
  await chmod(p, mode);
}

/** Fills dir (created if missing) with a small root filesystem of the given kind. */
export async function makeRootfs(root: string, kind: RootfsKind = 'busybox'): Promise<void> {
  await dir(root, '.');
  if (kind === 'busybox') {
    for (const d of ['bin', 'etc', 'root', 'dev', 'proc', 'sys', 'usr', 'usr/bin', 'var']) await dir(root, d);
    await dir(root, 'tmp', 0o1777);
    await dir(root, 'root', 0o700);
    await copyFile(BUSYBOX_PATH, join(root, 'bin/busybox'));
    await chmod(join(root, 'bin/busybox'), 0o755);
    for (const a of BUSYBOX_APPLETS) await symlink('busybox', join(root, 'bin', a));
    await put(root, 'etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
    await put(root, 'etc/group', 'root:x:0:\nnogroup:x:65534:\n');
    await put(root, 'etc/hostname', 'fixture\n');
    return;
  }
  // 'sample'
  await put(root, 'etc/os-release', 'NAME=fixture\n');
  await put(root, 'etc/empty', '');
  await put(root, 'usr/bin/tool', '#!/bin/sh\necho tool\n', 0o755);
  await put(root, 'usr/share/data.bin', Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) & 0xff)));
  await symlink('../usr/share/data.bin', join(root, 'etc/data-link'));
  await symlink('/nonexistent/target', join(root, 'etc/dangling'));
  await link(join(root, 'usr/bin/tool'), join(root, 'usr/bin/tool-hardlink'));
  const long = 'd'.repeat(60) + '/' + 'e'.repeat(60) + '/' + 'f'.repeat(80) + '.txt'; // > 100 bytes: needs a PAX or GNU long name
  await put(root, join('long', long), 'long\n');
  await put(root, 'unicode/ünïcødé-名前.txt', 'utf-8 name\n');
  await dir(root, 'var/empty-dir', 0o700);
  await new Promise<void>((res, rej) => {
    const c = spawn('mkfifo', ['-m', '0600', join(root, 'var/fifo')], { stdio: 'ignore' });
    c.on('error', rej);
    c.on('close', (code) => (code === 0 ? res() : rej(new Error(`mkfifo exited ${code}`))));
  });
}

export interface LayerTarFile {
  path: string;
  /** sha256:<hex> of the tar bytes. */
  diffId: string;
  size: number;
}

export interface TarOptions {
  /** mtime for every entry; default FIXED_MTIME. */
  mtime?: number;
  /** Store xattrs (PAX SCHILY.xattr). Default false. */
  xattrs?: boolean;
}

function tarArgs(srcDir: string, names: string[], opts: TarOptions): string[] {
  return [
    '--create', '--file=-', `--directory=${srcDir}`,
    '--format=posix',
    // PAX headers without the per-run fields (atime, ctime, pid in the header name).
    '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
    '--sort=name', '--numeric-owner', `--mtime=@${opts.mtime ?? FIXED_MTIME}`,
    ...(opts.xattrs ? ['--xattrs', '--xattrs-include=*'] : []),
    // Top-level names listed one by one (sorted): entries are "bin/sh", not "./bin/sh",
    // and there is no "./" entry, like the layers Docker writes.
    ...(names.length ? ['--', ...names] : ['--files-from=/dev/null']),
  ];
}

/** Runs GNU tar over dir; the archive bytes go to onData. */
async function runTar(srcDir: string, opts: TarOptions, onData: (b: Buffer) => void | Promise<void>): Promise<void> {
  const names = (await readdir(srcDir)).sort();
  await new Promise<void>((resolve, reject) => {
    const c = spawn('tar', tarArgs(srcDir, names, opts), { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let chain = Promise.resolve();
    c.stdout.on('data', (b: Buffer) => {
      chain = chain.then(() => onData(b));
    });
    c.stderr.on('data', (b: Buffer) => (err += b.toString()));
    c.on('error', reject);
    c.on('close', (code) => {
      chain.then(() => (code === 0 ? resolve() : reject(new Error(`tar exited ${code}: ${err.trim()}`))), reject);
    });
  });
}

/** A reproducible layer tar of dir's contents: in memory, or written to outFile. */
export function makeLayerTar(dir: string, opts?: TarOptions): Promise<Buffer>;
export function makeLayerTar(dir: string, outFile: string, opts?: TarOptions): Promise<LayerTarFile>;
export async function makeLayerTar(dir: string, a?: string | TarOptions, b?: TarOptions): Promise<Buffer | LayerTarFile> {
  if (typeof a !== 'string') {
    const parts: Buffer[] = [];
    await runTar(dir, a ?? {}, (x) => void parts.push(x));
    return Buffer.concat(parts);
  }
  const fh = await open(a, 'w');
  const h = createHash('sha256');
  let size = 0;
  try {
    await runTar(dir, b ?? {}, async (x) => {
      h.update(x);
      size += x.length;
      await fh.write(x);
    });
  } finally {
    await fh.close();
  }
  return { path: a, diffId: `sha256:${h.digest('hex')}`, size };
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** chainID per the OCI image spec: chain(L1) = diff(L1); chain(Ln) = sha256(chain(Ln-1) + " " + diff(Ln)). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha256(`${out[out.length - 1]} ${d}`));
  return out;
}

/** A layer given as a directory (tarred here) or as an existing tar file (used as is). */
export type LayerSource = string | { tar: string };

export interface DockerArchiveOptions {
  layers: LayerSource[];
  /** "name:tag" references, written to manifest.json RepoTags and to `repositories`. */
  repoTags?: string[];
  /** Top-level image config fields, merged over the defaults (architecture, os, created …). */
  config?: Record<string, unknown>;
  /** Fields of the runtime config (`config.config`: Env, Cmd, Entrypoint, WorkingDir …). */
  runConfig?: Record<string, unknown>;
  /** Exact config bytes to use instead of generating them (for hostile-input tests);
   *  rootfs.diff_ids is then whatever those bytes say. */
  rawConfig?: Buffer;
  /** One history `created_by` per layer; default "stowage-fixture layer N". */
  createdBy?: string[];
  tar?: TarOptions;
}

export interface DockerArchive {
  path: string;
  /** sha256:<hex> of the config bytes: the image ID Docker and stowage must report. */
  imageId: string;
  config: Buffer;
  diffIds: string[];
  chainIds: string[];
  /** Layer tar sizes in bytes, in order. */
  layerSizes: number[];
  manifest: unknown;
}

/**
 * Writes a `docker save` archive (the Docker 20.10 layout: `<id>/layer.tar`, `<id>/VERSION`,
 * `<id>/json`, `<config hex>.json`, manifest.json, repositories) to outFile.
 * Reproducible: the same layers and options give the same bytes.
 */
export async function makeDockerArchive(outFile: string, opts: DockerArchiveOptions): Promise<DockerArchive> {
  const stage = await mkdtemp(join(dirname(outFile), `.${basename(outFile)}.stage-`));
  try {
    const layers: LayerTarFile[] = [];
    for (const [i, src] of opts.layers.entries()) {
      const tmp = join(stage, `layer-${i}.tar`);
      if (typeof src === 'string') {
        layers.push(await makeLayerTar(src, tmp, opts.tar));
      } else {
        // Hard link where possible (cheap for the 200 MB bench image), else copy.
        await link(src.tar, tmp).catch(() => copyFile(src.tar, tmp));
        layers.push({ path: tmp, diffId: await sha256File(tmp), size: (await stat(tmp)).size });
      }
    }
    const diffIds = layers.map((l) => l.diffId);
    const chains = chainIds(diffIds);
    const created = new Date(FIXED_MTIME * 1000).toISOString();
    const config =
      opts.rawConfig ??
      Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          created,
          config: {
            Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
            Cmd: ['/bin/sh'],
            ...opts.runConfig,
          },
          rootfs: { type: 'layers', diff_ids: diffIds },
          history: layers.map((_, i) => ({ created, created_by: opts.createdBy?.[i] ?? `stowage-fixture layer ${i + 1}` })),
          ...opts.config,
        }),
      );
    const imageId = sha256(config);
    const configName = `${imageId.slice(7)}.json`;
    await writeFile(join(stage, configName), config);

    // Legacy v1 layer directories: Docker's loader ignores their names when manifest.json
    // is present; the chainID is a stable, unique choice.
    const layerPaths: string[] = [];
    for (const [i, l] of layers.entries()) {
      const id = chains[i]!.slice(7);
      await mkdir(join(stage, id));
      await rename(l.path, join(stage, id, 'layer.tar'));
      await writeFile(join(stage, id, 'VERSION'), '1.0');
      const v1: Record<string, unknown> = { id, created, container_config: { Cmd: null } };
      if (i > 0) v1.parent = chains[i - 1]!.slice(7);
      await writeFile(join(stage, id, 'json'), JSON.stringify(v1));
      layerPaths.push(`${id}/layer.tar`);
    }
    const repoTags = opts.repoTags ?? [];
    const manifest = [{ Config: configName, RepoTags: repoTags.length ? repoTags : null, Layers: layerPaths }];
    await writeFile(join(stage, 'manifest.json'), JSON.stringify(manifest));
    if (repoTags.length && layers.length) {
      const repos: Record<string, Record<string, string>> = {};
      const top = chains[chains.length - 1]!.slice(7);
      for (const ref of repoTags) {
        const at = ref.lastIndexOf(':');
        const [name, tag] = at > ref.lastIndexOf('/') ? [ref.slice(0, at), ref.slice(at + 1)] : [ref, 'latest'];
        (repos[name] ??= {})[tag] = top;
      }
      await writeFile(join(stage, 'repositories'), JSON.stringify(repos));
    }
    const tmpOut = `${outFile}.tmp`;
    await makeLayerTar(stage, tmpOut, opts.tar);
    await rename(tmpOut, outFile);
    return { path: outFile, imageId, config, diffIds, chainIds: chains, layerSizes: layers.map((l) => l.size), manifest };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** sha256:<hex> of the bytes of one member of a tar file (offset and size from indexTarFile): proves a blob's content, not only its name. */
export function tarMemberDigest(file: string, member: { offset: number; size: number } | undefined): string | undefined {
  if (!member) return undefined;
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(member.size);
    readSync(fd, buf, 0, member.size, member.offset);
    return sha256(buf);
  } finally {
    closeSync(fd);
  }
}

/**
 * The size Docker records for a layer made from `dir` (written independently of
 * src/layers/size.ts, from moby's rules): overlay2 counts every non-directory's
 * st_size (a symlink: its target's length), each inode once; naive-diff drivers
 * (vfs, btrfs, zfs) count the tar entries' sizes, i.e. regular files, each inode
 * once (a second link is a size-0 hardlink entry).
 */
export async function dockerLayerSize(dir: string, driver: string): Promise<number> {
  const { lstat } = await import('node:fs/promises');
  const seen = new Set<number>();
  let size = 0;
  const walk = async (d: string): Promise<void> => {
    for (const name of await readdir(d)) {
      const p = join(d, name);
      const st = await lstat(p);
      if (st.isDirectory()) { await walk(p); continue; }
      if (driver !== 'overlay2' && !st.isFile()) continue;
      if (st.size === 0 || seen.has(st.ino)) continue;
      seen.add(st.ino);
      size += st.size;
    }
  };
  await walk(dir);
  return size;
}
