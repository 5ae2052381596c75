// context.ts: the build context: a folder read in place (nothing is sent or copied,
// unlike Docker's client, which tars and re-sends the whole context every build),
// .dockerignore, and file checksums kept between builds.
//
// Checksums are kept in build_file_sums keyed by path, size, mtime (ns) and inode: a
// rebuild stats every file a COPY names but reads and hashes only files whose stat
// changed. Docker's classic builder re-hashes the whole context on every build.
//
// Containment: every path a COPY or ADD names is resolved inside the context root
// (symlinks are followed as if the root were "/", never out of it); symlinks found
// while walking a directory are copied as symlinks, never followed.
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, readdirSync, readFileSync, readlinkSync, type BigIntStats } from 'node:fs';
import { posix } from 'node:path';
import type { DB } from '../store/db.js';
import type { Statement } from 'better-sqlite3';
import { resolveInRoot } from '../runtime/spec.js';
import { errnoCode } from '../errors.js';

// ---------------------------------------------------------------------------
// .dockerignore

interface IgnorePattern { re: RegExp; exclusion: boolean; depth: number }

/** Go filepath.Match syntax plus `**` (any number of directories), as a regular expression. */
function patternRegex(p: string): RegExp {
  let re = '^';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*') {
      if (p[i + 1] === '*') {
        i++;
        if (p[i + 1] === '/') { i++; re += '(?:.*/)?'; } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = p.indexOf(']', i + 1);
      if (end < 0) { re += '\\['; continue; }
      let cls = p.slice(i + 1, end);
      if (cls.startsWith('^')) cls = '!' + cls.slice(1);
      re += '[' + (cls.startsWith('!') ? '^' + cls.slice(1) : cls).replace(/\\/g, '\\\\') + ']';
      i = end;
    } else if (c === '\\' && i + 1 < p.length) { re += '\\' + p[++i]; }
    else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(re + '$');
}

export function hasGlob(p: string): boolean {
  return /[*?[]/.test(p);
}

/** Matches one path against a glob (Go's filepath.Match; `*` does not cross "/"). */
export function globMatch(pattern: string, path: string): boolean {
  return patternRegex(pattern).test(path);
}

export class IgnoreMatcher {
  private readonly patterns: IgnorePattern[] = [];
  readonly hasExclusions: boolean;

  constructor(text: string) {
    for (let line of text.split(/\r?\n/)) {
      line = line.trim();
      if (line === '' || line.startsWith('#')) continue;
      let exclusion = false;
      if (line.startsWith('!')) { exclusion = true; line = line.slice(1).trim(); }
      let p = posix.normalize(line).replace(/^\/+/, '').replace(/\/+$/, '');
      if (p === '' || p === '.') continue;
      if (p.startsWith('../')) p = p.replace(/^(\.\.\/)+/, '');
      this.patterns.push({ re: patternRegex(p), exclusion, depth: p.split('/').length });
    }
    this.hasExclusions = this.patterns.some((p) => p.exclusion);
  }

  get empty(): boolean { return this.patterns.length === 0; }

  /** True when rel (relative to the context, "/"-separated) is excluded. A pattern also matches the path's parents. */
  ignores(rel: string): boolean {
    if (this.patterns.length === 0) return false;
    const parts = rel.split('/');
    let matched = false;
    for (const p of this.patterns) {
      if (p.exclusion && !matched) continue;
      let m = p.re.test(rel);
      if (!m && parts.length > p.depth) m = p.re.test(parts.slice(0, p.depth).join('/'));
      if (m) matched = !p.exclusion;
    }
    return matched;
  }
}

// ---------------------------------------------------------------------------
// File checksums

export class SumCache {
  private readonly get: Statement<[string]>;
  private readonly put: Statement<[string, number, string, number, string]>;
  private pending: Array<[string, number, string, number, string]> = [];
  /** Files hashed (read) in this build, and files whose stored checksum was reused. */
  hashed = 0;
  reused = 0;

  /** persist false: hash every file and remember nothing (sources from another stage's mount). */
  constructor(private readonly db: DB, private readonly persist = true) {
    this.get = db.prepare('SELECT size, mtime_ns, ino, sum FROM build_file_sums WHERE path = ?');
    this.put = db.prepare('INSERT OR REPLACE INTO build_file_sums (path, size, mtime_ns, ino, sum) VALUES (?, ?, ?, ?, ?)');
  }

  /** sha256:<hex> of a regular file whose lstat is st. */
  async sum(abs: string, st: BigIntStats): Promise<string> {
    const row = !this.persist ? undefined : this.get.get(abs) as { size: number; mtime_ns: string; ino: number; sum: string } | undefined;
    const mtime = st.mtimeNs.toString();
    if (row && row.size === Number(st.size) && row.mtime_ns === mtime && row.ino === Number(st.ino)) {
      this.reused++;
      return row.sum;
    }
    const h = createHash('sha256');
    if (st.size < 1n << 20n) h.update(readFileSync(abs));
    else for await (const c of createReadStream(abs, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
    const sum = `sha256:${h.digest('hex')}`;
    this.hashed++;
    if (this.persist) this.pending.push([abs, Number(st.size), mtime, Number(st.ino), sum]);
    if (this.pending.length >= 2000) this.flush();
    return sum;
  }

  /** Writes the checksums computed since the last flush, in one transaction. */
  flush(): void {
    if (this.pending.length === 0) return;
    const rows = this.pending;
    this.pending = [];
    this.db.transaction(() => { for (const r of rows) this.put.run(r[0], r[1], r[2], r[3], r[4]); }).immediate();
  }
}

// ---------------------------------------------------------------------------
// Walking a source

export interface SourceEntry {
  /** Path relative to the source item ("" for the item itself). */
  rel: string;
  abs: string;
  st: BigIntStats;
  linkname?: string;
}

/**
 * A source root (the context, or another stage's filesystem) with symlink-contained
 * resolution and an optional ignore list.
 */
export class SourceRoot {
  constructor(readonly root: string, readonly ignore: IgnoreMatcher | null) {}

  /** Host path of a context-relative path, resolved inside the root. */
  resolve(rel: string): string {
    return resolveInRoot(this.root, rel);
  }

  relOf(abs: string): string {
    return posix.relative(this.root, abs);
  }

  isIgnored(rel: string): boolean {
    return !!this.ignore && rel !== '' && this.ignore.ignores(rel);
  }

  /** Every context-relative path under the root that matches a glob, sorted. */
  glob(pattern: string): string[] {
    const out: string[] = [];
    const depth = pattern.split('/').length;
    const walk = (dir: string, rel: string, level: number): void => {
      let names: string[];
      try { names = readdirSync(dir).sort(); } catch { return; }
      for (const n of names) {
        const r = rel ? `${rel}/${n}` : n;
        if (this.isIgnored(r)) continue;
        if (globMatch(pattern, r)) out.push(r);
        if (level < depth) {
          try { if (lstatSync(`${dir}/${n}`).isDirectory()) walk(`${dir}/${n}`, r, level + 1); } catch { /* gone */ }
        }
      }
    };
    walk(this.root, '', 1);
    return out;
  }

  /**
   * The item at host path abs (already resolved) and, for a directory, everything
   * below it (lstat: symlinks are entries, not followed), in sorted order, without
   * ignored paths. itemRel is the item's context-relative path, for the ignore list.
   */
  walk(abs: string, itemRel: string): SourceEntry[] {
    const out: SourceEntry[] = [];
    const st = lstatSync(abs, { bigint: true });
    out.push(entry('', abs, st));
    if (!st.isDirectory()) return out;
    const rec = (dir: string, rel: string): void => {
      for (const n of readdirSync(dir).sort()) {
        const r = rel ? `${rel}/${n}` : n;
        const ctxRel = itemRel ? `${itemRel}/${r}` : r;
        if (this.isIgnored(ctxRel)) {
          // An excluded folder may still hold re-included paths (!pattern): look inside.
          if (!this.ignore!.hasExclusions) continue;
        }
        const p = `${dir}/${n}`;
        let s: BigIntStats;
        try { s = lstatSync(p, { bigint: true }); } catch (err) { if (errnoCode(err) === 'ENOENT') continue; throw err; }
        const ignored = this.isIgnored(ctxRel);
        if (!ignored && !s.isSocket() && !s.isBlockDevice() && !s.isCharacterDevice()) out.push(entry(r, p, s));
        if (s.isDirectory()) rec(p, r);
      }
    };
    rec(abs, '');
    return out;
  }
}

function entry(rel: string, abs: string, st: BigIntStats): SourceEntry {
  const e: SourceEntry = { rel, abs, st };
  if (st.isSymbolicLink()) e.linkname = readlinkSync(abs);
  return e;
}
