// The mount flag parsers, table-driven ({doc, input, expect}): every case of
// cases.ts (whose verdicts the side-by-side test checks against Docker), the shape
// of the MountSpecs produced, the hints, and a fuzz-style loop.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/env.js';
import { FLAG_CASES, subst } from './cases.js';
import { type MountFlags, parseMountFlag, parseVolumeFlag, parseTmpfsFlag, parseVolumesFrom, parseContainerMounts, sortForMounting, ramInBytes } from '../../src/mounts/index.js';
import { readCsvRecord } from '../../src/mounts/gostr.js';
import { isInvalidArgument } from '../../src/errors.js';

function fixture(t: import('node:test').TestContext): string {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'file'), 'x');
  mkdirSync(join(dir, 'cwd'));
  return dir;
}

/** The flags of a case in the plain "-v X --mount Y" form, or null for forms only the CLI reads (-v=X, --volumes-from …). */
function flagsOf(args: string[], cwd: string): MountFlags | null {
  const f = { volumes: [] as string[], mounts: [] as string[], tmpfs: [] as string[], cwd } as MountFlags & { volumes: string[]; mounts: string[]; tmpfs: string[] };
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i]!, args[i + 1]];
    if (value === undefined) return null;
    if (flag === '-v') f.volumes.push(value);
    else if (flag === '--mount') f.mounts.push(value);
    else if (flag === '--tmpfs') f.tmpfs.push(value);
    else if (flag === '--volume-driver') f.volumeDriver = value;
    else if (flag !== '--read-only') return null;
    if (flag === '--read-only') i--;
  }
  return f;
}

describe('mount flags: the case table', () => {
  it('the parser accepts and rejects each case it decides as Docker does (the side-by-side test checks the table against Docker)', (t) => {
    const dir = fixture(t);
    const wrong: string[] = [];
    let checked = 0;
    for (const c of FLAG_CASES) {
      if (c.engine || c.image === 'volumes') continue;
      const flags = flagsOf(subst(c.args, dir), join(dir, 'cwd'));
      if (!flags) continue;
      checked++;
      let error: string | undefined;
      try { parseContainerMounts(flags); } catch (err) { error = (err as Error).message; }
      if ((error === undefined) !== c.ok) wrong.push(`${c.doc}: ${c.args.join(' ')}: expected ${c.ok ? 'accept' : 'reject'}, got ${error === undefined ? 'accept' : `reject (${error})`}`);
      else if (error !== undefined && c.err && !(typeof c.err === 'string' ? error.includes(c.err) : c.err.test(error))) wrong.push(`${c.doc}: message ${JSON.stringify(error)} lacks ${String(c.err)}`);
    }
    assert.deepEqual(wrong, []);
    assert.ok(checked > 150, `only ${checked} cases checked`);
    assert.ok(!existsSync(join(dir, 'missing')), 'parsing must never create a host path');
  });
});

describe('MountSpec shapes', () => {
  const cases: Array<{ doc: string; input: () => unknown; expect: unknown }> = [
    { doc: '-v named volume ro,nocopy', input: () => parseVolumeFlag('data:/var/lib/mysql/:ro,nocopy'),
      expect: { type: 'volume', source: 'data', target: '/var/lib/mysql', readOnly: true, origin: 'volume-flag', spec: '-v data:/var/lib/mysql/:ro,nocopy', mode: 'ro,nocopy',
        volume: { driver: 'local', noCopy: true, labels: {}, options: {}, subpath: '' } } },
    { doc: '-v bind with propagation and label', input: () => parseVolumeFlag('/data//x/:/y:rslave,Z'),
      expect: { type: 'bind', source: '/data/x', target: '/y', readOnly: false, origin: 'volume-flag', spec: '-v /data//x/:/y:rslave,Z',
        bind: { propagation: 'rslave', nonRecursive: false, readOnlyNonRecursive: false, readOnlyForceRecursive: false, createHostPath: true, propagationGiven: true }, relabel: 'Z', mode: 'rslave,Z' } },
    { doc: '-v ./rel made absolute against cwd', input: () => (parseVolumeFlag('./rel:/x', { cwd: '/home/u' }) as { source: string }).source, expect: '/home/u/rel' },
    { doc: '-v anonymous', input: () => parseVolumeFlag('/cache/'),
      expect: { type: 'volume', source: '', target: '/cache', readOnly: false, origin: 'volume-flag', spec: '-v /cache/', volume: { driver: 'local', noCopy: false, labels: {}, options: {}, subpath: '' } } },
    { doc: '-v with --volume-driver', input: () => (parseVolumeFlag('v1:/x', { volumeDriver: 'other' }) as { volume: { driver: string } }).volume.driver, expect: 'other' },
    { doc: '--mount bind defaults rprivate, no host path creation', input: () => parseMountFlag('type=bind,src=/,dst=/host,ro', { checkBindSource: false }),
      expect: { type: 'bind', source: '/', target: '/host', readOnly: true, origin: 'mount-flag', spec: '--mount type=bind,src=/,dst=/host,ro',
        bind: { propagation: 'rprivate', nonRecursive: false, readOnlyNonRecursive: false, readOnlyForceRecursive: false, createHostPath: false } } },
    { doc: '--mount volume with everything', input: () => parseMountFlag('type=volume,src=v1,dst=/d,volume-driver=local,volume-label=a=1,volume-label=b,volume-opt=type=tmpfs,volume-opt=device=tmpfs,"volume-opt=o=size=1m,uid=1",volume-nocopy,volume-subpath=sub'),
      expect: { type: 'volume', source: 'v1', target: '/d', readOnly: false, origin: 'mount-flag', spec: '--mount type=volume,src=v1,dst=/d,volume-driver=local,volume-label=a=1,volume-label=b,volume-opt=type=tmpfs,volume-opt=device=tmpfs,"volume-opt=o=size=1m,uid=1",volume-nocopy,volume-subpath=sub',
        volume: { driver: 'local', noCopy: true, labels: { a: '1', b: '' }, options: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m,uid=1' }, subpath: 'sub' } } },
    { doc: '--mount tmpfs size and mode', input: () => parseMountFlag('type=tmpfs,dst=/run,tmpfs-size=64m,tmpfs-mode=1770'),
      expect: { type: 'tmpfs', source: '', target: '/run', readOnly: false, origin: 'mount-flag', spec: '--mount type=tmpfs,dst=/run,tmpfs-size=64m,tmpfs-mode=1770', tmpfs: { sizeBytes: 64 * 2 ** 20, mode: 0o1770, options: [] } } },
    { doc: '--tmpfs with options', input: () => parseTmpfsFlag('/run/:ro,size=1m'),
      expect: { type: 'tmpfs', source: '', target: '/run', readOnly: true, origin: 'tmpfs-flag', spec: '--tmpfs /run/:ro,size=1m', tmpfs: { sizeBytes: 0, mode: 0, options: ['ro', 'size=1m'] } } },
    { doc: '--volumes-from with ro', input: () => parseVolumesFrom('web:ro'), expect: { container: 'web', mode: 'ro' } },
    { doc: 'RAMInBytes', input: () => ['1', '1k', '1KiB', '1.5m', '2 g', '1b', '1e3', '.5k'].map(ramInBytes), expect: [1, 1024, 1024, 1572864, 2 * 2 ** 30, 1, 1000, 512] },
    { doc: 'CSV record', input: () => readCsvRecord('a,"b,c","d""e",,f'), expect: ['a', 'b,c', 'd"e', '', 'f'] },
    { doc: 'CSV: leading empty lines skipped, later lines ignored', input: () => readCsvRecord('\n\na,b\nc'), expect: ['a', 'b'] },
    { doc: 'CSV: quoted newline', input: () => readCsvRecord('"a\nb",c'), expect: ['a\nb', 'c'] },
    { doc: 'image VOLUME gives way to a bind; sorted parents first', input: () => sortForMounting(parseContainerMounts({ volumes: ['/h:/data/sub', '/h2:/data'], imageVolumes: ['/data', '/cache'] })).map((m) => `${m.type}:${m.target}`),
      expect: ['bind:/data', 'volume:/cache', 'bind:/data/sub'] },
  ];
  for (const c of cases) it(c.doc, () => assert.deepEqual(c.input(), c.expect));
});

describe('hints where users go wrong', () => {
  const hints: Array<{ doc: string; input: () => unknown; expect: RegExp }> = [
    { doc: 'spaces after commas split the argument', input: () => parseMountFlag('type=bind,'), expect: /invalid field '' must be a key=value pair\nhint: .*spaces after the commas.*shell split/ },
    { doc: 'space inside a quoted spec', input: () => parseMountFlag('type=bind, source=/data,target=/x'), expect: /unexpected key ' source' in ' source=\/data'\nhint: remove the space/ },
    { doc: 'propagation key', input: () => parseMountFlag('type=bind,source=/,target=/x,propagation=shared'), expect: /did you mean bind-propagation\?/ },
    { doc: 'relative -v source is a volume name', input: () => parseVolumeFlag('data/mysql:/var/lib/mysql'), expect: /create data\/mysql: "data\/mysql" includes invalid characters.*\nhint: .*absolute path.*\$PWD\/data\/mysql/ },
    { doc: 'rw,ro conflict', input: () => parseVolumeFlag('/host:/ctr:rw,ro'), expect: /invalid mode: rw,ro\nhint: 'rw' and 'ro' conflict/ },
    { doc: 'mode on an anonymous volume', input: () => parseVolumeFlag('/data:ro'), expect: /invalid volume specification: '\/data:ro'\nhint: "ro" is a mode.*-v \/data:\/data:ro/ },
    { doc: '--mount bind does not create the source', input: () => parseMountFlag('type=bind,source=/nonexistent/stowage-x,target=/x'), expect: /bind source path does not exist: \/nonexistent\/stowage-x \(in --mount .*\)\nhint: .*mkdir -p/ },
  ];
  for (const h of hints) {
    it(h.doc, () => {
      assert.throws(h.input as () => void, (err: Error) => isInvalidArgument(err) && h.expect.test(err.message));
    });
  }
});

describe('fuzz-style loop', () => {
  it('random specs never crash the parsers: a MountSpec or an InvalidArgument, and specs are well-formed', () => {
    // A deterministic xorshift PRNG: the same inputs on every run.
    let seed = 0x9e3779b9;
    const rnd = (n: number) => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) % n; };
    const atoms = ['type=', 'bind', 'volume', 'tmpfs', 'src=', 'source=', 'dst=', 'target=', '/', '/data', 'vol', ':', ',', '"', '=', 'ro', 'rw',
      'readonly', 'volume-opt=', 'volume-label=', 'bind-propagation=', 'rshared', 'tmpfs-size=', '64m', 'tmpfs-mode=', '1777', 'nocopy', 'z',
      ' ', '\n', '..', '.', '~', 'é', '\\', 'bind-recursive=', 'readonly', 'x'];
    for (let i = 0; i < 20_000; i++) {
      let s = '';
      for (let k = rnd(12); k >= 0; k--) s += atoms[rnd(atoms.length)];
      for (const parse of [() => parseMountFlag(s, { checkBindSource: false }), () => parseVolumeFlag(s), () => parseTmpfsFlag(s)]) {
        let spec;
        try {
          spec = parse();
        } catch (err) {
          assert.ok(isInvalidArgument(err), `${JSON.stringify(s)}: ${(err as Error).stack}`);
          continue;
        }
        // Docker accepts an anonymous -v volume at "/" (or ".") at create: the one target that may be "/".
        const anonymous = spec.type === 'volume' && spec.source === '';
        assert.ok(spec.target.startsWith('/') && (spec.target !== '/' || anonymous), `target of ${JSON.stringify(s)}: ${spec.target}`);
        if (spec.type === 'bind') assert.ok(spec.source.startsWith('/'), `bind source of ${JSON.stringify(s)}`);
      }
    }
  });
});
