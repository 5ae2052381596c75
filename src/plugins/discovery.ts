// discovery.ts: where Docker volume plugins are found, the way Docker finds them
// (moby pkg/plugins/discovery.go), plus stowage's own folders, which come first:
//   sockets   <dir>/NAME.sock, then <dir>/NAME/NAME.sock, in /run/stowage/plugins and /run/docker/plugins
//   specs     <dir>/NAME.spec (one URL: unix:///path.sock, tcp://host:port, http://host:port)
//             or <dir>/NAME.json ({"Name", "Addr", "TLSConfig"}), in /etc/stowage/plugins,
//             /etc/docker/plugins and /usr/lib/docker/plugins
// Both lists can be replaced with STOWAGE_PLUGIN_SOCKET_DIRS / STOWAGE_PLUGIN_SPEC_DIRS
// (colon-separated), so tests and unusual hosts use their own folders.
// Nothing here connects to a plugin: a location is only where one should answer.
import { readFileSync, readdirSync, statSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { invalidArgument, notFound, notImplemented } from '../errors.js';

export interface PluginLocation {
  name: string;
  /** unix:///abs/path.sock or tcp://host:port (http). */
  addr: string;
  /** The file that said so (the socket itself, or the spec file). */
  source: string;
}

export const DEFAULT_SOCKET_DIRS = ['/run/stowage/plugins', '/run/docker/plugins'];
export const DEFAULT_SPEC_DIRS = ['/etc/stowage/plugins', '/etc/docker/plugins', '/usr/lib/docker/plugins'];

export function pluginDirs(env: NodeJS.ProcessEnv = process.env): { sockets: string[]; specs: string[] } {
  const split = (v: string | undefined, d: string[]) => (v === undefined ? d : v.split(':').filter((x) => x !== ''));
  return { sockets: split(env.STOWAGE_PLUGIN_SOCKET_DIRS, DEFAULT_SOCKET_DIRS), specs: split(env.STOWAGE_PLUGIN_SPEC_DIRS, DEFAULT_SPEC_DIRS) };
}

// Docker's plugin names: path-like words ("glusterfs", "rexray/ebs"), an optional tag.
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*(\/[A-Za-z0-9][A-Za-z0-9_.-]*)*(:[A-Za-z0-9_.-]+)?$/;

export function checkPluginName(name: string): void {
  if (!NAME.test(name) || name.split('/').some((p) => p === '..' || p === '.') || name.length > 255) {
    throw invalidArgument(`invalid volume plugin name ${JSON.stringify(name)}: a plugin name is words of letters, digits, "_", "." and "-" separated by "/"`, { name });
  }
}

function isSocket(p: string): boolean {
  try { return statSync(p).isSocket(); } catch { return false; }
}

function isFile(p: string): boolean {
  try { return lstatSync(p).isFile() || statSync(p).isFile(); } catch { return false; }
}

/** The address a spec URL names, checked. */
export function parseSpecAddr(raw: string, source: string): string {
  const s = raw.trim();
  let u: URL;
  try { u = new URL(s); } catch { throw invalidArgument(`plugin spec ${source}: ${JSON.stringify(s.slice(0, 200))} is not a URL (expected unix:///path.sock or tcp://host:port)`); }
  if (u.protocol === 'unix:') {
    if (!u.pathname.startsWith('/')) throw invalidArgument(`plugin spec ${source}: unix socket path must be absolute`);
    return `unix://${decodeURIComponent(u.pathname)}`;
  }
  if (u.protocol === 'tcp:' || u.protocol === 'http:') {
    if (!u.hostname || !u.port) throw invalidArgument(`plugin spec ${source}: ${s} needs a host and a port`);
    return `tcp://${u.host}`;
  }
  if (u.protocol === 'https:') throw notImplemented(`plugin spec ${source}: TLS plugin addresses (${s}) are not supported; use a unix socket or plain tcp`);
  throw invalidArgument(`plugin spec ${source}: unsupported scheme ${u.protocol} (expected unix:// or tcp://)`);
}

function readSpec(path: string, name: string): PluginLocation {
  const text = readFileSync(path, 'utf8').slice(0, 64 * 1024);
  if (path.endsWith('.json')) {
    let j: { Name?: unknown; Addr?: unknown; TLSConfig?: { InsecureSkipVerify?: boolean } | null };
    try { j = JSON.parse(text); } catch (err) { throw invalidArgument(`plugin spec ${path}: not valid JSON: ${(err as Error).message}`, { name }); }
    if (typeof j?.Addr !== 'string') throw invalidArgument(`plugin spec ${path}: "Addr" must be a string`, { name });
    if (j.TLSConfig && !j.TLSConfig.InsecureSkipVerify) throw notImplemented(`plugin spec ${path}: TLSConfig is not supported; use a unix socket or plain tcp`, { name });
    return { name, addr: parseSpecAddr(j.Addr, path), source: path };
  }
  return { name, addr: parseSpecAddr(text.split('\n')[0] ?? '', path), source: path };
}

/** The paths tried for a name, in order. */
export function candidatePaths(name: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const d = pluginDirs(env);
  const base = name.split('/').pop()!;
  return [
    ...d.sockets.flatMap((dir) => [join(dir, `${name}.sock`), join(dir, name, `${base}.sock`)]),
    ...d.specs.flatMap((dir) => [join(dir, `${name}.spec`), join(dir, `${name}.json`)]),
  ];
}

/** Where plugin NAME answers. NotFound names every place looked in. */
export function findPlugin(name: string, env: NodeJS.ProcessEnv = process.env): PluginLocation {
  checkPluginName(name);
  const tried = candidatePaths(name, env);
  for (const p of tried) {
    if (p.endsWith('.sock')) { if (isSocket(p)) return { name, addr: `unix://${p}`, source: p }; continue; }
    if (isFile(p)) return readSpec(p, name);
  }
  throw notFound(`error looking up volume plugin ${name}: plugin "${name}" not found (looked for ${tried.join(', ')})`, { name, refs: tried });
}

/** Every plugin a folder offers (names from socket and spec files; the first place of a name wins). */
export function discoverPlugins(env: NodeJS.ProcessEnv = process.env): Array<PluginLocation | { name: string; source: string; error: string }> {
  const d = pluginDirs(env);
  const seen = new Map<string, PluginLocation | { name: string; source: string; error: string }>();
  const add = (name: string, make: () => PluginLocation, source: string) => {
    if (seen.has(name)) return;
    try { checkPluginName(name); seen.set(name, make()); } catch (err) { seen.set(name, { name, source, error: (err as Error).message }); }
  };
  for (const dir of d.sockets) {
    let names: string[] = [];
    try { names = readdirSync(dir).sort(); } catch { continue; }
    for (const n of names) {
      const p = join(dir, n);
      if (n.endsWith('.sock') && isSocket(p)) add(n.slice(0, -5), () => ({ name: n.slice(0, -5), addr: `unix://${p}`, source: p }), p);
      else if (isSocket(join(p, `${n}.sock`))) add(n, () => ({ name: n, addr: `unix://${join(p, `${n}.sock`)}`, source: join(p, `${n}.sock`) }), p);
    }
  }
  for (const dir of d.specs) {
    let names: string[] = [];
    try { names = readdirSync(dir).sort(); } catch { continue; }
    for (const n of names) {
      const m = /^(.*)\.(spec|json)$/.exec(n);
      if (!m || !isFile(join(dir, n))) continue;
      add(m[1]!, () => readSpec(join(dir, n), m[1]!), join(dir, n));
    }
  }
  return [...seen.values()];
}
