// Table tests for the CSI request checks (csi/validate.ts): capacity ranges and node
// paths, including the ways a path can try to leave the allowed folders.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { chooseCapacity, checkNodePath, checkCapabilities, DEFAULT_CAPACITY } from '../../src/csi/validate.js';
import { CsiError } from '../../src/csi/status.js';

const MiB = 1 << 20;
const codeOf = (fn: () => unknown): string => {
  try { fn(); return 'OK'; } catch (err) { return err instanceof CsiError ? status[err.code] : `other: ${(err as Error).message}`; }
};

describe('csi request checks', () => {
  it('chooseCapacity', () => {
    const max = 1024 * MiB;
    const cases: Array<{ doc: string; range: object | null; floor?: number; expect: number | string }> = [
      { doc: 'nothing asked: the default', range: null, expect: DEFAULT_CAPACITY },
      { doc: 'rounded up to a MiB', range: { required_bytes: MiB + 1 }, expect: 2 * MiB },
      { doc: 'at least 1 MiB', range: { required_bytes: 10 }, expect: MiB },
      { doc: 'limit only, below the default', range: { limit_bytes: 5 * MiB }, expect: 5 * MiB },
      { doc: 'required above limit', range: { required_bytes: 3 * MiB, limit_bytes: 2 * MiB }, expect: 'OUT_OF_RANGE' },
      { doc: 'limit below the smallest', range: { limit_bytes: 100 }, expect: 'OUT_OF_RANGE' },
      { doc: 'limit not a MiB multiple', range: { required_bytes: MiB + 1, limit_bytes: MiB + 2 }, expect: 'OUT_OF_RANGE' },
      { doc: 'above the largest', range: { required_bytes: 2048 * MiB }, expect: 'OUT_OF_RANGE' },
      { doc: 'negative', range: { required_bytes: -1 }, expect: 'INVALID_ARGUMENT' },
      { doc: 'a source sets the floor', range: null, floor: 7 * MiB, expect: 7 * MiB },
      { doc: 'required above the floor', range: { required_bytes: 9 * MiB }, floor: 7 * MiB, expect: 9 * MiB },
    ];
    for (const c of cases) {
      let got: number | string;
      try { got = chooseCapacity(c.range as never, max, c.floor ?? 0); } catch (err) { got = status[(err as CsiError).code]!; }
      assert.equal(got, c.expect, c.doc);
    }
  });

  it('checkCapabilities', () => {
    const m = (mode: string, extra: object = {}) => ({ mount: { fs_type: '', mount_flags: [], ...extra }, access_type: 'mount', access_mode: { mode } });
    const cases: Array<{ doc: string; caps: unknown; expect: string }> = [
      { doc: 'none', caps: [], expect: 'INVALID_ARGUMENT' },
      { doc: 'single writer', caps: [m('SINGLE_NODE_WRITER')], expect: 'OK' },
      { doc: 'multi node', caps: [m('MULTI_NODE_READER_ONLY')], expect: 'INVALID_ARGUMENT' },
      { doc: 'ext4 named', caps: [m('SINGLE_NODE_WRITER', { fs_type: 'ext4' })], expect: 'OK' },
      { doc: 'a flag that smuggles a comma', caps: [m('SINGLE_NODE_WRITER', { mount_flags: ['ro,dev'] })], expect: 'INVALID_ARGUMENT' },
      { doc: 'no mode', caps: [{ mount: {}, access_type: 'mount' }], expect: 'INVALID_ARGUMENT' },
    ];
    for (const c of cases) assert.equal(codeOf(() => checkCapabilities(c.caps as never)), c.expect, c.doc);
  });

  it('checkNodePath refuses paths that escape the allowed folders', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stowage-csi-paths-'));
    try {
      const allowed = join(dir, 'allowed');
      mkdirSync(join(allowed, 'pods'), { recursive: true });
      symlinkSync(dir, join(allowed, 'up'));
      symlinkSync('/etc', join(allowed, 'etc'));
      const cases: Array<{ doc: string; path: string; expect: string }> = [
        { doc: 'inside', path: join(allowed, 'pods', 'mnt'), expect: 'OK' },
        { doc: 'the allowed folder itself', path: allowed, expect: 'INVALID_ARGUMENT' },
        { doc: 'relative', path: 'pods/mnt', expect: 'INVALID_ARGUMENT' },
        { doc: 'dot-dot out', path: `${allowed}/../outside`, expect: 'INVALID_ARGUMENT' },
        { doc: 'dot-dot that stays inside', path: `${allowed}/pods/../pods/x`, expect: 'INVALID_ARGUMENT' },
        { doc: 'double slash', path: `${allowed}//pods/x`, expect: 'INVALID_ARGUMENT' },
        { doc: 'symlinked parent out', path: join(allowed, 'up', 'x'), expect: 'INVALID_ARGUMENT' },
        { doc: 'symlink to /etc', path: join(allowed, 'etc', 'passwd'), expect: 'INVALID_ARGUMENT' },
        { doc: 'missing parent', path: join(allowed, 'nope', 'x'), expect: 'INVALID_ARGUMENT' },
        { doc: 'a sibling with the same prefix', path: `${allowed}-evil/x`, expect: 'INVALID_ARGUMENT' },
        { doc: 'elsewhere', path: '/var/lib/x', expect: 'INVALID_ARGUMENT' },
      ];
      for (const c of cases) assert.equal(codeOf(() => checkNodePath(c.path, 'target_path', [allowed])), c.expect, c.doc);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
