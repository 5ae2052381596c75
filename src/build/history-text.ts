// history-text.ts: how Docker's classic builder spells a metadata step in history
// (`created_by`), which goes through Go's fmt verbs: CMD and ENTRYPOINT with %q of a
// string slice (["a" "b"], space-separated), SHELL and VOLUME with %v ([a b]),
// HEALTHCHECK with %q of the *HealthConfig struct (&{["CMD" "x"] "30s" "5s" "0s" '\x02'}).
// Checked line by line against a real Docker 20.10 (test/build/docker-fidelity.test.ts).
import type { HealthConfig } from '../images/config.js';

/** Go's %q of a string (strconv.Quote), close enough for what Dockerfiles hold. */
export function goQuote(s: string): string {
  return JSON.stringify(s).replace(/\\u00([0-9a-f]{2})/g, '\\x$1');
}

/** Go's %q of a []string. */
export function goQuoteList(list: string[]): string {
  return `[${list.map(goQuote).join(' ')}]`;
}

/** Go's time.Duration.String() for a count of nanoseconds. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let n = Math.abs(ns);
  let out: string;
  if (n < 1e9) {
    const [unit, div] = n < 1e3 ? ['ns', 1] : n < 1e6 ? ['µs', 1e3] : ['ms', 1e6];
    out = `${trim(n / (div as number))}${unit}`;
  } else {
    const h = Math.floor(n / 3.6e12);
    n -= h * 3.6e12;
    const m = Math.floor(n / 6e10);
    n -= m * 6e10;
    out = `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${trim(n / 1e9)}s`;
  }
  return neg ? '-' + out : out;
}

function trim(x: number): string {
  return String(Number(x.toFixed(9)));
}

/** Go's %q of an int (strconv.QuoteRune). */
function goRune(n: number): string {
  const named: Record<number, string> = { 7: '\\a', 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r', 39: "\\'", 92: '\\\\' };
  if (named[n]) return `'${named[n]}'`;
  if (n < 0x20 || n === 0x7f) return `'\\x${n.toString(16).padStart(2, '0')}'`;
  return `'${String.fromCodePoint(n)}'`;
}

/** "HEALTHCHECK " + Go's %q of the HealthConfig (Docker 20.10's five fields). */
export function healthcheckText(h: HealthConfig): string {
  const test = h.Test ? goQuoteList(h.Test) : '[]';
  return `HEALTHCHECK &{${test} "${goDuration(h.Interval ?? 0)}" "${goDuration(h.Timeout ?? 0)}" "${goDuration(h.StartPeriod ?? 0)}" ${goRune(h.Retries ?? 0)}}`;
}
