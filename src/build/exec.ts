// exec.ts: the two things a build step does to a filesystem: look at it (a
// read-only view of a layer chain, for COPY destinations, --chown names, WORKDIR)
// and run a command in it (RUN), turning what the command changed into a layer.
//
// RUN works like `docker commit` of a one-shot container, without a container
// record: an init layer (the runtime's mount points) and a writable layer on the
// current top, mounted, the OCI runtime run in the foreground with the host's
// network, then the writable layer's changes exported as a layer tar and added on
// the current top. The scratch layers are leased to this process (recovery removes
// them if it dies) and removed on every path out; mounts are released on every path
// out, and recorded in the mount ledger before they are made (recovery releases them
// if the build dies). Views and bundles live under the engine's exec root (/run,
// tmpfs), never in the data root's tmp/, whose sweep must not recurse into a mount;
// their names carry the owner token, so recovery sweeps those of dead builds.
import { mkdirSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Engine } from '../engine.js';
import type { LayerRecord } from '../layers/store.js';
import { mountLedger, type MountLedger } from '../store/mount-ledger.js';
import { ownerToken } from '../store/owner.js';
import { failpoint } from '../util/failpoint.js';
import { initLayerTar } from '../containers/init-layer.js';
import { exportChanges } from '../archive/changes.js';
import { buildSpec, resolveUser } from '../runtime/spec.js';
import { startFailureCode } from '../runtime/runtime.js';

/**
 * Scratch names under the exec root start with the owner token ("view-PID-START-…"),
 * so recovery (store/sweep.ts) can tell the leftovers of a build that died.
 */
function scratchName(kind: string, rest: string): string {
  return `${kind}-${ownerToken().replace(':', '-')}-${rest}`;
}

export function buildDir(engine: { execRoot: string }): string {
  const d = join(engine.execRoot, 'build');
  mkdirSync(d, { recursive: true, mode: 0o700 });
  return d;
}

/** A read-only view of a layer chain (empty for null). close() releases it. */
export class ImageView {
  private constructor(readonly root: string, private readonly mounted: boolean) {}

  private ledger: MountLedger | undefined;

  static open(engine: Engine, top: LayerRecord | null): ImageView {
    const dir = join(buildDir(engine), scratchName('view', randomBytes(6).toString('hex')));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!top) return new ImageView(dir, false);
    const ledger = mountLedger(engine);
    try {
      ledger.mount(dir, engine.driver.mounts(top.id, { readonly: true }), { kind: 'view', mode: 'claim' });
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    const v = new ImageView(dir, true);
    v.ledger = ledger;
    return v;
  }

  close(): void {
    if (this.mounted) this.ledger!.release(this.root);
    rmSync(this.root, { recursive: true, force: true });
  }
}

export interface RunInput {
  args: string[];
  env: string[];
  cwd: string;
  user: string;
  network: 'host' | 'none';
  onStarted?: (containerId: string) => void;
  onOutput?: (stream: 'stdout' | 'stderr', data: Buffer) => void;
  signal?: AbortSignal;
}

export interface RunOutput {
  exitCode: number;
  /** The new layer on top (ready, leased to this process) when the command succeeded. */
  layer?: LayerRecord;
  containerId: string;
  /** The last output, to show with a failure. */
  tail: string;
}

/** Runs a RUN step's command on top of `top`; on success its changes become a layer on top. */
export async function runCommand(engine: Engine, top: LayerRecord | null, input: RunInput): Promise<RunOutput> {
  const layers = engine.layers;
  const cid = randomBytes(32).toString('hex');
  const scratch: LayerRecord[] = [];
  const bundle = join(buildDir(engine), scratchName('run', cid));
  const ledger = mountLedger(engine);
  let rootfs: string | undefined;
  let mounted = false;
  let tail = '';
  const runtime = engine.runtime();
  try {
    let base = top;
    const initTar = initLayerTar(top ? engine.driver.changeSource(top.id) : null);
    if (initTar) {
      base = await layers.createWritable(top);
      scratch.push(base);
      await layers.applyToWritable(base, initTar);
    }
    const rw = await layers.createWritable(base);
    scratch.push(rw);
    mkdirSync(bundle, { recursive: true, mode: 0o700 });
    const d = engine.driver as unknown as { mergedDir?: (id: string) => string };
    rootfs = typeof d.mergedDir === 'function' ? d.mergedDir(rw.id) : join(bundle, 'rootfs');
    mkdirSync(rootfs, { recursive: true });
    ledger.mount(rootfs, engine.driver.mounts(rw.id), { kind: 'build', mode: 'claim' });
    mounted = true;
    failpoint('build:mounted');
    const etc = etcFiles(bundle, cid.slice(0, 12), input.network === 'host');
    const spec = buildSpec({
      id: cid, rootfs, readonlyRootfs: false, args: input.args, env: input.env, cwd: input.cwd || '/',
      user: resolveUser(rootfs, input.user), terminal: false, hostname: cid.slice(0, 12), network: input.network,
      mounts: etc, cgroupsPath: `/stowage/${cid}`,
    });
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
    input.onStarted?.(cid);
    const child = runtime.run(cid, bundle, 'pipe');
    let stderr = '';
    const keep = (b: Buffer) => { tail = (tail + b.toString('utf8')).slice(-4096); };
    child.stdout?.on('data', (b: Buffer) => { keep(b); input.onOutput?.('stdout', b); });
    child.stderr?.on('data', (b: Buffer) => { keep(b); if (stderr.length < 8192) stderr += b.toString('utf8'); input.onOutput?.('stderr', b); });
    child.stdin?.end();
    const onAbort = () => { void runtime.kill(cid, 'SIGKILL', { all: true }).catch(() => {}); };
    input.signal?.addEventListener('abort', onAbort, { once: true });
    let code: number = await new Promise((resolve) => {
      child.on('close', (c, sig) => resolve(c ?? (sig ? 137 : 255)));
      child.on('error', () => resolve(125));
    });
    input.signal?.removeEventListener('abort', onAbort);
    input.signal?.throwIfAborted();
    if (code !== 0) {
      const failed = startFailureCode(stderr) ?? (code === 1 ? startFailureCode(runtimeLog(bundle)) : undefined);
      if (failed) code = failed;
      return { exitCode: code, containerId: cid, tail };
    }
    ledger.release(rootfs);
    mounted = false;
    const { layer } = await layers.add(top, () => exportChanges(engine.driver.changeSource(rw.id)), input.signal ? { signal: input.signal } : {});
    return { exitCode: 0, layer, containerId: cid, tail };
  } finally {
    await runtime.delete(cid, { force: true }).catch(() => {});
    if (mounted && rootfs) ledger.release(rootfs);
    rmSync(bundle, { recursive: true, force: true });
    for (const l of scratch.reverse()) {
      layers.unlease(l.id);
      await layers.removeIfUnused(l.id);
    }
  }
}

function runtimeLog(bundle: string): string {
  try { return readFileSync(join(bundle, 'log.json'), 'utf8'); } catch { return ''; }
}

/** hostname, hosts and resolv.conf for a build container, as bind mounts. */
function etcFiles(bundle: string, hostname: string, host: boolean): Array<{ destination: string; type: string; source: string; options: string[] }> {
  const read = (p: string, fb: string) => { try { return readFileSync(p, 'utf8'); } catch { return fb; } };
  writeFileSync(join(bundle, 'hostname'), `${hostname}\n`);
  writeFileSync(join(bundle, 'hosts'), host ? read('/etc/hosts', '127.0.0.1\tlocalhost\n') : `127.0.0.1\tlocalhost\n127.0.1.1\t${hostname}\n`);
  writeFileSync(join(bundle, 'resolv.conf'), host ? read('/etc/resolv.conf', '') : '');
  return ['hostname', 'hosts', 'resolv.conf'].filter((f) => existsSync(join(bundle, f))).map((f) => ({
    destination: `/etc/${f}`, type: 'bind', source: join(bundle, f), options: ['rbind', 'rprivate'],
  }));
}
