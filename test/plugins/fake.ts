// fake.ts: volume plugins for tests. memoryPlugin is written with the SDK (volumes are
// directories under a temp folder, every call recorded); rawPlugin is a bare node:http
// server whose answer to one method the test chooses (hang, crash, nonsense, Err, a path).
import { createServer, type Server, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdirSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { servePlugin, type PluginServer, type VolumePlugin } from '../../src/plugins/sdk.js';

export interface Call { method: string; body: Record<string, unknown> }

export function memoryPlugin(dir: string, calls: Call[] = [], extra: Array<{ name: string }> = []): VolumePlugin {
  const vols = new Map<string, { opts: Record<string, string>; ids: Set<string> }>();
  for (const e of extra) vols.set(e.name, { opts: {}, ids: new Set() });
  const path = (n: string) => join(dir, n);
  return {
    create(name, opts) { calls.push({ method: 'Create', body: { Name: name, Opts: opts } }); if (!vols.has(name)) vols.set(name, { opts, ids: new Set() }); mkdirSync(path(name), { recursive: true }); },
    remove(name) { calls.push({ method: 'Remove', body: { Name: name } }); const v = vols.get(name); if (!v) throw new Error(`no such volume: ${name}`); if (v.ids.size) throw new Error(`volume ${name} in use`); vols.delete(name); rmSync(path(name), { recursive: true, force: true }); },
    mount(name, id) { calls.push({ method: 'Mount', body: { Name: name, ID: id } }); const v = vols.get(name); if (!v) throw new Error(`no such volume: ${name}`); v.ids.add(id); mkdirSync(path(name), { recursive: true }); return path(name); },
    unmount(name, id) { calls.push({ method: 'Unmount', body: { Name: name, ID: id } }); vols.get(name)?.ids.delete(id); },
    path(name) { return vols.get(name)?.ids.size ? path(name) : ''; },
    get(name) { const v = vols.get(name); return v ? { name, ...(v.ids.size ? { mountpoint: path(name) } : {}), status: { opts: v.opts, mounted: v.ids.size } } : null; },
    list() { return [...vols.keys()].map((name) => ({ name })); },
    capabilities() { return { scope: 'global' }; },
  };
}

export type Behaviour = 'hang' | 'crash' | 'nonsense' | 'err' | { mountpoint: string };

/** Answers like a plugin except for `method`, where it behaves as told. */
export async function rawPlugin(socket: string, method: string, how: Behaviour, dir: string, calls: Call[] = []): Promise<{ close(): Promise<void> }> {
  const inner = memoryPlugin(dir, calls);
  const srv: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    req.on('data', (b) => (text += b));
    req.on('end', async () => {
      const m = (req.url ?? '').slice(1);
      const body = text ? JSON.parse(text) : {};
      if (m === `VolumeDriver.${method}`) {
        calls.push({ method: `${method}!`, body });
        if (how === 'hang') return; // never answers
        if (how === 'crash') { req.socket.destroy(); return; }
        if (how === 'nonsense') { res.end('{"Mountpoint": <html>oops'); return; }
        if (how === 'err') { res.end(JSON.stringify({ Err: 'backend said: quota exceeded on pool "gold"' })); return; }
        res.end(JSON.stringify({ Mountpoint: how.mountpoint, Err: '' }));
        return;
      }
      try {
        let r: unknown;
        switch (m) {
          case 'Plugin.Activate': r = { Implements: ['VolumeDriver'] }; break;
          case 'VolumeDriver.Create': await inner.create(body.Name, body.Opts ?? {}); r = {}; break;
          case 'VolumeDriver.Remove': await inner.remove(body.Name); r = {}; break;
          case 'VolumeDriver.Mount': r = { Mountpoint: await inner.mount(body.Name, body.ID) }; break;
          case 'VolumeDriver.Unmount': await inner.unmount(body.Name, body.ID); r = {}; break;
          case 'VolumeDriver.Get': { const v = await inner.get(body.Name); r = v ? { Volume: { Name: v.name } } : { Err: 'no such volume' }; break; }
          case 'VolumeDriver.List': r = { Volumes: (await inner.list()).map((v) => ({ Name: v.name })) }; break;
          case 'VolumeDriver.Capabilities': r = { Capabilities: { Scope: 'local' } }; break;
          default: r = { Err: 'unknown' };
        }
        res.end(JSON.stringify(r));
      } catch (err) { res.end(JSON.stringify({ Err: (err as Error).message })); }
    });
  });
  await new Promise<void>((r) => srv.listen(socket, r));
  return {
    close: () => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()); if (existsSync(socket)) rmSync(socket, { force: true }); }),
  };
}

export async function serveMemory(socket: string, dir: string, calls: Call[] = [], extra: Array<{ name: string }> = []): Promise<PluginServer> {
  return servePlugin(memoryPlugin(dir, calls, extra), { socket });
}
