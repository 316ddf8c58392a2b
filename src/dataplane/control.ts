// The control plane's handle on one listener's data plane: starts it, relays its logs, hands it new
// policy sets, stops it. Used by `wasmsup run` (one listener, served by a worker thread of its own)
// and by the OCI agent (one per container, served on one of the agent's shared data-plane threads,
// threads.ts: `threads` in the options).
//
// `wasmsup run`'s is started lazily: until the listener first has a notification pending, the main thread only watches
// it (native.watchReadable, a one-shot libuv poll) and no worker thread or privileged helper exists.
// A workload that never makes an intercepted call (`wasmsup run -- true`) never pays for them, and
// the process need not tear a half-started worker down to exit (docs/performance.md, start-up).
import type { Worker } from 'node:worker_threads';
import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { native, type FdWatch } from '../native.js';
import type { PolicyInfo } from '../policy/load.js';
import { log, type LogLevel } from '../log.js';
import type { PrivilegedHelper } from '../emulate/helper-client.js';
import { newStatsBuffer, statsReport, POLICY_SLOTS, Stat, type StatsReport } from './stats.js';
import type { AuditRing } from './audit.js';
import type { DataPlaneThreads, ThreadSlot } from './threads.js';
import { INTERRUPT_ATTENTION, INTERRUPT_TID, INTERRUPT_WORDS, type ControlMessage, type DataPlaneConfig, type DefaultAction, type ListenerAttachment, type WorkerMessage } from './protocol.js';

// node:worker_threads and the helper's client are loaded when the first worker starts, not with
// this module: each module is about a millisecond of every start-up.
const require = createRequire(import.meta.url);

export interface DataPlaneOptions extends ListenerAttachment {
  policies: PolicyInfo[];
  /**
   * Start a privileged helper (native/helper.c) with the worker, for the emulations; only root can
   * use one. The data plane owns it (one per data plane: a helper serves one thread).
   */
  privilegedHelper: boolean;
  failErrno: number;
  syncWakeUp: boolean;
  /** Prefixed to the worker's log lines, e.g. a container id. */
  label?: string;
  /** Traps in a row before a policy is skipped until the next reload (default 5; 0 = never). Fuel is a load option. */
  maxTraps?: number;
  /** --max-lend (DataPlaneConfig.maxLend). */
  maxLend?: number;
  /** Ring the worker writes one audit record per decision into (drained by an AuditLog), if auditing. */
  audit?: AuditRing;
  /** What a call no policy decides gets (--default-action, or a container's own). */
  defaultAction?: DefaultAction;
  /**
   * Serve the listener on one of these shared threads (the OCI agent), at once, rather than on a
   * worker of its own started with the first notification; `privilegedHelper` and `syncWakeUp` are
   * then the threads'.
   */
  threads?: DataPlaneThreads;
}

type Reason = 'hangup' | 'stopped' | 'failed';

export class DataPlane {
  readonly stats = newStatsBuffer();
  /** Settles once the listener hung up (no task uses the filter any more) or the worker stopped or died. */
  readonly finished: Promise<Reason>;
  private readonly listenerFd: number;
  private readonly prefix: string;
  // Until the first notification: the watch; from then on the worker and, if asked for, the helper.
  private watch: FdWatch | null = null;
  private worker: Worker | null = null;
  // Or, on a shared thread (opts.threads), the listener's place there.
  private slot: ThreadSlot | null = null;
  private starting = false;
  private helper: { helper: PrivilegedHelper; process: ChildProcess } | null = null;
  private wakeFd = -1;
  // Shared with the worker: how to interrupt it while it blocks in RECV (protocol.ts, worker.ts).
  private readonly interrupt = new Int32Array(new SharedArrayBuffer(INTERRUPT_WORDS * 4));
  private interruptTimer: NodeJS.Timeout | null = null;
  private listenerOpen = true;
  private ended = false;
  /** detach() was asked for: on 'stopped' the listener goes back to the caller instead of being closed. */
  private keepListener = false;
  private handedBack = false;
  /** The worker has posted 'ready': it serves the listener and notices a hang-up itself. */
  private serving = false;
  private settle!: (reason: Reason) => void;
  // The set the worker starts with: the latest one, when reloads came before the first notification.
  private policies: PolicyInfo[];
  private policySlots: number[];
  private generation = 0;
  private readonly pendingReloads = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  // Stats slots by policy name, never reused: a policy keeps its row across reloads, and an audit
  // record written before a reload still names the right policy.
  private readonly slotByName = new Map<string, number>();
  private readonly slotNames: string[] = [];

  constructor(private readonly opts: DataPlaneOptions) {
    this.listenerFd = opts.listenerFd;
    this.prefix = opts.label ? `${opts.label}: ` : '';
    this.policies = opts.policies;
    this.policySlots = this.slotsFor(opts.policies);
    this.finished = new Promise((resolve) => { this.settle = resolve; });
    if (opts.threads) {
      this.attachToThread(opts.threads);
      return;
    }
    try {
      this.watch = native.watchReadable(this.listenerFd, (events) => this.onListenerEvent(events));
    } catch (e) {
      // E.g. this event loop already watches the fd: serve it at once rather than not at all.
      log('debug', `${this.prefix}cannot watch the listener (${(e as Error).message}); starting the data plane now`);
      this.start();
    }
  }

  /** The watch's one event: a notification is pending (start), or no task uses the filter any more. */
  private onListenerEvent(events: number): void {
    this.watch = null;
    if (this.ended) return;
    if (events & 1) this.start();
    else this.finish('hangup');
  }

  /**
   * Starts the helper and the worker, with the latest policy set. If either cannot start, nobody
   * would answer: the listener is closed, so the kernel fails the workload's intercepted calls
   * with ENOSYS instead of leaving them hung. Until the worker exists the data plane counts as not
   * started: a stop, detach or hang-up meanwhile ends it, and the start is dropped.
   */
  private start(): void {
    if (this.ended || this.starting) return;
    this.starting = true;
    const helperClient = this.opts.privilegedHelper ? import('../emulate/helper-client.js') : Promise.resolve(null);
    helperClient.then((client) => this.startWorker(client?.PrivilegedHelper ?? null), (e: Error) => this.failToStart(e));
  }

  /**
   * Has a shared thread serve the listener from now on: its policies are instantiated there at once,
   * so the container's first call finds them ready. If no thread can take it, the listener is closed
   * (the kernel fails the workload's intercepted calls with ENOSYS) as when a worker cannot start.
   */
  private attachToThread(threads: DataPlaneThreads): void {
    const opts = this.opts;
    try {
      this.slot = threads.attach({
        listenerFd: this.listenerFd,
        policies: this.policies,
        policySlots: this.policySlots,
        workloadUsernsInode: opts.workloadUsernsInode,
        failErrno: opts.failErrno,
        stats: this.stats,
        maxTraps: opts.maxTraps,
        audit: opts.audit ?? null,
        workload: opts.workload ?? null,
        defaultAction: opts.defaultAction ?? 'continue',
        maxLend: opts.maxLend,
      }, {
        message: (m) => this.onMessage(m),
        failed: (reason) => this.onFailure(reason),
      });
    } catch (e) {
      this.failToStart(e as Error);
    }
  }

  /** A message of the worker, or of the shared thread about this listener. */
  private onMessage(m: WorkerMessage): void {
    switch (m.type) {
      case 'ready': this.serving = true; break;
      case 'log': log(m.level as LogLevel, this.prefix + m.message); break;
      case 'done': this.finish(m.reason); break;
      case 'reloaded': this.pendingReloads.get(m.generation)?.resolve(); this.pendingReloads.delete(m.generation); break;
      case 'reload-failed':
        this.pendingReloads.get(m.generation)?.reject(new Error(m.reason));
        this.pendingReloads.delete(m.generation);
        break;
    }
  }

  /**
   * The data plane failed (`reason`, one line). Without it nobody answers: closing the listener makes
   * the kernel fail every pending and future intercepted call with ENOSYS instead of leaving the
   * workload hung.
   */
  private onFailure(reason: string): void {
    if (this.ended) return;
    log('error', `${this.prefix}data plane failed: ${reason}; intercepted calls now fail with ENOSYS`);
    this.closeListener();
    this.finish('failed');
  }

  private failToStart(e: Error): void {
    if (this.ended) return;
    log('error', `${this.prefix}cannot start the data plane: ${e.message}; intercepted calls now fail with ENOSYS`);
    this.closeListener();
    this.finish('failed');
  }

  private startWorker(Helper: typeof PrivilegedHelper | null): void {
    if (this.ended) return;
    const opts = this.opts;
    let worker: Worker;
    try {
      if (Helper !== null) this.helper = Helper.start();
      this.wakeFd = native.eventfd();
      const config: DataPlaneConfig = {
        listenerFd: this.listenerFd,
        wakeFd: this.wakeFd,
        interrupt: this.interrupt.buffer as SharedArrayBuffer,
        helperFd: this.helper ? this.helper.helper.socketFd : -1,
        helperPidfd: this.helper ? this.helper.helper.pidfd : -1,
        policies: this.policies,
        workloadUsernsInode: opts.workloadUsernsInode,
        supervisorUsernsInode: native.nsInode(process.pid, 'user'),
        failErrno: opts.failErrno,
        syncWakeUp: opts.syncWakeUp,
        stats: this.stats,
        policySlots: this.policySlots,
        maxTraps: opts.maxTraps,
        maxLend: opts.maxLend,
        audit: opts.audit ?? null,
        workload: opts.workload ?? null,
        defaultAction: opts.defaultAction ?? 'continue',
      };
      const { Worker } = require('node:worker_threads') as typeof import('node:worker_threads');
      // The worker's stdout and stderr are forwarded by hand rather than piped up front: the pipe makes
      // Node create process.stdout and process.stderr at once, milliseconds of every start-up, while
      // the worker logs through messages and prints only if something goes badly wrong.
      worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: config, stdout: true, stderr: true });
    } catch (e) {
      this.failToStart(e as Error);
      return;
    }
    this.worker = worker;
    log('debug', `${this.prefix}data plane started (a notification is pending)`);
    worker.stdout.on('data', (chunk: Buffer) => process.stdout.write(chunk));
    worker.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    worker.on('message', (m: WorkerMessage) => this.onMessage(m));
    worker.on('error', (e) => {
      // One line; where in the worker it failed is for debugging.
      this.onFailure(e.message.split('\n')[0]!);
      if (e.stack) log('debug', `${this.prefix}${e.stack}`);
    });
    worker.on('exit', () => this.finish('failed'));
    // A worker blocked in RECV is signalled until it has taken its control messages (a signal that
    // lands just before it enters the ioctl is lost), and once a second regardless, so that it also
    // notices a hang-up on a kernel whose RECV would not return by itself. Unref'd: it never keeps
    // the process alive.
    this.interruptTimer = setInterval(() => this.interruptWorker(), 1000).unref();
  }

  /** Settles `finished` (first reason wins) and releases everything; on a detach, hands the listener back. */
  private finish(reason: Reason): void {
    if (this.ended) return;
    this.ended = true;
    this.watch?.cancel();
    this.watch = null;
    if (reason === 'stopped' && this.keepListener && this.listenerOpen) {
      this.listenerOpen = false;
      this.handedBack = true;
    }
    this.settle(reason);
    void this.release();
  }

  private send(message: ControlMessage): void {
    if (this.slot !== null) { this.slot.send(message); return; }
    if (this.worker === null) return;
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
    if (this.ended) return Promise.reject(new Error('the data plane has finished'));
    if (this.worker === null && this.slot === null) {
      // Not started yet: the worker will start with this set. The control plane has instantiated
      // it already (PolicyDirectory), so there is nothing here that could still fail.
      this.policies = policies;
      this.policySlots = this.slotsFor(policies);
      const stats = new Int32Array(this.stats);
      Atomics.add(stats, Stat.reloads, 1);
      return Promise.resolve();
    }
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
  /** True once this data plane has finished (its listener hung up, or it was stopped). */
  get isFinished(): boolean { return this.ended; }

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
   * for it to answer. For a workload that ends before its data plane is up, so that exiting does
   * not wait for the start (or, not started, for the watch's next loop turn). Otherwise the worker
   * notices the hang-up itself.
   */
  finishIfHungUp(): void {
    if (this.ended || this.serving || !this.listenerOpen) return;
    // Bit 1: a notification is pending; bit 2: hung up (no task uses the filter, and none can again).
    if ((native.pollListener(this.listenerFd, -1, 0) & 3) === 2) this.finish('hangup');
  }

  /** Asks the worker to stop after the notification in hand, and waits for it. */
  async stop(): Promise<void> {
    this.requestStop();
    await this.finished;
  }

  /**
   * Stops the worker after the notification in hand, like stop(), but hands the listener back to the
   * caller instead of closing it (the OCI agent passing its containers to its successor): calls
   * trapped from then on wait in the kernel for the next reader. True when the caller now owns the
   * fd; false when the listener had hung up or the worker failed, and the fd is closed as usual.
   * Before the first notification nothing has been received: the fd goes back as it came.
   */
  async detach(): Promise<boolean> {
    this.keepListener = true;
    this.requestStop();
    await this.finished;
    return this.handedBack;
  }

  private requestStop(): void {
    if (this.ended) return;
    if (this.worker === null && this.slot === null) this.finish('stopped');
    else if (this.listenerOpen) this.send({ type: 'stop' });
  }

  private closeListener(): void {
    this.watch?.cancel();
    this.watch = null;
    if (this.listenerOpen) {
      this.listenerOpen = false;
      native.close(this.listenerFd);
    }
  }

  private async release(): Promise<void> {
    if (this.interruptTimer !== null) clearInterval(this.interruptTimer);
    // Not to be signalled any more: the tid may be reused by another thread once the worker is gone.
    Atomics.store(this.interrupt, INTERRUPT_TID, 0);
    // A shared thread has let go of the listener before it said 'done' (or has failed).
    this.slot?.release();
    if (this.worker !== null) await this.worker.terminate();
    this.closeListener();
    if (this.wakeFd >= 0) native.close(this.wakeFd);
    if (this.helper !== null) {
      // The helper exits when its socket closes; it must not keep this process alive meanwhile.
      this.helper.helper.close();
      this.helper.helper.closePidfd();
      this.helper.process.unref();
    }
    for (const { reject } of this.pendingReloads.values()) reject(new Error('the data plane has finished'));
    this.pendingReloads.clear();
  }
}
