// check.ts: `stowage system check`. Verifies every record against the files and
// every file against its digest, and tells apart
//   errors   damage: a layer whose files no longer hash to its diffID, a missing
//            layer directory or tar-split, a corrupt or missing config blob, a
//            broken database;
//   garbage  what interrupted operations left (abandoned or unused layers,
//            directories without records, stale staging files): harmless, and
//            removed by recovery, which every changing command runs first.
// With repair, garbage is removed and damaged images are deleted (their layers
// cannot be rebuilt from nothing); the report says what was done.
import { hasPersistentMounts } from '../drivers/driver.js';
import { mountPoints, unmount } from '../drivers/mount.js';
import { mountLedger, loopDevices } from './mount-ledger.js';
import { sweepAfterCrash } from './sweep.js';
import { removeTreeSync } from '../drivers/fsutil.js';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Engine } from '../engine.js';
import { parseImageConfig } from '../images/config.js';
import { ownerAlive } from './owner.js';

export interface CheckIssue {
  kind: 'error' | 'garbage';
  what: 'database' | 'layer' | 'image' | 'blob' | 'tmp' | 'mount' | 'volume';
  subject: string;
  message: string;
  repaired?: boolean;
}

export interface CheckReport {
  checked: { layers: number; images: number; blobs: number; volumes?: number };
  issues: CheckIssue[];
}

async function hashOf(src: AsyncIterable<Buffer>): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of src) { h.update(c); size += c.length; }
  return { digest: `sha256:${h.digest('hex')}`, size };
}

/** Staging entries are named "<pid>:<starttime>-…" by their owner; dead owners' entries are garbage. */
export function staleTmpEntries(tmpDir: string): string[] {
  let names: string[] = [];
  try { names = readdirSync(tmpDir); } catch { return []; }
  return names.filter((n) => {
    const m = /^(\d+-\d+)-/.exec(n);
    return !m || !ownerAlive(m[1]!.replace('-', ':'));
  });
}

export async function systemCheck(engine: Engine, opts: { repair?: boolean; quick?: boolean; signal?: AbortSignal } = {}): Promise<CheckReport> {
  const issues: CheckIssue[] = [];
  const db = engine.db;
  const integrity = db.pragma('integrity_check', { simple: true });
  if (integrity !== 'ok') issues.push({ kind: 'error', what: 'database', subject: engine.layout.database, message: `integrity check: ${String(integrity)}` });
  const fk = db.pragma('foreign_key_check') as unknown[];
  if (fk.length > 0) issues.push({ kind: 'error', what: 'database', subject: engine.layout.database, message: `${fk.length} rows break foreign keys` });

  // Garbage, as recovery would see it.
  const g = engine.layers.inspectGarbage();
  for (const id of g.abandoned) issues.push({ kind: 'garbage', what: 'layer', subject: id, message: 'layer left half-made by a process that died' });
  for (const id of g.unused) issues.push({ kind: 'garbage', what: 'layer', subject: id, message: 'layer that no image, layer or container uses' });
  for (const id of g.orphanDirs) issues.push({ kind: 'garbage', what: 'layer', subject: id, message: `directory ${join(engine.driver.home, id)} has no record` });
  for (const id of g.orphanTarSplits) issues.push({ kind: 'garbage', what: 'layer', subject: id, message: `tar-split ${engine.layout.tarSplit(id)} has no record` });
  for (const n of staleTmpEntries(engine.layout.tmpDir)) issues.push({ kind: 'garbage', what: 'tmp', subject: join(engine.layout.tmpDir, n), message: 'staging file of a process that is gone' });

  // Volumes: garbage as the volume service's recover() sees it; their mounts held by
  // live containers are expected (every other mount under the data root is a leak).
  const { volumeService } = await import('../volumes/service.js');
  const volumes = volumeService(engine);
  const vg = volumes.inspectGarbage();
  for (const n of vg.abandoned) issues.push({ kind: 'garbage', what: 'volume', subject: n, message: 'volume left half-made by a process that died' });
  for (const n of vg.orphanDirs) issues.push({ kind: 'garbage', what: 'volume', subject: n, message: `directory ${join(engine.layout.volumesDir, n)} has no record` });
  for (const d of vg.deadMounts) issues.push({ kind: 'garbage', what: 'volume', subject: d.volume, message: `acquired for container ${d.container} by a process that is gone` });
  for (const n of vg.idleMounts) issues.push({ kind: 'garbage', what: 'volume', subject: n, message: 'mounted, but no container holds it' });
  for (const n of vg.missingDirs) issues.push({ kind: 'error', what: 'volume', subject: n, message: `volume directory ${join(engine.layout.volumesDir, n)} is missing` });

  // Mounts under the data root and the exec root. Each one stowage makes has a ledger
  // row (store/mount-ledger.ts): a row of a dead owner is garbage recovery releases; a
  // mount without any row (nor a volume, CSI or driver record) is a leak.
  const ledger = mountLedger(engine);
  const owned = new Map(ledger.all().map((r) => [r.path, r]));
  for (const r of ledger.deadRows()) issues.push({ kind: 'garbage', what: 'mount', subject: r.path, message: `${r.kind} mount of a process that is gone (${r.owner})` });
  const csiPaths = (db.prepare('SELECT path, device FROM csi_node_paths').all() as Array<{ path: string; device: string | null }>);
  const leakedMounts: string[] = [];
  const roots = [engine.layout.root + '/', engine.execRoot + '/'];
  for (const mp of mountPoints()) {
    if (!roots.some((r) => mp.startsWith(r))) continue;
    if (owned.has(mp)) continue;
    if (hasPersistentMounts(engine.driver) && engine.driver.isOwnMount(mp)) continue;
    if (volumes.isHeldMount(mp) || vg.idleMounts.some((n) => mp === engine.layout.volumeData(n))) continue;
    if (csiPaths.some((c) => mp === c.path || mp.startsWith(c.path + '/'))) continue;
    if (leakedMounts.includes(mp)) continue; // stacked mounts: one issue
    leakedMounts.push(mp);
    issues.push({ kind: 'error', what: 'mount', subject: mp, message: 'leaked mount: stowage has no record of it (`system check --repair` unmounts it)' });
  }
  const csiDevices = new Set(csiPaths.map((c) => c.device).filter((d): d is string => !!d));
  const info = readFileSync('/proc/self/mountinfo', 'utf8');
  const leakedLoops = loopDevices(engine.layout.root).filter((l) => !csiDevices.has(l.device) && !info.includes(` ${l.device} `));
  for (const l of leakedLoops) issues.push({ kind: 'error', what: 'mount', subject: l.device, message: `leaked loop device: attached to ${l.file}, mounted nowhere (\`system check --repair\` detaches it)` });
  for (const p of volumes.pendingUnmounts()) issues.push({ kind: 'garbage', what: 'volume', subject: p.volume, message: `volume plugin ${p.driver}: Unmount for container ${p.container} failed (${p.attempts} tries; recovery retries it): ${p.error}` });

  // Layers: files present, and (unless quick) their re-assembled bytes hash to the diffID.
  const damagedLayers = new Set<string>();
  const layers = engine.layers.all().filter((l) => l.state === 'ready');
  for (const id of g.missingDirs) {
    damagedLayers.add(id);
    issues.push({ kind: 'error', what: 'layer', subject: id, message: 'layer directory is missing' });
  }
  for (const l of layers) {
    opts.signal?.throwIfAborted();
    if (!l.chainId || damagedLayers.has(l.id)) continue;
    if (!engine.layers.hasTarSplit(l.id)) {
      damagedLayers.add(l.id);
      issues.push({ kind: 'error', what: 'layer', subject: l.chainId, message: 'tar-split is missing: the layer cannot be saved byte-exact' });
      continue;
    }
    if (opts.quick) continue;
    try {
      const { digest, size } = await hashOf(engine.layers.assemble(l, opts.signal));
      if (digest !== l.diffId || size !== l.size) {
        damagedLayers.add(l.id);
        issues.push({ kind: 'error', what: 'layer', subject: l.chainId, message: `content changed: re-assembles to ${digest} (${size} bytes), recorded ${l.diffId} (${l.size} bytes)` });
      }
    } catch (err) {
      damagedLayers.add(l.id);
      issues.push({ kind: 'error', what: 'layer', subject: l.chainId, message: `cannot re-assemble: ${(err as Error).message}` });
    }
  }

  // Images: config present and intact, layer chain matching its diff_ids.
  const damagedImages = new Set<string>();
  const images = engine.imageStore.all();
  for (const img of images) {
    try {
      const cfg = parseImageConfig(engine.imageStore.config(img.id));
      const chain = engine.imageStore.layersOf(img);
      const got = chain.map((l) => l.diffId);
      if (JSON.stringify(got) !== JSON.stringify(cfg.rootfs.diff_ids)) {
        damagedImages.add(img.id);
        issues.push({ kind: 'error', what: 'image', subject: img.id, message: `layer chain does not match the config's diff_ids` });
      } else if (chain.some((l) => damagedLayers.has(l.id))) {
        damagedImages.add(img.id);
        issues.push({ kind: 'error', what: 'image', subject: img.id, message: 'uses a damaged layer' });
      }
    } catch (err) {
      damagedImages.add(img.id);
      issues.push({ kind: 'error', what: 'image', subject: img.id, message: `config: ${(err as Error).message}` });
    }
  }

  // Blobs: each hashes to its name; unreferenced ones are garbage.
  const blobs = engine.content.list();
  const referenced = new Set((db.prepare('SELECT DISTINCT id FROM images').all() as Array<{ id: string }>).map((r) => r.id));
  const leased = new Set((db.prepare('SELECT owner, digest FROM blob_leases').all() as Array<{ owner: string; digest: string }>).filter((r) => ownerAlive(r.owner)).map((r) => r.digest));
  for (const b of blobs) {
    if (!(await engine.content.verify(b))) issues.push({ kind: 'error', what: 'blob', subject: b, message: 'content does not match its digest' });
    else if (!referenced.has(b) && !leased.has(b)) issues.push({ kind: 'garbage', what: 'blob', subject: b, message: 'blob that no image uses' });
  }

  if (opts.repair) {
    // Leaked mounts first: recovery's sweeps delete directories, never through a mount.
    for (const i of issues) {
      if (i.what === 'mount' && i.kind === 'error' && leakedMounts.includes(i.subject)) {
        try { unmount(i.subject); i.repaired = true; } catch { /* reported as it is */ }
      }
    }
    for (const l of leakedLoops) {
      const ok = spawnSync('losetup', ['-d', l.device], { stdio: 'ignore' }).status === 0;
      for (const i of issues) if (i.subject === l.device) i.repaired = ok;
    }
    await engine.recover(); // runs the volume service's recover() too
    for (const r of ledger.deadRows()) ledger.release(r.path, { force: true });
    for (const i of issues) if (i.what === 'mount' && i.kind === 'garbage') i.repaired = !ledger.get(i.subject);
    await sweepAfterCrash(engine, []);
    for (const i of issues) {
      if (i.kind === 'garbage') {
        if (i.what === 'tmp') removeTreeSync(i.subject);
        if (i.what === 'blob') engine.content.delete(i.subject);
        i.repaired = i.what === 'tmp' || i.what === 'blob' || !existsGarbage(engine, i);
      }
    }
    for (const id of damagedImages) {
      for (const r of engine.imageStore.refsOf(id)) engine.imageStore.deleteRef(r.name);
      try {
        await engine.imageStore.delete(id);
        for (const i of issues) if (i.subject === id) i.repaired = true;
      } catch { /* used by a container: left for the user */ }
    }
    for (const i of issues) {
      if (i.kind === 'error' && i.what === 'blob') { engine.content.delete(i.subject); i.repaired = true; }
      if (i.kind === 'error' && i.what === 'layer' && !engine.layers.get(i.subject) && !engine.layers.byChainId(i.subject)) i.repaired = true;
    }
  }
  return { checked: { layers: layers.length, images: images.length, blobs: blobs.length, volumes: volumes.all().length }, issues };
}

function existsGarbage(engine: Engine, i: CheckIssue): boolean {
  if (i.what !== 'layer') return false;
  return !!engine.layers.get(i.subject) || existsSync(join(engine.driver.home, i.subject)) || existsSync(engine.layout.tarSplit(i.subject));
}
