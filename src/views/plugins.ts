// views/plugins.ts: a discovered volume plugin as `plugin ls`/`inspect` show it
// (asking it for its handshake and scope), and as GET /plugins lists it (Docker's
// Plugin object).
import { createHash } from 'node:crypto';

export interface PluginInfo { Id: string; Name: string; Description: string; Enabled: boolean; Addr: string; Source: string; Implements: string[]; Scope?: string; Error?: string }

export async function describePlugin(name: string, found: { addr?: string; source: string; error?: string }): Promise<PluginInfo> {
  const id = createHash('sha256').update(`${name}\0${found.source}`).digest('hex');
  const info: PluginInfo = { Id: id, Name: name, Description: '', Enabled: false, Addr: found.addr ?? '', Source: found.source, Implements: [] };
  if (found.error) { info.Error = found.error; info.Description = 'unusable plugin spec'; return info; }
  const { PluginVolumeDriver } = await import('../volumes/drivers/plugin.js');
  const d = new PluginVolumeDriver({ name, addr: found.addr!, source: found.source }, '/nonexistent', { timeoutMs: 5000, retryMs: 0 });
  try {
    info.Implements = await d.client.activate({ retryMs: 0 });
    info.Enabled = info.Implements.includes('VolumeDriver');
    info.Description = info.Enabled ? `volume plugin at ${info.Addr}` : `implements ${info.Implements.join(', ') || 'nothing'}, not VolumeDriver`;
    if (info.Enabled) info.Scope = (await d.capabilities()).scope;
  } catch (err) {
    info.Error = (err as Error).message;
    info.Description = 'not answering';
  }
  return info;
}


/** Docker's Plugin object (GET /plugins) for a legacy (socket/spec) volume plugin. */
export function pluginJson(i: PluginInfo): Record<string, unknown> {
  return {
    Id: i.Id, Name: i.Name, Enabled: i.Enabled,
    Settings: { Mounts: [], Env: [], Args: [], Devices: [] },
    PluginReference: i.Source,
    Config: {
      Description: i.Description, Documentation: '', Entrypoint: [], WorkDir: '',
      Interface: { Types: i.Implements.map((t) => ({ Prefix: 'docker', Capability: t.toLowerCase(), Version: '1.0' })), Socket: i.Addr },
      Network: { Type: '' }, Linux: { Capabilities: null, AllowAllDevices: false, Devices: null }, Mounts: [], Env: [],
      Args: { Name: '', Description: '', Settable: null, Value: null }, ...(i.Error ? { Error: i.Error } : {}),
    },
  };
}
