// api.ts: the page's only way to the engine: Docker's Engine API on the same origin
// (the server the page came from), plus stowage's two read-only additions under
// /stowage/v1/. Same-origin requests carry the page's own Origin, which the server
// accepts; a page on any other site cannot make these calls (the server refuses
// cross-site Origins), so nothing here needs a token.
import type { ContainerSummary, ImageSummary, LayerGraph, VolumeSummary } from './model.js';

export class ApiError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

async function call<T>(method: string, path: string, signal?: AbortSignal): Promise<T> {
  const r = await fetch(path, { method, headers: { Accept: 'application/json' }, ...(signal ? { signal } : {}) });
  const text = await r.text();
  if (!r.ok) {
    let msg = text;
    try { msg = (JSON.parse(text) as { message?: string }).message ?? text; } catch { /* plain text */ }
    throw new ApiError(r.status, msg || `${method} ${path}: HTTP ${r.status}`);
  }
  return (text ? JSON.parse(text) : null) as T;
}

export interface Info { Driver: string; DriverStatus: Array<[string, string]> | null }
export interface DiskUsage {
  LayersSize: number;
  Images: Array<{ Id: string; Size: number; SharedSize: number; Containers: number }> | null;
  Containers: Array<{ Id: string; SizeRw?: number; State: string }> | null;
  Volumes: Array<{ Name: string; UsageData?: { Size: number; RefCount: number } | null }> | null;
  BuildCache?: Array<{ Size: number; InUse: boolean }> | null;
}
export interface LayerFile { path: string; type: string; size: number; mode: number; link?: string }
export interface LayerFiles { layer: string; entries: LayerFile[]; total: number; truncated: boolean }
export interface Change { Path: string; Kind: number }

export const api = {
  info: () => call<Info>('GET', '/info'),
  df: () => call<DiskUsage>('GET', '/system/df'),
  graph: () => call<LayerGraph>('GET', '/stowage/v1/layers'),
  images: () => call<ImageSummary[]>('GET', '/images/json?all=1'),
  containers: () => call<ContainerSummary[]>('GET', '/containers/json?all=1&size=1'),
  volumes: async () => (await call<{ Volumes: VolumeSummary[] | null }>('GET', '/volumes')).Volumes ?? [],
  layerFiles: (chainId: string) => call<LayerFiles>('GET', `/stowage/v1/layers/${encodeURIComponent(chainId)}/files?limit=20000`),
  changes: (id: string) => call<Change[] | null>('GET', `/containers/${encodeURIComponent(id)}/changes`),
  removeImage: (id: string) => call<unknown>('DELETE', `/images/${encodeURIComponent(id)}`),
  pruneDangling: () => call<{ ImagesDeleted: unknown[] | null; SpaceReclaimed: number }>('POST', `/images/prune?filters=${encodeURIComponent(JSON.stringify({ dangling: ['true'] }))}`),
};

/**
 * Follows GET /events (one JSON object per line) and calls onEvent for each; reconnects
 * with a growing pause when the stream ends or fails, until the signal aborts.
 */
export async function followEvents(onEvent: (e: { Type?: string; Action?: string }) => void, onState: (connected: boolean) => void, signal: AbortSignal): Promise<void> {
  let pause = 500;
  while (!signal.aborted) {
    try {
      const r = await fetch('/events', { signal });
      if (!r.ok || !r.body) throw new Error(`events: HTTP ${r.status}`);
      onState(true);
      pause = 500;
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) {
            try { onEvent(JSON.parse(line)); } catch { /* not JSON: ignore */ }
          }
        }
      }
    } catch {
      if (signal.aborted) return;
    }
    onState(false);
    await new Promise((res) => setTimeout(res, pause));
    pause = Math.min(pause * 2, 10_000);
  }
}
