// snapshot.ts: the entry point of stowage's V8 start-up snapshot (dist/cli/stowage.blob,
// made by scripts/build.mjs with `node --build-snapshot`; bin/stowage starts Node from it).
//
// Node deserialises a snapshot's heap instead of reading, compiling and evaluating the
// bundle and building the commander program: a small command (`images`) costs ~50 ms of
// CPU instead of ~110, against ~25 for a bare `node` (docs/benchmarks.md). What a command needs at
// run time is imported here so that its modules are evaluated while the snapshot is
// built; rarely used areas (build, CSI, plugins) stay in the bundle and are evaluated
// on first use. Native addons (SQLite, sys.c) are loaded at run time, never snapshotted.
//
// Rules for code that ends up in the snapshot (everything under src/ can): nothing at
// module level may read the environment, the clock, the file system, the process id or
// the user, because that value would be the build machine's. Read them in functions.
import './main.js';
import '../engine.js';
import '../volumes/service.js';
import '../containers/lifecycle.js';
import '../containers/filters.js';
import '../containers/logs.js';
import '../images/load.js';
import '../runtime/spec.js';
import '../runtime/runtime.js';
