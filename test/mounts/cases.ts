// cases.ts: mount flag cases with what `docker create` (Docker 28 CLI, 20.10 daemon)
// does with them: ok = accepted. Shared by the parser's table test (no Docker; the
// cases decided by the parser alone) and the side-by-side test against a real engine,
// which runs every case through both CLIs and compares inspect's every mount field.
// `$D` is an existing host directory (it does not contain either data root), `$D/file`
// an existing file, `$D/missing` a path that does not exist; `$R` is each engine's own
// data root. Images: `parity:1` (busybox, /etc/x.conf a file, /var/lib/mysql/seed.sql),
// `parityv:1` (the same with VOLUME /var/lib/mysql /cache).
type Json = Record<string, unknown>;

export interface FlagCase {
  doc: string;
  args: string[];
  ok: boolean;
  /** A piece of stowage's message (the substance of the refusal). */
  err?: string | RegExp;
  /** A piece of Docker's message, when its words differ from stowage's (default: err). */
  dockerErr?: string | RegExp;
  /** Which image: the plain one (default) or the one with VOLUMEs. */
  image?: 'plain' | 'volumes';
  /** Commands run on both engines first (e.g. the source container of --volumes-from). */
  before?: string[][];
  /** Decided past the parser (volume drivers and options, the image's files, the data root): parity test only. */
  engine?: boolean;
  /** A deliberate, documented deviation from Docker (docs/volumes.md lists each id). */
  deviation?: DeviationId;
}

export type DeviationId = 'volume-driver-for-mount' | 'subpath-kept' | 'writable-kept';

/** What each deviation changes, applied to Docker's side to get what stowage must show. */
export const DEVIATIONS: Record<DeviationId, { doc: string; apply?: (docker: Json) => Json; stowageRefuses?: string | RegExp }> = {
  'volume-driver-for-mount': {
    doc: '--volume-driver also applies to --mount volumes that name no driver (Docker 20.10 silently makes a local volume)',
    stowageRefuses: 'error looking up volume plugin nosuch',
  },
  'subpath-kept': {
    doc: 'volume-subpath is honoured and kept in HostConfig.Mounts (Docker CLI 28 drops it for a 20.10 daemon, which mounts the whole volume)',
    apply: (d) => withHostMount(d, (m) => { (m.VolumeOptions as Json).Subpath = 'sub'; }),
  },
  'writable-kept': {
    doc: 'bind-recursive=writable is kept in HostConfig.Mounts as ReadOnlyNonRecursive (Docker CLI 28 drops it for a 20.10 daemon)',
    apply: (d) => withHostMount(d, (m) => { (m.BindOptions as Json).ReadOnlyNonRecursive = true; }),
  },
};

function withHostMount(d: Json, edit: (m: Json) => void): Json {
  const copy = JSON.parse(JSON.stringify(d)) as Json;
  const mounts = (copy.HostConfig as Json).Mounts as Json[];
  // Go's field order: Subpath sits between Labels and DriverConfig, ReadOnlyNonRecursive after NonRecursive.
  for (const m of mounts) {
    edit(m);
    if (m.VolumeOptions) m.VolumeOptions = reorder(m.VolumeOptions as Json, ['NoCopy', 'Labels', 'Subpath', 'DriverConfig']);
    if (m.BindOptions) m.BindOptions = reorder(m.BindOptions as Json, ['Propagation', 'NonRecursive', 'ReadOnlyNonRecursive', 'ReadOnlyForceRecursive']);
  }
  return copy;
}

function reorder(o: Json, keys: string[]): Json {
  const out: Json = {};
  for (const k of keys) if (k in o) out[k] = o[k];
  return out;
}

/** Replaces $D and $R in every argument. */
export function subst(args: string[], dir: string, root = '/nonexistent-data-root'): string[] {
  return args.map((a) => a.replaceAll('$D', dir).replaceAll('$R', root));
}

const v = (...specs: string[]) => specs.flatMap((s) => ['-v', s]);
const m = (...specs: string[]) => specs.flatMap((s) => ['--mount', s]);
const LONG = 'a'.repeat(255);

export const FLAG_CASES: FlagCase[] = [
  // --- -v: named volumes, anonymous volumes, binds
  { doc: 'named volume', args: v('data_volume:/var/lib/mysql'), ok: true },
  { doc: 'named volume, ro', args: v('data1:/data:ro'), ok: true },
  { doc: 'named volume, rw', args: v('data2:/data:rw'), ok: true },
  { doc: 'named volume, nocopy', args: v('data3:/data:nocopy'), ok: true },
  { doc: 'named volume, ro,nocopy', args: v('data4:/data:ro,nocopy'), ok: true },
  { doc: 'named volume, z', args: v('data5:/data:z'), ok: true },
  { doc: 'named volume, Z,ro', args: v('data6:/data:Z,ro'), ok: true },
  { doc: 'named volume with dots, dashes, underscores', args: v('my.vol-1_x:/data'), ok: true },
  { doc: 'named volume, propagation is for binds', args: v('data7:/data:shared'), ok: false, err: 'BindOptions' },
  { doc: 'one-letter source is a Windows drive to the CLI: an anonymous volume "a:/data"', args: v('a:/data'), ok: true },
  { doc: 'named volume, one-character name after a path', args: ['--volume-driver', 'local', ...v('1:/data')], ok: false, err: 'too short' },
  { doc: 'named volume, bad characters', args: v('my@vol:/data'), ok: false, err: 'invalid characters' },
  { doc: 'named volume starting with _', args: v('_vol:/data'), ok: false, err: 'invalid characters' },
  { doc: 'relative path without ./ is a volume name (invalid)', args: v('data/sub:/data'), ok: false, err: 'use absolute path' },
  { doc: '~ path is not expanded: an invalid name', args: v('~/data:/data'), ok: false, err: 'invalid characters' },
  { doc: './ path is made absolute by the CLI', args: v('./rel-dir:/data'), ok: true },
  { doc: '. alone is made absolute', args: v('.:/data'), ok: true },
  { doc: '../ path is made absolute', args: v('../x:/data'), ok: true },
  { doc: 'anonymous volume', args: v('/data'), ok: true },
  { doc: 'anonymous volume with trailing slash', args: v('/data/'), ok: true },
  { doc: 'anonymous volume at /', args: v('/'), ok: true },
  { doc: 'anonymous, relative path (two characters)', args: v('ab'), ok: true },
  { doc: 'anonymous, relative path (long)', args: v('relative/path'), ok: true },
  { doc: 'anonymous volume with a mode is a bind with target "ro"', args: v('/data:ro'), ok: false, err: "invalid volume specification: '/data:ro'" },
  { doc: 'anonymous volume with mode rw', args: v('/data:rw'), ok: false, err: 'invalid volume specification: \'/data:rw\'' },
  { doc: 'bind, existing source', args: v('$D:/data'), ok: true },
  { doc: 'bind, missing source (created at start)', args: v('$D/missing:/data'), ok: true },
  { doc: 'bind, file source', args: v('$D/file:/etc/x.conf:ro'), ok: true },
  { doc: 'bind ro', args: v('$D:/data:ro'), ok: true },
  { doc: 'bind rw,ro conflict', args: v('$D:/data:rw,ro'), ok: false, err: 'invalid mode: rw,ro' },
  { doc: 'bind ro,ro repeated', args: v('$D:/data:ro,ro'), ok: false, err: 'invalid mode' },
  { doc: 'bind z,Z conflict', args: v('$D:/data:z,Z'), ok: false, err: 'invalid mode: z,Z' },
  { doc: 'bind two propagations', args: v('$D:/data:shared,slave'), ok: false, err: 'invalid mode: shared,slave' },
  { doc: 'bind rshared', args: v('$D:/data:rshared'), ok: true },
  { doc: 'bind private,ro', args: v('$D:/data:private,ro'), ok: true },
  { doc: 'bind rslave,Z,rw', args: v('$D:/data:rslave,Z,rw'), ok: true },
  { doc: 'bind cached (consistency)', args: v('$D:/data:cached'), ok: true },
  { doc: 'bind delegated,ro', args: v('$D:/data:delegated,ro'), ok: true },
  { doc: 'bind consistent', args: v('$D:/data:consistent'), ok: true },
  { doc: 'bind nocopy is for volumes', args: v('$D:/data:nocopy'), ok: false, err: 'VolumeOptions' },
  { doc: 'bind unknown mode', args: v('$D:/data:rx'), ok: false, err: 'invalid mode: rx' },
  { doc: 'bind mode with trailing comma', args: v('$D:/data:ro,'), ok: false, err: 'invalid mode: ro,' },
  { doc: 'bind mode uppercase RO', args: v('$D:/data:RO'), ok: false, err: 'invalid mode: RO' },
  { doc: 'bind to /', args: v('$D:/'), ok: false, err: "destination can't be '/'" },
  { doc: 'bind to /.', args: v('$D:/.'), ok: false, err: 'destination can\'t be \'/\'' },
  { doc: 'bind to a relative target', args: v('$D:data'), ok: false, err: 'must be absolute' },
  { doc: 'bind target with .. cleaned', args: v('$D:/a/../data'), ok: true },
  { doc: 'bind target cleaning to /', args: v('$D:/a/..'), ok: false, err: 'destination can\'t be \'/\'' },
  { doc: 'empty spec', args: v(''), ok: false, err: 'invalid empty volume spec' },
  { doc: 'empty section', args: v('$D::/data'), ok: false, err: 'empty section between colons' },
  { doc: 'trailing colon', args: v('$D:/data:'), ok: false, err: 'empty section' },
  { doc: 'leading colon', args: v(':/data'), ok: false, err: 'empty section between colons' },
  { doc: 'too many colons', args: v('$D:/data:ro:x'), ok: false, err: 'too many colons' },
  { doc: 'named volume, target relative', args: v('vol1:data'), ok: false, err: 'must be absolute' },
  { doc: 'single character spec', args: v('x'), ok: true },
  { doc: 'named volume to /', args: v('vol2:/'), ok: false, err: 'destination can\'t be \'/\'' },
  { doc: 'windows drive letter path', args: v('c:/foo:/bar'), ok: false, err: 'invalid mode' },
  { doc: 'same -v twice is one mount', args: v('$D:/data', '$D:/data'), ok: true },
  { doc: 'two binds on one target', args: v('$D:/data', '$D/missing:/data'), ok: false, err: 'Duplicate mount point: /data' },
  { doc: 'bind and volume on one target', args: v('$D:/data', 'vol3:/data'), ok: false, err: 'Duplicate mount point' },
  { doc: 'targets equal after cleaning', args: v('$D:/data', 'vol4:/data/'), ok: false, err: 'Duplicate' },
  { doc: 'anonymous and bind on one target', args: v('/data', '$D:/data'), ok: true },
  { doc: 'two anonymous on one target', args: v('/data', '/data/'), ok: true },
  { doc: 'nested targets', args: v('$D:/data', 'vol5:/data/sub'), ok: true },
  { doc: '--volume-driver local', args: ['--volume-driver', 'local', ...v('vol6:/data')], ok: true },
  { doc: '--volume-driver unknown', args: ['--volume-driver', 'nosuchdriver', ...v('vol7:/data')], ok: false, err: 'plugin "nosuchdriver" not found', dockerErr: 'Unable to find image \'parity:1\' locally', engine: true },
  { doc: '--volume-driver unknown does not affect binds', args: ['--volume-driver', 'nosuchdriver', ...v('$D:/data')], ok: true },

  // --- --mount
  { doc: 'mount bind', args: m('type=bind,source=$D,target=/data'), ok: true },
  { doc: 'mount bind, src/dst', args: m('type=bind,src=$D,dst=/data'), ok: true },
  { doc: 'mount bind, destination', args: m('type=bind,src=$D,destination=/data'), ok: true },
  { doc: 'mount bind, missing source', args: m('type=bind,source=$D/missing,target=/data'), ok: false, err: 'bind source path does not exist' },
  { doc: 'mount bind, file source', args: m('type=bind,source=$D/file,target=/x.conf'), ok: true },
  { doc: 'mount bind, no source', args: m('type=bind,target=/data'), ok: false, err: 'field Source must not be empty' },
  { doc: 'mount bind, relative ./ source made absolute', args: m('type=bind,source=./,target=/data'), ok: true },
  { doc: 'mount bind, relative source without ./', args: m('type=bind,source=rel,target=/data'), ok: false, err: 'must be absolute' },
  { doc: 'mount bind, readonly', args: m('type=bind,source=$D,target=/data,readonly'), ok: true },
  { doc: 'mount bind, ro', args: m('type=bind,source=$D,target=/data,ro'), ok: true },
  { doc: 'mount bind, ro=true', args: m('type=bind,source=$D,target=/data,ro=true'), ok: true },
  { doc: 'mount bind, readonly=0', args: m('type=bind,source=$D,target=/data,readonly=0'), ok: true },
  { doc: 'mount bind, readonly=T', args: m('type=bind,source=$D,target=/data,readonly=T'), ok: true },
  { doc: 'mount bind, readonly=yes', args: m('type=bind,source=$D,target=/data,readonly=yes'), ok: false, err: 'invalid value for readonly: yes' },
  { doc: 'mount bind, readonly=', args: m('type=bind,source=$D,target=/data,readonly='), ok: false, err: 'invalid value for readonly: ' },
  { doc: 'mount bind, propagation rshared', args: m('type=bind,source=$D,target=/data,bind-propagation=rshared'), ok: true },
  { doc: 'mount bind, propagation upper case', args: m('type=bind,source=$D,target=/data,bind-propagation=SLAVE'), ok: true },
  { doc: 'mount bind, propagation invalid', args: m('type=bind,source=$D,target=/data,bind-propagation=bogus'), ok: false, err: 'invalid propagation mode: bogus' },
  { doc: 'mount bind, nonrecursive', args: m('type=bind,source=$D,target=/data,bind-nonrecursive'), ok: true },
  { doc: 'mount bind, nonrecursive=false', args: m('type=bind,source=$D,target=/data,bind-nonrecursive=false'), ok: true },
  { doc: 'mount bind, nonrecursive=maybe', args: m('type=bind,source=$D,target=/data,bind-nonrecursive=maybe'), ok: false, err: 'invalid value for bind-nonrecursive: maybe' },
  { doc: 'mount bind, recursive=disabled', args: m('type=bind,source=$D,target=/data,bind-recursive=disabled'), ok: true },
  { doc: 'mount bind, recursive=enabled', args: m('type=bind,source=$D,target=/data,bind-recursive=enabled'), ok: true },
  { doc: 'mount bind, recursive=writable needs readonly', args: m('type=bind,source=$D,target=/data,bind-recursive=writable'), ok: false, err: 'requires' },
  { doc: 'mount bind, recursive=writable,readonly', args: m('type=bind,source=$D,target=/data,bind-recursive=writable,readonly'), ok: true , deviation: 'writable-kept' },
  { doc: 'mount bind, recursive=readonly needs rprivate', args: m('type=bind,source=$D,target=/data,bind-recursive=readonly,readonly'), ok: false, err: 'rprivate' },
  { doc: 'mount bind, recursive=readonly (needs API 1.44: a 20.10 daemon has not)', args: m('type=bind,source=$D,target=/data,bind-recursive=readonly,readonly,bind-propagation=rprivate'), ok: false, err: 'API v1.44' },
  { doc: 'mount bind, recursive=bogus', args: m('type=bind,source=$D,target=/data,bind-recursive=bogus'), ok: false, err: 'invalid value for bind-recursive: bogus' },
  { doc: 'mount bind, recursive=Enabled (case matters)', args: m('type=bind,source=$D,target=/data,bind-recursive=Enabled'), ok: false, err: 'invalid value for bind-recursive: Enabled' },
  { doc: 'mount bind, consistency', args: m('type=bind,source=$D,target=/data,consistency=cached'), ok: true },
  { doc: 'mount bind, consistency anything', args: m('type=bind,source=$D,target=/data,consistency=whatever'), ok: true },
  { doc: 'mount bind with volume options', args: m('type=bind,source=$D,target=/data,volume-nocopy'), ok: false, err: "cannot mix 'volume-*'" },
  { doc: 'mount bind with tmpfs options', args: m('type=bind,source=$D,target=/data,tmpfs-size=1m'), ok: false, err: "cannot mix 'tmpfs-*'" },
  { doc: 'mount bind to /', args: m('type=bind,source=$D,target=/'), ok: false, err: 'destination can\'t be \'/\'' },
  { doc: 'mount bind relative target', args: m('type=bind,source=$D,target=data'), ok: false, err: '\'data\' mount path must be absolute' },
  { doc: 'mount TYPE=BIND upper case', args: m('TYPE=BIND,SOURCE=$D,TARGET=/data'), ok: true },
  { doc: 'mount volume, named', args: m('type=volume,source=mvol1,target=/data'), ok: true },
  { doc: 'mount default type is volume', args: m('source=mvol2,target=/data'), ok: true },
  { doc: 'mount volume, anonymous', args: m('type=volume,target=/data'), ok: true },
  { doc: 'mount volume, anonymous readonly', args: m('type=volume,target=/data,readonly'), ok: false, err: 'anonymous volumes' },
  { doc: 'mount volume, named readonly', args: m('type=volume,src=mvol3,target=/data,ro'), ok: true },
  { doc: 'mount volume, nocopy', args: m('type=volume,src=mvol4,target=/data,volume-nocopy'), ok: true },
  { doc: 'mount volume, nocopy=true', args: m('type=volume,src=mvol5,target=/data,volume-nocopy=true'), ok: true },
  { doc: 'mount volume, nocopy=nope', args: m('type=volume,src=mvol6,target=/data,volume-nocopy=nope'), ok: false, err: 'invalid value for volume-nocopy: nope' },
  { doc: 'mount volume, labels', args: m('type=volume,src=mvol7,target=/data,volume-label=a=b,volume-label=c'), ok: true },
  { doc: 'mount volume, driver local', args: m('type=volume,src=mvol8,target=/data,volume-driver=local'), ok: true },
  { doc: 'mount volume, driver unknown', args: m('type=volume,src=mvol9,target=/data,volume-driver=nosuch'), ok: false, err: 'plugin "nosuch" not found', dockerErr: 'Unable to find image \'parity:1\' locally', engine: true },
  { doc: 'mount volume, tmpfs options for local', args: m('type=volume,src=mvol10,target=/data,"volume-opt=o=size=10m",volume-opt=type=tmpfs,volume-opt=device=tmpfs'), ok: true },
  { doc: 'mount volume, bad local option', args: m('type=volume,src=mvol11,target=/data,volume-opt=foo=bar'), ok: false, err: 'invalid option: "foo"' , engine: true },
  { doc: 'mount volume, type without device', args: m('type=volume,src=mvol12,target=/data,volume-opt=type=tmpfs'), ok: false, err: 'missing required option' , engine: true },
  { doc: 'mount volume, subpath', args: m('type=volume,src=mvol13,target=/data,volume-subpath=sub'), ok: true , deviation: 'subpath-kept' },
  { doc: 'mount volume, invalid name', args: m('type=volume,src=bad/name,target=/data'), ok: false, err: 'invalid characters' , engine: true },
  { doc: 'mount volume, absolute source is not a name', args: m('type=volume,src=$D,target=/data'), ok: false, err: 'invalid characters' , engine: true },
  { doc: 'mount volume with bind options', args: m('type=volume,src=mvol14,target=/data,bind-propagation=shared'), ok: false, err: "cannot mix 'bind-*'" },
  { doc: 'mount tmpfs', args: m('type=tmpfs,target=/run'), ok: true },
  { doc: 'mount tmpfs with size and mode', args: m('type=tmpfs,target=/run,tmpfs-size=64m,tmpfs-mode=1770'), ok: true },
  { doc: 'mount tmpfs, size 1.5g', args: m('type=tmpfs,target=/run,tmpfs-size=1.5g'), ok: true },
  { doc: 'mount tmpfs, size 10KiB', args: m('type=tmpfs,target=/run,tmpfs-size=10KiB'), ok: true },
  { doc: 'mount tmpfs, size with space', args: m('type=tmpfs,target=/run,tmpfs-size=10 m'), ok: true },
  { doc: 'mount tmpfs, size bad suffix', args: m('type=tmpfs,target=/run,tmpfs-size=10x'), ok: false, err: 'invalid value for tmpfs-size' },
  { doc: 'mount tmpfs, size negative', args: m('type=tmpfs,target=/run,tmpfs-size=-1'), ok: false, err: 'invalid value for tmpfs-size: -1' },
  { doc: 'mount tmpfs, size empty', args: m('type=tmpfs,target=/run,tmpfs-size='), ok: false, err: 'invalid value for tmpfs-size: ' },
  { doc: 'mount tmpfs, mode not octal', args: m('type=tmpfs,target=/run,tmpfs-mode=0x1ff'), ok: false, err: 'invalid value for tmpfs-mode: 0x1ff' },
  { doc: 'mount tmpfs, mode 9', args: m('type=tmpfs,target=/run,tmpfs-mode=9'), ok: false, err: 'invalid value for tmpfs-mode: 9' },
  { doc: 'mount tmpfs, readonly', args: m('type=tmpfs,target=/run,readonly'), ok: true },
  { doc: 'mount tmpfs with source', args: m('type=tmpfs,source=x,target=/run'), ok: false, err: 'field Source must not be specified' },
  { doc: 'mount tmpfs to /', args: m('type=tmpfs,target=/'), ok: false, err: 'destination can\'t be \'/\'' },
  { doc: 'mount type unknown', args: m('type=nfs,target=/data'), ok: false, err: 'mount type unknown' },
  { doc: 'mount type=image (not in a 20.10 daemon)', args: m('type=image,source=busybox,target=/data'), ok: false, err: 'invalid mount config for type "image": mount type unknown' },
  { doc: 'mount image-subpath with volume', args: m('type=volume,target=/data,image-subpath=x'), ok: false, err: "cannot mix 'image-*'" },
  { doc: 'mount type empty', args: m('type=,target=/data'), ok: false, err: 'type is required' },
  { doc: 'mount no target', args: m('type=volume,source=mvol15'), ok: false, err: 'target is required' },
  { doc: 'mount empty', args: m(''), ok: false, err: 'EOF' },
  { doc: 'mount unknown key', args: m('type=bind,source=$D,target=/data,propagation=shared'), ok: false, err: "unexpected key 'propagation'" },
  { doc: 'mount bare unknown word', args: m('type=bind,source=$D,target=/data,rw'), ok: false, err: 'must be a key=value pair' },
  { doc: 'mount spaces after commas (the shell split it)', args: ['--mount', 'type=bind,', 'source=$D,', 'target=/data'], ok: false, err: 'spaces after the commas', dockerErr: `invalid argument "type=bind," for "--mount" flag: invalid field '' must be a key=value pair` },
  { doc: 'mount spaces after commas, quoted', args: m('type=bind, source=$D, target=/data'), ok: false, err: 'remove the space', dockerErr: "unexpected key ' source' in ' source=" },
  { doc: 'mount trailing comma', args: m('type=bind,source=$D,target=/data,'), ok: false, err: 'invalid field \'\' must be a key=value pair' },
  { doc: 'mount double comma', args: m('type=bind,,source=$D,target=/data'), ok: false, err: 'invalid field \'\' must be a key=value pair' },
  { doc: 'mount quoted field with comma', args: m('type=volume,"volume-label=a=b,c",source=mvol16,target=/data'), ok: true },
  { doc: 'mount quoted whole field', args: m('"type=bind","source=$D","target=/data"'), ok: true },
  { doc: 'mount doubled quote inside quotes', args: m('type=volume,source=mvol17,target=/data,"volume-label=x=a""b"'), ok: true },
  { doc: 'mount bare quote', args: m('type=bind,source=$D,target=/da"ta'), ok: false, err: 'bare "' },
  { doc: 'mount unterminated quote', args: m('type=bind,source=$D,"target=/data'), ok: false, err: 'extraneous or missing "' },
  { doc: 'mount text after closing quote', args: m('type=bind,source=$D,"target"=/data'), ok: false, err: 'extraneous or missing " in quoted-field' },
  { doc: 'mount key case-insensitive (Readonly)', args: m('type=bind,source=$D,target=/data,Readonly'), ok: true },
  { doc: 'two --mount on one target', args: m('type=bind,source=$D,target=/data', 'type=volume,target=/data'), ok: false, err: 'Duplicate mount point' },
  { doc: '-v and --mount on one target', args: [...v('$D:/data'), ...m('type=tmpfs,target=/data')], ok: false, err: 'Duplicate' },
  { doc: '--mount and anonymous -v on one target', args: [...v('/data'), ...m('type=tmpfs,target=/data')], ok: true },
  { doc: '--mount volume with --volume-driver unknown (Docker does not apply it to --mount)', args: ['--volume-driver', 'nosuch', ...m('type=volume,src=mvol18,target=/data')], ok: true, engine: true, deviation: 'volume-driver-for-mount' },

  // --- --tmpfs
  { doc: 'tmpfs', args: ['--tmpfs', '/run'], ok: true },
  { doc: 'tmpfs with options', args: ['--tmpfs', '/run:rw,noexec,nosuid,size=65536k'], ok: true },
  { doc: 'tmpfs with unknown options (checked at start)', args: ['--tmpfs', '/run:bogus'], ok: true },
  { doc: 'tmpfs empty options', args: ['--tmpfs', '/run:'], ok: true },
  { doc: 'tmpfs at /', args: ['--tmpfs', '/'], ok: false, err: "destination can't be '/'" },
  { doc: 'tmpfs relative', args: ['--tmpfs', 'run'], ok: false, err: 'must be absolute' },
  { doc: 'tmpfs empty', args: ['--tmpfs', ''], ok: false, err: 'invalid mount path: \'\' mount path must be absolute' },
  { doc: 'tmpfs and bind -v on one target', args: ['--tmpfs', '/data', ...v('$D:/data')], ok: false, err: 'Duplicate' },
  { doc: 'tmpfs and --mount on one target (the daemon does not check)', args: ['--tmpfs', '/data', ...m('type=volume,target=/data')], ok: true },
  { doc: 'tmpfs twice on one path', args: ['--tmpfs', '/data', '--tmpfs', '/data:size=1m'], ok: true },

  // --- --read-only with writable mounts
  { doc: '--read-only with a writable volume and tmpfs', args: ['--read-only', ...v('vol9:/data'), '--tmpfs', '/run'], ok: true },

  // --- forms of the flags the docker CLI's parser (pflag) accepts
  { doc: '-v=NAME:/path (shorthand, "=")', args: ['-v=data11:/data'], ok: true },
  { doc: '--volume=NAME:/path', args: ['--volume=data11:/data'], ok: true },
  { doc: '-vNAME:/path joined', args: ['-vdata11:/data'], ok: true },
  { doc: '--mount=… joined', args: ['--mount=type=volume,src=data11,dst=/data'], ok: true },
  { doc: '-v "=x:/data" as a separate argument keeps the "="', args: ['-v', '=x:/data'], ok: false, err: 'invalid characters' },
  { doc: '--tmpfs=/run joined', args: ['--tmpfs=/run'], ok: true },

  // --- Mode, as inspect reports it
  { doc: 'named volume, delegated', args: v('data12:/data:delegated'), ok: true },
  { doc: 'named volume, rw,nocopy,z', args: v('data12:/data:rw,nocopy,z'), ok: true },
  { doc: 'bind, ro,rshared,Z', args: v('$D:/data:ro,rshared,Z'), ok: true },
  { doc: 'mount volume, readonly,nocopy: Mode z', args: m('type=volume,src=mvol19,target=/data,readonly,volume-nocopy'), ok: true },

  // --- relative and drive-letter anonymous destinations (kept as written, mounted under /)
  { doc: 'anonymous, relative "data"', args: v('data'), ok: true },
  { doc: 'anonymous, "data/" cleaned', args: v('data/'), ok: true },
  { doc: 'anonymous, "."', args: v('.'), ok: true },
  { doc: 'anonymous, drive letter "C:\\data"', args: v('C:\\data'), ok: true },
  { doc: 'anonymous, "a:/data" (one letter, a colon)', args: v('b:/data/x/'), ok: true },

  // --- a volume over a file of the image is refused at create
  { doc: 'named volume over a file of the image', args: v('data13:/etc/x.conf'), ok: false, engine: true, err: 'cannot mount volume over existing file', dockerErr: 'is not directory' },
  { doc: 'anonymous volume over a file of the image', args: v('/etc/x.conf'), ok: false, engine: true, err: 'cannot mount volume over existing file' },
  { doc: 'mount anonymous volume over a file of the image', args: m('type=volume,target=/etc/x.conf'), ok: false, engine: true, err: 'cannot mount volume over existing file', dockerErr: 'is not directory' },
  { doc: 'volume under a file of the image', args: v('/etc/x.conf/sub'), ok: false, engine: true, err: 'not a directory' },
  { doc: 'bind over a file of the image is fine', args: v('$D:/etc/x.conf'), ok: true },
  { doc: 'volume over a folder of the image', args: v('data14:/var/lib/mysql'), ok: true },

  // --- binds of the data root: rslave by default, only rslave/rshared accepted
  { doc: 'bind of the data root: rslave', args: v('$R:/x'), ok: true, engine: true },
  { doc: 'bind of a folder that holds the data root: rslave', args: v('$R/..:/x:ro'), ok: true, engine: true },
  { doc: 'bind of a folder inside the data root: rslave', args: m('type=bind,src=$R/volumes,dst=/x'), ok: true, engine: true },
  { doc: 'bind of the data root, rshared', args: v('$R:/x:rshared'), ok: true, engine: true },
  { doc: 'bind of the data root, slave refused', args: v('$R/volumes:/x:slave'), ok: false, engine: true, err: 'must use either propagation mode "rslave" or "rshared"' },
  { doc: 'mount bind of the data root, private refused', args: m('type=bind,src=$R,dst=/x,bind-propagation=private'), ok: false, engine: true, err: 'must use either propagation mode "rslave" or "rshared"' },

  // --- volume names up to 255 characters
  { doc: 'volume name of 255 characters', args: v(`${LONG}:/data`), ok: true },
  { doc: 'volume name of 256 characters', args: v(`${LONG}b:/data`), ok: false, err: 'too long', dockerErr: 'file name too long' },

  // --- the image's VOLUMEs
  { doc: "image VOLUMEs alone", args: [], image: 'volumes', ok: true },
  { doc: "image VOLUME and -v on its path", args: v('/cache'), image: 'volumes', ok: true },
  { doc: "image VOLUME replaced by a bind", args: v('$D:/cache'), image: 'volumes', ok: true },
  { doc: "image VOLUME replaced by a named volume", args: v('data15:/var/lib/mysql:ro'), image: 'volumes', ok: true },
  { doc: "image VOLUME replaced by a --mount tmpfs", args: m('type=tmpfs,target=/cache'), image: 'volumes', ok: true },

  // --- --volumes-from: each mount's rw and propagation kept; :ro makes all read-only, :rw cannot make a read-only one writable
  { doc: '--volumes-from', ok: true, args: ['--volumes-from', 'vfsrc'],
    before: [['create', '--name', 'vfsrc', ...v('vfdata:/d1:ro', '$D:/d2:rslave', '/d3'), ...m('type=bind,source=$D,target=/d4,bind-propagation=shared', 'type=volume,src=vfdata2,target=/d6,volume-nocopy'), '--tmpfs', '/d5', 'parity:1', 'true']] },
  { doc: '--volumes-from :ro', args: ['--volumes-from', 'vfsrc:ro'], ok: true },
  { doc: '--volumes-from :rw', args: ['--volumes-from', 'vfsrc:rw'], ok: true },
  { doc: '--volumes-from :z', args: ['--volumes-from', 'vfsrc:z'], ok: true },
  { doc: '--volumes-from with an explicit mount on one of its targets', args: ['--volumes-from', 'vfsrc', ...v('$D:/d1')], ok: true },
  { doc: '--volumes-from a missing container', args: ['--volumes-from', 'nosuchcontainer'], ok: false, engine: true, err: 'No such container: nosuchcontainer' },
  { doc: '--volumes-from bad mode', args: ['--volumes-from', 'vfsrc:rslave'], ok: false, err: 'invalid mode: rslave' },
];
