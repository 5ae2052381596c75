// types.ts: a container's record in Docker's shapes (the parts of
// `docker container inspect` that stowage fills).
import type { ContainerConfig } from '../images/config.js';
import type { MountSpec } from '../mounts/spec.js';

export interface ContainerState {
  Status: 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  /** Owner token of the process watching the container (the monitor); not in Docker's JSON. */
  Monitor?: string;
}

export interface HostConfig {
  AutoRemove: boolean;
  ReadonlyRootfs: boolean;
  NetworkMode: string;
  Runtime: string;
  Binds: string[] | null;
  /** Docker puts these in HostConfig.Mounts; kept as given for inspect. */
  Mounts?: unknown[];
  Tmpfs?: Record<string, string>;
  VolumeDriver?: string;
  VolumesFrom?: string[] | null;
}

export interface ContainerRunConfig extends ContainerConfig {
  Hostname: string;
  Domainname: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Image: string;
}

export interface ContainerRecord {
  Id: string;
  Name: string;            // without the leading "/"
  Created: string;
  Path: string;
  Args: string[];
  Image: string;           // sha256:… image id
  ImageRef: string;        // what the user typed
  Driver: string;
  LayerId: string;
  Config: ContainerRunConfig;
  HostConfig: HostConfig;
  State: ContainerState;
  RestartCount: number;
  /** Mount points as inspect shows them. */
  Mounts: unknown[];
  /** The normalised mount specs (-v, --mount, --tmpfs, image VOLUMEs, --volumes-from); not in Docker's JSON. */
  MountSpecs?: MountSpec[];
}

export function initialState(): ContainerState {
  return {
    Status: 'created', Running: false, Paused: false, Restarting: false, OOMKilled: false, Dead: false,
    Pid: 0, ExitCode: 0, Error: '', StartedAt: '0001-01-01T00:00:00Z', FinishedAt: '0001-01-01T00:00:00Z',
  };
}
