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
import { join } from 'node:path';
import type { Engine } from '../engine.js';
import type { ContainerRecord } from './types.js';
import type { MountSpec } from '../mounts/spec.js';
import { parseContainerMounts, parseVolumesFrom, sortForMounting } from '../mounts/index.js';
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

/** Parses a container's mount flags (with the image's VOLUMEs) and makes the volumes they name. */
export async function planMounts(engine: Engine, flags: MountFlagsInput, imageVolumes: string[]): Promise<{ specs: MountSpec[]; createdAnonymous: string[] }> {
  const specs = parseContainerMounts({
    volumes: flags.volumes ?? [], mounts: flags.mounts ?? [], tmpfs: flags.tmpfs ?? [],
    ...(flags.volumeDriver ? { volumeDriver: flags.volumeDriver } : {}),
    imageVolumes, cwd: process.cwd(),
  });
  for (const vf of flags.volumesFrom ?? []) {
    const { container, mode } = parseVolumesFrom(vf);
    const other = engine.containers.resolve(container);
    for (const m of other.MountSpecs ?? []) {
      if (m.type === 'tmpfs') continue;
      if (specs.some((s) => s.target === m.target)) continue; // explicit mounts win, as in Docker
      const ro = mode.split(',').includes('ro') ? true : mode.split(',').includes('rw') ? false : m.readOnly;
      specs.push({ ...m, readOnly: ro, origin: 'volumes-from', spec: `--volumes-from ${vf}` });
    }
  }
  // --volume-driver also applies to --mount volumes that name no driver (Docker 20.10
  // applies it to -v only; stowage follows the documented `--volume-driver X --mount src=…` use).
  const spelled = (s: MountSpec) => /(^|,)volume-driver=/.test(s.spec);
  if (flags.volumeDriver) for (const s of specs) if (s.type === 'volume' && s.origin === 'mount-flag' && !spelled(s) && s.volume) s.volume.driver = flags.volumeDriver;
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
  return { specs, createdAnonymous };
}

/** Records, after the container row exists, which volumes it uses. */
export function attachVolumes(engine: Engine, c: ContainerRecord): void {
  const volumes = volumeService(engine);
  for (const s of c.MountSpecs ?? []) if (s.type === 'volume') volumes.attach(c.Id, s.source, s.target);
}

/** Docker's `Mounts` entries for inspect. */
export function inspectMounts(engine: Engine, specs: MountSpec[]): unknown[] {
  return specs.map((s) => {
    const rw = !s.readOnly;
    if (s.type === 'volume') {
      return { Type: 'volume', Name: s.source, Source: isLocalDriver(s.volume?.driver ?? 'local') ? engine.layout.volumeData(s.source) : '', Destination: s.target, Driver: s.volume?.driver || 'local', Mode: s.readOnly ? 'ro' : 'z', RW: rw, Propagation: '' };
    }
    if (s.type === 'bind') return { Type: 'bind', Source: s.source, Destination: s.target, Mode: s.readOnly ? 'ro' : '', RW: rw, Propagation: s.bind?.propagation ?? 'rprivate' };
    return { Type: 'tmpfs', Source: '', Destination: s.target, Mode: '', RW: rw, Propagation: '' };
  });
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
        if (s.bind?.createHostPath) mkdirSync(s.source, { recursive: true });
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
