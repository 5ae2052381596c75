// mount.test.ts: option parsing (table-driven, plus a randomized loop) and the
// mount/unmount primitives on real mounts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readFileSync, openSync, closeSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { mountAll, unmount, isMountPoint, parseMountOptions, mountsUnder } from '../../src/drivers/mount.js';
import { MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE } from '../../src/util/sys.js';
import { kindOf } from '../../src/errors.js';
import { requiresRoot, tempDir } from '../helpers/env.js';

const MS_RELATIME = 1 << 21;
const MS_NOATIME = 1024;
const MS_SHARED = 1 << 20;

describe('parseMountOptions', () => {
  const cases: Array<{ doc: string; input: string[]; flags: number; propagation?: number; data: string }> = [
    { doc: 'nothing', input: [], flags: 0, data: '' },
    { doc: 'read-only', input: ['ro'], flags: MS_RDONLY, data: '' },
    { doc: 'a later rw wins over ro', input: ['ro', 'rw'], flags: 0, data: '' },
    { doc: 'rbind,ro', input: ['rbind', 'ro'], flags: MS_BIND | MS_REC | MS_RDONLY, data: '' },
    { doc: 'bind alone has no MS_REC', input: ['bind'], flags: MS_BIND, data: '' },
    { doc: 'security flags', input: ['nosuid', 'nodev', 'noexec'], flags: MS_NOSUID | MS_NODEV | MS_NOEXEC, data: '' },
    { doc: 'suid clears nosuid', input: ['nosuid', 'suid'], flags: 0, data: '' },
    { doc: 'atime words', input: ['noatime', 'relatime'], flags: MS_NOATIME | MS_RELATIME, data: '' },
    {
      doc: 'overlay options are data, in order',
      input: ['index=off', 'lowerdir=l/A:l/B', 'upperdir=x/diff', 'workdir=x/work'],
      flags: 0, data: 'index=off,lowerdir=l/A:l/B,upperdir=x/diff,workdir=x/work',
    },
    { doc: 'flags and data mixed', input: ['size=1m', 'ro', 'mode=0755'], flags: MS_RDONLY, data: 'size=1m,mode=0755' },
    { doc: 'propagation kept apart', input: ['bind', 'rprivate'], flags: MS_BIND, propagation: MS_PRIVATE | MS_REC, data: '' },
    { doc: 'shared', input: ['shared'], flags: 0, propagation: MS_SHARED, data: '' },
    { doc: 'blanks are ignored, words trimmed', input: [' ro ', '', 'userxattr'], flags: MS_RDONLY, data: 'userxattr' },
  ];
  for (const c of cases) {
    it(c.doc, () => {
      assert.deepEqual(parseMountOptions(c.input), { flags: c.flags, propagation: c.propagation ?? 0, data: c.data });
    });
  }

  it('randomized: flags follow the last word of each pair, data keeps its order', () => {
    const pairs: Array<[string, string, number]> = [['ro', 'rw', MS_RDONLY], ['nosuid', 'suid', MS_NOSUID], ['nodev', 'dev', MS_NODEV], ['noexec', 'exec', MS_NOEXEC]];
    const dataWords = ['a=1', 'b', 'lowerdir=x:y', 'c=d=e'];
    let seed = 42;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    for (let round = 0; round < 500; round++) {
      const input: string[] = [];
      const want = new Map<number, boolean>();
      const data: string[] = [];
      for (let i = rnd(12); i > 0; i--) {
        if (rnd(3) === 0) {
          const w = dataWords[rnd(dataWords.length)]!;
          input.push(w);
          data.push(w);
        } else {
          const [on, off, flag] = pairs[rnd(pairs.length)]!;
          const set = rnd(2) === 0;
          input.push(set ? on : off);
          want.set(flag, set);
        }
      }
      let flags = 0;
      for (const [f, set] of want) if (set) flags |= f;
      assert.deepEqual(parseMountOptions(input), { flags, propagation: 0, data: data.join(',') }, input.join(','));
    }
  });
});

describe('mountAll / unmount / isMountPoint', () => {
  it('bind-mounts read-only via a remount, leaving the source writable', (t) => {
    if (!requiresRoot(t)) return;
    const dir = tempDir(t);
    const src = join(dir, 'src');
    const tgt = join(dir, 'tgt');
    mkdirSync(src);
    mkdirSync(tgt);
    writeFileSync(join(src, 'f'), 'hello');
    try {
      mountAll([{ type: 'bind', source: src, options: ['rbind', 'ro'] }], tgt);
      assert.ok(isMountPoint(tgt));
      assert.equal(readFileSync(join(tgt, 'f'), 'utf8'), 'hello');
      assert.throws(() => writeFileSync(join(tgt, 'g'), 'x'), { code: 'EROFS' });
      writeFileSync(join(src, 'g'), 'x');
      assert.equal(readFileSync(join(tgt, 'g'), 'utf8'), 'x');
    } finally {
      unmount(tgt);
    }
    assert.equal(isMountPoint(tgt), false);
  });

  it('a read-only bind keeps the nosuid/nodev its source mount has', (t) => {
    if (!requiresRoot(t)) return;
    const dir = tempDir(t);
    const src = join(dir, 'src');
    const tgt = join(dir, 'tgt');
    mkdirSync(src);
    mkdirSync(tgt);
    try {
      mountAll([{ type: 'tmpfs', source: 'tmpfs', options: ['size=1m', 'nosuid', 'nodev'] }], src);
      mountAll([{ type: 'bind', source: src, options: ['bind', 'ro'] }], tgt);
      const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4] === tgt).pop()!;
      const opts = line.split(' ')[5]!.split(',');
      for (const o of ['ro', 'nosuid', 'nodev']) assert.ok(opts.includes(o), `${o} in ${opts.join(',')}`);
    } finally {
      unmount(tgt);
      unmount(src);
    }
  });

  it('unmounts an rbind with its submounts and leaves the source mounts alone', (t) => {
    if (!requiresRoot(t)) return;
    const dir = tempDir(t);
    const src = join(dir, 'src');
    const sub = join(src, 'sub');
    const tgt = join(dir, 'tgt');
    mkdirSync(sub, { recursive: true });
    mkdirSync(tgt);
    try {
      mountAll([{ type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }], sub);
      writeFileSync(join(sub, 'inside'), 'i');
      mountAll([{ type: 'bind', source: src, options: ['rbind'] }], tgt);
      assert.ok(isMountPoint(join(tgt, 'sub')));
      assert.equal(readFileSync(join(tgt, 'sub/inside'), 'utf8'), 'i');
      unmount(tgt);
      assert.deepEqual(mountsUnder(tgt), []);
      assert.ok(isMountPoint(sub), 'the source submount is still there');
    } finally {
      unmount(tgt);
      unmount(sub);
    }
  });

  it('mounts overlay with paths relative to cwd and restores the cwd', (t) => {
    if (!requiresRoot(t)) return;
    const dir = tempDir(t);
    for (const d of ['lower', 'upper', 'work', 'merged']) mkdirSync(join(dir, d));
    writeFileSync(join(dir, 'lower/f'), 'low');
    const cwd = process.cwd();
    const merged = join(dir, 'merged');
    try {
      mountAll([{ type: 'overlay', source: 'overlay', cwd: dir, options: ['lowerdir=lower', 'upperdir=upper', 'workdir=work'] }], merged);
      assert.equal(process.cwd(), cwd);
      assert.equal(readFileSync(join(merged, 'f'), 'utf8'), 'low');
      writeFileSync(join(merged, 'f'), 'up');
      assert.equal(readFileSync(join(dir, 'upper/f'), 'utf8'), 'up');
      assert.equal(readFileSync(join(dir, 'lower/f'), 'utf8'), 'low');
    } finally {
      unmount(merged);
    }
    assert.throws(
      () => mountAll([{ type: 'overlay', source: 'overlay', cwd: dir, options: ['lowerdir=missing', 'upperdir=upper', 'workdir=work'] }], merged),
      (err: unknown) => kindOf(err) === 'Internal' && /ENOENT/.test(String(err)),
    );
    assert.equal(process.cwd(), cwd, 'cwd restored after a failed mount');
    assert.equal(isMountPoint(merged), false);
  });

  it('stacks several mounts on one target and unmounts them all', (t) => {
    if (!requiresRoot(t)) return;
    const tgt = join(tempDir(t), 'tgt');
    mkdirSync(tgt);
    try {
      mountAll([
        { type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
        { type: 'tmpfs', source: 'tmpfs', options: ['size=1m', 'ro'] },
      ], tgt);
      assert.equal(mountsUnder(tgt).length, 2);
      assert.throws(() => writeFileSync(join(tgt, 'x'), 'x'), { code: 'EROFS' });
    } finally {
      unmount(tgt);
    }
    assert.deepEqual(mountsUnder(tgt), []);
  });

  it('undoes earlier mounts when a later one fails', (t) => {
    if (!requiresRoot(t)) return;
    const dir = tempDir(t);
    const tgt = join(dir, 'tgt');
    mkdirSync(tgt);
    assert.throws(() => mountAll([
      { type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
      { type: 'bind', source: join(dir, 'missing'), options: ['bind'] },
    ], tgt), /ENOENT/);
    assert.deepEqual(mountsUnder(tgt), []);
  });

  it('refuses option data over one page before calling mount', (t) => {
    if (!requiresRoot(t)) return;
    const tgt = join(tempDir(t), 'tgt');
    mkdirSync(tgt);
    assert.throws(() => mountAll([{ type: 'tmpfs', source: 'tmpfs', options: ['x'.repeat(5000)] }], tgt),
      (err: unknown) => kindOf(err) === 'InvalidArgument');
    assert.equal(isMountPoint(tgt), false);
  });

  it('unmount is idempotent: missing paths and plain directories are fine', (t) => {
    if (!requiresRoot(t)) return;
    const dir = tempDir(t);
    unmount(join(dir, 'does-not-exist'));
    unmount(dir);
    assert.equal(isMountPoint(join(dir, 'does-not-exist')), false);
    assert.equal(isMountPoint(dir), false);
    assert.equal(isMountPoint('/'), true);
  });

  it('a busy mount is retried, then detached', (t) => {
    if (!requiresRoot(t)) return;
    const tgt = join(tempDir(t), 'busy');
    mkdirSync(tgt);
    let fd: number | undefined;
    try {
      mountAll([{ type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }], tgt);
      writeFileSync(join(tgt, 'f'), 'x');
      fd = openSync(join(tgt, 'f'), 'r');
      const t0 = Date.now();
      unmount(tgt);
      assert.ok(Date.now() - t0 < 2000);
      assert.equal(isMountPoint(tgt), false);
      assert.deepEqual(readdirSync(tgt), []);
    } finally {
      if (fd !== undefined) closeSync(fd);
      unmount(tgt);
    }
  });

  it('handles mount points whose names need escaping in mountinfo', (t) => {
    if (!requiresRoot(t)) return;
    const tgt = join(tempDir(t), 'with space\tand tab');
    mkdirSync(tgt);
    try {
      mountAll([{ type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }], tgt);
      assert.ok(isMountPoint(tgt));
    } finally {
      unmount(tgt);
    }
    assert.equal(isMountPoint(tgt), false);
  });
});
