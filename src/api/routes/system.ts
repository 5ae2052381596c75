// routes/system.ts: _ping, version, info, system/df, and the endpoints of Docker's
// that stowage does not have (swarm, services …), answered with 501 and a reason.
import type { Router, Ctx } from '../router.js';
import { sendJson, readJson, messageOf, HttpError } from '../http.js';
import { systemInfo, serverVersion } from '../../views/system.js';
import { API_VERSION } from '../../cli/version.js';
import { invalidArgument, kindOf, notImplemented } from '../../errors.js';

function ping(c: Ctx): void {
  // Builder-Version 1: the docker CLI then uses the classic builder (POST /build), which stowage speaks.
  c.res.writeHead(200, {
    'Api-Version': API_VERSION, 'Builder-Version': '1', 'Docker-Experimental': 'false', 'Ostype': 'linux',
    'Cache-Control': 'no-cache, no-store, must-revalidate', 'Pragma': 'no-cache',
    'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': c.req.method === 'HEAD' ? '0' : '2',
  });
  c.res.end(c.req.method === 'HEAD' ? undefined : 'OK');
}

/**
 * POST /auth (`docker login`): the credentials are checked against the registry and
 * not kept; the docker CLI stores them and sends them with each pull and push
 * (X-Registry-Auth), as it does with dockerd. Refused credentials are a 401.
 */
async function auth(c: Ctx): Promise<void> {
  const body = await readJson(c.req, null);
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalidArgument('auth config must be a JSON object with username and password');
  const b = body as Record<string, unknown>;
  const str = (k: string) => (typeof b[k] === 'string' && b[k] !== '' ? (b[k] as string) : undefined);
  const username = str('username');
  const password = str('password');
  const identitytoken = str('identitytoken');
  const serveraddress = str('serveraddress');
  if (!identitytoken && (!username || password === undefined)) throw invalidArgument('auth config needs a username and password (or an identitytoken)');
  const { verifyLogin } = await import('../../registry/index.js');
  try {
    await verifyLogin(serveraddress, {
      ...(username ? { username } : {}), ...(password !== undefined ? { password } : {}),
      ...(identitytoken ? { identitytoken } : {}), ...(serveraddress ? { serveraddress } : {}),
    }, { signal: c.signal });
  } catch (err) {
    // dockerd answers a refused login with 401 (errdefs.Unauthorized), whatever the registry said.
    if (kindOf(err) === 'PermissionDenied') throw new HttpError(401, messageOf(err));
    throw err;
  }
  sendJson(c.res, 200, { IdentityToken: '', Status: 'Login Succeeded' });
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
  r.post('/auth', auth);
  const swarm = () => { throw notImplemented('stowage is not a swarm node: swarm, services, nodes, tasks, secrets and configs are not supported'); };
  for (const p of ['/swarm', '/swarm/{x:.*}', '/services', '/services/{x:.*}', '/nodes', '/nodes/{x:.*}', '/tasks', '/tasks/{x:.*}', '/secrets', '/secrets/{x:.*}', '/configs', '/configs/{x:.*}']) {
    r.get(p, swarm).post(p, swarm).delete(p, swarm);
  }
  r.post('/session', () => { throw notImplemented('BuildKit sessions are not supported: stowage builds with the classic builder (DOCKER_BUILDKIT=0)'); });
  r.get('/distribution/{name:.*}/json', () => { throw notImplemented('registry lookups (/distribution) are not supported by stowage; pull the image to inspect it'); });
}
