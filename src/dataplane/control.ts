// The control plane's handle on one data-plane worker (one listener): starts it, relays its logs,
// hands it new policy sets, stops it. Used by `wasmsup run` (one listener) and by the OCI agent (one
// per container).
import { Worker } from 'node:worker_threads';
import { native } from '../native.js';
import type { PolicyInfo } from '../policy/load.js';
import { log, type LogLevel } from '../log.js';
import { newStatsBuffer, statsReport, POLICY_SLOTS, type StatsReport } from './stats.js';
import type { AuditRing } from './audit.js';
import { INTERRUPT_ATTENTION, INTERRUPT_TID, INTERRUPT_WORDS, type ControlMessage, type DataPlaneConfig, type ListenerAttachment, type WorkerMessage } from './protocol.js';

export interface DataPlaneOptions extends Partial<ListenerAttachment> {
  policies: PolicyInfo[];
  /** Socket to the privileged helper (one per data plane: a helper serves one thread), or -1. */
  helperFd: number;
  failErrno: number;
  syncWakeUp: boolean;
  /** Prefixed to the worker's log lines, e.g. a container id. */
  label?: string;
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
  // The listener, once attached: given to the constructor, or later to attach() when the worker is
  // started before the workload is launched, so that its start-up (tens of ms) overlaps the launch.
  private listenerFd = -1;
  private listenerOpen = false;
  private attached = false;
  private ended = false;
  /** The worker has posted 'ready': it serves the listener and notices a hang-up itself. */
  private serving = false;
  private settle!: (reason: 'hangup' | 'stopped' | 'failed') => void;
  private generation = 0;
  private readonly pendingReloads = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  // Stats slots by policy name, never reused: a policy keeps its row across reloads, and an audit
  // record written before a reload still names the right policy.
  private readonly slotByName = new Map<string, number>();
  private readonly slotNames: string[] = [];

  constructor(private readonly opts: DataPlaneOptions) {
    this.wakeFd = native.eventfd();
    if (opts.listenerFd !== undefined) {
      this.listenerFd = opts.listenerFd;
      this.listenerOpen = this.attached = true;
    }
    const config: DataPlaneConfig = {
      listenerFd: this.listenerFd,
      wakeFd: this.wakeFd,
      interrupt: this.interrupt.buffer as SharedArrayBuffer,
      helperFd: opts.helperFd,
      policies: opts.policies,
      workloadUsernsInode: opts.workloadUsernsInode ?? 0,
      supervisorUsernsInode: native.nsInode(process.pid, 'user'),
      failErrno: opts.failErrno,
      syncWakeUp: opts.syncWakeUp,
      stats: this.stats,
      policySlots: this.slotsFor(opts.policies),
      maxTraps: opts.maxTraps,
      audit: opts.audit ?? null,
      workload: opts.workload ?? null,
    };
    // The worker's stdout and stderr are forwarded by hand rather than piped up front: the pipe makes
    // Node create process.stdout and process.stderr at once, milliseconds of every start-up, while
    // the worker logs through messages and prints only if something goes badly wrong.
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: config, stdout: true, stderr: true });
    this.worker.stdout.on('data', (chunk: Buffer) => process.stdout.write(chunk));
    this.worker.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    const prefix = opts.label ? `${opts.label}: ` : '';
    this.finished = new Promise((resolve) => {
      this.settle = resolve;
      this.worker.on('message', (m: WorkerMessage) => {
        switch (m.type) {
          case 'ready': this.serving = true; break;
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

  /**
   * Hands the worker the listener of the workload just launched, when the constructor had none.
   * If the worker has already failed, the listener is closed at once: nobody would answer.
   */
  attach(attachment: ListenerAttachment): void {
    if (this.attached) throw new Error('DataPlane.attach: a listener is already attached');
    this.attached = true;
    this.listenerFd = attachment.listenerFd;
    if (this.ended) { native.close(attachment.listenerFd); return; }
    this.listenerOpen = true;
    this.send({ type: 'attach', ...attachment });
    // The worker waits for it on the attention word (worker.ts, waitForListener).
    Atomics.notify(this.interrupt, INTERRUPT_ATTENTION);
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

  /**
   * Finishes at once, without waiting for a worker still starting up (a thread with its own isolate:
   * tens of ms), when no task uses the filter any more and nothing is pending: there is nothing left
   * for it to answer. For a workload that ends before its data plane is up (`wasmsup run -- true`),
   * so that exiting does not wait for the start. Otherwise the worker notices the hang-up itself.
   */
  finishIfHungUp(): void {
    if (this.serving || !this.listenerOpen) return;
    // Bit 1: a notification is pending; bit 2: hung up (no task uses the filter, and none can again).
    if ((native.pollListener(this.listenerFd, -1, 0) & 3) === 2) this.settle('hangup');
  }

  /** Asks the worker to stop after the notification in hand, and waits for it. */
  async stop(): Promise<void> {
    if (!this.attached) this.settle('stopped');
    else if (this.listenerOpen) this.send({ type: 'stop' });
    await this.finished;
  }

  /**
   * Stops the worker after the notification in hand, like stop(), but hands the listener back to the
   * caller instead of closing it (the OCI agent passing its containers to its successor): calls
   * trapped from then on wait in the kernel for the next reader. True when the caller now owns the
   * fd; false when the listener had hung up or the worker failed, and the fd is closed as usual.
   */
  async detach(): Promise<boolean> {
    if (!this.attached) this.settle('stopped');
    else if (this.listenerOpen) this.send({ type: 'stop' });
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
      native.close(this.listenerFd);
    }
  }

  private async release(): Promise<void> {
    this.ended = true;
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
