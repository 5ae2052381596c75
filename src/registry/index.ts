// registry/: the distribution client. What front ends call: pull, push, login,
// logout. Progress goes to onProgress as Docker's JSON messages; the CLI draws
// them (cli/progress.ts), the Engine API forwards them as JSON lines.
import type { AuthConfig } from './credentials.js';
import { RegistryClient } from './client.js';
import { credentialKey, eraseCredentials, getCredentials, storeCredentials } from './credentials.js';
import { invalidArgument } from '../errors.js';

export { pull, parsePlatform, type PullOptions, type PullResult } from './pull.js';
export { push, type PushOptions, type PushResult } from './push.js';
export type { ProgressEvent, OnProgress } from './progress.js';
export { decodeAuthHeader, type AuthConfig } from './credentials.js';

/** "https://index.docker.io/v1/", "docker.io", "https://host:5000/" → the registry host as references name it. */
export function registryHost(server: string | undefined): string {
  if (!server) return 'docker.io';
  const s = server.trim().replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (s === '') throw invalidArgument(`invalid registry address "${server}"`, { name: server });
  if (s === 'index.docker.io' || s === 'registry-1.docker.io' || s === 'docker.io') return 'docker.io';
  return s;
}

/**
 * `login`: checks the credentials against the registry (its /v2/ and, for token
 * auth, its token server), then stores them. Without credentials, checks the
 * stored ones. Returns where they were stored.
 */
export async function login(server: string | undefined, auth: AuthConfig | undefined, opts: { signal?: AbortSignal } = {}): Promise<{ key: string; file?: string; helper?: string; existing: boolean }> {
  const host = registryHost(server);
  const key = credentialKey(host);
  const use = auth ?? getCredentials(host);
  if (!use) throw invalidArgument(`no credentials for ${key}: give a user name (-u)`, { name: key });
  const client = new RegistryClient(host, { auth: use, ...(opts.signal ? { signal: opts.signal } : {}) });
  try {
    await client.checkLogin();
  } finally {
    client.close();
  }
  if (!auth) return { key, existing: true };
  const where = storeCredentials(host, { ...auth, serveraddress: key });
  return { key, ...where, existing: false };
}

/**
 * Checks credentials against a registry without storing them: what the Engine API's
 * POST /auth does (the docker CLI keeps the credentials itself, as with dockerd).
 */
export async function verifyLogin(server: string | undefined, auth: AuthConfig, opts: { signal?: AbortSignal } = {}): Promise<void> {
  const host = registryHost(server);
  const client = new RegistryClient(host, { auth, ...(opts.signal ? { signal: opts.signal } : {}) });
  try {
    await client.checkLogin();
  } finally {
    client.close();
  }
}

/** `logout`: false when there were no credentials for the server. */
export function logout(server: string | undefined): { key: string; removed: boolean } {
  const host = registryHost(server);
  return { key: credentialKey(host), removed: eraseCredentials(host) };
}
