// sdk.ts: write a Docker volume plugin in TypeScript. Implement VolumePlugin (eight
// methods, plain values in and out) and call servePlugin(plugin, { socket }): it serves
// Docker's plugin protocol (HTTP/1.1 POST, JSON bodies, content type
// application/vnd.docker.plugins.v1.2+json) on a unix socket with node:http, so Docker
// and stowage can both use it.
//
// The server is strict about what it accepts and forgiving about what it returns:
// POST only; a body of at most 1 MiB of JSON that is an object; "Name" a non-empty
// string without "/" or NUL where the method needs one; "ID" a string when given; "Opts"
// an object of strings. A bad request is answered 400 with {"Err"}, an unknown method
// 404, and an exception thrown by the plugin 500 with {"Err": its message}; Docker and
// stowage show that message to the user as it is. Requests run one at a time per volume
// name, so a plugin's bookkeeping per volume needs no locks of its own.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';

export const MEDIA_TYPE = 'application/vnd.docker.plugins.v1.2+json';
export const MAX_REQUEST_BYTES = 1 << 20;

export interface PluginVolume {
  name: string;
  /** Where the volume is mounted on the host, while it is. */
  mountpoint?: string;
  /** RFC 3339. */
  createdAt?: string;
  status?: Record<string, unknown>;
}

/** What a volume plugin implements. Throw an Error to answer with {"Err": message}. */
export interface VolumePlugin {
  create(name: string, options: Record<string, string>): Promise<void> | void;
  remove(name: string): Promise<void> | void;
  /** Mount for one user (id: the container); return the host directory. Called once per id and mount. */
  mount(name: string, id: string): Promise<string> | string;
  unmount(name: string, id: string): Promise<void> | void;
  /** The mountpoint while mounted, else "" (or undefined). */
  path(name: string): Promise<string | undefined> | string | undefined;
  /** The volume, or null when there is none (answered as an Err "no such volume"). */
  get(name: string): Promise<PluginVolume | null> | PluginVolume | null;
  list(): Promise<PluginVolume[]> | PluginVolume[];
  capabilities(): Promise<{ scope: 'local' | 'global' }> | { scope: 'local' | 'global' };
}

export interface ServeOptions {
  /** Absolute path of the unix socket, e.g. /run/docker/plugins/NAME.sock. */
  socket: string;
  /** Called for each request's outcome (for logs). */
  log?: (line: string) => void;
}

export interface PluginServer {
  socket: string;
  server: Server;
  /** Stops accepting, waits for running requests, removes the socket file. */
  close(): Promise<void>;
}

class BadRequest extends Error {}

function send(res: ServerResponse, status: number, body: unknown): void {
  const b = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': MEDIA_TYPE, 'Content-Length': b.length });
  res.end(b);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (b: Buffer) => {
      size += b.length;
      if (size > MAX_REQUEST_BYTES) { reject(new BadRequest(`request body larger than ${MAX_REQUEST_BYTES} bytes`)); req.destroy(); return; }
      chunks.push(b);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function field(body: Record<string, unknown>, key: string, required: boolean): string {
  const v = body[key];
  if (v === undefined && !required) return '';
  if (typeof v !== 'string' || (required && v === '')) throw new BadRequest(`"${key}" must be a non-empty string`);
  return v;
}

function volumeName(body: Record<string, unknown>): string {
  const n = field(body, 'Name', true);
  if (n.includes('/') || n.includes('\0') || n === '.' || n === '..' || n.length > 255) throw new BadRequest(`invalid volume name ${JSON.stringify(n)}`);
  return n;
}

function wire(v: PluginVolume): Record<string, unknown> {
  const o: Record<string, unknown> = { Name: v.name };
  if (v.mountpoint) o.Mountpoint = v.mountpoint;
  if (v.createdAt) o.CreatedAt = v.createdAt;
  if (v.status) o.Status = v.status;
  return o;
}

/** Runs one request of the protocol against the plugin: the reply body. */
async function dispatch(p: VolumePlugin, method: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  switch (method) {
    case 'Plugin.Activate': return { Implements: ['VolumeDriver'] };
    case 'VolumeDriver.Create': {
      const name = volumeName(body);
      const opts = body.Opts ?? {};
      if (opts === null || typeof opts !== 'object' || Array.isArray(opts) || Object.values(opts).some((x) => typeof x !== 'string')) throw new BadRequest('"Opts" must be an object of strings');
      await p.create(name, opts as Record<string, string>);
      return { Err: '' };
    }
    case 'VolumeDriver.Remove': await p.remove(volumeName(body)); return { Err: '' };
    case 'VolumeDriver.Mount': return { Mountpoint: await p.mount(volumeName(body), field(body, 'ID', false)), Err: '' };
    case 'VolumeDriver.Unmount': await p.unmount(volumeName(body), field(body, 'ID', false)); return { Err: '' };
    case 'VolumeDriver.Path': return { Mountpoint: (await p.path(volumeName(body))) ?? '', Err: '' };
    case 'VolumeDriver.Get': {
      const name = volumeName(body);
      const v = await p.get(name);
      if (!v) throw new Error(`no such volume: ${name}`);
      return { Volume: wire(v), Err: '' };
    }
    case 'VolumeDriver.List': return { Volumes: (await p.list()).map(wire), Err: '' };
    case 'VolumeDriver.Capabilities': return { Capabilities: { Scope: (await p.capabilities()).scope } };
    default: throw new RangeError(`unknown method ${method}`);
  }
}

/** Serves the plugin on a unix socket; resolves once it listens. A stale socket file is replaced. */
export async function servePlugin(plugin: VolumePlugin, opts: ServeOptions): Promise<PluginServer> {
  const socket = opts.socket;
  const locks = new Map<string, Promise<unknown>>();
  const server = createServer((req, res) => {
    const method = (req.url ?? '').replace(/^\//, '');
    void (async () => {
      if (req.method !== 'POST') { send(res, 405, { Err: 'only POST is accepted' }); return; }
      let body: Record<string, unknown>;
      try {
        const raw = await readBody(req);
        const text = raw.toString('utf8').trim();
        const parsed: unknown = text === '' ? {} : JSON.parse(text);
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new BadRequest('the body must be a JSON object');
        body = parsed as Record<string, unknown>;
      } catch (err) {
        send(res, 400, { Err: `bad request: ${(err as Error).message}` });
        return;
      }
      // One request at a time per volume name.
      const key = typeof body.Name === 'string' ? body.Name : '';
      const prev = locks.get(key) ?? Promise.resolve();
      const run = prev.catch(() => {}).then(() => dispatch(plugin, method, body));
      locks.set(key, run);
      try {
        const reply = await run;
        send(res, 200, reply);
        opts.log?.(`${method} ${key} ok`);
      } catch (err) {
        const status = err instanceof BadRequest ? 400 : err instanceof RangeError ? 404 : 500;
        const msg = err instanceof BadRequest ? `bad request: ${err.message}` : (err as Error)?.message ?? String(err);
        send(res, status, { Err: msg || 'unknown error' });
        opts.log?.(`${method} ${key} failed: ${msg}`);
      } finally {
        if (locks.get(key) === run) locks.delete(key);
      }
    })();
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 0; // a Mount may take long; the client bounds it
  mkdirSync(dirname(socket), { recursive: true });
  try { if (lstatSync(socket).isSocket()) unlinkSync(socket); } catch { /* none */ }
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(socket, () => { server.off('error', reject); resolve(); }); });
  chmodSync(socket, 0o660);
  let closed: Promise<void> | undefined;
  return {
    socket, server,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }).finally(() => { try { unlinkSync(socket); } catch { /* gone */ } });
      return closed;
    },
  };
}
