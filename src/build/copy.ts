// copy.ts: COPY and ADD as a layer tar built straight from the source (the context
// folder, another stage's filesystem, or a heredoc), without staging a copy.
//
// planCopy decides what lands where (Docker's rules: a folder's *contents* are
// copied; a file goes into the destination when it ends with "/" or is a folder in
// the image; several sources need a folder destination ending with "/"; missing
// parents are made 0755) and computes the checksum the layer cache keys on. The tar
// is written only on a cache miss. ADD of a local tar archive (plain, gzip, bzip2,
// xz, zstd) extracts it; a remote URL is refused with a clear message (no network
// fetcher). Every name written is relative and checked; applyLayer checks again.
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, openSync, readSync, closeSync, type BigIntStats } from 'node:fs';
import { PassThrough } from 'node:stream';
import { posix } from 'node:path';
import { TarWriter, type WriterHeader } from '../archive/tar-writer.js';
import { readTar } from '../archive/tar-reader.js';
import { decompress, detectCompression } from '../archive/compression.js';
import { invalidArgument, notFound, errnoCode } from '../errors.js';
import { hasGlob, type SourceRoot, type SumCache } from './context.js';
import { resolveInRoot } from '../runtime/spec.js';
import { copyHash, sourceHash } from './source-hash.js';

export interface CopyInput {
  kind: 'COPY' | 'ADD';
  sources: string[];
  /** Absolute destination in the image, as written (a trailing "/" means a folder). */
  dest: string;
  src: SourceRoot;
  sums: SumCache;
  /** Root of a read-only view of the image being built on. */
  viewRoot: string;
  chown?: { uid: number; gid: number };
  chmod?: number;
  heredocs: Map<string, Buffer>;
}

interface Out {
  header: WriterHeader;
  file?: string;
  content?: Buffer;
}

export interface CopyPlan {
  /** sha256:<hex> over every entry's name, metadata and content checksum. */
  checksum: string;
  /**
   * The "file:<hex>" / "dir:<hex>" / "multi:<hex>" digest Docker writes into history
   * (source-hash.ts); computed on demand (a cache hit never needs it). Sources that
   * are not in the build context (heredocs, --from) hash their content instead.
   */
  historyHash(): Promise<string>;
  /** Number of files, folders and links the layer holds (parents included). */
  entries: number;
  tar(): AsyncIterable<Buffer>;
}

const isUrl = (s: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(s) || /^git@/.test(s);

function fail(kind: string, msg: string): never {
  throw notFound(`${kind} failed: ${msg}`, { op: 'build' });
}

/** True when the file starts like a tar archive or a compressed stream (ADD extracts those). */
function isArchive(abs: string): boolean {
  const fd = openSync(abs, 'r');
  try {
    const head = Buffer.alloc(512);
    const n = readSync(fd, head, 0, 512, 0);
    if (n >= 6 && detectCompression(head.subarray(0, n)) !== 'none') return true;
    return n >= 263 && head.toString('latin1', 257, 262) === 'ustar';
  } finally {
    closeSync(fd);
  }
}

const mtimeOf = (st: BigIntStats) => Number(st.mtimeMs) / 1000;

export async function planCopy(c: CopyInput): Promise<CopyPlan> {
  const out = new Map<string, Out>();
  const archives: Array<{ abs: string; destDir: string }> = [];
  const digest = createHash('sha256');
  const owner = { uid: c.chown?.uid ?? 0, gid: c.chown?.gid ?? 0 };

  // 1. The items the sources name.
  type Item = { kind: 'heredoc'; name: string; content: Buffer } | { kind: 'path'; name: string; rel: string; abs: string };
  const items: Item[] = [];
  for (const s of c.sources) {
    const hd = /^<<-?(["']?)([A-Za-z_][A-Za-z0-9_]*)\1$/.exec(s);
    if (hd) {
      const content = c.heredocs.get(hd[2]!);
      if (!content) throw invalidArgument(`${c.kind}: no heredoc named ${hd[2]}`);
      items.push({ kind: 'heredoc', name: hd[2]!, content });
      continue;
    }
    if (isUrl(s)) {
      if (c.kind === 'COPY') throw invalidArgument(`COPY failed: source can't be a URL for COPY: ${s}`);
      throw invalidArgument(`ADD failed: ${s}: downloading remote sources is not supported (stowage builds offline); download it into the build context and ADD it from there`, { op: 'build', name: s });
    }
    const rel = posix.normalize('/' + s).slice(1).replace(/\/+$/, '');
    if (hasGlob(rel)) {
      const found = c.src.glob(rel);
      if (found.length === 0) fail(c.kind, `no source files were specified (nothing in the build context matches ${s})`);
      for (const f of found) items.push({ kind: 'path', name: posix.basename(f), rel: f, abs: c.src.resolve(f) });
      continue;
    }
    if (c.src.isIgnored(rel)) fail(c.kind, `file not found in build context or excluded by .dockerignore: stat ${s}: file does not exist`);
    const abs = c.src.resolve(rel);
    try { lstatSync(abs); } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') fail(c.kind, `file not found in build context or excluded by .dockerignore: stat ${s}: file does not exist`);
      throw err;
    }
    items.push({ kind: 'path', name: posix.basename(rel) || '.', rel, abs });
  }

  // 2. Where they go.
  const destSlash = c.dest.endsWith('/') || c.dest.endsWith('/.') || c.dest === '.';
  const dest = posix.normalize(c.dest).replace(/\/+$/, '') || '/';
  if (items.length > 1 && !destSlash) {
    throw invalidArgument(`When using ${c.kind} with more than one source file, the destination must be a directory and end with a /`);
  }
  const destInImage = (() => { try { return lstatSync(resolveInRoot(c.viewRoot, dest)); } catch { return undefined; } })();
  const destIsDir = destSlash || items.length > 1 || !!destInImage?.isDirectory();
  const tarName = (abs: string) => abs.replace(/^\/+/, '');
  const put = (abs: string, o: Out) => {
    const name = tarName(abs);
    if (name === '') return; // the root folder itself is not an entry
    o.header.name = name;
    out.set(name, o);
  };
  const mode = (st: BigIntStats) => (c.chmod !== undefined ? c.chmod : Number(st.mode) & 0o7777);

  for (const it of items) {
    if (it.kind === 'heredoc') {
      const target = destIsDir ? posix.join(dest, it.name) : dest;
      put(target, { header: { name: '', type: 'file', mode: c.chmod ?? 0o644, ...owner, mtime: 0, size: it.content.length }, content: it.content });
      digest.update(`heredoc ${target} ${createHash('sha256').update(it.content).digest('hex')}\n`);
      continue;
    }
    const top = lstatSync(it.abs, { bigint: true });
    if (!top.isDirectory()) {
      if (c.kind === 'ADD' && top.isFile() && isArchive(it.abs)) {
        archives.push({ abs: it.abs, destDir: dest });
        digest.update(`archive ${dest} ${await c.sums.sum(it.abs, top)}\n`);
        continue;
      }
    }
    const entries = c.src.walk(it.abs, it.rel);
    const isDir = top.isDirectory();
    for (const e of entries) {
      const target = isDir ? (e.rel ? posix.join(dest, e.rel) : dest) : destIsDir ? posix.join(dest, it.name) : dest;
      const st = e.st;
      const base = { name: '', ...owner, mtime: mtimeOf(st) };
      let o: Out;
      if (st.isDirectory()) o = { header: { ...base, type: 'dir', mode: mode(st) } };
      else if (st.isSymbolicLink()) o = { header: { ...base, type: 'symlink', mode: 0o777, linkname: e.linkname! } };
      else if (st.isFIFO()) o = { header: { ...base, type: 'fifo', mode: mode(st) } };
      else o = { header: { ...base, type: 'file', mode: mode(st), size: Number(st.size) }, file: e.abs };
      put(target, o);
      const sum = o.file ? await c.sums.sum(e.abs, st) : '';
      digest.update(`${o.header.type} ${target} ${o.header.mode?.toString(8)} ${o.header.uid}:${o.header.gid} ${o.header.linkname ?? ''} ${sum}\n`);
    }
  }
  c.sums.flush();

  // 3. Parent folders: the image's own (kept as they are) or new ones (0755, mtime 0).
  // Docker gives both the time of the step; stowage keeps COPY layers reproducible
  // (the same sources give the same layer, stored once), a deliberate deviation
  // (docs/archive-fidelity.md).
  const parents = new Set<string>();
  const addParents = (p: string) => {
    for (let d = posix.dirname('/' + p); d !== '/' && d !== '.'; d = posix.dirname(d)) parents.add(d);
  };
  for (const name of out.keys()) addParents(name);
  for (const a of archives) { if (a.destDir !== '/') { parents.add(a.destDir); addParents(a.destDir.slice(1)); } }
  for (const p of parents) {
    if (out.has(tarName(p))) continue;
    let st;
    try { st = lstatSync(resolveInRoot(c.viewRoot, p)); } catch { st = undefined; }
    if (st?.isDirectory()) put(p, { header: { name: '', type: 'dir', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) } });
    else put(p, { header: { name: '', type: 'dir', mode: 0o755, ...owner, mtime: 0 } });
  }
  digest.update(`chown ${c.chown ? `${owner.uid}:${owner.gid}` : '-'} chmod ${c.chmod?.toString(8) ?? '-'}\n`);

  const sorted = [...out.values()].sort((a, b) => (a.header.name < b.header.name ? -1 : a.header.name > b.header.name ? 1 : 0));
  const historyHash = async (): Promise<string> => {
    const hashes: string[] = [];
    for (const it of items) {
      if (it.kind === 'heredoc') hashes.push('file:' + createHash('sha256').update(it.content).digest('hex'));
      else hashes.push(await sourceHash(it.abs, it.rel, (r) => c.src.isIgnored(r)));
    }
    return copyHash(hashes);
  };
  return {
    checksum: `sha256:${digest.digest('hex')}`,
    historyHash,
    entries: sorted.length,
    tar: () => tarStream(sorted, archives, c.chown),
  };
}

function tarStream(entries: Out[], archives: Array<{ abs: string; destDir: string }>, chown?: { uid: number; gid: number }): AsyncIterable<Buffer> {
  const pt = new PassThrough({ highWaterMark: 1 << 20 });
  void (async () => {
    const w = new TarWriter(pt);
    for (const e of entries) {
      if (e.file) await w.add(e.header, createReadStream(e.file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>);
      else await w.add(e.header, e.content);
    }
    for (const a of archives) {
      const prefix = a.destDir.replace(/^\/+/, '');
      for await (const { header: h, body } of readTar(decompress(createReadStream(a.abs) as AsyncIterable<Buffer>))) {
        const name = posix.normalize(h.name).replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '');
        if (name === '' || name === '.') { for await (const _ of body) { /* skip */ } continue; }
        if (name === '..' || name.startsWith('../') || posix.basename(name).startsWith('.wh.')) {
          throw invalidArgument(`ADD failed: ${a.abs}: refusing archive entry ${JSON.stringify(h.name)}`);
        }
        const hdr: WriterHeader = { ...h, name: prefix ? `${prefix}/${name}` : name };
        if (chown) { hdr.uid = chown.uid; hdr.gid = chown.gid; hdr.uname = ''; hdr.gname = ''; }
        if (h.type === 'hardlink') {
          const target = posix.normalize(h.linkname).replace(/^(\.\/|\/)+/, '');
          hdr.linkname = prefix ? `${prefix}/${target}` : target;
        }
        await w.add(hdr, h.type === 'file' ? body : undefined);
        if (h.type !== 'file') for await (const _ of body) { /* empty */ }
      }
    }
    await w.finish();
    pt.end();
  })().catch((err: unknown) => pt.destroy(err as Error));
  return pt;
}
