// registry-hook.ts: where POST /images/create?fromImage (pull) and POST
// /images/{name}/push meet the registry client (src/registry/). routes/images.ts
// streams every progress object as one JSON line and turns a failure after the first
// line into {"errorDetail": …, "error": …}, as dockerd does. The client is imported on
// first use, so a server that never pulls does not load it.
import type { Engine } from '../engine.js';

export interface RegistryClientHooks {
  pull(e: Engine, ref: string, o: { onProgress: (m: object) => void; signal: AbortSignal; platform?: string; auth?: string }): Promise<unknown>;
  push(e: Engine, ref: string, o: { onProgress: (m: object) => void; signal: AbortSignal; auth?: string }): Promise<unknown>;
}

export async function registryClient(): Promise<RegistryClientHooks | undefined> {
  const r = await import('../registry/index.js');
  return {
    pull: (e, ref, o) => r.pull(e, ref, {
      onProgress: o.onProgress, signal: o.signal,
      ...(o.platform ? { platform: o.platform } : {}),
      ...(o.auth ? { auth: r.decodeAuthHeader(o.auth) } : {}),
    }),
    push: (e, ref, o) => r.push(e, ref, {
      onProgress: o.onProgress, signal: o.signal,
      ...(o.auth ? { auth: r.decodeAuthHeader(o.auth) } : {}),
    }),
  };
}
