// wait.ts: `docker wait` with Docker's conditions (moby daemon/wait.go):
//   not-running  returns at once when the container is not running, else at its exit;
//   next-exit    returns at the next exit, whatever the state now (docker run, no --rm);
//   removed      returns when the container is gone (docker run --rm), with its exit code.
//
// Whoever watches the container (a monitor process, a foreground `run`) may live in
// another process, so the waiter learns about exits from the store: it takes the
// event log's cursor first (`registered` resolves then: any later exit is recorded
// after that cursor, so it cannot be missed), then polls for the container's `die`
// and `destroy` events. The events carry the exit code, which a --rm container's row
// no longer has once it is removed. The row is polled too, so a watcher that died
// without recording anything is still noticed: the poll reconciles (about once a
// second), which records the exit of a container whose monitor is gone.
import type { Engine } from '../engine.js';
import type { ContainerRecord } from './types.js';
import { StowageError, invalidArgument } from '../errors.js';

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';
export interface WaitResult { StatusCode: number; Error: { Message: string } | null }

const POLL_MS = 50;
const RECONCILE_EVERY_MS = 1000;

function fromState(c: ContainerRecord): WaitResult {
  return { StatusCode: c.State.ExitCode, Error: c.State.Error ? { Message: c.State.Error } : null };
}

export function parseWaitCondition(s: string | undefined): WaitCondition {
  const v = s === undefined || s === '' ? 'not-running' : s;
  if (v === 'not-running' || v === 'next-exit' || v === 'removed') return v;
  throw invalidArgument(`invalid condition: "${s}": use not-running, next-exit or removed`, { name: s });
}

export function waitFor(engine: Engine, ref: string, condition: WaitCondition, signal?: AbortSignal):
  { registered: Promise<void>; result: Promise<WaitResult> } {
  parseWaitCondition(condition);
  const store = engine.containerStore;
  const first = store.resolve(ref); // NotFound here, before anything is registered
  let cursor = engine.events.cursor();
  const registered = Promise.resolve();
  const result = (async (): Promise<WaitResult> => {
    let last: ContainerRecord = first;
    if (condition === 'not-running' && !first.State.Running) return fromState(first);
    let exit: WaitResult | undefined;
    let reconciledAt = Date.now();
    for (;;) {
      if (signal?.aborted) throw new StowageError('Unavailable', `wait for container ${first.Id.slice(0, 12)} cancelled`, { name: first.Id });
      for (const { seq, event } of engine.events.after(cursor)) {
        cursor = seq;
        if (event.Type !== 'container' || event.Actor.ID !== first.Id) continue;
        if (event.Action === 'die') {
          const code = Number(event.Actor.Attributes.exitCode ?? '0');
          const err = event.Actor.Attributes.error;
          exit = { StatusCode: Number.isFinite(code) ? code : 255, Error: err ? { Message: err } : null };
          if (condition !== 'removed') return exit;
        }
        if (event.Action === 'destroy' && condition === 'removed') return exit ?? fromState(last);
      }
      const now = store.get(first.Id);
      if (!now) {
        // Gone without a destroy event we saw (the log was trimmed, or it went before
        // the event was written): the last state we read is the best answer.
        return exit ?? fromState(last);
      }
      last = now;
      if (condition === 'not-running' && !now.State.Running) return fromState(now);
      if (Date.now() - reconciledAt > RECONCILE_EVERY_MS && now.State.Running) {
        reconciledAt = Date.now();
        await engine.containers.reconcile().catch(() => {});
      }
      await sleep(POLL_MS, signal);
    }
  })();
  return { registered, result };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() { clearTimeout(t); signal?.removeEventListener('abort', done); resolve(); }
    signal?.addEventListener('abort', done, { once: true });
  });
}
