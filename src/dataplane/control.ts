// The control plane's handle on one data-plane worker (one listener): starts it, relays its logs,
// hands it new policy sets, stops it. Used by `wasmsup run` (one listener) and by the OCI agent (one
// per container).
import { Worker } from 'node:worker_threads';
import { native } from '../native.js';
import type { PolicyInfo } from '../policy/load.js';
import { log, type LogLevel } from '../log.js';
import { newStatsBuffer, statsReport, POLICY_SLOTS, type StatsReport } from './stats.js';
import type { AuditRing } from './audit.js';
import { INTERRUPT_ATTENTION, INTERRUPT_TID, INTERRUPT_WORDS, type ControlMessage, type DataPlaneConfig, type WorkerMessage } from './protocol.js';
import type { WorkloadInfo } from '../emulate/workload.js';

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
  /** The workload as recorded at start (src/emulate/workload.ts), for the BPF and SYSINFO emulations. */
  workload?: WorkloadInfo | null;
  /** Traps in a row before a policy is skipped until the next reload (default 5; 0 = never). Fuel is a load option. */
  maxTraps?: number;
  /** Ring the worker writes one audit record per decision into (drained by an AuditLog), if auditing. */
  audit?: AuditRing;
}

export class DataPlane {
  readonly stats = newStatsBuffer();
  /** Settles once the listener hung up (no task uses the filter any more) or the worker stopped or died. */
  readonly finished: Promise<'hangup' | 'stopped' | 'failed'>;
  private readonly worker: Worker;
  private readonly wakeFd: number;
  // Shared with the worker: how to interrupt it while it blocks in RECV (protocol.ts, worker.ts).
  private readonly interrupt = new Int32Array(new SharedArrayBuffer(INTERRUPT_WORDS * 4));
  private readonly interruptTimer: NodeJS.Timeout;
  private listenerOpen = true;
  private generation = 0;
  private readonly pendingReloads = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  // Stats slots by policy name, never reused: a policy keeps its row across reloads, and an audit
  // record written before a reload still names the right policy.
  private readonly slotByName = new Map<string, number>();
  private readonly slotNames: string[] = [];

  constructor(private readonly opts: DataPlaneOptions) {
    this.wakeFd = native.eventfd();
    const config: DataPlaneConfig = {
      listenerFd: opts.listenerFd,
      wakeFd: this.wakeFd,
      interrupt: this.interrupt.buffer as SharedArrayBuffer,
      helperFd: opts.helperFd,
      policies: opts.policies,
      workloadUsernsInode: opts.workloadUsernsInode,
      supervisorUsernsInode: native.nsInode(process.pid, 'user'),
      failErrno: opts.failErrno,
      syncWakeUp: opts.syncWakeUp,
      stats: this.stats,
      policySlots: this.slotsFor(opts.policies),
      maxTraps: opts.maxTraps,
      audit: opts.audit ?? null,
      workload: opts.workload ?? null,
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
    // A worker blocked in RECV is signalled until it has taken its control messages (a signal that
    // lands just before it enters the ioctl is lost), and once a second regardless, so that it also
    // notices a hang-up on a kernel whose RECV would not return by itself. Unref'd: it never keeps
    // the process alive.
    this.interruptTimer = setInterval(() => this.interruptWorker(), 1000).unref();
    void this.finished.then(() => this.release());
  }

  private send(message: ControlMessage): void {
    this.worker.postMessage(message);
    native.eventfdWrite(this.wakeFd, 1);
    Atomics.store(this.interrupt, INTERRUPT_ATTENTION, 1);
    this.interruptWorker();
  }

  private interruptWorker(): void {
    const tid = Atomics.load(this.interrupt, INTERRUPT_TID);
    if (tid <= 0) return;
    try { native.interruptThread(tid); } catch { return; /* the worker thread has ended */ }
    if (Atomics.load(this.interrupt, INTERRUPT_ATTENTION) !== 0) {
      setTimeout(() => { if (Atomics.load(this.interrupt, INTERRUPT_ATTENTION) !== 0) this.interruptWorker(); }, 5).unref();
    }
  }

  /** Swaps in a new policy set between two notifications; rejects (old set stays) if it fails to instantiate. */
  reload(policies: PolicyInfo[]): Promise<void> {
    const generation = ++this.generation;
    return new Promise((resolve, reject) => {
      this.pendingReloads.set(generation, { resolve, reject });
      this.send({ type: 'reload', generation, policies, slots: this.slotsFor(policies) });
    });
  }

  private slotsFor(policies: readonly PolicyInfo[]): number[] {
    return policies.map((p) => {
      let slot = this.slotByName.get(p.name);
      if (slot === undefined) {
        slot = Math.min(this.slotNames.length, POLICY_SLOTS - 1);
        if (slot < POLICY_SLOTS - 1) { this.slotByName.set(p.name, slot); this.slotNames.push(p.name); }
      }
      return slot;
    });
  }

  /** Policy names by stats slot (for statsReport and the audit log). */
  get policyNames(): readonly string[] {
    return this.slotNames;
  }

  /** Everything counted so far: totals, per syscall, per policy, latency. */
  report(): StatsReport {
    return statsReport(this.stats, this.slotNames);
  }

  /** Asks the worker to stop after the notification in hand, and waits for it. */
  async stop(): Promise<void> {
    if (this.listenerOpen) this.send({ type: 'stop' });
    await this.finished;
  }

  /**
   * Stops the worker after the notification in hand, like stop(), but hands the listener back to the
   * caller instead of closing it (the OCI agent passing its containers to its successor): calls
   * trapped from then on wait in the kernel for the next reader. True when the caller now owns the
   * fd; false when the listener had hung up or the worker failed, and the fd is closed as usual.
   */
  async detach(): Promise<boolean> {
    if (this.listenerOpen) this.send({ type: 'stop' });
    const reason = await this.finished;
    // release() runs after this continuation (it awaits the worker's termination first), so the
    // listener is still open here and marking it closed keeps release() from closing it.
    if (reason !== 'stopped' || !this.listenerOpen) return false;
    this.listenerOpen = false;
    return true;
  }

  private closeListener(): void {
    if (this.listenerOpen) {
      this.listenerOpen = false;
      native.close(this.opts.listenerFd);
    }
  }

  private async release(): Promise<void> {
    clearInterval(this.interruptTimer);
    // Not to be signalled any more: the tid may be reused by another thread once the worker is gone.
    Atomics.store(this.interrupt, INTERRUPT_TID, 0);
    await this.worker.terminate();
    this.closeListener();
    native.close(this.wakeFd);
    for (const { reject } of this.pendingReloads.values()) reject(new Error('the data plane has finished'));
    this.pendingReloads.clear();
  }
}
