// prng.ts: a small seeded generator (xorshift128) so that generated image content is the
// same on every run and every machine. Not for anything but test data.
export class Prng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    // splitmix32 to spread a small seed over the four words
    const next = (): number => {
      seed = (seed + 0x9e3779b9) | 0;
      let z = seed;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next() || 1;
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    let t = this.s3;
    const s = this.s0;
    this.s3 = this.s2;
    this.s2 = this.s1;
    this.s1 = s;
    t ^= t << 11;
    t ^= t >>> 8;
    this.s0 = (t ^ s ^ (s >>> 19)) >>> 0;
    return this.s0;
  }

  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + (this.u32() % (hi - lo + 1));
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.u32() % xs.length]!;
  }

  /** n pseudo-random bytes (incompressible, like a binary). */
  bytes(n: number): Buffer {
    const words = new Uint32Array(Math.ceil(n / 4));
    for (let i = 0; i < words.length; i++) words[i] = this.u32();
    return Buffer.from(words.buffer, 0, n);
  }

  /** Size drawn log-uniformly in [lo, hi]: many small files, a few big ones, like real trees. */
  logSize(lo: number, hi: number): number {
    const r = this.u32() / 0x100000000;
    return Math.round(Math.exp(Math.log(lo) + r * (Math.log(hi) - Math.log(lo))));
  }
}

const WORDS = (
  'const let function return export import from default async await if else for of in while ' +
  'new class extends this null undefined true false require module exports value options ' +
  'config error result callback promise resolve reject buffer stream path name data index ' +
  'length push map filter reduce object array string number typeof instanceof throw try catch'
).split(' ');

/** Source-like text of about n bytes (lines of words and punctuation). */
export function text(rng: Prng, n: number): string {
  const parts: string[] = [];
  let size = 0;
  while (size < n) {
    const words = rng.int(3, 12);
    let line = '  '.repeat(rng.int(0, 3));
    for (let i = 0; i < words; i++) line += (i ? ' ' : '') + rng.pick(WORDS);
    line += rng.pick([';', ' {', ' }', ',', '', ')']) + '\n';
    parts.push(line);
    size += line.length;
  }
  return parts.join('').slice(0, n);
}
