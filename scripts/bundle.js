// Bundles what `bin/wasmsup` runs (dist/src, compiled by tsc) into dist/bundle: the CLI's entry and
// the entry of each worker thread, one file apiece. Why: Node 20's ES module loader
// costs about a millisecond per module whatever its size, and has no compile cache (Node 22.1's
// module.enableCompileCache); the data-plane worker alone loads ~50 modules, all on the way to a
// workload's first intercepted call (docs/performance.md, "Start-up"). esbuild rather than a
// hand-written concatenation: it keeps ES module semantics (evaluation order, live bindings, and the
// dynamic imports that keep rarely used parts out of `run`'s start-up: evaluated on their import()).
//
// Layout contract: dist/bundle is two levels below the package root, like dist/src, so the paths the
// code derives from import.meta.url (src/package-root.ts) are the same bundled or not; the workers'
// entries keep their file names, so `new URL('./worker.js', import.meta.url)` finds them beside the
// file that starts them. Packages in node_modules stay outside (resolved at run time as before).
// Tests import dist/src directly; every test that runs bin/wasmsup runs the bundle.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const ENTRIES = [
  'dist/src/main.js',
  'dist/src/dataplane/worker.js',
  'dist/src/dataplane/multiplex-worker.js',
  'dist/src/oci/accept-worker.js',
  'dist/src/policy/interest-sandbox.js',
];
export const OUT_DIR = 'dist/bundle';

export async function bundle() {
  rmSync(`${root}${OUT_DIR}`, { recursive: true, force: true });
  const { metafile } = await build({
    absWorkingDir: root,
    entryPoints: ENTRIES,
    outdir: OUT_DIR,
    entryNames: '[name]',
    bundle: true,
    // One file per entry. With chunks (code splitting) `run`'s start-up still loaded 13 modules: a chunk
    // for each combination of the lazily imported parts. Without them a lazily imported module stays
    // lazy (esbuild evaluates it on its import()), and is only scanned with the rest of the file.
    splitting: false,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    // Function and class names stay what the sources call them (log lines and stacks say them).
    keepNames: true,
    legalComments: 'none',
    // Less for V8 to scan; names are kept, so a stack trace still reads.
    minifyWhitespace: true,
    metafile: true,
    logLevel: 'warning',
  });
  // Without chunks, a top-level import of a package is hoisted to the top of the file, and then loaded
  // by every start-up however lazily its importer is: packages are imported where they are used
  // (assemblyscript in policy/build.ts) or required (prom-client in metrics/exposition.ts).
  for (const [file, output] of Object.entries(metafile.outputs)) {
    const hoisted = output.imports.filter((i) => i.external && i.kind === 'import-statement' && !i.path.startsWith('node:'));
    if (hoisted.length > 0) throw new Error(`bundle: ${file} would load ${hoisted.map((i) => i.path).join(', ')} at start-up`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await bundle();
