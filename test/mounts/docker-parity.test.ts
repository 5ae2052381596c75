// Side by side with a real Docker engine (Docker 28's CLI, the machine's 20.10
// daemon): for every case of cases.ts, `docker create FLAGS IMAGE true` and
// stowage's parser must both accept or both reject, as the table says; when both
// accept, the bind and volume mounts Docker records (type, target, rw, bind source,
// propagation, volume name) must be the ones stowage's MountSpecs describe.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, requiresRoot, requires } from '../helpers/env.js';
import { startDockerd, dockerAvailable } from '../helpers/dockerd.js';
import { makeRootfs, makeLayerTar } from '../helpers/images.js';
import { FLAG_CASES } from './cases.js';
import { verdict, subst } from './verdict.js';
import { cleanPath } from '../../src/mounts/gostr.js';

interface DockerMount { Type: string; Name?: string; Source: string; Destination: string; RW: boolean; Propagation: string }

describe('mount flags side by side with Docker', () => {
  it('docker create and stowage accept and reject the same specs, with the same mounts', async (t) => {
    if (!requiresRoot(t)) return;
    if (!requires(t, dockerAvailable(), 'needs dockerd (Debian docker.io)')) return;
    const dir = tempDir(t);
    writeFileSync(join(dir, 'file'), 'x');
    const d = await startDockerd(t);
    const rootfs = join(dir, 'rootfs');
    await makeRootfs(rootfs, 'busybox');
    await d.docker(['import', '-', 'parity:1'], { input: await makeLayerTar(rootfs), check: true });
    const disagreements: string[] = [];
    const report: string[] = [];
    try {
      for (const c of FLAG_CASES) {
        const args = subst(c.args, dir);
        // The CLI makes ./ sources absolute against its own cwd, which is ours.
        const r = await d.docker(['create', ...args, 'parity:1', 'true'], {});
        const dockerOk = r.code === 0;
        const s = verdict(args, process.cwd());
        if (dockerOk !== c.ok || s.ok !== c.ok) {
          disagreements.push(`${c.doc}: ${args.join(' ')}\n    table ${c.ok}, docker ${dockerOk}${dockerOk ? '' : ` (${r.stderr.trim().split('\n')[0]})`}, stowage ${s.ok}${s.ok ? '' : ` (${s.error.split('\n')[0]})`}`);
        }
        if (!dockerOk && !s.ok) report.push(`${c.doc}\n    docker:  ${r.stderr.trim().split('\n')[0]}\n    stowage: ${s.error.split('\n')[0]}`);
        if (dockerOk && s.ok) {
          const id = r.stdout.toString().trim();
          const ins = await d.docker(['inspect', '-f', '{{json .Mounts}}', id], { check: true });
          const dm = (JSON.parse(ins.stdout.toString()) as DockerMount[])
            .map((x) => `${x.Type} ${cleanPath('/' + x.Destination)} rw=${x.RW} ${x.Type === 'bind' ? `${x.Source} ${x.Propagation}` : x.Name && !/^[0-9a-f]{64}$/.test(x.Name) ? x.Name : '(anonymous)'}`).sort();
          const sm = s.mounts.filter((m) => m.origin !== 'tmpfs-flag')
            .map((m) => `${m.type} ${m.target} rw=${!m.readOnly} ${m.type === 'bind' ? `${m.source} ${m.bind!.propagation}` : (m.source || '(anonymous)')}`).sort();
          if (JSON.stringify(dm) !== JSON.stringify(sm)) disagreements.push(`${c.doc}: ${args.join(' ')}\n    docker mounts  ${JSON.stringify(dm)}\n    stowage mounts ${JSON.stringify(sm)}`);
        }
      }
    } finally {
      await d.docker(['container', 'prune', '-f']);
      await d.docker(['volume', 'prune', '-f', '--filter', 'all=true']);
    }
    t.diagnostic(`messages side by side:\n${report.join('\n')}`);
    assert.deepEqual(disagreements, []);
  });
});
