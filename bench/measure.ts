// How one bench row is measured: each sample is one run of a process (the workload, under whatever
// supervises it) whose first line of output is the figure. Nothing here knows what the rows mean.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, watch } from 'node:fs';
import { createConnection } from 'node:net';
import { basename, dirname } from 'node:path';
import { performance } from 'node:perf_hooks';

export interface Sample {
  /** The first number the command printed (ns per call, ns per pair), or its wall time in ms. */
  value: number;
  /** The second number it printed, if any (calls per second). */
  second?: number;
}

const TIMEOUT_MS = 120_000;

/** Runs argv to completion; the numbers of its first output line. Throws with its stderr on failure. */
export function runForNumbers(argv: string[]): Sample {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw new Error(`${argv.join(' ')}: ${r.error.message}`);
  const numbers = (r.stdout.split('\n')[0] ?? '').trim().split(/\s+/).map(Number);
  if (r.status !== 0 || numbers.length === 0 || !Number.isFinite(numbers[0])) {
    throw new Error(`${argv.join(' ')} failed (status ${r.status}): ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return { value: numbers[0]!, second: numbers[1] };
}

/** Wall time of argv, start to exit, in ms. */
export function runForWallTime(argv: string[]): Sample {
  const start = performance.now();
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = performance.now() - start;
  if (r.error || r.status !== 0) throw new Error(`${argv.join(' ')} failed (status ${r.status}): ${r.error?.message ?? r.stderr.trim()}`);
  return { value: ms };
}

/**
 * Peak RSS (VmHWM, MiB) of the process argv starts, read while the workload it supervises waits: the
 * workload prints "ready" and exits when its stdin (inherited from the supervisor) closes.
 */
export function peakRssMiB(argv: string[]): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '', peak = NaN;
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${argv.join(' ')}: no "ready" in time`)); }, TIMEOUT_MS);
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => {
      stdout += d;
      if (Number.isNaN(peak) && stdout.includes('ready')) {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        peak = m ? Number(m[1]) / 1024 : NaN;
        child.stdin.end();
      }
    });
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0 || Number.isNaN(peak)) reject(new Error(`${argv.join(' ')} failed (status ${code}): ${stderr.trim()}`));
      else resolve({ value: peak });
    });
  });
}

export interface Summary {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

export function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, samples };
}

/**
 * Ms from spawning argv until `socketPath` accepts a connection: the moment its file appears (the
 * agent listens before it renames the socket into place) is taken from inotify, so that no polling
 * loop competes with the start-up it measures; a connection then confirms it. The process is killed.
 */
export function msUntilConnectable(argv: string[], socketPath: string): Promise<Sample> {
  const dir = dirname(socketPath), name = basename(socketPath);
  rmSync(socketPath, { force: true }); // the last sample's agent was killed: a first start, not a stale-socket one
  return new Promise((resolve, reject) => {
    let done = false;
    const watcher = watch(dir);
    const start = performance.now();
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const finish = (result: Sample | Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      watcher.close();
      child.kill('SIGKILL');
      child.on('close', () => (result instanceof Error ? reject(result) : resolve(result)));
    };
    const timer = setTimeout(() => finish(new Error(`${argv.join(' ')}: ${socketPath} not connectable in time: ${stderr.trim()}`)), TIMEOUT_MS);
    watcher.on('change', (_event, file) => {
      if (file !== name || done) return;
      const ms = performance.now() - start;
      const conn = createConnection(socketPath);
      conn.on('connect', () => { conn.destroy(); finish({ value: ms }); });
      conn.on('error', () => { /* not yet: the next event */ });
    });
    child.on('exit', (code) => finish(new Error(`${argv.join(' ')} exited (status ${code}) before ${socketPath} was connectable: ${stderr.trim()}`)));
  });
}
