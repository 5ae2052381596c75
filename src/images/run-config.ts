// run-config.ts: an image's runtime config (`config` and `container_config` in the
// image config) in the exact shape Docker writes when it builds or commits.
//
// Docker serialises moby's container.Config: every field is present with its zero
// value ("Hostname": "", "AttachStdin": false, "Env": null …) except those tagged
// omitempty (ExposedPorts, Healthcheck, ArgsEscaped, NetworkDisabled, MacAddress,
// StopSignal, StopTimeout, Shell), and always in the struct's order. The order
// matters beyond looks: the config's bytes are the image ID. Images made by build
// and commit also carry `container` (the container the step ran in),
// `container_config` (that container's config, whose Cmd says what the step was:
// "#(nop) …" for metadata steps) and `docker_version`.
import { randomBytes } from 'node:crypto';
import { VERSION } from '../cli/version.js';
import type { ContainerConfig, ImageConfig } from './config.js';

/** diffID of a layer tar with no entries (two zero blocks): moby's layer.DigestSHA256EmptyTar. */
export const EMPTY_LAYER_DIFF_ID = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';

/** What images made here record as `docker_version`: the engine's own version. */
export const DOCKER_VERSION_FIELD = VERSION;

const present = (v: unknown): boolean => v !== undefined && v !== null && v !== '' && v !== false &&
  !(Array.isArray(v) && v.length === 0) && !(typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0);

/** c in container.Config's key order, zero values filled in, omitempty keys only when set. */
export function dockerRunConfig(c: ContainerConfig, image: string): ContainerConfig {
  const out: ContainerConfig = {
    Hostname: (c.Hostname as string | undefined) ?? '',
    Domainname: (c.Domainname as string | undefined) ?? '',
    User: c.User ?? '',
    AttachStdin: (c.AttachStdin as boolean | undefined) ?? false,
    AttachStdout: (c.AttachStdout as boolean | undefined) ?? false,
    AttachStderr: (c.AttachStderr as boolean | undefined) ?? false,
  };
  if (present(c.ExposedPorts)) out.ExposedPorts = c.ExposedPorts!;
  out.Tty = (c.Tty as boolean | undefined) ?? false;
  out.OpenStdin = (c.OpenStdin as boolean | undefined) ?? false;
  out.StdinOnce = (c.StdinOnce as boolean | undefined) ?? false;
  out.Env = c.Env ?? null;
  out.Cmd = c.Cmd ?? null;
  if (c.Healthcheck) out.Healthcheck = c.Healthcheck;
  if (c.ArgsEscaped) out.ArgsEscaped = true;
  out.Image = (c.Image as string | undefined) ?? image;
  out.Volumes = c.Volumes ?? null;
  out.WorkingDir = c.WorkingDir ?? '';
  out.Entrypoint = c.Entrypoint ?? null;
  if (c.NetworkDisabled) out.NetworkDisabled = true;
  if (present(c.MacAddress)) out.MacAddress = c.MacAddress;
  out.OnBuild = c.OnBuild ?? null;
  out.Labels = c.Labels ?? null;
  if (present(c.StopSignal)) out.StopSignal = c.StopSignal!;
  if (c.StopTimeout !== undefined && c.StopTimeout !== null) out.StopTimeout = c.StopTimeout;
  if (present(c.Shell)) out.Shell = c.Shell!;
  return out;
}

/** A container id for a build step that ran in no container (metadata steps), as Docker would have one. */
export function stepContainerId(): string {
  return randomBytes(32).toString('hex');
}

/**
 * The image config of a build step or commit: base with `config`, `container`,
 * `container_config` (the step container's config: its hostname, its command, and
 * labels as an object even when empty, as Docker writes it) and `docker_version`.
 * Top-level keys sorted, as Docker writes them (it marshals the config through a map).
 */
export function withContainerFields(base: ImageConfig, config: ContainerConfig, container: string, containerConfig: ContainerConfig): ImageConfig {
  const all: Record<string, unknown> = {
    ...base,
    config,
    container,
    container_config: { ...containerConfig, Hostname: container.slice(0, 12), Labels: containerConfig.Labels ?? {} },
    docker_version: DOCKER_VERSION_FIELD,
  };
  return Object.fromEntries(Object.keys(all).sort().map((k) => [k, all[k]])) as ImageConfig;
}
