// One container's (or `wasmsup run`'s) serving context on a data-plane thread: its listener, its
// notification buffer, responder, host functions, policy set, primitives, handler, stats and audit
// writers. A thread serves one (worker.ts, `wasmsup run`) or many (multiplex-worker.ts, the OCI agent)
// of them; whatever one container's calls change (its policies' instances and their memory, an
// emulator's fds or BPF programs, its counters) stays in its own ServedListener. What a thread
// shares between them is only what is the same for every caller: the privileged helper (each of its
// requests carries the caller's root, cwd, user namespace and credentials; native/helper.h), the
// callers' /proc status files (caller/status-files.ts, kept per task), and the test faults.
import { NOTIF_BUFFER_BYTES } from '../layouts.js';
import { CallerSnapshot } from '../caller/snapshot.js';
import type { PrivilegedHelper } from '../emulate/helper-client.js';
import type { LogLevel } from '../log.js';
import { CredsBlockWriter } from './creds-block.js';
import { FdInspector } from './fd-info.js';
import { HostFunctions } from './host-functions.js';
import { OutWrites } from './out-writes.js';
import { OutBufferTable } from './out-buffers.js';
import { Stat, StatsWriter } from './stats.js';
import { AuditWriter } from './audit.js';
import { PolicySet } from './policy-set.js';
import { createPrimitives, type PrimitiveImpl } from './primitives.js';
import type { DataPlaneConfig } from './protocol.js';
import { nativeListener, type Listener } from './listener.js';
import { Responder } from './responder.js';
import { NotificationHandler } from './handler.js';
import { delayedSend, throwEveryNth, type TestFaults } from './test-faults.js';

/** What one listener is served with (the per-listener part of a worker's DataPlaneConfig). */
export type ServedListenerConfig = Pick<DataPlaneConfig,
  'listenerFd' | 'policies' | 'policySlots' | 'workloadUsernsInode' | 'failErrno' | 'stats' | 'maxTraps' | 'audit' | 'workload' | 'defaultAction'
  | 'maxLend'>;

/** What the thread serving it shares between its listeners. */
export interface ThreadShared {
  /** The thread's privileged helper, or null when unprivileged. One thread at a time uses it: this one. */
  helper: PrivilegedHelper | null;
  /** The supervisor's own user namespace (nsfs inode), for the credentials block. */
  supervisorUsernsInode: number;
  /** Test-only (test-faults.ts); null outside the reliability tests. */
  faults: TestFaults | null;
}

export class ServedListener {
  readonly listenerFd: number;
  readonly listener: Listener;
  /** The buffer notifications are received into (struct seccomp_notif + portable id), and as words. */
  readonly notif = new Uint8Array(NOTIF_BUFFER_BYTES);
  readonly words = new Uint32Array(this.notif.buffer);
  /** Its counters (Stat), of which the serving thread is the only writer. */
  readonly stats: Int32Array;
  readonly responder: Responder;
  readonly handler: NotificationHandler;
  private readonly host: HostFunctions;
  private readonly statsWriter: StatsWriter;
  private readonly credsBlock: CredsBlockWriter;
  private readonly primitives: (PrimitiveImpl | undefined)[];
  private readonly maxTraps: number | undefined;
  private disposed = false;

  /**
   * `log`: a line about this listener (the control plane prefixes it with the container's name).
   * Throws when its policies cannot be instantiated; nothing is left open then.
   */
  constructor(config: ServedListenerConfig, shared: ThreadShared, log: (level: LogLevel, message: string) => void) {
    const warn = (message: string) => log('warn', message);
    const warned = new Set<string>();
    const warnOnce = (message: string) => { if (!warned.has(message)) { warned.add(message); warn(message); } };
    const faults = shared.faults;
    this.listenerFd = config.listenerFd;
    const plain = nativeListener(config.listenerFd);
    this.listener = faults ? { ...plain, send: delayedSend(faults, plain.send) } : plain;
    this.stats = new Int32Array(config.stats);
    this.statsWriter = new StatsWriter(config.stats);
    this.maxTraps = config.maxTraps;
    const caller = new CallerSnapshot();
    this.credsBlock = new CredsBlockWriter(config.workloadUsernsInode, shared.supervisorUsernsInode);
    const outWrites = new OutWrites(new OutBufferTable());
    this.host = new HostFunctions(this.listener, this.notif, this.words, caller, this.credsBlock, new FdInspector(config.listenerFd), log, outWrites);
    let policySet: PolicySet;
    try {
      policySet = this.newPolicySet(config.policies, config.policySlots);
    } catch (e) {
      this.credsBlock.close();
      throw e;
    }
    this.primitives = createPrimitives({
      helper: shared.helper, listenerFd: config.listenerFd, warn: warnOnce, faults,
      workloadUsernsInode: config.workloadUsernsInode, workload: config.workload ?? null,
      maxLend: config.maxLend,
    });
    this.responder = new Responder(this.listener, this.words, this.stats, warn);
    this.handler = new NotificationHandler({
      notif: this.notif, words: this.words, listener: this.listener, responder: this.responder, policySet, primitives: this.primitives, caller,
      stats: this.stats, statsWriter: this.statsWriter, audit: config.audit ? new AuditWriter(config.audit, this.statsWriter) : null,
      failErrno: config.failErrno, defaultAction: config.defaultAction ?? 'continue', workload: config.workload ?? null,
      warn, beforeHandle: faults ? throwEveryNth(faults) : null, outWrites,
    });
  }

  private newPolicySet(policies: DataPlaneConfig['policies'], slots: number[] | undefined): PolicySet {
    return new PolicySet(policies, this.host, { maxTraps: this.maxTraps, slots, stats: this.statsWriter });
  }

  /**
   * Swaps in a new policy set, between two notifications: the one before was answered by the old
   * set, the next one will be by the new one, and none sees a mixture. Throws (the old set stays)
   * when the new one cannot be instantiated.
   */
  reload(policies: DataPlaneConfig['policies'], slots: number[] | undefined): void {
    this.handler.policySet = this.newPolicySet(policies, slots);
    this.stats[Stat.reloads] = this.stats[Stat.reloads]! + 1;
  }

  /** Releases the fds its primitives and credentials block keep (they are the process's, not the thread's). Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const primitive of this.primitives) primitive?.dispose?.();
    this.credsBlock.close();
  }
}
