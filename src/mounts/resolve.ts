// resolve.ts: all of a container's mount flags together, as `docker create` takes
// them: each flag parsed (parse.ts), then the cross-checks the daemon makes —
// two mounts on one target are refused ("Duplicate mount point"), except that an
// anonymous volume (-v /path, or an image's VOLUME) quietly gives way to anything
// else mounted at its path.
import { invalidArgument } from '../errors.js';
import { cleanPath } from './gostr.js';
import { parseMountFlag, parseTmpfsFlag, parseVolumeFlag, anonymousVolume } from './parse.js';
import type { MountFlags, MountSpec } from './spec.js';

function duplicate(target: string, spec: string): never {
  throw invalidArgument(`Duplicate mount point: ${target}\nhint: ${spec} mounts on a target another mount already uses: give each mount its own target`, { op: 'parse mount', name: spec });
}

/**
 * Every mount of a container from its flags and its image's VOLUMEs. Throws
 * InvalidArgument (Docker's message naming the spec, plus a hint) for the first
 * problem. The result holds at most one mount per target; see sortForMounting.
 */
export function parseContainerMounts(flags: MountFlags): MountSpec[] {
  const cwd = flags.cwd ?? process.cwd();
  const driver = flags.volumeDriver ?? '';
  const fromMount = (flags.mounts ?? []).map((v) => parseMountFlag(v, { cwd }));
  // The CLI keeps -v values in a set: the same string twice is one mount.
  const volumeValues = [...new Set(flags.volumes ?? [])];
  const fromVolume = volumeValues.map((v) => parseVolumeFlag(v, { volumeDriver: driver, cwd }));
  // --tmpfs values are a map keyed by the path as written: a later one replaces an earlier one.
  const tmpfsByKey = new Map<string, MountSpec>();
  for (const v of flags.tmpfs ?? []) {
    const i = v.indexOf(':');
    tmpfsByKey.set(i < 0 ? v : v.slice(0, i), parseTmpfsFlag(v));
  }

  const out: MountSpec[] = [];
  const taken = new Set<string>();
  for (const m of fromVolume) {
    if (m.source === '' && m.type === 'volume') continue; // anonymous: below
    if (taken.has(m.target) || tmpfsByKey.has(m.target)) duplicate(m.target, m.spec);
    taken.add(m.target);
    out.push(m);
  }
  for (const m of fromMount) {
    if (taken.has(m.target)) duplicate(m.target, m.spec);
    taken.add(m.target);
    out.push(m);
  }
  for (const m of tmpfsByKey.values()) {
    out.push(m);
    taken.add(m.target);
  }
  const anonymous = [
    ...fromVolume.filter((m) => m.type === 'volume' && m.source === ''),
    ...(flags.imageVolumes ?? []).map((p) => anonymousVolume(p, 'image', `VOLUME ${p}`, driver)),
  ];
  for (const m of anonymous) {
    if (taken.has(m.target)) continue;
    taken.add(m.target);
    out.push(m);
  }
  return out;
}

/** Parents before children (by path depth, then as given), the order to mount them in, as Docker sorts them. */
export function sortForMounting(mounts: readonly MountSpec[]): MountSpec[] {
  const depth = (p: string) => cleanPath(p).split('/').length;
  return mounts.map((m, i) => ({ m, i })).sort((a, b) => depth(a.m.target) - depth(b.m.target) || a.i - b.i).map((x) => x.m);
}
