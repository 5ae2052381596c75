// events.test.ts: Docker's event stream over the persisted event log: an event made by
// a CLI process reaches a subscriber in this process, since/until replay, filters, the
// JSON shape, the `events` command's output, and the parsers (table-driven).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tempDir, requiresRoot } from '../helpers/env.js';
import { stowage } from '../helpers/cli.js';
import { Engine } from '../../src/engine.js';
import { matchesEvent, parseEventTime, toDockerEvent, MAX_EVENTS, type DockerEvent } from '../../src/events/service.js';
import { parseFilterFlags, prettyEvent, rfc3339NanoFixed } from '../../src/cli/commands/streams.js';

function ev(type: DockerEvent['Type'], action: string, id: string, attrs: Record<string, string> = {}): DockerEvent {
  return toDockerEvent({ type, action, actor_id: id, attributes: JSON.stringify(attrs), time_nano: '1700000000123456789' });
}

describe('event filters and parsers', () => {
  const cases: Array<{ doc: string; e: DockerEvent; f: Record<string, string[]>; want: boolean }> = [
    { doc: 'no filter', e: ev('container', 'start', 'abc'), f: {}, want: true },
    { doc: 'type matches', e: ev('volume', 'create', 'v'), f: { type: ['volume'] }, want: true },
    { doc: 'type differs', e: ev('volume', 'create', 'v'), f: { type: ['container'] }, want: false },
    { doc: 'values of one key are or-ed', e: ev('image', 'tag', 'sha256:1'), f: { type: ['container', 'image'] }, want: true },
    { doc: 'keys are and-ed', e: ev('image', 'tag', 'sha256:1'), f: { type: ['image'], event: ['untag'] }, want: false },
    { doc: 'container by name', e: ev('container', 'die', 'abcdef', { name: 'web' }), f: { container: ['web'] }, want: true },
    { doc: 'container by id prefix', e: ev('container', 'die', 'abcdef', { name: 'web' }), f: { container: ['abc'] }, want: true },
    { doc: 'container filter skips volume events', e: ev('volume', 'mount', 'v', { container: 'abcdef' }), f: { container: ['abcdef'] }, want: false },
    { doc: 'image of a container event', e: ev('container', 'start', 'c', { image: 'bb:1' }), f: { image: ['bb:1'] }, want: true },
    { doc: 'image without tag matches a tagged container image', e: ev('container', 'start', 'c', { image: 'bb:1' }), f: { image: ['bb'] }, want: true },
    { doc: 'image event by name', e: ev('image', 'tag', 'sha256:1', { name: 'bb:2' }), f: { image: ['bb:2'] }, want: true },
    { doc: 'volume by name', e: ev('volume', 'destroy', 'data'), f: { volume: ['data'] }, want: true },
    { doc: 'exec_create matched by its action name', e: ev('container', 'exec_create: sh -c true', 'c'), f: { event: ['exec_create'] }, want: true },
    { doc: 'label key', e: ev('container', 'start', 'c', { tier: 'web' }), f: { label: ['tier'] }, want: true },
    { doc: 'label key=value', e: ev('container', 'start', 'c', { tier: 'web' }), f: { label: ['tier=db'] }, want: false },
  ];
  for (const c of cases) {
    it(c.doc, () => assert.equal(matchesEvent(c.e, c.f), c.want));
  }

  it('Docker JSON shape: status/id/from for containers, not for volumes', () => {
    const c = ev('container', 'start', 'abc', { image: 'bb:1', name: 'x' });
    assert.deepEqual(Object.keys(c), ['status', 'id', 'from', 'Type', 'Action', 'Actor', 'scope', 'time', 'timeNano']);
    assert.equal(c.status, 'start');
    assert.equal(c.from, 'bb:1');
    assert.equal(c.time, 1700000000);
    const v = ev('volume', 'create', 'v', { driver: 'local' });
    assert.deepEqual(Object.keys(v), ['Type', 'Action', 'Actor', 'scope', 'time', 'timeNano']);
  });

  it('since/until values: unix seconds, RFC 3339, durations; bad values named', () => {
    const now = Date.parse('2026-01-02T03:04:05Z');
    assert.equal(parseEventTime('1700000000', now), 1700000000);
    assert.equal(parseEventTime('1700000000.5', now), 1700000000.5);
    assert.equal(parseEventTime('2026-01-02T03:04:00Z', now), now / 1000 - 5);
    assert.equal(parseEventTime('10m', now), now / 1000 - 600);
    assert.equal(parseEventTime('1h30m', now), now / 1000 - 5400);
    assert.throws(() => parseEventTime('yesterday', now), /failed to parse value as time or duration: "yesterday"/);
  });

  it('--filter flags and the default line format', () => {
    assert.deepEqual(parseFilterFlags(['type=container', 'event=start', 'type=image']), { type: ['container', 'image'], event: ['start'] });
    assert.throws(() => parseFilterFlags(['nonsense']), /bad format of filter \(expected name=value\)/);
    const line = prettyEvent(ev('container', 'start', 'abc', { name: 'x', image: 'bb:1' }));
    assert.equal(line, `${rfc3339NanoFixed(1700000000123456789n)} container start abc (image=bb:1, name=x)\n`);
    assert.match(rfc3339NanoFixed(1700000000123456789n), /^2023-11-14T\d\d:13:20\.123456789(Z|[+-]\d\d:\d\d)$/);
  });
});

describe('event log across processes', () => {
  it('a CLI process records, a subscriber here receives; unknown filter keys are refused', { timeout: 60_000 }, async (t) => {
    if (!requiresRoot(t)) return;
    const dir = tempDir(t);
    const s = stowage(join(dir, 'root'), 'vfs');
    await s.ok(['volume', 'ls']); // makes the data root
    const e = Engine.open({ dataRoot: s.root, storageDriver: 'vfs' });
    t.after(() => e.close());
    const ac = new AbortController();
    const got: DockerEvent[] = [];
    const sub = (async () => {
      for await (const x of e.events.subscribe({ filters: { type: ['volume'] }, signal: ac.signal })) {
        got.push(x);
        if (got.length === 2) ac.abort();
      }
    })();
    await s.ok(['volume', 'create', 'evvol']);
    await s.ok(['volume', 'rm', 'evvol']);
    await Promise.race([sub, new Promise((_, rej) => setTimeout(() => rej(new Error('no events within 20 s')), 20_000))]);
    assert.deepEqual(got.map((x) => [x.Type, x.Action, x.Actor.ID, x.Actor.Attributes.driver]), [['volume', 'create', 'evvol', 'local'], ['volume', 'destroy', 'evvol', 'local']]);
    await assert.rejects(async () => { for await (const _ of e.events.subscribe({ filters: { colour: ['red'] } })) break; }, /invalid filter 'colour'/);
  });

  it('since/until replay through the CLI, filters, --format, and the log stays capped', { timeout: 60_000 }, async (t) => {
    if (!requiresRoot(t)) return;
    const dir = tempDir(t);
    const s = stowage(join(dir, 'root'), 'vfs');
    const t0 = Date.now() / 1000;
    await s.ok(['volume', 'create', 'a1']);
    await s.ok(['volume', 'create', '--label', 'tier=db', 'a2']);
    const mid = Date.now() / 1000;
    await new Promise((r) => setTimeout(r, 20));
    await s.ok(['volume', 'rm', 'a1']);
    const t1 = Date.now() / 1000 + 0.001;
    const all = await s.ok(['events', '--since', String(t0), '--until', String(t1)]);
    const lines = all.trim().split('\n');
    assert.equal(lines.length, 3, all);
    assert.match(lines[0]!, /^\S+ volume create a1 \(driver=local\)$/);
    assert.match(lines[2]!, /^\S+ volume destroy a1 \(driver=local\)$/);
    const early = await s.ok(['events', '--since', String(t0), '--until', String(mid)]);
    assert.equal(early.trim().split('\n').length, 2, 'until cuts the replay');
    const filtered = await s.ok(['events', '--since', String(t0), '--until', String(t1), '--filter', 'event=destroy', '--format', '{{.Actor.ID}} {{.Action}}']);
    assert.equal(filtered, 'a1 destroy\n');
    const json = await s.ok(['events', '--since', String(t0), '--until', String(t1), '-f', 'volume=a2', '--format', '{{json .}}']);
    const parsed = JSON.parse(json) as DockerEvent;
    assert.equal(parsed.Action, 'create');
    assert.equal(parsed.scope, 'local');
    assert.equal(typeof parsed.timeNano, 'number');
    const bad = await s.run(['events', '--since', 'soon']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /failed to parse value as time or duration: "soon"/);
    // The cap: the oldest rows go.
    const e = Engine.open({ dataRoot: s.root, storageDriver: 'vfs' });
    t.after(() => e.close());
    for (let i = 0; i < MAX_EVENTS + 200; i++) e.events.record({ Type: 'daemon', Action: 'reload', Actor: { ID: 'x', Attributes: {} } });
    const n = (e.db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
    assert.ok(n <= MAX_EVENTS + 64, `capped: ${n}`);
  });
});
