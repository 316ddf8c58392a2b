// One received notification, from the policies' decision to its answer and its accounting: asks the
// policy set, answers CONTINUE, ERRNO and RETURN through the responder, runs the primitive an
// EMULATE names, contains the workload on a CONTAIN (or --default-action kill|freeze), fails the call
// closed when a policy or the host fails, then counts the notification by syscall and outcome, its
// latency (in the blocking loop the native side times it, receive to SEND: native/dataplane.cc; the
// polling loops time it here), and audits it. Every notification gets exactly one answer. Called by
// the receive loops (loops.ts) once per notification; nothing on the decide path allocates.
import { portableIdFor, portableName } from '../syscalls/tables.js';
import { native } from '../native.js';
import { Notif } from '../layouts.js';
import { TaintedThreadError } from '../errors.js';
import { ANSWERED } from '../emulate/contract.js';
import { containWorkload, pinCaller, planContainment, type ContainAction } from '../emulate/contain.js';
import type { CallerSnapshot } from '../caller/snapshot.js';
import type { WorkloadInfo } from '../caller/workload.js';
import { Outcome, Stat, type StatsWriter } from './stats.js';
import type { AuditWriter } from './audit.js';
import { FAIL_CLOSED, type LoadedPolicy, type PolicySet, type Verdict } from './policy-set.js';
import type { EmulationContext, PrimitiveImpl } from './primitives.js';
import { Containment, Decision, type DefaultAction } from './protocol.js';
import { NOT_REPLAYED, UndeliveredEmulations } from './undelivered.js';
import type { Responder } from './responder.js';
import type { Listener } from './listener.js';
import type { OutWrites } from './out-writes.js';

// `performance` is a lazily defined global in a worker: every lookup goes through a getter.
const performance = globalThis.performance;
const { TID, NR, ARCH, PORTABLE } = Notif;
const FLAG_CONTINUE = native.constants.SECCOMP_USER_NOTIF_FLAG_CONTINUE;
const ENOENT = 2;
const RECEIVED_NS_BYTE = native.constants.NOTIF_BYTE_RECEIVED_NS;

/**
 * CLOCK_MONOTONIC in ms (process.hrtime) minus performance.now(): both read libuv's hrtime, so this is
 * constant. Taken from the read-pair that is bracketed most tightly, with both warm (a first call of
 * either can take tens of µs).
 */
function monotonicOffsetMs(): number {
  let best = Infinity, offset = 0;
  for (let i = 0; i < 8; i++) {
    const before = performance.now();
    const mono = Number(process.hrtime.bigint()) / 1e6;
    const after = performance.now();
    if (after - before < best) { best = after - before; offset = mono - (before + after) / 2; }
  }
  return offset;
}

export interface HandlerParts {
  /** The buffer the loops receive each notification into (struct seccomp_notif + portable id), and as words. */
  notif: Uint8Array;
  words: Uint32Array;
  /** The listener (ID_VALID, to pin a caller before containing its workload). */
  listener: Listener;
  responder: Responder;
  policySet: PolicySet;
  /** Indexed by primitive id (createPrimitives). */
  primitives: readonly (PrimitiveImpl | undefined)[];
  caller: CallerSnapshot;
  /** The shared counters (Stat), of which this thread is the only writer, and their writer. */
  stats: Int32Array;
  statsWriter: StatsWriter;
  audit: AuditWriter | null;
  /** errno (positive) of a call failed closed. */
  failErrno: number;
  /** What a call no policy decides gets (--default-action). */
  defaultAction: DefaultAction;
  /** The workload as recorded at start (containment), or null. */
  workload: WorkloadInfo | null;
  warn(message: string): void;
  /** Test-only (test-faults.ts): runs before each notification is handled; null outside the reliability tests. */
  beforeHandle?: (() => void) | null;
  /** What the deciding policy staged with write_out (the same object its host functions stage into), or null. */
  outWrites?: OutWrites | null;
}

export class NotificationHandler {
  /** The set deciding from the next notification on: swapped between two notifications on a reload. */
  policySet: PolicySet;
  private readonly notif: Uint8Array;
  private readonly words: Uint32Array;
  private readonly responder: Responder;
  private readonly primitives: readonly (PrimitiveImpl | undefined)[];
  private readonly stats: Int32Array;
  private readonly statsWriter: StatsWriter;
  private readonly audit: AuditWriter | null;
  private readonly failErrno: number;
  private readonly failError: number;
  private readonly defaultAction: DefaultAction;
  private readonly workload: WorkloadInfo | null;
  /** ID_VALID of the notification in hand. */
  private readonly stillWaiting: () => boolean;
  private readonly warn: (message: string) => void;
  private readonly beforeHandle: (() => void) | null;
  private readonly outWrites: OutWrites | null;
  private readonly undelivered = new UndeliveredEmulations();
  private readonly emulation: EmulationContext;
  // What the notification in hand came to, for the stats and the audit log: set by the decision
  // paths, read once it is answered.
  private outcome: number = Outcome.noPolicy;
  private decidedBy: LoadedPolicy | null = null;
  /** The receive time the native data plane stamps into the notification buffer (CLOCK_MONOTONIC ns). */
  private readonly receivedNs: Float64Array;
  /** CLOCK_MONOTONIC in ms minus performance.now() (both are libuv's hrtime), for the audit log's times. */
  private readonly monotonicOffsetMs = monotonicOffsetMs();

  constructor(parts: HandlerParts) {
    this.notif = parts.notif;
    this.words = parts.words;
    this.responder = parts.responder;
    this.policySet = parts.policySet;
    this.primitives = parts.primitives;
    this.stats = parts.stats;
    this.statsWriter = parts.statsWriter;
    this.audit = parts.audit;
    this.failErrno = parts.failErrno;
    this.failError = -parts.failErrno;
    this.defaultAction = parts.defaultAction;
    this.workload = parts.workload;
    const { listener, notif } = parts;
    this.stillWaiting = () => listener.idValid(notif);
    this.warn = parts.warn;
    this.beforeHandle = parts.beforeHandle ?? null;
    this.outWrites = parts.outWrites ?? null;
    this.emulation = { notif: parts.notif, words: parts.words, portable: 0, policy: null!, caller: parts.caller };
    this.receivedNs = new Float64Array(parts.notif.buffer, parts.notif.byteOffset + RECEIVED_NS_BYTE, 1);
  }

  /** Handles the notification just received into `notif`, answering it exactly once. */
  serveReceived(): void {
    // The blocking loop's native calls time the notification themselves.
    const received = this.responder.calls === null ? performance.now() : 0;
    this.outcome = Outcome.noPolicy;
    this.decidedBy = null;
    this.responder.begin();
    if (this.outWrites !== null) this.outWrites.clear();
    if (this.audit !== null) this.audit.readComm(this.words[TID]!);
    try {
      if (this.beforeHandle !== null) this.beforeHandle();
      this.handle();
    } catch (e) {
      // This thread can no longer be trusted with anything (native/impersonate.cc): end it; the control
      // plane then closes the listener, and the kernel answers this call and every later one ENOSYS.
      if (e instanceof TaintedThreadError) throw e;
      // An exception in the host itself: the call still gets exactly one answer.
      this.failClosed(`internal error while handling a notification: ${(e as Error).stack ?? e}`);
    }
    if (!this.responder.answered) this.failClosed('internal error: nothing answered the notification');
    this.account(received);
  }

  // This thread is the counters' only writer: plain increments (the readers' Atomics.load sees whole
  // int32s) cost a fraction of an Atomics.add, which is a call into a builtin with a locked add.
  private count(i: number): void {
    this.stats[i] = this.stats[i]! + 1;
  }

  /** Decides the notification in hand and answers it. */
  private handle(): void {
    this.count(Stat.notifications);
    const words = this.words;
    const portable = portableIdFor(words[ARCH]!, words[NR]! | 0);
    words[PORTABLE] = portable;
    const v = this.policySet.ask(this.notif, words, portable);
    this.decidedBy = v.policy;
    const r = this.responder;
    switch (v.kind) {
      case Decision.CONTINUE: this.count(Stat.continued); this.outcome = Outcome.continued; r.answer(0, 0, 0, FLAG_CONTINUE); return;
      case Decision.ERRNO: this.count(Stat.errno); this.outcome = Outcome.errno; r.answer(0, 0, -v.valueLo, 0); return;
      case Decision.RETURN:
        if (this.outWrites !== null && this.outWrites.count > 0) return this.returnWithWrites(v);
        this.count(Stat.returned); this.outcome = Outcome.returned; r.answer(v.valueLo, v.valueHi, 0, 0); return;
      case Decision.EMULATE: this.outcome = Outcome.emulated; return this.emulate(v, portable);
      case Decision.CONTAIN:
        this.count(Stat.errno);
        return this.contain(v.primitive === Containment.KILL ? 'kill' : 'freeze', v.valueLo, `policy ${v.policy!.name}`);
      case FAIL_CLOSED:
        if (v.trapped) this.count(Stat.traps);
        if (v.outOfFuel) this.count(Stat.fuelExhausted);
        if (v.skippedNow) this.count(Stat.policiesSkipped);
        // Putting a policy aside is logged whatever the rate limit.
        return this.failClosed(v.reason, v.skippedNow ? null : v.policy);
      default: return this.undecided();
    }
  }

  /**
   * RETURN after the policy staged out-buffer writes (write_out): ID_VALID (the tid is still the
   * caller), the writes, ID_VALID again, then the value. A write that faults answers EFAULT, as the
   * kernel's copy_to_user would; a caller gone before the writes gets nothing written.
   */
  private returnWithWrites(v: Verdict): void {
    const r = this.responder;
    let result = this.stillWaiting() ? this.outWrites!.flush(this.words) : -ENOENT;
    if (result === 0 && !this.stillWaiting()) result = -ENOENT;
    this.outWrites!.clear();
    if (result === 0) { this.count(Stat.returned); this.outcome = Outcome.returned; r.answer(v.valueLo, v.valueHi, 0, 0); return; }
    // -ENOENT: the call is gone and the answer will find nothing waiting; it is still given, once.
    this.count(Stat.errno); this.outcome = Outcome.errno;
    r.answer(0, 0, result, 0);
  }

  /** A call no policy decided: --default-action. */
  private undecided(): void {
    this.count(Stat.noPolicy);
    this.outcome = Outcome.noPolicy;
    switch (this.defaultAction) {
      case 'continue': this.responder.answer(0, 0, 0, FLAG_CONTINUE); return;
      case 'fail': this.outcome = Outcome.errno; this.responder.answer(0, 0, this.failError, 0); return;
      default: this.contain(this.defaultAction, this.failErrno, '--default-action');
    }
  }

  /** Answers a re-issued call with what its withdrawn first issue was decided (undelivered.ts). */
  private answerReplayed(result: number): void {
    this.count(Stat.replayed);
    if (result >= 0) this.responder.respond(result, 0, 0, 0);
    else { this.outcome = Outcome.errno; this.responder.respond(0, 0, result, 0); }
  }

  /**
   * Fails the call in hand with `errno` (positive) and kills or freezes the workload. The caller is
   * pinned by a pidfd while its tid still names it; the slow part (scanning /proc and cgroupfs) is
   * done while it still waits, and the workload is contained before the answer, so the caller never
   * runs on. Freezing withdraws the pending call (the frozen thread re-issues it once thawed): then the
   * answer is remembered for that re-issue, which gets the errno without freezing the workload again.
   */
  private contain(action: ContainAction, errno: number, by: string): void {
    const words = this.words;
    const replayed = this.undelivered.replay(words);
    if (replayed !== NOT_REPLAYED) { this.answerReplayed(replayed); return; }
    this.count(action === 'kill' ? Stat.killed : Stat.frozen);
    this.outcome = Outcome.errno;
    const caller = pinCaller(words[TID]!, this.stillWaiting);
    try {
      const how = containWorkload(planContainment(action, this.workload, caller));
      if (!this.responder.respond(0, 0, -errno, 0) && action === 'freeze') this.undelivered.remember(words, -errno, Infinity);
      this.warn(`${by} asked to ${action} the workload (${portableName(words[PORTABLE]!) ?? `syscall ${words[NR]}`} by tid ${caller.tid}): ${how}`);
    } finally {
      if (caller.pidfd >= 0) native.close(caller.pidfd);
    }
  }

  private emulate(v: Verdict, portable: number): void {
    const impl = this.primitives[v.primitive];
    if (impl === undefined || !impl.syscalls.includes(portable)) {
      return this.failClosed(`policy ${v.policy!.name} asked for primitive ${v.primitive}, which does not apply to this call`);
    }
    const r = this.responder;
    // A call re-issued after a signal withdrew it, whose emulation was already done (undelivered.ts).
    const replayed = this.undelivered.replay(this.words);
    if (replayed !== NOT_REPLAYED) { this.answerReplayed(replayed); return; }
    const e = this.emulation;
    e.portable = portable;
    e.policy = v.policy!;
    const result = impl.run(e);
    this.count(result >= 0 || result === ANSWERED ? Stat.emulated : Stat.emulationFailed);
    if (result === ANSWERED) { r.answeredElsewhere(); return; }
    if (result >= 0) {
      if (!r.respond(result, 0, 0, 0)) this.undelivered.remember(this.words, result);
    } else r.respond(0, 0, result, 0);
  }

  private failClosed(reason: string, policy: LoadedPolicy | null = null): void {
    this.count(Stat.failedClosed);
    this.outcome = Outcome.failedClosed;
    this.warnRateLimited(policy, `${reason}; failing the call closed`);
    this.responder.answer(0, 0, this.failError, 0);
  }

  /** A failing policy's log line, at most one a second per policy, with a count of those held back. */
  private warnRateLimited(policy: LoadedPolicy | null, message: string): void {
    if (policy === null) { this.warn(message); return; }
    const now = performance.now();
    if (now - policy.lastLogMs < 1000) { policy.suppressedLogs++; return; }
    const held = policy.suppressedLogs;
    policy.lastLogMs = now;
    policy.suppressedLogs = 0;
    this.warn(held > 0 ? `${message} (${held} similar messages about policy ${policy.name} held back)` : message);
  }

  /**
   * Counts the notification just answered by syscall and outcome, its latency, and audits it.
   * `received`: performance.now() at its receive, in the polling loops. In the blocking loop the native
   * side counts the latency when it sends the answer (now, or with the next receive); an answer given
   * another way (an emulation's ADDFD with SEND, a helper's CONTINUE) is counted here.
   */
  private account(received: number): void {
    const r = this.responder;
    const portable = this.words[PORTABLE]!;
    let ns = 0;
    if (r.calls === null) {
      ns = (performance.now() - received) * 1e6;
      this.statsWriter.latency(ns);
    } else if (!r.pending) {
      r.calls.answered();
    }
    this.statsWriter.outcome(portable, this.outcome);
    if (this.audit !== null) {
      if (r.calls !== null) {
        // The native receive time; the latency is to the answer being ready (a deferred one is sent
        // with the next receive, after this record is written).
        received = this.receivedNs[0]! / 1e6 - this.monotonicOffsetMs;
        ns = (performance.now() - received) * 1e6;
      }
      this.audit.write(this.words, portable, this.decidedBy === null ? -1 : this.decidedBy.slot, this.outcome, -r.error, r.valueLo, r.valueHi,
        performance.timeOrigin + received, ns);
    }
  }
}
