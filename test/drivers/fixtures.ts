// fixtures.ts: builds layer content for the driver tests from a small spec, and
// reaches the archive module (written concurrently) when it is there.
//
// A layer is applied the way the layer store applies one: a tar made from the spec
// with archive/tar-writer.ts, extracted by archive/apply.ts into applyTarget.
import { existsSync, mkdirSync, writeFileSync, symlinkSync, linkSync, rmSync, chmodSync, lchownSync, readdirSync, lstatSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PassThrough } from 'node:stream';
import { native, S_IFCHR } from '../../src/util/sys.js';
import type { ChangeSource, StorageDriver, WhiteoutForm } from '../../src/drivers/driver.js';

export type Entry =
  | { path: string; type: 'file'; content?: string | Buffer; mode?: number; uid?: number; gid?: number; xattrs?: Record<string, string> }
  | { path: string; type: 'dir'; mode?: number; uid?: number; gid?: number; xattrs?: Record<string, string> }
  | { path: string; type: 'symlink'; target: string }
  | { path: string; type: 'hardlink'; target: string }
  /** Deletes path (file or directory) from the layers below. */
  | { path: string; type: 'whiteout' }
  /** path is a directory whose lower content is hidden. */
  | { path: string; type: 'opaque' };

// ---- the archive module, when present -------------------------------------------------

export interface Change { kind: 'A' | 'C' | 'D'; path: string }
interface ApplyMod { applyLayer(src: AsyncIterable<Buffer>, root: string, opts: { whiteouts: WhiteoutForm }): Promise<unknown> }
interface ChangesMod {
  changes(src: ChangeSource): Promise<Change[]>;
  exportChanges(src: ChangeSource): AsyncIterable<Buffer>;
}
interface TarHeaderLite { name: string; type: string; [k: string]: unknown }
interface ReaderMod { readTar(src: AsyncIterable<Buffer>): AsyncGenerator<{ header: TarHeaderLite; body: AsyncIterable<Buffer> }> }
interface WriterMod {
  TarWriter: new (out: NodeJS.WritableStream) => {
    add(h: Record<string, unknown> & { name: string; type: string }, body?: Buffer): Promise<void>;
    finish(): Promise<void>;
  };
}

/** Imports ../../src/archive/<file> if it has been written (a broken module still throws). */
async function archiveModule<T>(file: string): Promise<T | undefined> {
  const url = new URL(`../../src/archive/${file}`, import.meta.url);
  if (!existsSync(fileURLToPath(url))) return undefined;
  return (await import(url.href)) as T;
}

export const archive = {
  apply: () => archiveModule<ApplyMod>('apply.js'),
  changes: () => archiveModule<ChangesMod>('changes.js'),
  reader: () => archiveModule<ReaderMod>('tar-reader.js'),
  writer: () => archiveModule<WriterMod>('tar-writer.js'),
};

// ---- building a tar -------------------------------------------------------------------

function parentDirs(path: string): string[] {
  const out: string[] = [];
  for (let d = dirname(path); d !== '.' && d !== '/'; d = dirname(d)) out.unshift(d);
  return out;
}

/** OCI names for the spec's deletions. */
function tarName(e: Entry): string {
  if (e.type === 'whiteout') return join(dirname(e.path), `.wh.${e.path.split('/').pop()}`).replace(/^\.\//, '');
  if (e.type === 'opaque') return join(e.path, '.wh..wh..opq');
  return e.path;
}

async function tarWithWriter(w: WriterMod, entries: Entry[]): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const tw = new w.TarWriter(out);
  const made = new Set<string>();
  const now = Math.floor(Date.now() / 1000);
  const dirEntry = async (name: string, mode = 0o755, extra: Record<string, unknown> = {}) => {
    made.add(name);
    await tw.add({ name: name + '/', type: 'dir', mode, uid: 0, gid: 0, mtime: now, ...extra });
  };
  for (const e of entries) {
    for (const d of parentDirs(e.path)) if (!made.has(d)) await dirEntry(d);
    const xattrs = 'xattrs' in e && e.xattrs ? Object.fromEntries(Object.entries(e.xattrs).map(([k, v]) => [k, Buffer.from(v)])) : {};
    switch (e.type) {
      case 'dir':
        await dirEntry(e.path, e.mode ?? 0o755, { uid: e.uid ?? 0, gid: e.gid ?? 0, xattrs });
        break;
      case 'opaque':
        if (!made.has(e.path)) await dirEntry(e.path);
        await tw.add({ name: tarName(e), type: 'file', mode: 0o644, size: 0, mtime: now }, Buffer.alloc(0));
        break;
      case 'whiteout':
        await tw.add({ name: tarName(e), type: 'file', mode: 0o644, size: 0, mtime: now }, Buffer.alloc(0));
        break;
      case 'file': {
        const body = Buffer.from(e.content ?? '');
        await tw.add({ name: e.path, type: 'file', mode: e.mode ?? 0o644, uid: e.uid ?? 0, gid: e.gid ?? 0, size: body.length, mtime: now, xattrs }, body);
        break;
      }
      case 'symlink':
        await tw.add({ name: e.path, type: 'symlink', linkname: e.target, mode: 0o777, mtime: now });
        break;
      case 'hardlink':
        await tw.add({ name: e.path, type: 'hardlink', linkname: e.target, mode: 0o644, mtime: now });
        break;
    }
  }
  await tw.finish();
  out.end();
  return Buffer.concat(chunks);
}

export async function makeTar(entries: Entry[]): Promise<Buffer> {
  const w = await archive.writer();
  if (!w) throw new Error('src/archive/tar-writer.ts is missing');
  return tarWithWriter(w, entries);
}

// ---- writing a spec straight into a directory -------------------------------------------

/** Writes entries into root, with deletions in the given whiteout form. */
export function writeEntries(root: string, entries: Entry[], form: WhiteoutForm): void {
  const sys = native();
  const setMeta = (p: string, e: { mode?: number; uid?: number; gid?: number; xattrs?: Record<string, string> }, defMode: number) => {
    lchownSync(p, e.uid ?? 0, e.gid ?? 0);
    chmodSync(p, e.mode ?? defMode); // after chown, which clears setuid bits
    for (const [k, v] of Object.entries(e.xattrs ?? {})) sys.lsetxattr(p, k, Buffer.from(v));
  };
  for (const e of entries) {
    const p = join(root, e.path);
    mkdirSync(dirname(p), { recursive: true });
    switch (e.type) {
      case 'dir':
        mkdirSync(p, { recursive: true });
        setMeta(p, e, 0o755);
        break;
      case 'file':
        rmSync(p, { force: true });
        writeFileSync(p, e.content ?? '');
        setMeta(p, e, 0o644);
        break;
      case 'symlink':
        rmSync(p, { force: true });
        symlinkSync(e.target, p);
        break;
      case 'hardlink':
        rmSync(p, { force: true });
        linkSync(join(root, e.target), p);
        break;
      case 'whiteout':
        rmSync(p, { recursive: true, force: true });
        if (form === 'overlay') sys.mknod(p, S_IFCHR, 0, 0);
        break;
      case 'opaque':
        if (form === 'overlay') {
          mkdirSync(p, { recursive: true });
          sys.lsetxattr(p, 'trusted.overlay.opaque', Buffer.from('y'));
        } else {
          rmSync(p, { recursive: true, force: true });
          mkdirSync(p, { recursive: true });
        }
        break;
    }
  }
}

/** Applies a layer spec to a created layer, through the archive module (as the layer store does). */
export async function applySpec(driver: StorageDriver, id: string, entries: Entry[]): Promise<void> {
  const target = driver.applyTarget(id);
  const mod = await archive.apply();
  if (!mod) throw new Error('src/archive/apply.ts is missing');
  const tar = await makeTar(entries);
  async function* once() { yield tar; }
  await mod.applyLayer(once(), target.root, { whiteouts: target.whiteouts });
}

// ---- a tree dump for failure messages ----------------------------------------------------

function modeString(m: number): string {
  const t = (m & 0o170000) === 0o040000 ? 'd' : (m & 0o170000) === 0o120000 ? 'l' : (m & 0o170000) === 0o020000 ? 'c'
    : (m & 0o170000) === 0o060000 ? 'b' : (m & 0o170000) === 0o010000 ? 'p' : '-';
  const r = 'rwxrwxrwx';
  let s = t;
  for (let i = 0; i < 9; i++) s += m & (1 << (8 - i)) ? r[i] : '-';
  if (m & 0o4000) s = s.slice(0, 3) + (m & 0o100 ? 's' : 'S') + s.slice(4);
  if (m & 0o2000) s = s.slice(0, 6) + (m & 0o010 ? 's' : 'S') + s.slice(7);
  if (m & 0o1000) s = s.slice(0, 9) + (m & 0o001 ? 't' : 'T');
  return s;
}

/** `ls -laR`-like listing of dir (not crossing mounts), with devices and xattrs, capped at `max` lines. */
export function dumpTree(dir: string, max = 400): string {
  const lines: string[] = [];
  let top: number | undefined;
  const sys = native();
  const walk = (p: string, rel: string) => {
    if (lines.length >= max) return;
    let st;
    try {
      st = lstatSync(p);
    } catch (err) {
      lines.push(`? ${rel} (${(err as Error).message})`);
      return;
    }
    top ??= st.dev;
    let extra = '';
    if (st.isSymbolicLink()) extra = ` -> ${readlinkSync(p)}`;
    if (st.isCharacterDevice() || st.isBlockDevice()) extra = ` [${st.rdev >> 8},${st.rdev & 0xff}]`;
    let xs: string[] = [];
    try {
      xs = sys.llistxattr(p).map((k) => `${k}=${JSON.stringify(sys.lgetxattr(p, k)?.toString('latin1'))}`);
    } catch { /* none */ }
    lines.push(`${modeString(st.mode)} ${st.nlink} ${st.uid}:${st.gid} ${String(st.size).padStart(7)} i${st.ino} ${rel}${extra}${xs.length ? '  {' + xs.join(' ') + '}' : ''}`);
    if (st.isDirectory() && st.dev === top) {
      for (const n of readdirSync(p).sort()) walk(join(p, n), rel === '.' ? n : `${rel}/${n}`);
    }
  };
  walk(dir, '.');
  if (lines.length >= max) lines.push(`… (cut at ${max} lines)`);
  return lines.join('\n');
}
