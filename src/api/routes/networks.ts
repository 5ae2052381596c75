// routes/networks.ts: stowage runs containers with host or none networking, so
// GET /networks lists exactly those two; creating others is refused with a reason.
import type { Router } from '../router.js';
import { sendJson } from '../http.js';
import { notFound, notImplemented, permissionDenied } from '../../errors.js';
import { networkId } from '../../views/containers.js';

function network(name: 'host' | 'none'): Record<string, unknown> {
  return {
    Name: name, Id: networkId(name), Created: '0001-01-01T00:00:00Z', Scope: 'local', Driver: name === 'host' ? 'host' : 'null',
    EnableIPv6: false, IPAM: { Driver: 'default', Options: null, Config: [] }, Internal: false, Attachable: false, Ingress: false,
    ConfigFrom: { Network: '' }, ConfigOnly: false, Containers: {}, Options: {}, Labels: {},
  };
}

function find(ref: string): Record<string, unknown> {
  for (const n of ['host', 'none'] as const) if (ref === n || (ref.length >= 3 && networkId(n).startsWith(ref))) return network(n);
  throw notFound(`network ${ref} not found`, { name: ref });
}

const REFUSE = 'stowage runs containers with host or none networking only (--network host or --network none); it cannot create networks';

export function networkRoutes(r: Router): void {
  r.get('/networks', (c) => sendJson(c.res, 200, [network('host'), network('none')]));
  r.get('/networks/{id}', (c) => sendJson(c.res, 200, find(c.params.id!)));
  r.post('/networks/create', () => { throw notImplemented(REFUSE); });
  r.post('/networks/prune', (c) => sendJson(c.res, 200, { NetworksDeleted: null }));
  r.post('/networks/{id}/connect', (c) => { find(c.params.id!); throw notImplemented(`${REFUSE}; a container's network is fixed when it is created`); });
  r.post('/networks/{id}/disconnect', (c) => { find(c.params.id!); throw notImplemented(`${REFUSE}; a container's network is fixed when it is created`); });
  r.delete('/networks/{id}', (c) => {
    const n = find(c.params.id!);
    throw permissionDenied(`${String(n.Name)} is a pre-defined network and cannot be removed`);
  });
}
