#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) in its own Node process, so a test that
// supervises real workloads cannot leave state (signal handlers, children, fds) behind for the next,
// and prints one closing line "N passed, N failed" that CI reads. uvu's own summary is per process,
// so we add the per-file totals up here rather than ask uvu for a global one.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const testDir = join(root, 'dist', 'test');
const perFileTimeoutMs = Number(process.env.WASMSUP_TEST_TIMEOUT_MS ?? 600_000);
const filter = process.argv.slice(2);

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

function runFile(file) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
    let out = '';
    child.stdout.on('data', (d) => { out += d; process.stdout.write(d); });
    child.stderr.on('data', (d) => process.stderr.write(d));
    const timer = setTimeout(() => {
      process.stderr.write(`\n${relative(root, file)}: timed out after ${perFileTimeoutMs} ms, killing pid ${child.pid}\n`);
      child.kill('SIGKILL');
    }, perFileTimeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const num = (label) => { const m = out.match(new RegExp(`${label}:\\s+(\\d+)`)); return m ? Number(m[1]) : null; };
      const total = num('Total'), passed = num('Passed'), skipped = num('Skipped') ?? 0;
      resolve({ file, code, signal, total, passed, skipped });
    });
  });
}

// bin/wasmsup runs dist/bundle (scripts/bundle.js), made from dist/src: after a bare `tsc -p .` it
// would be older than what the tests import directly, and the tests would run two different trees.
function newestMtime(dir) {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    newest = Math.max(newest, st.isDirectory() ? newestMtime(p) : name.endsWith('.js') ? st.mtimeMs : 0);
  }
  return newest;
}
function bundleIsStale() {
  try {
    return statSync(join(root, 'dist', 'bundle', 'main.js')).mtimeMs < newestMtime(join(root, 'dist', 'src'));
  } catch {
    return true;
  }
}
if (existsSync(join(root, 'dist', 'src')) && bundleIsStale()) {
  console.error('dist/bundle is older than dist/src: bundling (node scripts/bundle.js)');
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'bundle.js')], { stdio: 'inherit' });
  if (r.status !== 0) { console.log('0 passed, 1 failed'); process.exit(1); }
}

let files;
try { files = findTests(testDir); } catch { files = []; }
// SUBSTR matches the path below dist/test only: a checkout whose own path holds it must not select everything.
if (filter.length) files = files.filter((f) => filter.some((s) => relative(testDir, f).includes(s)));
if (files.length === 0) {
  console.error(`no compiled tests under ${relative(root, testDir) || testDir}: run "npm run build" first`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

let passed = 0, failed = 0, skipped = 0;
for (const file of files) {
  const r = await runFile(file);
  const name = relative(root, file);
  if (r.total === null || r.passed === null) {
    // The file crashed before uvu could print its summary: count it as one failure.
    console.log(`\n${name}: no uvu summary (exit ${r.code ?? r.signal}); counted as 1 failed`);
    failed += 1;
    continue;
  }
  passed += r.passed;
  skipped += r.skipped;
  const fileFailed = r.total - r.passed - r.skipped;
  failed += fileFailed;
  if (fileFailed === 0 && r.code !== 0) {
    console.log(`\n${name}: exit ${r.code ?? r.signal} after its tests passed; counted as 1 failed`);
    failed += 1;
  }
}
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed === 0 ? 0 : 1);
