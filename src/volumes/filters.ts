// filters.ts: `--filter` for volume ls and prune, with Docker's keys. One predicate
// serves both (list and prune are the same search): ls takes dangling, driver,
// label, name; prune takes label, label!, all.
import { invalidArgument } from '../errors.js';
import type { VolumeRecord } from './service.js';

export interface VolumeFilter {
  /** prune's all=true filter (API 1.42): every unused volume, not only anonymous ones. */
  all: boolean;
  matches(v: VolumeRecord, used: boolean): boolean;
}

const KEYS = { list: ['dangling', 'driver', 'label', 'name'], prune: ['label', 'label!', 'all'] };

function labelMatch(labels: Record<string, string>, want: string): boolean {
  const i = want.indexOf('=');
  if (i < 0) return want in labels;
  const k = want.slice(0, i);
  return k in labels && labels[k] === want.slice(i + 1);
}

export function parseVolumeFilters(args: string[], mode: 'list' | 'prune'): VolumeFilter {
  const by: Record<string, string[]> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw invalidArgument(`bad format of filter (expected name=value): ${arg}`);
    const key = arg.slice(0, eq).trim().toLowerCase(); // label!=x arrives as key "label!"
    const value = arg.slice(eq + 1);
    if (!KEYS[mode].includes(key)) throw invalidArgument(`invalid filter '${key}'`);
    (by[key] ??= []).push(value);
  }
  let dangling: boolean | undefined;
  if (by.dangling) {
    const vals = by.dangling;
    if (vals.some((v) => v === 'true' || v === '1')) dangling = true;
    else if (vals.some((v) => v === 'false' || v === '0')) dangling = false;
    else throw invalidArgument(`invalid filter 'dangling=${vals.join(',')}'`);
  }
  let all = false;
  if (by.all) {
    const v = by.all[by.all.length - 1]!;
    if (!['true', '1', 'false', '0'].includes(v)) throw invalidArgument(`invalid filter 'all=${v}'`);
    all = v === 'true' || v === '1';
  }
  const names = (by.name ?? []).map((n) => { try { return new RegExp(n); } catch { return null; } });
  return {
    all,
    matches(v, used) {
      if (by.driver && !by.driver.includes(v.driver)) return false;
      if (by.name && !by.name.some((n, i) => n === v.name || names[i]?.test(v.name))) return false;
      for (const l of by.label ?? []) if (!labelMatch(v.labels, l)) return false;
      for (const l of by['label!'] ?? []) if (labelMatch(v.labels, l)) return false;
      if (dangling !== undefined && dangling === used) return false;
      return true;
    },
  };
}
