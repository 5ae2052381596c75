// compose.test.ts: Debian's docker-compose 1.29 (docker-py) against `stowage serve`:
// up -d, ps, logs, down -v of a project with a named volume, a bind mount and
// network_mode: none. Compose finds its containers by labels through containers/json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { requires, requiresRoot } from '../helpers/env.js';
import { startServe, testImageArchive } from './serve.js';

const composeMissing = (): string | null => (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0 ? null : 'docker-compose (Debian package docker-compose) is not installed');

function compose(cwd: string, host: string, config: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DOCKER_') && !k.startsWith('COMPOSE_')) env[k] = v;
    const c = spawn('docker-compose', args, { cwd, env: { ...env, DOCKER_HOST: host, DOCKER_CONFIG: config, COMPOSE_INTERACTIVE_NO_CLI: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    c.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => c.kill('SIGKILL'), 120_000);
    c.on('error', reject);
    c.on('close', (code) => { clearTimeout(timer); resolve({ code: code ?? -1, stdout, stderr }); });
  });
}

test('docker-compose up -d, ps, logs, down -v: named volume, bind mount, network_mode none', async (t) => {
  if (!requiresRoot(t)) return;
  if (!requires(t, composeMissing() === null, composeMissing() ?? '')) return;
  const s = await startServe(t);
  await s.dockerOk(['load', '-i', (await testImageArchive(s.dir)).path]);
  const proj = join(s.dir, 'shop');
  mkdirSync(join(proj, 'conf'), { recursive: true });
  writeFileSync(join(proj, 'conf/in.txt'), 'from the bind mount\n');
  writeFileSync(join(proj, 'docker-compose.yml'), [
    'version: "3.7"',
    'services:',
    '  db:',
    '    image: bb',
    "    command: sh -c 'trap \"exit 0\" TERM; echo db up; echo kept > /var/lib/mysql/marker; cat /conf/in.txt; while true; do sleep 0.1; done'",
    '    network_mode: none',
    '    volumes:',
    '      - dbdata:/var/lib/mysql',
    '      - ./conf:/conf',
    '    labels:',
    '      tier: backend',
    'volumes:',
    '  dbdata:',
    '',
  ].join('\n'));
  const config = join(s.dir, 'docker-config');
  const up = await compose(proj, s.host, config, ['up', '-d']);
  assert.equal(up.code, 0, up.stderr + s.log());
  assert.match(up.stderr, /Creating volume "shop_dbdata" with default driver/);
  assert.match(up.stderr, /Creating shop_db_1 \.\.\. done/);
  const ps = await compose(proj, s.host, config, ['ps']);
  assert.equal(ps.code, 0, ps.stderr);
  assert.match(ps.stdout, /shop_db_1\s+.*\s+Up/);
  // The container is stowage's: the stowage CLI lists it with compose's labels.
  const labels = JSON.parse(await s.cli.ok(['inspect', 'shop_db_1']))[0].Config.Labels;
  assert.equal(labels['com.docker.compose.project'], 'shop');
  assert.equal(labels.tier, 'backend');
  assert.equal(JSON.parse(await s.cli.ok(['inspect', 'shop_db_1']))[0].HostConfig.NetworkMode, 'none');
  let logs = '';
  for (let i = 0; i < 50 && !/from the bind mount/.test(logs); i++) {
    await new Promise((r) => setTimeout(r, 100));
    logs = (await compose(proj, s.host, config, ['logs', '--no-color'])).stdout;
  }
  assert.match(logs, /db_1\s+\| db up/);
  assert.match(logs, /db_1\s+\| from the bind mount/);
  assert.equal(readFileSync(join(s.root, 'volumes/shop_dbdata/_data/marker'), 'utf8'), 'kept\n');
  const down = await compose(proj, s.host, config, ['down', '-v']);
  assert.equal(down.code, 0, down.stderr);
  assert.match(down.stderr, /Removing shop_db_1 \.\.\. done/);
  assert.match(down.stderr, /Removing volume shop_dbdata/);
  assert.doesNotMatch(await s.dockerOk(['ps', '-a']), /shop_db_1/);
  assert.ok(!existsSync(join(s.root, 'volumes/shop_dbdata')), 'down -v removed the named volume');
  assert.ok(existsSync(join(proj, 'conf/in.txt')), 'the bind source stays');
});
