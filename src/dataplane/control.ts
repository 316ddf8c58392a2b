// The control plane's handle on one data-plane worker (one listener): starts it, relays its logs,
// hands it new policy sets, stops it. Used by `wasmsup run` (one listener) and by the OCI agent (one
// per container).
import { Worker } from 'node:worker_threads';
import { native } from '../native.js';
import type { PolicyInfo } from '../policy/load.js';
import { log, type LogLevel } from '../log.js';
import { newStatsBuffer } from './stats.js';
import type { ControlMessage, DataPlaneConfig, WorkerMessage } from './protocol.js';

export interface DataPlaneOptions {
  listenerFd: number;
  policies: PolicyInfo[];
  workloadUsernsInode: number;
  /** Socket to the privileged helper (one per data plane: a helper serves one thread), or -1. */
  helperFd: number;
  failErrno: number;
  syncWakeUp: boolean;
  /** Prefixed to the worker's log lines, e.g. a container id. */
  label?: string;
}

export class DataPlane {
  readonly stats = newStatsBuffer();
  /** Settles once the listener hung up (no task uses the filter any more) or the worker stopped or died. */
  readonly finished: Promise<'hangup' | 'stopped' | 'failed'>;
  private readonly worker: Worker;
  private readonly wakeFd: number;
  private listenerOpen = true;
  private generation = 0;
  private readonly pendingReloads = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

  constructor(private readonly opts: DataPlaneOptions) {
    this.wakeFd = native.eventfd();
    const config: DataPlaneConfig = {
      listenerFd: opts.listenerFd,
      wakeFd: this.wakeFd,
      helperFd: opts.helperFd,
      policies: opts.policies,
      workloadUsernsInode: opts.workloadUsernsInode,
      supervisorUsernsInode: native.nsInode(process.pid, 'user'),
      failErrno: opts.failErrno,
      syncWakeUp: opts.syncWakeUp,
      stats: this.stats,
    };
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: config });
    const prefix = opts.label ? `${opts.label}: ` : '';
    this.finished = new Promise((resolve) => {
      this.worker.on('message', (m: WorkerMessage) => {
        switch (m.type) {
          case 'log': log(m.level as LogLevel, prefix + m.message); break;
          case 'done': resolve(m.reason); break;
          case 'reloaded': this.pendingReloads.get(m.generation)?.resolve(); this.pendingReloads.delete(m.generation); break;
          case 'reload-failed':
            this.pendingReloads.get(m.generation)?.reject(new Error(m.reason));
            this.pendingReloads.delete(m.generation);
            break;
        }
      });
      this.worker.on('error', (e) => {
        // Without a data plane nobody answers: closing the listener makes the kernel fail every
        // pending and future intercepted call with ENOSYS instead of leaving the workload hung.
        log('error', `${prefix}data plane failed: ${e.stack ?? e.message}; intercepted calls now fail with ENOSYS`);
        this.closeListener();
        resolve('failed');
      });
      this.worker.on('exit', () => resolve('failed'));
    });
    void this.finished.then(() => this.release());
  }

  private send(message: ControlMessage): void {
    this.worker.postMessage(message);
    native.eventfdWrite(this.wakeFd, 1);
  }

  /** Swaps in a new policy set between two notifications; rejects (old set stays) if it fails to instantiate. */
  reload(policies: PolicyInfo[]): Promise<void> {
    const generation = ++this.generation;
    return new Promise((resolve, reject) => {
      this.pendingReloads.set(generation, { resolve, reject });
      this.send({ type: 'reload', generation, policies });
    });
  }

  /** Asks the worker to stop after the notification in hand, and waits for it. */
  async stop(): Promise<void> {
    if (this.listenerOpen) this.send({ type: 'stop' });
    await this.finished;
  }

  private closeListener(): void {
    if (this.listenerOpen) {
      this.listenerOpen = false;
      native.close(this.opts.listenerFd);
    }
  }

  private async release(): Promise<void> {
    await this.worker.terminate();
    this.closeListener();
    native.close(this.wakeFd);
    for (const { reject } of this.pendingReloads.values()) reject(new Error('the data plane has finished'));
    this.pendingReloads.clear();
  }
}
