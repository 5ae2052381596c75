// filters.ts: `--filter key=value` for image list and prune, with Docker's keys:
// dangling, label, label!= (prune), before, since, reference, until (prune).
// One predicate serves list and prune (they are the same search).
import type { ImageRecord } from './image-store.js';
import type { ImageSummary } from './service.js';
import { invalidArgument } from '../errors.js';

export interface ImageFilter {
  references: string[];
  matches(s: ImageSummary, img: ImageRecord): boolean;
}

const LIST_KEYS = ['before', 'dangling', 'label', 'reference', 'since', 'until'];
const PRUNE_KEYS = ['dangling', 'label', 'label!', 'until'];

/** Go's path.Match for reference filters: `*` and `?` do not cross "/", `[...]` classes. */
export function globMatch(pattern: string, s: string): boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) throw invalidArgument(`invalid filter pattern "${pattern}": unterminated [`);
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^')) cls = '^' + cls.slice(1).replace(/\\/g, '\\\\');
      re += `[${cls}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) re += '\\' + pattern[++i];
    else re += c.replace(/[.+^${}()|\]\\]/g, '\\$&');
  }
  return new RegExp(re + '$').test(s);
}

function parseUntil(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const m = /^(\d+)(s|m|h)$/.exec(v);
  if (m) return Date.now() - Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 's' | 'm' | 'h'];
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalidArgument(`invalid filter 'until=${v}': want a timestamp, a Unix time or a duration like 24h`);
  return t;
}

export function parseImageFilters(
  args: string[],
  resolve: (arg: string) => ImageRecord,
  opts: { prune?: boolean } = {},
): ImageFilter {
  const preds: Array<(s: ImageSummary, img: ImageRecord) => boolean> = [];
  const references: string[] = [];
  const danglingValues: boolean[] = [];
  const labels: Array<[string, string | undefined]> = [];
  const notLabels: Array<[string, string | undefined]> = [];
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw invalidArgument(`bad format of filter (expected name=value): ${arg}`);
    let key = arg.slice(0, eq);
    const value = arg.slice(eq + 1);
    const allowed = opts.prune ? PRUNE_KEYS : LIST_KEYS;
    if (!allowed.includes(key)) throw invalidArgument(`invalid filter '${key.replace(/!$/, '!=')}'`);
    if (key === 'label!') key = 'label!=';
    switch (key) {
      case 'dangling': {
        const v = value.toLowerCase();
        if (v !== 'true' && v !== 'false' && v !== '1' && v !== '0') throw invalidArgument(`invalid filter 'dangling=${value}'`);
        danglingValues.push(v === 'true' || v === '1');
        break;
      }
      case 'label': case 'label!=': {
        const i = value.indexOf('=');
        const pair: [string, string | undefined] = i < 0 ? [value, undefined] : [value.slice(0, i), value.slice(i + 1)];
        (key === 'label' ? labels : notLabels).push(pair);
        break;
      }
      case 'reference':
        references.push(value);
        break;
      case 'before': {
        const ref = resolve(value);
        preds.push((_s, img) => img.createdAt < ref.createdAt);
        break;
      }
      case 'since': {
        const ref = resolve(value);
        preds.push((_s, img) => img.createdAt > ref.createdAt);
        break;
      }
      case 'until': {
        const t = parseUntil(value);
        preds.push((s) => s.Created * 1000 < t);
        break;
      }
    }
  }
  if (danglingValues.length > 0) {
    const want = danglingValues[danglingValues.length - 1]!;
    preds.push((s) => (s.RepoTags.length === 0) === want);
  }
  const hasLabel = (s: ImageSummary, [k, v]: [string, string | undefined]) =>
    Object.prototype.hasOwnProperty.call(s.Labels, k) && (v === undefined || s.Labels[k] === v);
  if (labels.length > 0) preds.push((s) => labels.every((l) => hasLabel(s, l)));
  if (notLabels.length > 0) preds.push((s) => !notLabels.some((l) => hasLabel(s, l)));
  return {
    references,
    matches(s, img) {
      if (references.length > 0) {
        const names = [...s.RepoTags, ...s.RepoDigests];
        const ok = references.some((p) => names.some((n) => {
          const bare = n.replace(/[:@].*$/, '');
          return globMatch(p, n) || globMatch(p, bare);
        }));
        if (!ok) return false;
      }
      return preds.every((p) => p(s, img));
    },
  };
}
