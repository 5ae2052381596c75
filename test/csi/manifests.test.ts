// deploy/kubernetes/: every manifest parses (the `yaml` package), and the shape that
// matters holds: in the per-node layout every node runs the plugin in `both` mode
// and a provisioner in node-deployment mode; in every workload the sidecars' socket
// is the plugin's socket (same volume, same file), the kubelet is told the socket's
// host path, the kubelet's and stowage's folders come from the host with
// Bidirectional propagation; driver names agree; every StorageClass parameter is one
// the plugin reads (src/csi/gluster.ts STORAGE_CLASS_PARAMETERS), accepted by its
// checks, and documented in docs/kubernetes.md.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { STORAGE_CLASS_PARAMETERS, backendOf, glusterTarget } from '../../src/csi/gluster.js';
import { DEFAULT_DRIVER_NAME } from '../../src/csi/plugin.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
const ROOT = (() => { let d = dirname(fileURLToPath(import.meta.url)); while (!statSafe(join(d, 'package.json'))) d = dirname(d); return d; })();
function statSafe(p: string): boolean { try { statSync(p); return true; } catch { return false; } }
const DEPLOY = join(ROOT, 'deploy', 'kubernetes');

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => { const p = join(dir, n); return statSync(p).isDirectory() ? yamlFiles(p) : p.endsWith('.yaml') ? [p] : []; }).sort();
}

interface Doc { file: string; obj: any }
function load(): Doc[] {
  const out: Doc[] = [];
  for (const f of yamlFiles(DEPLOY)) {
    for (const d of parseAllDocuments(readFileSync(f, 'utf8'))) {
      assert.deepEqual(d.errors.map((e) => e.message), [], `${relative(ROOT, f)} parses`);
      const obj = d.toJS();
      if (obj !== null) out.push({ file: relative(DEPLOY, f), obj });
    }
  }
  return out;
}

const containers = (w: any): any[] => w.spec.template.spec.containers;
const byName = (w: any, n: string) => containers(w).find((c) => c.name === n);
const argList = (c: any): string[] => (c.args ?? []).map(String);
/** The value of --flag=V or --flag V in a container's args. */
function flag(c: any, name: string): string | undefined {
  const a = argList(c);
  for (let i = 0; i < a.length; i++) {
    if (a[i] === name) return a[i + 1];
    if (a[i]!.startsWith(`${name}=`)) return a[i]!.slice(name.length + 1);
  }
  return undefined;
}
const envFrom = (c: any, n: string) => (c.env ?? []).find((e: any) => e.name === n)?.valueFrom?.fieldRef?.fieldPath;
/** The pod volume mounted at the folder holding path in container c, and the path inside that volume. */
function volumeAt(c: any, path: string): { volume: string; rest: string; propagation?: string } | undefined {
  const m = (c.volumeMounts ?? []).filter((v: any) => path === v.mountPath || path.startsWith(`${v.mountPath.replace(/\/$/, '')}/`))
    .sort((a: any, b: any) => b.mountPath.length - a.mountPath.length)[0];
  return m && { volume: m.name, rest: path.slice(m.mountPath.replace(/\/$/, '').length), propagation: m.mountPropagation };
}
const hostPathOf = (w: any, volume: string): string | undefined => w.spec.template.spec.volumes.find((v: any) => v.name === volume)?.hostPath?.path;

/** Checks one workload that runs the stowage plugin: returns its mode. */
function checkPluginWorkload(d: Doc): string {
  const w = d.obj;
  const plugin = containers(w).find((c) => argList(c)[0] === 'csi');
  assert.ok(plugin, `${d.file}: a container runs \`stowage csi\``);
  const endpoint = flag(plugin, '--endpoint');
  assert.match(endpoint ?? '', /^unix:\/\/\//, `${d.file}: unix endpoint`);
  const socket = endpoint!.slice('unix://'.length);
  const sock = volumeAt(plugin, socket);
  assert.ok(sock, `${d.file}: the socket ${socket} is in a mounted volume`);
  assert.equal(flag(plugin, '--node-id'), '$(NODE_NAME)', `${d.file}: node id from NODE_NAME`);
  assert.equal(envFrom(plugin, 'NODE_NAME'), 'spec.nodeName', `${d.file}: NODE_NAME is the node's name`);
  assert.equal(plugin.securityContext?.privileged, true, `${d.file}: privileged (mounts, loop devices)`);
  // The data root comes from the host and mounts made in it reach the host.
  const data = volumeAt(plugin, '/var/lib/stowage');
  assert.equal(hostPathOf(w, data!.volume), '/var/lib/stowage', `${d.file}: data root is the host's`);
  assert.equal(data!.propagation, 'Bidirectional', `${d.file}: data root Bidirectional`);
  // Every sidecar talks to the plugin's socket: the same pod volume, the same file in it.
  for (const c of containers(w)) {
    if (c === plugin) continue;
    const addr = flag(c, '--csi-address');
    assert.ok(addr, `${d.file}: ${c.name} has --csi-address`);
    const at = volumeAt(c, addr!);
    assert.deepEqual(at && { volume: at.volume, rest: at.rest }, { volume: sock!.volume, rest: sock!.rest }, `${d.file}: ${c.name}'s socket is the plugin's`);
  }
  const mode = flag(plugin, '--mode') ?? 'both';
  if (mode !== 'controller') {
    // A node plugin: the kubelet's folder with the same path inside (staging/target paths are the kubelet's),
    // under the plugin's default --allowed-dir, and a registrar that names the socket's host path.
    const kubelet = volumeAt(plugin, '/var/lib/kubelet');
    assert.equal(hostPathOf(w, kubelet!.volume), '/var/lib/kubelet', `${d.file}: kubelet folder from the host at the same path`);
    assert.equal(kubelet!.rest, '');
    assert.equal(kubelet!.propagation, 'Bidirectional', `${d.file}: mounts propagate to the kubelet`);
    assert.equal(flag(plugin, '--allowed-dir'), undefined, `${d.file}: default --allowed-dir (/var/lib/kubelet)`);
    const reg = byName(w, 'node-driver-registrar');
    assert.ok(reg, `${d.file}: node-driver-registrar`);
    assert.equal(flag(reg, '--kubelet-registration-path'), `${hostPathOf(w, sock!.volume)}${sock!.rest}`, `${d.file}: the kubelet is told the socket's host path`);
    assert.equal(hostPathOf(w, volumeAt(reg, '/registration')!.volume), '/var/lib/kubelet/plugins_registry', `${d.file}: registration folder`);
    assert.ok(hostPathOf(w, sock!.volume)!.endsWith(`/plugins/${DEFAULT_DRIVER_NAME}`), `${d.file}: socket folder named after the driver`);
  }
  return mode;
}

describe('deploy/kubernetes manifests', () => {
  const docs = load();
  const kinds = (k: string) => docs.filter((d) => d.obj.kind === k);

  it('every manifest parses into objects with apiVersion, kind and a name', () => {
    assert.ok(docs.length >= 10, `${docs.length} documents`);
    for (const d of docs) {
      assert.ok(d.obj.apiVersion && d.obj.kind && d.obj.metadata?.name, `${d.file}: ${JSON.stringify(d.obj).slice(0, 80)}`);
    }
  });

  it('per-node layout: every node runs the plugin in both mode, a node-deployment provisioner, snapshotter and registrar', () => {
    const ds = kinds('DaemonSet').filter((d) => d.file.startsWith('per-node/'));
    assert.equal(ds.length, 1);
    const w = ds[0]!.obj;
    assert.equal(w.spec.template.spec.nodeSelector, undefined, 'on every node');
    assert.equal(checkPluginWorkload(ds[0]!), 'both');
    const prov = byName(w, 'csi-provisioner');
    assert.ok(argList(prov).includes('--node-deployment'));
    assert.ok(argList(prov).includes('--strict-topology'));
    assert.ok(argList(prov).includes('--enable-capacity'), 'publishes each node\'s GetCapacity');
    assert.equal(envFrom(prov, 'NODE_NAME'), 'spec.nodeName');
    assert.equal(envFrom(prov, 'POD_NAME'), 'metadata.name');
    assert.equal(envFrom(prov, 'NAMESPACE'), 'metadata.namespace');
    const snap = byName(w, 'csi-snapshotter');
    assert.ok(argList(snap).includes('--node-deployment'));
    assert.equal(envFrom(snap, 'NODE_NAME'), 'spec.nodeName');
    // No leader election per node; the resizer has no node-deployment mode (documented).
    for (const c of containers(w)) assert.ok(!argList(c).some((a) => a.startsWith('--leader-election')), c.name);
    assert.equal(byName(w, 'csi-resizer'), undefined);
    assert.match(readFileSync(join(ROOT, 'docs', 'kubernetes.md'), 'utf8'), /csi-resizer[^\n]*node-deployment/i, 'docs say why there is no resizer per node');
  });

  it('single-node layout: a controller Deployment and a node DaemonSet sharing the host\'s data root', () => {
    const dep = kinds('Deployment').filter((d) => d.file.startsWith('single-node/'));
    const ds = kinds('DaemonSet').filter((d) => d.file.startsWith('single-node/'));
    assert.equal(dep.length, 1);
    assert.equal(ds.length, 1);
    assert.equal(dep[0]!.obj.spec.replicas, 1);
    assert.equal(checkPluginWorkload(dep[0]!), 'controller');
    assert.equal(checkPluginWorkload(ds[0]!), 'node');
  });

  it('driver names agree, and the service account the workloads use exists', () => {
    const [drv] = kinds('CSIDriver');
    assert.equal(drv!.obj.metadata.name, DEFAULT_DRIVER_NAME);
    assert.equal(drv!.obj.spec.attachRequired, false);
    for (const sc of kinds('StorageClass')) assert.equal(sc.obj.provisioner, DEFAULT_DRIVER_NAME, sc.file);
    for (const vsc of kinds('VolumeSnapshotClass')) assert.equal(vsc.obj.driver, DEFAULT_DRIVER_NAME, vsc.file);
    const accounts = new Set(kinds('ServiceAccount').map((d) => d.obj.metadata.name));
    for (const w of [...kinds('Deployment'), ...kinds('DaemonSet')]) {
      const sa = w.obj.spec.template.spec.serviceAccountName;
      if (sa) assert.ok(accounts.has(sa), `${w.file}: service account ${sa}`);
    }
    assert.ok(kinds('Deployment').concat(kinds('DaemonSet')).some((w) => byName(w.obj, 'csi-provisioner') && w.obj.spec.template.spec.serviceAccountName), 'provisioners run with the service account');
    const rules = kinds('ClusterRole')[0]!.obj.rules as Array<{ resources: string[] }>;
    assert.ok(rules.some((r) => r.resources.includes('csistoragecapacities')), 'capacity objects may be written');
  });

  it('StorageClasses: one per backend, WaitForFirstConsumer, parameters the plugin reads, accepts and documents', () => {
    const classes = kinds('StorageClass');
    const backends = classes.map((c) => c.obj.parameters?.backend ?? 'local').sort();
    assert.deepEqual(backends, ['glusterfs', 'local']);
    const doc = readFileSync(join(ROOT, 'docs', 'kubernetes.md'), 'utf8');
    for (const key of Object.keys(STORAGE_CLASS_PARAMETERS)) assert.match(doc, new RegExp(`\\| \`${key}\` \\|`), `docs/kubernetes.md documents ${key}`);
    for (const c of classes) {
      assert.equal(c.obj.volumeBindingMode, 'WaitForFirstConsumer', c.file);
      const params: Record<string, string> = Object.fromEntries(Object.entries(c.obj.parameters ?? {}).map(([k, v]) => [k, String(v)]));
      for (const k of Object.keys(params)) assert.ok(k in STORAGE_CLASS_PARAMETERS, `${c.file}: parameter ${k} is one the plugin reads`);
      const b = backendOf(params); // throws INVALID_ARGUMENT for what CreateVolume would refuse
      if (b === 'glusterfs') assert.ok(glusterTarget(params).servers.length > 0);
    }
  });
});
