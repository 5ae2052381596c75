// views/df.ts: `system df` in Docker's shapes — the summary and verbose tables the
// CLI prints, and GET /system/df's JSON (from which the docker CLI computes the same
// table). The numbers come from store/usage.ts.
import type { Engine } from '../engine.js';
import type { DiskUsageReport, TypeUsage } from '../store/usage.js';
import { humanSize, since, table } from '../cli/format.js';
import { containerSummary } from './containers.js';
import { volumeJson } from './volumes.js';

export const DF_HEADERS: Record<string, string> = {
  Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE',
  Repository: 'REPOSITORY', Tag: 'TAG', ID: 'IMAGE ID', CreatedSince: 'CREATED', SharedSize: 'SHARED SIZE',
  UniqueSize: 'UNIQUE SIZE', Containers: 'CONTAINERS',
};

interface SummaryRow { Type: string; TotalCount: string; Active: string; Size: string; Reclaimable: string }

/** The summary rows use go-units' HumanSize (4 significant digits: "1.982MB"); the -v tables use 3. */
const humanSize4 = (bytes: number): string => humanSize(bytes, 4);

/** Docker prints "1.2MB (45%)"; the percentage is left out when there is nothing to divide. */
function reclaimable(u: TypeUsage): string {
  if (u.size <= 0) return humanSize4(u.reclaimable);
  return `${humanSize4(u.reclaimable)} (${Math.floor((100 * u.reclaimable) / u.size)}%)`;
}

export function dfSummary(r: DiskUsageReport): SummaryRow[] {
  const row = (Type: string, u: TypeUsage): SummaryRow => ({
    Type, TotalCount: String(u.total), Active: String(u.active), Size: humanSize4(u.size), Reclaimable: reclaimable(u),
  });
  return [row('Images', r.imageTotals), row('Containers', r.containerTotals), row('Local Volumes', r.volumeTotals), row('Build Cache', r.buildCacheTotals)];
}

export function dfImageRows(r: DiskUsageReport) {
  const rows = [];
  for (const img of r.images) {
    const tags = img.repoTags.length > 0 ? img.repoTags : ['<none>:<none>'];
    for (const t of tags) {
      const i = t.lastIndexOf(':');
      rows.push({
        Repository: t.slice(0, i), Tag: t.slice(i + 1), ID: img.id.replace(/^sha256:/, '').slice(0, 12),
        CreatedSince: since(img.created), Size: humanSize(img.size), SharedSize: humanSize(img.sharedSize),
        UniqueSize: humanSize(img.uniqueSize), Containers: String(img.containers),
      });
    }
  }
  return rows;
}

export function dfVerbose(r: DiskUsageReport): string {
  let s = 'Images space usage:\n\n';
  s += table([
    ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE', 'SHARED SIZE', 'UNIQUE SIZE', 'CONTAINERS'],
    ...dfImageRows(r).map((x) => [x.Repository, x.Tag, x.ID, x.CreatedSince, x.Size, x.SharedSize, x.UniqueSize, x.Containers]),
  ]);
  s += '\nContainers space usage:\n\n';
  s += table([['CONTAINER ID', 'IMAGE', 'COMMAND', 'LOCAL VOLUMES', 'SIZE', 'CREATED', 'STATUS', 'NAMES'],
    ...r.containers.map((c) => [c.id.slice(0, 12), c.image, c.command.length > 20 ? `"${c.command.slice(0, 19)}…"` : `"${c.command}"`, String(c.volumes), humanSize(c.size), since(c.created), c.status, c.name])]);
  s += '\nLocal Volumes space usage:\n\n';
  s += table([['VOLUME NAME', 'LINKS', 'SIZE'], ...r.volumes.map((v) => [v.name, String(v.links), humanSize(v.size)])]);
  s += `\nBuild cache usage: ${humanSize(r.buildCacheTotals.size)}\n\n`;
  s += table([['CACHE ID', 'CACHE TYPE', 'SIZE', 'CREATED', 'LAST USED', 'USAGE', 'SHARED']]);
  return s;
}

/** GET /system/df: Docker's DiskUsage object, from the same measured report. */
export async function dfJson(e: Engine, r: DiskUsageReport): Promise<Record<string, unknown>> {
  const summaries = new Map(e.images.list({ all: true }).map((s) => [s.Id, s]));
  const sizes = new Map(r.containers.map((c) => [c.id, c.size]));
  const { volumeService } = await import('../volumes/service.js');
  const vs = volumeService(e);
  const links = new Map(r.volumes.map((v) => [v.name, v]));
  return {
    LayersSize: r.imageTotals.size,
    Images: r.images.map((img) => ({
      ...(summaries.get(img.id) ?? { Id: img.id, ParentId: '', RepoTags: img.repoTags, RepoDigests: [], Created: img.created, Labels: {} }),
      Size: img.size, VirtualSize: img.size, SharedSize: img.sharedSize, Containers: img.containers,
    })),
    Containers: e.containers.list().map((c) => containerSummary(e, c, { SizeRw: sizes.get(c.Id) ?? 0, SizeRootFs: (sizes.get(c.Id) ?? 0) + (e.imageStore.get(c.Image)?.size ?? 0) })),
    Volumes: vs.all().map((v) => ({ ...volumeJson(v), UsageData: { Size: links.get(v.name)?.size ?? -1, RefCount: links.get(v.name)?.links ?? 0 } })),
    BuildCache: [],
  };
}
