// `stowage volume …` as a user runs it: create/ls/inspect/rm/prune with Docker's
// output and exit codes, filters, options, and crash safety (SIGKILL during create
// and rm, then `system check`).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, requiresRoot, mountsUnder } from '../helpers/env.js';
import { stowage, type Stowage } from '../helpers/cli.js';

describe('stowage volume', () => {
  it('create, ls, inspect, rm, prune with Docker\'s output and exit codes', async (t) => {
    if (!requiresRoot(t)) return;
    const dir = tempDir(t);
    const s = stowage(join(dir, 'root'), 'vfs');
    assert.equal(await s.ok(['volume', 'create', 'data_volume']), 'data_volume\n');
    assert.ok(existsSync(join(s.root, 'volumes', 'data_volume', '_data')));
    assert.equal(await s.ok(['volume', 'create', '--label', 'env=prod', '--label', 'tier', 'web2']), 'web2\n');
    assert.equal(await s.ok(['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=100m,uid=1000', 'web10']), 'web10\n');
    const anon = (await s.ok(['volume', 'create'])).trim();
    assert.match(anon, /^[0-9a-f]{64}$/);
    // Natural order, as Docker's CLI sorts (web2 before web10).
    const order = [anon, 'data_volume', 'web2', 'web10'].sort((a, b) => a.localeCompare(b, 'en', { numeric: true, sensitivity: 'variant' }));
    assert.equal(await s.ok(['volume', 'ls']), `DRIVER    VOLUME NAME\n${order.map((n) => `local     ${n}\n`).join('')}`);
    assert.equal(await s.ok(['volume', 'ls', '-q', '--filter', 'label=env=prod']), 'web2\n');
    assert.equal(await s.ok(['volume', 'ls', '-q', '--filter', 'name=web', '--filter', 'driver=local']), 'web2\nweb10\n');
    assert.equal(await s.ok(['volume', 'ls', '-q', '--filter', 'dangling=true', '--filter', 'name=data']), 'data_volume\n');
    assert.equal(await s.ok(['volume', 'ls', '--format', '{{.Name}} {{.Labels}}', '--filter', 'name=web2']), 'web2 env=prod,tier=\n');
    const [ins] = JSON.parse(await s.ok(['volume', 'inspect', 'web10']));
    assert.deepEqual({ ...ins, CreatedAt: 'x' }, {
      CreatedAt: 'x', Driver: 'local', Labels: null, Mountpoint: join(s.root, 'volumes', 'web10', '_data'), Name: 'web10',
      Options: { type: 'tmpfs', device: 'tmpfs', o: 'size=100m,uid=1000' }, Scope: 'local',
    });
    assert.equal(await s.ok(['volume', 'inspect', '-f', '{{.Name}}:{{.Driver}}', 'web2']), 'web2:local\n');
    const missing = await s.run(['volume', 'inspect', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Error: get nope: no such volume/);

    const bad = await s.run(['volume', 'create', 'a']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^Error: create a: volume name is too short/);
    const plugin = await s.run(['volume', 'create', '-d', 'rexray', 'v9']);
    assert.equal(plugin.code, 1);
    assert.match(plugin.stderr, /error looking up volume plugin rexray: plugin "rexray" not found \(looked for \/run\/stowage\/plugins\/rexray.sock/);
    const opt = await s.run(['volume', 'create', '-o', 'type=tmpfs', 'v8']);
    assert.match(opt.stderr, /missing required option: "device"/);

    const rm = await s.run(['volume', 'rm', 'web2', 'nope', 'data_volume']);
    assert.equal(rm.code, 1);
    assert.equal(rm.stdout, 'web2\ndata_volume\n');
    assert.match(rm.stderr, /no such volume/);
    assert.equal((await s.run(['volume', 'rm', '-f', 'nope'])).code, 0);

    assert.equal(await s.ok(['volume', 'prune', '-f']), `Deleted Volumes:\n${anon}\n\nTotal reclaimed space: 0B\n`);
    assert.equal(await s.ok(['volume', 'prune', '-f']), 'Total reclaimed space: 0B\n');
    assert.equal(await s.ok(['volume', 'prune', '-f', '-a', '--filter', 'label=nothing']), 'Total reclaimed space: 0B\n');
    assert.equal(await s.ok(['volume', 'prune', '-f', '-a']), 'Deleted Volumes:\nweb10\n\nTotal reclaimed space: 0B\n');
    assert.equal(await s.ok(['volume', 'ls', '-q']), '');
    assert.match(await s.ok(['system', 'check']), /No problems found/);
  });

  it('a size quota volume is created with its image and removed whole', async (t) => {
    if (!requiresRoot(t)) return;
    const dir = tempDir(t);
    const s = stowage(join(dir, 'root'), 'vfs');
    await s.ok(['volume', 'create', '-o', 'size=16m', 'capped']);
    assert.ok(existsSync(join(s.root, 'volumes', 'capped', 'quota.img')));
    const [ins] = JSON.parse(await s.ok(['volume', 'inspect', 'capped']));
    assert.deepEqual(ins.Options, { size: '16m' });
    assert.equal(await s.ok(['volume', 'rm', 'capped']), 'capped\n');
    assert.ok(!existsSync(join(s.root, 'volumes', 'capped')));
  });
});

function killAfter(s: Stowage, args: string[], ms: number): Promise<void> {
  return new Promise((resolve) => {
    const c = s.spawn(args);
    const timer = setTimeout(() => c.kill('SIGKILL'), ms);
    c.on('close', () => { clearTimeout(timer); resolve(); });
  });
}

describe('volume crash safety', () => {
  it('SIGKILL during create and rm leaves a store that checks clean, and recovers', async (t) => {
    if (!requiresRoot(t)) return;
    const dir = tempDir(t);
    const s = stowage(join(dir, 'root'), 'vfs');
    await s.ok(['volume', 'create', 'warmup']);
    for (let k = 0; k < 8; k++) {
      const ms = 40 + k * 25;
      await killAfter(s, ['volume', 'create', '-o', 'size=8m', `v${k}`], ms);
      const r = JSON.parse((await s.run(['system', 'check', '--format', 'json'])).stdout) as { issues: Array<{ kind: string; what: string; message: string }> };
      assert.deepEqual(r.issues.filter((i) => i.kind === 'error'), [], `create killed at ${ms} ms`);
      assert.deepEqual(mountsUnder(s.root), []);
      // Fully there or fully gone.
      const listed = (await s.ok(['volume', 'ls', '-q'])).split('\n').includes(`v${k}`);
      assert.ok(!listed || existsSync(join(s.root, 'volumes', `v${k}`, 'quota.img')), `v${k} half there`);
    }
    const names = (await s.ok(['volume', 'ls', '-q'])).trim().split('\n').filter(Boolean);
    for (let k = 0; k < 4; k++) {
      await killAfter(s, ['volume', 'rm', ...names], 40 + k * 30);
      const r = JSON.parse((await s.run(['system', 'check', '--format', 'json'])).stdout) as { issues: Array<{ kind: string }> };
      assert.deepEqual(r.issues.filter((i) => i.kind === 'error'), [], `rm killed`);
    }
    await s.ok(['volume', 'create', 'after']);
    assert.match(await s.ok(['system', 'check']), /No problems found/);
    for (const n of (await s.ok(['volume', 'ls', '-q'])).trim().split('\n')) assert.ok(existsSync(join(s.root, 'volumes', n, '_data')), n);
  });
});
