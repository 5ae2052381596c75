// exec.ts: Docker's exec instances (create, start, inspect, resize) as records in
// the metadata database, so an exec created by one request (or process) can be
// started by another.
import type { Engine } from '../engine.js';
import type { StdioSession } from './stdio.js';
import { notImplemented } from '../errors.js';

export interface ExecCreateOptions {
  Cmd: string[]; Env?: string[]; User?: string; WorkingDir?: string;
  Tty?: boolean; AttachStdin?: boolean; AttachStdout?: boolean; AttachStderr?: boolean;
  Privileged?: boolean; DetachKeys?: string;
}

export async function execCreate(_e: Engine, ref: string, _o: ExecCreateOptions): Promise<string> {
  throw notImplemented(`exec is not implemented yet (${ref})`);
}
export async function execStart(_e: Engine, id: string, _o: { detach: boolean; tty?: boolean }): Promise<StdioSession | null> {
  throw notImplemented(`exec is not implemented yet (${id})`);
}
export async function execInspect(_e: Engine, id: string): Promise<object> {
  throw notImplemented(`exec is not implemented yet (${id})`);
}
export async function execResize(_e: Engine, id: string, _h: number, _w: number): Promise<void> {
  throw notImplemented(`exec is not implemented yet (${id})`);
}
