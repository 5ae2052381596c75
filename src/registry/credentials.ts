// credentials.ts: registry credentials kept as the Docker CLI keeps them, in
// $DOCKER_CONFIG/config.json (default ~/.docker/config.json):
//   { "auths": { "HOST": { "auth": base64("user:password"), "identitytoken": "…" } },
//     "credsStore": "pass", "credHelpers": { "HOST": "ecr-login" } }
// A credential helper is the program docker-credential-NAME speaking the
// get/store/erase protocol on stdin/stdout. Docker Hub's key is
// "https://index.docker.io/v1/". Other keys are "host[:port]"; older files may
// carry "https://host/v1/" forms, which lookups accept too.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { invalidArgument, unavailable, errnoCode } from '../errors.js';

export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

export interface AuthConfig {
  username?: string;
  password?: string;
  serveraddress?: string;
  /** A refresh token for OAuth (what the token server returned as refresh_token). */
  identitytoken?: string;
  /** A bearer token to send as is. */
  registrytoken?: string;
}

interface ConfigFile {
  auths?: Record<string, { auth?: string; identitytoken?: string; username?: string; password?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [k: string]: unknown;
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker');
  return join(dir, 'config.json');
}

function readConfig(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return {};
    throw err;
  }
  if (text.trim() === '') return {};
  try {
    const doc = JSON.parse(text) as ConfigFile;
    return doc && typeof doc === 'object' ? doc : {};
  } catch (err) {
    throw invalidArgument(`${path}: not valid JSON: ${(err as Error).message}`, { name: path });
  }
}

function writeConfig(path: string, doc: ConfigFile): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, JSON.stringify(doc, null, '\t') + '\n', { mode: 0o600 });
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** The config.json key of a registry host: Docker Hub's URL form, else host[:port]. */
export function credentialKey(registryHost: string): string {
  return registryHost === 'docker.io' || registryHost === 'index.docker.io' || registryHost === 'registry-1.docker.io' ? DOCKER_HUB_KEY : registryHost;
}

/** "https://host:5000/v1/" → "host:5000", as Docker's ConvertToHostname. */
function hostnameOf(key: string): string {
  return key.replace(/^https?:\/\//, '').split('/')[0]!;
}

function helperFor(doc: ConfigFile, key: string): string | undefined {
  return doc.credHelpers?.[key] ?? doc.credHelpers?.[hostnameOf(key)] ?? doc.credsStore;
}

function runHelper(helper: string, action: 'get' | 'store' | 'erase', input: string): string {
  const bin = `docker-credential-${helper}`;
  const r = spawnSync(bin, [action], { input, encoding: 'utf8', timeout: 30_000 });
  if (r.error) {
    if (errnoCode(r.error) === 'ENOENT') throw unavailable(`error getting credentials - err: exec: "${bin}": executable file not found in $PATH`, { name: bin });
    throw unavailable(`credential helper ${bin} failed: ${r.error.message}`, { name: bin, cause: r.error });
  }
  if (r.status !== 0) {
    const msg = (r.stdout || r.stderr || '').trim();
    if (action === 'get' && /credentials not found/i.test(msg)) return '';
    throw unavailable(`credential helper ${bin} ${action} failed: ${msg || `exit ${r.status}`}`, { name: bin });
  }
  return r.stdout;
}

/** Credentials for a registry host, or undefined when none are stored. */
export function getCredentials(registryHost: string, env: NodeJS.ProcessEnv = process.env): AuthConfig | undefined {
  const key = credentialKey(registryHost);
  const doc = readConfig(configPath(env));
  const helper = helperFor(doc, key);
  if (helper) {
    const out = runHelper(helper, 'get', key);
    if (out.trim() === '') return undefined;
    let r: { Username?: string; Secret?: string };
    try { r = JSON.parse(out) as typeof r; } catch { throw unavailable(`credential helper docker-credential-${helper} returned invalid JSON`, { name: helper }); }
    if (!r.Secret) return undefined;
    // "<token>" as the user name means the secret is an identity (refresh) token.
    if (r.Username === '<token>') return { identitytoken: r.Secret, serveraddress: key };
    return { username: r.Username ?? '', password: r.Secret, serveraddress: key };
  }
  const auths = doc.auths ?? {};
  const entry = auths[key] ?? Object.entries(auths).find(([k]) => hostnameOf(k) === hostnameOf(key))?.[1];
  if (!entry) return undefined;
  const a: AuthConfig = { serveraddress: key };
  if (entry.auth) {
    const dec = Buffer.from(entry.auth, 'base64').toString('utf8');
    const i = dec.indexOf(':');
    if (i < 0) throw invalidArgument(`${configPath(env)}: the auth of ${key} is not base64("user:password")`, { name: key });
    a.username = dec.slice(0, i);
    a.password = dec.slice(i + 1);
  } else if (entry.username !== undefined) {
    a.username = entry.username;
    a.password = entry.password ?? '';
  }
  if (entry.identitytoken) a.identitytoken = entry.identitytoken;
  return a.username !== undefined || a.identitytoken ? a : undefined;
}

/** Stores credentials (helper when configured, else base64 in config.json). Returns where they went. */
export function storeCredentials(registryHost: string, auth: AuthConfig, env: NodeJS.ProcessEnv = process.env): { file: string; helper?: string } {
  const key = credentialKey(registryHost);
  const path = configPath(env);
  const doc = readConfig(path);
  const helper = helperFor(doc, key);
  if (helper) {
    const secret = auth.identitytoken ?? auth.password ?? '';
    const user = auth.identitytoken ? '<token>' : auth.username ?? '';
    runHelper(helper, 'store', JSON.stringify({ ServerURL: key, Username: user, Secret: secret }));
    // Docker keeps an empty entry so `docker info`-like listings know the registry.
    doc.auths = { ...(doc.auths ?? {}), [key]: {} };
    writeConfig(path, doc);
    return { file: path, helper };
  }
  const entry: { auth?: string; identitytoken?: string } = {};
  if (auth.identitytoken) entry.identitytoken = auth.identitytoken;
  else entry.auth = Buffer.from(`${auth.username ?? ''}:${auth.password ?? ''}`).toString('base64');
  doc.auths = { ...(doc.auths ?? {}), [key]: entry };
  writeConfig(path, doc);
  return { file: path };
}

/** Removes stored credentials; false when there were none. */
export function eraseCredentials(registryHost: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const key = credentialKey(registryHost);
  const path = configPath(env);
  const doc = readConfig(path);
  const helper = helperFor(doc, key);
  const auths = doc.auths ?? {};
  const keys = Object.keys(auths).filter((k) => k === key || hostnameOf(k) === hostnameOf(key));
  let had = keys.length > 0;
  if (helper) {
    try { runHelper(helper, 'erase', key); had = true; } catch { /* not stored there */ }
  }
  if (keys.length > 0) {
    for (const k of keys) delete auths[k];
    doc.auths = auths;
    writeConfig(path, doc);
  }
  return had;
}

/** Decodes Docker's X-Registry-Auth header (base64url JSON); undefined for empty. */
export function decodeAuthHeader(h: string | undefined): AuthConfig | undefined {
  if (!h) return undefined;
  try {
    const json = Buffer.from(h.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
    const a = JSON.parse(json) as AuthConfig;
    return a && typeof a === 'object' ? a : undefined;
  } catch {
    throw invalidArgument('invalid X-Registry-Auth header: want base64url-encoded JSON');
  }
}
