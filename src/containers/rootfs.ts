// rootfs.ts: where a container's filesystem is presented, and the files stowage
// writes for it (hostname, hosts, resolv.conf). Every mount made here is recorded in
// the mount ledger before it is made and released by releaseRootfs on every path out
// (or by recovery, when its owner died).
import { mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Engine } from '../engine.js';
import type { ContainerRecord } from './types.js';
import { mountLedger } from '../store/mount-ledger.js';

export function rootfsPath(engine: Engine, c: ContainerRecord): string {
  const d = engine.driver as unknown as { mergedDir?: (id: string) => string };
  if (typeof d.mergedDir === 'function') return d.mergedDir(c.LayerId);
  return join(engine.layout.container(c.Id), 'rootfs');
}

/**
 * Mounts the container's layer chain at its rootfs path, recorded in the mount ledger
 * first (store/mount-ledger.ts). 'claim' (the container's watcher) takes ownership of
 * a mount another process made; 'borrow' (export, cp) uses a live owner's mount as it
 * is. owned: this process must release it.
 */
export function mountRootfs(engine: Engine, c: ContainerRecord, mode: 'claim' | 'borrow' = 'claim'): { root: string; owned: boolean } {
  const target = rootfsPath(engine, c);
  mkdirSync(target, { recursive: true });
  const owned = mountLedger(engine).mount(target, engine.driver.mounts(c.LayerId), { kind: 'rootfs', mode });
  return { root: target, owned };
}

/** Unmounts the rootfs if this process owns it (force: whoever does; for rm of a stopped container). */
export function releaseRootfs(engine: Engine, c: ContainerRecord, opts: { force?: boolean } = {}): void {
  mountLedger(engine).release(rootfsPath(engine, c), opts);
}

function hostFile(path: string, fallback: string): string {
  try { return readFileSync(path, 'utf8'); } catch { return fallback; }
}

/** Writes hostname, hosts and resolv.conf into the container's folder; returns their bind mounts. */
export function writeEtcFiles(engine: Engine, c: ContainerRecord): Array<{ destination: string; type: string; source: string; options: string[] }> {
  const dir = engine.layout.container(c.Id);
  mkdirSync(dir, { recursive: true });
  const hostname = c.Config.Hostname || c.Id.slice(0, 12);
  const host = c.HostConfig.NetworkMode === 'host';
  writeFileSync(join(dir, 'hostname'), `${hostname}\n`);
  const hosts = host
    ? hostFile('/etc/hosts', '127.0.0.1\tlocalhost\n')
    : `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n127.0.1.1\t${hostname}\n`;
  writeFileSync(join(dir, 'hosts'), hosts);
  writeFileSync(join(dir, 'resolv.conf'), host ? hostFile('/etc/resolv.conf', '') : '');
  const files = ['hostname', 'hosts', 'resolv.conf'];
  return files.filter((f) => existsSync(join(dir, f))).map((f) => ({
    destination: `/etc/${f}`, type: 'bind', source: join(dir, f), options: ['rbind', 'rprivate'],
  }));
}
