// identity.ts: layer identities as the OCI image spec defines them.
//   diffID   sha256 of the uncompressed layer tar
// (images/config.ts chainIds() maps a whole diff_ids list with this rule.)
//   chainID  chainID(L1) = diffID(L1); chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln))
import { createHash } from 'node:crypto';

export function chainIdOf(parentChainId: string | null, diffId: string): string {
  if (!parentChainId) return diffId;
  return 'sha256:' + createHash('sha256').update(`${parentChainId} ${diffId}`).digest('hex');
}
