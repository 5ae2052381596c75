// Builds stowage: one bundled CLI entry point (dist/stowage.js) so that a command
// loads one file instead of ~60 modules (start-up is most of a small command's
// time), and a per-file transpile of src/, test/ and bench/ for the test runner.
// Type checking is `npm run typecheck` (tsc), run by scripts/test.mjs.
import { build } from 'esbuild';
import { readdirSync, statSync, mkdirSync, existsSync, renameSync, rmSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { builtinModules, createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
function walk(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}
// dist/ is not wiped first: several builds may run at once (tests spawn the CLI from
// dist/ while another build runs), and esbuild overwrites each output in place.
mkdirSync(join(root, 'dist'), { recursive: true });
const common = { platform: 'node', target: 'node20', format: 'esm', sourcemap: 'linked', logLevel: 'warning' };

// Built-in modules Node 20 verifies for user snapshots (lib/internal/main/mksnapshot.js).
// Others (child_process, http, module …) are imported through a lazy stand-in in the
// snapshot bundle: required on first use at run time, never while the snapshot is built.
const SNAPSHOT_SAFE = new Set([
  '_stream_duplex', '_stream_passthrough', '_stream_readable', '_stream_transform', '_stream_wrap', '_stream_writable',
  'assert', 'assert/strict', 'buffer', 'console', 'constants', 'crypto', 'diagnostics_channel', 'dns', 'events', 'fs',
  'fs/promises', 'net', 'os', 'path', 'path/posix', 'path/win32', 'process', 'punycode', 'querystring', 'stream',
  'stream/promises', 'string_decoder', 'sys', 'timers', 'timers/promises', 'url', 'util', 'util/types', 'v8', 'zlib',
]);
const nodeRequire = createRequire(import.meta.url);
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_]+(\/[a-z_]+)?$/ }, (args) => {
      const id = args.path.replace(/^node:/, '');
      if (!builtinModules.includes(id)) return undefined;
      // import() of a built-in stays a real dynamic import, which a snapshot cannot do:
      // those go through the stand-in too (required on first use).
      if (SNAPSHOT_SAFE.has(id) && args.kind !== 'dynamic-import') return undefined;
      if (args.namespace === 'lazy-builtin') return { path: `node:${id}`, external: true };
      return { path: id, namespace: 'lazy-builtin' };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => {
      const keys = Object.keys(nodeRequire(`node:${args.path}`));
      return {
        loader: 'js',
        contents: `let m; const get = () => (m ??= require('node:${args.path}'));\n` +
          `for (const k of ${JSON.stringify(keys)}) Object.defineProperty(module.exports, k, { enumerable: true, get: () => get()[k] });\n`,
      };
    });
  },
};
// Dependencies loaded at run time from node_modules (CSI's gRPC: large, rarely used).
const RUNTIME_PACKAGES = /^@grpc\//;
const runtimePackages = {
  name: 'runtime-packages',
  setup(b) {
    b.onResolve({ filter: RUNTIME_PACKAGES }, (args) => ({ path: args.path, namespace: 'runtime-package' }));
    b.onLoad({ filter: /.*/, namespace: 'runtime-package' }, (args) => ({
      loader: 'js',
      contents: `module.exports = require('node:module').createRequire(__stowageModuleUrl)(${JSON.stringify(args.path)});`,
    }));
  },
};
// import.meta.url inside the snapshot: a file next to the blob, known only at run time
// (set by a deserialise callback), so that addons and csi.proto are found where the
// program is, not where it was built. url and path are taken while building: a require()
// at run time costs a module load before anything else runs.
const SNAPSHOT_BANNER = `var __stowageUrl = require('node:url'), __stowagePath = require('node:path');
var __stowageModuleUrl = __stowageUrl.pathToFileURL(__filename).href;
require('node:v8').startupSnapshot.addDeserializeCallback(() => {
  const a = process.execArgv, i = a.indexOf('--snapshot-blob');
  const blob = i >= 0 ? a[i + 1] : (a.find((x) => x.startsWith('--snapshot-blob=')) || '').slice(16);
  if (blob) __stowageModuleUrl = __stowageUrl.pathToFileURL(__stowagePath.resolve(__stowagePath.dirname(blob), 'stowage-snapshot.cjs')).href;
});`;;

await Promise.all([
  build({
    ...common,
    entryPoints: [join(root, 'src/cli/snapshot.ts')],
    bundle: true,
    format: 'iife',
    outfile: join(root, 'dist/cli/stowage-snapshot.cjs'),
    minifyWhitespace: true,
    minifySyntax: true,
    define: { 'import.meta.url': '__stowageModuleUrl' },
    banner: { js: SNAPSHOT_BANNER },
    plugins: [lazyBuiltins, runtimePackages],
  }),
  build({
    ...common,
    entryPoints: [join(root, 'src/cli/main.ts')],
    bundle: true,
    splitting: true,
    outdir: join(root, 'dist/cli'),
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  }),
  // The store page (ui/, served under /ui/): one browser bundle with its CSS; no CDN,
  // no fonts fetched. index.html is copied beside it.
  build({
    entryPoints: [join(root, 'ui/app.ts')],
    bundle: true,
    platform: 'browser',
    target: ['chrome110', 'firefox110', 'safari16'],
    format: 'esm',
    minify: true,
    sourcemap: 'linked',
    logLevel: 'warning',
    outdir: join(root, 'dist/ui'),
  }).then(() => copyFileSync(join(root, 'ui/index.html'), join(root, 'dist/ui/index.html'))),
  build({
    ...common,
    entryPoints: [...walk(join(root, 'src')), join(root, 'ui/model.ts'), ...walk(join(root, 'test')), ...walk(join(root, 'bench'))],
    outdir: join(root, 'dist'),
    outbase: root,
  }),
]);

// The start-up snapshot (bin/stowage starts from it when it is newer than node): written
// under a temporary name and renamed, as tests may be starting the CLI during a build.
const blob = join(root, 'dist/cli/stowage.blob');
const tmpBlob = `${blob}.${process.pid}.tmp`;
const r = spawnSync(process.execPath, ['--snapshot-blob', tmpBlob, '--build-snapshot', join(root, 'dist/cli/stowage-snapshot.cjs')], {
  encoding: 'utf8', env: { ...process.env, NODE_EXTRA_CA_CERTS: '' },
});
if (r.status !== 0) {
  rmSync(tmpBlob, { force: true });
  throw new Error(`building the start-up snapshot failed (${r.status}): ${r.stderr}`);
}
renameSync(tmpBlob, blob);
