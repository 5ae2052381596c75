// Builds stowage: one bundled CLI entry point (dist/stowage.js) so that a command
// loads one file instead of ~60 modules (start-up is most of a small command's
// time), and a per-file transpile of src/, test/ and bench/ for the test runner.
// Type checking is `npm run typecheck` (tsc), run by scripts/test.mjs.
import { build } from 'esbuild';
import { readdirSync, statSync, mkdirSync, existsSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';

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
await Promise.all([
  build({
    ...common,
    entryPoints: [join(root, 'src/cli/main.ts')],
    bundle: true,
    splitting: true,
    outdir: join(root, 'dist/cli'),
    external: ['better-sqlite3'],
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
