// engine-streams.ts: the engine's stream features (attach, wait conditions, resize,
// top, stats, exec, events) as the API layer uses them (docs/contracts.md, "containers/
// streams"); this module finds them on the engine at run time, answering 501 for any
// that an engine lacks.
import type { Engine } from '../engine.js';
import { notImplemented } from '../errors.js';

export interface StdioSession {
  readonly tty: boolean;
  readonly stdin: NodeJS.WritableStream | null;
  readonly output: AsyncIterable<{ stream: 'stdout' | 'stderr'; data: Buffer }>;
  close(): void;
}

export interface WaitResult { StatusCode: number; Error: { Message: string } | null }

export interface ContainerStreams {
  attach(ref: string, o: { stdin: boolean; stdout: boolean; stderr: boolean; stream: boolean; logs: boolean; detachKeys?: string; signal?: AbortSignal }): Promise<StdioSession>;
  waitFor(ref: string, condition: 'not-running' | 'next-exit' | 'removed', signal?: AbortSignal): { registered: Promise<void>; result: Promise<WaitResult> };
  resize(ref: string, height: number, width: number): Promise<void>;
  top(ref: string, psArgs?: string): Promise<{ Titles: string[]; Processes: string[][] }>;
  stats(ref: string): Promise<object>;
  execCreate(ref: string, o: Record<string, unknown>): Promise<string>;
  execStart(id: string, o: { detach: boolean; tty?: boolean }): Promise<StdioSession | null>;
  execInspect(id: string): Promise<object>;
  execResize(id: string, height: number, width: number): Promise<void>;
}

export interface EventsApi {
  subscribe(o: { since?: number; until?: number; filters?: Record<string, string[]>; signal?: AbortSignal }): AsyncIterable<object>;
}

/** The named stream feature, or a 501 saying it is not in this build. */
export function streamFeature<K extends keyof ContainerStreams>(e: Engine, name: K): ContainerStreams[K] {
  const f = (e.containers as unknown as Partial<ContainerStreams>)[name];
  if (typeof f !== 'function') throw notImplemented(`${name} is not available in this stowage build (the engine has no ${name} yet)`);
  return (f as (...a: unknown[]) => unknown).bind(e.containers) as ContainerStreams[K];
}

export function hasStreamFeature(e: Engine, name: keyof ContainerStreams): boolean {
  return typeof (e.containers as unknown as Partial<ContainerStreams>)[name] === 'function';
}

export function eventsOf(e: Engine): EventsApi {
  const ev = (e as unknown as { events?: Partial<EventsApi> }).events;
  if (!ev || typeof ev.subscribe !== 'function') throw notImplemented('events are not available in this stowage build');
  return ev as EventsApi;
}
