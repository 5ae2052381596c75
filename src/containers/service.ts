// service.ts: what users do with containers: create, start, stop, kill, wait,
// remove, list, inspect, rename, prune, logs, exec, diff, commit, export, cp.
// A container is one writable layer on its image's top layer plus a record.
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join, basename, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Engine } from '../engine.js';
import type { LayerRecord } from '../layers/store.js';
import type { ContainerRecord, ContainerRunConfig, HostConfig } from './types.js';
import { initialState } from './types.js';
import { validateName } from './store.js';
import { randomName } from './names.js';
import { reconcile } from './lifecycle.js';
import { rootfsPath, mountRootfs, releaseRootfs } from './rootfs.js';
import { readLog } from './logs.js';
import { initLayerTar } from './init-layer.js';
import { planMounts, attachVolumes, inspectMounts, ociMounts, releaseMounts, removeAnonymousVolumes } from './mounts.js';
import { resolveInRoot } from '../runtime/spec.js';
import { changes, exportChanges, exportTree, type Change } from '../archive/changes.js';
import { dockerRunConfig, withContainerFields, EMPTY_LAYER_DIFF_ID } from '../images/run-config.js';
import { parseImageConfig, type ImageConfig } from '../images/config.js';
import { applyChanges } from '../images/changes.js';
import { parseReference, referenceString } from '../images/reference.js';
import { ownerToken } from '../store/owner.js';
import { conflict, invalidArgument, notFound, failedPrecondition, isNotFound } from '../errors.js';
import { isMountPoint } from '../drivers/mount.js';

export interface CreateOptions {
  image: string;
  cmd?: string[];
  name?: string;
  env?: string[];
  workdir?: string;
  user?: string;
  /** undefined: the image's; "": none (resets the image's CMD too, as Docker does). */
  entrypoint?: string;
  readOnly?: boolean;
  labels?: Record<string, string>;
  autoRemove?: boolean;
  tty?: boolean;
  interactive?: boolean;
  network?: string;
  runtime?: string;
  hostname?: string;
  volumes?: string[];
  mounts?: string[];
  tmpfs?: string[];
  volumeDriver?: string;
  volumesFrom?: string[];
}

export class ContainerService {
  constructor(private readonly engine: Engine) {}

  private get store() { return this.engine.containerStore; }

  /** Brings recorded states up to date with reality (dead monitors, crashed hosts). */
  async reconcile(): Promise<void> {
    await reconcile(this.engine);
  }

  resolve(ref: string): ContainerRecord {
    return this.store.resolve(ref);
  }

  /** The container's volume, bind and tmpfs mounts for its runtime (acquiring its volumes). */
  extraMounts(c: ContainerRecord, rootfs: string): Promise<Array<{ destination: string; type: string; source: string; options: string[] }>> {
    return ociMounts(this.engine, c, rootfs);
  }

  async create(o: CreateOptions): Promise<ContainerRecord> {
    await this.engine.recover();
    let img;
    try {
      img = this.engine.images.resolve(o.image);
    } catch (err) {
      if (isNotFound(err)) {
        throw notFound(`Unable to find image '${o.image}' locally (stowage has no registry client yet: \`stowage load\` or \`stowage import\` it first)`, { name: o.image, cause: err });
      }
      throw err;
    }
    const network = o.network ?? 'host';
    if (network !== 'host' && network !== 'none') {
      throw invalidArgument(`network mode "${network}" is not supported: stowage runs containers with --network host or --network none`, { name: network });
    }
    const cfg: ImageConfig = parseImageConfig(this.engine.imageStore.config(img.id));
    const ic = cfg.config ?? {};
    let entrypoint = ic.Entrypoint ?? [];
    let cmd = ic.Cmd ?? [];
    if (o.entrypoint !== undefined) {
      entrypoint = o.entrypoint === '' ? [] : [o.entrypoint];
      cmd = [];
    }
    if (o.cmd && o.cmd.length > 0) cmd = o.cmd;
    const args = [...entrypoint, ...cmd];
    if (args.length === 0) throw invalidArgument('No command specified', { name: o.image });
    const env = [...(ic.Env ?? [])];
    for (const e of o.env ?? []) {
      const k = e.split('=')[0]!;
      const i = env.findIndex((x) => x.split('=')[0] === k);
      if (i >= 0) env[i] = e; else env.push(e);
    }
    const id = randomBytes(32).toString('hex');
    const name = o.name !== undefined ? validateName(o.name) : this.freeName();
    const config: ContainerRunConfig = {
      ...ic,
      Hostname: o.hostname ?? id.slice(0, 12),
      Domainname: '',
      User: o.user ?? ic.User ?? '',
      AttachStdin: !!o.interactive,
      AttachStdout: true,
      AttachStderr: true,
      Tty: !!o.tty,
      OpenStdin: !!o.interactive,
      StdinOnce: !!o.interactive,
      Env: env,
      Cmd: cmd,
      Entrypoint: entrypoint.length ? entrypoint : null,
      Image: o.image,
      WorkingDir: o.workdir ?? ic.WorkingDir ?? '',
      Labels: { ...(ic.Labels ?? {}), ...(o.labels ?? {}) },
    };
    const hostConfig: HostConfig = {
      AutoRemove: !!o.autoRemove,
      ReadonlyRootfs: !!o.readOnly,
      NetworkMode: network,
      Runtime: o.runtime ?? '',
      Binds: null,
    };
    // Volumes first (anonymous ones are removed again if the create fails).
    const plan = await planMounts(this.engine, {
      volumes: o.volumes ?? [], mounts: o.mounts ?? [], tmpfs: o.tmpfs ?? [], volumesFrom: o.volumesFrom ?? [],
      ...(o.volumeDriver ? { volumeDriver: o.volumeDriver } : {}),
    }, Object.keys(ic.Volumes ?? {}));
    hostConfig.Binds = o.volumes?.length ? [...o.volumes] : null;
    if (o.mounts?.length) hostConfig.Mounts = plan.specs.filter((m) => m.origin === 'mount-flag').map((m) => ({ Type: m.type, Source: m.source, Target: m.target, ReadOnly: m.readOnly }));
    if (o.tmpfs?.length) hostConfig.Tmpfs = Object.fromEntries(o.tmpfs.map((t) => { const i = t.indexOf(':'); return i < 0 ? [t, ''] : [t.slice(0, i), t.slice(i + 1)]; }));
    if (o.volumeDriver) hostConfig.VolumeDriver = o.volumeDriver;
    if (o.volumesFrom?.length) hostConfig.VolumesFrom = [...o.volumesFrom];
    const top = img.topLayer ? this.engine.layers.get(img.topLayer)! : null;
    // Layers first (leased), then the row, then the folder; a crash leaves only garbage recovery removes.
    // The init layer holds the runtime's mount points when the image lacks them (see init-layer.ts).
    let base = top;
    let layer: LayerRecord | undefined;
    let inserted = false;
    try {
      const initTar = initLayerTar(top ? this.engine.driver.changeSource(top.id) : null);
      if (initTar) {
        if ((top?.depth ?? 0) + 2 > this.engine.driver.maxDepth) {
          throw failedPrecondition(`max depth exceeded: image ${o.image} has ${top?.depth ?? 0} layers and lacks the runtime's mount points (/proc, /sys, /dev, /etc/hostname, /etc/hosts or /etc/resolv.conf), so a container needs an init layer and a writable layer on it; the ${this.engine.driver.name} driver stacks at most ${this.engine.driver.maxDepth}. Add those paths to the image, or use fewer layers.`, { name: o.image });
        }
        base = await this.engine.layers.createWritable(top);
        await this.engine.layers.applyToWritable(base, initTar);
      }
      layer = await this.engine.layers.createWritable(base);
      const rec: ContainerRecord = {
        Id: id, Name: name, Created: new Date().toISOString(), Path: args[0]!, Args: args.slice(1),
        Image: img.id, ImageRef: o.image, Driver: this.engine.driver.name, LayerId: layer.id,
        Config: config, HostConfig: hostConfig, State: initialState(), RestartCount: 0,
        Mounts: inspectMounts(this.engine, plan.specs), MountSpecs: plan.specs,
      };
      this.store.insert(rec);
      inserted = true;
      attachVolumes(this.engine, rec);
      mkdirSync(this.engine.layout.container(id), { recursive: true, mode: 0o710 });
      this.engine.layers.releaseLeases();
      return rec;
    } catch (err) {
      // Whatever this create made goes again: the row, its layers, its anonymous volumes.
      if (inserted) this.store.delete(id);
      this.engine.layers.releaseLeases();
      if (layer) await this.engine.layers.removeIfUnused(layer.id);
      if (base && base !== top) await this.engine.layers.removeIfUnused(base.id);
      await removeAnonymousVolumes(this.engine, plan.createdAnonymous);
      throw err;
    }
  }

  private freeName(): string {
    for (let i = 0; i < 20; i++) {
      const n = randomName(i > 5 ? i : 0);
      try { this.store.resolve(n); } catch { return n; }
    }
    return `stowage_${randomBytes(4).toString('hex')}`;
  }

  /** Signals the container and waits up to `timeout` seconds before SIGKILL. */
  async stop(ref: string, timeout = 10, signal?: string): Promise<ContainerRecord> {
    await this.reconcile();
    const c = this.store.resolve(ref);
    if (!c.State.Running) return c;
    const runtime = this.engine.runtime(c.HostConfig.Runtime || undefined);
    const sig = signal ?? c.Config.StopSignal ?? 'SIGTERM';
    await runtime.kill(c.Id, sig).catch(() => {});
    if (await this.waitStopped(c.Id, timeout * 1000)) return this.store.get(c.Id) ?? c;
    await runtime.kill(c.Id, 'SIGKILL', { all: true }).catch(() => {});
    await this.waitStopped(c.Id, 10_000);
    return this.store.get(c.Id) ?? c;
  }

  async kill(ref: string, signal = 'SIGKILL'): Promise<ContainerRecord> {
    await this.reconcile();
    const c = this.store.resolve(ref);
    if (!c.State.Running) throw conflict(`Cannot kill container: ${ref}: Container ${c.Id} is not running`, { name: ref });
    const sig = /^\d+$/.test(signal) ? signal : signal.toUpperCase().startsWith('SIG') ? signal.toUpperCase() : `SIG${signal.toUpperCase()}`;
    await this.engine.runtime(c.HostConfig.Runtime || undefined).kill(c.Id, sig);
    return c;
  }

  /** Polls the record until the container is not running. true when it stopped in time. */
  private async waitStopped(id: string, ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    for (let d = 10; ; d = Math.min(d * 2, 200)) {
      const c = this.store.get(id);
      if (!c || !c.State.Running) return true;
      if (Date.now() > until) return false;
      await new Promise((r) => setTimeout(r, d));
      await this.reconcile();
    }
  }

  /** `docker wait`: blocks until the container stops; its exit code. */
  async wait(ref: string): Promise<number> {
    const c = this.store.resolve(ref);
    await this.waitStopped(c.Id, Number.MAX_SAFE_INTEGER);
    return this.store.get(c.Id)?.State.ExitCode ?? c.State.ExitCode;
  }

  /** Removes the container: its record, its writable layer and everything in it. */
  async remove(ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<ContainerRecord> {
    await this.engine.recover();
    const c = this.store.resolve(ref);
    if (c.State.Running) {
      if (!opts.force) {
        throw conflict(`You cannot remove a running container ${c.Id}. Stop the container before attempting removal or force remove`, { name: ref });
      }
      const runtime = this.engine.runtime(c.HostConfig.Runtime || undefined);
      await runtime.kill(c.Id, 'SIGKILL', { all: true }).catch(() => {});
      await this.waitStopped(c.Id, 10_000);
    }
    // Record first, files after: a crash in between leaves only garbage for recovery.
    await releaseMounts(this.engine, c);
    const anonymous = (c.MountSpecs ?? []).filter((m) => m.type === 'volume').map((m) => m.source);
    this.store.delete(c.Id);
    if (opts.volumes) await removeAnonymousVolumes(this.engine, anonymous);
    try { releaseRootfs(this.engine, c); } catch { /* reported by check */ }
    await this.engine.runtime(c.HostConfig.Runtime || undefined).delete(c.Id, { force: true }).catch(() => {});
    try {
      // The writable layer, then its init layer if nothing else uses it (the image's layers stay).
      await this.engine.layers.releaseChain(c.LayerId, { stopAtImageLayers: true });
    } finally {
      rmSync(this.engine.layout.container(c.Id), { recursive: true, force: true });
    }
    return c;
  }

  async rename(ref: string, newName: string): Promise<void> {
    const c = this.store.resolve(ref);
    this.store.rename(c.Id, validateName(newName));
  }

  async prune(): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
    await this.reconcile();
    const deleted: string[] = [];
    let space = 0;
    for (const c of this.store.all()) {
      if (c.State.Running) continue;
      const usage = await this.engine.driver.usage(c.LayerId).catch(() => ({ bytes: 0, inodes: 0 }));
      await this.remove(c.Id);
      deleted.push(c.Id);
      space += usage.bytes;
    }
    return { ContainersDeleted: deleted, SpaceReclaimed: space };
  }

  list(): ContainerRecord[] {
    return this.store.all();
  }

  logPath(c: ContainerRecord): string {
    return join(this.engine.layout.container(c.Id), `${c.Id}-json.log`);
  }

  logs(ref: string) {
    const c = this.store.resolve(ref);
    return { container: c, lines: readLog(this.logPath(c)), path: this.logPath(c) };
  }

  /** Docker's A/C/D list of what the container changed in its writable layer. */
  async diff(ref: string): Promise<Change[]> {
    const c = this.store.resolve(ref);
    return changes(this.engine.driver.changeSource(c.LayerId));
  }

  /** Bytes in the writable layer, and in the whole filesystem (inspect --size, ps -s). */
  async sizes(c: ContainerRecord): Promise<{ SizeRw: number; SizeRootFs: number }> {
    const rw = await this.engine.driver.usage(c.LayerId).catch(() => ({ bytes: 0, inodes: 0 }));
    const img = this.engine.imageStore.get(c.Image);
    return { SizeRw: rw.bytes, SizeRootFs: rw.bytes + (img?.size ?? 0) };
  }

  /** `docker commit`: the container's changes become a new layer on its image, and a new image. */
  async commit(ref: string, o: { reference?: string; message?: string; author?: string; changes?: string[] } = {}): Promise<string> {
    await this.engine.recover();
    const c = this.store.resolve(ref);
    const img = this.engine.imageStore.get(c.Image);
    if (!img) throw notFound(`image ${c.Image} of container ${c.Name} is gone`);
    const parentCfg = parseImageConfig(this.engine.imageStore.config(img.id));
    const tag = o.reference ? referenceString(parseReference(o.reference)) : undefined;
    const top = img.topLayer ? this.engine.layers.get(img.topLayer)! : null;
    try {
      const { layer } = await this.engine.layers.add(top, () => exportChanges(this.engine.driver.changeSource(c.LayerId)));
      const created = new Date().toISOString();
      // As Docker commits: the container's whole config (hostname, attach flags,
      // Image as the user named it …) with the --change lines applied; the container's
      // own config as container_config. A container that changed nothing adds no layer.
      const containerConfig = dockerRunConfig(c.Config, c.Config.Image);
      const newConfig = dockerRunConfig(applyChanges({ ...containerConfig }, o.changes ?? []), c.Config.Image);
      const empty = layer.diffId === EMPTY_LAYER_DIFF_ID;
      const base: ImageConfig = {
        ...parentCfg,
        created,
        rootfs: { type: 'layers', diff_ids: empty ? parentCfg.rootfs.diff_ids : [...parentCfg.rootfs.diff_ids, layer.diffId!] },
        history: [...(parentCfg.history ?? []), {
          created,
          ...(o.author ? { author: o.author } : {}),
          created_by: [c.Path, ...c.Args].join(' '),
          ...(o.message ? { comment: o.message } : {}),
          ...(empty ? { empty_layer: true } : {}),
        }],
      };
      delete base.author;
      delete base.comment;
      if (o.author) base.author = o.author;
      if (o.message) base.comment = o.message;
      const config = withContainerFields(base, newConfig, c.Id, containerConfig);
      const { recordImage } = await import('../images/load.js');
      return recordImage(this.engine, Buffer.from(JSON.stringify(config)), empty ? top : layer, tag ? [tag] : [], []);
    } finally {
      this.engine.layers.releaseLeases();
    }
  }

  /** Runs fn with the container's filesystem mounted, releasing the mount after if it was not mounted before. */
  async withRootfs<T>(c: ContainerRecord, fn: (root: string) => Promise<T>): Promise<T> {
    const target = rootfsPath(this.engine, c);
    const wasMounted = isMountPoint(target);
    const root = mountRootfs(this.engine, c);
    try {
      return await fn(root);
    } finally {
      const now = this.store.get(c.Id);
      if (!wasMounted && !now?.State.Running) releaseRootfs(this.engine, c);
    }
  }

  /** `docker export`: the flattened filesystem as a tar stream. */
  async export(ref: string, out: NodeJS.WritableStream): Promise<void> {
    const c = this.store.resolve(ref);
    // pipeline rejects on a write error (a missing folder, a full disk, a closed pipe),
    // so withRootfs releases its mount and the caller removes its partial file.
    await this.withRootfs(c, (root) => pipeline(Readable.from(exportTree(root)), out, { end: false }));
  }

  /** `docker cp` in either direction; container paths are resolved inside the container's root only. */
  async copy(src: { container?: string; path: string }, dst: { container?: string; path: string }): Promise<void> {
    if (!!src.container === !!dst.container) throw invalidArgument('copying between containers is not supported; one side must be a local path');
    const ref = (src.container ?? dst.container)!;
    const c = this.store.resolve(ref);
    await this.withRootfs(c, async (root) => {
      let from: string;
      let to: string;
      if (src.container) {
        // As Docker: a symlink named as the source is copied as the link (its folders
        // are resolved inside the container; the last component is not followed).
        from = join(resolveInRoot(root, posix.dirname(src.path)), posix.basename(src.path));
        if (!lexists(from)) throw notFound(`Could not find the file ${src.path} in container ${ref}`, { name: src.path });
        to = dst.path;
      } else {
        if (!existsSync(src.path)) throw notFound(`could not find the local file ${src.path}`, { name: src.path });
        const target = resolveInRoot(root, dst.path);
        const targetIsDir = existsSync(target) && statSync(target).isDirectory();
        to = targetIsDir ? join(target, basename(src.path)) : target;
        from = src.path;
      }
      // Into a container, --remove-destination replaces a symlink the container planted at
      // the destination (or deeper in a copied tree) instead of writing through it onto
      // the host, as Docker's tar extraction replaces it.
      const args = ['-a', '--no-dereference', ...(src.container ? [] : ['--remove-destination']), '--', from, to];
      await new Promise<void>((resolve, reject) => {
        const p = spawn('cp', args, { stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        p.stderr.on('data', (b: Buffer) => (err += b.toString()));
        p.on('error', reject);
        p.on('close', (code) => (code === 0 ? resolve() : reject(failedPrecondition(`copy failed: ${err.trim()}`))));
      });
    });
  }

  /** `docker exec`: a process in a running container. Resolves to its exit code. */
  async exec(ref: string, o: { cmd: string[]; env?: string[]; workdir?: string; user?: string; tty?: boolean; interactive?: boolean; detach?: boolean }): Promise<number> {
    await this.reconcile();
    const c = this.store.resolve(ref);
    if (!c.State.Running) throw conflict(`Container ${c.Id} is not running`, { name: ref });
    const { resolveUser, buildProcess } = await import('../runtime/spec.js');
    const { startFailureCode } = await import('../runtime/runtime.js');
    const root = rootfsPath(this.engine, c);
    const proc = buildProcess({
      args: o.cmd,
      env: [...(c.Config.Env ?? []), ...(o.env ?? [])],
      cwd: o.workdir || c.Config.WorkingDir || '/',
      user: resolveUser(root, o.user ?? c.Config.User ?? ''),
      terminal: !!o.tty,
      hostname: c.Config.Hostname || c.Id.slice(0, 12),
    });
    const rt = this.engine.runtime(c.HostConfig.Runtime || undefined);
    const child = rt.exec(c.Id, proc, o.tty ? 'inherit' : 'pipe', { tty: !!o.tty, detach: !!o.detach });
    let stderr = '';
    if (!o.tty) {
      child.stdout?.pipe(process.stdout);
      child.stderr?.on('data', (b: Buffer) => { if (stderr.length < 8192) stderr += b.toString(); process.stderr.write(b); });
      if (o.interactive && child.stdin) process.stdin.pipe(child.stdin); else child.stdin?.end();
    }
    const code: number = await new Promise((resolve) => {
      child.on('close', (code) => resolve(code ?? 255));
      child.on('error', () => resolve(126));
    });
    if (!o.interactive) process.stdin.unref?.();
    return code !== 0 ? startFailureCode(stderr) ?? code : code;
  }

  /** For inspect: the driver's view of the container's layer. */
  graphDriver(c: ContainerRecord): { Name: string; Data: Record<string, string> | null } {
    const data = this.engine.images.graphDriverData(c.LayerId);
    if (data) data.MergedDir = rootfsPath(this.engine, c);
    return { Name: this.engine.driver.name, Data: data };
  }
}

/** Like existsSync, without following a symlink at the end. */
function lexists(p: string): boolean {
  try { lstatSync(p); return true; } catch { return false; }
}
