// Side by side with a real Docker engine (Docker 28's CLI, the machine's 20.10
// daemon), through both real CLIs: for every case of cases.ts, `create FLAGS IMAGE
// true` on each, then `inspect` on each. Both must accept or both refuse, as the table
// says. When both accept, every field of `Mounts` (Type, Name, Source, Destination,
// Driver, Mode, RW, Propagation), the mount keys of HostConfig (Binds, Mounts, Tmpfs,
// VolumesFrom, VolumeDriver) and Config.Volumes must be equal. When both refuse, each
// message must carry the case's substance (err for stowage, dockerErr for Docker).
//
// Nothing is normalised. Three things differ by nature and are checked on each side
// against that side's own truth instead: the data root ($R; a local volume's Source is
// ROOT/volumes/NAME/_data), the random 64-hex names of anonymous volumes, and the order
// of Mounts and Binds (Docker fills both by iterating a Go map: random on every run),
// compared as sets. A case whose difference is a deliberate deviation names it
// (deviation: id); the test applies exactly that difference and checks that
// docs/volumes.md lists the id.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { tempDir, requiresRoot, requires, cleanupFirst } from '../helpers/env.js';
import { startDockerd, dockerAvailable } from '../helpers/dockerd.js';
import { stowage } from '../helpers/cli.js';
import { makeRootfs, makeDockerArchive } from '../helpers/images.js';
import { FLAG_CASES, DEVIATIONS, subst } from './cases.js';

type Json = Record<string, unknown>;
const ANON = /^[0-9a-f]{64}$/;
const HOST_CONFIG_KEYS = ['Binds', 'Mounts', 'Tmpfs', 'VolumesFrom', 'VolumeDriver'];
const docsPath = new URL('../../../docs/volumes.md', import.meta.url).pathname;

/** One side's view of a container's mounts, with that side's data root checked and replaced by $R. */
function view(side: string, root: string, inspect: Json, problems: string[]): Json {
  const mounts = (inspect.Mounts as Json[]).map((m) => {
    const out: Json = { ...m };
    if (m.Type === 'volume') {
      const name = String(m.Name);
      if (ANON.test(name)) out.Name = '(anonymous)';
      if (m.Driver === 'local' && m.Source !== `${root}/volumes/${name}/_data`) problems.push(`${side}: volume ${name}'s Source is ${String(m.Source)}, not under its data root`);
      if (m.Driver === 'local') out.Source = '$R/volumes/NAME/_data';
    }
    return out;
  });
  const byDest = (a: Json, b: Json) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1);
  const hc = inspect.HostConfig as Json;
  const host: Json = {};
  for (const k of HOST_CONFIG_KEYS) host[k] = k in hc ? hc[k] : '(absent)';
  if (Array.isArray(host.Binds)) host.Binds = [...(host.Binds as string[])].sort();
  const text = JSON.stringify({ Mounts: mounts.sort(byDest), HostConfig: host, ConfigVolumes: (inspect.Config as Json).Volumes ?? null });
  return JSON.parse(text.split(root).join('$R').split(dirname(root)).join('$R/..')) as Json;
}

function has(message: string, piece: string | RegExp): boolean {
  return typeof piece === 'string' ? message.includes(piece) : piece.test(message);
}

describe('mount flags side by side with Docker', () => {
  it('docker and stowage create the same mounts from the same flags, and refuse the same ones for the same reason', async (t) => {
    if (!requiresRoot(t)) return;
    if (!requires(t, dockerAvailable(), 'needs dockerd (Debian docker.io)')) return;
    const dir = tempDir(t);
    // $D must not hold stowage's data root (a bind of it would get rslave), nor $R/.. hold $D.
    const D = join(dir, 'host');
    mkdirSync(D);
    writeFileSync(join(D, 'file'), 'x');
    const d = await startDockerd(t);
    mkdirSync(join(dir, 'r'));
    const s = stowage(join(dir, 'r', 'root'), 'overlay2');
    const rootfs = join(dir, 'rootfs');
    await makeRootfs(rootfs, 'busybox');
    mkdirSync(join(rootfs, 'var', 'lib', 'mysql'), { recursive: true });
    writeFileSync(join(rootfs, 'var', 'lib', 'mysql', 'seed.sql'), 'seed\n');
    writeFileSync(join(rootfs, 'etc', 'x.conf'), 'conf\n');
    for (const [tag, runConfig] of [['parity:1', {}], ['parityv:1', { Volumes: { '/var/lib/mysql': {}, '/cache': {} } }]] as const) {
      const arch = await makeDockerArchive(join(dir, `${tag.replace(':', '-')}.tar`), { layers: [rootfs], repoTags: [tag], runConfig: { Cmd: ['/bin/sh'], ...runConfig } });
      await d.docker(['load', '-i', arch.path], { check: true });
      await s.ok(['load', '-i', arch.path]);
    }
    cleanupFirst(t, async () => {
      const ids = (await s.ok(['ps', '-aq'])).trim().split('\n').filter(Boolean);
      if (ids.length) await s.run(['rm', '-f', '-v', ...ids]);
    });
    const docs = readFileSync(docsPath, 'utf8');
    const wrong: string[] = [];
    const report: string[] = [];
    for (const c of FLAG_CASES) {
      if (c.deviation && !docs.includes(`(${c.deviation})`)) wrong.push(`${c.doc}: deviation ${c.deviation} is not listed in docs/volumes.md`);
      const image = c.image === 'volumes' ? 'parityv:1' : 'parity:1';
      for (const pre of c.before ?? []) {
        await d.docker(subst(pre, D, d.dataRoot), { check: true });
        await s.ok(subst(pre, D, s.root));
      }
      const [dr, sr] = await Promise.all([
        d.docker(['create', ...subst(c.args, D, d.dataRoot), image, 'true']),
        s.run(['create', ...subst(c.args, D, s.root), image, 'true']),
      ]);
      const line = `${c.doc}: ${c.args.join(' ')}`;
      const dev = c.deviation ? DEVIATIONS[c.deviation] : undefined;
      if (dev?.stowageRefuses) {
        // Docker accepts; stowage refuses on purpose, and says why.
        if (dr.code !== 0 || sr.code === 0 || !has(sr.stderr, dev.stowageRefuses)) wrong.push(`${line} (${c.deviation})\n    docker ${dr.code === 0} ${dr.stderr.trim()}\n    stowage ${sr.code === 0} ${sr.stderr.trim()}`);
        continue;
      }
      if ((dr.code === 0) !== c.ok || (sr.code === 0) !== c.ok) {
        wrong.push(`${line}\n    table ${c.ok}, docker ${dr.code === 0}${dr.code ? ` (${dr.stderr.trim().split('\n')[0]})` : ''}, stowage ${sr.code === 0}${sr.code ? ` (${sr.stderr.trim().split('\n')[0]})` : ''}`);
        continue;
      }
      if (!c.ok) {
        report.push(`${c.doc}\n    docker:  ${dr.stderr.trim().split('\n')[0]}\n    stowage: ${sr.stderr.trim().split('\n')[0]}`);
        // 125 for what Docker's CLI refuses itself (flag syntax), 1 for the daemon's refusals.
        if (sr.code !== dr.code) wrong.push(`${line}: docker exited ${dr.code}, stowage ${sr.code}`);
        if (!c.err) wrong.push(`${line}: the case names no substance (err) to compare`);
        else {
          if (!has(sr.stderr, c.err)) wrong.push(`${line}\n    stowage's message lacks ${String(c.err)}: ${sr.stderr.trim()}`);
          if (!has(dr.stderr, c.dockerErr ?? c.err)) wrong.push(`${line}\n    Docker's message lacks ${String(c.dockerErr ?? c.err)}: ${dr.stderr.trim()}`);
        }
        if (/\bE[A-Z]{3,}\b:/.test(sr.stderr)) wrong.push(`${line}: raw errno text in stowage's message: ${sr.stderr.trim()}`);
        continue;
      }
      const [dins, sins] = await Promise.all([d.docker(['inspect', dr.stdout.toString().trim()], { check: true }), s.ok(['inspect', sr.stdout.trim()])]);
      const [di] = JSON.parse(dins.stdout.toString()) as Json[];
      const [si] = JSON.parse(sins) as Json[];
      const problems: string[] = [];
      const dv = view('docker', d.dataRoot, di!, problems);
      const sv = view('stowage', s.root, si!, problems);
      const expected = dev?.apply ? dev.apply(dv) : dv;
      for (const k of ['Mounts', 'HostConfig', 'ConfigVolumes']) {
        if (JSON.stringify(expected[k]) !== JSON.stringify(sv[k])) problems.push(`${k}\n      docker  ${JSON.stringify(dv[k])}${c.deviation ? `\n      expect  ${JSON.stringify(expected[k])} (${c.deviation})` : ''}\n      stowage ${JSON.stringify(sv[k])}`);
      }
      if (problems.length) wrong.push(`${line}\n    ${problems.join('\n    ')}`);
    }
    await d.docker(['container', 'prune', '-f']);
    await d.docker(['volume', 'prune', '-f', '--filter', 'all=true']);
    t.diagnostic(`messages side by side:\n${report.join('\n')}`);
    assert.deepEqual(wrong, [], `${wrong.length} of ${FLAG_CASES.length} cases differ`);
  });
});

