// The CSI conformance cases (conformance.ts) on node-local volumes.
import { describe, it } from 'node:test';
import { requiresRoot } from '../helpers/env.js';
import { CASES, type Backend } from './conformance.js';
import { mountCap } from './harness.js';

const local: Backend = {
  name: 'local', params: {}, flags: [], singleMode: 'SINGLE_NODE_WRITER', multiMode: 'SINGLE_NODE_MULTI_WRITER',
  unsupported: mountCap('MULTI_NODE_MULTI_WRITER'), missingId: `csi-${'0'.repeat(32)}`,
};

describe('CSI conformance: local backend', () => {
  for (const c of CASES) {
    it(c.name, async (t) => {
      if (!requiresRoot(t)) return;
      await c.run(t, local);
    });
  }
});
