// words.ts: Dockerfile word processing: quotes, the escape character, and variable
// substitution with Docker's modifiers, as the Dockerfile reference describes them:
//
//   $VAR  ${VAR}  ${VAR:-default}  ${VAR-default}  ${VAR:+alt}  ${VAR+alt}
//   ${VAR:?message}  ${VAR?message}
//
// Single quotes keep everything literal; inside double quotes only `$`, the escape
// character before `"`, `$` or itself, are special. A value that comes from a
// variable is never re-scanned for quotes. expandWord joins everything into one
// string (ENV values, WORKDIR, USER …); expandWords splits on unquoted blanks,
// including blanks a variable expanded to (EXPOSE, VOLUME, COPY sources).
import { invalidArgument } from '../errors.js';

export type Lookup = (name: string) => string | undefined;

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;
const SPECIAL_ONE = /[0-9*#@$?!-]/;

class Lexer {
  private i = 0;
  constructor(private readonly s: string, private readonly lookup: Lookup, private readonly esc: string, private readonly split: boolean) {}

  private peek(): string | undefined { return this.s[this.i]; }

  run(): string[] {
    const words: string[] = [];
    let cur = '';
    let inWord = false;
    const endWord = () => { if (inWord) words.push(cur); cur = ''; inWord = false; };
    while (this.i < this.s.length) {
      const c = this.s[this.i]!;
      if (this.split && (c === ' ' || c === '\t' || c === '\n' || c === '\r')) { this.i++; endWord(); continue; }
      if (c === "'") { this.i++; cur += this.single(); inWord = true; continue; }
      if (c === '"') { this.i++; cur += this.double(); inWord = true; continue; }
      if (c === this.esc) {
        this.i++;
        if (this.i < this.s.length) cur += this.s[this.i++];
        else cur += c;
        inWord = true;
        continue;
      }
      if (c === '$') {
        this.i++;
        const v = this.dollar();
        if (this.split) {
          // Unquoted expansion splits on blanks, as a shell would.
          const parts = v.split(/[ \t\n]+/);
          for (let k = 0; k < parts.length; k++) {
            if (k > 0) endWord();
            if (parts[k]) { cur += parts[k]; inWord = true; }
          }
        } else { cur += v; inWord = true; }
        continue;
      }
      cur += c; this.i++; inWord = true;
    }
    endWord();
    if (!this.split && words.length === 0) return [''];
    return words;
  }

  private single(): string {
    const end = this.s.indexOf("'", this.i);
    if (end < 0) throw invalidArgument(`unexpected end of statement while looking for matching single-quote in ${JSON.stringify(this.s)}`);
    const out = this.s.slice(this.i, end);
    this.i = end + 1;
    return out;
  }

  private double(): string {
    let out = '';
    while (this.i < this.s.length) {
      const c = this.s[this.i]!;
      if (c === '"') { this.i++; return out; }
      if (c === '$') { this.i++; out += this.dollar(); continue; }
      if (c === this.esc) {
        const n = this.s[this.i + 1];
        if (n === '"' || n === '$' || n === this.esc) { out += n; this.i += 2; continue; }
      }
      out += c; this.i++;
    }
    throw invalidArgument(`unexpected end of statement while looking for matching double-quote in ${JSON.stringify(this.s)}`);
  }

  /** After a `$`: a name, `{…}`, or a literal dollar. */
  private dollar(): string {
    const c = this.peek();
    if (c === '{') { this.i++; return this.braced(); }
    if (c !== undefined && NAME_START.test(c)) {
      let name = '';
      while (this.peek() !== undefined && NAME_CHAR.test(this.peek()!)) name += this.s[this.i++];
      return this.lookup(name) ?? '';
    }
    if (c !== undefined && SPECIAL_ONE.test(c)) {
      // $1, $@ …: positional and special parameters are empty in a Dockerfile.
      this.i++;
      return '';
    }
    return '$';
  }

  private braced(): string {
    let name = '';
    while (this.peek() !== undefined && (NAME_CHAR.test(this.peek()!) || (name === '' && SPECIAL_ONE.test(this.peek()!)))) name += this.s[this.i++];
    if (name === '') throw invalidArgument(`bad substitution: missing variable name in ${JSON.stringify(this.s)}`);
    const c = this.peek();
    if (c === '}') { this.i++; return this.lookup(name) ?? ''; }
    if (c === undefined) throw invalidArgument(`missing '}' in substitution in ${JSON.stringify(this.s)}`);
    let colon = false;
    if (c === ':') { colon = true; this.i++; }
    const op = this.peek();
    if (op !== '-' && op !== '+' && op !== '?') {
      throw invalidArgument(`unsupported modifier (${colon ? ':' : ''}${op ?? ''}) in substitution ${JSON.stringify(this.s)}`);
    }
    this.i++;
    const word = this.modifierWord();
    const v = this.lookup(name);
    const set = colon ? v !== undefined && v !== '' : v !== undefined;
    if (op === '-') return set ? v! : word;
    if (op === '+') return set ? word : '';
    if (!set) throw invalidArgument(`${name}: ${word || 'is not allowed to be unset'}`);
    return v!;
  }

  /** The word of a modifier up to the matching `}`; itself expanded, quotes kept literal as Docker does. */
  private modifierWord(): string {
    let out = '';
    while (this.i < this.s.length) {
      const c = this.s[this.i]!;
      if (c === '}') { this.i++; return out; }
      if (c === '$') { this.i++; out += this.dollar(); continue; }
      if (c === this.esc && this.i + 1 < this.s.length) { out += this.s[this.i + 1]; this.i += 2; continue; }
      out += c; this.i++;
    }
    throw invalidArgument(`missing '}' in substitution in ${JSON.stringify(this.s)}`);
  }
}

/** Removes quotes and expands variables; one string. */
export function expandWord(s: string, lookup: Lookup, escape = '\\'): string {
  return new Lexer(s, lookup, escape, false).run()[0]!;
}

/** Removes quotes and expands variables, splitting on unquoted blanks. */
export function expandWords(s: string, lookup: Lookup, escape = '\\'): string[] {
  return new Lexer(s, lookup, escape, true).run();
}

/**
 * Splits on blanks outside quotes, keeping quotes and escapes in the words (Docker's
 * parseWords): used to find the key=value pairs of ENV, LABEL and ARG before any
 * expansion, so `ENV a="x y"` is one pair.
 */
export function splitRaw(s: string, escape = '\\'): string[] {
  const words: string[] = [];
  let cur = '';
  let quote: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      cur += c;
      if (c === escape && quote === '"' && i + 1 < s.length) cur += s[++i];
      else if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'") { quote = c; cur += c; continue; }
    if (c === escape && i + 1 < s.length) { cur += c + s[++i]; continue; }
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { if (cur) words.push(cur); cur = ''; continue; }
    cur += c;
  }
  if (quote) throw invalidArgument(`unterminated quote (${quote}) in ${JSON.stringify(s)}`);
  if (cur) words.push(cur);
  return words;
}
