// options.ts: the local driver's options, validated as Docker's local driver does
// (type/device/o must come together: device needs type, type needs device, o needs
// both), plus stowage's `size`: a hard quota, given by a filesystem image of that
// size mounted over the volume's _data (see local.ts).
import { invalidArgument } from '../errors.js';
import { ramInBytes } from '../mounts/gostr.js';

export interface LocalOptions {
  /** mount(8) filesystem type ("tmpfs", "none" with o=bind, "ext4", "nfs" …). */
  type?: string;
  device?: string;
  /** Comma-separated mount options; flag words become MS_* flags, the rest filesystem data. */
  o?: string;
  /** Quota in bytes (the `size` option). */
  size?: number;
}

const VALID = ['type', 'o', 'device', 'size'];
const REQUIRED: Array<[string, string[]]> = [['device', ['type']], ['type', ['device']], ['o', ['device', 'type']]];
/** Smallest quota: an ext4 image below this cannot hold its own metadata and a useful file. */
export const MIN_SIZE = 1 << 20;

/** Validates a local volume's options (Docker's rules and wording), returning them parsed. */
export function parseLocalOptions(opts: Record<string, string>, name = ''): LocalOptions {
  const ctx = { op: 'volume create', name };
  for (const k of Object.keys(opts)) {
    if (!VALID.includes(k)) throw invalidArgument(`invalid option: ${JSON.stringify(k)}\nhint: the local driver takes type, device, o (together) and size`, ctx);
  }
  for (const [k, needs] of REQUIRED) {
    if (!(k in opts)) continue;
    for (const n of needs) {
      if (!(n in opts)) throw invalidArgument(`missing required option: ${JSON.stringify(n)}\nhint: type, device and o go together, e.g. -o type=tmpfs -o device=tmpfs -o o=size=100m`, ctx);
    }
  }
  const out: LocalOptions = {};
  if ('type' in opts) out.type = opts.type!;
  if ('device' in opts) out.device = opts.device!;
  if ('o' in opts) out.o = opts.o!;
  if ('size' in opts) {
    let n: number;
    try { n = ramInBytes(opts.size!); } catch (err) { throw invalidArgument(`${(err as Error).message}`, ctx); }
    if (n > 0) {
      if (out.type !== undefined) throw invalidArgument('option "size" cannot be combined with type/device: the quota is a filesystem of its own', ctx);
      if (n < MIN_SIZE) throw invalidArgument(`option "size" is ${n} bytes: the smallest quota is 1MiB`, ctx);
      out.size = n;
    }
  }
  if (out.o !== undefined && Buffer.byteLength(out.o) > 4095) throw invalidArgument('option "o" is longer than the kernel\'s one-page limit for mount options', ctx);
  const words = (out.o ?? '').split(',');
  if (words.includes('bind') || words.includes('rbind')) {
    if (!out.device?.startsWith('/')) throw invalidArgument(`option "device" must be an absolute host path for a bind volume (o=${out.o})`, ctx);
  }
  return out;
}

/** True when the volume needs a mount before use (type/device/o or size). */
export function needsMount(o: LocalOptions): boolean {
  return o.type !== undefined || o.device !== undefined || (o.size ?? 0) > 0;
}
