// stdio.test.ts: the attach protocol's frames, Docker's detach-key syntax and the escape
// proxy that finds the sequence in a stdin stream (table-driven, no root needed).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Frame, FrameDecoder, MAX_FRAME, encodeFrame, parseDetachKeys } from '../../src/containers/stdio.js';
import { DetachScanner } from '../../src/containers/attach.js';
import { parsePs } from '../../src/containers/procs.js';
import { parseWaitCondition } from '../../src/containers/wait.js';

describe('attach frames', () => {
  it('round trip, split at every byte boundary', () => {
    const bytes = Buffer.concat([encodeFrame(Frame.Hello, '{"stdin":true}'), encodeFrame(Frame.Stdout, Buffer.from([0, 1, 2, 255])), encodeFrame(Frame.StdinClose)]);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const d = new FrameDecoder();
      const frames = [...d.feed(bytes.subarray(0, cut)), ...d.feed(bytes.subarray(cut))];
      assert.deepEqual(frames.map((f) => [f.type, f.payload.toString('hex')]), [
        [Frame.Hello, Buffer.from('{"stdin":true}').toString('hex')], [Frame.Stdout, '000102ff'], [Frame.StdinClose, ''],
      ], `cut at ${cut}`);
    }
  });

  it('a frame over the limit is refused', () => {
    const head = Buffer.alloc(5);
    head.writeUInt8(Frame.Stdout, 0);
    head.writeUInt32BE(MAX_FRAME + 1, 1);
    assert.throws(() => new FrameDecoder().feed(head), /over the 1048576-byte limit/);
  });
});

describe('detach keys', () => {
  const cases: Array<{ spec: string | undefined; want?: number[]; err?: RegExp }> = [
    { spec: undefined, want: [16, 17] },
    { spec: '', want: [16, 17] },
    { spec: 'ctrl-a', want: [1] },
    { spec: 'ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_', want: [0, 27, 28, 29, 30, 31] },
    { spec: 'a,b,ctrl-z', want: [97, 98, 26] },
    { spec: 'ctrl-', err: /Invalid detach keys \(ctrl-\) provided/ },
    { spec: 'ctrl-1', err: /unknown key ctrl-1/ },
    { spec: 'abc', err: /neither a character nor ctrl-<key>/ },
  ];
  for (const c of cases) {
    it(`parse ${JSON.stringify(c.spec)}`, () => {
      if (c.err) assert.throws(() => parseDetachKeys(c.spec), c.err);
      else assert.deepEqual([...parseDetachKeys(c.spec)], c.want);
    });
  }

  it('the escape proxy holds a prefix, lets a mismatch through, detaches on the sequence', () => {
    const s = new DetachScanner(Buffer.from([16, 17]));
    assert.deepEqual(s.feed(Buffer.from('ab')), { forward: Buffer.from('ab'), detach: false });
    assert.deepEqual(s.feed(Buffer.from([16])), { forward: Buffer.alloc(0), detach: false }, 'held');
    assert.deepEqual(s.feed(Buffer.from('x')), { forward: Buffer.from([16, 120]), detach: false }, 'released with the mismatch');
    assert.deepEqual(s.feed(Buffer.from([16, 16])), { forward: Buffer.from([16]), detach: false }, 'a repeated first key restarts the match');
    assert.deepEqual(s.feed(Buffer.from([17, 99])), { forward: Buffer.alloc(0), detach: true });
  });
});

describe('ps output and wait conditions', () => {
  it("Docker's parsePSOutput: PID column by title, the command keeps its spaces, other pids dropped", () => {
    const out = 'UID   PID  PPID  C STIME TTY TIME     CMD\nroot  10   1     0 20:00 ?   00:00:00 sleep 60\nroot  11   1     0 20:00 ?   00:00:00 other thing\n';
    assert.deepEqual(parsePs(out, new Set([10])), {
      Titles: ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD'],
      Processes: [['root', '10', '1', '0', '20:00', '?', '00:00:00', 'sleep 60']],
    });
    assert.throws(() => parsePs('USER COMMAND\nroot sh\n', new Set([1])), /Couldn't find PID field in ps output/);
  });

  it('conditions', () => {
    assert.equal(parseWaitCondition(undefined), 'not-running');
    assert.equal(parseWaitCondition('removed'), 'removed');
    assert.throws(() => parseWaitCondition('later'), /invalid condition: "later"/);
  });
});
