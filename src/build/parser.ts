// parser.ts: Dockerfile text to instructions. No file system, no expansion: what
// each instruction *means* is decided by the builder at the step it runs, with the
// variables in scope there. Here: parser directives (syntax, escape), comments,
// line continuations, heredocs (RUN, COPY, ADD), --flags, JSON vs shell form, and a
// syntax check of every instruction, so that a bad Dockerfile is refused before any
// step runs, with the line number of the fault.
import { invalidArgument, StowageError } from '../errors.js';
import { splitRaw } from './words.js';

export interface Heredoc {
  /** The terminator word (EOF). */
  name: string;
  /** The lines between the instruction and the terminator, each ending with "\n". */
  body: string;
  /** False when the terminator was quoted (<<"EOF"): no variable expansion. */
  expand: boolean;
  /** <<-EOF: leading tabs were stripped from the body lines. */
  chomp: boolean;
}

export interface Instruction {
  /** The keyword in upper case: FROM, RUN … */
  keyword: string;
  /** First and last line (1-based) of the instruction, heredocs included. */
  line: number;
  endLine: number;
  /** Everything after the keyword, continuations joined, flags included. */
  text: string;
  /** After the flags: the instruction's arguments as written. */
  rest: string;
  flags: Record<string, string | true>;
  /** The arguments in JSON (exec) form, or null for the shell form. */
  json: string[] | null;
  heredocs: Heredoc[];
}

export interface Dockerfile {
  escape: string;
  syntax?: string;
  instructions: Instruction[];
  warnings: string[];
}

export const KEYWORDS = [
  'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK', 'LABEL',
  'MAINTAINER', 'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
] as const;

/** Flags each instruction takes; `true`: boolean flag. */
const FLAGS: Record<string, Record<string, 'string' | 'bool'>> = {
  FROM: { platform: 'string' },
  RUN: { network: 'string', mount: 'string', security: 'string' },
  COPY: { chown: 'string', chmod: 'string', from: 'string', link: 'bool' },
  ADD: { chown: 'string', chmod: 'string', link: 'bool', checksum: 'string', 'keep-git-dir': 'bool' },
  HEALTHCHECK: { interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string' },
};

/** A parse error naming the line, as Docker words it. */
export function lineError(line: number, msg: string, cause?: unknown): StowageError {
  return invalidArgument(`Dockerfile parse error line ${line}: ${msg}`, { op: 'build', ...(cause ? { cause } : {}) });
}

const DIRECTIVE = /^#[ \t]*([A-Za-z][A-Za-z0-9]*)[ \t]*=[ \t]*(.*?)[ \t]*$/;
const HEREDOC = /<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)\2/g;

/** JSON array of strings, or null when the text is not one (then it is shell form). */
export function jsonForm(rest: string): string[] | null {
  const t = rest.trim();
  if (!t.startsWith('[')) return null;
  try {
    const v = JSON.parse(t) as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch { /* shell form */ }
  return null;
}

export function parseDockerfile(text: string): Dockerfile {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const df: Dockerfile = { escape: '\\', instructions: [], warnings: [] };
  let i = 0;
  // Parser directives: only at the very top, before any comment, blank line or instruction.
  const seen = new Set<string>();
  for (; i < lines.length; i++) {
    const m = DIRECTIVE.exec(lines[i]!);
    if (!m) break;
    const key = m[1]!.toLowerCase();
    if (key !== 'escape' && key !== 'syntax' && key !== 'check') break; // an unknown directive is a comment
    if (seen.has(key)) throw lineError(i + 1, `only one ${key} parser directive can be used`);
    seen.add(key);
    if (key === 'escape') {
      if (m[2] !== '\\' && m[2] !== '`') throw lineError(i + 1, `invalid escape token '${m[2]}' does not match \` or \\`);
      df.escape = m[2]!;
    } else if (key === 'syntax') df.syntax = m[2]!;
  }
  const esc = df.escape;
  const continues = (s: string): boolean => {
    const t = s.replace(/[ \t]+$/, '');
    return t.endsWith(esc);
  };
  const dropEscape = (s: string): string => s.replace(/[ \t]+$/, '').slice(0, -1);
  while (i < lines.length) {
    const first = lines[i]!;
    const trimmed = first.trimStart();
    if (trimmed === '' || trimmed.startsWith('#')) { i++; continue; }
    const start = i + 1;
    let joined = trimmed;
    i++;
    while (continues(joined)) {
      joined = dropEscape(joined);
      let next: string | undefined;
      while (i < lines.length) {
        const l = lines[i]!;
        const lt = l.trimStart();
        if (lt.startsWith('#')) { i++; continue; }
        if (lt === '') { df.warnings.push(`line ${i + 1}: empty continuation line`); i++; continue; }
        next = l;
        i++;
        break;
      }
      if (next === undefined) break;
      joined += next;
    }
    const m = /^(\S+)(?:[ \t]+([\s\S]*))?$/.exec(joined);
    const keyword = m![1]!.toUpperCase();
    const argText = (m![2] ?? '').trim();
    const heredocs: Heredoc[] = [];
    if (keyword === 'RUN' || keyword === 'COPY' || keyword === 'ADD') {
      for (const h of argText.matchAll(HEREDOC)) {
        const name = h[3]!;
        const chomp = h[1] === '-';
        let body = '';
        let closed = false;
        while (i < lines.length) {
          let l = lines[i++]!;
          if (chomp) l = l.replace(/^\t+/, '');
          if (l === name) { closed = true; break; }
          body += l + '\n';
        }
        if (!closed) throw lineError(start, `unterminated heredoc: no line "${name}" after it`);
        heredocs.push({ name, body, expand: h[2] === '', chomp });
      }
    }
    const ins: Instruction = { keyword, line: start, endLine: i, text: argText, rest: argText, flags: {}, json: null, heredocs };
    check(ins, esc);
    df.instructions.push(ins);
  }
  return df;
}

/** Splits leading --flags off the arguments and checks them against the instruction's set. */
function takeFlags(ins: Instruction): void {
  const allowed = FLAGS[ins.keyword] ?? {};
  let rest = ins.text;
  for (;;) {
    const m = /^--([A-Za-z][A-Za-z0-9-]*)(?:=(\S*))?(?:[ \t]+|$)/.exec(rest);
    if (!m) break;
    const name = m[1]!;
    const kind = allowed[name];
    if (!kind) throw lineError(ins.line, `unknown flag: --${name} for ${ins.keyword}`);
    if (kind === 'string') {
      if (m[2] === undefined || m[2] === '') throw lineError(ins.line, `missing a value on flag: --${name}`);
      ins.flags[name] = m[2];
    } else {
      if (m[2] !== undefined && m[2] !== 'true' && m[2] !== 'false') throw lineError(ins.line, `expecting boolean value for flag --${name}, not: ${m[2]}`);
      if (m[2] !== 'false') ins.flags[name] = true;
    }
    rest = rest.slice(m[0].length);
  }
  ins.rest = rest.trim();
}

const ARG_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Key/value pairs of ENV, LABEL (raw: quotes kept for the builder's expansion). */
export function rawPairs(ins: Instruction, esc: string): Array<[string, string]> {
  const words = splitRaw(ins.rest, esc);
  if (words.length === 0) throw lineError(ins.line, `${ins.keyword} requires at least one argument`);
  if (!words[0]!.includes('=')) {
    // Legacy form: KEY value with spaces.
    const m = /^(\S+)[ \t]+([\s\S]+)$/.exec(ins.rest);
    if (!m) throw lineError(ins.line, `${ins.keyword} must have two arguments`);
    return [[m[1]!, m[2]!.trim()]];
  }
  return words.map((w) => {
    const at = w.indexOf('=');
    if (at < 0) throw lineError(ins.line, `Syntax error - can't find = in "${w}". Must be of the form: name=value`);
    if (at === 0) throw lineError(ins.line, `${ins.keyword} names can not be blank`);
    return [w.slice(0, at), w.slice(at + 1)];
  });
}

/** ARG declarations: name and raw default (undefined when none). */
export function rawArgs(ins: Instruction, esc: string): Array<[string, string | undefined]> {
  const words = splitRaw(ins.rest, esc);
  if (words.length === 0) throw lineError(ins.line, 'ARG requires at least one argument');
  return words.map((w) => {
    const at = w.indexOf('=');
    const name = at < 0 ? w : w.slice(0, at);
    if (!ARG_NAME.test(name)) throw lineError(ins.line, `invalid ARG name "${name}"`);
    return [name, at < 0 ? undefined : w.slice(at + 1)];
  });
}

/** FROM image [AS name] → the raw image word and the stage name (lower case), if any. */
export function fromParts(ins: Instruction): { image: string; name?: string } {
  const words = ins.rest.split(/[ \t]+/).filter(Boolean);
  if (words.length === 1) return { image: words[0]! };
  if (words.length === 3 && words[1]!.toUpperCase() === 'AS') {
    const name = words[2]!.toLowerCase();
    if (!/^[a-z][a-z0-9_.-]*$/.test(name)) throw lineError(ins.line, `invalid name for build stage: "${words[2]}", name can't start with a number or contain symbols`);
    return { image: words[0]!, name };
  }
  throw lineError(ins.line, 'FROM requires either one or three arguments');
}

/** Go durations as HEALTHCHECK takes them ("30s", "1m30s", "500ms") in nanoseconds. */
export function parseDuration(s: string): number | null {
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  const unit: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let total = 0;
  let at = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) { total += Number(m[1]) * unit[m[2]!]!; at = re.lastIndex; }
  return at === s.length && s.length > 0 ? Math.round(total) : null;
}

/** Checks one instruction's syntax (no expansion, no file system). Throws with its line. */
function check(ins: Instruction, esc: string): void {
  const k = ins.keyword;
  if (!(KEYWORDS as readonly string[]).includes(k)) throw lineError(ins.line, `unknown instruction: ${k}`);
  takeFlags(ins);
  if (ins.rest === '' && !(k === 'RUN' && ins.heredocs.length)) throw lineError(ins.line, `${k} requires at least one argument`);
  if (['RUN', 'CMD', 'ENTRYPOINT', 'SHELL', 'VOLUME', 'COPY', 'ADD'].includes(k)) ins.json = jsonForm(ins.rest);
  switch (k) {
    case 'FROM': fromParts(ins); break;
    case 'ENV': case 'LABEL': rawPairs(ins, esc); break;
    case 'ARG': rawArgs(ins, esc); break;
    case 'SHELL':
      if (!ins.json || ins.json.length === 0) throw lineError(ins.line, 'SHELL requires the arguments to be in JSON form');
      break;
    case 'COPY': case 'ADD': {
      const n = ins.json ? ins.json.length : ins.rest.split(/[ \t]+/).filter(Boolean).length;
      if (n < 2) throw lineError(ins.line, `${k} requires at least two arguments, but only one was provided. Destination could not be determined.`);
      break;
    }
    case 'RUN': {
      if (ins.flags.mount !== undefined || ins.flags.security !== undefined) {
        throw lineError(ins.line, `RUN --${ins.flags.mount !== undefined ? 'mount' : 'security'} is a BuildKit feature stowage's builder does not support`);
      }
      const net = ins.flags.network;
      if (net !== undefined && net !== 'default' && net !== 'host' && net !== 'none') throw lineError(ins.line, `RUN --network=${String(net)}: only default, host and none are supported`);
      break;
    }
    case 'ONBUILD': {
      const m = /^(\S+)/.exec(ins.rest);
      const inner = m![1]!.toUpperCase();
      if (inner === 'ONBUILD') throw lineError(ins.line, 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
      if (inner === 'FROM' || inner === 'MAINTAINER') throw lineError(ins.line, `${inner} isn't allowed as an ONBUILD trigger`);
      const sub = parseDockerfile(`# escape=${esc}\n${ins.rest}`);
      if (sub.instructions.length !== 1) throw lineError(ins.line, 'ONBUILD takes exactly one instruction');
      break;
    }
    case 'HEALTHCHECK': {
      const words = ins.rest.split(/[ \t]+/);
      const typ = words[0]!.toUpperCase();
      if (typ === 'NONE') {
        if (words.length > 1 || Object.keys(ins.flags).length) throw lineError(ins.line, 'HEALTHCHECK NONE takes no arguments');
      } else if (typ !== 'CMD') {
        throw lineError(ins.line, `Unknown type "${typ}" in HEALTHCHECK (try CMD)`);
      } else if (words.length < 2) throw lineError(ins.line, 'HEALTHCHECK CMD requires a command');
      for (const f of ['interval', 'timeout', 'start-period', 'start-interval']) {
        const v = ins.flags[f];
        if (typeof v === 'string') {
          const d = parseDuration(v);
          if (d === null || d < 0) throw lineError(ins.line, `invalid duration for --${f}: ${v}`);
          if (d !== 0 && d < 1e6) throw lineError(ins.line, `Interval "${f}" cannot be less than 1ms`);
        }
      }
      if (typeof ins.flags.retries === 'string' && !/^\d+$/.test(ins.flags.retries)) throw lineError(ins.line, `invalid --retries: ${ins.flags.retries}`);
      break;
    }
    default: break;
  }
}

/** What stage i is built from, and which instructions belong to it. */
export interface Stage {
  index: number;
  name?: string;
  from: Instruction;
  instructions: Instruction[];
}

export interface Stages { globalArgs: Instruction[]; stages: Stage[] }

/** Splits the instructions into the ARGs before the first FROM and the stages. */
export function splitStages(df: Dockerfile): Stages {
  const out: Stages = { globalArgs: [], stages: [] };
  for (const ins of df.instructions) {
    if (ins.keyword === 'FROM') {
      const { name } = fromParts(ins);
      if (name && out.stages.some((s) => s.name === name)) throw lineError(ins.line, `duplicate name for build stage: "${name}"`);
      out.stages.push({ index: out.stages.length, ...(name ? { name } : {}), from: ins, instructions: [] });
    } else if (out.stages.length === 0) {
      if (ins.keyword !== 'ARG') throw lineError(ins.line, `no build stage in current context: the first instruction must be FROM (or ARG), not ${ins.keyword}`);
      out.globalArgs.push(ins);
    } else {
      out.stages[out.stages.length - 1]!.instructions.push(ins);
    }
  }
  if (out.stages.length === 0) throw invalidArgument('the Dockerfile has no FROM instruction (file with no instructions)', { op: 'build' });
  return out;
}
