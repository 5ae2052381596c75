// client.ts: the client side of Docker's plugin protocol (moby pkg/plugins/client.go):
// HTTP/1.1 POST /<Method> with a JSON body and the content type
// application/vnd.docker.plugins.v1.2+json, over a unix socket or TCP. A reply is a
// JSON object; a non-empty "Err" is the plugin's error, shown to the user as it came,
// after the plugin's name and the method. Everything else that goes wrong (no socket,
// nobody listening, a hang, a connection closed mid-reply, a reply that is not a JSON
// object) is an error of stowage's naming the plugin, the method and what happened.
//
// Timeouts follow Docker: 2 minutes for VolumeDriver.Create and .Mount, 1 minute for
// the rest; the handshake retries an unreachable plugin with back-off for up to 30 s.
// STOWAGE_PLUGIN_TIMEOUT_MS and STOWAGE_PLUGIN_RETRY_MS replace them (tests make them short).
import { request } from 'node:http';
import { failedPrecondition, unavailable, StowageError, errnoCode } from '../errors.js';
import type { PluginLocation } from './discovery.js';

export const MEDIA_TYPE = 'application/vnd.docker.plugins.v1.2+json';
/** Largest reply accepted (a List of many volumes fits easily). */
export const MAX_REPLY_BYTES = 16 << 20;

export interface ClientOptions {
  /** Create/Mount. Default 120 000 ms. */
  longTimeoutMs?: number;
  /** Every other call. Default 60 000 ms. */
  timeoutMs?: number;
  /** How long the handshake retries a plugin that does not accept connections. Default 30 000 ms. */
  retryMs?: number;
}

function envMs(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

export function clientOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): ClientOptions {
  const t = envMs(env.STOWAGE_PLUGIN_TIMEOUT_MS);
  const r = envMs(env.STOWAGE_PLUGIN_RETRY_MS);
  return { ...(t !== undefined ? { timeoutMs: t, longTimeoutMs: t } : {}), ...(r !== undefined ? { retryMs: r } : {}) };
}

const LONG = new Set(['VolumeDriver.Create', 'VolumeDriver.Mount']);

/** True for errors that mean "nobody is listening" (worth a retry while activating). */
function unreachable(err: unknown): boolean {
  const c = errnoCode((err as { cause?: unknown })?.cause ?? err);
  return c === 'ECONNREFUSED' || c === 'ENOENT' || c === 'EAGAIN';
}

export class PluginClient {
  readonly timeoutMs: number;
  readonly longTimeoutMs: number;
  readonly retryMs: number;

  constructor(readonly location: PluginLocation, opts: ClientOptions = {}) {
    const env = clientOptionsFromEnv();
    this.timeoutMs = opts.timeoutMs ?? env.timeoutMs ?? 60_000;
    this.longTimeoutMs = opts.longTimeoutMs ?? env.longTimeoutMs ?? 120_000;
    this.retryMs = opts.retryMs ?? env.retryMs ?? 30_000;
  }

  private what(method: string): string {
    return `volume plugin ${this.location.name}: ${method}`;
  }

  /** One call; resolves with the reply object (Err already turned into an error). */
  async call(method: string, body: unknown, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<Record<string, unknown>> {
    const timeoutMs = opts.timeoutMs ?? (LONG.has(method) ? this.longTimeoutMs : this.timeoutMs);
    const payload = Buffer.from(JSON.stringify(body ?? {}));
    const addr = this.location.addr;
    const target = addr.startsWith('unix://') ? { socketPath: addr.slice('unix://'.length) } : (() => {
      const u = new URL(addr.replace(/^tcp:/, 'http:'));
      return { host: u.hostname, port: Number(u.port) };
    })();
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      let done = false;
      const fail = (err: StowageError) => { if (!done) { done = true; req.destroy(); reject(err); } };
      const timer = setTimeout(() => fail(unavailable(`${this.what(method)}: no answer within ${timeoutMs} ms (the plugin hangs or is overloaded)`, { name: this.location.name })), timeoutMs);
      const onAbort = () => fail(unavailable(`${this.what(method)}: cancelled`, { name: this.location.name, cause: opts.signal?.reason }));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const finish = () => { clearTimeout(timer); opts.signal?.removeEventListener('abort', onAbort); };
      const req = request({
        ...target, method: 'POST', path: `/${method}`, agent: false,
        headers: { 'Content-Type': MEDIA_TYPE, Accept: MEDIA_TYPE, 'Content-Length': payload.length, Host: 'plugin' },
      }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (b: Buffer) => {
          size += b.length;
          if (size > MAX_REPLY_BYTES) { finish(); fail(failedPrecondition(`${this.what(method)}: reply larger than ${MAX_REPLY_BYTES} bytes`, { name: this.location.name })); return; }
          chunks.push(b);
        });
        res.on('end', () => { finish(); if (!done) { done = true; resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }); } });
        res.on('error', (err) => { finish(); fail(unavailable(`${this.what(method)}: the plugin closed the connection mid-reply (${err.message})`, { name: this.location.name, cause: err })); });
        res.on('aborted', () => { finish(); fail(unavailable(`${this.what(method)}: the plugin closed the connection mid-reply`, { name: this.location.name })); });
      });
      req.on('error', (err) => {
        finish();
        const code = errnoCode(err);
        const where = 'socketPath' in target ? target.socketPath : `${target.host}:${target.port}`;
        const msg = code === 'ECONNREFUSED' || code === 'ENOENT'
          ? `${this.what(method)}: the plugin is not running (nothing accepts connections at ${where}: ${code})`
          : code === 'ECONNRESET' || err.message === 'socket hang up'
            ? `${this.what(method)}: the plugin closed the connection before answering`
            : `${this.what(method)}: cannot reach the plugin at ${where}: ${err.message}`;
        fail(unavailable(msg, { name: this.location.name, cause: err }));
      });
      req.end(payload);
    });
    let reply: unknown;
    try { reply = text.trim() === '' ? {} : JSON.parse(text); } catch {
      throw failedPrecondition(`${this.what(method)}: the plugin answered with something that is not JSON (HTTP ${status}): ${JSON.stringify(text.slice(0, 200))}`, { name: this.location.name });
    }
    if (reply === null || typeof reply !== 'object' || Array.isArray(reply)) {
      throw failedPrecondition(`${this.what(method)}: the plugin answered ${JSON.stringify(text.slice(0, 200))}, not a JSON object`, { name: this.location.name });
    }
    const r = reply as Record<string, unknown>;
    if (typeof r.Err === 'string' && r.Err !== '') throw failedPrecondition(`${this.what(method)}: ${r.Err}`, { name: this.location.name });
    if (status !== 200) throw failedPrecondition(`${this.what(method)}: the plugin answered HTTP ${status}: ${JSON.stringify(text.slice(0, 200))}`, { name: this.location.name });
    return r;
  }

  /** The handshake: what the plugin implements. Retries an unreachable plugin with back-off for retryMs. */
  async activate(opts: { signal?: AbortSignal; retryMs?: number } = {}): Promise<string[]> {
    const deadline = Date.now() + (opts.retryMs ?? this.retryMs);
    for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
      try {
        const r = await this.call('Plugin.Activate', {}, opts);
        if (!Array.isArray(r.Implements) || r.Implements.some((x) => typeof x !== 'string')) {
          throw failedPrecondition(`${this.what('Plugin.Activate')}: the reply has no "Implements" list of strings`, { name: this.location.name });
        }
        return r.Implements as string[];
      } catch (err) {
        if (!unreachable(err) || Date.now() + delay > deadline || opts.signal?.aborted) throw err;
        await new Promise((res) => setTimeout(res, delay));
      }
    }
  }
}
