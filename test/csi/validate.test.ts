// Table tests for the CSI request checks (csi/validate.ts): capacity ranges and node
// paths, including the ways a path can try to leave the allowed folders.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { chooseCapacity, checkNodePath, checkCapabilities, DEFAULT_CAPACITY } from '../../src/csi/validate.js';
import { backendOf, glusterFromRequest, glusterTarget, glusterVolumeId, parseGlusterVolumeId } from '../../src/csi/gluster.js';
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
      { doc: 'single node multi writer', caps: [m('SINGLE_NODE_MULTI_WRITER')], expect: 'OK' },
    ];
    for (const c of cases) assert.equal(codeOf(() => checkCapabilities(c.caps as never)), c.expect, c.doc);
    const gluster: Array<{ doc: string; caps: unknown; expect: string }> = [
      { doc: 'multi node writers', caps: [m('MULTI_NODE_MULTI_WRITER'), m('MULTI_NODE_READER_ONLY'), m('SINGLE_NODE_WRITER')], expect: 'OK' },
      { doc: 'fs_type glusterfs', caps: [m('MULTI_NODE_MULTI_WRITER', { fs_type: 'glusterfs' })], expect: 'OK' },
      { doc: 'fs_type ext4', caps: [m('MULTI_NODE_MULTI_WRITER', { fs_type: 'ext4' })], expect: 'INVALID_ARGUMENT' },
      { doc: 'block', caps: [{ block: {}, access_type: 'block', access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } }], expect: 'INVALID_ARGUMENT' },
    ];
    for (const c of gluster) assert.equal(codeOf(() => checkCapabilities(c.caps as never, 'volume_capabilities', 'glusterfs')), c.expect, `glusterfs: ${c.doc}`);
  });

  it('GlusterFS parameters, volume ids and volume_context', () => {
    const params: Array<{ doc: string; p: Record<string, string>; expect: string }> = [
      { doc: 'none: local', p: {}, expect: 'local' },
      { doc: 'local keeps unknown keys', p: { tier: 'fast' }, expect: 'local' },
      { doc: 'glusterfs', p: { backend: 'glusterfs', servers: 'g1,g2', volume: 'vol' }, expect: 'glusterfs' },
      { doc: 'provisioner keys pass', p: { backend: 'glusterfs', servers: 'g1', volume: 'v', 'csi.storage.k8s.io/pvc/name': 'x' }, expect: 'glusterfs' },
      { doc: 'stray key on glusterfs', p: { backend: 'glusterfs', servers: 'g1', volume: 'v', quota: 'no' }, expect: 'INVALID_ARGUMENT' },
      { doc: 'unknown backend', p: { backend: 'nfs' }, expect: 'INVALID_ARGUMENT' },
    ];
    for (const c of params) assert.equal(codeOf(() => backendOf(c.p)) === 'OK' ? backendOf(c.p) : codeOf(() => backendOf(c.p)), c.expect, c.doc);
    const targets: Array<{ doc: string; p: Record<string, string>; expect: string }> = [
      { doc: 'no servers', p: { volume: 'v' }, expect: 'INVALID_ARGUMENT' },
      { doc: 'a port', p: { servers: 'g1:24007', volume: 'v' }, expect: 'INVALID_ARGUMENT' },
      { doc: 'a slash in the volume', p: { servers: 'g1', volume: 'a/b' }, expect: 'INVALID_ARGUMENT' },
      { doc: 'spaces around servers', p: { servers: ' g1 , g2 ', volume: 'v' }, expect: 'OK' },
    ];
    for (const c of targets) assert.equal(codeOf(() => glusterTarget(c.p)), c.expect, c.doc);
    const dir = `csi-${'a'.repeat(32)}`;
    const id = glusterVolumeId(glusterTarget({ servers: 'g1,g2', volume: 'vol' }), dir);
    assert.equal(id, `glusterfs/g1,g2/vol/${dir}`);
    assert.deepEqual(parseGlusterVolumeId(id), { target: { servers: ['g1', 'g2'], volume: 'vol' }, dir });
    for (const bad of [`csi-${'a'.repeat(32)}`, `glusterfs/g1/vol/volumes`, `glusterfs/g1/vol/../x`, `glusterfs/g 1/vol/${dir}`, `glusterfs//vol/${dir}`]) assert.equal(parseGlusterVolumeId(bad), null, bad);
    assert.equal(codeOf(() => glusterVolumeId(glusterTarget({ servers: 'g'.repeat(100), volume: 'v' }), dir)), 'INVALID_ARGUMENT', 'over 128 bytes');
    const ctx = { 'io.stowage.csi.backend': 'glusterfs', 'io.stowage.gluster.servers': 'g1,g2', 'io.stowage.gluster.volume': 'vol', 'io.stowage.gluster.dir': dir };
    assert.equal(glusterFromRequest(id, ctx)?.dir, dir);
    assert.equal(glusterFromRequest(id, {})?.dir, dir, 'the id alone is enough');
    assert.equal(codeOf(() => glusterFromRequest(id, { ...ctx, 'io.stowage.gluster.volume': 'other' })), 'INVALID_ARGUMENT', 'context altered');
    assert.equal(codeOf(() => glusterFromRequest(`csi-${'0'.repeat(32)}`, ctx)), 'INVALID_ARGUMENT', 'context says glusterfs, id does not');
    assert.equal(glusterFromRequest(`csi-${'0'.repeat(32)}`, {}), null);
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
