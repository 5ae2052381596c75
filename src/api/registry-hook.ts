// registry-hook.ts: where POST /images/create?fromImage (pull) and POST
// /images/{name}/push meet the registry client (branch `registry`, src/registry/).
// Until that client is merged, `registryClient()` returns undefined and those
// endpoints answer 501 naming what is missing.
//
// TO WIRE IT (integrator, after merging `registry`): replace the body of
// registryClient() with
//     const r = await import('../registry/index.js');
//     const auth = (h?: string) => { const a = r.decodeAuthHeader(h); return a ? { auth: a } : {}; };
//     return {
//       pull: (e, ref, o) => r.pull(e, ref, { onProgress: o.onProgress, signal: o.signal,
//         ...(o.platform ? { platform: o.platform } : {}), ...auth(o.auth) }),
//       push: (e, ref, o) => r.push(e, ref, { onProgress: o.onProgress, signal: o.signal, ...auth(o.auth) }),
//     };
// (registry's PullOptions as of its commit 916f429: platform "os/arch[/variant]",
// auth from decodeAuthHeader(X-Registry-Auth), which takes undefined). routes/images.ts streams
// every progress object as one JSON line and turns a failure after the first line
// into {"errorDetail": …, "error": …}, as dockerd does.
import type { Engine } from '../engine.js';

export interface RegistryClientHooks {
  pull(e: Engine, ref: string, o: { onProgress: (m: object) => void; signal: AbortSignal; platform?: string; auth?: string }): Promise<unknown>;
  push(e: Engine, ref: string, o: { onProgress: (m: object) => void; signal: AbortSignal; auth?: string }): Promise<unknown>;
}

export async function registryClient(): Promise<RegistryClientHooks | undefined> {
  return undefined;
}
