// volume-plugins.test.ts: a Docker volume plugin (the SDK's memory plugin on a socket
// that discovery finds) used through the Engine API: GET /plugins, the docker CLI's
// volume create -d, run -v with it, volume ls/inspect/rm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { requires, requiresRoot, cleanupFirst } from '../helpers/env.js';
import { dockerMissing } from '../helpers/dockerd.js';
import { startServe, testImageArchive } from './serve.js';
import { memoryPlugin, type Call } from '../plugins/fake.js';
import { servePlugin } from '../../src/plugins/sdk.js';

test('volume plugins through the API: GET /plugins, volume create -d, run -v, ls, inspect, rm', async (t) => {
  if (!requiresRoot(t)) return;
  if (!requires(t, dockerMissing() === null, dockerMissing() ?? '')) return;
  const { tempDir } = await import('../helpers/env.js');
  const dir = tempDir(t, 'stowage-api-plugin-');
  const sockets = join(dir, 'plugins');
  const data = join(dir, 'plugin-data');
  mkdirSync(sockets, { recursive: true });
  mkdirSync(data, { recursive: true });
  const calls: Call[] = [];
  const plugin = await servePlugin(memoryPlugin(data, calls), { socket: join(sockets, 'memplug.sock') });
  cleanupFirst(t, () => plugin.close());
  const env = { STOWAGE_PLUGIN_SOCKET_DIRS: sockets, STOWAGE_PLUGIN_SPEC_DIRS: join(dir, 'no-specs') };
  const s = await startServe(t, { dir, env });
  await s.dockerOk(['load', '-i', (await testImageArchive(s.dir)).path]);

  const plugins = (await s.http('GET', '/v1.41/plugins')).json();
  assert.equal(plugins.length, 1);
  assert.equal(plugins[0].Name, 'memplug');
  assert.equal(plugins[0].Enabled, true);
  assert.deepEqual(plugins[0].Config.Interface.Types.map((x: { Capability: string }) => x.Capability), ['volumedriver']);

  assert.equal((await s.dockerOk(['volume', 'create', '-d', 'memplug', '-o', 'size=1', 'pv'])).trim(), 'pv');
  assert.ok(calls.some((c) => c.method === 'Create' && c.body.Name === 'pv'));
  assert.match(await s.dockerOk(['volume', 'ls']), /memplug\s+pv/);
  const inspect = JSON.parse(await s.dockerOk(['volume', 'inspect', 'pv']))[0];
  assert.equal(inspect.Driver, 'memplug');
  assert.equal(inspect.Scope, 'global');
  const id = (await s.dockerOk(['run', '-d', '-v', 'pv:/data', 'bb', 'sh', '-c', 'echo via-plugin > /data/f'])).trim();
  assert.equal((await s.dockerOk(['wait', id])).trim(), '0');
  assert.equal(readFileSync(join(data, 'pv', 'f'), 'utf8'), 'via-plugin\n');
  assert.ok(calls.some((c) => c.method === 'Mount'));
  assert.ok(calls.some((c) => c.method === 'Unmount'), 'released when the container stopped');
  await s.dockerOk(['rm', id]);
  await s.dockerOk(['volume', 'rm', 'pv']);
  assert.ok(calls.some((c) => c.method === 'Remove' && c.body.Name === 'pv'));
  const missing = await s.docker(['volume', 'create', '-d', 'nosuchplug', 'x']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /plugin "nosuchplug" not found/);
});

test('CSI volumes through the API: volume create -d csi, run -v, rm', async (t) => {
  if (!requiresRoot(t)) return;
  if (!requires(t, dockerMissing() === null, dockerMissing() ?? '')) return;
  const { tempDir } = await import('../helpers/env.js');
  const { startCsi } = await import('../csi/harness.js');
  const dir = tempDir(t, 'stowage-api-csi-');
  // The API server's data root must be allowed to publish into (its csi/targets folder).
  const csi = await startCsi(t, ['--allowed-dir', join(dir, 'root', 'csi', 'targets')]);
  cleanupFirst(t, () => csi.stop());
  const s = await startServe(t, { dir });
  await s.dockerOk(['load', '-i', (await testImageArchive(s.dir)).path]);
  assert.equal((await s.dockerOk(['volume', 'create', '-d', 'csi', '-o', `endpoint=unix://${csi.socket}`, '-o', 'size=8m', 'csivol'])).trim(), 'csivol');
  assert.match(await s.dockerOk(['volume', 'ls']), /csi\s+csivol/);
  const id = (await s.dockerOk(['run', '-d', '-v', 'csivol:/data', 'bb', 'sh', '-c', 'echo through-csi > /data/f; cat /data/f'])).trim();
  assert.equal((await s.dockerOk(['wait', id])).trim(), '0');
  assert.equal(await s.dockerOk(['logs', id]), 'through-csi\n');
  await s.dockerOk(['rm', id]);
  await s.dockerOk(['volume', 'rm', 'csivol']);
  assert.equal(await csi.cli.ok(['volume', 'ls', '-q']), '', 'DeleteVolume removed the CSI side');
});
