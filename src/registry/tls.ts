// tls.ts: the trust and client certificates for one registry, as Docker finds
// them: the system CA bundle, plus every *.crt in certs.d/HOST[:PORT]/ (extra CAs)
// and every *.cert with its *.key (client certificates), in each certs.d folder
// (settings.ts). Loaded explicitly, so trust never depends on NODE_EXTRA_CA_CERTS
// (bin/stowage drops it for start-up speed).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { invalidArgument } from '../errors.js';

export interface TlsMaterial { ca: string[]; cert?: Buffer; key?: Buffer; extra: boolean }

const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem'];

let systemCas: string[] | undefined;
/** The system bundle (what Docker trusts), or Node's own roots where there is none. */
function systemCa(): string[] {
  if (systemCas) return systemCas;
  for (const p of SYSTEM_BUNDLES) {
    try { systemCas = [readFileSync(p, 'utf8')]; return systemCas; } catch { /* next */ }
  }
  systemCas = [...rootCertificates];
  return systemCas;
}

/**
 * insecure: the registry may be used without verifying its certificate (loopback or
 * listed insecure), so no CA bundle is parsed for it (a few hundred roots cost tens of
 * milliseconds per connection pool); client certificates still apply.
 */
export function tlsFor(hostPort: string, certsDirs: string[], insecure = false): TlsMaterial {
  const m: TlsMaterial = { ca: insecure ? [] : systemCa(), extra: false };
  const cas: string[] = [];
  for (const root of certsDirs) {
    const dir = join(root, hostPort.replace(/[[\]]/g, ''));
    let names: string[];
    try { names = readdirSync(dir).sort(); } catch { continue; }
    for (const n of names) {
      if (n.endsWith('.crt')) cas.push(readFileSync(join(dir, n), 'utf8'));
      else if (n.endsWith('.cert')) {
        const keyName = n.slice(0, -'.cert'.length) + '.key';
        if (!names.includes(keyName)) throw invalidArgument(`missing key ${keyName} for client certificate ${join(dir, n)}`, { name: join(dir, n) });
        if (!m.cert) { m.cert = readFileSync(join(dir, n)); m.key = readFileSync(join(dir, keyName)); }
      } else if (n.endsWith('.key')) {
        const certName = n.slice(0, -'.key'.length) + '.cert';
        if (!names.includes(certName)) throw invalidArgument(`missing client certificate ${certName} for key ${join(dir, n)}`, { name: join(dir, n) });
      }
    }
  }
  if (cas.length > 0) { m.ca = [...m.ca, ...cas]; m.extra = true; }
  return m;
}
