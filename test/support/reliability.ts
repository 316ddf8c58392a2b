// What the reliability tests (test/reliability-*.test.ts) share: the probe workload, a supervisor
// started with its output read line by line as it comes (to act at a point of the workload's run),
// and readings of the supervisor's memory and open fds from /proc.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, WASMSUP, tempDir, type Result } from './wasmsup.js';

export const NS_ROOT = 100000;

let probePath: string | null = null;
/** test/probe/reliability-probe.c, built statically once per test process. */
export function reliabilityProbe(): string {
  if (probePath && existsSync(probePath)) return probePath;
  const dir = join(ROOT, 'build', 'test-bin');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, 'reliability-probe');
  execFileSync('gcc', ['-O1', '-Wall', '-static', '-pthread', '-o', out, join(ROOT, 'test', 'probe', 'reliability-probe.c')]);
  probePath = out;
  return out;
}

/** A temporary directory owned by the user namespace's root, as a container's rootfs would be. */
export function nsOwnedDir(): { path: string; cleanup: () => void } {
  const t = tempDir('wasmsup-reliability-');
  chmodSync(t.path, 0o755);
  chownSync(t.path, NS_ROOT, NS_ROOT);
  return t;
}

/** The environment of the test with WASMSUP_TEST_FAULTS (src/dataplane/test-faults.ts) set or removed. */
export function faultEnv(faults: string | null): NodeJS.ProcessEnv {
  const env = { ...process.env };
  if (faults === null) delete env.WASMSUP_TEST_FAULTS;
  else env.WASMSUP_TEST_FAULTS = faults;
  return env;
}

export interface Supervised {
  child: ChildProcess;
  pid: number;
  /** Resolves with the first stdout line matching `re` (lines already seen count). */
  line(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Writes a line to the supervisor's stdin, which the workload inherits. */
  send(text: string): void;
  /** Settles when the supervisor exited and every holder of its stdout/stderr closed them. */
  done: Promise<Result>;
}

/** Starts `wasmsup ARGS` with piped stdio; kills it (by pid) if it outlives `timeoutMs`. */
export function startWasmsup(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Supervised {
  const child = spawn(WASMSUP, [...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const hit = stdout.split('\n').find((l) => w.re.test(l));
      if (hit !== undefined) { waiters.splice(waiters.indexOf(w), 1); w.resolve(hit); }
    }
  };
  child.stdout!.on('data', (d) => { stdout += d; check(); });
  child.stderr!.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<Result>((resolve) => {
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
  return {
    child,
    pid: child.pid!,
    done,
    send: (text) => { child.stdin!.write(text + '\n'); },
    line: (re, ms = 30_000) => new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no line matching ${re} in ${ms} ms\nstdout: ${stdout}\nstderr: ${stderr}`)), ms);
      waiters.push({ re, resolve: (l) => { clearTimeout(t); resolve(l); } });
      check();
    }),
  };
}

/** VmRSS of `pid` in KiB. */
export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** How many fds `pid` has open. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** The counters the supervisor prints at exit with --log-level debug ("workload finished ..."). */
export function finalStats(stderr: string): Record<string, number> {
  const line = stderr.split('\n').find((l) => l.includes('workload finished'));
  if (!line) throw new Error(`no "workload finished" line in:\n${stderr}`);
  return Object.fromEntries([...line.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
}

/** Whether a process exists (not yet reaped), by pid. */
export function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}
