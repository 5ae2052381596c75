// dockerode.test.ts: a programmatic client (dockerode, docker-modem) against
// `stowage serve`: version, images, volume and container lifecycle, logs, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import Docker from 'dockerode';
import { requiresRoot } from '../helpers/env.js';
import { startServe, testImageArchive } from './serve.js';

test('dockerode: version, load, images, volumes, create/start/wait/logs/inspect/remove, errors', async (t) => {
  if (!requiresRoot(t)) return;
  const s = await startServe(t);
  const docker = new Docker({ socketPath: s.socket });
  const v = await docker.version();
  assert.equal(v.ApiVersion, '1.41');
  assert.equal((await docker.ping()).toString(), 'OK');
  const img = await testImageArchive(s.dir);
  const loadStream = await docker.loadImage(createReadStream(img.path));
  const loadOut = await new Promise<string>((resolve, reject) => {
    let text = '';
    loadStream.on('data', (b: Buffer) => (text += b.toString()));
    loadStream.on('end', () => resolve(text));
    loadStream.on('error', reject);
  });
  assert.match(loadOut, /Loaded image: bb:latest/);
  const images = await docker.listImages();
  assert.ok(images.some((i) => i.Id === img.imageId && i.RepoTags?.includes('bb:latest')));
  assert.equal((await docker.getImage('bb').inspect()).Id, img.imageId);

  const vol = await docker.createVolume({ Name: 'dvol', Labels: { who: 'dockerode' } });
  assert.equal((vol as unknown as { name: string }).name, 'dvol');
  const vols = (await docker.listVolumes({ filters: { label: ['who=dockerode'] } } as never)) as unknown as { Volumes: Array<{ Name: string }> };
  assert.deepEqual(vols.Volumes.map((x) => x.Name), ['dvol']);

  const c = await docker.createContainer({
    Image: 'bb', name: 'dc1', Cmd: ['sh', '-c', 'echo out; echo err >&2; echo vol > /v/file; exit 4'], Env: ['A=1'],
    Labels: { app: 'test' }, HostConfig: { Mounts: [{ Type: 'volume', Source: 'dvol', Target: '/v' }], NetworkMode: 'none' },
  });
  await c.start();
  const r = await c.wait();
  assert.equal(r.StatusCode, 4);
  const info = await c.inspect();
  assert.equal(info.State.ExitCode, 4);
  assert.equal(info.Name, '/dc1');
  assert.equal(info.Config.Labels.app, 'test');
  assert.equal(info.Mounts[0]!.Name, 'dvol');
  const logs = await c.logs({ stdout: true, stderr: true, follow: false });
  const out: string[] = [];
  const err: string[] = [];
  // Multiplexed frames: demux them as the SDK does.
  let buf = logs as Buffer;
  while (buf.length >= 8) {
    const n = buf.readUInt32BE(4);
    (buf[0] === 1 ? out : err).push(buf.subarray(8, 8 + n).toString());
    buf = buf.subarray(8 + n);
  }
  assert.deepEqual(out, ['out\n']);
  assert.deepEqual(err, ['err\n']);
  const list = await docker.listContainers({ all: true, filters: { label: ['app=test'] } });
  assert.equal(list.length, 1);
  assert.equal(list[0]!.Names[0], '/dc1');
  assert.equal(list[0]!.State, 'exited');
  await c.remove();
  await assert.rejects(c.inspect(), (e: { statusCode?: number; json?: { message?: string } }) => e.statusCode === 404 && /No such container/.test(e.json?.message ?? ''));
  await assert.rejects(docker.getImage('nope:1').inspect(), (e: { statusCode?: number }) => e.statusCode === 404);
  await docker.getVolume('dvol').remove();
  const nets = await docker.listNetworks();
  assert.deepEqual(nets.map((n) => n.Name).sort(), ['host', 'none']);
});
