#!/usr/bin/env node
// `npm run build:policies` (after tsc): builds every AssemblyScript policy of the package with
// `wasmsup build` (dist/src/policy/build.js):
//   policies/*.ts               -> build/policies/NAME.wasm
//   bench/policies/*.ts         -> build/bench/NAME.wasm
//   test/fixtures/policies/*.ts -> build/test-policies/NAME.wasm
// Stops at the first failure with its reason and exit status 1.
import { existsSync, readdirSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const builder = join(root, 'dist', 'src', 'policy', 'build.js');
const groups = [
  ['policies', 'build/policies'],
  ['bench/policies', 'build/bench'],
  ['test/fixtures/policies', 'build/test-policies'],
];

if (!existsSync(builder)) {
  console.error(`build-policies: ${relative(root, builder)} is missing: run "npm run build:ts" first`);
  process.exit(1);
}
const { buildPolicy } = await import(pathToFileURL(builder).href);

let built = 0;
for (const [sourceDir, outDir] of groups) {
  const dir = join(root, sourceDir);
  if (!existsSync(dir)) continue;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).sort()) {
    const src = join(sourceDir, file);
    const out = join(outDir, `${basename(file, '.ts')}.wasm`);
    try {
      await buildPolicy(join(root, src), join(root, out));
    } catch (e) {
      console.error(e instanceof Error ? e.message : String(e));
      process.exit(1);
    }
    console.log(`built ${src} -> ${out}`);
    built++;
  }
}
console.log(`build-policies: ${built} policies built`);
