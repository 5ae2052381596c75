// Runs the type checker, then every dist/test/**/*.test.js with node's test runner.
// Extra arguments are file name filters: `node scripts/test.mjs layer` runs the
// test files whose path contains "layer". At the end it prints `# skipped N` and
// names every skipped test; with CI set, any skip fails the run.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';

const root = new URL('..', import.meta.url).pathname;
const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.test.js')) out.push(p);
  }
  return out;
}
const filters = process.argv.slice(2);
const files = walk(join(root, 'dist/test')).sort().filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
// Two reporters: the usual one on the terminal, and TAP into a file this script reads
// afterwards to list the skipped tests. In CI (CI set) a skip is a failure: a test
// that cannot run there hides a missing tool, so the run fails and names each one.
const tapFile = join(mkdtempSync(join(tmpdir(), 'stowage-tap-')), 'report.tap');
const r = spawnSync(process.execPath, [
  '--test', '--test-concurrency=1',
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
  ...files,
], { stdio: 'inherit' });
let skipped = [];
let total = null;
try {
  ({ skipped, total } = skippedTests(readFileSync(tapFile, 'utf8')));
} catch (err) {
  console.error(`cannot read the TAP report ${tapFile}: ${err.message}`);
}
rmSync(dirname(tapFile), { recursive: true, force: true });
const count = total ?? skipped.length;
console.log(`\n# skipped ${count}`);
for (const s of skipped) console.log(`#   skipped: ${s}`);
let status = r.status ?? 1;
if (process.env.CI && count > 0) {
  console.error(`\nCI is set: ${count} skipped test(s) count as failures (a skip in CI hides a missing tool or ability).`);
  if (status === 0) status = 1;
}
process.exit(status);

/** The skipped tests of a TAP report, each as "file > suite > test: reason", and the runner's own count. */
function skippedTests(tap) {
  const out = [];
  const stack = [];
  let total = null;
  for (const line of tap.split('\n')) {
    const indent = line.length - line.trimStart().length;
    const depth = Math.floor(indent / 4);
    const t = line.trim();
    const sub = /^# Subtest: (.*)$/.exec(t);
    if (sub) { stack.length = depth; stack[depth] = sub[1]; continue; }
    const ok = /^(?:not )?ok \d+ - (.*?) # SKIP ?(.*)$/.exec(t);
    if (ok) out.push(`${[...stack.slice(0, depth), ok[1]].filter(Boolean).join(' > ')}${ok[2] ? `: ${ok[2]}` : ''}`);
    const sum = /^# skipped (\d+)$/.exec(t);
    if (sum && depth === 0) total = Number(sum[1]);
  }
  return { skipped: out, total };
}
