// The host's layers point one way. Every module of src/ belongs to one layer; a module may import
// modules of its own layer and of the layers below it, never above, nor of a sibling on its own level.
// Every import counts: static, `import type`, re-exports and dynamic `import()`. docs/architecture.md
// ("Layers") draws the same order and says what each layer is for.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ts = require('typescript') as typeof import('typescript');

const src = fileURLToPath(new URL('../../../src/', import.meta.url));

/**
 * Bottom first. A level holds one layer or several siblings; an entry ending in '/' is a directory of
 * src/, any other a file of it.
 */
const LAYERS: readonly (readonly { layer: string; modules: readonly string[] }[])[] = [
  // Shared by all: layouts, error classes, the log, where the package's files are, the syscall tables. They import nothing of ours.
  [{ layer: 'foundation', modules: ['layouts.ts', 'errors.ts', 'log.ts', 'package-root.ts', 'syscalls/'] }],
  // The typed face of the C/C++ shim: one function per syscall or ioctl.
  [{ layer: 'native', modules: ['native.ts'] }],
  // The caller and its workload as the host sees them: credentials, fds, the notification's snapshot.
  [{ layer: 'caller', modules: ['caller/'] }],
  // What the host does for a caller, as the caller would have: never sees a policy.
  [{ layer: 'emulate', modules: ['emulate/'] }],
  // Interest into classic BPF; policies loaded, checked, built and instantiated.
  [{ layer: 'filter', modules: ['filter/'] }],
  [{ layer: 'policy', modules: ['policy/'] }],
  // Receive → decide → answer, and the control plane's handle on it.
  [{ layer: 'dataplane', modules: ['dataplane/'] }],
  // What a supervisor runs beside its data planes.
  [{ layer: 'services', modules: ['launch.ts', 'signals.ts', 'lifecycle.ts', 'metrics/'] }],
  // The two supervisors, which know nothing of each other.
  [{ layer: 'run', modules: ['run.ts', 'remaining.ts'] }, { layer: 'oci', modules: ['oci/'] }],
  [{ layer: 'cli', modules: ['cli.ts', 'main.ts'] }],
];

interface Placed { layer: string; level: number }

function place(module: string): Placed | null {
  for (let level = 0; level < LAYERS.length; level++) {
    for (const { layer, modules } of LAYERS[level]!) {
      if (modules.some((m) => (m.endsWith('/') ? module.startsWith(m) : module === m))) return { layer, level };
    }
  }
  return null;
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The src/-relative modules `file` imports (relative specifiers only; `.js` as written for NodeNext). */
function importsOf(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return importedFiles
    .map((f) => f.fileName)
    .filter((name) => name.startsWith('.'))
    .map((name) => posix.normalize(relative(src, join(dirname(file), name))).replace(/\.js$/, '.ts'));
}

const files = sources(src);

test('every module of src/ is in a layer', () => {
  const unplaced = files.map((f) => relative(src, f)).filter((m) => place(m) === null);
  assert.equal(unplaced, [], `not in any layer of test/unit/layers.test.ts: ${unplaced.join(', ')}`);
});

test('imports point down the layers, or stay in their own', () => {
  const wrong: string[] = [];
  for (const file of files) {
    const from = relative(src, file);
    const a = place(from);
    if (a === null) continue;
    for (const to of importsOf(file)) {
      const b = place(to);
      if (b === null) { wrong.push(`${from} → ${to} (outside src/ or in no layer)`); continue; }
      if (b.layer === a.layer || b.level < a.level) continue;
      wrong.push(`${from} (${a.layer}) → ${to} (${b.layer}, ${b.level === a.level ? 'a sibling' : 'above'})`);
    }
  }
  assert.equal(wrong, [], `imports against the layers:\n  ${wrong.join('\n  ')}`);
});

test('the check sees every kind of import', () => {
  // Guards the parser, not the code: a check that found no imports would pass anything.
  const probe = ts.preProcessFile(`import type { A } from './a.js';\nexport { b } from './b.js';\nconst c = await import('./c.js');\nimport './d.js';`, true, true);
  assert.equal(probe.importedFiles.map((f) => f.fileName), ['./a.js', './b.js', './c.js', './d.js']);
  assert.ok(files.length > 50, `only ${files.length} modules found under ${src}`);
  assert.ok(importsOf(join(src, 'dataplane', 'served-listener.ts')).includes('dataplane/handler.ts'));
});

test.run();
