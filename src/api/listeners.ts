// listeners.ts: dockerd's -H addresses: unix:///path (mode 0660, owner root, an
// optional group), tcp://HOST:PORT (loopback unless told otherwise) and fd:// (the
// sockets systemd passes with socket activation).
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { connect, isIP } from 'node:net';
import { dirname } from 'node:path';
import { invalidArgument, failedPrecondition } from '../errors.js';

export const DEFAULT_HOST = 'unix:///run/stowage/stowage.sock';

export type ListenerSpec =
  | { kind: 'unix'; path: string; text: string }
  | { kind: 'tcp'; host: string; port: number; text: string }
  | { kind: 'fd'; fds: number[]; text: string };

const LOOPBACK = (h: string) => h === 'localhost' || h === '::1' || /^127\./.test(h);

export function parseHost(text: string, o: { allowRemote?: boolean } = {}): ListenerSpec {
  const m = /^(unix|tcp|fd):\/\/(.*)$/.exec(text);
  if (!m) throw invalidArgument(`invalid -H address ${JSON.stringify(text)}: want unix:///path, tcp://127.0.0.1:PORT or fd://`);
  const [, scheme, rest] = m as unknown as [string, string, string];
  if (scheme === 'unix') {
    if (!rest.startsWith('/')) throw invalidArgument(`invalid -H address ${JSON.stringify(text)}: the socket path must be absolute`);
    return { kind: 'unix', path: rest, text };
  }
  if (scheme === 'fd') {
    const count = Number(process.env.LISTEN_FDS ?? 0);
    if (process.env.LISTEN_PID && Number(process.env.LISTEN_PID) !== process.pid) throw failedPrecondition('fd://: LISTEN_PID names another process (not started by systemd socket activation)');
    if (!count) throw failedPrecondition('fd://: no sockets were passed (LISTEN_FDS is not set; start stowage serve through its systemd socket unit)');
    const all = Array.from({ length: count }, (_, i) => 3 + i);
    const fds = rest ? [Number(rest)] : all;
    if (fds.some((f) => !all.includes(f))) throw invalidArgument(`fd://${rest}: systemd passed fds ${all.join(', ')}`);
    return { kind: 'fd', fds, text };
  }
  const hm = /^(\[[^\]]+\]|[^:/]*):(\d+)\/?$/.exec(rest);
  if (!hm) throw invalidArgument(`invalid -H address ${JSON.stringify(text)}: want tcp://HOST:PORT (dockerd's 2375 has no default here)`);
  const host = hm[1]!.replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = Number(hm[2]);
  if (port > 65535) throw invalidArgument(`invalid port in ${JSON.stringify(text)}`);
  if (!LOOPBACK(host) && !o.allowRemote) {
    throw invalidArgument(`refusing to listen on ${host}: the Engine API is root-equivalent and has no TLS here; listen on a loopback address (tcp://127.0.0.1:PORT), or pass --allow-remote-tcp if you really mean it`, { name: text });
  }
  if (host !== 'localhost' && !isIP(host)) throw invalidArgument(`invalid -H address ${JSON.stringify(text)}: the host must be an IP address or localhost`);
  return { kind: 'tcp', host, port, text };
}

/** A group name or number to its gid (from /etc/group). */
export function groupId(group: string): number {
  if (/^\d+$/.test(group)) return Number(group);
  let text = '';
  try { text = readFileSync('/etc/group', 'utf8'); } catch { /* no groups file */ }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined) return Number(gid);
  }
  throw invalidArgument(`group ${JSON.stringify(group)} not found (in /etc/group)`, { name: group });
}

/** Makes the socket's folder, and removes a stale socket nobody answers on (a live one is refused). */
export async function prepareUnixPath(path: string, inUse = `${path} is in use by a running server (another stowage serve or a dockerd?)`): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  if (!existsSync(path)) return;
  if (!statSync(path).isSocket()) throw failedPrecondition(`${path} exists and is not a socket`, { name: path });
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
  if (alive) throw failedPrecondition(inUse, { name: path });
  unlinkSync(path);
}

/** Socket permissions as dockerd sets them: 0660, root, the group if given. */
export function secureUnixSocket(path: string, group?: string): void {
  chmodSync(path, 0o660);
  if (group !== undefined) chownSync(path, 0, groupId(group));
}

export function isLoopbackHost(h: string): boolean {
  return LOOPBACK(h);
}
