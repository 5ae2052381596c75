// gostr.ts: the small pieces of Go's standard library (and go-units) whose exact
// accept/reject behaviour Docker's mount parsing inherits: encoding/csv's reading
// of one record, strconv.ParseBool / ParseUint(base 8) / ParseFloat, path.Clean,
// and go-units' RAMInBytes. Written from their documented behaviour; each is tested
// against Docker itself in test/mounts/docker-parity.test.ts.

/** An error from the CSV reader, worded as Go's csv.ParseError. */
export class CsvError extends Error {
  constructor(readonly line: number, readonly column: number, readonly reason: string, readonly startLine = line) {
    super(startLine !== line
      ? `record on line ${startLine}; parse error on line ${line}, column ${column}: ${reason}`
      : `parse error on line ${line}, column ${column}: ${reason}`);
  }
}

const BARE_QUOTE = 'bare " in non-quoted-field';
const QUOTE = 'extraneous or missing " in quoted-field';

/**
 * The first record of s as Go's csv.NewReader(...).Read() returns it (comma ',',
 * quote '"', no lazy quotes, no leading-space trimming). Empty lines before the
 * record are skipped; lines after it are ignored. Throws CsvError, or Error("EOF")
 * when there is no record at all (Go's io.EOF).
 */
export function readCsvRecord(s: string): string[] {
  // Split into lines the way csv.Reader.readLine does: "\r\n" ends a line like "\n";
  // a trailing "\r" before the end of input is dropped.
  const lines: string[] = [];
  let start = 0;
  while (start < s.length) {
    const nl = s.indexOf('\n', start);
    if (nl < 0) {
      let last = s.slice(start);
      if (last.endsWith('\r')) last = last.slice(0, -1);
      lines.push(last);
      break;
    }
    let line = s.slice(start, nl);
    if (line.endsWith('\r')) line = line.slice(0, -1);
    lines.push(line + '\n');
    start = nl + 1;
  }
  let li = 0;
  while (li < lines.length && lines[li] === '\n') li++;
  if (li >= lines.length) throw new Error('EOF');
  const recLine = li + 1;
  let lineNo = recLine;
  let line = lines[li++]!;
  const nlLen = (x: string) => (x.endsWith('\n') ? 1 : 0);
  const fields: string[] = [];
  let col = 1;
  for (;;) {
    if (line.length === 0 || line[0] !== '"') {
      const i = line.indexOf(',');
      const field = i >= 0 ? line.slice(0, i) : line.slice(0, line.length - nlLen(line));
      const j = field.indexOf('"');
      if (j >= 0) throw new CsvError(lineNo, col + j, BARE_QUOTE, recLine);
      fields.push(field);
      if (i >= 0) { line = line.slice(i + 1); col += i + 1; continue; }
      return fields;
    }
    // Quoted field.
    let buf = '';
    line = line.slice(1);
    col += 1;
    for (;;) {
      const i = line.indexOf('"');
      if (i >= 0) {
        buf += line.slice(0, i);
        line = line.slice(i + 1);
        col += i + 1;
        const rn = line[0];
        if (rn === '"') { buf += '"'; line = line.slice(1); col += 1; continue; }
        if (rn === ',') { line = line.slice(1); col += 1; fields.push(buf); break; }
        if (nlLen(line) === line.length) { fields.push(buf); return fields; }
        throw new CsvError(lineNo, col - 1, QUOTE, recLine);
      } else if (line.length > 0) {
        buf += line;
        col += line.length;
        if (li < lines.length) { line = lines[li++]!; lineNo++; col = 1; } else line = '';
      } else {
        throw new CsvError(lineNo, col, QUOTE, recLine);
      }
    }
  }
}

/** strconv.ParseBool. */
export function parseGoBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

/** strconv.ParseUint(v, 8, 32): octal digits only, no sign or prefix, below 2^32. */
export function parseOctalUint32(v: string): number | undefined {
  if (!/^[0-7]+$/.test(v)) return undefined;
  const n = parseInt(v, 8);
  return n <= 0xffffffff ? n : undefined;
}

/** strconv.ParseFloat(v, 64) for the forms that can reach it here; undefined on error (syntax or range). */
export function parseGoFloat(v: string): number | undefined {
  let n: number;
  if (/^[+-]?(\d+(_?\d+)*\.?(\d+(_?\d+)*)?|\.\d+(_?\d+)*)([eE][+-]?\d+)?$/.test(v)) {
    if (v.includes('_')) return undefined; // underscores only with a base prefix
    n = Number(v);
  } else if (/^[+-]?0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?\d+$/.test(v)) {
    const m = /^([+-]?)0[xX]([0-9a-fA-F]*)\.?([0-9a-fA-F]*)[pP]([+-]?\d+)$/.exec(v)!;
    const mant = parseInt((m[2] || '0') + (m[3] || ''), 16) / 16 ** (m[3]?.length ?? 0);
    n = (m[1] === '-' ? -1 : 1) * mant * 2 ** Number(m[4]);
  } else {
    return undefined;
  }
  return Number.isFinite(n) ? n : undefined;
}

const BINARY: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };

/** go-units RAMInBytes ("64m", "1.5GiB", "512 kb", "100"): binary units. Throws with go-units' wording. */
export function ramInBytes(s: string): number {
  let sep = -1;
  for (let i = s.length - 1; i >= 0; i--) if ('01234567890. '.includes(s[i]!)) { sep = i; break; }
  if (sep < 0) throw new Error(`invalid size: '${s}'`);
  const num = s[sep] !== ' ' ? s.slice(0, sep + 1) : s.slice(0, sep);
  let sfx = s.slice(sep + 1);
  let size = parseGoFloat(num);
  if (size === undefined) throw new Error(`strconv.ParseFloat: parsing "${num}": invalid syntax`);
  if (size < 0) throw new Error(`invalid size: '${s}'`);
  if (sfx.length === 0) return Math.trunc(size);
  sfx = sfx.toLowerCase();
  const bad = () => new Error(`invalid suffix: '${sfx}'`);
  if (sfx.length > 3) throw bad();
  if (sfx[0] === 'b') { if (sfx.length > 1) throw bad(); return Math.trunc(size); }
  const mul = BINARY[sfx[0]!];
  if (mul === undefined) throw bad();
  size *= mul;
  if ((sfx.length === 2 && sfx[1] !== 'b') || (sfx.length === 3 && sfx.slice(1) !== 'ib')) throw bad();
  return Math.trunc(size);
}

/** Go's path.Clean. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const s = (rooted ? '/' : '') + out.join('/');
  return s === '' ? '.' : s;
}

/** Go's %q for the strings that reach error messages (close enough: JSON escapes). */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}
