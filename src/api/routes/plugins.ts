// routes/plugins.ts: GET /plugins lists the volume plugins discovery finds (the
// legacy socket/spec plugins Docker also uses); managed plugins cannot be installed.
import type { Router } from '../router.js';
import { sendJson } from '../http.js';
import { notFound, notImplemented } from '../../errors.js';

export function pluginRoutes(r: Router): void {
  r.get('/plugins', async (c) => {
    const { discoverPlugins } = await import('../../plugins/discovery.js');
    const { describePlugin, pluginJson } = await import('../../views/plugins.js');
    const filters = c.query.filters();
    const infos = await Promise.all(discoverPlugins().map((p) => describePlugin(p.name, p)));
    const want = filters.filter((f) => f.startsWith('capability=')).map((f) => f.slice(11).toLowerCase());
    const enabled = filters.filter((f) => f.startsWith('enable=')).map((f) => f.slice(7) === 'true');
    sendJson(c.res, 200, infos
      .filter((i) => want.length === 0 || i.Implements.some((t) => want.includes(t.toLowerCase())))
      .filter((i) => enabled.length === 0 || enabled.includes(i.Enabled))
      .map(pluginJson));
  });
  r.get('/plugins/{name:.*}/json', async (c) => {
    const { findPlugin } = await import('../../plugins/discovery.js');
    const { describePlugin, pluginJson } = await import('../../views/plugins.js');
    let loc;
    try { loc = findPlugin(c.params.name!); } catch (err) { throw notFound(`plugin ${JSON.stringify(c.params.name)} not found`, { cause: err }); }
    sendJson(c.res, 200, pluginJson(await describePlugin(c.params.name!, loc)));
  });
  const managed = () => { throw notImplemented('managed plugins are not supported by stowage: run a volume plugin yourself and put its socket or spec in /run/docker/plugins (see docs/plugins.md)'); };
  for (const p of ['/plugins/pull', '/plugins/privileges', '/plugins/create', '/plugins/{name:.*}/enable', '/plugins/{name:.*}/disable', '/plugins/{name:.*}/upgrade', '/plugins/{name:.*}/push', '/plugins/{name:.*}/set']) r.post(p, managed);
  r.get('/plugins/privileges', managed);
  r.delete('/plugins/{name:.*}', managed);
}
