// history-text.test.ts: Go's fmt spellings Docker's builder writes into history, and
// the container.Config shape images carry (table-driven; the full comparison with a
// real Docker is docker-fidelity.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { goDuration, goQuoteList, healthcheckText } from '../../src/build/history-text.js';
import { dockerRunConfig } from '../../src/images/run-config.js';

const durations: Array<[number, string]> = [
  [0, '0s'], [30e9, '30s'], [5e9, '5s'], [90e9, '1m30s'], [3600e9, '1h0m0s'], [1.5e9, '1.5s'], [100e6, '100ms'], [250e3, '250µs'], [12, '12ns'],
];
for (const [ns, want] of durations) test(`goDuration(${ns}) = ${want}`, () => assert.equal(goDuration(ns), want));

test('goQuoteList is Go\'s %q of a []string', () => {
  assert.equal(goQuoteList(['--port', '8080']), '["--port" "8080"]');
  assert.equal(goQuoteList(['a"b', 'tab\there']), '["a\\"b" "tab\\there"]');
  assert.equal(goQuoteList([]), '[]');
});

test('healthcheckText is Docker 20.10\'s %q of the HealthConfig', () => {
  assert.equal(healthcheckText({ Test: ['CMD', '/bin/true'], Interval: 30e9, Timeout: 5e9, Retries: 2 }),
    'HEALTHCHECK &{["CMD" "/bin/true"] "30s" "5s" "0s" \'\\x02\'}');
  assert.equal(healthcheckText({ Test: ['NONE'] }), 'HEALTHCHECK &{["NONE"] "0s" "0s" "0s" \'\\x00\'}');
});

test('dockerRunConfig: every key with its zero value, in container.Config order; omitempty keys only when set', () => {
  const c = dockerRunConfig({ Env: ['A=1'], Cmd: ['sh'] }, 'sha256:parent');
  assert.deepEqual(Object.keys(c), ['Hostname', 'Domainname', 'User', 'AttachStdin', 'AttachStdout', 'AttachStderr', 'Tty', 'OpenStdin',
    'StdinOnce', 'Env', 'Cmd', 'Image', 'Volumes', 'WorkingDir', 'Entrypoint', 'OnBuild', 'Labels']);
  assert.equal(c.Image, 'sha256:parent');
  assert.equal(c.Hostname, '');
  assert.equal(c.Volumes, null);
  const full = dockerRunConfig({ ExposedPorts: { '80/tcp': {} }, StopSignal: 'SIGUSR1', Shell: ['/bin/bash', '-c'], Healthcheck: { Test: ['NONE'] } }, '');
  assert.deepEqual(Object.keys(full).filter((k) => ['ExposedPorts', 'Healthcheck', 'StopSignal', 'Shell'].includes(k)), ['ExposedPorts', 'Healthcheck', 'StopSignal', 'Shell']);
  assert.ok(!('ExposedPorts' in dockerRunConfig({ ExposedPorts: {} }, '')), 'an empty map is omitted, as Go\'s omitempty does');
});
