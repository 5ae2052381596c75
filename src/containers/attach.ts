// attach.ts: the client side of a container's attach socket (see stdio.ts and
// monitor.ts): engine.containers.attach() and resize().
import type { Engine } from '../engine.js';
import type { StdioSession } from './stdio.js';
import { notImplemented } from '../errors.js';

export interface AttachRequest {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** false: only the log (with logs=true), no live stream (Docker's stream=0). */
  stream: boolean;
  /** Replay the container's log first. */
  logs: boolean;
  /** Docker's detach keys; default ctrl-p,ctrl-q. Applies to tty sessions' stdin. */
  detachKeys?: string;
  signal?: AbortSignal;
}

export async function attachContainer(_engine: Engine, ref: string, _o: AttachRequest): Promise<StdioSession> {
  throw notImplemented(`attach is not implemented yet (${ref})`);
}

export async function resizeContainer(_engine: Engine, ref: string, _h: number, _w: number): Promise<void> {
  throw notImplemented(`resize is not implemented yet (${ref})`);
}
