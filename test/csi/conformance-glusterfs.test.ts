// The CSI conformance cases (conformance.ts) on GlusterFS volumes: one real
// single-node GlusterFS server (test/plugins/gluster.ts, quota on) for the file, a
// fresh `stowage csi` per case.
import { describe, it, before, after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { requires, requiresRoot, assertNoMountsUnder } from '../helpers/env.js';
import { glusterMissing, startGluster, type GlusterServer } from '../plugins/gluster.js';
import { CASES, type Backend } from './conformance.js';
import { blockCap } from './harness.js';

describe('CSI conformance: glusterfs backend', () => {
  let gl: GlusterServer | undefined;
  let dir = '';
  const usable = process.getuid?.() === 0 && glusterMissing() === null;
  before(() => {
    if (!usable) return;
    dir = mkdtempSync('/tmp/stg-csi-conf-');
    gl = startGluster(join(dir, 'gluster'), 'stowageconf', { quota: true });
  });
  after(() => {
    gl?.stop();
    if (dir) { assertNoMountsUnder(dir); rmSync(dir, { recursive: true, force: true }); }
  });
  for (const c of CASES) {
    it(c.name, async (t) => {
      if (!requiresRoot(t)) return;
      if (!requires(t, glusterMissing() === null || gl !== undefined, glusterMissing() ?? '')) return;
      const b: Backend = {
        name: 'glusterfs', params: { backend: 'glusterfs', servers: gl!.addr, volume: gl!.volume }, flags: gl!.cliArgs.map((a) => `--gluster-arg=${a}`),
        singleMode: 'SINGLE_NODE_WRITER', multiMode: 'MULTI_NODE_MULTI_WRITER', unsupported: blockCap('MULTI_NODE_MULTI_WRITER'),
        missingId: `glusterfs/${gl!.addr}/${gl!.volume}/csi-${'0'.repeat(32)}`,
      };
      await c.run(t, b);
    });
  }
});
