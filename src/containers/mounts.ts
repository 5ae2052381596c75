// mounts.ts: a container's volumes, bind mounts and tmpfs mounts, from its flags to
// the OCI mounts its runtime gets.
//   create: parse -v/--mount/--tmpfs/--volumes-from and the image's VOLUMEs, create
//           missing volumes (anonymous ones get a random name), record the specs and
//           the container's use of each volume (so `volume rm` refuses a used one);
//   start:  acquire each volume (mounting it when its options need that), copy the
//           image's files into an empty volume the first time (unless nocopy), create
//           missing -v bind sources, and hand the runtime bind/tmpfs mounts;
//   stop:   release each volume (the last user unmounts it);
//   rm -v / --rm: anonymous volumes go with the container; named ones stay.
import { existsSync, mkdirSync, readdirSync, writeFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, resolve as resolvePath } from 'node:path';
import type { Engine } from '../engine.js';
import type { ContainerRecord } from './types.js';
import type { MountSpec } from '../mounts/spec.js';
import { parseContainerMounts, parseVolumesFrom, parseVolumeFlag, hostConfigMount, sortForMounting } from '../mounts/index.js';
import type { ChangeSource } from '../drivers/driver.js';
import { lookup } from './init-layer.js';
import { errnoPhrase } from '../errno.js';
import { volumeService, checkDriver, isLocalDriver } from '../volumes/service.js';
import { resolveInRoot } from '../runtime/spec.js';
import { ownerToken } from '../store/owner.js';
import { failedPrecondition, invalidArgument } from '../errors.js';

export interface MountFlagsInput {
  volumes?: string[];
  mounts?: string[];
  tmpfs?: string[];
  volumeDriver?: string;
  volumesFrom?: string[];
}

type OciMount = { destination: string; type: string; source: string; options: string[] };

/** The mount-related parts of a container's record, as Docker reports them in inspect. */
export interface MountPlan {
  specs: MountSpec[];
  /** Anonymous volumes this create made (removed again when the create fails). */
  createdAnonymous: string[];
  /** HostConfig.Binds: -v values with a source (named volumes and binds), a ./ host part made absolute; null when none. */
  binds: string[] | null;
  /** HostConfig.Mounts: the API Mount of each --mount, as the CLI sends it. */
  hostMounts: Record<string, unknown>[];
  /** HostConfig.Tmpfs: --tmpfs PATH → options, keyed by the path as written. */
  tmpfs: Record<string, string>;
  /** -v values without a source (anonymous volumes), for Config.Volumes, as written. */
  anonymousPaths: string[];
  /** Docker's `Mounts` entries. */
  inspect: Record<string, unknown>[];
}

/** The image a container is made from: its top layer's files (for checks) and the name the user gave. */
export interface ImageView { source: ChangeSource | null; ref: string }

/**
 * Parses a container's mount flags (with the image's VOLUMEs), checks them against
 * the image and the data root as Docker's daemon does, and makes the volumes they name.
 */
export async function planMounts(engine: Engine, flags: MountFlagsInput, imageVolumes: string[], image: ImageView = { source: null, ref: '' }): Promise<MountPlan> {
  const cwd = process.cwd();
  const volumeDriver = flags.volumeDriver ?? '';
  const specs = parseContainerMounts({
    volumes: flags.volumes ?? [], mounts: flags.mounts ?? [], tmpfs: flags.tmpfs ?? [],
    ...(volumeDriver ? { volumeDriver } : {}),
    imageVolumes, cwd,
  });
  // HostConfig as Docker keeps it: -v values go to Binds (with a source) or Config.Volumes (without).
  const binds: string[] = [];
  const anonymousPaths: string[] = [];
  for (const v of new Set(flags.volumes ?? [])) {
    const parsed = parseVolumeFlag(v, { volumeDriver, cwd });
    if (parsed.source === '') { anonymousPaths.push(v); continue; }
    const i = v.indexOf(':');
    const host = v.slice(0, i);
    binds.push(parsed.type === 'bind' && !host.startsWith('/') && host.startsWith('.') ? `${resolvePath(cwd, host)}${v.slice(i)}` : v);
  }
  const hostMounts = (flags.mounts ?? []).map((v) => hostConfigMount(v, { cwd }));
  const tmpfs: Record<string, string> = {};
  for (const t of flags.tmpfs ?? []) { const i = t.indexOf(':'); tmpfs[i < 0 ? t : t.slice(0, i)] = i < 0 ? '' : t.slice(i + 1); }

  for (const vf of flags.volumesFrom ?? []) {
    const { container, mode } = parseVolumesFrom(vf);
    const other = engine.containers.resolve(container);
    const words = mode.split(',');
    for (const m of other.MountSpecs ?? []) {
      if (m.origin === 'tmpfs-flag') continue; // --tmpfs lives in HostConfig.Tmpfs, which --volumes-from does not copy
      if (specs.some((s) => s.target === m.target)) continue; // explicit mounts win, as in Docker
      // Docker: writable only when the source mount is and the mode is rw; propagation is kept, the mode words are not.
      const { mode: _mode, ...copy } = m;
      specs.push({ ...copy, readOnly: m.readOnly || words.includes('ro'), origin: 'volumes-from', spec: `--volumes-from ${vf}` });
    }
  }
  // Deliberate deviation (docs/volumes.md): --volume-driver also applies to --mount
  // volumes that name no driver. Docker 20.10 applies it to -v only and silently makes a
  // local volume for `--volume-driver rexray/ebs --mount src=…` (the seed's example): the
  // data would land on the host's disk instead of the storage the user asked for.
  const spelled = (s: MountSpec) => /(^|,)"?volume-driver=/i.test(s.spec);
  if (volumeDriver) for (const s of specs) if (s.type === 'volume' && s.origin === 'mount-flag' && !spelled(s) && s.volume) s.volume.driver = volumeDriver;
  checkDataRootBinds(engine.layout.root, specs);
  checkVolumeTargets(specs, image);

  const volumes = volumeService(engine);
  // Every driver is found before any volume is made: a missing plugin creates nothing.
  for (const s of specs) if (s.type === 'volume' && !(s.source && volumes.find(s.source))) checkDriver(s.volume?.driver ?? 'local');
  const createdAnonymous: string[] = [];
  try {
    for (const s of specs) {
      if (s.type !== 'volume') continue;
      const anonymous = s.source === '';
      const v = await volumes.ensureForMount(s);
      s.source = v.name;
      if (s.volume) s.volume.driver = v.driver;
      if (anonymous) createdAnonymous.push(v.name);
    }
  } catch (err) {
    for (const n of createdAnonymous) { try { await volumes.remove(n); } catch { /* left for prune */ } }
    throw err;
  }
  const anon = new Set(createdAnonymous);
  return {
    specs, createdAnonymous, binds: binds.length ? binds : null, hostMounts, tmpfs, anonymousPaths,
    inspect: inspectMounts(engine, specs, anon),
  };
}

/**
 * Docker's rule for a bind whose source contains the data root or lies inside it
 * (a plain string prefix either way, as Docker compares): without a propagation it
 * gets rslave, so the container never pins a mount the engine must remove later;
 * any propagation but rslave/rshared is refused.
 */
function checkDataRootBinds(root: string, specs: MountSpec[]): void {
  for (const s of specs) {
    if (s.type !== 'bind' || !s.bind || s.origin === 'volumes-from') continue;
    if (!s.source.startsWith(root) && !root.startsWith(s.source)) continue;
    if (!s.bind.propagationGiven) { s.bind.propagation = 'rslave'; continue; }
    if (s.bind.propagation === 'rslave' || s.bind.propagation === 'rshared') continue;
    throw invalidArgument(`invalid mount config: must use either propagation mode "rslave" or "rshared" when mount source is within the data root, data root: ${JSON.stringify(root)}, bind mount source: ${JSON.stringify(s.source)}, propagation: ${JSON.stringify(s.bind.propagation)}`
      + `\nhint: ${s.spec} maps a folder that holds stowage's data root: give it rslave (or rshared) propagation, or leave the propagation out`, { op: 'parse mount', name: s.spec });
  }
}

/** Docker refuses, at create, a volume whose target is a file of the image (or lies under one). */
function checkVolumeTargets(specs: MountSpec[], image: ImageView): void {
  if (!image.source) return;
  for (const s of specs) {
    if (s.type !== 'volume') continue;
    const parts = s.target.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const st = lookup(image.source, parts.slice(0, i).join('/'));
      if (!st) break; // absent: the runtime makes the folder
      if (st.isDirectory() || st.isSymbolicLink()) continue; // a symlink is resolved inside the root at start
      const where = '/' + parts.slice(0, i).join('/');
      const what = st.isFile() ? 'a file' : 'not a directory';
      throw invalidArgument(i === parts.length
        ? `cannot mount volume over existing file: ${where} is ${what} in image ${image.ref}, not a directory (in ${s.spec})\nhint: a volume is a folder; mount it on a directory, or bind-mount a host file there (-v /host/file:${where})`
        : `cannot mount volume at ${s.target}: ${where} is ${what} in image ${image.ref}, not a directory (in ${s.spec})\nhint: choose a target whose parents are folders in the image`, { op: 'parse mount', name: s.spec });
    }
  }
}

/** Records, after the container row exists, which volumes it uses. */
export function attachVolumes(engine: Engine, c: ContainerRecord): void {
  const volumes = volumeService(engine);
  for (const s of c.MountSpecs ?? []) if (s.type === 'volume') volumes.attach(c.Id, s.source, s.target);
}

/**
 * Docker's `Mounts` entries. Mode is what -v's mode words said ("z" for a named -v
 * volume without any, and for every --mount volume; "" for anonymous -v and image
 * volumes, --mount binds and tmpfs, and --volumes-from copies); --tmpfs is not a
 * mount point (it is in HostConfig.Tmpfs).
 */
export function inspectMounts(engine: Engine, specs: MountSpec[], anonymous: ReadonlySet<string>): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const s of specs) {
    const rw = !s.readOnly;
    const destination = s.destination ?? s.target;
    if (s.type === 'volume') {
      const mode = s.origin === 'mount-flag' ? 'z' : s.origin === 'volume-flag' ? s.mode ?? (anonymous.has(s.source) ? '' : 'z') : '';
      const driver = s.volume?.driver || 'local';
      out.push({ Type: 'volume', Name: s.source, Source: isLocalDriver(driver) ? engine.layout.volumeData(s.source) : '', Destination: destination, Driver: driver, Mode: mode, RW: rw, Propagation: '' });
    } else if (s.type === 'bind') {
      out.push({ Type: 'bind', Source: s.source, Destination: destination, Mode: s.origin === 'volume-flag' ? s.mode ?? '' : '', RW: rw, Propagation: s.bind?.propagation ?? 'rprivate' });
    } else if (s.origin !== 'tmpfs-flag') {
      out.push({ Type: 'tmpfs', Source: '', Destination: destination, Mode: '', RW: rw, Propagation: '' });
    }
  }
  return out;
}

/**
 * Copies the image's files at target into an empty volume, once per local volume (a
 * marker beside _data remembers); a plugin's volume has no place for a marker, so it
 * is filled whenever it is empty (Docker's own rule).
 */
function populate(engine: Engine, rootfs: string, volume: string, target: string, hostPath: string, local: boolean): void {
  if (local) {
    const marker = join(engine.layout.volume(volume), 'populated');
    if (existsSync(marker)) return;
    writeFileSync(marker, '');
  }
  if (readdirSync(hostPath).length > 0) return; // not empty: never overwrite a volume's data
  const src = resolveInRoot(rootfs, target);
  let st;
  try { st = statSync(src); } catch { return; }
  if (!st.isDirectory()) return;
  const r = spawnSync('cp', ['-a', '--', `${src}/.`, hostPath], { encoding: 'utf8' });
  if (r.status !== 0) throw failedPrecondition(`copying the image's ${target} into volume ${volume}: ${r.stderr.trim()}`, { name: volume });
}

/**
 * Acquires the container's volumes and returns the OCI mounts for its mount specs,
 * parents first. When anything fails, the volumes acquired so far are released
 * before the error goes on: no container starts with half its volumes mounted.
 */
export async function ociMounts(engine: Engine, c: ContainerRecord, rootfs: string): Promise<OciMount[]> {
  try {
    return await ociMountsInner(engine, c, rootfs);
  } catch (err) {
    await releaseMounts(engine, c);
    throw err;
  }
}

async function ociMountsInner(engine: Engine, c: ContainerRecord, rootfs: string): Promise<OciMount[]> {
  const volumes = volumeService(engine);
  const out: OciMount[] = [];
  for (const s of sortForMounting(c.MountSpecs ?? [])) {
    const access = s.readOnly ? 'ro' : 'rw';
    if (s.type === 'volume') {
      const path = await volumes.acquire(s.source, c.Id, { holder: ownerToken() });
      if (!s.volume?.noCopy) populate(engine, rootfs, s.source, s.target, path, isLocalDriver(volumes.get(s.source).driver));
      let source = path;
      if (s.volume?.subpath) {
        source = resolveInRoot(path, s.volume.subpath);
        if (!existsSync(source)) throw invalidArgument(`cannot access path ${s.volume.subpath} in volume ${s.source}: it does not exist`, { name: s.spec });
      }
      out.push({ destination: s.target, type: 'bind', source, options: ['rbind', access, 'rprivate'] });
    } else if (s.type === 'bind') {
      if (!existsSync(s.source)) {
        if (s.bind?.createHostPath) {
          try {
            mkdirSync(s.source, { recursive: true });
          } catch (err) {
            // Docker's words: "error while creating mount source path '…': mkdir …: not a directory".
            const e = err as NodeJS.ErrnoException;
            throw invalidArgument(`error while creating mount source path '${s.source}': mkdir ${e.path ?? s.source}: ${errnoPhrase(e.code ?? 'EIO')} (in ${s.spec})`, { name: s.spec, cause: err });
          }
        }
        else throw invalidArgument(`invalid mount config for type "bind": bind source path does not exist: ${s.source}`, { name: s.spec });
      }
      const b = s.bind;
      const opts = [b?.nonRecursive ? 'bind' : 'rbind', access, b?.propagation ?? 'rprivate'];
      out.push({ destination: s.target, type: 'bind', source: s.source, options: opts });
    } else {
      const t = s.tmpfs;
      const opts = ['nosuid', 'nodev', 'noexec', access, ...(t?.options ?? [])];
      if (t?.sizeBytes) opts.push(`size=${t.sizeBytes}`);
      if (t?.mode) opts.push(`mode=${t.mode.toString(8)}`);
      out.push({ destination: s.target, type: 'tmpfs', source: 'tmpfs', options: opts });
    }
  }
  return out;
}

/** Releases the container's volumes (the last user of a mounted volume unmounts it). */
export async function releaseMounts(engine: Engine, c: ContainerRecord): Promise<void> {
  const volumes = volumeService(engine);
  for (const s of c.MountSpecs ?? []) {
    if (s.type !== 'volume') continue;
    // Gone volume: nothing to release. A plugin that fails Unmount keeps its volume_mounts row for recover().
    try { await volumes.release(s.source, c.Id); } catch { /* see above */ }
  }
}

/** Removes the anonymous volumes a removed container used, unless another container uses them too. */
export async function removeAnonymousVolumes(engine: Engine, names: string[]): Promise<void> {
  const volumes = volumeService(engine);
  for (const n of names) {
    const v = volumes.find(n);
    if (!v || v.labels['com.docker.volume.anonymous'] === undefined) continue;
    try { await volumes.remove(n); } catch { /* in use elsewhere: stays */ }
  }
}
