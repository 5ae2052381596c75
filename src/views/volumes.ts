// views/volumes.ts: volumes in Docker's shapes — the API's list entries and the
// `volume ls` rows and sort order. `volume inspect` JSON comes from the volume
// service (plugins answer parts of it).
import type { VolumeRecord, VolumeInspect } from '../volumes/service.js';
import { rfc3339 } from '../volumes/service.js';

export const VOLUME_HEADERS: Record<string, string> = { Driver: 'DRIVER', Name: 'VOLUME NAME', Scope: 'SCOPE', Mountpoint: 'MOUNTPOINT', Labels: 'LABELS', Links: 'LINKS', Size: 'SIZE', CreatedAt: 'CREATED AT', Group: 'GROUP', Availability: 'AVAILABILITY', Status: 'STATUS' };

export function volumeRow(v: VolumeRecord) {
  return {
    Name: v.name, Driver: v.driver, Scope: 'local', Mountpoint: v.mountpoint,
    Labels: Object.entries(v.labels).map(([k, x]) => `${k}=${x}`).join(','),
    Links: 'N/A', Size: 'N/A', CreatedAt: new Date(v.createdAt).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' +0000 UTC'),
    Group: 'N/A', Availability: 'N/A', Status: 'N/A',
  };
}

/** A volume as GET /volumes lists it (Docker's Volume object), from the record alone. */
export function volumeJson(v: VolumeRecord): VolumeInspect {
  return {
    CreatedAt: rfc3339(v.createdAt), Driver: v.driver, Labels: Object.keys(v.labels).length ? v.labels : null,
    Mountpoint: v.mountpoint, Name: v.name, Options: Object.keys(v.options).length ? v.options : null,
    Scope: 'local',
  };
}

/** Natural order, as Docker's CLI sorts names (vol2 before vol10). */
export function naturalLess(a: string, b: string): number {
  // By hand: localeCompare with options initialises ICU's collator, ~7 ms of a ~90 ms command.
  const re = /(\d+)|(\D+)/g;
  const pa = a.match(re) ?? [];
  const pb = b.match(re) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x === y) continue;
    const nx = /^\d/.test(x);
    const ny = /^\d/.test(y);
    if (nx && ny) return Number(x) - Number(y) || x.length - y.length;
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

/** KEY=VALUE list (--label, --opt) to a map; a bare KEY has an empty value, as Docker's. */
export function kvMap(list: string[] | undefined, invalid: (msg: string) => Error): Record<string, string> {
  const m: Record<string, string> = {};
  for (const item of list ?? []) {
    const i = item.indexOf('=');
    if (i === 0) throw invalid(`invalid argument ${JSON.stringify(item)}: empty key`);
    m[i < 0 ? item : item.slice(0, i)] = i < 0 ? '' : item.slice(i + 1);
  }
  return m;
}
