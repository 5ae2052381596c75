// failpoint.ts: named points at which a command can be made to kill itself, so crash
// tests know the kill landed inside the operation they meant (after etcd's gofail).
//
//   STOWAGE_FAILPOINT=layer:row,mount:made   SIGKILL at the first hit of either point
//   STOWAGE_FAILPOINT=export:entry=40        SIGKILL at the 40th hit of export:entry
//
// The process kills itself with SIGKILL, so a test sees exactly what a kill from
// outside would leave, and knows the point was reached (the child's exit signal is
// SIGKILL only then). When the variable is unset, failpoint() is one comparison
// against null: the spec is parsed once, at the first call, not when this module loads
// (the module is evaluated into the V8 start-up snapshot at build time, where the
// environment is the build's; see cli/snapshot.ts). The names in use are listed in
// docs/architecture.md ("Failpoints").

let spec: Map<string, number> | null | undefined;
const hits = new Map<string, number>();

function parse(v: string | undefined): Map<string, number> | null {
  if (!v) return null;
  const m = new Map<string, number>();
  for (const part of v.split(',')) {
    const p = part.trim();
    if (p === '') continue;
    const eq = p.lastIndexOf('=');
    const n = eq > 0 ? Number(p.slice(eq + 1)) : 1;
    m.set(eq > 0 ? p.slice(0, eq) : p, Number.isInteger(n) && n > 0 ? n : 1);
  }
  return m.size ? m : null;
}

/** Kills this process with SIGKILL when `name` is armed in STOWAGE_FAILPOINT and this is its armed hit. */
export function failpoint(name: string): void {
  if (spec === undefined) spec = parse(process.env.STOWAGE_FAILPOINT);
  if (spec === null) return;
  const want = spec.get(name);
  if (want === undefined) return;
  const n = (hits.get(name) ?? 0) + 1;
  hits.set(name, n);
  if (n === want) process.kill(process.pid, 'SIGKILL');
}
