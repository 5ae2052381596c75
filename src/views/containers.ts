// views/containers.ts: a container record in Docker's shapes — `inspect` JSON, the
// Engine API's list entries (GET /containers/json) and the `ps` table rows. The CLI
// and the API server both call these, so the two cannot drift.
import type { Engine } from '../engine.js';
import type { ContainerRecord } from '../containers/types.js';
import { humanDuration, humanSize, since } from '../cli/format.js';

/** Status column of `ps`: "Up 3 seconds", "Exited (0) 2 minutes ago", "Created". */
export function statusText(c: ContainerRecord): string {
  const s = c.State;
  if (s.Running) return `Up ${humanDuration(Date.now() - Date.parse(s.StartedAt))}`;
  if (s.Status === 'created') return 'Created';
  if (s.Status === 'exited') return `Exited (${s.ExitCode}) ${humanDuration(Date.now() - Date.parse(s.FinishedAt))} ago`;
  return s.Status;
}

export function commandText(c: ContainerRecord, noTrunc: boolean): string {
  const cmd = [c.Path, ...c.Args].join(' ');
  if (noTrunc || cmd.length <= 20) return `"${cmd}"`;
  return `"${cmd.slice(0, 19)}…"`;
}

export function inspectContainer(e: Engine, c: ContainerRecord, sizes?: { SizeRw: number; SizeRootFs: number }): Record<string, unknown> {
  const dir = e.layout.container(c.Id);
  const { Monitor: _m, ...state } = c.State;
  return {
    Id: c.Id,
    Created: c.Created,
    Path: c.Path,
    Args: c.Args,
    State: state,
    Image: c.Image,
    ResolvConfPath: `${dir}/resolv.conf`,
    HostnamePath: `${dir}/hostname`,
    HostsPath: `${dir}/hosts`,
    LogPath: `${dir}/${c.Id}-json.log`,
    Name: `/${c.Name}`,
    RestartCount: c.RestartCount,
    Driver: c.Driver,
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: e.containers.execIds(c),
    // LogConfig: clients (docker-compose's logs) read only containers whose log driver they know.
    HostConfig: { LogConfig: { Type: 'json-file', Config: {} }, ...c.HostConfig },
    GraphDriver: e.containers.graphDriver(c),
    ...(sizes ?? {}),
    Mounts: c.Mounts,
    Config: c.Config,
    NetworkSettings: networkSettings(c),
  };
}

/** host or none networking: no addresses or ports of stowage's own. */
function networkSettings(c: ContainerRecord): Record<string, unknown> {
  return {
    Bridge: '', SandboxID: '', HairpinMode: false, LinkLocalIPv6Address: '', LinkLocalIPv6PrefixLen: 0,
    Ports: {}, SandboxKey: '', SecondaryIPAddresses: null, SecondaryIPv6Addresses: null,
    EndpointID: '', Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, IPAddress: '', IPPrefixLen: 0,
    IPv6Gateway: '', MacAddress: '',
    Networks: { [c.HostConfig.NetworkMode]: endpoint(c) },
  };
}

function endpoint(c: ContainerRecord): Record<string, unknown> {
  return {
    IPAMConfig: null, Links: null, Aliases: null, NetworkID: networkId(c.HostConfig.NetworkMode), EndpointID: '', Gateway: '',
    IPAddress: '', IPPrefixLen: 0, IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, MacAddress: '', DriverOpts: null,
  };
}

/** Stable IDs for the two networks stowage has (GET /networks shows the same). */
export function networkId(name: string): string {
  return name === 'none' ? '6e6f6e65'.padEnd(64, '0') : '686f7374'.padEnd(64, '0');
}

/** One entry of GET /containers/json (Docker's ContainerSummary). */
export function containerSummary(e: Engine, c: ContainerRecord, sizes?: { SizeRw: number; SizeRootFs: number }): Record<string, unknown> {
  return {
    Id: c.Id,
    Names: [`/${c.Name}`],
    Image: c.ImageRef,
    ImageID: c.Image,
    Command: [c.Path, ...c.Args].join(' '),
    Created: Math.floor(Date.parse(c.Created) / 1000),
    Ports: [],
    Labels: c.Config.Labels ?? {},
    State: c.State.Status,
    Status: statusText(c),
    HostConfig: { NetworkMode: c.HostConfig.NetworkMode },
    NetworkSettings: { Networks: { [c.HostConfig.NetworkMode]: endpoint(c) } },
    Mounts: (c.Mounts as Array<Record<string, unknown>>).map((m) => ({
      Type: m.Type, ...(m.Name !== undefined ? { Name: m.Name } : {}), Source: m.Source, Destination: m.Destination,
      Driver: m.Driver ?? '', Mode: m.Mode ?? '', RW: m.RW, Propagation: m.Propagation ?? '',
    })),
    ...(sizes ?? {}),
  };
}

export const PS_HEADERS = { ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', CreatedAt: 'CREATED AT', RunningFor: 'CREATED', Status: 'STATUS', Ports: 'PORTS', Names: 'NAMES', Size: 'SIZE', State: 'STATE', Labels: 'LABELS', Networks: 'NETWORKS', Mounts: 'MOUNTS' };

/** One `ps` row (strings, as the table and --format show them). */
export function psRow(c: ContainerRecord, noTrunc: boolean, sizes?: { SizeRw: number; SizeRootFs: number }): Record<keyof typeof PS_HEADERS, string> {
  return {
    ID: noTrunc ? c.Id : c.Id.slice(0, 12),
    Image: c.ImageRef,
    Command: commandText(c, noTrunc),
    CreatedAt: c.Created,
    RunningFor: since(Date.parse(c.Created) / 1000),
    Status: statusText(c),
    State: c.State.Status,
    Ports: '',
    Names: c.Name,
    Labels: Object.entries(c.Config.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
    Size: sizes ? `${humanSize(sizes.SizeRw)} (virtual ${humanSize(sizes.SizeRootFs)})` : '',
    Mounts: '',
    Networks: c.HostConfig.NetworkMode,
  };
}

/** `ps` selection: running only unless all; filters; the last n. */
export function selectContainers(list: ContainerRecord[], o: { all?: boolean; last?: number; pred: (c: ContainerRecord) => boolean }): ContainerRecord[] {
  let l = list;
  if (o.last === undefined && !o.all) l = l.filter((c) => c.State.Running);
  l = l.filter(o.pred);
  if (o.last !== undefined && o.last >= 0) l = l.slice(0, o.last);
  return l;
}
