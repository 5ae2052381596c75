// create.test.ts: the Engine API's container config → CreateOptions, table-driven:
// what the docker CLI, compose and SDKs send, and the malformed bodies that must be
// refused with a message naming the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createOptionsFromApi, apiMountToFlag } from '../../src/views/create.js';
import { parseMountFlag } from '../../src/mounts/parse.js';

test('container create bodies become CreateOptions', () => {
  const cases: Array<{ doc: string; body: unknown; name?: string; expect: Record<string, unknown> }> = [
    { doc: 'minimal', body: { Image: 'bb' }, expect: { image: 'bb', cmd: [], env: [], volumes: [], mounts: [], tmpfs: [] } },
    { doc: 'the docker CLI default network', body: { Image: 'bb', HostConfig: { NetworkMode: 'default' } }, expect: { network: undefined } },
    { doc: 'none', body: { Image: 'bb', HostConfig: { NetworkMode: 'none' } }, expect: { network: 'none' } },
    { doc: 'name from the query', body: { Image: 'bb' }, name: 'web', expect: { name: 'web' } },
    { doc: 'entrypoint [""] means none', body: { Image: 'bb', Entrypoint: [''] }, expect: { entrypoint: '' } },
    { doc: 'entrypoint array', body: { Image: 'bb', Entrypoint: ['sh', '-c'] }, expect: { entrypoint: ['sh', '-c'] } },
    { doc: 'entrypoint as a string (old clients)', body: { Image: 'bb', Entrypoint: '/bin/x' }, expect: { entrypoint: ['/bin/x'] } },
    { doc: 'binds, tmpfs, volumes-from, driver', body: { Image: 'bb', HostConfig: { Binds: ['v:/data', '/h:/c:ro'], Tmpfs: { '/run': 'size=1m', '/t': '' }, VolumesFrom: ['other:ro'], VolumeDriver: 'rexray/ebs' } },
      expect: { volumes: ['v:/data', '/h:/c:ro'], tmpfs: ['/run:size=1m', '/t'], volumesFrom: ['other:ro'], volumeDriver: 'rexray/ebs' } },
    { doc: 'tty, stdin, read-only, --rm', body: { Image: 'bb', Tty: true, OpenStdin: true, HostConfig: { ReadonlyRootfs: true, AutoRemove: true } }, expect: { tty: true, interactive: true, readOnly: true, autoRemove: true } },
    { doc: 'env, workdir, user, labels, hostname', body: { Image: 'bb', Env: ['A=1'], WorkingDir: '/w', User: '1:2', Labels: { a: 'b' }, Hostname: 'h' }, expect: { env: ['A=1'], workdir: '/w', user: '1:2', labels: { a: 'b' }, hostname: 'h' } },
  ];
  for (const c of cases) {
    const o = createOptionsFromApi(c.body, c.name) as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(c.expect)) assert.deepEqual(o[k], v, `${c.doc}: ${k}`);
  }
});

test('malformed create bodies are refused naming the field', () => {
  const cases: Array<[unknown, RegExp]> = [
    [null, /must be a JSON object/],
    [[], /must be a JSON object/],
    [{}, /Image is required/],
    [{ Image: 5 }, /Image must be a string/],
    [{ Image: 'bb', Cmd: 'x y' }, null as unknown as RegExp],
    [{ Image: 'bb', Env: [1] }, /Env must be an array of strings/],
    [{ Image: 'bb', Labels: { a: 1 } }, /Labels must be an object of strings/],
    [{ Image: 'bb', Tty: 'yes' }, /Tty must be a boolean/],
    [{ Image: 'bb', HostConfig: [] }, /HostConfig must be an object/],
    [{ Image: 'bb', HostConfig: { Mounts: {} } }, /HostConfig.Mounts must be an array/],
    [{ Image: 'bb', HostConfig: { Mounts: ['x'] } }, /HostConfig.Mounts\[0\] must be an object/],
    [{ Image: 'bb', HostConfig: { NetworkMode: 'bridge' } }, /network mode "bridge" is not supported/],
    [{ Image: 'bb', HostConfig: { NetworkMode: 'container:x' } }, /not supported/],
    [{ Image: 'bb', HostConfig: { Privileged: true } }, /privileged containers are not supported/],
    [{ Image: 'bb', HostConfig: { Runtime: 'kata' } }, /unknown or invalid runtime name: kata/],
    [{ Image: 'bb', HostConfig: { Mounts: [{ Type: 'npipe', Target: '/x' }] } }, /mount type "npipe" is not supported/],
  ];
  for (const [body, re] of cases) {
    if (re === null) { assert.deepEqual(createOptionsFromApi(body, undefined).cmd, ['x y'], 'a string Cmd is one argument'); continue; }
    assert.throws(() => createOptionsFromApi(body, undefined), (e: Error & { kind?: string }) => e.kind === 'InvalidArgument' && re.test(e.message), JSON.stringify(body));
  }
});

test('HostConfig.Mounts become --mount values the one mount parser accepts, commas and quotes included', () => {
  const cases: Array<{ m: Record<string, unknown>; flag: string; check: (s: ReturnType<typeof parseMountFlag>) => void }> = [
    { m: { Type: 'volume', Source: 'data', Target: '/data' }, flag: 'type=volume,source=data,target=/data', check: (s) => { assert.equal(s.type, 'volume'); assert.equal(s.source, 'data'); } },
    { m: { Type: 'bind', Source: '/tmp', Target: '/mnt', ReadOnly: true, BindOptions: { Propagation: 'rslave' } }, flag: 'type=bind,source=/tmp,target=/mnt,readonly,bind-propagation=rslave', check: (s) => { assert.equal(s.readOnly, true); assert.equal(s.type, 'bind'); } },
    { m: { Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1048576, Mode: 0o1777 } }, flag: 'type=tmpfs,target=/t,tmpfs-size=1048576,tmpfs-mode=1777', check: (s) => assert.equal(s.type, 'tmpfs') },
    { m: { Type: 'volume', Source: 'v', Target: '/a,b', VolumeOptions: { NoCopy: true, Labels: { k: 'v' }, DriverConfig: { Name: 'local', Options: { o: 'x,y' } } } },
      flag: 'type=volume,source=v,"target=/a,b",volume-nocopy=true,volume-label=k=v,volume-driver=local,"volume-opt=o=x,y"', check: (s) => assert.equal(s.target, '/a,b') },
  ];
  for (const c of cases) {
    const flag = apiMountToFlag(c.m, 0);
    assert.equal(flag, c.flag);
    c.check(parseMountFlag(flag, { checkBindSource: false }));
  }
});
