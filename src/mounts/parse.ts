// parse.ts: -v/--volume, --mount, --tmpfs and --volumes-from, parsed and validated
// to accept and reject exactly what `docker create` accepts and rejects (Docker
// 28's CLI in front of a 20.10 daemon), in two stages as Docker has them:
//
//   1. the CLI's own parsing: --mount is a CSV record of key=value fields
//      (docker/cli opts/mount.go); -v is split on colons to decide between a bind
//      (source looks like a path) and an anonymous volume (cli/compose/loader);
//   2. the daemon's validation: -v strings again, with their mode words
//      (daemon/volume/mounts linux_parser.go), --mount fields, --tmpfs targets.
//
// Messages are Docker's, naming the offending spec; where users commonly go wrong a
// "hint:" line says how to fix it. Nothing here touches the host except
// statting a --mount bind source (Docker refuses a missing one).
import { statSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { invalidArgument } from '../errors.js';
import { readCsvRecord, parseGoBool, parseOctalUint32, ramInBytes, cleanPath, goQuote } from './gostr.js';
import { PROPAGATIONS, type MountSpec, type Propagation, type BindOptions, type VolumeOptions } from './spec.js';

/** Local volume names: Docker's rule; also what keeps a name inside volumes/. */
export const VOLUME_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
export const DEFAULT_VOLUME_DRIVER = 'local';

/** Docker's message for a bad local volume name, or null when the name is fine. */
export function volumeNameProblem(name: string): string | null {
  if (name.length === 1) return 'volume name is too short, names should be at least two alphanumeric characters';
  // A local volume is the folder volumes/NAME: NAME_MAX (255 bytes) bounds it. Docker finds
  // out at mkdir ("file name too long"); saying so up front names the limit.
  if (name.length > 255) return `volume name is too long (${name.length} characters): a local volume's name has at most 255`;
  if (!VOLUME_NAME_RE.test(name)) {
    return `${goQuote(name)} includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`;
  }
  return null;
}

/** The op of errors Docker's CLI finds itself (before asking the daemon): `docker create` exits 125 for them, 1 for the daemon's. */
export const CLI_FLAG_ERROR = 'parse mount flag';

function fail(message: string, spec: string, hint?: string, cli = false): never {
  throw invalidArgument(hint ? `${message}\nhint: ${hint}` : message, { op: cli ? CLI_FLAG_ERROR : 'parse mount', name: spec });
}

// --- the daemon's checks (shared by -v and --mount) ---------------------------

/** The API's Mount object, as the CLI sends it and the daemon validates it. */
interface ApiMount {
  Type: string;
  Source: string;
  Target: string;
  ReadOnly: boolean;
  Consistency?: string;
  BindOptions?: { Propagation?: string; NonRecursive?: boolean; ReadOnlyNonRecursive?: boolean; ReadOnlyForceRecursive?: boolean };
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string>; DriverName?: string; DriverOptions?: Record<string, string>; Subpath?: string };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
  ImageOptions?: { Subpath?: string };
}

function notRoot(p: string): string | null {
  return cleanPath(p.replace(/\\/g, '/')) === '/' ? "invalid specification: destination can't be '/'" : null;
}
function absolute(p: string): string | null {
  const q = p.replace(/\\/g, '/');
  return q.startsWith('/') ? null : `invalid mount path: '${q}' mount path must be absolute`;
}

/** The daemon's ValidateMountConfig: the reason a mount is refused, or null. */
function daemonMountProblem(m: ApiMount, checkBindSource: boolean): string | null {
  const wrap = (e: string) => `invalid mount config for type ${goQuote(m.Type)}: ${e}`;
  if (m.Target.length === 0) return wrap('field Target must not be empty');
  const t = notRoot(m.Target) ?? absolute(m.Target);
  if (t) return wrap(t);
  switch (m.Type) {
    case 'bind': {
      if (m.Source.length === 0) return wrap('field Source must not be empty');
      const p = m.BindOptions?.Propagation;
      if (p && !PROPAGATIONS.includes(p as Propagation)) return wrap(`invalid propagation mode: ${p}`);
      if (m.VolumeOptions) return wrap('field VolumeOptions must not be specified');
      const a = absolute(m.Source);
      if (a) return wrap(a);
      if (checkBindSource) {
        try {
          statSync(m.Source);
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (code === 'ENOENT' || code === 'ENOTDIR') return wrap(`bind source path does not exist: ${m.Source}`);
          return wrap(`stat ${m.Source}: ${(err as Error).message}`);
        }
      }
      return null;
    }
    case 'volume':
      if (m.BindOptions) return wrap('field BindOptions must not be specified');
      if (m.Source.length === 0 && m.ReadOnly) return wrap('must not set ReadOnly mode when using anonymous volumes');
      return null;
    case 'tmpfs':
      if (m.BindOptions) return wrap('field BindOptions must not be specified');
      if (m.Source.length !== 0) return wrap('field Source must not be specified');
      return null;
    default:
      return wrap('mount type unknown');
  }
}

function toSpec(m: ApiMount, origin: MountSpec['origin'], spec: string, createHostPath: boolean): MountSpec {
  const out: MountSpec = { type: m.Type as MountSpec['type'], source: '', target: cleanPath(m.Target.replace(/\\/g, '/')), readOnly: m.ReadOnly, origin, spec };
  if (m.Consistency) out.consistency = m.Consistency;
  if (m.Type === 'bind') {
    out.source = cleanPath(m.Source);
    const b: BindOptions = {
      propagation: (m.BindOptions?.Propagation || 'rprivate') as Propagation,
      nonRecursive: !!m.BindOptions?.NonRecursive,
      readOnlyNonRecursive: !!m.BindOptions?.ReadOnlyNonRecursive,
      readOnlyForceRecursive: !!m.BindOptions?.ReadOnlyForceRecursive,
      createHostPath,
    };
    if (m.BindOptions?.Propagation) b.propagationGiven = true;
    out.bind = b;
  } else if (m.Type === 'volume') {
    out.source = m.Source;
    const v: VolumeOptions = {
      driver: m.VolumeOptions?.DriverName || DEFAULT_VOLUME_DRIVER,
      noCopy: !!m.VolumeOptions?.NoCopy,
      labels: { ...(m.VolumeOptions?.Labels ?? {}) },
      options: { ...(m.VolumeOptions?.DriverOptions ?? {}) },
      subpath: m.VolumeOptions?.Subpath ?? '',
    };
    out.volume = v;
  } else {
    out.tmpfs = { sizeBytes: m.TmpfsOptions?.SizeBytes ?? 0, mode: m.TmpfsOptions?.Mode ?? 0, options: [] };
  }
  return out;
}

// --- --mount -------------------------------------------------------------------

const MOUNT_KEYS = ['type', 'source', 'src', 'target', 'dst', 'destination', 'readonly', 'ro', 'consistency', 'bind-propagation',
  'bind-nonrecursive', 'bind-recursive', 'volume-subpath', 'volume-nocopy', 'volume-label', 'volume-driver', 'volume-opt',
  'image-subpath', 'tmpfs-size', 'tmpfs-mode'];

/** Likely intents behind keys --mount does not have. */
const KEY_HINTS: Record<string, string> = {
  propagation: 'bind-propagation', size: 'tmpfs-size', mode: 'tmpfs-mode', driver: 'volume-driver', opt: 'volume-opt',
  label: 'volume-label', nocopy: 'volume-nocopy', subpath: 'volume-subpath', recursive: 'bind-recursive', path: 'target',
  dest: 'target', from: 'source', name: 'source', volume: 'source', bind: 'type=bind', tmpfs: 'type=tmpfs', rw: 'readonly=false',
};

function mountHint(value: string, field: string, key: string): string | undefined {
  if (field === '' && /,$/.test(value)) {
    return 'the spec ends with a comma. If you wrote spaces after the commas, the shell split it into several arguments: '
      + 'write it without spaces, e.g. --mount type=bind,source=/data,target=/data';
  }
  if (field === '' ) return 'two commas in a row leave an empty field: remove one';
  if (/^\s|\s$/.test(key) || /^\s/.test(field)) {
    return `remove the space in ${goQuote(field)}: --mount takes one argument with no spaces around the commas (type=bind,source=/data,target=/data)`;
  }
  const k = key.trim().toLowerCase();
  if (KEY_HINTS[k]) return `did you mean ${KEY_HINTS[k]}?`;
  const close = MOUNT_KEYS.find((x) => x.replace(/[-_]/g, '') === k.replace(/[-_]/g, ''));
  if (close) return `did you mean ${close}?`;
  return undefined;
}

/**
 * One --mount value, parsed as Docker's CLI does and validated as the daemon does.
 * cwd makes "./x" sources absolute (the CLI does this for any source starting with ".").
 */
export function parseMountFlag(value: string, opts: { cwd?: string; checkBindSource?: boolean } = {}): MountSpec {
  return toSpec(parseMountFields(value, opts), 'mount-flag', `--mount ${value}`, false);
}

/**
 * The entry Docker keeps in HostConfig.Mounts for one --mount value: the API Mount
 * object the CLI sends, in Go's field order with its omitempty rules (a ./ source
 * made absolute, the target as written, propagation lower-cased; VolumeOptions
 * always carries a DriverConfig). Throws as parseMountFlag does.
 */
export function hostConfigMount(value: string, opts: { cwd?: string } = {}): Record<string, unknown> {
  const m = parseMountFields(value, { ...opts, checkBindSource: false });
  const out: Record<string, unknown> = { Type: m.Type };
  if (m.Source) out.Source = m.Source;
  out.Target = m.Target;
  if (m.ReadOnly) out.ReadOnly = true;
  if (m.Consistency) out.Consistency = m.Consistency;
  const b = m.BindOptions;
  if (b) {
    const o: Record<string, unknown> = {};
    if (b.Propagation) o.Propagation = b.Propagation;
    if (b.NonRecursive) o.NonRecursive = true;
    if (b.ReadOnlyNonRecursive) o.ReadOnlyNonRecursive = true;
    if (b.ReadOnlyForceRecursive) o.ReadOnlyForceRecursive = true;
    out.BindOptions = o;
  }
  const v = m.VolumeOptions;
  if (v) {
    const o: Record<string, unknown> = {};
    if (v.NoCopy) o.NoCopy = true;
    if (v.Labels && Object.keys(v.Labels).length) o.Labels = sortedObject(v.Labels);
    if (v.Subpath) o.Subpath = v.Subpath;
    const dc: Record<string, unknown> = {};
    if (v.DriverName) dc.Name = v.DriverName;
    if (v.DriverOptions && Object.keys(v.DriverOptions).length) dc.Options = sortedObject(v.DriverOptions);
    o.DriverConfig = dc;
    out.VolumeOptions = o;
  }
  const t = m.TmpfsOptions;
  if (t) {
    const o: Record<string, unknown> = {};
    if (t.SizeBytes) o.SizeBytes = t.SizeBytes;
    if (t.Mode) o.Mode = t.Mode;
    out.TmpfsOptions = o;
  }
  return out;
}

/** Go marshals map keys sorted. */
function sortedObject(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function parseMountFields(value: string, opts: { cwd?: string; checkBindSource?: boolean }): ApiMount {
  const spec = `--mount ${value}`;
  const cliError = (msg: string, hint?: string): never => fail(`invalid argument ${goQuote(value)} for "--mount" flag: ${msg}`, spec, hint, true);
  let fields: string[];
  try {
    fields = readCsvRecord(value);
  } catch (err) {
    const msg = (err as Error).message;
    return cliError(msg, msg === 'EOF' ? 'the spec is empty: --mount type=volume|bind|tmpfs,source=…,target=…'
      : 'quote a whole field to put commas or quotes in it: "source=/a,b" (and quote the argument for the shell)');
  }
  const m: ApiMount = { Type: 'volume', Source: '', Target: '', ReadOnly: false };
  const vol = () => (m.VolumeOptions ??= { Labels: {} });
  const bind = () => (m.BindOptions ??= {});
  const tmpfs = () => (m.TmpfsOptions ??= {});
  const setKV = (target: Record<string, string>, v: string) => {
    const i = v.indexOf('=');
    const k = i < 0 ? v : v.slice(0, i);
    if (k !== '') target[k] = i < 0 ? '' : v.slice(i + 1);
  };
  const bool = (key: string, val: string, label = `${key}`): boolean => {
    const b = parseGoBool(val);
    if (b === undefined) cliError(`invalid value for ${label}: ${val}`, 'use true or false (1/0, t/f)');
    return b!;
  };
  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const val = eq < 0 ? '' : field.slice(eq + 1);
    if (eq < 0) {
      if (key === 'readonly' || key === 'ro') { m.ReadOnly = true; continue; }
      if (key === 'volume-nocopy') { vol().NoCopy = true; continue; }
      if (key === 'bind-nonrecursive') { bind().NonRecursive = true; continue; }
      cliError(`invalid field '${field}' must be a key=value pair`, mountHint(value, field, key));
    }
    switch (key) {
      case 'type': m.Type = val.toLowerCase(); break;
      case 'source': case 'src':
        m.Source = val;
        if (!val.startsWith('/') && val.startsWith('.')) m.Source = resolvePath(opts.cwd ?? process.cwd(), val);
        break;
      case 'target': case 'dst': case 'destination': m.Target = val; break;
      case 'readonly': case 'ro': m.ReadOnly = bool(key, val); break;
      case 'consistency': m.Consistency = val.toLowerCase(); break;
      case 'bind-propagation': bind().Propagation = val.toLowerCase(); break;
      case 'bind-nonrecursive': bind().NonRecursive = bool(key, val); break;
      case 'bind-recursive':
        switch (val) {
          case 'enabled': break;
          case 'disabled': bind().NonRecursive = true; break;
          case 'writable': bind().ReadOnlyNonRecursive = true; break;
          case 'readonly': bind().ReadOnlyForceRecursive = true; break;
          default: cliError(`invalid value for ${key}: ${val} (must be "enabled", "disabled", "writable", or "readonly")`);
        }
        break;
      case 'volume-subpath': vol().Subpath = val; break;
      case 'volume-nocopy': vol().NoCopy = bool(key, val, 'volume-nocopy'); break;
      case 'volume-label': setKV(vol().Labels!, val); break;
      case 'volume-driver': vol().DriverName = val; break;
      case 'volume-opt': setKV((vol().DriverOptions ??= {}), val); break;
      case 'image-subpath': (m.ImageOptions ??= {}).Subpath = val; break;
      case 'tmpfs-size': {
        let n: number;
        try { n = ramInBytes(val); } catch { return cliError(`invalid value for ${key}: ${val}`, 'a size like 64m, 1g or 512k'); }
        tmpfs().SizeBytes = n;
        break;
      }
      case 'tmpfs-mode': {
        const n = parseOctalUint32(val);
        if (n === undefined) cliError(`invalid value for ${key}: ${val}`, 'octal permission bits, e.g. tmpfs-mode=1770');
        tmpfs().Mode = n!;
        break;
      }
      default:
        cliError(`unexpected key '${key}' in '${field}'`, mountHint(value, field, key));
    }
  }
  if (m.Type === '') cliError('type is required', 'type=volume, type=bind or type=tmpfs');
  if (m.Target === '') cliError('target is required', 'add target=/path/in/container (or dst=…)');
  if (m.VolumeOptions && m.Type !== 'volume') cliError(`cannot mix 'volume-*' options with mount type '${m.Type}'`);
  if (m.ImageOptions && m.Type !== 'image') cliError(`cannot mix 'image-*' options with mount type '${m.Type}'`);
  if (m.BindOptions && m.Type !== 'bind') cliError(`cannot mix 'bind-*' options with mount type '${m.Type}'`);
  if (m.TmpfsOptions && m.Type !== 'tmpfs') cliError(`cannot mix 'tmpfs-*' options with mount type '${m.Type}'`);
  if (m.BindOptions?.ReadOnlyNonRecursive && !m.ReadOnly) cliError("option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction");
  if (m.BindOptions?.ReadOnlyForceRecursive) {
    if (!m.ReadOnly) cliError("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction");
    if (m.BindOptions.Propagation !== 'rprivate') cliError("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction");
  }
  // Docker 28's CLI refuses it below API 1.44, and the reference daemon (20.10) speaks 1.41.
  // (the API client's check, after the flags are read: docker create exits 1 for it)
  if (m.BindOptions?.ReadOnlyForceRecursive) fail('bind-recursive=readonly requires API v1.44 or later', spec, 'use bind-recursive=writable,readonly, or readonly alone');
  const problem = daemonMountProblem(m, opts.checkBindSource ?? true);
  if (problem) {
    let hint: string | undefined;
    if (problem.includes('bind source path does not exist')) hint = `--mount type=bind does not create the source (-v does): create it first (mkdir -p ${m.Source})`;
    else if (problem.includes('mount path must be absolute')) hint = 'the target is a path inside the container and must start with "/"';
    else if (problem.includes('mount type unknown')) hint = m.Type === 'image' ? 'image mounts are not supported' : 'type=volume, type=bind or type=tmpfs';
    else if (problem.includes('ReadOnly mode when using anonymous')) hint = 'give the volume a name (source=NAME) to mount it read-only';
    fail(`${problem} (in ${spec})`, spec, hint);
  }
  return m;
}

// --- -v / --volume ---------------------------------------------------------------

const RW_MODES = new Set(['rw', 'ro']);
const LABEL_MODES = new Set(['z', 'Z']);
const COPY_MODES = new Set(['nocopy']);
const CONSISTENCY_MODES = new Set(['consistent', 'cached', 'delegated']);

/** Why a -v mode string is invalid (the daemon only says "invalid mode"), or null. */
function modeProblem(mode: string): string | null {
  if (mode === '') return null;
  const counts = { rw: [] as string[], label: [] as string[], prop: [] as string[], copy: [] as string[], cons: [] as string[] };
  for (const o of mode.split(',')) {
    if (RW_MODES.has(o)) counts.rw.push(o);
    else if (LABEL_MODES.has(o)) counts.label.push(o);
    else if ((PROPAGATIONS as readonly string[]).includes(o)) counts.prop.push(o);
    else if (COPY_MODES.has(o)) counts.copy.push(o);
    else if (CONSISTENCY_MODES.has(o)) counts.cons.push(o);
    else return o === '' ? 'an empty mode word (two commas in a row, or a trailing comma)'
      : `unknown mode ${goQuote(o)}: modes are ro, rw, z, Z, nocopy, ${PROPAGATIONS.join(', ')}`;
  }
  for (const list of Object.values(counts)) {
    if (list.length > 1) return `${list.map((x) => `'${x}'`).join(' and ')} conflict: give only one of them`;
  }
  return null;
}

function validMode(mode: string): boolean {
  return modeProblem(mode) === null;
}

/** The daemon's ParseMountRaw for a -v string the CLI sent as a bind ("Binds"). */
function parseBindString(raw: string, volumeDriver: string, display: string): MountSpec {
  const spec = `-v ${display}`;
  const invalidSpec = `invalid volume specification: '${raw}'`;
  if ((raw.match(/:/g) ?? []).length > 2) fail(invalidSpec, spec, 'use at most SOURCE:TARGET:MODE; for a path with a colon in it use --mount type=bind,source=…,target=…');
  const arr = raw.split(':');
  if (arr.length > 3) arr.splice(2, arr.length, arr.slice(2).join(':'));
  if (arr[0] === '') fail(invalidSpec, spec);
  const m: ApiMount = { Type: 'volume', Source: '', Target: '', ReadOnly: false };
  let mode = '';
  if (arr.length === 1) m.Target = arr[0]!;
  else if (arr.length === 2) {
    if (validMode(arr[1]!)) {
      fail(invalidSpec, spec, `${goQuote(arr[1]!)} is a mode, and a mode needs both a source and a target: -v ${arr[0]}:${arr[0]}:${arr[1]}`);
    }
    m.Source = arr[0]!;
    m.Target = arr[1]!;
  } else {
    m.Source = arr[0]!;
    m.Target = arr[1]!;
    mode = arr[2]!;
  }
  const mp = modeProblem(mode);
  if (mp !== null) fail(`invalid mode: ${mode}`, spec, `${mp} (in ${spec})`);
  m.Type = m.Source.startsWith('/') ? 'bind' : 'volume';
  const words = mode === '' ? [] : mode.split(',');
  m.ReadOnly = words.includes('ro');
  if (volumeDriver !== '' && m.Type === 'volume') m.VolumeOptions = { DriverName: volumeDriver };
  if (words.includes('nocopy')) (m.VolumeOptions ??= {}).NoCopy = true;
  const prop = words.find((w) => (PROPAGATIONS as readonly string[]).includes(w));
  if (prop) m.BindOptions = { Propagation: prop };
  const problem = daemonMountProblem(m, false);
  if (problem) {
    let hint: string | undefined;
    if (problem.includes('VolumeOptions')) hint = 'nocopy applies to volumes only, not to bind mounts';
    else if (problem.includes('BindOptions')) hint = `propagation modes (${prop}) apply to bind mounts only: a source that is not an absolute path is a volume name`;
    else if (problem.includes('must be absolute')) hint = 'the target is a path inside the container and must start with "/"';
    fail(`${invalidSpec}: ${problem}`, spec, hint);
  }
  const out = toSpec(m, 'volume-flag', spec, true);
  if (mode !== '') out.mode = mode;
  const label = words.find((w) => LABEL_MODES.has(w));
  if (label) out.relabel = label as 'z' | 'Z';
  const cons = words.find((w) => CONSISTENCY_MODES.has(w));
  if (cons) out.consistency = cons;
  if (out.type === 'volume') {
    const why = out.volume!.driver === DEFAULT_VOLUME_DRIVER ? volumeNameProblem(out.source) : null;
    if (why) {
      fail(`create ${out.source}: ${why}`, spec, /[/~]/.test(out.source) || out.source.startsWith('.')
        ? `a source that is not an absolute path is a volume name; for a host directory give an absolute path (-v "$PWD/${out.source.replace(/^\.\//, '')}:${out.target}") or start it with ./`
        : why.includes('too long') ? 'use a name of at most 255 characters'
        : 'volume names are letters, digits, "_", "." and "-", starting with a letter or digit, at least two characters');
    }
  }
  return out;
}

/** Docker's CLI split of a -v value (compose loader's ParseVolume): its error, or where the spec goes. */
function cliSplitVolume(spec: string): { error: string } | { bind: boolean; source: string } {
  if (spec.length === 0) return { error: 'invalid empty volume spec' };
  if ([...spec].length <= 2) return { bind: false, source: '' };
  const parts: string[] = [];
  let buf = '';
  const chars = [...spec, '\0'];
  for (const ch of chars) {
    if (ch === ':' && [...buf].length === 1 && /\p{L}/u.test(buf)) { buf += ch; continue; }
    if (ch === ':' || ch === '\0') {
      if (buf.length === 0) return { error: `invalid spec: ${spec}: empty section between colons` };
      if (parts.length >= 2 && ch === ':') return { error: `invalid spec: ${spec}: too many colons` };
      parts.push(buf);
      buf = '';
      if (parts.length === 1 && ch === '\0') return { bind: false, source: '' }; // anonymous
      continue;
    }
    buf += ch;
  }
  const source = parts[0]!;
  const first = source[0]!;
  let isPath = first === '.' || first === '/' || first === '~';
  if (!isPath && [...source].length > 1) {
    if (source.startsWith('\\\\')) isPath = true;
    else {
      const cps = [...source];
      isPath = /\p{L}/u.test(cps[0]!) && source[cps[0]!.length] === ':';
    }
  }
  return { bind: isPath, source };
}

/**
 * One -v/--volume value. A spec with a source goes to the daemon's -v parser (named
 * volume or bind); one without ("/data") is an anonymous volume.
 */
export function parseVolumeFlag(value: string, opts: { volumeDriver?: string; cwd?: string } = {}): MountSpec {
  const split = cliSplitVolume(value);
  if ('error' in split) {
    fail(split.error, `-v ${value}`, split.error.includes('empty section') ? 'each of SOURCE, TARGET and MODE must be non-empty: -v SOURCE:TARGET[:MODE]'
      : split.error.includes('too many colons') ? 'at most SOURCE:TARGET:MODE; use --mount for paths with colons' : undefined, true);
  }
  if (!split.bind && split.source === '') return anonymousVolume(value, 'volume-flag', `-v ${value}`, opts.volumeDriver ?? '');
  let raw = value;
  if (split.bind) {
    const i = value.indexOf(':');
    let host = value.slice(0, i);
    if (!host.startsWith('/') && host.startsWith('.')) host = resolvePath(opts.cwd ?? process.cwd(), host);
    raw = host + value.slice(i);
  }
  return parseBindString(raw, opts.volumeDriver ?? '', value);
}

/**
 * An anonymous volume at path (-v /data, or an image's VOLUME). Docker accepts the
 * path as given at create time; the target is made absolute and cleaned.
 */
export function anonymousVolume(path: string, origin: MountSpec['origin'], spec: string, volumeDriver = ''): MountSpec {
  // Docker 20.10 keeps a relative path as the destination ("data", "a:/data", "C:\\data"
  // as written, backslashes and all) and its runtime mounts it under "/": so does stowage.
  const target = cleanPath('/' + path);
  const out: MountSpec = {
    type: 'volume', source: '', target, readOnly: false, origin, spec,
    volume: { driver: volumeDriver || DEFAULT_VOLUME_DRIVER, noCopy: false, labels: {}, options: {}, subpath: '' },
  };
  const destination = cleanPath(path);
  if (destination !== target) out.destination = destination;
  return out;
}

// --- --tmpfs and --volumes-from ------------------------------------------------------

/** --tmpfs PATH[:OPTIONS]. The daemon checks the path when the container is created, the options when it starts. */
export function parseTmpfsFlag(value: string): MountSpec {
  const i = value.indexOf(':');
  const dest = i < 0 ? value : value.slice(0, i);
  const options = i < 0 || value.slice(i + 1) === '' ? [] : value.slice(i + 1).split(',');
  const problem = notRoot(dest) ?? absolute(dest);
  const spec = `--tmpfs ${value}`;
  if (problem) fail(`${problem} (in ${spec})`, spec, problem.includes('absolute') ? 'the path is inside the container and must start with "/"' : undefined);
  return {
    type: 'tmpfs', source: '', target: cleanPath(dest.replace(/\\/g, '/')), readOnly: options.includes('ro'), origin: 'tmpfs-flag', spec,
    tmpfs: { sizeBytes: 0, mode: 0, options },
  };
}

/** --volumes-from CONTAINER[:ro|rw]: the container and the mode its volumes get. */
export function parseVolumesFrom(value: string): { container: string; mode: string } {
  if (value.length === 0) fail('volumes-from specification cannot be an empty string', '--volumes-from');
  const i = value.indexOf(':');
  if (i < 0) return { container: value, mode: 'rw' };
  const mode = value.slice(i + 1);
  const words = mode.split(',');
  if (!validMode(mode) || words.some((w) => (PROPAGATIONS as readonly string[]).includes(w) || COPY_MODES.has(w))) {
    fail(`invalid mode: ${mode}`, `--volumes-from ${value}`, 'only ro, rw, z and Z apply to --volumes-from');
  }
  return { container: value.slice(0, i), mode };
}
