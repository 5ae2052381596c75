// verdict.ts: stowage's decision on a list of `create` flags: the mounts, or the
// error. What `stowage create` will do before it creates anything: parse every
// mount flag, then check each volume the mounts would create (driver, name, options).
import { parseContainerMounts, type MountSpec } from '../../src/mounts/index.js';
import { checkVolumeRequest, checkDriver } from '../../src/volumes/service.js';

export function flagsOf(args: string[], cwd: string) {
  const volumes: string[] = [];
  const mounts: string[] = [];
  const tmpfs: string[] = [];
  let volumeDriver: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = () => args[++i] ?? '';
    if (a === '-v' || a === '--volume') volumes.push(next());
    else if (a === '--mount') mounts.push(next());
    else if (a === '--tmpfs') tmpfs.push(next());
    else if (a === '--volume-driver') volumeDriver = next();
  }
  return { volumes, mounts, tmpfs, cwd, ...(volumeDriver !== undefined ? { volumeDriver } : {}) };
}

export function verdict(args: string[], cwd: string): { ok: true; mounts: MountSpec[] } | { ok: false; error: string } {
  try {
    const mounts = parseContainerMounts(flagsOf(args, cwd));
    for (const m of mounts) {
      if (m.type !== 'volume') continue;
      if (m.source === '') checkDriver(m.volume!.driver);
      else checkVolumeRequest(m.source, m.volume!.driver, m.volume!.options);
    }
    return { ok: true, mounts };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

/** Replaces $D in every argument. */
export function subst(args: string[], dir: string): string[] {
  return args.map((a) => a.replaceAll('$D', dir));
}
