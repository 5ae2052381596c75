// routes/volumes.ts: GET /volumes, POST /volumes/create, GET/DELETE /volumes/{name},
// POST /volumes/prune — local, plugin and CSI drivers alike (the volume service
// picks the driver).
import type { Router, Ctx } from '../router.js';
import { readJson, sendJson, noContent } from '../http.js';
import { invalidArgument, isNotFound } from '../../errors.js';
import { volumeJson, naturalLess } from '../../views/volumes.js';

async function service(c: Ctx, recover = false) {
  const { volumeService } = await import('../../volumes/service.js');
  if (recover) await c.engine.recover();
  return volumeService(c.engine);
}

function stringMap(v: unknown, field: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) throw invalidArgument(`${field} must be an object of strings`);
  return v as Record<string, string>;
}

export function volumeRoutes(r: Router): void {
  r.get('/volumes', async (c) => {
    const s = await service(c);
    const { volumes, warnings } = await s.listAll(c.query.filters());
    sendJson(c.res, 200, { Volumes: volumes.sort((a, b) => naturalLess(a.name, b.name)).map(volumeJson), Warnings: warnings.length ? warnings : null });
  });
  r.post('/volumes/create', async (c) => {
    const body = await readJson(c.req);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidArgument('volume config must be a JSON object');
    const b = body as Record<string, unknown>;
    if (b.Name !== undefined && typeof b.Name !== 'string') throw invalidArgument('Name must be a string');
    if (b.Driver !== undefined && typeof b.Driver !== 'string') throw invalidArgument('Driver must be a string');
    if (b.ClusterVolumeSpec) throw invalidArgument('cluster volumes are not supported by stowage (it is not a swarm node)');
    const s = await service(c, true);
    const { volume } = await s.create((b.Name as string) || undefined, {
      driver: (b.Driver as string) || 'local', labels: stringMap(b.Labels, 'Labels'), options: stringMap(b.DriverOpts, 'DriverOpts'),
    });
    sendJson(c.res, 201, await s.inspect(volume.name));
  });
  r.post('/volumes/prune', async (c) => {
    const s = await service(c, true);
    // API < 1.42 pruned every unused volume; from 1.42 only anonymous ones unless all=true.
    const filters = c.query.filters();
    const allFilter = filters.find((f) => f.startsWith('all='));
    const all = c.version < 42 || (allFilter !== undefined && ['1', 'true'].includes(allFilter.slice(4)));
    const r2 = await s.prune({ all, filters: filters.filter((f) => !f.startsWith('all=')) });
    sendJson(c.res, 200, { VolumesDeleted: r2.VolumesDeleted, SpaceReclaimed: r2.SpaceReclaimed });
  });
  r.get('/volumes/{name}', async (c) => {
    const s = await service(c);
    sendJson(c.res, 200, await s.inspect(c.params.name!));
  });
  r.delete('/volumes/{name}', async (c) => {
    const s = await service(c, true);
    try {
      await s.remove(c.params.name!);
    } catch (err) {
      if (!(c.query.bool('force') && isNotFound(err))) throw err;
    }
    noContent(c.res);
  });
}
