// changes.ts: `--change` instructions for import and commit (Dockerfile syntax for
// CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR),
// applied to an image's container config.
import type { ContainerConfig } from './config.js';
import { invalidArgument } from '../errors.js';

const ALLOWED = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR'];

/** JSON array form, else shell form wrapped in /bin/sh -c. */
function execForm(rest: string): string[] {
  const t = rest.trim();
  if (t.startsWith('[')) {
    try {
      const v = JSON.parse(t) as unknown;
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
    } catch { /* shell form */ }
  }
  return ['/bin/sh', '-c', t];
}

/** Splits `a=b "c d"=e` or `key value` into pairs, honouring quotes. */
function keyValues(rest: string, instr: string): Array<[string, string]> {
  const t = rest.trim();
  const words: string[] = [];
  let cur = '';
  let quote: string | null = null;
  let inWord = false;
  for (let i = 0; i < t.length; i++) {
    const c = t[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < t.length) cur += t[++i];
      else cur += c;
    } else if (c === '"' || c === "'") { quote = c; inWord = true; }
    else if (c === '\\' && i + 1 < t.length) { cur += t[++i]; inWord = true; }
    else if (/\s/.test(c)) { if (inWord) { words.push(cur); cur = ''; inWord = false; } }
    else { cur += c; inWord = true; }
  }
  if (quote) throw invalidArgument(`${instr}: unterminated quote in "${rest}"`);
  if (inWord) words.push(cur);
  if (words.length === 0) throw invalidArgument(`${instr} requires at least one argument`);
  if (!words[0]!.includes('=')) {
    // Legacy form: KEY value with spaces
    const sp = t.search(/\s/);
    if (sp < 0) throw invalidArgument(`${instr} ${t}: must have two arguments`);
    return [[t.slice(0, sp), t.slice(sp).trim()]];
  }
  return words.map((w) => {
    const i = w.indexOf('=');
    if (i <= 0) throw invalidArgument(`${instr}: "${w}" is not of the form key=value`);
    return [w.slice(0, i), w.slice(i + 1)];
  });
}

export function applyChanges(config: ContainerConfig, changes: string[]): ContainerConfig {
  const out: ContainerConfig = { ...config };
  for (const line of changes) {
    const m = /^\s*(\S+)\s*(.*)$/s.exec(line);
    if (!m) continue;
    const instr = m[1]!.toUpperCase();
    const rest = m[2]!;
    if (!ALLOWED.includes(instr)) {
      throw invalidArgument(`${m[1]} is not a valid change command (valid: ${ALLOWED.join(', ')})`, { name: line });
    }
    switch (instr) {
      case 'CMD': out.Cmd = execForm(rest); break;
      case 'ENTRYPOINT': out.Entrypoint = execForm(rest); break;
      case 'ENV': {
        const env = [...(out.Env ?? [])];
        for (const [k, v] of keyValues(rest, 'ENV')) {
          const i = env.findIndex((e) => e.split('=')[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`; else env.push(`${k}=${v}`);
        }
        out.Env = env;
        break;
      }
      case 'LABEL': {
        const labels = { ...(out.Labels ?? {}) };
        for (const [k, v] of keyValues(rest, 'LABEL')) labels[k] = v;
        out.Labels = labels;
        break;
      }
      case 'EXPOSE': {
        const ports = { ...(out.ExposedPorts ?? {}) };
        for (const p of rest.trim().split(/\s+/)) {
          if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(p)) throw invalidArgument(`EXPOSE: invalid port "${p}"`);
          ports[p.includes('/') ? p.toLowerCase() : `${p}/tcp`] = {};
        }
        out.ExposedPorts = ports;
        break;
      }
      case 'VOLUME': {
        const vols = { ...(out.Volumes ?? {}) };
        const t = rest.trim();
        const list = t.startsWith('[') ? (JSON.parse(t) as string[]) : t.split(/\s+/);
        for (const v of list) vols[v] = {};
        out.Volumes = vols;
        break;
      }
      case 'USER': out.User = rest.trim(); break;
      case 'WORKDIR': out.WorkingDir = rest.trim(); break;
      case 'STOPSIGNAL': out.StopSignal = rest.trim(); break;
      case 'ONBUILD': out.OnBuild = [...(out.OnBuild ?? []), rest.trim()]; break;
    }
  }
  return out;
}
