// builder.ts: `stowage build`: Dockerfile steps into image layers, one layer per
// filesystem-changing step (RUN, COPY, ADD, and WORKDIR when it has to create the
// folder), metadata-only steps as history entries with empty_layer: true, as
// Docker's classic builder does.
//
// Every step has a state: an image config (exact JSON bytes; its sha256 is the
// step's image id, what " ---> 3f2a…" shows) and a top layer. A step's cache key is
// sha256 of its parent state id, its instruction, the build args in scope and, for
// COPY/ADD, the checksum of what it copies. A hit restores the stored config bytes,
// so the state id, and every key after it, is the same as in the earlier build.
// Every step built is recorded in the cache (also under --no-cache, which only skips
// lookups), and the cache row's foreign key keeps its layer alive; so a failing step
// leaves the earlier steps' layers to the cache, and nothing of its own.
//
// The builder never prints: it reports BuildEvents; the CLI formats them.
import { mkdirSync, readFileSync, rmSync, existsSync, lstatSync } from 'node:fs';
import { join, posix, isAbsolute } from 'node:path';
import type { Engine } from '../engine.js';
import type { LayerRecord } from '../layers/store.js';
import { parseImageConfig, hostPlatform, type ImageConfig, type ContainerConfig, type HistoryEntry } from '../images/config.js';
import { parseReference, referenceString } from '../images/reference.js';
import { recordImage } from '../images/load.js';
import { applyLayer } from '../archive/apply.js';
import { resolveInRoot, resolveUser, DEFAULT_PATH } from '../runtime/spec.js';
import { sha256 } from '../content/store.js';
import { StowageError, invalidArgument, notFound, isNotFound } from '../errors.js';
import { parseDockerfile, splitStages, rawPairs, rawArgs, fromParts, parseDuration, lineError, type Instruction, type Stage } from './parser.js';
import { expandWord, expandWords, type Lookup } from './words.js';
import { IgnoreMatcher, SourceRoot, SumCache } from './context.js';
import { planCopy } from './copy.js';
import { BuildCache } from './cache.js';
import { ImageView, runCommand } from './exec.js';
import { failpoint } from '../util/failpoint.js';
import { dockerRunConfig, stepContainerId, withContainerFields, EMPTY_LAYER_DIFF_ID } from '../images/run-config.js';
import { goQuoteList, healthcheckText } from './history-text.js';
import { throttle } from '../registry/progress.js';

export type BuildEvent =
  | { type: 'step'; step: number; total: number; text: string; stage: number }
  | { type: 'trigger'; count: number }
  | { type: 'cached'; step: number }
  | { type: 'running'; containerId: string }
  | { type: 'output'; stream: 'stdout' | 'stderr'; data: Buffer }
  | { type: 'removed'; containerId: string }
  | { type: 'result'; step: number; id: string; layer: boolean; seconds: number }
  | { type: 'warning'; message: string }
  /** Bytes of a context tar (`build -`, POST /build) read so far; done once at the end. */
  | { type: 'context'; bytes: number; done: boolean };

export interface BuildOptions {
  /** A context folder, or a tar of one (stdin: `-`). */
  context: { dir: string } | { tar: AsyncIterable<Buffer> };
  /** The Dockerfile: a path (relative ones inside the context), or its text. Default "Dockerfile" in the context. */
  dockerfile?: { path: string } | { text: string };
  tags?: string[];
  buildArgs?: Record<string, string>;
  noCache?: boolean;
  target?: string;
  labels?: Record<string, string>;
  signal?: AbortSignal;
  onEvent?: (e: BuildEvent) => void;
}

export interface BuildResult { id: string; tags: string[]; steps: number; cachedSteps: number; messages: string[] }

/** A RUN that exited non-zero: its code and the tail of its output. */
export class RunFailedError extends StowageError {
  constructor(readonly command: string, readonly exitCode: number, readonly output: string) {
    super('FailedPrecondition', `The command '${command}' returned a non-zero code: ${exitCode}`, { op: 'build' });
  }
}

/** Build args Docker lets through without an ARG (and keeps out of the cache key and history). */
const PROXY_ARGS = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy'];
const DEFAULT_SHELL = ['/bin/sh', '-c'];

interface State { config: ImageConfig; bytes: string; id: string; top: LayerRecord | null }

function stateOf(config: ImageConfig, top: LayerRecord | null, bytes?: string): State {
  const b = bytes ?? JSON.stringify(config);
  return { config, bytes: b, id: sha256(b), top };
}

function envGet(env: readonly string[] | null | undefined, k: string): string | undefined {
  const e = env?.find((x) => x.slice(0, x.indexOf('=') < 0 ? x.length : x.indexOf('=')) === k);
  if (e === undefined) return undefined;
  const i = e.indexOf('=');
  return i < 0 ? '' : e.slice(i + 1);
}

function envSet(env: string[], k: string, v: string): string[] {
  const out = env.filter((x) => (x.indexOf('=') < 0 ? x : x.slice(0, x.indexOf('='))) !== k);
  out.push(`${k}=${v}`);
  // Keep the variable's old place when it had one, as Docker does.
  const at = env.findIndex((x) => (x.indexOf('=') < 0 ? x : x.slice(0, x.indexOf('='))) === k);
  if (at >= 0) { out.pop(); out.splice(at, 0, `${k}=${v}`); }
  return out;
}

/** Per-stage variables: ARGs declared in the stage and whether CMD was set here. */
interface StageScope { args: Map<string, string | undefined>; cmdSet: boolean }

export class Builder {
  private readonly cache: BuildCache;
  private readonly sums: SumCache;
  private readonly emit: (e: BuildEvent) => void;
  private step = 0;
  private total = 0;
  private cachedSteps = 0;
  private escape = '\\';
  private readonly usedArgs = new Set<string>();
  private readonly stageStates: State[] = [];
  private readonly stageNames = new Map<string, number>();
  private readonly views: ImageView[] = [];

  constructor(private readonly engine: Engine, private readonly o: BuildOptions) {
    this.cache = new BuildCache(engine);
    this.sums = new SumCache(engine.db);
    this.emit = o.onEvent ?? (() => {});
  }

  async build(): Promise<BuildResult> {
    await this.engine.recover();
    const tags = (this.o.tags ?? []).map((t) => {
      const r = parseReference(t);
      if (r.digest) throw invalidArgument(`invalid tag ${t}: a digest cannot be a build tag`, { name: t });
      return referenceString(r);
    });
    let staged: string | undefined;
    try {
      let dir: string;
      if ('dir' in this.o.context) {
        dir = this.o.context.dir;
        if (!existsSync(dir) || !lstatSync(dir).isDirectory()) throw notFound(`unable to prepare context: path "${dir}" not found`, { name: dir });
      } else {
        staged = this.engine.layout.tmpPath('build-context');
        mkdirSync(staged, { recursive: true, mode: 0o700 });
        await applyLayer(this.countedContext(this.o.context.tar), staged, { whiteouts: 'remove', ...(this.o.signal ? { signal: this.o.signal } : {}) });
        dir = staged;
      }
      return await this.buildIn(dir, tags);
    } finally {
      for (const v of this.views.splice(0)) { try { v.close(); } catch { /* reported by check */ } }
      if (staged) rmSync(staged, { recursive: true, force: true });
      this.engine.layers.releaseLeases();
    }
  }
  /** The context tar's bytes, reported as they are read (Docker's CLI shows its context upload). */
  private async *countedContext(src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    let n = 0;
    const tick = throttle(100);
    for await (const c of src) {
      n += c.length;
      if (tick()) this.emit({ type: 'context', bytes: n, done: false });
      yield c;
    }
    this.emit({ type: 'context', bytes: n, done: true });
  }


  private async buildIn(dir: string, tags: string[]): Promise<BuildResult> {
    let text: string;
    const df = this.o.dockerfile ?? { path: 'Dockerfile' };
    if ('text' in df) text = df.text;
    else {
      const p = isAbsolute(df.path) ? df.path : resolveInRoot(dir, df.path);
      try { text = readFileSync(p, 'utf8'); } catch (err) {
        throw notFound(`unable to prepare context: the Dockerfile (${df.path}) cannot be read: ${(err as Error).message}`, { name: df.path, cause: err });
      }
    }
    const parsed = parseDockerfile(text);
    for (const w of parsed.warnings) this.emit({ type: 'warning', message: w });
    this.escape = parsed.escape;
    const { globalArgs, stages } = splitStages(parsed);
    let last = stages.length - 1;
    if (this.o.target !== undefined) {
      const t = this.o.target.toLowerCase();
      last = stages.findIndex((s) => s.name === t);
      if (last < 0) throw notFound(`failed to reach build target ${this.o.target} in Dockerfile`, { name: this.o.target });
    }
    const built = stages.slice(0, last + 1);
    this.total = built.reduce((n, s) => n + 1 + s.instructions.length, 0);
    let ignoreText = '';
    try { ignoreText = readFileSync(join(dir, '.dockerignore'), 'utf8'); } catch { /* none */ }
    const ctx = new SourceRoot(dir, new IgnoreMatcher(ignoreText));

    // ARGs before the first FROM: usable in FROM lines only (and by re-declaration).
    const meta = new Map<string, string | undefined>();
    for (const ins of globalArgs) {
      for (const [name, def] of rawArgs(ins, this.escape)) {
        const v = this.o.buildArgs?.[name] ?? (def === undefined ? undefined : this.expand(ins, def, (k) => meta.get(k)));
        meta.set(name, v);
        if (this.o.buildArgs?.[name] !== undefined) this.usedArgs.add(name);
      }
    }
    let state: State | undefined;
    for (const stage of built) {
      state = await this.buildStage(stage, ctx, meta);
      this.stageStates[stage.index] = state;
      if (stage.name) this.stageNames.set(stage.name, stage.index);
    }
    // Labels from --label, on the final image only (a step of its own, as Docker does).
    if (this.o.labels && Object.keys(this.o.labels).length) {
      const c = this.cloneConfig(state!);
      c.config!.Labels = { ...(c.config!.Labels ?? {}), ...this.o.labels };
      state = stateOf(c, state!.top);
    }
    const unused = Object.keys(this.o.buildArgs ?? {}).filter((k) => !this.usedArgs.has(k) && !PROXY_ARGS.includes(k));
    if (unused.length) this.emit({ type: 'warning', message: `[Warning] One or more build-args [${unused.join(' ')}] were not consumed` });
    const messages: string[] = [];
    const id = recordImage(this.engine, Buffer.from(state!.bytes), state!.top, tags, messages);
    return { id, tags, steps: this.step, cachedSteps: this.cachedSteps, messages };
  }

  private expand(ins: Instruction, word: string, lookup: Lookup): string {
    try { return expandWord(word, lookup, this.escape); } catch (err) { throw lineError(ins.line, (err as Error).message, err); }
  }

  private expandList(ins: Instruction, word: string, lookup: Lookup): string[] {
    try { return expandWords(word, lookup, this.escape); } catch (err) { throw lineError(ins.line, (err as Error).message, err); }
  }

  private cloneConfig(s: State): ImageConfig {
    const c = JSON.parse(s.bytes) as ImageConfig;
    c.config ??= {};
    c.history ??= [];
    return c;
  }

  /** An image from the store, pulled first when missing (as Docker's FROM does); the pull's lines go to the build output. */
  private async resolveOrPull(image: string) {
    try {
      return this.engine.images.resolve(image);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const { pull } = await import('../registry/pull.js');
    await pull(this.engine, image, {
      onProgress: (e) => {
        if (e.progressDetail || (e.status === '' && e.aux)) return;
        this.emit({ type: 'output', stream: 'stdout', data: Buffer.from(`${e.id ? `${e.id}: ` : ''}${e.status}\n`) });
      },
    });
    // The pull ends by dropping this process's leases (as load does): take the ones of
    // the stages built so far again, so a concurrent recovery cannot sweep them.
    for (const st of this.stageStates) if (st?.top) this.engine.layers.lease(st.top.id);
    return this.engine.images.resolve(image);
  }

  /** FROM: a stage built earlier, an image in the store, or scratch. */
  private async baseState(ins: Instruction, image: string): Promise<State> {
    const lower = image.toLowerCase();
    const stageIdx = this.stageNames.get(lower);
    if (stageIdx !== undefined) return this.stageStates[stageIdx]!;
    if (lower === 'scratch') {
      const p = hostPlatform();
      const c: ImageConfig = { architecture: p.architecture, os: p.os, config: { Env: [`PATH=${DEFAULT_PATH}`] }, rootfs: { type: 'layers', diff_ids: [] }, history: [] };
      return stateOf(c, null);
    }
    try {
      const img = await this.resolveOrPull(image);
      const bytes = this.engine.imageStore.config(img.id).toString('utf8');
      const cfg = parseImageConfig(bytes);
      const top = img.topLayer ? this.engine.layers.get(img.topLayer) ?? null : null;
      if (top) this.engine.layers.lease(top.id);
      return { config: cfg, bytes, id: img.id, top };
    } catch (err) {
      if (err instanceof StowageError) {
        // Not a stage, not in the store, and the pull failed (unknown, unreachable, denied …).
        throw new StowageError(err.kind === 'InvalidArgument' ? 'NotFound' : err.kind, `Dockerfile line ${ins.line}: FROM ${image}: no build stage named "${image}" and no such image in the store or its registry: ${err.message}`, { name: image, cause: err });
      }
      throw err;
    }
  }

  private async buildStage(stage: Stage, ctx: SourceRoot, meta: Map<string, string | undefined>): Promise<State> {
    const from = stage.from;
    const { image: rawImage } = fromParts(from);
    const image = this.expand(from, rawImage, (k) => meta.get(k));
    this.emit({ type: 'step', step: ++this.step, total: this.total, text: `FROM ${from.rest}`, stage: stage.index });
    const t0 = Date.now();
    let state = await this.baseState(from, image);
    // Docker's classic builder adds a default PATH when the base has none.
    if (envGet(state.config.config?.Env, 'PATH') === undefined) {
      const c = this.cloneConfig(state);
      c.config!.Env = [...(c.config!.Env ?? []), `PATH=${DEFAULT_PATH}`];
      state = stateOf(c, state.top);
    }
    this.emit({ type: 'result', step: this.step, id: state.id, layer: false, seconds: (Date.now() - t0) / 1000 });
    const scope: StageScope = { args: new Map(), cmdSet: false };
    // ONBUILD triggers of the base run first, then are cleared.
    const triggers = state.config.config?.OnBuild ?? [];
    if (triggers.length) {
      this.emit({ type: 'trigger', count: triggers.length });
      const c = this.cloneConfig(state);
      c.config!.OnBuild = null;
      state = stateOf(c, state.top);
      for (const t of triggers) {
        const sub = parseDockerfile(`# escape=${this.escape}\n${t}`).instructions[0]!;
        sub.line = from.line;
        state = await this.runStep(sub, state, scope, ctx, meta);
      }
    }
    for (const ins of stage.instructions) {
      this.emit({ type: 'step', step: ++this.step, total: this.total, text: `${ins.keyword} ${ins.text}`, stage: stage.index });
      state = await this.runStep(ins, state, scope, ctx, meta);
    }
    return state;
  }

  /** The variables an instruction's words see: ENV first, then ARGs in scope. */
  private lookup(state: State, scope: StageScope): Lookup {
    return (k) => envGet(state.config.config?.Env, k) ?? (scope.args.has(k) ? scope.args.get(k) : undefined);
  }

  /** ARGs in scope with a value, as `K=V` (what RUN sees and the cache key holds). */
  private argPairs(scope: StageScope, state: State): string[] {
    const out: string[] = [];
    for (const [k, v] of scope.args) if (v !== undefined && envGet(state.config.config?.Env, k) === undefined) out.push(`${k}=${v}`);
    return out.sort();
  }

  private async runStep(ins: Instruction, state: State, scope: StageScope, ctx: SourceRoot, meta: Map<string, string | undefined>): Promise<State> {
    const t0 = Date.now();
    const step = this.step;
    const lookup = this.lookup(state, scope);
    const k = ins.keyword;
    // ARG changes the scope before anything else (its own step is metadata-only).
    if (k === 'ARG') {
      for (const [name, def] of rawArgs(ins, this.escape)) {
        const given = this.o.buildArgs?.[name];
        let v = def === undefined ? undefined : this.expand(ins, def, lookup);
        if (def === undefined && meta.has(name)) v = meta.get(name);
        if (given !== undefined) { v = given; this.usedArgs.add(name); }
        scope.args.set(name, v);
      }
    }
    const proxies = PROXY_ARGS.filter((p) => this.o.buildArgs?.[p] !== undefined && !scope.args.has(p));
    const args = this.argPairs(scope, state);
    const keyParts: string[] = [state.id, k, JSON.stringify(ins.flags), ins.text, ...ins.heredocs.map((h) => h.body), ...args];
    let copy: Awaited<ReturnType<Builder['prepareCopy']>> | undefined;
    if (k === 'COPY' || k === 'ADD') {
      copy = await this.prepareCopy(ins, state, lookup, ctx);
      keyParts.push(copy.checksum);
    }
    const key = sha256(JSON.stringify(keyParts));
    try {
      if (!this.o.noCache) {
        const hit = this.cache.get(key);
        if (hit) {
          this.cachedSteps++;
          this.emit({ type: 'cached', step });
          const next = stateOf(JSON.parse(hit.config) as ImageConfig, hit.layer, hit.config);
          if (k === 'CMD') scope.cmdSet = true;
          this.emit({ type: 'result', step, id: next.id, layer: false, seconds: (Date.now() - t0) / 1000 });
          return next;
        }
      }
      const c = this.cloneConfig(state);
      const cfg = c.config!;
      const created = new Date().toISOString();
      // What container_config.Cmd records for the step; history's created_by is it
      // joined with spaces. Docker's forms: the current shell, then "#(nop) " and the
      // text as one more word (metadata steps: two spaces in history) or as one word
      // with it (WORKDIR, COPY, ADD: one space).
      let stepCmd: string[] | undefined;
      let stepContainer: string | undefined;
      const nop = (s: string): string => {
        const shell = cfg.Shell ?? DEFAULT_SHELL;
        stepCmd = s.startsWith(' ') ? [...shell, '#(nop) ', s.slice(1)] : [...shell, `#(nop) ${s}`];
        return stepCmd.join(' ');
      };
      let createdBy = nop(`${k} ${ins.text}`);
      let top = state.top;
      let newLayer: LayerRecord | undefined;
      switch (k) {
        case 'ARG': createdBy = nop(` ARG ${ins.rest}`); break;
        case 'ENV': {
          let env = [...(cfg.Env ?? [])];
          const parts: string[] = [];
          for (const [rk, rv] of rawPairs(ins, this.escape)) {
            const key2 = this.expand(ins, rk, lookup);
            const val = this.expand(ins, rv, lookup);
            env = envSet(env, key2, val);
            parts.push(`${key2}=${val}`);
          }
          cfg.Env = env;
          createdBy = nop(` ENV ${parts.join(' ')}`);
          break;
        }
        case 'LABEL': {
          const labels = { ...(cfg.Labels ?? {}) };
          const parts: string[] = [];
          for (const [rk, rv] of rawPairs(ins, this.escape)) {
            const key2 = this.expand(ins, rk, lookup);
            const val = this.expand(ins, rv, lookup);
            labels[key2] = val;
            parts.push(`${key2}=${val}`);
          }
          cfg.Labels = labels;
          createdBy = nop(` LABEL ${parts.join(' ')}`);
          break;
        }
        case 'MAINTAINER': c.author = ins.rest; createdBy = nop(` MAINTAINER ${ins.rest}`); break;
        case 'USER': cfg.User = this.expand(ins, ins.rest, lookup); createdBy = nop(` USER ${cfg.User}`); break;
        case 'STOPSIGNAL': cfg.StopSignal = this.expand(ins, ins.rest, lookup); createdBy = nop(` STOPSIGNAL ${cfg.StopSignal}`); break;
        case 'EXPOSE': {
          const ports = { ...(cfg.ExposedPorts ?? {}) };
          const list: string[] = [];
          const words = this.expandList(ins, ins.rest, lookup);
          for (const p of words) {
            const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
            if (!m) throw lineError(ins.line, `invalid containerPort: ${p}`);
            const lo = Number(m[1]);
            const hi = m[2] ? Number(m[2]) : lo;
            if (hi < lo || hi > 65535) throw lineError(ins.line, `invalid port range: ${p}`);
            for (let n = lo; n <= hi; n++) { ports[`${n}/${(m[3] ?? 'tcp').toLowerCase()}`] = {}; list.push(`${n}/${(m[3] ?? 'tcp').toLowerCase()}`); }
          }
          cfg.ExposedPorts = ports;
          createdBy = nop(` EXPOSE ${[...words].sort().join(' ')}`);
          break;
        }
        case 'VOLUME': {
          const vols = { ...(cfg.Volumes ?? {}) };
          const list = ins.json ? ins.json.map((v) => this.expand(ins, v, lookup)) : this.expandList(ins, ins.rest, lookup);
          for (const v of list) {
            if (v.trim() === '') throw lineError(ins.line, 'VOLUME specified can not be an empty string');
            vols[v] = {};
          }
          cfg.Volumes = vols;
          createdBy = nop(` VOLUME [${list.join(' ')}]`);
          break;
        }
        case 'WORKDIR': {
          const w = this.expand(ins, ins.rest, lookup);
          const path = posix.resolve(cfg.WorkingDir || '/', w);
          cfg.WorkingDir = path;
          createdBy = nop(`WORKDIR ${path}`);
          // The folder is made when the image lacks it: a layer with just that folder.
          const view = this.view(state.top);
          let exists = false;
          try { exists = lstatSync(resolveInRoot(view.root, path)).isDirectory(); } catch { exists = false; }
          this.closeView(view);
          if (!exists) {
            // As Docker's layer for it: the folders made (0755, root) and the existing
            // parents they changed (their own metadata); mtime 0 where Docker has the
            // time of the step, so the layer is reproducible (docs/archive-fidelity.md).
            const { PassThrough } = await import('node:stream');
            const { TarWriter } = await import('../archive/tar-writer.js');
            const parts = path.split('/').filter(Boolean);
            const view2 = this.view(state.top);
            const dirs: Array<{ name: string; mode: number; uid: number; gid: number }> = [];
            try {
              for (let i = 1; i <= parts.length; i++) {
                const name = parts.slice(0, i).join('/');
                let st;
                try { st = lstatSync(resolveInRoot(view2.root, '/' + name)); } catch { st = undefined; }
                dirs.push(st?.isDirectory() ? { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid } : { name, mode: 0o755, uid: 0, gid: 0 });
              }
            } finally {
              this.closeView(view2);
            }
            const mtime = 0;
            newLayer = (await this.engine.layers.add(top, () => {
              const pt = new PassThrough();
              void (async () => {
                const w2 = new TarWriter(pt);
                for (const d of dirs) await w2.add({ ...d, type: 'dir', mtime });
                await w2.finish();
                pt.end();
              })().catch((e: unknown) => pt.destroy(e as Error));
              return pt;
            })).layer;
          }
          break;
        }
        case 'CMD': cfg.Cmd = ins.json ?? [...(cfg.Shell ?? DEFAULT_SHELL), ins.rest]; scope.cmdSet = true; createdBy = nop(` CMD ${goQuoteList(cfg.Cmd)}`); break;
        case 'ENTRYPOINT':
          cfg.Entrypoint = ins.json ?? [...(cfg.Shell ?? DEFAULT_SHELL), ins.rest];
          if (!scope.cmdSet) cfg.Cmd = null;
          createdBy = nop(` ENTRYPOINT ${goQuoteList(cfg.Entrypoint)}`);
          break;
        case 'SHELL': cfg.Shell = ins.json!; createdBy = nop(` SHELL [${cfg.Shell.join(' ')}]`); break;
        case 'ONBUILD': cfg.OnBuild = [...(cfg.OnBuild ?? []), ins.rest]; createdBy = nop(` ONBUILD ${ins.rest}`); break;
        case 'HEALTHCHECK': cfg.Healthcheck = this.healthcheck(ins); createdBy = nop(` ${healthcheckText(cfg.Healthcheck!)}`); break;
        case 'RUN': {
          let argv: string[];
          if (ins.json) argv = ins.json;
          else {
            const heredocOnly = ins.heredocs.length === 1 && /^<<-?(["']?)[A-Za-z_][A-Za-z0-9_]*\1$/.test(ins.rest.trim());
            const script = heredocOnly ? ins.heredocs[0]!.body
              : ins.heredocs.length ? `${ins.rest}\n${ins.heredocs.map((h) => `${h.body}${h.name}\n`).join('')}` : ins.rest;
            argv = [...(cfg.Shell ?? DEFAULT_SHELL), script];
          }
          const runArgs = [...args, ...proxies.map((p) => `${p}=${this.o.buildArgs![p]}`)];
          createdBy = (args.length ? `|${args.length} ${args.join(' ')} ` : '') + argv.join(' ');
          let env = [...(cfg.Env ?? [])];
          for (const a of runArgs) { const i = a.indexOf('='); if (envGet(env, a.slice(0, i)) === undefined) env = envSet(env, a.slice(0, i), a.slice(i + 1)); }
          const net = ins.flags.network === 'none' ? 'none' : 'host';
          const r = await runCommand(this.engine, top, {
            args: argv, env, cwd: cfg.WorkingDir || '/', user: cfg.User ?? '', network: net,
            onStarted: (id) => this.emit({ type: 'running', containerId: id }),
            onOutput: (stream, data) => this.emit({ type: 'output', stream, data }),
            ...(this.o.signal ? { signal: this.o.signal } : {}),
          });
          this.emit({ type: 'removed', containerId: r.containerId });
          if (r.exitCode !== 0) throw new RunFailedError(argv.join(' '), r.exitCode, r.tail);
          // A command that changed nothing adds no layer (Docker: an empty diff is an empty_layer).
          if (r.layer!.diffId !== EMPTY_LAYER_DIFF_ID) newLayer = r.layer!;
          else {
            // No image will use it: removed now rather than left to a later recovery
            // (refused, and kept, while anything else references it).
            this.engine.layers.unlease(r.layer!.id);
            await this.engine.layers.removeIfUnused(r.layer!.id);
          }
          stepCmd = [...(args.length ? [`|${args.length}`, ...args] : []), ...argv];
          stepContainer = r.containerId;
          break;
        }
        case 'COPY': case 'ADD': {
          newLayer = (await this.engine.layers.add(top, () => copy!.tar(), this.o.signal ? { signal: this.o.signal } : {})).layer;
          createdBy = nop(`${k} ${copy!.historyPrefix}${await copy!.historyHash()} in ${copy!.rawDest} `);
          break;
        }
        default: throw lineError(ins.line, `unknown instruction: ${k}`);
      }
      const hist: HistoryEntry = { created, created_by: createdBy };
      if (newLayer) {
        top = newLayer;
        c.rootfs = { type: 'layers', diff_ids: [...c.rootfs.diff_ids, newLayer.diffId!] };
      } else hist.empty_layer = true;
      c.history = [...(c.history ?? []), hist];
      c.created = created;
      // Docker's shape for the step's image: every runtime config key, Image = the
      // image the step ran on, the step's container and what it ran.
      const container = stepContainer && /^[0-9a-f]{64}$/.test(stepContainer) ? stepContainer : stepContainerId();
      const runConfig = dockerRunConfig({ ...cfg, Image: state.id }, state.id);
      const shaped = withContainerFields(c, runConfig, container, { ...runConfig, Cmd: stepCmd ?? createdBy.split(' ') });
      for (const key of Object.keys(c)) delete (c as Record<string, unknown>)[key];
      Object.assign(c, shaped);
      const next = stateOf(c, top);
      this.cache.put(key, next.bytes, top);
      failpoint('build:step');
      this.emit({ type: 'result', step, id: next.id, layer: !!newLayer, seconds: (Date.now() - t0) / 1000 });
      return next;
    } catch (err) {
      if (err instanceof RunFailedError || (err instanceof StowageError && /line \d+/.test(err.message))) throw err;
      if (err instanceof StowageError) {
        throw new StowageError(err.kind, `${err.message} (Dockerfile line ${ins.line}: ${ins.keyword} ${ins.text.split('\n')[0]})`, { op: 'build', cause: err });
      }
      throw err;
    }
  }

  private view(top: LayerRecord | null): ImageView {
    const v = ImageView.open(this.engine, top);
    this.views.push(v);
    return v;
  }

  private closeView(v: ImageView): void {
    const i = this.views.indexOf(v);
    if (i >= 0) this.views.splice(i, 1);
    v.close();
  }

  private healthcheck(ins: Instruction): ContainerConfig['Healthcheck'] {
    const words = ins.rest.split(/[ \t]+/);
    if (words[0]!.toUpperCase() === 'NONE') return { Test: ['NONE'] };
    const cmdText = ins.rest.replace(/^\S+[ \t]+/, '');
    const json = (() => { try { const v = JSON.parse(cmdText) as unknown; return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v as string[] : null; } catch { return null; } })();
    const hc: NonNullable<ContainerConfig['Healthcheck']> = { Test: json ? ['CMD', ...json] : ['CMD-SHELL', cmdText] };
    const dur = (f: string) => (typeof ins.flags[f] === 'string' ? parseDuration(ins.flags[f] as string) ?? 0 : 0);
    if (ins.flags.interval) hc.Interval = dur('interval');
    if (ins.flags.timeout) hc.Timeout = dur('timeout');
    if (ins.flags['start-period']) hc.StartPeriod = dur('start-period');
    if (ins.flags['start-interval']) hc.StartInterval = dur('start-interval');
    if (typeof ins.flags.retries === 'string') hc.Retries = Number(ins.flags.retries);
    return hc;
  }

  /** Plans a COPY/ADD: sources, destination, owner; the checksum the cache keys on. */
  private async prepareCopy(ins: Instruction, state: State, lookup: Lookup, ctx: SourceRoot) {
    const words = ins.json ? ins.json.map((w) => this.expand(ins, w, lookup)) : this.expandList(ins, ins.rest, lookup);
    if (words.length < 2) throw lineError(ins.line, `${ins.keyword} requires at least two arguments`);
    const rawDest = words[words.length - 1]!;
    const sources = words.slice(0, -1);
    const cfg = state.config.config ?? {};
    const destAbs = posix.isAbsolute(rawDest) ? rawDest : posix.join(cfg.WorkingDir || '/', rawDest) + (rawDest.endsWith('/') || rawDest === '.' ? '/' : '');
    let src = ctx;
    let fromView: ImageView | undefined;
    const fromFlag = ins.flags.from;
    if (typeof fromFlag === 'string') {
      if (ins.keyword === 'ADD') throw lineError(ins.line, 'ADD does not take --from (use COPY --from)');
      const name = this.expand(ins, fromFlag, lookup).toLowerCase();
      let st: State | undefined;
      const idx = this.stageNames.get(name) ?? (/^\d+$/.test(name) ? Number(name) : undefined);
      if (idx !== undefined) {
        st = this.stageStates[idx];
        if (!st) throw lineError(ins.line, `COPY --from=${fromFlag}: stage ${idx} is not built before this step`);
      } else {
        try {
          const img = this.engine.images.resolve(name);
          const bytes = this.engine.imageStore.config(img.id).toString('utf8');
          st = { config: parseImageConfig(bytes), bytes, id: img.id, top: img.topLayer ? this.engine.layers.get(img.topLayer) ?? null : null };
        } catch (err) {
          throw notFound(`Dockerfile line ${ins.line}: COPY --from=${fromFlag}: no build stage named "${fromFlag}" and no such image in the store`, { name: fromFlag, cause: err });
        }
      }
      fromView = this.view(st.top);
      src = new SourceRoot(fromView.root, null);
    }
    let chown: { uid: number; gid: number } | undefined;
    let chmod: number | undefined;
    const view = this.view(state.top);
    try {
      if (typeof ins.flags.chown === 'string') {
        const spec = this.expand(ins, ins.flags.chown, lookup);
        const u = resolveUser(view.root, spec.includes(':') ? spec : `${spec}:${spec}`.replace(/:(.*)$/, (_m, g: string) => (/^\d+$/.test(g) ? `:${g}` : '')));
        chown = { uid: u.uid, gid: u.gid };
      }
      if (typeof ins.flags.chmod === 'string') {
        if (!/^[0-7]{3,4}$/.test(ins.flags.chmod)) throw lineError(ins.line, `invalid --chmod=${ins.flags.chmod}: want octal permissions`);
        chmod = parseInt(ins.flags.chmod, 8);
      }
      const heredocs = new Map(ins.heredocs.map((h) => [h.name, Buffer.from(h.expand ? this.expand(ins, h.body.replace(/[\\"'`]/g, (m) => (m === '\\' || m === '`') && m !== this.escape ? m : this.escape + m), lookup) : h.body)]));
      const sums = fromView ? new SumCache(this.engine.db, false) : this.sums;
      const plan = await planCopy({
        kind: ins.keyword as 'COPY' | 'ADD', sources, dest: destAbs, src, sums, viewRoot: view.root,
        ...(chown ? { chown } : {}), ...(chmod !== undefined ? { chmod } : {}), heredocs,
      });
      const what = sources.length > 1 ? 'multi' : /\/$|^\.$/.test(sources[0]!) ? 'dir' : 'file';
      // History names the destination as written, and --chown glued to the digest (Docker's spelling).
      const historyPrefix = typeof ins.flags.chown === 'string' ? `--chown=${this.expand(ins, ins.flags.chown, lookup)}` : '';
      return { ...plan, dest: destAbs, rawDest, historyPrefix, what };
    } finally {
      this.closeView(view);
      if (fromView && !ins.heredocs.length) { /* kept open until the tar is written: closed with the build */ }
    }
  }
}

/** Builds an image; see BuildOptions. */
export async function buildImage(engine: Engine, o: BuildOptions): Promise<BuildResult> {
  return new Builder(engine, o).build();
}

