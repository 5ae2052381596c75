// client.ts: a promise-returning CSI client over a unix socket, for the CSI volume
// driver (volumes/drivers/csi.ts) and the tests. call() rejects with the gRPC error
// (its `code` is the status code).
import * as grpc from '@grpc/grpc-js';
import { csiServices } from './proto.js';
import { socketPath } from './server.js';

type Service = 'Identity' | 'Controller' | 'Node';

export class CsiClient {
  private readonly clients: Record<Service, grpc.Client>;

  constructor(readonly endpoint: string) {
    const svc = csiServices();
    const target = `unix://${socketPath(endpoint)}`;
    const creds = grpc.credentials.createInsecure();
    // One channel for the three services.
    const first = new svc.Identity(target, creds);
    const channel = { channelOverride: first.getChannel() };
    this.clients = { Identity: first, Controller: new svc.Controller(target, creds, channel), Node: new svc.Node(target, creds, channel) };
  }

  call<T = Record<string, any>>(service: Service, method: string, req: object = {}, opts: { timeoutMs?: number } = {}): Promise<T> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const c = this.clients[service] as unknown as Record<string, (r: object, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: T) => void) => void>;
    const fn = c[method];
    if (typeof fn !== 'function') return Promise.reject(new Error(`CSI ${service} has no method ${method}`));
    return new Promise((resolve, reject) => {
      fn.call(c, req, new grpc.Metadata(), { deadline: Date.now() + (opts.timeoutMs ?? 120_000) }, (err, res) => (err ? reject(err) : resolve(res)));
    });
  }

  /** Waits until the server answers Probe (it may still be starting). */
  async waitReady(timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      try { await this.call('Identity', 'Probe', {}, { timeoutMs: 1000 }); return; } catch (err) {
        if (Date.now() > until) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  close(): void {
    this.clients.Identity.close();
  }
}
