// views/create.ts: container create options, validated in one place, from the CLI's
// flags (`run`/`create`) and from the Engine API's body (POST /containers/create:
// Docker's Config with HostConfig inside). Both end as the engine's CreateOptions.
import { readFileSync } from 'node:fs';
import { invalidArgument } from '../errors.js';
import type { CreateOptions } from '../containers/service.js';

export interface RunFlags {
  detach?: boolean; interactive?: boolean; tty?: boolean; rm?: boolean; name?: string; env?: string[]; envFile?: string[];
  workdir?: string; user?: string; entrypoint?: string; readOnly?: boolean; label?: string[]; network?: string; runtime?: string; hostname?: string;
  volume?: string[]; mount?: string[]; tmpfs?: string[]; volumeDriver?: string; volumesFrom?: string[];
  /** The CLI's --pull and --platform (what to do about a missing image); not part of the create body. */
  pull?: string; platform?: string;
}

function parseEnvFile(path: string): string[] {
  const outv: string[] = [];
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch (err) { throw invalidArgument(`open ${path}: ${(err as Error).message}`, { name: path }); }
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    if (line.includes('=')) outv.push(line);
    else if (process.env[line] !== undefined) outv.push(`${line}=${process.env[line]}`);
  }
  return outv;
}

/** The CLI's `run`/`create` flags as CreateOptions. */
export function createOptions(image: string, cmd: string[], f: RunFlags): CreateOptions {
  const env: string[] = [];
  for (const file of f.envFile ?? []) env.push(...parseEnvFile(file));
  for (const e of f.env ?? []) {
    if (e.includes('=')) env.push(e);
    else if (process.env[e] !== undefined) env.push(`${e}=${process.env[e]}`);
  }
  const labels: Record<string, string> = {};
  for (const l of f.label ?? []) {
    const i = l.indexOf('=');
    labels[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1);
  }
  return {
    image, cmd, env, labels,
    ...(f.name !== undefined ? { name: f.name } : {}),
    ...(f.workdir !== undefined ? { workdir: f.workdir } : {}),
    ...(f.user !== undefined ? { user: f.user } : {}),
    ...(f.entrypoint !== undefined ? { entrypoint: f.entrypoint } : {}),
    ...(f.network !== undefined ? { network: f.network } : {}),
    ...(f.runtime !== undefined ? { runtime: f.runtime } : {}),
    ...(f.hostname !== undefined ? { hostname: f.hostname } : {}),
    readOnly: !!f.readOnly, autoRemove: !!f.rm, tty: !!f.tty, interactive: !!f.interactive,
    volumes: f.volume ?? [], mounts: f.mount ?? [], tmpfs: f.tmpfs ?? [], volumesFrom: f.volumesFrom ?? [],
    ...(f.volumeDriver !== undefined ? { volumeDriver: f.volumeDriver } : {}),
  };
}

// --- the Engine API's body --------------------------------------------------

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function strings(v: unknown, field: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return [v];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw invalidArgument(`${field} must be an array of strings`);
  return v as string[];
}

function str(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalidArgument(`${field} must be a string`);
  return v;
}

function bool(v: unknown, field: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw invalidArgument(`${field} must be a boolean`);
  return v;
}

function stringMap(v: unknown, field: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v) || Object.values(v).some((x) => typeof x !== 'string')) throw invalidArgument(`${field} must be an object of strings`);
  return v as Record<string, string>;
}

/** One CSV field of a --mount value, quoted when it needs to be (commas, quotes). */
function csvField(k: string, v: string): string {
  const f = `${k}=${v}`;
  return /[",\n]/.test(f) ? `"${f.replace(/"/g, '""')}"` : f;
}

/** A HostConfig.Mounts entry as the --mount value the mount parser validates (one grammar, one set of checks). */
export function apiMountToFlag(m: unknown, i: number): string {
  if (!isObj(m)) throw invalidArgument(`HostConfig.Mounts[${i}] must be an object`);
  const f: string[] = [];
  const type = str(m.Type, `HostConfig.Mounts[${i}].Type`) ?? '';
  if (type === 'npipe' || type === 'cluster' || type === 'image') throw invalidArgument(`mount type ${JSON.stringify(type)} is not supported by stowage (bind, volume and tmpfs are)`);
  f.push(csvField('type', type));
  const src = str(m.Source, `HostConfig.Mounts[${i}].Source`);
  if (src) f.push(csvField('source', src));
  f.push(csvField('target', str(m.Target, `HostConfig.Mounts[${i}].Target`) ?? ''));
  if (m.ReadOnly === true) f.push('readonly');
  if (m.Consistency) f.push(csvField('consistency', String(m.Consistency)));
  const b = m.BindOptions;
  if (isObj(b)) {
    if (b.Propagation) f.push(csvField('bind-propagation', String(b.Propagation)));
    if (b.NonRecursive === true) f.push('bind-nonrecursive=true');
  }
  const v = m.VolumeOptions;
  if (isObj(v)) {
    if (v.NoCopy === true) f.push('volume-nocopy=true');
    for (const [k, x] of Object.entries(stringMap(v.Labels, `HostConfig.Mounts[${i}].VolumeOptions.Labels`) ?? {})) f.push(csvField('volume-label', `${k}=${x}`));
    const d = v.DriverConfig;
    if (isObj(d)) {
      if (d.Name) f.push(csvField('volume-driver', String(d.Name)));
      for (const [k, x] of Object.entries(stringMap(d.Options, `HostConfig.Mounts[${i}].VolumeOptions.DriverConfig.Options`) ?? {})) f.push(csvField('volume-opt', `${k}=${x}`));
    }
    if (v.Subpath) f.push(csvField('volume-subpath', String(v.Subpath)));
  }
  const t = m.TmpfsOptions;
  if (isObj(t)) {
    if (typeof t.SizeBytes === 'number' && t.SizeBytes > 0) f.push(`tmpfs-size=${t.SizeBytes}`);
    if (typeof t.Mode === 'number' && t.Mode > 0) f.push(`tmpfs-mode=${t.Mode.toString(8)}`);
  }
  return f.join(',');
}

/** Networks stowage runs containers on; "default" (what the docker CLI sends without --network) is host. */
function networkMode(v: string | undefined): string | undefined {
  if (v === undefined || v === '' || v === 'default') return undefined;
  if (v === 'host' || v === 'none') return v;
  throw invalidArgument(`network mode "${v}" is not supported: stowage runs containers with --network host or --network none`, { name: v });
}

/** POST /containers/create?name=… with Docker's body, as CreateOptions; InvalidArgument naming the field otherwise. */
export function createOptionsFromApi(body: unknown, name: string | undefined): CreateOptions {
  if (!isObj(body)) throw invalidArgument('container config must be a JSON object');
  const image = str(body.Image, 'Image');
  if (!image) throw invalidArgument('Config.Image is required (no image given)');
  const hc = body.HostConfig === undefined || body.HostConfig === null ? {} : body.HostConfig;
  if (!isObj(hc)) throw invalidArgument('HostConfig must be an object');
  if (hc.Privileged === true) throw invalidArgument('privileged containers are not supported by stowage');
  const entrypoint = strings(body.Entrypoint, 'Entrypoint');
  const tmpfs = stringMap(hc.Tmpfs, 'HostConfig.Tmpfs');
  const mounts = hc.Mounts === undefined || hc.Mounts === null ? [] : hc.Mounts;
  if (!Array.isArray(mounts)) throw invalidArgument('HostConfig.Mounts must be an array');
  const stopTimeout = body.StopTimeout;
  if (stopTimeout !== undefined && stopTimeout !== null && typeof stopTimeout !== 'number') throw invalidArgument('StopTimeout must be a number');
  const net = networkMode(str(hc.NetworkMode, 'HostConfig.NetworkMode'));
  const o: CreateOptions = {
    image,
    cmd: strings(body.Cmd, 'Cmd') ?? [],
    env: strings(body.Env, 'Env') ?? [],
    labels: stringMap(body.Labels, 'Labels') ?? {},
    readOnly: bool(hc.ReadonlyRootfs, 'HostConfig.ReadonlyRootfs'),
    autoRemove: bool(hc.AutoRemove, 'HostConfig.AutoRemove'),
    tty: bool(body.Tty, 'Tty'),
    interactive: bool(body.OpenStdin, 'OpenStdin'),
    volumes: strings(hc.Binds, 'HostConfig.Binds') ?? [],
    mounts: mounts.map(apiMountToFlag),
    tmpfs: Object.entries(tmpfs ?? {}).map(([k, v]) => (v ? `${k}:${v}` : k)),
    volumesFrom: strings(hc.VolumesFrom, 'HostConfig.VolumesFrom') ?? [],
  };
  if (name) o.name = name;
  const wd = str(body.WorkingDir, 'WorkingDir');
  if (wd) o.workdir = wd;
  const user = str(body.User, 'User');
  if (user) o.user = user;
  // Docker: an Entrypoint of [""] (or []) given explicitly means none, and resets the image's CMD too.
  if (entrypoint !== undefined) o.entrypoint = entrypoint.length === 0 || (entrypoint.length === 1 && entrypoint[0] === '') ? '' : entrypoint;
  if (net) o.network = net;
  const runtime = str(hc.Runtime, 'HostConfig.Runtime');
  if (runtime && runtime !== 'runc' && runtime !== 'crun') throw invalidArgument(`unknown or invalid runtime name: ${runtime}`);
  if (runtime) o.runtime = runtime;
  const hostname = str(body.Hostname, 'Hostname');
  if (hostname) o.hostname = hostname;
  const vd = str(hc.VolumeDriver, 'HostConfig.VolumeDriver');
  if (vd) o.volumeDriver = vd;
  return o;
}
