// routes/system.ts: _ping, version, info, system/df, and the endpoints of Docker's
// that stowage does not have (swarm, services …), answered with 501 and a reason.
import type { Router, Ctx } from '../router.js';
import { sendJson } from '../http.js';
import { systemInfo, serverVersion } from '../../views/system.js';
import { API_VERSION } from '../../cli/version.js';
import { notImplemented } from '../../errors.js';

function ping(c: Ctx): void {
  // Builder-Version 1: the docker CLI then uses the classic builder (POST /build), which stowage speaks.
  c.res.writeHead(200, {
    'Api-Version': API_VERSION, 'Builder-Version': '1', 'Docker-Experimental': 'false', 'Ostype': 'linux',
    'Cache-Control': 'no-cache, no-store, must-revalidate', 'Pragma': 'no-cache',
    'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': c.req.method === 'HEAD' ? '0' : '2',
  });
  c.res.end(c.req.method === 'HEAD' ? undefined : 'OK');
}

export function systemRoutes(r: Router): void {
  r.get('/_ping', ping).head('/_ping', ping);
  r.get('/version', (c) => sendJson(c.res, 200, serverVersion()));
  r.get('/info', (c) => sendJson(c.res, 200, systemInfo(c.engine)));
  r.get('/system/df', async (c) => {
    const { systemDiskUsage } = await import('../../store/usage.js');
    const { dfJson } = await import('../../views/df.js');
    await c.engine.containers.reconcile();
    sendJson(c.res, 200, await dfJson(c.engine, await systemDiskUsage(c.engine, c.signal)));
  });
  r.post('/auth', () => { throw notImplemented('registry login is not supported by stowage (it has no registry client in this build)'); });
  const swarm = () => { throw notImplemented('stowage is not a swarm node: swarm, services, nodes, tasks, secrets and configs are not supported'); };
  for (const p of ['/swarm', '/swarm/{x:.*}', '/services', '/services/{x:.*}', '/nodes', '/nodes/{x:.*}', '/tasks', '/tasks/{x:.*}', '/secrets', '/secrets/{x:.*}', '/configs', '/configs/{x:.*}']) {
    r.get(p, swarm).post(p, swarm).delete(p, swarm);
  }
  r.post('/session', () => { throw notImplemented('BuildKit sessions are not supported: stowage builds with the classic builder (DOCKER_BUILDKIT=0)'); });
  r.get('/distribution/{name:.*}/json', () => { throw notImplemented('registry lookups are not supported by stowage (no registry client in this build)'); });
}
