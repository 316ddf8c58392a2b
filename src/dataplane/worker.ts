// The data plane: one worker thread per listener running receive → decide → respond synchronously.
// The loop never yields to the event loop between notifications; control messages (reload, stop)
// are picked up synchronously with receiveMessageOnPort when the control plane writes the wake
// eventfd, which the loop polls together with the listener, or, where the thread blocks in RECV
// itself (serveBlocking), when the control plane interrupts it with a signal. So a notification's
// cost is two ioctls (a poll more in the polling loop) and the policy call — in the blocking loop
// one native call, notifSendRecv, answers a decision and receives the next notification — and
// nothing in the loop allocates on the common path.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { native } from '../native.js';
import { portableIdFor, portableName } from '../syscalls/tables.js';
import type { HostContext } from '../policy/instance.js';
import { PrivilegedHelper } from '../emulate/helper-client.js';
import { TaintedThreadError } from '../emulate/mknod.js';
import { containWorkload, pinCaller, planContainment, type ContainAction } from '../emulate/contain.js';
import { statusFiles } from './status-files.js';
import { CallerCreds } from './caller.js';
import { FdInspector } from './fd-info.js';
import { Outcome, Stat, StatsWriter } from './stats.js';
import { AuditWriter } from './audit.js';
import { PolicySet, FAIL_CLOSED, type LoadedPolicy, type Verdict } from './policy-set.js';
import { ANSWERED, createPrimitives, type EmulationContext } from './primitives.js';
import { Containment, Decision, INTERRUPT_ATTENTION, INTERRUPT_TID, type ControlMessage, type DataPlaneConfig, type WorkerMessage } from './protocol.js';
import { NOT_REPLAYED, UndeliveredEmulations } from './undelivered.js';
import { delayedSend, parseTestFaults, throwingHandler } from './test-faults.js';

const config = workerData as DataPlaneConfig;
// `performance` is a lazily defined global in a worker: every lookup goes through a getter.
const performance = globalThis.performance;
const port = parentPort!;
const post = (m: WorkerMessage) => port.postMessage(m);
const stats = new Int32Array(config.stats);
// This thread is the counters' only writer: plain increments (the readers' Atomics.load sees whole
// int32s) cost a fraction of an Atomics.add, which is a call into a builtin with a locked add.
const count = (i: number) => { stats[i] = stats[i]! + 1; };
const statsWriter = new StatsWriter(config.stats);
const audit = config.audit ? new AuditWriter(config.audit, statsWriter) : null;
const warned = new Set<string>();
const warn = (message: string) => post({ type: 'log', level: 'warn', message });
const warnOnce = (message: string) => { if (!warned.has(message)) { warned.add(message); warn(message); } };

const listenerFd = config.listenerFd;
const notif = new Uint8Array(128);
const words = new Uint32Array(notif.buffer);
const response = new Uint8Array(24);
const responseWords = new Int32Array(response.buffer);
const FLAG_CONTINUE = native.constants.SECCOMP_USER_NOTIF_FLAG_CONTINUE;
// Test-only (src/dataplane/test-faults.ts): unset outside the reliability tests, and then the loop
// uses the plain functions below.
const faults = parseTestFaults(process.env.WASMSUP_TEST_FAULTS);
if (faults) warn(`WASMSUP_TEST_FAULTS is set: injecting faults for testing (${process.env.WASMSUP_TEST_FAULTS})`);
const notifSend = faults ? delayedSend(faults, native.notifSend) : native.notifSend;
const undelivered = new UndeliveredEmulations();
const TID = 2, NR = 4, ARCH = 5, PORTABLE = 20;

const callerCreds = new CallerCreds(config.workloadUsernsInode, config.supervisorUsernsInode);
const helper = config.helperFd >= 0 ? new PrivilegedHelper(config.helperFd, config.helperPidfd) : null;
const fdInspector = new FdInspector(listenerFd);
// The notification whose caller's credentials callerCreds last read and confirmed (ID_VALID): an
// emulation for that same notification uses them instead of parsing /proc/TID/status again.
let credsNotifLo = 0, credsNotifHi = 0, credsConfirmed = false;
const confirmedCreds = (w: Uint32Array) =>
  credsConfirmed && w[0] === credsNotifLo && w[1] === credsNotifHi ? callerCreds.lastRaw : null;
const primitives = createPrimitives({ helper, listenerFd, warn: warnOnce, faults, workloadUsernsInode: config.workloadUsernsInode, workload: config.workload ?? null, confirmedCreds });

// Host functions of the policy ABI. They act on the notification being decided, and check after
// every read of the caller's state that the notification is still valid: otherwise the tid may
// already name another process and what was read must not be used.
const host: HostContext = {
  readMemory(addrLo, addrHi, dst, len) {
    try {
      const n = native.readMemory(words[TID]!, addrLo, addrHi, dst, len);
      return native.notifIdValid(listenerFd, notif) ? n : -2;
    } catch (e) { return -((e as NodeJS.ErrnoException).errno ?? 14); }
  },
  readString(addrLo, addrHi, dst, cap) {
    try {
      const n = native.readString(words[TID]!, addrLo, addrHi, dst, cap);
      return native.notifIdValid(listenerFd, notif) ? n : -2;
    } catch (e) { return -((e as NodeJS.ErrnoException).errno ?? 14); }
  },
  callerCreds(dst) {
    credsConfirmed = false;
    const r = callerCreds.fill(words[TID]!, dst);
    if (r !== 0) return r;
    if (!native.notifIdValid(listenerFd, notif)) return -2;
    credsNotifLo = words[0]!; credsNotifHi = words[1]!; credsConfirmed = true;
    return 0;
  },
  fdInfo(fd, dst, path, pathCap) {
    return fdInspector.inspect(notif, words[TID]!, fd, dst, path, pathCap);
  },
  log(level, message) {
    post({ type: 'log', level: (['debug', 'info', 'warn', 'error'] as const)[level] ?? 'info', message });
  },
};

const newPolicySet = (policies: DataPlaneConfig['policies'], slots: number[] | undefined) =>
  new PolicySet(policies, host, { maxTraps: config.maxTraps, slots, stats: statsWriter });
let policySet = newPolicySet(config.policies, config.policySlots);

// What the notification in hand came to, for the stats and the audit log: set by respond() and the
// decision paths, read once it is answered.
let outcome: number = Outcome.noPolicy;
let answeredErrno = 0, answeredLo = 0, answeredHi = 0;
let decidedBy: LoadedPolicy | null = null;

/** A failing policy's log line, at most one a second per policy, with a count of those held back. */
function warnRateLimited(policy: LoadedPolicy | null, message: string): void {
  if (policy === null) { warn(message); return; }
  const now = performance.now();
  if (now - policy.lastLogMs < 1000) { policy.suppressedLogs++; return; }
  const held = policy.suppressedLogs;
  policy.lastLogMs = now;
  policy.suppressedLogs = 0;
  warn(held > 0 ? `${message} (${held} similar messages about policy ${policy.name} held back)` : message);
}

const emulation: EmulationContext = {
  listenerFd, notif, words, portable: 0, policy: null!, helper, warn: warnOnce,
};

// In the blocking loop a decision's answer is not sent at once: the loop's next notifSendRecv sends
// it and blocks for the next notification in one N-API crossing (serveBlocking). Emulations still
// answer at once (they need to know whether the answer arrived), and so does the loop whenever it is
// not about to receive: before control messages, and so before stopping.
let deferAnswers = false;
let answerPending = false;
const ENOENT = native.errnoNumber('ENOENT'), EINTR = native.errnoNumber('EINTR');

function fillResponse(valueLo: number, valueHi: number, errno: number, flags: number): void {
  // id is the first 8 bytes of the notification: two word copies.
  responseWords[0] = words[0]!;
  responseWords[1] = words[1]!;
  responseWords[2] = valueLo;
  responseWords[3] = valueHi;
  responseWords[4] = errno === 0 ? 0 : -errno;
  responseWords[5] = flags;
  answeredErrno = errno; answeredLo = valueLo; answeredHi = valueHi;
}

/**
 * A failed SEND: ENOENT (the caller was interrupted by a signal or is gone) is normal and counted.
 * Anything else is a bug worth a log line, but the loop goes on.
 */
function answerFailed(errno: number): void {
  if (errno === ENOENT) count(Stat.sendEnoent);
  else warn(`answering notification failed: ioctl(SECCOMP_IOCTL_NOTIF_SEND): ${native.errnoName(errno)}`);
}

/** Answers the notification in hand now, or leaves it to the blocking loop's notifSendRecv. */
function answer(valueLo: number, valueHi: number, errno: number, flags: number): void {
  if (!deferAnswers) { respond(valueLo, valueHi, errno, flags); return; }
  fillResponse(valueLo, valueHi, errno, flags);
  answerPending = true;
}

/** Sends a deferred answer, if there is one. */
function flushAnswer(): void {
  if (!answerPending) return;
  answerPending = false;
  sendResponse();
}

/** Answers the notification in hand; false when the kernel no longer waits for it (ENOENT). */
function respond(valueLo: number, valueHi: number, errno: number, flags: number): boolean {
  answerPending = false;
  fillResponse(valueLo, valueHi, errno, flags);
  return sendResponse();
}

/** Sends `response`; false when the kernel no longer waits for it (ENOENT). */
function sendResponse(): boolean {
  try {
    notifSend(listenerFd, response);
    return true;
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException).errno;
    if (typeof errno !== 'number') { warn(`answering notification failed: ${(e as Error).message}`); return true; }
    answerFailed(errno);
    return errno !== ENOENT;
  }
}

function failClosed(reason: string, policy: LoadedPolicy | null = null): void {
  count(Stat.failedClosed);
  outcome = Outcome.failedClosed;
  warnRateLimited(policy, `${reason}; failing the call closed`);
  answer(0, 0, config.failErrno, 0);
}

function emulate(v: Verdict, portable: number): void {
  const impl = primitives[v.primitive];
  if (impl === undefined || !impl.syscalls.includes(portable)) {
    return failClosed(`policy ${v.policy!.name} asked for primitive ${v.primitive}, which does not apply to this call`);
  }
  // A call re-issued after a signal withdrew it, whose emulation was already done (undelivered.ts).
  const replayed = undelivered.replay(words);
  if (replayed !== NOT_REPLAYED) { answerReplayed(replayed); return; }
  emulation.portable = portable;
  emulation.policy = v.policy!;
  const result = impl.run(emulation);
  count(result >= 0 || result === ANSWERED ? Stat.emulated : Stat.emulationFailed);
  if (result === ANSWERED) return;
  if (result >= 0) {
    if (!respond(result, 0, 0, 0)) undelivered.remember(words, result);
  } else respond(0, 0, -result, 0);
}

const defaultAction = config.defaultAction ?? 'continue';
const stillWaiting = () => native.notifIdValid(listenerFd, notif);

/** Answers a re-issued call with what its withdrawn first issue was decided (undelivered.ts). */
function answerReplayed(result: number): void {
  count(Stat.replayed);
  if (result >= 0) respond(result, 0, 0, 0);
  else { outcome = Outcome.errno; respond(0, 0, -result, 0); }
}

/**
 * Fails the call in hand with `errno` and kills or freezes the workload. The caller is pinned by a
 * pidfd while its tid still names it; the slow part (scanning /proc and cgroupfs) is done while it
 * still waits, and the workload is contained before the answer, so the caller never runs on. Freezing
 * withdraws the pending call (the frozen thread re-issues it once thawed): then the answer is
 * remembered for that re-issue, which gets the errno without freezing the workload again.
 */
function contain(action: ContainAction, errno: number, by: string): void {
  const replayed = undelivered.replay(words);
  if (replayed !== NOT_REPLAYED) { answerReplayed(replayed); return; }
  count(action === 'kill' ? Stat.killed : Stat.frozen);
  outcome = Outcome.errno;
  const caller = pinCaller(words[TID]!, stillWaiting);
  try {
    const how = containWorkload(planContainment(action, config.workload ?? null, caller));
    if (!respond(0, 0, errno, 0) && action === 'freeze') undelivered.remember(words, -errno, Infinity);
    post({ type: 'log', level: 'warn', message: `${by} asked to ${action} the workload (${portableName(words[PORTABLE]!) ?? `syscall ${words[NR]}`} by tid ${caller.tid}): ${how}` });
  } finally {
    if (caller.pidfd >= 0) native.close(caller.pidfd);
  }
}

/** A call no policy decided: --default-action. */
function undecided(): void {
  count(Stat.noPolicy);
  outcome = Outcome.noPolicy;
  switch (defaultAction) {
    case 'continue': answer(0, 0, 0, FLAG_CONTINUE); return;
    case 'fail': outcome = Outcome.errno; answer(0, 0, config.failErrno, 0); return;
    default: contain(defaultAction, config.failErrno, '--default-action');
  }
}

/** Decides one received notification and answers it exactly once. */
function handle(): void {
  count(Stat.notifications);
  const portable = portableIdFor(words[ARCH]!, words[NR]! | 0);
  words[PORTABLE] = portable;
  const v = policySet.ask(notif, words, portable);
  decidedBy = v.policy;
  switch (v.kind) {
    case Decision.CONTINUE: count(Stat.continued); outcome = Outcome.continued; answer(0, 0, 0, FLAG_CONTINUE); return;
    case Decision.ERRNO: count(Stat.errno); outcome = Outcome.errno; answer(0, 0, v.valueLo, 0); return;
    case Decision.RETURN: count(Stat.returned); outcome = Outcome.returned; answer(v.valueLo, v.valueHi, 0, 0); return;
    case Decision.EMULATE: outcome = Outcome.emulated; return emulate(v, portable);
    case Decision.CONTAIN: count(Stat.errno); return contain(v.primitive === Containment.KILL ? 'kill' : 'freeze', v.valueLo, `policy ${v.policy!.name}`);
    case FAIL_CLOSED:
      if (v.trapped) count(Stat.traps);
      if (v.outOfFuel) count(Stat.fuelExhausted);
      if (v.skippedNow) count(Stat.policiesSkipped);
      // Putting a policy aside is logged whatever the rate limit.
      return failClosed(v.reason, v.skippedNow ? null : v.policy);
    default: return undecided();
  }
}

/** Applies pending control messages; returns false when the worker must stop. */
function control(): boolean {
  for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
    const message = m.message as ControlMessage;
    if (message.type === 'stop') return false;
    if (message.type === 'reload') {
      // Instantiating happens here, between two notifications: the one before was answered by the
      // old set, the next one will be by the new set, and none sees a mixture.
      try {
        policySet = newPolicySet(message.policies, message.slots);
        count(Stat.reloads);
        post({ type: 'reloaded', generation: message.generation });
      } catch (e) {
        post({ type: 'reload-failed', generation: message.generation, reason: (e as Error).message });
      }
    }
  }
  return true;
}

/** Counts the notification just answered by syscall and outcome, its latency, and audits it. */
function account(received: number): void {
  const ns = (performance.now() - received) * 1e6;
  const portable = words[PORTABLE]!;
  statsWriter.latency(ns);
  statsWriter.outcome(portable, outcome);
  if (audit !== null) {
    audit.write(words, portable, decidedBy === null ? -1 : decidedBy.slot, outcome, answeredErrno, answeredLo, answeredHi,
      performance.timeOrigin + received, ns);
  }
}

const handleNotification = faults ? throwingHandler(faults, handle) : handle;

/** Handles the notification just received into `notif`, answering it exactly once. */
function serveReceived(): void {
  const received = performance.now();
  outcome = Outcome.noPolicy; decidedBy = null; answeredErrno = 0; answeredLo = 0; answeredHi = 0;
  if (audit !== null) audit.readComm(words[TID]!);
  try {
    handleNotification();
  } catch (e) {
    // This thread can no longer be trusted with anything (native/impersonate.cc): end it; the control
    // plane then closes the listener, and the kernel answers this call and every later one ENOSYS.
    if (e instanceof TaintedThreadError) throw e;
    // An exception in the host itself: the call still gets exactly one answer.
    failClosed(`internal error while handling a notification: ${(e as Error).stack ?? e}`);
  }
  account(received);
}

const interrupt = config.interrupt ? new Int32Array(config.interrupt) : null;

/**
 * The loop when the thread can block in RECV itself (docs/performance.md): one syscall fewer per
 * notification than poll + RECV, and the kernel's synchronous wake-up hands the CPU straight from
 * the caller to this thread. The control plane sets interrupt[ATTENTION] after posting a message
 * and signals this thread (native/interrupt.cc), so RECV returns EINTR; it re-signals until the
 * flag is cleared, which covers a signal that lands between the check below and the ioctl. It also
 * signals now and then without a message, so a kernel whose RECV would not return once the filter
 * has no users left still lets the loop notice the hang-up.
 */
function serveBlocking(interrupt: Int32Array): 'hangup' | 'stopped' {
  // With faults that delay the SEND (test-faults.ts), answers go out one by one through the delayed send.
  deferAnswers = faults === null || faults.delaySendMs === 0;
  for (;;) {
    if (Atomics.load(interrupt, INTERRUPT_ATTENTION) !== 0) {
      // The notification in hand is answered by the set that decided it, before any reload or stop.
      flushAnswer();
      Atomics.store(interrupt, INTERRUPT_ATTENTION, 0);
      if (!control()) return 'stopped';
    }
    let recvErrno: number;
    if (answerPending) {
      answerPending = false;
      const r = native.notifSendRecv(listenerFd, response, notif);
      if (r >>> 16 !== 0) answerFailed(r >>> 16);
      recvErrno = r & 0xffff;
    } else {
      try {
        recvErrno = native.notifRecvBlocking(listenerFd, notif) ? 0 : EINTR;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        recvErrno = ENOENT;
      }
    }
    if (recvErrno === 0) {
      serveReceived();
    } else if (recvErrno === EINTR) {
      if (Atomics.load(interrupt, INTERRUPT_ATTENTION) === 0 && (native.pollListener(listenerFd, -1, 0) & 3) === 2) return 'hangup';
    } else if (recvErrno === ENOENT) {
      // The caller went away before it was received, or no task uses the filter any more.
      if (native.pollListener(listenerFd, -1, 0) & 2) return 'hangup';
      count(Stat.recvEnoent);
    } else {
      throw Object.assign(new Error(`ioctl(SECCOMP_IOCTL_NOTIF_RECV): ${native.errnoName(recvErrno)}`), { code: native.errnoName(recvErrno), errno: recvErrno });
    }
  }
}

function serve(): 'hangup' | 'stopped' {
  let syncWakeUp = false;
  if (config.syncWakeUp) {
    try { native.notifSetFlags(listenerFd, native.constants.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP); syncWakeUp = true; }
    catch (e) { post({ type: 'log', level: 'debug', message: `SYNC_WAKE_UP unavailable: ${(e as Error).message}` }); }
  }
  // Blocking in RECV pays only with the synchronous wake-up (without it the woken thread migrates
  // anyway), and needs the interrupt signal to be ours.
  if (syncWakeUp && interrupt !== null) {
    try {
      Atomics.store(interrupt, INTERRUPT_TID, native.prepareInterrupt());
    } catch (e) {
      post({ type: 'log', level: 'debug', message: `blocking receive unavailable, polling: ${(e as Error).message}` });
    }
  }
  post({ type: 'ready' });
  if (interrupt !== null && Atomics.load(interrupt, INTERRUPT_TID) > 0) return serveBlocking(interrupt);
  for (;;) {
    const events = native.pollListener(listenerFd, config.wakeFd, -1);
    if (events & 4 && !control()) return 'stopped';
    if (events & 1) {
      try {
        native.notifRecv(listenerFd, notif);
      } catch (e) {
        // ENOENT: the caller went away between poll and receive. Poll again rather than spin.
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') { count(Stat.recvEnoent); continue; }
        throw e;
      }
      serveReceived();
      continue;
    }
    if (events & 2) return 'hangup'; // no task uses the filter any more
  }
}

let reason: 'hangup' | 'stopped';
try {
  reason = serve();
} finally {
  // Fds are the process's, not the thread's: kept ones would outlive this worker (an OCI agent ends
  // one per container).
  statusFiles.close();
  for (const primitive of primitives) primitive?.dispose?.();
  callerCreds.close();
}
post({ type: 'done', reason });
