// report.ts: turns results into a console table and a markdown section (strings only).
import type { CaseResult, SideResult } from './case.js';
import type { AppImage } from './app-image.js';

export interface BenchEnv {
  date: string;
  kernel: string;
  cpus: string;
  node: string;
  docker: string | null;
  filesystem: string;
  /** How stowage commands start: cold (Node each time) or through `stowage warm`. */
  cli: string;
  /** The wait of file-creating cases after each reset (bench/settle.ts). */
  settle: string;
  repetitions: number;
  command: string;
}

export interface BenchReport {
  env: BenchEnv;
  image: Omit<AppImage, 'buildSeconds' | 'cached'> & { buildSeconds: number; cached: boolean };
  cases: CaseResult[];
  totalSeconds: number;
}

const MB = 1024 * 1024;

function sec(r: SideResult): string {
  if (r.median !== null) {
    const parts = r.parts ? ` (${Object.entries(r.parts).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(' + ')})` : '';
    return `${r.median.toFixed(3)} s${parts}`;
  }
  return r.error ? 'failed' : 'n/a';
}

function x(v: number | null): string {
  return v === null ? 'n/a' : `${v.toFixed(2)}x`;
}

function rows(cases: CaseResult[]): string[][] {
  return cases.map((c) => [
    c.name,
    sec(c.sides.stowage),
    sec(c.sides.docker),
    sec(c.sides.floor),
    x(c.ratios.stowageOverFloor),
    x(c.ratios.stowageOverDocker),
    x(c.ratios.dockerOverFloor),
  ]);
}

const HEAD = ['operation', 'stowage', 'docker', 'floor', 'stowage/floor', 'stowage/docker', 'docker/floor'];

export function imageLine(img: BenchReport['image']): string {
  const base = img.rootfs === 'debootstrap' ? 'Debian bookworm minbase (debootstrap)' : `SYNTHETIC base tree (${img.rootfsNote ?? ''})`;
  return `image ${img.imageId.slice(0, 19)}: ${(img.bytes / MB).toFixed(0)} MB of files, ${img.layerSizes.length} layers (${(img.layerSizes.reduce((a, b) => a + b, 0) / MB).toFixed(0)} MB of tar), ${img.entries} entries; base: ${base}`;
}

/** Plain aligned columns for the terminal, with skip and failure notes under it. */
export function consoleTable(cases: CaseResult[]): string {
  const all = [HEAD, ...rows(cases)];
  const w = HEAD.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const lines = all.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(w[i]!) : cell.padStart(w[i]!))).join('  '));
  lines.splice(1, 0, w.map((n) => '-'.repeat(n)).join('  '));
  return [...lines, ...notes(cases)].join('\n');
}

function notes(cases: CaseResult[]): string[] {
  const out: string[] = [];
  for (const c of cases) {
    for (const [side, r] of Object.entries(c.sides)) {
      if (r.skipped) out.push(`${c.name} ${side}: skipped: ${r.skipped}`);
      if (r.error) out.push(`${c.name} ${side}: failed: ${r.error}`);
    }
  }
  return out;
}

/** A section to append to docs/benchmarks.md. */
export function markdown(r: BenchReport): string {
  const t = rows(r.cases);
  const lines = [
    `## ${r.env.date.slice(0, 10)}: ${r.cases.map((c) => c.name).join(', ')}`,
    '',
    `Command: \`${r.env.command}\` (median of ${r.env.repetitions}; page cache warm; \`sync\` before each timed run).`,
    `Machine: ${r.env.cpus}, kernel ${r.env.kernel}, ${r.env.filesystem}, Node ${r.env.node}, Docker ${r.env.docker ?? 'not run'}.`,
    `Image: ${imageLine(r.image)}.`,
    `Stowage CLI: ${r.env.cli}.`,
    `Settle: ${r.env.settle}.`,
    '',
    `| ${HEAD.join(' | ')} |`,
    `|${HEAD.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...t.map((row) => `| ${row.join(' | ')} |`),
    '',
    ...r.cases.map((c) => `- ${c.name}: ${c.what}`),
    ...notes(r.cases).map((n) => `- ${n}`),
    '',
  ];
  return lines.join('\n');
}
