// identity.ts: layer identities as the OCI image spec defines them.
//   diffID   sha256 of the uncompressed layer tar
//   chainID  chainID(L1) = diffID(L1); chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln))
import { createHash } from 'node:crypto';

export function chainIdOf(parentChainId: string | null, diffId: string): string {
  if (!parentChainId) return diffId;
  return 'sha256:' + createHash('sha256').update(`${parentChainId} ${diffId}`).digest('hex');
}

export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  let prev: string | null = null;
  for (const d of diffIds) {
    prev = chainIdOf(prev, d);
    out.push(prev);
  }
  return out;
}
