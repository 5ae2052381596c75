// views/images.ts: images in Docker's shapes — the `images` table rows (one per
// repository:tag) and `history` rows. Inspect and list JSON come from the image
// service as they are (ImageInspect, ImageSummary); the API serialises them.
import type { ImageSummary, HistoryItem } from '../images/service.js';
import { humanSize, since } from '../cli/format.js';
import { globMatch } from '../images/filters.js';

export const IMAGE_HEADERS: Record<string, string> = {
  Repository: 'REPOSITORY', Tag: 'TAG', ID: 'IMAGE ID', Digest: 'DIGEST', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', Size: 'SIZE',
  Containers: 'CONTAINERS', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE', VirtualSize: 'VIRTUAL SIZE',
};

export interface ImageRow { Repository: string; Tag: string; ID: string; Digest: string; CreatedSince: string; CreatedAt: string; Size: string; Containers: string; VirtualSize: string; SharedSize: string; UniqueSize: string }

/** One row per repository:tag, as `docker images` shows them. */
export function imageRows(images: ImageSummary[], noTrunc: boolean): ImageRow[] {
  const out: ImageRow[] = [];
  for (const img of images) {
    const id = noTrunc ? img.Id : img.Id.replace(/^sha256:/, '').slice(0, 12);
    const base = {
      ID: id,
      CreatedSince: since(img.Created),
      CreatedAt: img.Created ? new Date(img.Created * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' +0000 UTC') : '',
      Size: humanSize(img.Size), VirtualSize: humanSize(img.VirtualSize), Containers: 'N/A', SharedSize: 'N/A', UniqueSize: 'N/A',
    };
    const digestOf = (repo: string) => img.RepoDigests.find((d) => d.startsWith(repo + '@'))?.split('@')[1] ?? '<none>';
    if (img.RepoTags.length === 0) {
      if (img.RepoDigests.length === 0) out.push({ ...base, Repository: '<none>', Tag: '<none>', Digest: '<none>' });
      for (const d of img.RepoDigests) {
        const [repo, digest] = d.split('@');
        out.push({ ...base, Repository: repo!, Tag: '<none>', Digest: digest! });
      }
      continue;
    }
    for (const t of img.RepoTags) {
      const i = t.lastIndexOf(':');
      const repo = t.slice(0, i);
      out.push({ ...base, Repository: repo, Tag: t.slice(i + 1), Digest: digestOf(repo) });
    }
  }
  return out;
}

export const HISTORY_HEADERS = { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT' };

/** `history` rows: short ids, human or raw sizes and dates, truncated commands. */
export function historyRows(items: HistoryItem[], o: { human: boolean; noTrunc: boolean }) {
  const shortId = (id: string) => (id === '<missing>' || o.noTrunc ? id : id.replace(/^sha256:/, '').slice(0, 12));
  return items.map((h) => ({
    ID: shortId(h.Id),
    CreatedSince: o.human ? since(h.Created) : new Date(h.Created * 1000).toISOString(),
    CreatedAt: new Date(h.Created * 1000).toISOString(),
    CreatedBy: o.noTrunc || h.CreatedBy.length <= 45 ? h.CreatedBy : h.CreatedBy.slice(0, 44) + '…',
    Size: o.human ? humanSize(h.Size) : String(h.Size),
    Comment: h.Comment,
  }));
}

/** Short image id for `-q`, de-duplicated across tags. */
export function imageIds(images: ImageSummary[], noTrunc: boolean): string[] {
  const seen = new Set<string>();
  for (const img of images) seen.add(noTrunc ? img.Id : img.Id.replace(/^sha256:/, '').slice(0, 12));
  return [...seen];
}

/**
 * As dockerd: with reference filters (or `docker images REPO[:TAG]`), an image lists only
 * the tags and digests that match, so `images -q busybox:1` prints one line, not one per tag.
 */
export function onlyMatchingRefs(images: ImageSummary[], filters: string[], reference?: string): ImageSummary[] {
  const patterns = filters.filter((f) => f.startsWith('reference=')).map((f) => f.slice(10));
  if (reference) patterns.push(reference);
  if (patterns.length === 0) return images;
  const hit = (n: string) => {
    const bare = n.replace(/[:@].*$/, '');
    return patterns.some((p) => globMatch(p, n) || globMatch(p, bare));
  };
  return images.map((s) => ({ ...s, RepoTags: s.RepoTags.filter(hit), RepoDigests: s.RepoDigests.filter(hit) }));
}
