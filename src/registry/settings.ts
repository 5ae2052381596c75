// settings.ts: stowage's registry settings, from one JSON file with the keys of
// Docker's daemon.json that concern registries:
//
//   /etc/stowage/registries.json  (or $STOWAGE_REGISTRY_CONFIG)
//   {
//     "registry-mirrors": ["https://mirror.example.com"],   // tried first for docker.io
//     "insecure-registries": ["myhost:5000", "10.0.0.0/8"], // plain HTTP / unverified TLS allowed
//     "max-concurrent-downloads": 3,
//     "max-concurrent-uploads": 5,
//     "push-compression-level": 1                           // gzip level of pushed layers
//   }
//
// TLS material is looked up per registry in certs.d folders, Docker's first and
// stowage's own after: /etc/docker/certs.d and /etc/stowage/certs.d ($STOWAGE_CERTS_DIRS,
// colon-separated, replaces both: the tests point it at a temporary folder).
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { invalidArgument, errnoCode } from '../errors.js';

export interface RegistrySettings {
  mirrors: string[];
  insecure: string[];
  maxConcurrentDownloads: number;
  maxConcurrentUploads: number;
  compressionLevel: number;
  certsDirs: string[];
}

export const DEFAULT_SETTINGS_PATH = '/etc/stowage/registries.json';

export function settingsPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.STOWAGE_REGISTRY_CONFIG || DEFAULT_SETTINGS_PATH;
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): RegistrySettings {
  const s: RegistrySettings = {
    mirrors: [], insecure: [], maxConcurrentDownloads: 3, maxConcurrentUploads: 5, compressionLevel: 1,
    certsDirs: env.STOWAGE_CERTS_DIRS ? env.STOWAGE_CERTS_DIRS.split(':').filter(Boolean) : ['/etc/docker/certs.d', '/etc/stowage/certs.d'],
  };
  const path = settingsPath(env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return s;
    throw err;
  }
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw invalidArgument(`${path}: not valid JSON: ${(err as Error).message}`, { name: path });
  }
  const strings = (k: string): string[] => {
    const v = doc[k];
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw invalidArgument(`${path}: "${k}" must be an array of strings`, { name: path });
    return v as string[];
  };
  const count = (k: string, dflt: number, min: number, max: number): number => {
    const v = doc[k];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalidArgument(`${path}: "${k}" must be an integer from ${min} to ${max}`, { name: path });
    return v;
  };
  s.mirrors = strings('registry-mirrors').map((m) => m.replace(/\/+$/, ''));
  for (const m of s.mirrors) if (!/^https?:\/\/[^/]+/.test(m)) throw invalidArgument(`${path}: registry mirror "${m}" must be an http:// or https:// URL`, { name: path });
  s.insecure = strings('insecure-registries');
  s.maxConcurrentDownloads = count('max-concurrent-downloads', 3, 1, 64);
  s.maxConcurrentUploads = count('max-concurrent-uploads', 5, 1, 64);
  s.compressionLevel = count('push-compression-level', 1, 1, 9);
  return s;
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
}

function inCidr(ip: string, cidr: string): boolean {
  const [net, bits] = cidr.split('/');
  if (!net || bits === undefined || isIP(net) !== 4 || isIP(ip) !== 4) return false;
  const b = Number(bits);
  const mask = b === 0 ? 0 : (~0 << (32 - b)) >>> 0;
  return (ipv4ToInt(ip) & mask) === (ipv4ToInt(net) & mask);
}

/** The host part of "host[:port]" ("[::1]:5000" → "::1"). */
export function hostOf(hostPort: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(hostPort);
  if (m) return m[1]!;
  const i = hostPort.lastIndexOf(':');
  return i >= 0 && !hostPort.slice(0, i).includes(':') ? hostPort.slice(0, i) : hostPort;
}

/**
 * Whether plain HTTP (and unverified TLS) is allowed for a registry, as Docker
 * decides: loopback (127.0.0.0/8, ::1, localhost) always, others when listed in
 * insecure-registries by host[:port] or by a CIDR containing the address.
 */
export function isInsecure(hostPort: string, s: RegistrySettings): boolean {
  const host = hostOf(hostPort);
  if (host === 'localhost' || host === '::1' || inCidr(host, '127.0.0.0/8')) return true;
  for (const e of s.insecure) {
    const entry = e.replace(/^https?:\/\//, '').replace(/\/+$/, '');
    if (entry === hostPort || entry === host) return true;
    if (entry.includes('/') && inCidr(host, entry)) return true;
  }
  return false;
}
