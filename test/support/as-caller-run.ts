// Runs as-caller calls on a worker thread of their own (as-caller-worker.ts), as the data plane does:
// the credential switch is per thread, and the test's own thread must never take it.
import { Worker } from 'node:worker_threads';
import type { AsCallerCall, AsCallerReport } from './as-caller-worker.js';

/** Runs the calls on a new worker thread; resolves with its report once the thread has ended. */
export function onWorker(calls: AsCallerCall[]): Promise<AsCallerReport> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./as-caller-worker.js', import.meta.url), { workerData: calls });
    let report: AsCallerReport | null = null;
    w.once('message', (m: AsCallerReport) => { report = m; });
    w.once('error', reject);
    w.once('exit', () => (report ? resolve(report) : reject(new Error('the worker ended without a report'))));
  });
}
