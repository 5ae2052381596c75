// format.ts: how the CLI shows things, as Docker's CLI does: tab-aligned tables,
// human sizes (decimal units, 3 significant digits), "2 hours ago", JSON with
// 4-space indentation, and a Go-template subset for --format.
import { invalidArgument } from '../errors.js';

/** Docker's units.HumanSizeWithPrecision(size, 3): 4.26MB, 196MB, 1.2GB. */
export function humanSize(bytes: number, precision = 3): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${Number(v.toPrecision(precision))}${units[i]}`;
}

/** Docker's units.HumanDuration. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.floor(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

export function since(unixSeconds: number, now = Date.now()): string {
  if (!unixSeconds) return 'N/A';
  return `${humanDuration(now - unixSeconds * 1000)} ago`;
}

/** Go's tabwriter as Docker sets it up (minwidth 10, padding 3): each column but the last padded. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, [...c].length); });
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(Math.max(10, (widths[i] ?? 0) + 3)))).join('').trimEnd() + '\n').join('');
}

export function json(v: unknown): string {
  return JSON.stringify(v, null, 4);
}

// --- Go templates (the subset users put in --format) ------------------------

type Value = unknown;
type Fn = (...args: Value[]) => Value;

const FUNCS: Record<string, Fn> = {
  json: (v) => JSON.stringify(v),
  upper: (v) => String(v).toUpperCase(),
  lower: (v) => String(v).toLowerCase(),
  title: (v) => String(v).replace(/\b\w/g, (c) => c.toUpperCase()),
  join: (v, sep) => (Array.isArray(v) ? v.map(String).join(String(sep)) : String(v)),
  split: (v, sep) => String(v).split(String(sep)),
  index: (v, k) => (v as Record<string, unknown> | null)?.[String(k)],
  len: (v) => (Array.isArray(v) ? v.length : typeof v === 'string' ? v.length : Object.keys(v ?? {}).length),
  println: (...a) => a.map(goString).join(' ') + '\n',
  print: (...a) => a.map(goString).join(''),
  truncate: (v, n) => String(v).slice(0, Number(n)),
  pad: (v, l, r) => ' '.repeat(Number(l)) + String(v) + ' '.repeat(Number(r)),
};

function goString(v: Value): string {
  if (v === null || v === undefined) return '<no value>';
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (typeof v === 'object') {
    return `map[${Object.keys(v as object).sort().map((k) => `${k}:${goString((v as Record<string, unknown>)[k])}`).join(' ')}]`;
  }
  return String(v);
}

function tokenize(expr: string): string[] {
  const out: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|[^\s()]+|\(|\))/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(expr)) !== null) if (m[1]) out.push(m[1]);
  return out;
}

function evalArg(tok: string, dot: Value): Value {
  if (tok === '.') return dot;
  if (tok.startsWith('"')) return JSON.parse(tok);
  if (tok.startsWith('`')) return tok.slice(1, -1);
  if (/^-?\d+(\.\d+)?$/.test(tok)) return Number(tok);
  if (tok === 'true' || tok === 'false') return tok === 'true';
  if (tok.startsWith('.')) {
    let v: Value = dot;
    for (const part of tok.slice(1).split('.')) {
      if (v === null || v === undefined || typeof v !== 'object') return undefined;
      if (!(part in (v as object))) throw invalidArgument(`template: can't evaluate field ${part}`);
      v = (v as Record<string, unknown>)[part];
      if (typeof v === 'function') v = (v as () => unknown).call(dot);
    }
    return v;
  }
  throw invalidArgument(`template: function "${tok}" not defined`);
}

function evalPipeline(expr: string, dot: Value): Value {
  let result: Value = undefined;
  let first = true;
  for (const stage of expr.split('|')) {
    const toks = tokenize(stage.trim());
    if (toks.length === 0) throw invalidArgument(`template: missing value in "${expr}"`);
    const [head, ...rest] = toks;
    const fn = FUNCS[head!];
    if (fn) {
      const args = rest.map((t) => evalArg(t, dot));
      if (!first) args.push(result);
      result = fn(...args);
    } else {
      if (rest.length > 0) throw invalidArgument(`template: function "${head}" not defined`);
      result = evalArg(head!, dot);
    }
    first = false;
  }
  return result;
}

export interface Template { table: boolean; header: string | null; render(dot: Value): string }

/**
 * Compiles a --format string. "table" prefixes make a table with a header row from
 * `headers` (field name -> column title); "json" alone is `{{json .}}`.
 */
export function compileTemplate(format: string, headers: Record<string, string> = {}): Template {
  let f = format;
  let isTable = false;
  if (f === 'json') f = '{{json .}}';
  if (f.startsWith('table')) { isTable = true; f = f.slice(5).trimStart(); }
  f = f.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  const parts: Array<string | { expr: string }> = [];
  let i = 0;
  while (i < f.length) {
    const open = f.indexOf('{{', i);
    if (open < 0) { parts.push(f.slice(i)); break; }
    parts.push(f.slice(i, open));
    const close = f.indexOf('}}', open);
    if (close < 0) throw invalidArgument(`template: unclosed action in "${format}"`);
    parts.push({ expr: f.slice(open + 2, close).replace(/^-\s*/, '').replace(/\s*-$/, '').trim() });
    i = close + 2;
  }
  const render = (dot: Value) => parts.map((p) => (typeof p === 'string' ? p : goString(evalPipeline(p.expr, dot)))).join('');
  let header: string | null = null;
  if (isTable) {
    header = parts.map((p) => {
      if (typeof p === 'string') return p;
      const m = /^\.(\w+)$/.exec(p.expr);
      return m ? headers[m[1]!] ?? m[1]!.toUpperCase() : p.expr.toUpperCase();
    }).join('');
  }
  return { table: isTable, header, render };
}

/** Renders items with a template: a table (aligned on tabs) or one line per item. */
export function renderTemplate(t: Template, items: Value[]): string {
  const lines = items.map((x) => t.render(x));
  if (!t.table) return lines.map((l) => l + '\n').join('');
  const rows = [t.header ?? '', ...lines].map((l) => l.split('\t'));
  return table(rows);
}
