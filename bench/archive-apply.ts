// archive-apply.ts: micro-benchmark of applyLayer against the floor the project
// measures itself by (GNU `tar -x` of the layer plus `sha256sum` of it).
// Not a test. Run: node scripts/build.mjs && node dist/bench/archive-apply.js [workdir] [--gzip]
// It makes a synthetic layer shaped like the benchmark image (~14,000 entries,
// ~200 MB: many small files, a few large ones, a directory tree), then times
// each side three times and prints the best of each and their ratio.
import { spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGzip } from 'node:zlib';
import { applyLayer } from '../src/archive/apply.js';
import { TarWriter } from '../src/archive/tar-writer.js';

const args = process.argv.slice(2);
const gzip = args.includes('--gzip');
const work = mkdtempSync(join(args.find((a) => !a.startsWith('--')) ?? tmpdir(), 'stowage-bench-'));

async function makeLayer(path: string): Promise<{ entries: number; bytes: number }> {
  const out = createWriteStream(path);
  const z = gzip ? createGzip({ level: 1 }) : null;
  if (z) z.pipe(out);
  const w = new TarWriter(z ?? out);
  // Pseudo-random but compressible-ish payload, made once and sliced.
  const pool = Buffer.alloc(4 << 20);
  let x = 12345;
  for (let i = 0; i < pool.length; i += 4) { x = (x * 1103515245 + 12345) >>> 0; pool.writeUInt32LE(i % 64 < 32 ? x : 0, i); }
  let entries = 0;
  let bytes = 0;
  const mtime = 1700000000;
  for (let d = 0; d < 900; d++) {
    const dir = `usr/lib/pkg${d % 30}/mod${d}`;
    if (d < 30) { await w.add({ name: `usr/lib/pkg${d}`, type: 'dir', mode: 0o755, mtime }); entries++; }
    await w.add({ name: dir, type: 'dir', mode: 0o755, mtime }); entries++;
    for (let f = 0; f < 14; f++) {
      const size = ((d * 14 + f) * 7919) % 12000 + 100;
      const off = ((d * 131 + f * 17) * 4096) % (pool.length - size);
      await w.add({ name: `${dir}/file${f}.js`, type: 'file', mode: 0o644, mtime, size }, pool.subarray(off, off + size));
      entries++; bytes += size;
    }
    if (d % 10 === 0) { await w.add({ name: `${dir}/link`, type: 'symlink', linkname: 'file0.js', mtime }); entries++; }
  }
  for (let i = 0; i < 75; i++) {
    const size = 2 << 20;
    const chunks = [pool.subarray(0, size / 2), pool.subarray(size / 2 + 4096 * i, size + 4096 * i)];
    await w.add({ name: `opt/big/blob${i}.bin`, type: 'file', mode: 0o644, mtime, size }, (async function* () { yield* chunks; })());
    entries++; bytes += size;
  }
  await w.finish();
  await new Promise<void>((r) => { (z ?? out).end(); out.on('close', r); });
  return { entries, bytes };
}

function time<T>(f: () => T): [number, T] { const t = process.hrtime.bigint(); const r = f(); return [Number(process.hrtime.bigint() - t) / 1e9, r]; }
async function timeAsync<T>(f: () => Promise<T>): Promise<[number, T]> { const t = process.hrtime.bigint(); const r = await f(); return [Number(process.hrtime.bigint() - t) / 1e9, r]; }

const layer = join(work, gzip ? 'layer.tar.gz' : 'layer.tar');
try {
  const made = await makeLayer(layer);
  console.log(`layer: ${made.entries} entries, ${(made.bytes / 1e6).toFixed(0)} MB payload${gzip ? ' (gzip)' : ''}`);
  let floor = Infinity;
  let ours = Infinity;
  let split = Infinity;
  for (let i = 0; i < 3; i++) {
    const a = join(work, `tar-${i}`);
    mkdirSync(a);
    const [tx] = time(() => spawnSync('tar', ['-x', ...(gzip ? ['-z'] : []), '-f', layer, '-C', a], { stdio: 'inherit' }));
    const [ts] = time(() => spawnSync('sha256sum', [layer], { stdio: 'ignore' }));
    floor = Math.min(floor, tx + ts);
    rmSync(a, { recursive: true, force: true });
    const b = join(work, `apply-${i}`);
    mkdirSync(b);
    const [ta] = await timeAsync(() => applyLayer(createReadStream(layer, { highWaterMark: 256 * 1024 }), b, { whiteouts: 'overlay' }));
    ours = Math.min(ours, ta);
    rmSync(b, { recursive: true, force: true });
    const c = join(work, `split-${i}`);
    mkdirSync(c);
    const [tt] = await timeAsync(() => applyLayer(createReadStream(layer, { highWaterMark: 256 * 1024 }), c, { whiteouts: 'overlay', tarSplitPath: join(work, `split-${i}.bin`) }));
    split = Math.min(split, tt);
    rmSync(c, { recursive: true, force: true });
  }
  console.log(`floor (tar -x + sha256sum): ${floor.toFixed(3)} s`);
  console.log(`applyLayer:                 ${ours.toFixed(3)} s  ratio ${(ours / floor).toFixed(2)}`);
  console.log(`applyLayer + tar-split:     ${split.toFixed(3)} s  ratio ${(split / floor).toFixed(2)}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
