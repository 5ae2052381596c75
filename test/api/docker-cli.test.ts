// docker-cli.test.ts: the real docker CLI (CLI 28, negotiating API 1.41) against
// `stowage serve` on a temp data root: the seed's volume commands, run -d + logs +
// cp both ways + diff + commit + stop + rm, build, import/load/save, system df, and
// the CLI and the server on one store at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { requires, requiresRoot } from '../helpers/env.js';
import { dockerMissing } from '../helpers/dockerd.js';
import { startServe, testImageArchive, type Served } from './serve.js';

async function served(t: import('node:test').TestContext): Promise<Served | undefined> {
  if (!requiresRoot(t)) return undefined;
  if (!requires(t, dockerMissing() === null, dockerMissing() ?? '')) return undefined;
  const s = await startServe(t);
  const img = await testImageArchive(s.dir);
  const out = await s.dockerOk(['load', '-i', img.path]);
  assert.match(out, /Loaded image: bb:latest/);
  return s;
}

test('docker volume create, run -v NAME:/var/lib/mysql, -v /host/dir, --mount type=bind, --volume-driver rexray/ebs', async (t) => {
  const s = await served(t);
  if (!s) return;
  assert.equal((await s.dockerOk(['volume', 'create', 'data_volume'])).trim(), 'data_volume');
  assert.match(await s.dockerOk(['volume', 'ls']), /local\s+data_volume/);
  const id = (await s.dockerOk(['run', '-d', '-v', 'data_volume:/var/lib/mysql', 'bb', 'sh', '-c', 'echo kept > /var/lib/mysql/f'])).trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.equal((await s.dockerOk(['wait', id])).trim(), '0');
  assert.equal(readFileSync(join(s.root, 'volumes/data_volume/_data/f'), 'utf8'), 'kept\n');
  // The volume is in use: refused with the container named, as Docker.
  const rm = await s.docker(['volume', 'rm', 'data_volume']);
  assert.equal(rm.code, 1);
  assert.match(rm.stderr, /volume is in use/);

  const hostDir = join(s.dir, 'mysql');
  const id2 = (await s.dockerOk(['run', '-d', '-v', `${hostDir}:/var/lib/mysql`, 'bb', 'sh', '-c', 'echo bound > /var/lib/mysql/g'])).trim();
  assert.equal((await s.dockerOk(['wait', id2])).trim(), '0');
  assert.equal(readFileSync(join(hostDir, 'g'), 'utf8'), 'bound\n', '-v creates the missing host folder and binds it');

  const src = join(s.dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'in'), 'from host\n');
  const id3 = (await s.dockerOk(['run', '-d', '--mount', `type=bind,source=${src},target=/var/lib/mysql,readonly`, 'bb', 'sh', '-c', 'cat /var/lib/mysql/in; touch /var/lib/mysql/x'])).trim();
  assert.equal((await s.dockerOk(['wait', id3])).trim(), '1', 'read-only bind: touch fails');
  assert.equal(await s.dockerOk(['logs', id3]), 'from host\n');
  const inspect = JSON.parse(await s.dockerOk(['inspect', id3]))[0];
  assert.equal(inspect.Mounts[0].Type, 'bind');
  assert.equal(inspect.Mounts[0].RW, false);
  const missing = await s.docker(['run', '-d', '--mount', `type=bind,source=${join(s.dir, 'nope')},target=/x`, 'bb', 'true']);
  assert.equal(missing.code, 125);
  assert.match(missing.stderr, /bind source path does not exist/);

  const ebs = await s.docker(['run', '-d', '--volume-driver', 'rexray/ebs', '-v', 'ebsvol:/data', 'bb', 'true']);
  assert.equal(ebs.code, 125);
  assert.match(ebs.stderr, /error looking up volume plugin rexray\/ebs: plugin "rexray\/ebs" not found/);
  assert.doesNotMatch(ebs.stderr, /Unable to find image/, 'a missing plugin is not taken for a missing image');
  assert.doesNotMatch(await s.dockerOk(['volume', 'ls', '-q']), /ebsvol/, 'nothing half-made');
});

test('run -d, logs -f, cp both ways, diff, commit, stop, rm; the stowage CLI sees it all', async (t) => {
  const s = await served(t);
  if (!s) return;
  const id = (await s.dockerOk(['run', '-d', '--name', 'web', '-e', 'GREETING=hello', 'bb', 'sh', '-c', 'echo $GREETING; echo oops >&2; i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done'])).trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.match(await s.dockerOk(['ps']), /web/);
  assert.match(await s.cli.ok(['ps']), /web/, 'the stowage CLI on the same data root sees the container');
  // logs -f follows until the container stops; stdout and stderr stay apart (framed).
  const follow = s.docker(['logs', '-f', 'web']);
  await new Promise((r) => setTimeout(r, 500));
  const local = join(s.dir, 'local.txt');
  writeFileSync(local, 'copied in\n');
  await s.dockerOk(['cp', local, 'web:/tmp/']);
  await s.dockerOk(['cp', 'web:/tmp/local.txt', join(s.dir, 'back.txt')]);
  assert.equal(readFileSync(join(s.dir, 'back.txt'), 'utf8'), 'copied in\n');
  mkdirSync(join(s.dir, 'tree/sub'), { recursive: true });
  writeFileSync(join(s.dir, 'tree/sub/a'), 'a');
  await s.dockerOk(['cp', join(s.dir, 'tree'), 'web:/opt']);
  await s.dockerOk(['cp', 'web:/opt', join(s.dir, 'opt-back')]);
  assert.equal(readFileSync(join(s.dir, 'opt-back/sub/a'), 'utf8'), 'a');
  const missing = await s.docker(['cp', 'web:/no/such', join(s.dir, 'x')]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /Could not find the file \/no\/such/);
  const diff = await s.dockerOk(['diff', 'web']);
  assert.match(diff, /^A \/tmp\/local.txt$/m);
  assert.match(diff, /^A \/opt$/m);
  const imageId = (await s.dockerOk(['commit', '-m', 'snap', 'web', 'web:snap'])).trim();
  assert.match(imageId, /^sha256:[0-9a-f]{64}$/);
  assert.match(await s.dockerOk(['images']), /web\s+snap/);
  // The committed image has the file docker cp put into the container.
  assert.equal(await s.dockerOk(['run', '--rm', 'web:snap', 'cat', '/tmp/local.txt']), 'copied in\n');
  await s.dockerOk(['stop', '-t', '1', 'web']);
  const logs = await follow;
  assert.equal(logs.code, 0, logs.stderr);
  assert.equal(logs.stdout.toString(), 'hello\n');
  assert.equal(logs.stderr, 'oops\n');
  const tail = await s.docker(['logs', '--tail', '1', '-t', 'web']);
  assert.equal(tail.stdout.toString(), '', 'the last line is on stderr');
  assert.match(tail.stderr, /^\d{4}-\d\d-\d\dT[\d:.]+Z oops\n$/);
  const future = await s.docker(['logs', '--since', String(Math.floor(Date.now() / 1000) + 60), 'web']);
  assert.equal(future.stdout.toString() + future.stderr, '');
  assert.match(await s.dockerOk(['ps', '-a', '--filter', 'name=web', '--format', '{{.Status}}']), /^Exited \(\d+\)/);
  await s.dockerOk(['rm', 'web']);
  assert.doesNotMatch(await s.cli.ok(['ps', '-a']), /\bweb\b/);
  const gone = await s.docker(['rm', 'web']);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /No such container: web/);
});

test('build, import, save and load, history, tag, rmi, system df', async (t) => {
  const s = await served(t);
  if (!s) return;
  const ctx = join(s.dir, 'ctx');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM bb\nARG WHO=nobody\nCOPY hello.txt /hello.txt\nRUN echo "built for $WHO" > /who\nLABEL stage=test\nCMD ["cat", "/who"]\n');
  writeFileSync(join(ctx, 'hello.txt'), 'hi\n');
  const b = await s.dockerOk(['build', '-t', 'built:1', '--build-arg', 'WHO=api', ctx]);
  assert.match(b, /Step 1\/6 : FROM bb/);
  assert.match(b, /Successfully built [0-9a-f]{12}/);
  assert.match(b, /Successfully tagged built:1/);
  const again = await s.dockerOk(['build', '-t', 'built:2', '--build-arg', 'WHO=api', ctx]);
  assert.match(again, /Using cache/);
  const failing = join(s.dir, 'ctx2');
  mkdirSync(failing);
  writeFileSync(join(failing, 'Dockerfile'), 'FROM bb\nRUN exit 7\n');
  const bad = await s.docker(['build', failing]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr + bad.stdout.toString(), /returned a non-zero code: 7/);
  const id = (await s.dockerOk(['run', '-d', 'built:1'])).trim();
  await s.dockerOk(['wait', id]);
  assert.equal(await s.dockerOk(['logs', id]), 'built for api\n');
  assert.match(await s.dockerOk(['history', 'built:1']), /COPY|hello.txt/);
  assert.equal(JSON.parse(await s.dockerOk(['image', 'inspect', 'built:1']))[0].Config.Labels.stage, 'test');

  // save → rmi → load keeps the image ID.
  const before = (await s.dockerOk(['images', '-q', '--no-trunc', 'built:1'])).trim();
  const archive = join(s.dir, 'saved.tar');
  await s.dockerOk(['save', '-o', archive, 'built:1', 'bb:latest']);
  await s.dockerOk(['rm', '-f', id]);
  await s.dockerOk(['rmi', 'built:1', 'built:2']);
  assert.doesNotMatch(await s.dockerOk(['images']), /built/);
  assert.match(await s.dockerOk(['load', '-i', archive]), /Loaded image: built:1/);
  assert.equal((await s.dockerOk(['images', '-q', '--no-trunc', 'built:1'])).trim(), before);

  // import a root filesystem tar from stdin.
  const { execFileSync } = await import('node:child_process');
  const rootfs = readdirSync(s.dir).find((n) => n.startsWith('rootfs-'))!;
  const tar = execFileSync('tar', ['-C', join(s.dir, rootfs), '-cf', '-', '.'], { maxBuffer: 64 << 20 });
  const imported = (await s.dockerOk(['import', '-c', 'CMD ["/bin/sh"]', '-', 'imp:1'], { input: tar })).trim();
  assert.match(imported, /^sha256:[0-9a-f]{64}$/);
  assert.deepEqual(JSON.parse(await s.dockerOk(['inspect', 'imp:1']))[0].Config.Cmd, ['/bin/sh']);
  await s.dockerOk(['tag', 'imp:1', 'imp:2']);
  assert.match(await s.dockerOk(['images', 'imp']), /imp\s+2/);
  const df = await s.dockerOk(['system', 'df']);
  assert.match(df, /^Images\s+\d+\s+\d+/m);
  assert.match(df, /^Local Volumes\s+\d+/m);
  assert.match(await s.dockerOk(['system', 'df', '-v']), /Images space usage/);
  const rmi = await s.docker(['rmi', 'nope:1']);
  assert.equal(rmi.code, 1);
  assert.match(rmi.stderr, /No such image: nope:1/);
  assert.ok(existsSync(archive));
});

test('a killed server loses nothing: its containers run on, the next server and the CLI see them', async (t) => {
  const s = await served(t);
  if (!s) return;
  const id = (await s.dockerOk(['run', '-d', '--name', 'survivor', 'bb', 'sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.1; done'])).trim();
  await s.stop('SIGKILL');
  assert.match(await s.cli.ok(['ps', '--format', '{{.Names}} {{.State}}']), /^survivor running$/m, 'still running under its monitor');
  // The CLI changes the store while no server runs; the next server sees it.
  await s.cli.ok(['volume', 'create', 'made_by_cli']);
  const s2 = await startServe(t, { dir: s.dir });
  assert.match(await s2.dockerOk(['ps', '--format', '{{.ID}} {{.Status}}']), new RegExp(`^${id.slice(0, 12)} Up`, 'm'));
  assert.match(await s2.dockerOk(['volume', 'ls', '-q']), /^made_by_cli$/m);
  // And while it runs: what the CLI does, the server answers at once.
  await s2.cli.ok(['tag', 'bb', 'bb:from-cli']);
  assert.match(await s2.dockerOk(['images', '--format', '{{.Repository}}:{{.Tag}}']), /^bb:from-cli$/m);
  await s2.dockerOk(['stop', 'survivor']);
  assert.match(await s2.cli.ok(['ps', '-a', '--format', '{{.Names}} {{.State}}']), /^survivor exited$/m);
});
