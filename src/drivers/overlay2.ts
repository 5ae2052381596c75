// overlay2.ts: layers as overlayfs directories, in Docker's overlay2 layout, so a
// data root reads like /var/lib/docker/overlay2:
//
//   <home>/<id>/diff      the layer's own files (overlay upperdir while it is writable)
//   <home>/<id>/work      overlay workdir (layers with a parent)
//   <home>/<id>/merged    a conventional mount point (layers with a parent)
//   <home>/<id>/link      the layer's short link name, e.g. "K3Q9"
//   <home>/<id>/lower     ancestors as "l/K3Q9:l/7ZTA:…", nearest first (absent for a base layer)
//   <home>/l/<link>       symlink -> ../<id>/diff
//
// Mounts are made from inside <home> (Mount.cwd) with the short l/ names, so that
// the option string of the deepest chain fits in the one page mount(2) copies:
//   500 lowers × len("l/XXXX:") = 3,500 bytes, + "lowerdir=" + upperdir/workdir with
//   64-hex ids (~160) + fixed options (~40) ≈ 3,710 < 4,095.
// Docker uses 26-character links and so stops at 128 lowers; 4 characters from
// [A-Z0-9] give 1.7 million names (collisions are retried) and reach the kernel's
// own stacking limit of 500 (OVL_MAX_STACK).
import {
  existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync,
  symlinkSync, unlinkSync, writeFileSync, lstatSync,
} from 'node:fs';
import { randomInt } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import type {
  ApplyTarget, ChangeSource, DriverStatus, Mount, StorageDriver, Usage,
} from './driver.js';
import { alreadyExists, errnoCode, failedPrecondition, notFound } from '../errors.js';
import { native, S_IFCHR } from '../util/sys.js';
import { mountAll, unmount } from './mount.js';
import { failpoint } from '../util/failpoint.js';
import {
  backingFs, bindMounts, checkId, diskUsage, removeTree, removeTreeSync, stagingName, writeFileAtomic,
  isStaleStaging, stagingTarget,
} from './fsutil.js';
import { ownerAlive, ownerToken } from '../store/owner.js';
import { release } from 'node:os';

const LINK_DIR = 'l';
const LINK_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const LINK_LENGTH = 4;
const LINK_RE = /^[A-Z0-9]{1,32}$/;   // ours (4) and Docker's (26)
/** The kernel's overlay stacking limit (OVL_MAX_STACK). */
const MAX_DEPTH = 500;
const PARAMS = '/sys/module/overlay/parameters';

export interface ProbeResult {
  /** overlay2 can work in this directory. */
  ok: boolean;
  /** Why not, or what was found when ok. One sentence. */
  reason: string;
  /** Docker's names: "extfs", "xfs", "btrfs", "tmpfs", "overlayfs" … */
  backingFs: string;
  /** Directory entries carry their type, so overlay can find whiteouts while listing. */
  supportsDType: boolean;
  /** Options every overlay mount gets (index=off, redirect_dir=off, metacopy=off, userxattr when needed). */
  options: string[];
  /** Overlay markers live in user.overlay.* (inside a user namespace) rather than trusted.overlay.*. */
  userxattr: boolean;
  /** The upper directory alone describes a layer's changes (no redirects, no metacopy). */
  nativeDiff: boolean;
}

/** Outside the initial user namespace overlay needs "userxattr" (Linux ≥ 5.11). */
function inUserNamespace(): boolean {
  try {
    const map = readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/);
    return !(map[0] === '0' && map[1] === '0' && map[2] === '4294967295');
  } catch {
    return false;
  }
}

/**
 * Options for every overlay mount, from the features the kernel module has:
 * - index=off: Docker's choice; with the index on, a lower layer mounted by two
 *   containers at once (or remounted with another upper) is refused (EBUSY).
 * - redirect_dir=off, metacopy=off: keep a renamed directory or a chmod'ed file as
 *   a real copy in the upper dir, so that the upper dir alone is the layer's diff
 *   (changeSource 'upper'). Docker leaves these at the kernel default and falls back
 *   to a slow "naive diff" when they are on; turning them off is cheaper: rename(2)
 *   of a lower directory then fails with EXDEV and mv(1) copies instead.
 * - userxattr: inside a user namespace, where trusted.* xattrs are not available.
 */
function featureOptions(userxattr: boolean): string[] {
  const opts: string[] = [];
  for (const p of ['index', 'redirect_dir', 'metacopy']) {
    if (existsSync(join(PARAMS, p))) opts.push(`${p}=off`);
  }
  if (userxattr) opts.push('userxattr');
  return opts;
}

function nearestExisting(path: string): string {
  let p = resolve(path);
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

function sortedNames(dir: string): string[] {
  return readdirSync(dir).sort();
}

/**
 * Mounts a tiny overlay in a temp dir under `home` (or its nearest existing
 * ancestor) and checks what overlay2 relies on: whiteouts (0/0 character devices)
 * and opaque directories in a lower layer hide lower content in a listing (which is
 * also the d_type check: without d_type overlay cannot spot whiteouts while listing
 * and they show up), copy-up leaves the lower file alone, and deleting a lower file
 * creates a whiteout.
 */
function probeOnce(base: string, fsName: string, userxattr: boolean, options: string[]): ProbeResult {
  const result = (ok: boolean, reason: string, extra: Partial<ProbeResult> = {}): ProbeResult => ({
    ok, reason, backingFs: fsName, supportsDType: true, options, userxattr, nativeDiff: ok, ...extra,
  });
  const sys = native();
  const opaque = userxattr ? 'user.overlay.opaque' : 'trusted.overlay.opaque';
  const redirect = userxattr ? 'user.overlay.redirect' : 'trusted.overlay.redirect';
  let tmp: string;
  try {
    // The owner token in the name lets a later cleanup() unmount and remove a probe whose process died.
    tmp = mkdtempSync(join(base, `.stowage-overlay-probe-${ownerToken().replace(':', '_')}-`));
  } catch (err) {
    return result(false, `cannot create a probe directory in ${base}: ${errnoCode(err) ?? String(err)}`);
  }
  const merged = join(tmp, 'merged');
  let mounted = false;
  try {
    for (const d of ['lower1', 'lower2', 'upper', 'work', 'merged', 'lower2/opq', 'lower1/opq']) mkdirSync(join(tmp, d));
    writeFileSync(join(tmp, 'lower2/a'), 'lower');
    writeFileSync(join(tmp, 'lower2/gone'), 'gone');
    writeFileSync(join(tmp, 'lower2/opq/hidden'), 'hidden');
    writeFileSync(join(tmp, 'lower1/opq/shown'), 'shown');
    try {
      sys.mknod(join(tmp, 'lower1/gone'), S_IFCHR | 0o000, 0, 0);
      sys.lsetxattr(join(tmp, 'lower1/opq'), opaque, Buffer.from('y'));
    } catch (err) {
      return result(false, `cannot make overlay whiteouts on ${fsName} (${errnoCode(err) ?? String(err)}): they are character devices and ${opaque} xattrs`);
    }
    const m: Mount = {
      type: 'overlay', source: 'overlay', cwd: tmp,
      options: [...options, 'lowerdir=lower1:lower2', 'upperdir=upper', 'workdir=work'],
    };
    try {
      mountAll([m], merged);
      mounted = true;
      failpoint('probe:mounted');
    } catch (err) {
      const code = errnoCode((err as { cause?: unknown }).cause) ?? errnoCode(err);
      const why = code === 'ENODEV' ? 'the kernel has no overlay filesystem'
        : code === 'EPERM' ? 'mounting needs CAP_SYS_ADMIN'
        : `an overlay mount on ${fsName} failed (${code ?? String(err)})`;
      return result(false, why);
    }
    const top = sortedNames(merged);
    if (top.includes('gone')) {
      return result(false, `backing filesystem ${fsName} does not support d_type, so whiteouts show through (on xfs, format with -n ftype=1)`, { supportsDType: false });
    }
    if (top.join(',') !== 'a,opq') return result(false, `overlay merged view is wrong on ${fsName}: ${top.join(',')}`);
    if (sortedNames(join(merged, 'opq')).join(',') !== 'shown') {
      return result(false, `opaque directories do not hide lower content on ${fsName}`);
    }
    writeFileSync(join(merged, 'a'), 'upper');
    if (readFileSync(join(tmp, 'lower2/a'), 'utf8') !== 'lower' || readFileSync(join(tmp, 'upper/a'), 'utf8') !== 'upper') {
      return result(false, `copy-up did not leave the lower file alone on ${fsName}`);
    }
    unlinkSync(join(merged, 'opq', 'shown'));
    const wh = lstatSync(join(tmp, 'upper/opq/shown'));
    if (!wh.isCharacterDevice() || wh.rdev !== 0) return result(false, `deleting a lower file made no whiteout on ${fsName}`);
    // With redirect_dir on, renaming a lower directory leaves a redirect xattr that
    // the upper dir alone cannot explain; with it off the rename fails with EXDEV.
    let nativeDiff = true;
    try {
      renameSync(join(merged, 'opq'), join(merged, 'moved'));
      nativeDiff = sys.lgetxattr(join(tmp, 'upper/moved'), redirect) === null;
    } catch {
      // EXDEV: what we want
    }
    return result(true, `overlay mounts work on ${fsName}`, { nativeDiff });
  } finally {
    if (mounted) unmount(merged);
    removeTreeSync(tmp);
  }
}

export class Overlay2Driver implements StorageDriver {
  readonly name: string = 'overlay2';
  /** A writable layer on 500 lowers: the kernel's stack limit plus the upper directory. */
  readonly maxDepth = MAX_DEPTH + 1;
  private probed: ProbeResult | undefined;
  private opts: string[] | undefined;

  /** `probed`: a probe already made for this home (selectDriver passes its own), else status() probes once. */
  constructor(readonly home: string, probed?: ProbeResult) {
    this.probed = probed;
  }

  static probe(home: string): ProbeResult {
    const fsName = backingFs(home);
    const userxattr = inUserNamespace();
    const none = (reason: string): ProbeResult => ({
      ok: false, reason, backingFs: fsName, supportsDType: true, options: [], userxattr, nativeDiff: false,
    });
    if (process.platform !== 'linux') return none('overlay2 needs Linux');
    if (process.getuid?.() !== 0) return none('overlay2 needs root: whiteouts are device nodes and layers are mounted');
    // A probe mounts a real overlay (about 15 ms, a fifth of a small command): its
    // result is kept in the driver folder for this boot, kernel and filesystem, and
    // probed again when any of them changes.
    const key = probeKey(fsName, userxattr);
    const cached = readProbeCache(home, key);
    if (cached) return cached;
    const base = nearestExisting(home);
    const hadParams = existsSync(PARAMS);
    let r = probeOnce(base, fsName, userxattr, featureOptions(userxattr));
    // The first overlay mount may have loaded the module: probe again with the
    // options its parameters now say it understands.
    if (r.ok && !hadParams && existsSync(PARAMS)) r = probeOnce(base, fsName, userxattr, featureOptions(userxattr));
    writeProbeCache(home, key, r);
    return r;
  }

  /** The probe for this home, made on first use. */
  probe(): ProbeResult {
    if (!this.probed) this.probed = Overlay2Driver.probe(this.home);
    return this.probed;
  }

  private mountOptions(): string[] {
    if (this.probed) return this.probed.options;
    if (!this.opts) this.opts = featureOptions(inUserNamespace());
    return this.opts;
  }

  status(): DriverStatus {
    const p = this.probe();
    return {
      details: [
        ['Backing Filesystem', p.backingFs],
        ['Supports d_type', String(p.supportsDType)],
        ['Using metacopy', 'false'],
        ['Native Overlay Diff', String(p.nativeDiff)],
        ['userxattr', String(p.userxattr)],
      ],
    };
  }

  private dir(id: string): string {
    checkId(id, [LINK_DIR]);
    return join(this.home, id);
  }

  /** A mount point inside the layer's directory, for callers that have none of their own. */
  mergedDir(id: string): string {
    return join(this.dir(id), 'merged');
  }

  private existing(id: string): string {
    const dir = this.dir(id);
    if (!existsSync(dir)) throw notFound(`layer ${id} not found in ${this.home}`, { name: id });
    return dir;
  }

  private readLink(id: string): string {
    const link = readFileSync(join(this.dir(id), 'link'), 'utf8').trim();
    if (!LINK_RE.test(link)) throw failedPrecondition(`layer ${id} has a corrupt link file`, { name: id });
    return link;
  }

  /** Ancestors' l/ names, nearest first; [] for a base layer. */
  private readLower(id: string): string[] {
    try {
      return readFileSync(join(this.dir(id), 'lower'), 'utf8').trim().split(':').filter((s) => s !== '');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
  }

  /** Makes l/<new name> -> ../<id>/diff, retrying on the rare collision. */
  private newLink(id: string): string {
    for (let attempt = 0; attempt < 100; attempt++) {
      let name = '';
      for (let i = 0; i < LINK_LENGTH; i++) name += LINK_CHARS[randomInt(LINK_CHARS.length)];
      try {
        symlinkSync(join('..', id, 'diff'), join(this.home, LINK_DIR, name));
        return name;
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw err;
      }
    }
    throw failedPrecondition(`no free link name in ${join(this.home, LINK_DIR)} after 100 tries`);
  }

  async create(id: string, parent: string | null): Promise<void> {
    const dir = this.dir(id);
    if (existsSync(dir)) throw alreadyExists(`layer ${id} already exists`, { name: id });
    let lower: string[] = [];
    if (parent !== null) {
      const pdir = this.dir(parent);
      if (!existsSync(pdir)) throw notFound(`parent layer ${parent} not found`, { name: parent });
      lower = [`${LINK_DIR}/${this.readLink(parent)}`, ...this.readLower(parent)];
      // Mounted read-write, this layer is the upper directory on its ancestors as
      // lowerdirs; the kernel stacks at most 500 of those (OVL_MAX_STACK).
      if (lower.length > MAX_DEPTH) {
        throw failedPrecondition(`max depth exceeded: layer ${id} would be ${lower.length + 1} layers deep; overlay stacks at most ${MAX_DEPTH} lower layers under one upper`, { name: id });
      }
    }
    mkdirSync(join(this.home, LINK_DIR), { recursive: true, mode: 0o700 });
    // Build under a hidden name and rename into place: a crash leaves either no
    // layer or a whole one (cleanup() sweeps the leftovers).
    const stage = stagingName(dir, 'tmp');
    let link: string | undefined;
    try {
      mkdirSync(stage, { mode: 0o710 });
      mkdirSync(join(stage, 'diff'), { mode: 0o755 });
      if (parent !== null) {
        mkdirSync(join(stage, 'work'), { mode: 0o700 });
        mkdirSync(join(stage, 'merged'), { mode: 0o700 });
        writeFileSync(join(stage, 'lower'), lower.join(':'), { mode: 0o644 });
      }
      link = this.newLink(id);
      writeFileSync(join(stage, 'link'), link, { mode: 0o644 });
      renameSync(stage, dir);
    } catch (err) {
      if (link !== undefined) rmSync(join(this.home, LINK_DIR, link), { force: true });
      rmSync(stage, { recursive: true, force: true });
      const code = errnoCode(err);
      if (code === 'ENOTEMPTY' || code === 'EEXIST') throw alreadyExists(`layer ${id} already exists`, { name: id, cause: err });
      throw err;
    }
  }

  applyTarget(id: string): ApplyTarget {
    return { root: join(this.existing(id), 'diff'), whiteouts: 'overlay' };
  }

  mounts(id: string, opts: { readonly?: boolean } = {}): Mount[] {
    const dir = this.existing(id);
    const lower = this.readLower(id);
    if (lower.length === 0) {
      // A base layer alone: its diff dir is the whole filesystem.
      return bindMounts(join(dir, 'diff'), opts.readonly);
    }
    if (opts.readonly) {
      const all = [`${LINK_DIR}/${this.readLink(id)}`, ...lower];
      if (all.length > MAX_DEPTH) {
        throw failedPrecondition(`a read-only view of layer ${id} would stack ${all.length} lower layers; overlay stacks at most ${MAX_DEPTH}`, { name: id });
      }
      return [{ type: 'overlay', source: 'overlay', cwd: this.home, options: [...this.mountOptions(), `lowerdir=${all.join(':')}`, 'ro'] }];
    }
    return [{
      type: 'overlay', source: 'overlay', cwd: this.home,
      options: [...this.mountOptions(), `lowerdir=${lower.join(':')}`, `upperdir=${id}/diff`, `workdir=${id}/work`],
    }];
  }

  changeSource(id: string): ChangeSource {
    const dir = this.existing(id);
    const linkDir = join(this.home, LINK_DIR);
    const lower = this.readLower(id).map((l) => resolve(linkDir, readlinkSync(join(this.home, l))));
    return { kind: 'upper', dir: join(dir, 'diff'), lower };
  }

  async remove(id: string): Promise<void> {
    const dir = this.dir(id);
    if (!existsSync(dir)) return;
    unmount(join(dir, 'merged'));
    let link: string | undefined;
    try {
      link = this.readLink(id);
    } catch {
      link = undefined; // no or corrupt link file: cleanup() sweeps dangling links
    }
    if (link !== undefined) rmSync(join(this.home, LINK_DIR, link), { force: true });
    await removeTree(dir);
  }

  async usage(id: string): Promise<Usage> {
    return diskUsage(this.existing(id));
  }

  list(): string[] {
    let entries;
    try {
      entries = readdirSync(this.home, { withFileTypes: true });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
    return entries.filter((e) => e.isDirectory() && e.name !== LINK_DIR && !e.name.startsWith('.')).map((e) => e.name).sort();
  }

  /**
   * Beyond the interface: sweeps what a crash can leave: staging and half-removed
   * directories of dead processes (their names carry the owner token), links whose
   * layer is gone, and overlay probes of dead processes (unmounted first). Safe while
   * other processes work: a live process's staging is kept, and so is the link it made
   * for a layer it is still staging. Recovery calls it after a crash. Returns what it removed.
   */
  cleanup(): string[] {
    const removed: string[] = [];
    const linkDir = join(this.home, LINK_DIR);
    // Links first, staging names second: a create makes its staging directory before
    // its link, so a link read here has its staging dir (or final dir) visible below.
    const links = existsSync(linkDir) ? readdirSync(linkDir) : [];
    let names: string[];
    try {
      names = readdirSync(this.home);
    } catch {
      return removed;
    }
    const staging = new Set<string>();
    for (const n of names) {
      if (isStaleStaging(n)) {
        removeTreeSync(join(this.home, n));
        removed.push(n);
      } else if (n.startsWith('.tmp-')) {
        const target = stagingTarget(n);
        if (target) staging.add(target);
      }
    }
    for (const n of links) {
      const p = join(linkDir, n);
      let target: string;
      try { target = readlinkSync(p); } catch { continue; }
      const id = target.split('/')[1] ?? '';
      if (staging.has(id) || existsSync(p)) continue;
      rmSync(p, { force: true });
      removed.push(join(LINK_DIR, n));
    }
    // A probe runs in the driver folder, or in the data root before that folder exists.
    removed.push(...sweepProbes(this.home), ...sweepProbes(dirname(this.home)));
    return removed;
  }
}

/** Overlay probe directories (".stowage-overlay-probe-PID_START-…") of dead processes in dir: unmounted, then removed. */
function sweepProbes(dir: string): string[] {
  const out: string[] = [];
  let names: string[];
  try { names = readdirSync(dir); } catch { return out; }
  for (const n of names) {
    const m = /^\.stowage-overlay-probe-(?:(\d+)_(\d+)-)?/.exec(n);
    if (!m || (m[1] !== undefined && ownerAlive(`${m[1]}:${m[2]}`))) continue;
    removeTreeSync(join(dir, n));
    out.push(join(dir, n));
  }
  return out;
}


const PROBE_CACHE = '.probe.json';

function probeKey(fsName: string, userxattr: boolean): string {
  let boot = '';
  try { boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(); } catch { /* no boot id: key on the rest */ }
  return JSON.stringify([boot, release(), fsName, userxattr]);
}

function readProbeCache(home: string, key: string): ProbeResult | undefined {
  try {
    const c = JSON.parse(readFileSync(join(home, PROBE_CACHE), 'utf8')) as { key: string; result: ProbeResult };
    return c.key === key ? c.result : undefined;
  } catch {
    return undefined;
  }
}

function writeProbeCache(home: string, key: string, r: ProbeResult): void {
  try {
    mkdirSync(home, { recursive: true, mode: 0o700 }); // an empty driver folder holds no layers: selection is unchanged
    writeFileAtomic(join(home, PROBE_CACHE), JSON.stringify({ key, result: r }));
  } catch { /* a cache only */ }
}
