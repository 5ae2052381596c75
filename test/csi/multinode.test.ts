// Several nodes simulated on one machine: `stowage csi` servers with their own data
// roots, node ids and sockets (as the per-node DaemonSet runs them), and a real
// single-node GlusterFS server in its own network namespace (test/plugins/gluster.ts).
// Node-local volumes are made only by the node their topology names; a GlusterFS
// volume made through node 1's controller is staged and published on node 2 and
// node 1 at once, and everything is undone on both.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync, statSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { status } from '@grpc/grpc-js';
import { mountsUnder, requires, requiresRoot, assertNoMountsUnder } from '../helpers/env.js';
import { BIN, stowage } from '../helpers/cli.js';
import { glusterMissing, startGluster, type GlusterServer } from '../plugins/gluster.js';
import { startCsi, rejects, mountCap, MiB, type CsiHarness } from './harness.js';

const TOPO = 'topology.stowage.io/node';
const on = (node: string) => ({ segments: { [TOPO]: node } });

describe('stowage csi on several nodes', () => {
  it('node-local volumes: made only by the node the topology names; capacity and topology per node', async (t) => {
    if (!requiresRoot(t)) return;
    const n1 = await startCsi(t, ['--node-id', 'node-1']);
    const n2 = await startCsi(t, ['--node-id', 'node-2']);
    assert.deepEqual((await n2.client.call('Node', 'NodeGetInfo')).accessible_topology, on('node-2'));
    const caps = (await n2.client.call('Identity', 'GetPluginCapabilities')).capabilities;
    assert.ok(caps.some((c: any) => c.service?.type === 'VOLUME_ACCESSIBILITY_CONSTRAINTS'));

    // What the external-provisioner sends with --strict-topology for a pod scheduled on node-1.
    const req = { name: 'pvc-local-1', capacity_range: { required_bytes: 4 * MiB }, volume_capabilities: [mountCap()],
      accessibility_requirements: { requisite: [on('node-1')], preferred: [on('node-1')] } };
    await rejects(n2.client.call('Controller', 'CreateVolume', req), status.RESOURCE_EXHAUSTED, /node-2/);
    const v = (await n1.client.call('Controller', 'CreateVolume', req)).volume;
    assert.deepEqual(v.accessible_topology, [on('node-1')]);
    assert.match(v.volume_id, /^csi-[0-9a-f]{32}$/);
    assert.equal(await n2.cli.ok(['volume', 'ls', '-q']), '', 'node 2 made nothing');
    assert.equal(await n1.cli.ok(['volume', 'ls', '-q']), `${v.volume_id}\n`);
    // Preferred alone names a node too; no requirement at all: the node that is asked makes it.
    await rejects(n2.client.call('Controller', 'CreateVolume', { ...req, name: 'pvc-pref', accessibility_requirements: { preferred: [on('node-1')] } }), status.RESOURCE_EXHAUSTED);
    const free = (await n2.client.call('Controller', 'CreateVolume', { name: 'pvc-any', capacity_range: { required_bytes: MiB }, volume_capabilities: [mountCap()] })).volume;
    assert.deepEqual(free.accessible_topology, [on('node-2')]);

    // GetCapacity is each node's own data root, and nothing for another node's topology.
    for (const [n, name] of [[n1, 'node-1'], [n2, 'node-2']] as const) {
      const here = await n.client.call('Controller', 'GetCapacity', { volume_capabilities: [mountCap()], accessible_topology: on(name) });
      assert.ok(here.available_capacity > 0, name);
      const other = await n.client.call('Controller', 'GetCapacity', { volume_capabilities: [mountCap()], accessible_topology: on(name === 'node-1' ? 'node-2' : 'node-1') });
      assert.equal(other.available_capacity, 0, name);
    }
    // The data roots are different filesystems' folders: the figure is the data root's own (statfs).
    const s = spawnSync('df', ['-B1', '--output=avail', n1.root], { encoding: 'utf8' }).stdout.trim().split('\n')[1]!;
    const c1 = (await n1.client.call('Controller', 'GetCapacity', {})).available_capacity;
    assert.ok(Math.abs(c1 - Number(s)) < 64 * MiB, `${c1} vs df ${s}`);

    await n1.client.call('Controller', 'DeleteVolume', { volume_id: v.volume_id });
    await n2.client.call('Controller', 'DeleteVolume', { volume_id: free.volume_id });
  });

  it('a GlusterFS volume made through node 1 is used on node 2 and node 1 at once, then undone on both', async (t) => {
    if (!requiresRoot(t)) return;
    if (!requires(t, glusterMissing() === null, glusterMissing() ?? '')) return;
    const { gl, nodes } = await glusterNodes(t, 2);
    const [n1, n2] = nodes as [CsiHarness, CsiHarness];
    const params = { backend: 'glusterfs', servers: gl.addr, volume: gl.volume };
    const multi = mountCap('MULTI_NODE_MULTI_WRITER');
    const req = { name: 'pvc-shared', capacity_range: { required_bytes: 8 * MiB }, volume_capabilities: [multi], parameters: params,
      accessibility_requirements: { requisite: [on('node-1')], preferred: [on('node-1')] } };
    const v = (await n1.client.call('Controller', 'CreateVolume', req)).volume;
    const dir = v.volume_context['io.stowage.gluster.dir'];
    assert.equal(v.volume_id, `glusterfs/${gl.addr}/${gl.volume}/${dir}`);
    assert.deepEqual(v.accessible_topology, [], 'reachable from every node');
    assert.equal(v.capacity_bytes, 8 * MiB);
    assert.ok(statSync(join(gl.brick, 'volumes', dir)).isDirectory(), 'a directory on the brick');
    const meta = JSON.parse(readFileSync(join(gl.brick, '.stowage', `${dir}.json`), 'utf8'));
    assert.deepEqual(meta.csi, { name: 'pvc-shared', capacity: 8 * MiB });
    assert.deepEqual((await n1.client.call('Controller', 'CreateVolume', req)).volume, v, 'idempotent');
    // Another node's controller asked for the same name finds the same directory.
    assert.equal((await n2.client.call('Controller', 'CreateVolume', req)).volume.volume_id, v.volume_id);
    assert.deepEqual((await n2.client.call('Controller', 'ListVolumes')).entries.map((e: any) => e.volume.volume_id), [v.volume_id]);

    // Stage and publish on both nodes at once.
    const paths = (h: CsiHarness) => ({ stage: join(h.allowed, 'globalmount'), target: join(h.allowed, 'pod-a'), ro: join(h.allowed, 'pod-ro') });
    const use = async (h: CsiHarness) => {
      const p = paths(h);
      await h.client.call('Node', 'NodeStageVolume', { volume_id: v.volume_id, staging_target_path: p.stage, volume_capability: multi, volume_context: v.volume_context });
      await h.client.call('Node', 'NodePublishVolume', { volume_id: v.volume_id, staging_target_path: p.stage, target_path: p.target, volume_capability: multi, volume_context: v.volume_context });
    };
    await Promise.all([use(n2), use(n1)]);
    writeFileSync(join(paths(n2).target, 'from-node-2.txt'), 'written on node 2\n');
    assert.equal(readFileSync(join(paths(n1).target, 'from-node-2.txt'), 'utf8'), 'written on node 2\n');
    writeFileSync(join(paths(n1).target, 'from-node-1.txt'), 'written on node 1\n');
    assert.equal(readFileSync(join(paths(n2).target, 'from-node-1.txt'), 'utf8'), 'written on node 1\n');
    assert.equal(readFileSync(join(gl.brick, 'volumes', dir, 'from-node-1.txt'), 'utf8'), 'written on node 1\n', 'on the brick, in the volume\'s directory');
    // A second, read-only publish on node 1 (MULTI_NODE_* allows several targets).
    const ro = mountCap('MULTI_NODE_READER_ONLY');
    await n1.client.call('Node', 'NodePublishVolume', { volume_id: v.volume_id, staging_target_path: paths(n1).stage, target_path: paths(n1).ro, volume_capability: ro });
    assert.equal(readFileSync(join(paths(n1).ro, 'from-node-2.txt'), 'utf8'), 'written on node 2\n');
    assert.throws(() => writeFileSync(join(paths(n1).ro, 'nope'), 'x'), /EROFS/);
    // The pod sees its directory, not the whole Gluster volume.
    assert.equal(existsSync(join(paths(n2).target, '.stowage')), false);

    // The capacity is a quota: writing past it fails. Node.js does not name EDQUOT (122): the
    // error reads "UNKNOWN" or "Unknown system error -122", so the FUSE client's log says why.
    assert.throws(() => writeFileSync(join(paths(n2).target, 'big.bin'), Buffer.alloc(12 * MiB)));
    assert.match(readFileSync(join(n2.root, 'csi', 'gluster-logs', 'fuse.log'), 'utf8'), /errno=122\}, \{error=Disk quota exceeded/);
    // Gluster's quota is enforced from a cached view of usage, so a little past the limit
    // may land before the write is stopped (more on a fast, idle machine): the write was cut
    // short, not all 12 MiB reached the brick.
    const landed = statSync(join(gl.brick, 'volumes', dir, 'big.bin')).size;
    assert.ok(landed < 12 * MiB, `the quota stopped the write (${landed} bytes reached the brick)`);
    rmSync(join(paths(n2).target, 'big.bin'), { force: true });
    const stats = await n2.client.call('Node', 'NodeGetVolumeStats', { volume_id: v.volume_id, volume_path: paths(n2).target });
    assert.equal(stats.usage.find((u: any) => u.unit === 'BYTES').total, 8 * MiB);
    // Grown through node 2's controller (not the one that made it); node 1 sees the new quota.
    assert.deepEqual(await n2.client.call('Controller', 'ControllerExpandVolume', { volume_id: v.volume_id, capacity_range: { required_bytes: 16 * MiB } }),
      { capacity_bytes: 16 * MiB, node_expansion_required: false });
    const after = await n1.client.call('Node', 'NodeGetVolumeStats', { volume_id: v.volume_id, volume_path: paths(n1).target });
    assert.equal(after.usage.find((u: any) => u.unit === 'BYTES').total, 16 * MiB);

    // In use: node 1's controller refuses to delete it while node 1 has it staged.
    await rejects(n1.client.call('Controller', 'DeleteVolume', { volume_id: v.volume_id }), status.FAILED_PRECONDITION, /in use/);
    const published = (await n1.client.call('Controller', 'ControllerGetVolume', { volume_id: v.volume_id })).status.published_node_ids;
    assert.deepEqual(published, ['node-1']);

    // Undo on both, then delete.
    for (const h of [n1, n2]) {
      const p = paths(h);
      for (const target of [p.target, p.ro]) await h.client.call('Node', 'NodeUnpublishVolume', { volume_id: v.volume_id, target_path: target });
      await h.client.call('Node', 'NodeUnstageVolume', { volume_id: v.volume_id, staging_target_path: p.stage });
      await h.client.call('Node', 'NodeUnstageVolume', { volume_id: v.volume_id, staging_target_path: p.stage }); // repeat: OK
      assert.deepEqual(mountsUnder(h.dir), [], `nothing mounted on ${h.dir}`);
    }
    await n1.client.call('Controller', 'DeleteVolume', { volume_id: v.volume_id });
    await n1.client.call('Controller', 'DeleteVolume', { volume_id: v.volume_id }); // repeat: OK
    assert.equal(existsSync(join(gl.brick, 'volumes', dir)), false, 'the directory is gone from the brick');
    assert.equal(existsSync(join(gl.brick, '.stowage', `${dir}.json`)), false);
    await rejects(n2.client.call('Controller', 'ControllerGetVolume', { volume_id: v.volume_id }), status.NOT_FOUND);
    // Node 2's controller had recorded the same name: its delete of the (now gone) volume is fine too.
    await n2.client.call('Controller', 'DeleteVolume', { volume_id: v.volume_id });
    assert.deepEqual((await n2.client.call('Controller', 'ListVolumes')).entries, []);
  });

  it('volumes made through CSI and through the GlusterFS Docker plugin on one Gluster volume are both listed by `stowage volume ls`', async (t) => {
    if (!requiresRoot(t)) return;
    if (!requires(t, glusterMissing() === null, glusterMissing() ?? '')) return;
    const { gl, nodes, dir, first } = await glusterNodes(t, 1);
    const n1 = nodes[0]!;
    const csiVol = (await n1.client.call('Controller', 'CreateVolume', { name: 'pvc-both', capacity_range: { required_bytes: 4 * MiB }, volume_capabilities: [mountCap('MULTI_NODE_MULTI_WRITER')],
      parameters: { backend: 'glusterfs', servers: gl.addr, volume: gl.volume } })).volume;
    const csiDir = csiVol.volume_context['io.stowage.gluster.dir'];

    // The Docker plugin on the same Gluster volume, found by discovery under a test-only name.
    const sockDir = join(dir, 'plugins');
    mkdirSync(sockDir);
    const name = 'gtest';
    const pluginRoot = join(dir, 'plugin-root');
    const child = spawn(process.execPath, [BIN, 'plugin-glusterfs', '--socket', join(sockDir, `${name}.sock`), '--servers', gl.addr, '--volume', gl.volume, '--root', pluginRoot,
      ...gl.cliArgs.map((a) => `--gluster-arg=${a}`)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let perr = '';
    child.stderr!.on('data', (b: Buffer) => { perr += b; });
    first.push(async () => {
      if (child.exitCode === null) { child.kill('SIGTERM'); await new Promise((r) => child.on('close', r)); }
      for (const m of mountsUnder(pluginRoot).reverse()) spawnSync('umount', ['-l', m]);
    });
    for (let i = 0; i < 100 && !existsSync(join(sockDir, `${name}.sock`)); i++) await new Promise((r) => setTimeout(r, 50));
    const env = { STOWAGE_PLUGIN_SOCKET_DIRS: sockDir, STOWAGE_PLUGIN_SPEC_DIRS: '' };
    const saved = { ...process.env };
    Object.assign(process.env, env);
    t.after(() => { process.env.STOWAGE_PLUGIN_SOCKET_DIRS = saved.STOWAGE_PLUGIN_SOCKET_DIRS; process.env.STOWAGE_PLUGIN_SPEC_DIRS = saved.STOWAGE_PLUGIN_SPEC_DIRS; if (saved.STOWAGE_PLUGIN_SOCKET_DIRS === undefined) delete process.env.STOWAGE_PLUGIN_SOCKET_DIRS; if (saved.STOWAGE_PLUGIN_SPEC_DIRS === undefined) delete process.env.STOWAGE_PLUGIN_SPEC_DIRS; });
    const s = stowage(join(dir, 'docker-side'), 'vfs');
    await s.ok(['volume', 'create', '-d', name, '-o', 'size=4M', 'dockervol']);
    const ls = await s.ok(['volume', 'ls']);
    assert.match(ls, new RegExp(`${name}\\s+dockervol`));
    assert.match(ls, new RegExp(`${name}\\s+${csiDir}`), 'the CSI volume is listed through the plugin');
    const insp = await s.run(['volume', 'inspect', csiDir]);
    assert.equal(insp.code, 0, insp.stderr + perr);
    const [ins] = JSON.parse(insp.stdout);
    assert.equal(ins.Status.csi.name, 'pvc-both');
    // Docker-side users can take it up (Create is idempotent), but the plugin leaves its removal to the orchestrator.
    await s.ok(['volume', 'create', '-d', name, csiDir]);
    const rm = await s.run(['volume', 'rm', csiDir]);
    assert.equal(rm.code, 1);
    assert.match(rm.stderr, /made by stowage csi/);
    assert.ok(existsSync(join(gl.brick, 'volumes', csiDir)));
    await s.ok(['volume', 'rm', 'dockervol']);
    assert.equal(existsSync(join(gl.brick, 'volumes', 'dockervol')), false);
    await n1.client.call('Controller', 'DeleteVolume', { volume_id: csiVol.volume_id });
    assert.equal(existsSync(join(gl.brick, 'volumes', csiDir)), false);
  });

  it('GlusterFS crash leftovers: a dead controller\'s Gluster mount and half-made volume are undone at start', async (t) => {
    if (!requiresRoot(t)) return;
    if (!requires(t, glusterMissing() === null, glusterMissing() ?? '')) return;
    const dir = mkdtempSync('/tmp/stg-csi-crash-');
    let gl: GlusterServer | undefined;
    const servers: CsiHarness[] = [];
    t.after(async () => {
      for (const h of servers) { try { await h.stop(); } catch (err) { console.error('cleanup:', err); } }
      for (const m of mountsUnder(dir).reverse()) spawnSync('umount', ['-l', m]);
      gl?.stop();
      assertNoMountsUnder(dir);
      rmSync(dir, { recursive: true, force: true });
    });
    gl = startGluster(join(dir, 'gluster'), 'stowagecrash', { quota: true });
    const node = join(dir, 'node');
    mkdirSync(node);
    const flags = ['--node-id', 'node-1', ...gl.cliArgs.map((a) => `--gluster-arg=${a}`)];
    const params = { backend: 'glusterfs', servers: gl.addr, volume: gl.volume };
    const first = await startCsi(null, flags, { dir: node });
    servers.push(first);
    const kept = (await first.client.call('Controller', 'CreateVolume', { name: 'pvc-kept', parameters: params, capacity_range: { required_bytes: MiB }, volume_capabilities: [mountCap('MULTI_NODE_MULTI_WRITER')] })).volume;
    await first.stop();

    // What a controller killed inside CreateVolume leaves: its row 'creating' with a dead
    // owner, its own mount of the Gluster volume, and a directory without metadata.
    const { createHash } = await import('node:crypto');
    const halfDir = `csi-${createHash('sha256').update('pvc-half').digest('hex').slice(0, 32)}`;
    const halfId = `glusterfs/${gl.addr}/${gl.volume}/${halfDir}`;
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(join(first.root, 'stowage.db'));
    db.prepare(`INSERT INTO csi_volumes (id, name, volume, capacity, access_type, parameters, source_kind, source_id, state, owner, created_at)
      VALUES (?, 'pvc-half', NULL, ?, 'mount', ?, '', '', 'creating', '999999999:1', ?)`).run(halfId, MiB, JSON.stringify(params), Date.now());
    db.close();
    const leftover = join(first.root, 'csi', 'gluster', '999999999-1-1');
    mkdirSync(leftover, { recursive: true });
    const m = spawnSync('mount', ['-t', 'glusterfs', '-o', `log-file=${join(dir, 'leftover-fuse.log')}`, `${gl.addr}:/${gl.volume}`, leftover], { encoding: 'utf8' });
    assert.equal(m.status, 0, m.stderr);
    mkdirSync(join(leftover, 'volumes', halfDir), { recursive: true });
    assert.ok(existsSync(join(gl.brick, 'volumes', halfDir)));

    const again = await startCsi(null, flags, { dir: node });
    servers.push(again);
    assert.deepEqual(mountsUnder(join(first.root, 'csi', 'gluster')), [], 'the dead controller\'s mount is gone');
    assert.equal(existsSync(leftover), false);
    assert.equal(existsSync(join(gl.brick, 'volumes', halfDir)), false, 'the half-made directory is gone');
    assert.deepEqual((await again.client.call('Controller', 'ListVolumes')).entries.map((e: any) => e.volume.volume_id), [kept.volume_id], 'only the finished volume remains');
    assert.ok(existsSync(join(gl.brick, 'volumes', kept.volume_context['io.stowage.gluster.dir'])));
    await again.client.call('Controller', 'DeleteVolume', { volume_id: kept.volume_id });
  });
});

/**
 * A GlusterFS server (quota on) and n `stowage csi` servers node-1…n, each with its own
 * data root, all stopped and removed after the test (servers first, then Gluster).
 */
export async function glusterNodes(t: import('node:test').TestContext, n: number): Promise<{ gl: GlusterServer; nodes: CsiHarness[]; dir: string; first: Array<() => Promise<void>> }> {
  const dir = mkdtempSync('/tmp/stg-csi-');
  let gl: GlusterServer | undefined;
  const nodes: CsiHarness[] = [];
  /** Clean-ups to run before the servers and Gluster stop (clients of the Gluster volume). */
  const first: Array<() => Promise<void>> = [];
  t.after(async () => {
    for (const f of first.reverse()) { try { await f(); } catch (err) { console.error('cleanup:', err); } }
    for (const h of nodes) { try { await h.stop(); } catch (err) { console.error('cleanup:', err); } }
    gl?.stop();
    assertNoMountsUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  });
  gl = startGluster(join(dir, 'gluster'), 'stowagecsi', { quota: true });
  for (let i = 1; i <= n; i++) nodes.push(await startCsi(null, ['--node-id', `node-${i}`, ...gl.cliArgs.map((a) => `--gluster-arg=${a}`)]));
  return { gl, nodes, dir, first };
}
