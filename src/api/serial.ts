// serial.ts: one at a time for requests that write layers and images. The layer
// store leases what an operation has stored but not yet recorded to its owner
// *process*, and an operation ends by releasing that process's leases — so two such
// operations running at once in one server would release each other's leases early
// (and a concurrent `stowage` command's recovery could then sweep a layer still being
// recorded). Until leases are per operation, the server runs these one after another;
// reads, streams, starts and volumes are not serialised.
let tail: Promise<unknown> = Promise.resolve();

export function serialized<T>(fn: () => Promise<T>): Promise<T> {
  const run = tail.then(fn, fn);
  tail = run.catch(() => {});
  return run;
}
