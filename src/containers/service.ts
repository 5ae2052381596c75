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
import { planMounts, attachVolumes, ociMounts, releaseMounts, removeAnonymousVolumes } from './mounts.js';
import { resolveInRoot } from '../runtime/spec.js';
import { parseContainerMounts, parseVolumesFrom } from '../mounts/index.js';
import { changes, exportChanges, exportTree, type Change } from '../archive/changes.js';
import { dockerRunConfig, withContainerFields, EMPTY_LAYER_DIFF_ID } from '../images/run-config.js';
import { parseImageConfig, type ImageConfig } from '../images/config.js';
import { applyChanges } from '../images/changes.js';
import { parseReference, referenceString } from '../images/reference.js';
import { ownerToken } from '../store/owner.js';
import { conflict, invalidArgument, notFound, failedPrecondition, isNotFound } from '../errors.js';
import { isMountPoint } from '../drivers/mount.js';
import { containerEvent } from '../events/actors.js';
import { pendingDir } from './monitor.js';
import type { StdioSession } from './stdio.js';
import { waitFor, type WaitCondition, type WaitResult } from './wait.js';
import type { AttachRequest } from './attach.js';
import type { ExecCreateOptions } from './exec.js';
import { failpoint } from '../util/failpoint.js';

export interface CreateOptions {
  image: string;
  cmd?: string[];
  name?: string;
  env?: string[];
  workdir?: string;
  user?: string;
  /** undefined: the image's; "": none (resets the image's CMD too, as Docker does); an array from the API. */
  entrypoint?: string | string[];
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

  /**
   * The mount flags alone, as Docker's CLI reads them before anything else: a spec the
   * shell split (`--mount type=bind, source=…`) is named as such, not as a bad image
   * name. Front ends call it before pulling a missing image; create calls it first too.
   */
  checkMountFlags(o: Pick<CreateOptions, 'volumes' | 'mounts' | 'tmpfs' | 'volumesFrom'>): void {
    parseContainerMounts({ volumes: o.volumes ?? [], mounts: o.mounts ?? [], tmpfs: o.tmpfs ?? [], cwd: process.cwd() });
    for (const vf of o.volumesFrom ?? []) parseVolumesFrom(vf);
  }

  async create(o: CreateOptions): Promise<ContainerRecord> {
    this.checkMountFlags(o);
    await this.engine.recover();
    let img;
    try {
      img = this.engine.images.resolve(o.image);
    } catch (err) {
      if (isNotFound(err)) {
        throw notFound(`No such image: ${o.image}`, { name: o.image, cause: err });
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
      entrypoint = o.entrypoint === '' ? [] : Array.isArray(o.entrypoint) ? o.entrypoint : [o.entrypoint];
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
    const top = img.topLayer ? this.engine.layers.get(img.topLayer)! : null;
    const plan = await planMounts(this.engine, {
      volumes: o.volumes ?? [], mounts: o.mounts ?? [], tmpfs: o.tmpfs ?? [], volumesFrom: o.volumesFrom ?? [],
      ...(o.volumeDriver ? { volumeDriver: o.volumeDriver } : {}),
    }, Object.keys(ic.Volumes ?? {}), { source: top ? this.engine.driver.changeSource(top.id) : null, ref: o.image });
    // The mount parts of HostConfig and Config as Docker keeps them (see MountPlan).
    hostConfig.Binds = plan.binds;
    if (plan.hostMounts.length) hostConfig.Mounts = plan.hostMounts;
    if (Object.keys(plan.tmpfs).length) hostConfig.Tmpfs = plan.tmpfs;
    hostConfig.VolumeDriver = o.volumeDriver ?? '';
    hostConfig.VolumesFrom = o.volumesFrom?.length ? [...o.volumesFrom] : null;
    const configVolumes: Record<string, object> = { ...(ic.Volumes ?? {}) };
    for (const p of plan.anonymousPaths) configVolumes[p] = {};
    // Go writes map keys sorted.
    config.Volumes = Object.keys(configVolumes).length ? Object.fromEntries(Object.entries(configVolumes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : null;
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
        Mounts: plan.inspect, MountSpecs: plan.specs,
      };
      this.store.insert(rec);
      inserted = true;
      failpoint('create:row');
      attachVolumes(this.engine, rec);
      mkdirSync(this.engine.layout.container(id), { recursive: true, mode: 0o710 });
      this.engine.layers.releaseLeases();
      containerEvent(this.engine, rec, 'create');
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
    containerEvent(this.engine, c, 'kill', { signal: signalNumberText(sig) });
    if (!(await this.waitStopped(c.Id, timeout * 1000))) {
      await runtime.kill(c.Id, 'SIGKILL', { all: true }).catch(() => {});
      containerEvent(this.engine, c, 'kill', { signal: '9' });
      await this.waitStopped(c.Id, 10_000);
    }
    containerEvent(this.engine, c, 'stop');
    return this.store.get(c.Id) ?? c;
  }

  async kill(ref: string, signal = 'SIGKILL'): Promise<ContainerRecord> {
    await this.reconcile();
    const c = this.store.resolve(ref);
    if (!c.State.Running) throw conflict(`Cannot kill container: ${ref}: Container ${c.Id} is not running`, { name: ref });
    const sig = /^\d+$/.test(signal) ? signal : signal.toUpperCase().startsWith('SIG') ? signal.toUpperCase() : `SIG${signal.toUpperCase()}`;
    await this.engine.runtime(c.HostConfig.Runtime || undefined).kill(c.Id, sig);
    containerEvent(this.engine, c, 'kill', { signal: signalNumberText(sig) });
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
    // Gone for everyone from here on (what is left is garbage recovery removes).
    containerEvent(this.engine, c, 'destroy');
    failpoint('rm:row-deleted');
    if (opts.volumes) await removeAnonymousVolumes(this.engine, anonymous);
    try { releaseRootfs(this.engine, c, { force: true }); } catch { /* the ledger row stays: recovery retries */ }
    await this.engine.runtime(c.HostConfig.Runtime || undefined).delete(c.Id, { force: true }).catch(() => {});
    try {
      // The writable layer, then its init layer if nothing else uses it (the image's layers stay).
      await this.engine.layers.releaseChain(c.LayerId, { stopAtImageLayers: true });
    } finally {
      rmSync(this.engine.layout.container(c.Id), { recursive: true, force: true });
      rmSync(pendingDir(this.engine, c.Id), { recursive: true, force: true });
    }
    return c;
  }

  async rename(ref: string, newName: string): Promise<void> {
    const c = this.store.resolve(ref);
    this.store.rename(c.Id, validateName(newName));
    containerEvent(this.engine, { ...c, Name: validateName(newName) }, 'rename', { oldName: `/${c.Name}` });
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
      failpoint('commit:layer');
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
      const imageId = recordImage(this.engine, Buffer.from(JSON.stringify(config)), empty ? top : layer, tag ? [tag] : [], []);
      // The empty diff's layer is in no image: it goes now (recordImage released our
      // lease), not at some later command's recovery. Another process that holds or uses
      // it keeps it (the delete is refused while anything references it).
      if (empty && layer.id !== top?.id) await this.engine.layers.removeIfUnused(layer.id);
      containerEvent(this.engine, c, 'commit', { comment: o.message ?? '' });
      return imageId;
    } finally {
      this.engine.layers.releaseLeases();
    }
  }

  /**
   * Runs fn with the container's filesystem mounted. A mount a live process owns (the
   * container's watcher) is used as it is; one made here is owned by this process,
   * recorded before it is made, and released after unless the container started
   * meanwhile (its watcher then owns it).
   */
  async withRootfs<T>(c: ContainerRecord, fn: (root: string) => Promise<T>): Promise<T> {
    const { root } = mountRootfs(this.engine, c, 'borrow');
    try {
      return await fn(root);
    } finally {
      releaseRootfs(this.engine, c);
    }
  }

  /** `docker export`: the flattened filesystem as a tar stream. */
  async export(ref: string, out: NodeJS.WritableStream): Promise<void> {
    const c = this.store.resolve(ref);
    // pipeline rejects on a write error (a missing folder, a full disk, a closed pipe),
    // so withRootfs releases its mount and the caller removes its partial file.
    await this.withRootfs(c, (root) => {
      failpoint('export:mounted');
      return pipeline(Readable.from(exportTree(root)), out, { end: false });
    });
    containerEvent(this.engine, c, 'export');
  }

  /** `docker cp` in either direction; container paths are resolved inside the container's root only. */
  async copy(src: { container?: string; path: string }, dst: { container?: string; path: string }): Promise<void> {
    if (!!src.container === !!dst.container) throw invalidArgument('copying between containers is not supported; one side must be a local path');
    const ref = (src.container ?? dst.container)!;
    const c = this.store.resolve(ref);
    await this.withRootfs(c, async (root) => {
      failpoint('cp:mounted');
      let from: string;
      let to: string;
      if (src.container) {
        // As Docker: a symlink named as the source is copied as the link (its folders
        // are resolved inside the container; the last component is not followed).
        from = join(resolveInRoot(root, posix.dirname(src.path)), posix.basename(src.path));
        if (!lexists(from)) throw notFound(`Could not find the file ${src.path} in container ${ref}`, { name: src.path });
        to = dst.path;
        // Docker's checks of the host side, in Docker's words (never cp(1)'s or an errno's).
        const parent = posix.dirname(to.endsWith('/') ? to.slice(0, -1) || '/' : to);
        const pst = statOrUndefined(parent);
        if (!pst) throw notFound(`invalid output path: directory ${JSON.stringify(parent)} does not exist`, { name: to });
        if (!pst.isDirectory()) throw invalidArgument(`stat ${parent}: not a directory`, { name: to });
        if (to.endsWith('/') && !statOrUndefined(to)?.isDirectory()) throw notFound(`no such directory: ${to}`, { name: to });
      } else {
        if (!existsSync(src.path)) throw notFound(`could not find the local file ${src.path}`, { name: src.path });
        const parentPath = posix.dirname(posix.join('/', dst.path));
        const parent = statOrUndefined(resolveInRoot(root, parentPath));
        if (!parent) throw notFound(`Could not find the file ${parentPath} in container ${ref}`, { name: dst.path });
        if (!parent.isDirectory()) throw invalidArgument(`extraction point is not a directory: ${parentPath} is not a directory in container ${ref}`, { name: dst.path });
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
        // cp(1)'s message names paths under the data root: show them as paths in the container.
        const shown = () => err.trim().split(root).join('').replace(/^cp: /gm, '');
        p.on('close', (code) => (code === 0 ? resolve() : reject(failedPrecondition(`copy failed: ${shown()}`))));
      });
    });
  }

  /**
   * `docker start` for front ends without the CLI's arguments (the API server): spawns the
   * container's monitor (`stowage __monitor ID`) and resolves once it runs or failed.
   * A running container is left as it is.
   */
  async start(ref: string): Promise<ContainerRecord> {
    await this.reconcile();
    const c = this.store.resolve(ref);
    if (c.State.Running) return c;
    const { startDetached } = await import('./lifecycle.js');
    const { stowageBin } = await import('../util/bin.js');
    return startDetached(this.engine, c.Id, stowageBin(), ['--data-root', this.engine.layout.root, '--storage-driver', this.engine.driver.name]);
  }

  /** inspect's ExecIDs: the container's running exec instances (null when none, as Docker). */
  execIds(c: ContainerRecord): string[] | null {
    const rows = this.engine.db.prepare('SELECT id FROM execs WHERE container_id = ? AND running = 1 ORDER BY created_at').all(c.Id) as Array<{ id: string }>;
    return rows.length ? rows.map((r) => r.id) : null;
  }

  // ---- streams: attach, wait conditions, resize, top, stats, exec (see docs/containers.md)

  /** Docker's attach: on a created container everything from the first byte once started; on a running one from now. */
  async attach(ref: string, o: AttachRequest): Promise<StdioSession> {
    const { attachContainer } = await import('./attach.js');
    return attachContainer(this.engine, ref, o);
  }

  /** Docker's wait conditions; `registered` resolves once a later start/exit cannot be missed. */
  waitFor(ref: string, condition: WaitCondition, signal?: AbortSignal): { registered: Promise<void>; result: Promise<WaitResult> } {
    return waitFor(this.engine, ref, condition, signal);
  }

  /** The container's terminal size (a container with a tty only). */
  async resize(ref: string, height: number, width: number): Promise<void> {
    const { resizeContainer } = await import('./attach.js');
    return resizeContainer(this.engine, ref, height, width);
  }

  /** `docker top`: Docker's Titles/Processes, from `ps` (default `-ef`) on the container's processes. */
  async top(ref: string, psArgs?: string): Promise<{ Titles: string[]; Processes: string[][] }> {
    const { top } = await import('./procs.js');
    return top(this.engine, ref, psArgs);
  }

  /** One sample of Docker's stats JSON (cpu, memory, pids from the container's cgroup). */
  async stats(ref: string): Promise<object> {
    const { stats } = await import('./procs.js');
    return stats(this.engine, ref);
  }

  async execCreate(ref: string, o: ExecCreateOptions): Promise<string> {
    const { execCreate } = await import('./exec.js');
    return execCreate(this.engine, ref, o);
  }

  async execStart(id: string, o: import('./exec.js').ExecStartOptions): Promise<StdioSession | null> {
    const { execStart } = await import('./exec.js');
    return execStart(this.engine, id, o);
  }

  async execInspect(id: string): Promise<object> {
    const { execInspect } = await import('./exec.js');
    return execInspect(this.engine, id);
  }

  async execResize(id: string, height: number, width: number): Promise<void> {
    const { execResize } = await import('./exec.js');
    return execResize(this.engine, id, height, width);
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

/** Docker's kill event names the signal by number ("15"). */
function signalNumberText(sig: string): string {
  if (/^\d+$/.test(sig)) return sig;
  const n: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGUSR1: 10, SIGUSR2: 12, SIGTERM: 15, SIGCONT: 18, SIGSTOP: 19, SIGWINCH: 28 };
  const k = sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`;
  return String(n[k] ?? sig);
}

function statOrUndefined(p: string): import('node:fs').Stats | undefined {
  try { return statSync(p); } catch { return undefined; }
}
