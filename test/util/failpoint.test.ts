// failpoint.ts: STOWAGE_FAILPOINT names points where a process kills itself; the
// Nth-hit form and lists work, and an unset variable never kills.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const MODULE = new URL('../../src/util/failpoint.js', import.meta.url).href;

function runWith(spec: string | undefined, calls: string[]): { signal: NodeJS.Signals | null; out: string } {
  const script = `import { failpoint } from ${JSON.stringify(MODULE)};
for (const c of ${JSON.stringify(calls)}) { failpoint(c); process.stdout.write(c + ';'); }`;
  const env = { ...process.env };
  delete env.STOWAGE_FAILPOINT;
  if (spec !== undefined) env.STOWAGE_FAILPOINT = spec;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
  return { signal: r.signal, out: r.stdout };
}

test('a named failpoint kills at its first hit; others pass', () => {
  const r = runWith('b', ['a', 'b', 'c']);
  assert.equal(r.signal, 'SIGKILL');
  assert.equal(r.out, 'a;');
});

test('name=N kills at the Nth hit; a list arms several', () => {
  const r = runWith('x, b=3', ['b', 'a', 'b', 'b', 'a']);
  assert.equal(r.signal, 'SIGKILL');
  assert.equal(r.out, 'b;a;b;');
  assert.equal(runWith('zz,a=2', ['a', 'q', 'a']).out, 'a;q;');
});

test('unset, empty or unmatched: nothing happens', () => {
  for (const spec of [undefined, '', 'other']) {
    const r = runWith(spec, ['a', 'b']);
    assert.equal(r.signal, null, String(spec));
    assert.equal(r.out, 'a;b;');
  }
});
