// vfs.test.ts: the conformance suite on vfs, plus its layout and copy semantics.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { VfsDriver } from '../../src/drivers/vfs.js';
import { requiresRoot, tempDir } from '../helpers/env.js';
import { runDriverSuite } from './suite.js';
import { writeEntries } from './fixtures.js';

// Each vfs layer is a full copy: 60 layers keep the case quick and still stack.
runDriverSuite('vfs', (home) => new VfsDriver(home), { manyLayers: 60, module: { file: 'vfs.js', className: 'VfsDriver' } });

describe('vfs specifics', () => {
  it('keeps each layer as a full, independent copy under dir/', async (t) => {
    if (!requiresRoot(t)) return;
    const home = join(tempDir(t), 'vfs');
    const d = new VfsDriver(home);
    await d.create('base', null);
    writeEntries(d.applyTarget('base').root, [
      { path: 'f', type: 'file', content: 'base' },
      { path: 'dev/null', type: 'file', content: '' },
    ], 'remove');
    await d.create('child', 'base');
    assert.equal(d.applyTarget('child').root, join(home, 'dir', 'child'));
    assert.equal(d.applyTarget('child').whiteouts, 'remove');
    writeFileSync(join(home, 'dir/child/f'), 'child');
    assert.equal(readFileSync(join(home, 'dir/base/f'), 'utf8'), 'base');
    assert.notEqual(statSync(join(home, 'dir/base/f')).ino, statSync(join(home, 'dir/child/f')).ino);
    assert.deepEqual(d.changeSource('child'), { kind: 'full', dir: join(home, 'dir/child'), parentDir: join(home, 'dir/base') });
    assert.deepEqual(d.changeSource('base'), { kind: 'full', dir: join(home, 'dir/base'), parentDir: null });
    assert.deepEqual(d.mounts('child', { readonly: true }), [{ type: 'bind', source: join(home, 'dir/child'), options: ['rbind', 'ro'] }]);
    await d.remove('child');
    assert.equal(existsSync(join(home, 'parent/child')), false);
    assert.deepEqual(d.cleanup(), []);
  });
});
