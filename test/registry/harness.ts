// harness.ts: what the registry tests share: Debian's docker-registry (distribution
// 2.8) started on 127.0.0.1 with a free port and a temporary config and storage,
// optionally with TLS from a test CA made here by openssl, htpasswd basic auth or
// token auth against a small token server in the test; a stowage CLI whose registry
// environment (certs.d, DOCKER_CONFIG, settings) points into the test's directory;
// and a fixture image made by code.
import type { TestContext } from 'node:test';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, randomBytes, sign as cryptoSign } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { cleanupFirst } from '../helpers/env.js';
import { stowage, type CliResult } from '../helpers/cli.js';
import { makeRootfs, makeDockerArchive, type DockerArchive } from '../helpers/images.js';

export const REGISTRY_BIN = '/usr/bin/docker-registry';
export const haveRegistry = existsSync(REGISTRY_BIN);
export const haveHtpasswd = spawnSync('sh', ['-c', 'command -v htpasswd']).status === 0;
export const haveOpenssl = spawnSync('sh', ['-c', 'command -v openssl']).status === 0;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

export interface RegistryOptions {
  tls?: { cert: string; key: string; clientCa?: string };
  htpasswd?: { user: string; password: string };
  token?: { realm: string; service: string; issuer: string; certBundle: string };
}

export interface Registry { host: string; port: number; url: string; storage: string; stop(): Promise<void> }

/** Starts a registry; stopped (and its files removed with dir) when the test ends. */
export async function startRegistry(t: TestContext, dir: string, o: RegistryOptions = {}): Promise<Registry> {
  const base = join(dir, `registry-${randomBytes(3).toString('hex')}`);
  const storage = join(base, 'storage');
  mkdirSync(storage, { recursive: true });
  let auth = '';
  if (o.htpasswd) {
    const r = spawnSync('htpasswd', ['-Bbn', o.htpasswd.user, o.htpasswd.password], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`htpasswd: ${r.stderr}`);
    writeFileSync(join(base, 'htpasswd'), r.stdout);
    auth = `auth:\n  htpasswd:\n    realm: test-realm\n    path: ${join(base, 'htpasswd')}\n`;
  } else if (o.token) {
    auth = `auth:\n  token:\n    realm: ${o.token.realm}\n    service: ${o.token.service}\n    issuer: ${o.token.issuer}\n    rootcertbundle: ${o.token.certBundle}\n`;
  }
  let lastErr = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    let tls = '';
    if (o.tls) {
      tls = `  tls:\n    certificate: ${o.tls.cert}\n    key: ${o.tls.key}\n`;
      if (o.tls.clientCa) tls += `    clientcas:\n      - ${o.tls.clientCa}\n`;
    }
    const cfg = `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${storage}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n  secret: test-secret\n${tls}${auth}`;
    const cfgPath = join(base, 'config.yml');
    writeFileSync(cfgPath, cfg);
    const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', cfgPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr!.on('data', (b: Buffer) => { if (log.length < 20000) log += b.toString(); });
    let exited = false;
    child.on('exit', () => { exited = true; });
    const stop = async () => {
      if (exited) return;
      child.kill('SIGTERM');
      for (let i = 0; i < 50 && !exited; i++) await sleep(50);
      if (!exited) child.kill('SIGKILL');
    };
    // Up when the port accepts connections.
    for (let i = 0; i < 100 && !exited; i++) {
      if (await canConnect(port)) {
        cleanupFirst(t, stop);
        const scheme = o.tls ? 'https' : 'http';
        return { host: `127.0.0.1:${port}`, port, url: `${scheme}://127.0.0.1:${port}`, storage, stop };
      }
      await sleep(50);
    }
    await stop();
    lastErr = log;
  }
  throw new Error(`docker-registry did not start: ${lastErr}`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    import('node:net').then(({ connect }) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
  });
}

export interface Pki { dir: string; caCert: string; serverCert: string; serverKey: string; clientCert: string; clientKey: string }

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A test CA, a server certificate for `names` (DNS) and 127.0.0.1, and a client certificate. */
export function makePki(dir: string, names: string[]): Pki {
  mkdirSync(dir, { recursive: true });
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=stowage-test-ca'], dir);
  const san = ['IP:127.0.0.1', ...names.map((n) => `DNS:${n}`)].join(',');
  writeFileSync(join(dir, 'server.ext'), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${names[0] ?? '127.0.0.1'}`], dir);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext'], dir);
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=stowage-test-client'], dir);
  openssl(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.crt', '-days', '2', '-extfile', 'client.ext'], dir);
  return { dir, caCert: join(dir, 'ca.crt'), serverCert: join(dir, 'server.crt'), serverKey: join(dir, 'server.key'), clientCert: join(dir, 'client.crt'), clientKey: join(dir, 'client.key') };
}

export interface TokenServer {
  realm: string; service: string; issuer: string; certBundle: string;
  /** Requests seen: the scopes asked and whether credentials came. */
  requests: Array<{ scope: string[]; account?: string; authorized: boolean }>;
}

/**
 * A token server for distribution's token auth: Basic credentials user:password
 * get pull and push; anonymous callers get nothing. Tokens are JWTs (RS256)
 * signed by a self-signed key whose certificate is the registry's root bundle,
 * carried in the x5c header.
 */
export async function startTokenServer(t: TestContext, dir: string, user: string, password: string): Promise<TokenServer> {
  mkdirSync(dir, { recursive: true });
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'token.key', '-out', 'token.crt', '-days', '2', '-subj', '/CN=stowage-test-token'], dir);
  const key = readFileSync(join(dir, 'token.key'));
  const certPem = readFileSync(join(dir, 'token.crt'), 'utf8');
  const der = Buffer.from(certPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const b64u = (b: Buffer | string) => Buffer.from(b).toString('base64url');
  const service = 'stowage-test-registry';
  const issuer = 'stowage-test-issuer';
  const ts: TokenServer = { realm: '', service, issuer, certBundle: join(dir, 'token.crt'), requests: [] };
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const scopes = u.searchParams.getAll('scope');
    const h = req.headers.authorization ?? '';
    let authorized = false;
    if (h.startsWith('Basic ')) {
      const [uu, pp] = Buffer.from(h.slice(6), 'base64').toString().split(':');
      if (uu !== user || pp !== password) {
        res.writeHead(401, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'incorrect username or password' }] }));
        ts.requests.push({ scope: scopes, authorized: false });
        return;
      }
      authorized = true;
    }
    ts.requests.push({ scope: scopes, ...(u.searchParams.get('account') ? { account: u.searchParams.get('account')! } : {}), authorized });
    const access = authorized ? scopes.flatMap((s) => s.split(' ')).filter(Boolean).map((s) => {
      const [type, name, actions] = s.split(':');
      return { type, name, actions: (actions ?? '').split(',') };
    }) : [];
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', x5c: [der.toString('base64')] };
    const claims = { iss: issuer, sub: authorized ? user : '', aud: service, exp: now + 600, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
    const sig = cryptoSign('sha256', Buffer.from(input), key);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ token: `${input}.${b64u(sig)}`, expires_in: 600 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  ts.realm = `http://127.0.0.1:${(server.address() as { port: number }).port}/token`;
  cleanupFirst(t, () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return ts;
}

/** A stowage CLI whose registry environment lives under dir. */
export function cli(dir: string, driver = 'vfs', env: NodeJS.ProcessEnv = {}) {
  const s = stowage(join(dir, 'root'), driver);
  const regEnv: NodeJS.ProcessEnv = {
    DOCKER_CONFIG: join(dir, 'docker-config'),
    STOWAGE_CERTS_DIRS: join(dir, 'certs.d'),
    STOWAGE_REGISTRY_CONFIG: join(dir, 'registries.json'),
    ...env,
  };
  return {
    ...s,
    env: regEnv,
    run: (args: string[], o: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> => s.run(args, { ...(o.input !== undefined ? { input: o.input } : {}), env: { ...regEnv, ...(o.env ?? {}) } }),
    async ok(args: string[], o: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
      const r = await s.run(args, { ...(o.input !== undefined ? { input: o.input } : {}), env: { ...regEnv, ...(o.env ?? {}) } });
      if (r.code !== 0) throw new Error(`stowage ${args.join(' ')} exited ${r.code}: ${r.stderr}\n${r.stdout}`);
      return r.stdout;
    },
  };
}
export type Cli = ReturnType<typeof cli>;

/** A three-layer image archive (busybox rootfs, a data layer with `files` files, an app layer). */
export async function fixtureArchive(dir: string, name: string, tags: string[], opts: { files?: number; bytes?: number; config?: Record<string, unknown>; seed?: string } = {}): Promise<DockerArchive> {
  const base = join(dir, `${name}-base`);
  const data = join(dir, `${name}-data`);
  const app = join(dir, `${name}-app`);
  await makeRootfs(base, 'busybox');
  mkdirSync(join(data, 'data'), { recursive: true });
  const n = opts.files ?? 20;
  const per = Math.max(1, Math.floor((opts.bytes ?? 64 * 1024) / n));
  for (let i = 0; i < n; i++) {
    // Pseudo-random (incompressible) content: gzip cannot shrink it, so byte counts stay meaningful.
    const seed = createHash('sha256').update(`${opts.seed ?? name}-${i}`).digest();
    const buf = Buffer.alloc(per);
    for (let off = 0; off < per; off += 32) createHash('sha256').update(seed).update(String(off)).digest().copy(buf, off);
    writeFileSync(join(data, 'data', `f${i}.bin`), buf);
  }
  mkdirSync(join(app, 'app'), { recursive: true });
  writeFileSync(join(app, 'app', 'main.sh'), `#!/bin/sh\necho hello from ${name}\n`, { mode: 0o755 });
  return makeDockerArchive(join(dir, `${name}.tar`), {
    layers: [base, data, app], repoTags: tags, runConfig: { Cmd: ['/app/main.sh'] },
    ...(opts.config ? { config: opts.config } : {}),
  });
}

export function inspect(out: string): { Id: string; RepoTags: string[]; RepoDigests: string[]; RootFS: { Layers: string[] }; Architecture: string; Variant?: string } {
  return (JSON.parse(out) as Array<ReturnType<typeof inspect>>)[0]!;
}
