// http.ts: the HTTP transport under the registry client: one keep-alive agent per
// registry endpoint (with that registry's TLS material), requests whose bodies are
// streamed, redirects followed (without the Authorization header when the host
// changes: blob storage behind a registry must not see its credentials), an idle
// timeout, and network failures turned into errors that name the URL the way
// Docker does ("dial tcp HOST: connect: connection refused").
import * as http from 'node:http';
import * as https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { unavailable } from '../errors.js';
import type { TlsMaterial } from './tls.js';

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body; read it (or call discard()) so the connection goes back to the pool. */
  body: IncomingMessage;
  url: string;
}

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  /** A whole body, or a stream sent with chunked transfer encoding. */
  body?: Buffer | AsyncIterable<Buffer>;
  signal?: AbortSignal;
  followRedirects?: boolean;
}

/** Seconds of silence before a request is given up ($STOWAGE_REGISTRY_TIMEOUT, default 30). */
export function idleTimeoutMs(): number {
  const v = Number(process.env.STOWAGE_REGISTRY_TIMEOUT);
  return Number.isFinite(v) && v > 0 ? v * 1000 : 30_000;
}

/**
 * $STOWAGE_REGISTRY_HOSTS ("name=address,…"): host names the registry client
 * resolves to fixed addresses, like /etc/hosts lines of its own. The tests use it to
 * reach a loopback registry under a name that is not loopback (so TLS is verified).
 */
function hostsOverride(): Map<string, string> | undefined {
  const v = process.env.STOWAGE_REGISTRY_HOSTS;
  if (!v) return undefined;
  return new Map(v.split(',').filter(Boolean).map((kv) => kv.split('=', 2) as [string, string]));
}

export class Transport {
  private readonly hosts = hostsOverride();

  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  private readonly httpsAgents = new Map<string, https.Agent>();

  constructor(private readonly tlsOf: (hostPort: string) => { material: TlsMaterial; insecure: boolean }) {}

  private agentFor(u: URL): http.Agent {
    if (u.protocol === 'http:') return this.httpAgent;
    let a = this.httpsAgents.get(u.host);
    if (!a) {
      const { material, insecure } = this.tlsOf(u.host);
      a = new https.Agent({
        keepAlive: true, maxSockets: 32, ...(material.ca.length ? { ca: material.ca } : {}),
        ...(material.cert ? { cert: material.cert, key: material.key } : {}),
        rejectUnauthorized: !insecure,
      });
      this.httpsAgents.set(u.host, a);
    }
    return a;
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    let url = req.url;
    let headers = { ...(req.headers ?? {}) };
    for (let hop = 0; ; hop++) {
      const res = await this.once({ ...req, url, headers });
      if (req.followRedirects !== false && [301, 302, 303, 307, 308].includes(res.status) && res.headers.location && hop < 5) {
        res.body.resume();
        const next = new URL(res.headers.location, url);
        if (next.host !== new URL(url).host) {
          headers = { ...headers };
          delete headers.Authorization;
        }
        url = next.toString();
        continue;
      }
      return res;
    }
  }

  private once(req: HttpRequest): Promise<HttpResponse> {
    const u = new URL(req.url);
    const mod = u.protocol === 'https:' ? https : http;
    return new Promise<HttpResponse>((resolve, reject) => {
      const headers: Record<string, string> = { 'User-Agent': 'stowage', ...(req.headers ?? {}) };
      if (Buffer.isBuffer(req.body)) headers['Content-Length'] = String(req.body.length);
      const fixed = this.hosts?.get(u.hostname);
      const lookup = fixed ? { lookup: ((_h: string, o: { all?: boolean }, cb: (e: null, a: string | Array<{ address: string; family: number }>, f?: number) => void) => (o?.all ? cb(null, [{ address: fixed, family: 4 }]) : cb(null, fixed, 4))) as never } : {};
      const r = mod.request(u, { method: req.method, headers, agent: this.agentFor(u), timeout: idleTimeoutMs(), ...lookup, ...(req.signal ? { signal: req.signal } : {}) }, (res) => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url: req.url });
      });
      r.on('timeout', () => r.destroy(Object.assign(new Error('i/o timeout'), { code: 'ETIMEDOUT' })));
      r.on('error', (e) => reject(networkError(req.method, req.url, e, req.signal)));
      if (req.body === undefined) r.end();
      else if (Buffer.isBuffer(req.body)) r.end(req.body);
      else {
        const src = req.body;
        (async () => {
          for await (const c of src) {
            if (!r.write(c)) {
              await new Promise<void>((ok, ko) => {
                const onDrain = () => { r.off('close', onClose); ok(); };
                const onClose = () => { r.off('drain', onDrain); ko(new Error('connection closed while sending')); };
                r.once('drain', onDrain);
                r.once('close', onClose);
              });
            }
          }
          r.end();
        })().catch((e) => r.destroy(e as Error));
      }
    });
  }

  close(): void {
    this.httpAgent.destroy();
    for (const a of this.httpsAgents.values()) a.destroy();
  }
}

const GO_METHOD: Record<string, string> = { GET: 'Get', HEAD: 'Head', POST: 'Post', PUT: 'Put', PATCH: 'Patch', DELETE: 'Delete' };

/** Network failures in Go's words, which users know from Docker. */
export function networkError(method: string, url: string, e: unknown, signal?: AbortSignal): Error {
  if (signal?.aborted) return (signal.reason as Error) ?? (e as Error);
  const err = e as NodeJS.ErrnoException & { hostname?: string; address?: string; port?: number };
  const u = new URL(url);
  const hostPort = u.port ? u.host : `${u.hostname}:${u.protocol === 'https:' ? 443 : 80}`;
  const prefix = `${GO_METHOD[method] ?? method} "${url}"`;
  let what: string;
  switch (err.code) {
    case 'ECONNREFUSED': what = `dial tcp ${hostPort}: connect: connection refused`; break;
    case 'ENOTFOUND': case 'EAI_AGAIN': what = `dial tcp: lookup ${u.hostname}: no such host`; break;
    case 'ETIMEDOUT': what = `dial tcp ${hostPort}: i/o timeout`; break;
    case 'EHOSTUNREACH': what = `dial tcp ${hostPort}: connect: no route to host`; break;
    case 'ENETUNREACH': what = `dial tcp ${hostPort}: connect: network is unreachable`; break;
    case 'ECONNRESET': what = `read tcp ${hostPort}: connection reset by peer`; break;
    default:
      if (/certificate|self.signed|CERT_|unable to verify/i.test(`${err.code} ${err.message}`)) what = `tls: failed to verify certificate: ${err.message}`;
      else if (err.code === 'EPROTO' || /wrong version number|SSL routines/.test(err.message)) what = `http: server gave HTTP response to HTTPS client`;
      else what = err.message;
  }
  return unavailable(`${prefix}: ${what}`, { name: u.host, cause: e });
}

/** Whether a failed request may succeed when tried again (a dropped connection, not a refusal). */
export function isTransient(e: unknown): boolean {
  const c = ((e as { cause?: NodeJS.ErrnoException }).cause ?? e as NodeJS.ErrnoException)?.code;
  return c === 'ECONNRESET' || c === 'EPIPE' || c === 'ETIMEDOUT' || c === 'ECONNABORTED' || c === 'ERR_STREAM_PREMATURE_CLOSE' || /socket hang up|aborted/.test((e as Error)?.message ?? '');
}

export async function readBody(res: HttpResponse, max: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of res.body) {
    n += (c as Buffer).length;
    if (n > max) { res.body.destroy(); throw unavailable(`${what}: response larger than ${max} bytes`); }
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts);
}

export function discard(res: HttpResponse): void {
  res.body.resume();
}
