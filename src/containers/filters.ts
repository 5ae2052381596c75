// filters.ts: `ps --filter` with Docker's keys: id, name, label, status, exited,
// ancestor, before, since.
import type { Engine } from '../engine.js';
import type { ContainerRecord } from './types.js';
import { invalidArgument } from '../errors.js';

const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

export function containerFilter(args: string[], engine: Engine): (c: ContainerRecord) => boolean {
  const by = new Map<string, string[]>();
  for (const a of args) {
    const i = a.indexOf('=');
    if (i <= 0) throw invalidArgument(`bad format of filter (expected name=value): ${a}`);
    const k = a.slice(0, i);
    if (!['id', 'name', 'label', 'status', 'exited', 'ancestor', 'before', 'since'].includes(k)) throw invalidArgument(`invalid filter '${k}'`);
    by.set(k, [...(by.get(k) ?? []), a.slice(i + 1)]);
  }
  for (const s of by.get('status') ?? []) {
    if (!STATUSES.includes(s)) throw invalidArgument(`invalid filter 'status=${s}': want one of ${STATUSES.join(', ')}`);
  }
  const ancestors = (by.get('ancestor') ?? []).map((a) => {
    try { return engine.images.resolve(a).id; } catch { return `missing:${a}`; }
  });
  const created = (ref: string) => Date.parse(engine.containers.resolve(ref).Created);
  const before = by.get('before')?.map(created);
  const since = by.get('since')?.map(created);
  return (c) => {
    const any = (k: string, p: (v: string) => boolean) => !by.has(k) || by.get(k)!.some(p);
    return any('id', (v) => c.Id.startsWith(v))
      && any('name', (v) => new RegExp(v).test(c.Name))
      && (by.get('label') ?? []).every((v) => {
        const j = v.indexOf('=');
        const labels = c.Config.Labels ?? {};
        return j < 0 ? v in labels : labels[v.slice(0, j)] === v.slice(j + 1);
      })
      && any('status', (v) => c.State.Status === v)
      && any('exited', (v) => c.State.Status === 'exited' && c.State.ExitCode === Number(v))
      && (ancestors.length === 0 || ancestors.includes(c.Image))
      && (!before || before.every((t) => Date.parse(c.Created) < t))
      && (!since || since.every((t) => Date.parse(c.Created) > t));
  };
}
