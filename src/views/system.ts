// views/system.ts: `info` and `version` in Docker's shapes (GET /info, GET /version),
// for the CLI and the API server alike.
import { statfsSync } from 'node:fs';
import { cpus, release, totalmem, hostname } from 'node:os';
import type { Engine } from '../engine.js';
import { API_VERSION, VERSION } from '../cli/version.js';

/** The oldest Engine API version the server accepts (the docker CLI 28 needs ≥ 1.24). */
export const MIN_API_VERSION = '1.24';

export function arch(): string {
  return ({ x64: 'amd64', arm64: 'arm64', ia32: '386' } as Record<string, string>)[process.arch] ?? process.arch;
}

export interface InfoView {
  ID: string; Containers: number; ContainersRunning: number; ContainersPaused: number; ContainersStopped: number; Images: number;
  Driver: string; DriverStatus: string[][]; DockerRootDir: string; OperatingSystem: string; OSType: string; Architecture: string;
  KernelVersion: string; NCPU: number; MemTotal: number; ServerVersion: string; DataRootFree: number; [k: string]: unknown;
}

/** Docker's Info object: the fields that apply, with the storage driver, its status and why it was chosen. */
export function systemInfo(e: Engine): InfoView {
  const images = e.imageStore.all().length;
  const states = e.db.prepare('SELECT state FROM containers WHERE driver = ?').all(e.driver.name) as Array<{ state: string }>;
  let running = 0;
  for (const r of states) { try { if ((JSON.parse(r.state) as { Running?: boolean }).Running) running++; } catch { /* counted as stopped */ } }
  const st = e.driver.status();
  let free = 0;
  try { const s = statfsSync(e.layout.root); free = s.bavail * s.bsize; } catch { /* shown as 0 */ }
  return {
    ID: '',
    Containers: states.length,
    ContainersRunning: running,
    ContainersPaused: 0,
    ContainersStopped: states.length - running,
    Images: images,
    Driver: e.driver.name,
    DriverStatus: [...st.details, ['Reason', e.driverReason]],
    Plugins: { Volume: ['local'], Network: ['host', 'null'], Authorization: null, Log: ['json-file'] },
    MemoryLimit: false, SwapLimit: false, CpuCfsPeriod: false, CpuCfsQuota: false, CPUShares: false, CPUSet: false, PidsLimit: false,
    IPv4Forwarding: false, BridgeNfIptables: false, BridgeNfIp6tables: false, Debug: false, NFd: 0, OomKillDisable: false,
    NGoroutines: 0, SystemTime: new Date().toISOString(), LoggingDriver: 'json-file', CgroupDriver: 'cgroupfs', CgroupVersion: '',
    NEventsListener: 0, Name: hostname(), Labels: [], ExperimentalBuild: false, Runtimes: { runc: { path: 'runc' }, crun: { path: 'crun' } },
    DefaultRuntime: 'crun', Swarm: { LocalNodeState: 'inactive', ControlAvailable: false, NodeID: '', NodeAddr: '' },
    LiveRestoreEnabled: true, Isolation: '', InitBinary: '', SecurityOptions: [], Warnings: null,
    IndexServerAddress: 'https://index.docker.io/v1/', RegistryConfig: null, HttpProxy: '', HttpsProxy: '', NoProxy: '',
    DockerRootDir: e.layout.root,
    OperatingSystem: process.platform,
    OSType: process.platform,
    OSVersion: '',
    Architecture: arch(),
    KernelVersion: release(),
    NCPU: cpus().length,
    MemTotal: totalmem(),
    ServerVersion: VERSION,
    DataRootFree: free,
  };
}

/** The server half of `docker version` (GET /version). */
export function serverVersion(): Record<string, unknown> {
  return {
    Platform: { Name: 'Stowage' },
    Components: [{ Name: 'Engine', Version: VERSION, Details: { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: process.platform, Arch: arch(), NodeVersion: process.version } }],
    Version: VERSION,
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: '',
    GoVersion: process.version,
    Os: process.platform,
    Arch: arch(),
    KernelVersion: release(),
    BuildTime: '',
  };
}

/** The client half of `stowage version`. */
export function clientVersion(): Record<string, unknown> {
  return { Version: VERSION, ApiVersion: API_VERSION, NodeVersion: process.version, Os: process.platform, Arch: arch(), GitCommit: '' };
}
