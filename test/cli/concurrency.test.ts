// Concurrency: eight stowage CLIs at once on one data root for 60 seconds, each doing a
// seeded random mix of changing operations (volumes, containers, run --rm, tags,
// imports, commits, removals). Every worker checks each result as it goes and, at the
// end, that everything it made is there, whole, and everything it removed is gone; the
// store then checks clean with nothing mounted. The seed is printed
// (STOWAGE_CRASH_SEED replays the choices).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { tempDir, requiresRoot, requires, cleanupFirst } from '../helpers/env.js';
import { stowage, type Stowage } from '../helpers/cli.js';
import { makeRootfs, makeDockerArchive, makeLayerTar } from '../helpers/images.js';
import { crashSeed, rng, assertNothingLeft, removeExecRoot } from '../helpers/crash.js';
import { findRuntime } from '../../src/runtime/runtime.js';

const WORKERS = 8;
const SECONDS = 60;

interface Owned { volumes: Set<string>; containers: Set<string>; images: Set<string>; gone: { volumes: Set<string>; containers: Set<string>; images: Set<string> } }

async function exists(s: Stowage, kind: 'volume' | 'container' | 'image', name: string): Promise<boolean> {
  const r = await s.run(kind === 'volume' ? ['volume', 'inspect', name] : kind === 'container' ? ['container', 'inspect', name] : ['image', 'inspect', name]);
  if (r.code === 0) return true;
  assert.match(r.stderr, /no such|not found|No such/i, `inspect ${kind} ${name} failed other than not-found: ${r.stderr}`);
  return false;
}

describe('concurrency', () => {
  it(`${WORKERS} CLIs with mixed operations on one data root for ${SECONDS} s: nothing lost, nothing half-made`, { timeout: 10 * 60_000 }, async (t) => {
    if (!requiresRoot(t)) return;
    let rtWhy = '';
    try { findRuntime(); } catch (err) { rtWhy = (err as Error).message; }
    if (!requires(t, rtWhy === '', `an OCI runtime: ${rtWhy}`)) return;
    const dir = tempDir(t);
    const s = stowage(join(dir, 'root'), 'overlay2');
    cleanupFirst(t, async () => {
      const ids = (await s.run(['ps', '-aq'])).stdout.trim().split('\n').filter(Boolean);
      if (ids.length) await s.run(['rm', '-f', '-v', ...ids]);
      await s.run(['volume', 'prune', '-a', '-f']);
      removeExecRoot(s.root);
    });
    const seed = crashSeed('concurrency');
    t.diagnostic(`seed ${seed}`);
    const base = join(dir, 'base');
    await makeRootfs(base, 'busybox');
    await s.ok(['load', '-i', (await makeDockerArchive(join(dir, 'camp.tar'), { layers: [base], repoTags: ['camp:1'], runConfig: { Cmd: ['/bin/sh'] } })).path]);
    const small = join(dir, 'small');
    await makeRootfs(small, 'sample');
    const smallTar = (await makeLayerTar(small, join(dir, 'small.tar'))).path;
    const hostFile = join(dir, 'host.txt');
    writeFileSync(hostFile, 'in\n');

    const until = Date.now() + SECONDS * 1000;
    const counts = new Map<string, number>();
    const worker = async (w: number): Promise<Owned> => {
      const r = rng(seed + w);
      const o: Owned = { volumes: new Set(), containers: new Set(), images: new Set(), gone: { volumes: new Set(), containers: new Set(), images: new Set() } };
      let n = 0;
      const some = (set: Set<string>) => (set.size ? r.pick([...set]) : undefined);
      while (Date.now() < until) {
        const op = r.pick(['volume create', 'volume rm', 'create', 'rm -v', 'run --rm', 'tag', 'rmi', 'import', 'commit', 'cp'] as const);
        const id = `w${w}n${n++}`;
        counts.set(op, (counts.get(op) ?? 0) + 1);
        switch (op) {
          case 'volume create':
            await s.ok(['volume', 'create', ...(r.next() < 0.3 ? ['-o', 'size=8m'] : []), id]);
            o.volumes.add(id);
            assert.ok(await exists(s, 'volume', id), `${id} made`);
            break;
          case 'volume rm': {
            const v = some(o.volumes);
            if (!v) break;
            const res = await s.run(['volume', 'rm', v]);
            // A volume this worker's container uses is refused: an answer, not a loss.
            if (res.code !== 0) { assert.match(res.stderr, /volume is in use/, res.stderr); assert.ok(await exists(s, 'volume', v)); break; }
            o.volumes.delete(v); o.gone.volumes.add(v);
            assert.ok(!(await exists(s, 'volume', v)), `${v} removed`);
            break;
          }
          case 'create': {
            const vol = some(o.volumes);
            await s.ok(['create', '--name', id, ...(vol && r.next() < 0.5 ? ['-v', `${vol}:/data`] : []), 'camp:1', 'sh', '-c', 'echo hi > /hello']);
            o.containers.add(id);
            assert.ok(await exists(s, 'container', id), `${id} made`);
            break;
          }
          case 'rm -v': {
            const c = some(o.containers);
            if (!c) break;
            await s.ok(['rm', '-v', c]);
            o.containers.delete(c); o.gone.containers.add(c);
            assert.ok(!(await exists(s, 'container', c)), `${c} removed`);
            break;
          }
          case 'run --rm': {
            const vol = some(o.volumes);
            const out = await s.ok(['run', '--rm', ...(vol ? ['-v', `${vol}:/data`] : []), 'camp:1', 'sh', '-c', `echo ${id}`]);
            assert.equal(out.trim(), id);
            break;
          }
          case 'tag':
            await s.ok(['tag', 'camp:1', `${id}:t`]);
            o.images.add(`${id}:t`);
            assert.ok(await exists(s, 'image', `${id}:t`));
            break;
          case 'rmi': {
            const img = some(o.images);
            if (!img) break;
            const res = await s.run(['rmi', img]);
            // An image a container of this worker still uses is refused; that is an answer, not a loss.
            if (res.code !== 0) { assert.match(res.stderr, /being used by|conflict|in use/i, res.stderr); break; }
            o.images.delete(img); o.gone.images.add(img);
            assert.ok(!(await exists(s, 'image', img)), `${img} removed`);
            break;
          }
          case 'import':
            await s.ok(['import', smallTar, `${id}:i`]);
            o.images.add(`${id}:i`);
            assert.ok(await exists(s, 'image', `${id}:i`));
            break;
          case 'commit': {
            const c = some(o.containers);
            if (!c) break;
            await s.ok(['commit', c, `${id}:c`]);
            o.images.add(`${id}:c`);
            assert.ok(await exists(s, 'image', `${id}:c`));
            break;
          }
          case 'cp': {
            const c = some(o.containers);
            if (!c) break;
            await s.ok(['cp', hostFile, `${c}:/copied-${id}`]);
            break;
          }
        }
      }
      return o;
    };
    const owned = await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    t.diagnostic(`operations: ${[...counts].map(([k, v]) => `${k} ${v}`).join(', ')}`);
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    assert.ok(total >= WORKERS * 5, `each worker got work done (${total} operations)`);

    // Nothing lost, nothing resurrected: each worker's view against the store's.
    const volumes = new Set((await s.ok(['volume', 'ls', '-q'])).trim().split('\n').filter(Boolean));
    const containers = new Set((await s.ok(['ps', '-a', '--format', '{{.Names}}'])).trim().split('\n').filter(Boolean));
    const images = new Set((await s.ok(['images', '--format', '{{.Repository}}:{{.Tag}}'])).trim().split('\n').filter(Boolean).map((x) => x.replace(/^docker\.io\/library\//, '')));
    for (const o of owned) {
      for (const v of o.volumes) assert.ok(volumes.has(v), `volume ${v} lost`);
      for (const v of o.gone.volumes) assert.ok(!volumes.has(v), `volume ${v} came back`);
      for (const c of o.containers) assert.ok(containers.has(c), `container ${c} lost`);
      for (const c of o.gone.containers) assert.ok(!containers.has(c), `container ${c} came back`);
      for (const i of o.images) assert.ok(images.has(i), `image ${i} lost (have ${[...images].join(' ')})`);
      for (const i of o.gone.images) assert.ok(!images.has(i), `image ${i} came back`);
    }
    // Whole: every container still runs, every volume mounts.
    const anyC = owned.flatMap((o) => [...o.containers])[0];
    if (anyC) assert.equal((await s.run(['start', '-a', anyC])).code, 0);
    await assertNothingLeft(s, `after ${total} concurrent operations (seed ${seed})`);
  });
});
