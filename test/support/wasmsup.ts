// Running the real `bin/wasmsup` from tests, and the small things those tests share.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, mkdirSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const WASMSUP = join(ROOT, 'bin', 'wasmsup');
export const POLICY = (name: string) => join(ROOT, 'build', 'policies', `${name}.wasm`);
export const TEST_POLICY = (name: string) => join(ROOT, 'build', 'test-policies', `${name}.wasm`);

export interface Result { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

export interface RunOptions {
  timeoutMs?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** A command the supervisor is started through, e.g. setpriv to drop privileges. */
  prefix?: string[];
  /** Called once the supervisor process exists (e.g. to send it a signal). */
  onSpawn?: (pid: number) => void;
}

export function runWasmsup(args: string[], opts: RunOptions = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const argv = [...(opts.prefix ?? []), WASMSUP, ...args];
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd ?? ROOT,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`wasmsup ${args.join(' ')} did not finish in ${opts.timeoutMs ?? 30000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 30000);
    child.on('spawn', () => opts.onSpawn?.(child.pid!));
    child.on('error', reject);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

/** A fresh temporary directory, removed by the returned cleanup function. */
export function tempDir(prefix = 'wasmsup-test-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

let probePath: string | null = null;
/** The mknod probe (test/probe/mknod-probe.c), built statically once per test process. */
export function mknodProbe(): string {
  if (probePath && existsSync(probePath)) return probePath;
  const dir = join(ROOT, 'build', 'test-bin');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, 'mknod-probe');
  execFileSync('gcc', ['-O1', '-Wall', '-static', '-o', out, join(ROOT, 'test', 'probe', 'mknod-probe.c')]);
  probePath = out;
  return out;
}

const builtProbes = new Map<string, string>();
/** test/probe/NAME.c built statically with gcc once per test process; the executable's path. */
export function buildProbe(name: string): string {
  const known = builtProbes.get(name);
  if (known && existsSync(known)) return known;
  const dir = join(ROOT, 'build', 'test-bin');
  mkdirSync(dir, { recursive: true });
  // Built under a per-process name and renamed into place, so parallel test processes never run a
  // half-written file.
  const out = join(dir, name), partial = `${out}.${process.pid}`;
  execFileSync('gcc', ['-O1', '-Wall', '-static', '-o', partial, join(ROOT, 'test', 'probe', `${name}.c`)]);
  renameSync(partial, out);
  builtProbes.set(name, out);
  return out;
}
