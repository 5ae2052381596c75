// client.ts: a client of the distribution API (Docker Registry HTTP API V2 / OCI
// distribution 1.1) for one registry: endpoint choice (docker.io's mirrors first,
// HTTPS, plain HTTP only where settings.isInsecure allows it), the auth handshake
// (the WWW-Authenticate challenge of /v2/: Bearer tokens per scope from the
// realm, or Basic), retries with backoff on 429/5xx and dropped connections, and
// the registry's JSON errors turned into StowageErrors with Docker's wording.
import { sha256 } from '../content/store.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { StowageError, invalidArgument, notFound, permissionDenied, unavailable } from '../errors.js';
import { Transport, discard, isTransient, readBody, type HttpResponse } from './http.js';
import { isInsecure, loadSettings, type RegistrySettings } from './settings.js';
import { tlsFor } from './tls.js';
import { getCredentials, type AuthConfig } from './credentials.js';

export const DOCKER_HUB_ENDPOINT = 'https://registry-1.docker.io';
const MAX_MANIFEST_BYTES = 4 << 20;

export const MANIFEST_ACCEPT = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/json',
].join(', ');

interface Endpoint { base: string; mirror: boolean }

type Challenge = { scheme: 'bearer'; realm: string; service?: string } | { scheme: 'basic' } | null;

export interface ClientOptions {
  auth?: AuthConfig;
  signal?: AbortSignal;
  settings?: RegistrySettings;
  /** Use docker.io's mirrors (pull only). */
  mirrors?: boolean;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (quoted values may hold commas). */
export function parseChallenge(h: string): { scheme: string; params: Record<string, string> } {
  const m = /^\s*(\S+)\s*(.*)$/.exec(h) ?? ['', '', ''];
  const params: Record<string, string> = {};
  const re = /([a-zA-Z_]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2]!))) params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  return { scheme: m[1]!.toLowerCase(), params };
}

/** Docker's rendering of a distribution error: "manifest unknown: manifest unknown". */
function errorsText(body: Buffer): string | undefined {
  try {
    const doc = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: string; message?: string; detail?: unknown }> };
    if (!Array.isArray(doc.errors) || doc.errors.length === 0) return undefined;
    return doc.errors.map((e) => `${(e.code ?? 'unknown').toLowerCase().replace(/_/g, ' ')}: ${e.message ?? ''}`).join(', ');
  } catch {
    return undefined;
  }
}

function errorCodes(body: Buffer): string[] {
  try {
    const doc = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: string }> };
    return (doc.errors ?? []).map((e) => e.code ?? '');
  } catch {
    return [];
  }
}

export class RegistryClient {
  readonly transport: Transport;
  private endpoints: Endpoint[];
  private ep = 0;
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, string>();
  readonly settings: RegistrySettings;
  private readonly auth: AuthConfig | undefined;
  private readonly signal: AbortSignal | undefined;

  /** domain: the registry as references name it ("docker.io", "localhost:5000"). */
  constructor(readonly domain: string, opts: ClientOptions = {}) {
    this.settings = opts.settings ?? loadSettings();
    this.signal = opts.signal;
    this.auth = opts.auth && (opts.auth.username || opts.auth.password || opts.auth.identitytoken || opts.auth.registrytoken) ? opts.auth : getCredentials(domain);
    const insecure = (h: string) => isInsecure(h, this.settings);
    this.transport = new Transport((h) => { const ins = insecure(h); return { material: tlsFor(h, this.settings.certsDirs, ins), insecure: ins }; });
    if (domain === 'docker.io') {
      this.endpoints = [...(opts.mirrors ? this.settings.mirrors.map((m) => ({ base: m, mirror: true })) : []), { base: DOCKER_HUB_ENDPOINT, mirror: false }];
    } else {
      this.endpoints = [{ base: `https://${domain}`, mirror: false }];
      if (insecure(domain)) this.endpoints.push({ base: `http://${domain}`, mirror: false });
    }
  }

  get base(): string { return this.endpoints[this.ep]!.base; }
  get onMirror(): boolean { return this.endpoints[this.ep]!.mirror; }

  close(): void { this.transport.close(); }

  /**
   * GET /v2/ on each endpoint in turn until one answers; keeps its auth challenge.
   * Unreachable everywhere: the first endpoint's error (or the last for HTTP fallbacks).
   */
  async ping(): Promise<void> {
    if (this.challenge !== undefined) return;
    let first: unknown;
    for (let i = this.ep; i < this.endpoints.length; i++) {
      const base = this.endpoints[i]!.base;
      try {
        const res = await this.transport.request({ method: 'GET', url: `${base}/v2/`, ...(this.signal ? { signal: this.signal } : {}) });
        discard(res);
        if (res.status >= 500 && i + 1 < this.endpoints.length) throw unavailable(`${base}/v2/: ${res.status}`);
        this.ep = i;
        this.challenge = null;
        const h = res.headers['www-authenticate'];
        if (res.status === 401 && h) {
          const c = parseChallenge(Array.isArray(h) ? h[0]! : h);
          if (c.scheme === 'bearer' && c.params.realm) this.challenge = { scheme: 'bearer', realm: c.params.realm, ...(c.params.service ? { service: c.params.service } : {}) };
          else if (c.scheme === 'basic') this.challenge = { scheme: 'basic' };
        }
        return;
      } catch (err) {
        if (this.signal?.aborted) throw err;
        // An HTTP fallback's error ("server gave HTTP response") is less useful than the HTTPS one's.
        if (first === undefined || (this.endpoints[i]!.base.startsWith('http:') && /http: server gave HTTP response/.test((first as Error).message))) first = err;
      }
    }
    throw first;
  }

  /** Moves off a mirror after it failed; false when there is nothing left to try. */
  nextEndpoint(): boolean {
    if (!this.onMirror || this.ep + 1 >= this.endpoints.length) return false;
    this.ep++;
    this.challenge = undefined;
    this.tokens.clear();
    return true;
  }

  private basicHeader(): string | undefined {
    if (!this.auth || this.auth.username === undefined) return undefined;
    return 'Basic ' + Buffer.from(`${this.auth.username}:${this.auth.password ?? ''}`).toString('base64');
  }

  private async token(scopes: string[]): Promise<string | undefined> {
    const c = this.challenge;
    if (!c || c.scheme !== 'bearer') return undefined;
    if (this.auth?.registrytoken) return this.auth.registrytoken;
    const key = scopes.join(' ');
    const cached = this.tokens.get(key);
    if (cached) return cached;
    const u = new URL(c.realm);
    let res: HttpResponse;
    if (this.auth?.identitytoken) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: this.auth.identitytoken, client_id: 'stowage', ...(c.service ? { service: c.service } : {}) });
      form.set('scope', scopes.join(' '));
      res = await this.transport.request({ method: 'POST', url: u.toString(), headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: Buffer.from(form.toString()), ...(this.signal ? { signal: this.signal } : {}) });
    } else {
      if (c.service) u.searchParams.set('service', c.service);
      for (const s of scopes) u.searchParams.append('scope', s);
      const basic = this.basicHeader();
      if (basic && this.auth?.username) u.searchParams.set('account', this.auth.username);
      res = await this.transport.request({ method: 'GET', url: u.toString(), headers: basic ? { Authorization: basic } : {}, ...(this.signal ? { signal: this.signal } : {}) });
    }
    const body = await readBody(res, 1 << 20, 'token server');
    if (res.status === 401 || res.status === 403) {
      throw permissionDenied(`Get "${c.realm}": ${errorsText(body) ?? 'unauthorized: incorrect username or password'}`, { name: this.domain });
    }
    if (res.status !== 200) throw unavailable(`token server ${c.realm} answered ${res.status}: ${body.toString('utf8').slice(0, 200)}`, { name: this.domain });
    let doc: { token?: string; access_token?: string };
    try { doc = JSON.parse(body.toString('utf8')) as typeof doc; } catch { throw unavailable(`token server ${c.realm} returned invalid JSON`, { name: this.domain }); }
    const tok = doc.token ?? doc.access_token;
    if (!tok) throw unavailable(`token server ${c.realm} returned no token`, { name: this.domain });
    this.tokens.set(key, tok);
    return tok;
  }

  private async authHeader(scopes: string[]): Promise<string | undefined> {
    if (!this.challenge) return undefined;
    if (this.challenge.scheme === 'basic') return this.basicHeader();
    const t = await this.token(scopes);
    return t ? `Bearer ${t}` : undefined;
  }

  /**
   * One request to the registry with auth. GET and HEAD (and requests marked
   * retry) are retried with backoff on 429, 5xx and dropped connections.
   */
  async request(method: string, path: string, o: { scopes: string[]; headers?: Record<string, string>; body?: Buffer | AsyncIterable<Buffer>; retry?: boolean; absolute?: boolean } ): Promise<HttpResponse> {
    await this.ping();
    const retry = o.retry ?? (method === 'GET' || method === 'HEAD');
    const url = o.absolute ? path : `${this.base}${path}`;
    let authRetried = false;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      const a = await this.authHeader(o.scopes);
      if (a) headers.Authorization = a;
      let res: HttpResponse;
      try {
        res = await this.transport.request({ method, url, headers, ...(o.body !== undefined ? { body: o.body } : {}), ...(this.signal ? { signal: this.signal } : {}) });
      } catch (err) {
        if (retry && attempt < 4 && isTransient(err) && !this.signal?.aborted) { await this.backoff(attempt); continue; }
        throw err;
      }
      if (res.status === 401 && !authRetried && this.challenge?.scheme === 'bearer') {
        // A token for a wider scope may be needed (insufficient_scope): drop the cached one, ask again.
        discard(res);
        this.tokens.delete(o.scopes.join(' '));
        authRetried = true;
        attempt--;
        continue;
      }
      if (retry && attempt < 4 && (res.status === 429 || res.status >= 500)) {
        discard(res);
        const ra = Number(res.headers['retry-after']);
        await this.backoff(attempt, Number.isFinite(ra) ? Math.min(ra, 5) * 1000 : undefined);
        continue;
      }
      return res;
    }
  }

  async backoff(attempt: number, ms?: number): Promise<void> {
    await sleep(ms ?? Math.min(250 * 2 ** attempt, 4000), undefined, this.signal ? { signal: this.signal } : {});
  }

  /** An error for a non-success answer, in Docker's words. */
  async failure(res: HttpResponse, what: string, ctx: { repo: string; ref?: string; action: 'pull' | 'push' }): Promise<StowageError> {
    const body = await readBody(res, 1 << 20, what).catch(() => Buffer.alloc(0));
    const text = errorsText(body);
    const codes = errorCodes(body);
    const name = familiar(this.domain, ctx.repo);
    if (res.status === 401 || res.status === 403 || codes.includes('DENIED') || codes.includes('UNAUTHORIZED')) {
      if (ctx.action === 'pull') return permissionDenied(`pull access denied for ${name}, repository does not exist or may require 'docker login': ${text ?? 'denied: requested access to the resource is denied'}`, { name });
      return permissionDenied(text ?? 'unauthorized: authentication required', { name });
    }
    if (res.status === 404) {
      if (codes.includes('NAME_UNKNOWN')) return notFound(`repository ${name} not found: does not exist or no pull access: ${text}`, { name });
      if (ctx.ref !== undefined && (codes.includes('MANIFEST_UNKNOWN') || what === 'manifest')) return notFound(`manifest for ${name}${ctx.ref.startsWith('sha256:') ? '@' : ':'}${ctx.ref} not found: ${text ?? 'manifest unknown: manifest unknown'}`, { name });
      return notFound(`${what}: ${text ?? 'not found'}`, { name });
    }
    if (res.status === 429) return unavailable(`toomanyrequests: ${text ?? 'too many requests'}`, { name });
    return unavailable(`${what}: received unexpected HTTP status: ${res.status} ${res.body.statusMessage ?? ''}${text ? ` (${text})` : ''}`.trim(), { name });
  }

  // ---- operations ------------------------------------------------------------

  /** GET a manifest by tag or digest; verified against the digest when fetched by digest. */
  async getManifest(repo: string, ref: string): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
    for (;;) {
      const res = await this.request('GET', `/v2/${repo}/manifests/${ref}`, { scopes: [`repository:${repo}:pull`], headers: { Accept: MANIFEST_ACCEPT } });
      if (res.status !== 200) {
        if (res.status === 401 && this.challenge?.scheme === 'basic' && !this.basicHeader()) {
          // dockerd never sends this request without credentials; its words name the request it did not send.
          discard(res);
          throw permissionDenied(`${ref.startsWith('sha256:') ? 'Get' : 'Head'} "${this.base}/v2/${repo}/manifests/${ref}": no basic auth credentials`, { name: familiar(this.domain, repo) });
        }
        const err = await this.failure(res, 'manifest', { repo, ref, action: 'pull' });
        if (this.nextEndpoint()) continue; // a mirror without it: ask the registry itself
        throw err;
      }
      const bytes = await readBody(res, MAX_MANIFEST_BYTES, `manifest ${repo}:${ref}`);
      const len = Number(res.headers['content-length']);
      if (Number.isFinite(len) && res.headers['content-length'] !== undefined && len !== bytes.length) {
        throw invalidArgument(`manifest for ${familiar(this.domain, repo)}:${ref} is truncated: ${bytes.length} of ${len} bytes`, { name: ref });
      }
      const digest = sha256(bytes);
      if (ref.includes(':') && ref !== digest) {
        throw invalidArgument(`manifest verification failed for digest ${ref}: its bytes hash to ${digest}`, { name: ref });
      }
      const header = res.headers['docker-content-digest'];
      if (typeof header === 'string' && header.startsWith('sha256:') && header !== digest) {
        throw invalidArgument(`manifest for ${familiar(this.domain, repo)}:${ref} does not match its Docker-Content-Digest ${header} (its bytes hash to ${digest})`, { name: ref });
      }
      const ct = String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
      return { bytes, mediaType: ct, digest };
    }
  }

  /** The size of a blob when the repository has it, else undefined. */
  async headBlob(repo: string, digest: string, scopes = [`repository:${repo}:pull`]): Promise<number | undefined> {
    const res = await this.request('HEAD', `/v2/${repo}/blobs/${digest}`, { scopes });
    discard(res);
    if (res.status === 200) return Number(res.headers['content-length'] ?? -1);
    if (res.status === 404) return undefined;
    throw await this.failure(res, `blob ${digest}`, { repo, action: 'pull' });
  }

  /** GET a blob (optionally from an offset); the caller reads the body. */
  async getBlob(repo: string, digest: string, from = 0): Promise<HttpResponse> {
    const res = await this.request('GET', `/v2/${repo}/blobs/${digest}`, { scopes: [`repository:${repo}:pull`], headers: from > 0 ? { Range: `bytes=${from}-` } : {} });
    if (res.status !== 200 && res.status !== 206) throw await this.failure(res, `blob ${digest}`, { repo, action: 'pull' });
    return res;
  }

  private pushScopes(repo: string, from?: string): string[] {
    return [`repository:${repo}:pull,push`, ...(from && from !== repo ? [`repository:${from}:pull`] : [])];
  }

  /** Cross-repository mount; true when the registry mounted it. */
  async mountBlob(repo: string, digest: string, from: string): Promise<boolean> {
    const res = await this.request('POST', `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`, { scopes: this.pushScopes(repo, from), retry: true });
    discard(res);
    if (res.status === 201) return true;
    if (res.status === 202) {
      // The registry opened an upload instead: cancel it.
      const loc = res.headers.location;
      if (loc) {
        try {
          discard(await this.request('DELETE', this.abs(loc), { scopes: this.pushScopes(repo), absolute: true, retry: false }));
        } catch { /* an upload left open expires on its own */ }
      }
      return false;
    }
    if (res.status === 401 || res.status === 403 || res.status === 404) return false;
    throw await this.failure(res, `mount of ${digest}`, { repo, action: 'push' });
  }

  private abs(loc: string): string {
    return new URL(loc, this.base + '/').toString();
  }

  private async startUpload(repo: string): Promise<string> {
    const res = await this.request('POST', `/v2/${repo}/blobs/uploads/`, { scopes: this.pushScopes(repo), retry: true });
    discard(res);
    if (res.status !== 202 || !res.headers.location) throw await this.failure(res, `upload to ${repo}`, { repo, action: 'push' });
    return this.abs(res.headers.location);
  }

  private withDigest(loc: string, digest: string): string {
    const u = new URL(loc);
    u.searchParams.set('digest', digest);
    return u.toString();
  }

  /**
   * Streams a blob whose digest is known only at the end: PATCH the bytes (chunked),
   * then PUT ?digest=. `hash` must be complete once src ends.
   */
  async uploadStream(repo: string, src: AsyncIterable<Buffer>, done: () => { digest: string; size: number }): Promise<{ digest: string; size: number }> {
    const loc = await this.startUpload(repo);
    const patch = await this.request('PATCH', loc, { scopes: this.pushScopes(repo), absolute: true, headers: { 'Content-Type': 'application/octet-stream' }, body: src, retry: false });
    discard(patch);
    if (patch.status !== 202 && patch.status !== 204) throw await this.failure(patch, 'blob upload', { repo, action: 'push' });
    const r = done();
    const next = patch.headers.location ? this.abs(patch.headers.location) : loc;
    const put = await this.request('PUT', this.withDigest(next, r.digest), { scopes: this.pushScopes(repo), absolute: true, body: Buffer.alloc(0), retry: false });
    discard(put);
    if (put.status !== 201 && put.status !== 204) throw await this.failure(put, `blob ${r.digest}`, { repo, action: 'push' });
    return r;
  }

  /** A small blob in one PUT (configs). */
  async uploadBytes(repo: string, bytes: Buffer, digest: string): Promise<void> {
    const loc = await this.startUpload(repo);
    const put = await this.request('PUT', this.withDigest(loc, digest), { scopes: this.pushScopes(repo), absolute: true, headers: { 'Content-Type': 'application/octet-stream' }, body: bytes, retry: false });
    discard(put);
    if (put.status !== 201 && put.status !== 204) throw await this.failure(put, `blob ${digest}`, { repo, action: 'push' });
  }

  async putManifest(repo: string, ref: string, bytes: Buffer, mediaType: string): Promise<void> {
    const res = await this.request('PUT', `/v2/${repo}/manifests/${ref}`, { scopes: this.pushScopes(repo), headers: { 'Content-Type': mediaType }, body: bytes, retry: true });
    if (res.status !== 201 && res.status !== 200) throw await this.failure(res, 'manifest', { repo, ref, action: 'push' });
    discard(res);
  }

  async tags(repo: string): Promise<string[]> {
    const out: string[] = [];
    let path: string | undefined = `/v2/${repo}/tags/list`;
    for (let pages = 0; path && pages < 100; pages++) {
      const res = await this.request('GET', path, { scopes: [`repository:${repo}:pull`], absolute: path.startsWith('http') });
      if (res.status !== 200) throw await this.failure(res, 'tags', { repo, action: 'pull' });
      const doc = JSON.parse((await readBody(res, 16 << 20, 'tag list')).toString('utf8')) as { tags?: string[] | null };
      out.push(...(doc.tags ?? []));
      // The next page (RFC 5988 Link header): a path on this registry or a full URL.
      path = /<([^>]+)>;\s*rel="next"/.exec(String(res.headers.link ?? ''))?.[1];
    }
    return out;
  }

  /** `login`: checks the credentials against /v2/ (and the token server). */
  async checkLogin(): Promise<void> {
    await this.ping();
    if (!this.challenge) return;
    if (!this.auth) throw permissionDenied('unauthorized: authentication required', { name: this.domain });
    if (this.challenge.scheme === 'bearer') {
      await this.token([]);
      return;
    }
    const res = await this.transport.request({ method: 'GET', url: `${this.base}/v2/`, headers: { Authorization: this.basicHeader() ?? '' } });
    await readBody(res, 1 << 20, 'login');
    // dockerd's words exactly: the registry's error text is not added.
    if (res.status === 401 || res.status === 403) throw permissionDenied(`login attempt to ${this.base}/v2/ failed with status: ${res.status} ${res.body.statusMessage ?? ''}`.trim(), { name: this.domain });
    if (res.status !== 200) throw unavailable(`login attempt to ${this.base}/v2/ failed with status: ${res.status}`, { name: this.domain });
  }

  get hasAuth(): boolean { return !!this.auth; }
}

/** "docker.io" + "library/busybox" → "busybox"; others "host/repo". */
export function familiar(domain: string, repo: string): string {
  if (domain !== 'docker.io') return `${domain}/${repo}`;
  return repo.startsWith('library/') && !repo.slice(8).includes('/') ? repo.slice(8) : repo;
}

