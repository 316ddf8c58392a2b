// The SCHED emulation primitive: sched_setscheduler, sched_setparam and sched_setattr for the workload's
// root, as LXD's security.syscalls.intercept.sched_setscheduler does (Incus: cmd/incusd/
// main_forksyscall.go, sched_setscheduler_emulate). Raising a thread's scheduling priority needs
// CAP_SYS_NICE in the *initial* user namespace (kernel/sched/syscalls.c, user_check_sched_setscheduler:
// capable(), not ns_capable()), so a container's root is refused EPERM; the host performs the call with
// its own CAP_SYS_NICE, within a ceiling the policy passes as operands.
//
// What the host checks itself, whatever the policy said:
// - the caller is in the workload's user namespace with CAP_SYS_NICE effective there (what the kernel
//   would ask of it if its namespace were the world); anyone else is continued: the kernel answers;
// - the arguments are read from the caller once (the param or attr), and those bytes are both checked
//   and used;
// - the target is resolved in the caller's pid namespace (0 = the caller itself; the thread ids
//   sched_* take), pinned with a pidfd, and must be in the workload's user namespace: a target outside
//   the workload, or no such thread, is continued, so the kernel answers as it would without wasmsup
//   (ESRCH for no such thread, EPERM for one the caller may not raise);
// - the ceiling: the policy (with SCHED_RESET_ON_FORK aside, or the target's current one for
//   sched_setparam and SCHED_FLAG_KEEP_POLICY) must be in the allowed set, an RT priority at most the
//   maximum, a nice value at least the minimum: anything above is continued, so the kernel answers with
//   the caller's own privileges (EPERM for a raise);
// - what it does not emulate is continued (unknown policies, sched_attr sizes other than 48 and 56,
//   flags other than RESET_ON_FORK/KEEP_POLICY/KEEP_PARAMS, a non-zero flags argument, unreadable
//   arguments): the kernel answers with the caller's own privileges, which grants nothing.
// ID_VALID after every read of the caller; the pidfd must still name a live thread right before the call.
// Results as every emulator's (contract.ts): 0, -errno, or ANSWERED after a CONTINUE.
//
// Run by the worker thread directly, not the privileged helper (its wire op OP_SCHED stays unused): no
// credential or namespace change is needed, only the process's own CAP_SYS_NICE and /proc, as SYSINFO.
import { readdirSync, readFileSync } from 'node:fs';
import { native } from '../native.js';
import { argLo, Creds, CREDS_WORDS, Notif, RESP_BYTES } from '../layouts.js';
import { statusFiles } from '../caller/status-files.js';
import { continueInKernel } from './contract.js';

const CAP_SYS_NICE = 23;
const E = { EPERM: 1, ENOENT: 2, ESRCH: 3 } as const;
export const SCHED = { OTHER: 0, FIFO: 1, RR: 2, BATCH: 3, IDLE: 5, DEADLINE: 6 } as const;
const SCHED_RESET_ON_FORK = 0x40000000;
const FLAG = { RESET_ON_FORK: 0x01, KEEP_POLICY: 0x08, KEEP_PARAMS: 0x10 } as const;
const EMULATED_FLAGS = FLAG.RESET_ON_FORK | FLAG.KEEP_POLICY | FLAG.KEEP_PARAMS;
/** Bits of the allowed-policies operand: bit N allows SCHED_* policy N. */
export const SCHED_POLICY_BITS = (1 << SCHED.OTHER) | (1 << SCHED.FIFO) | (1 << SCHED.RR) | (1 << SCHED.BATCH) | (1 << SCHED.IDLE) | (1 << SCHED.DEADLINE);
const ATTR_VER0 = 48, ATTR_VER1 = 56;
// struct sched_attr offsets.
const A = { SIZE: 0, POLICY: 4, FLAGS: 8, NICE: 16, PRIORITY: 20 } as const;

/** Which call. */
export const SchedCall = { SETSCHEDULER: 0, SETPARAM: 1, SETATTR: 2 } as const;
export type SchedCall = (typeof SchedCall)[keyof typeof SchedCall];

/** The policy's ceiling (docs/policy-abi.md, section 4, SCHED operands). */
export interface SchedCeiling {
  /** Bit N allows SCHED_* policy N (SCHED_POLICY_BITS). */
  allowedPolicies: number;
  /** Highest sched_priority for SCHED_FIFO and SCHED_RR (0..99). */
  maxRtPriority: number;
  /** Lowest nice value (-20..19) sched_setattr may set. */
  minNice: number;
}

/** Why a ceiling is malformed, or null. */
export function refusedCeiling(c: SchedCeiling, reserved: number): string | null {
  if ((c.allowedPolicies & ~SCHED_POLICY_BITS) !== 0) return `allowed policies 0x${(c.allowedPolicies >>> 0).toString(16)} name a policy the host does not know`;
  if (c.maxRtPriority < 0 || c.maxRtPriority > 99) return `maximum RT priority ${c.maxRtPriority} is not 0..99`;
  if (c.minNice < -20 || c.minNice > 19) return `minimum nice ${c.minNice} is not -20..19`;
  if (reserved !== 0) return 'reserved bytes 112..128 are not zero';
  return null;
}

/**
 * Whether a change to `policy` with `priority` (and, for sched_setattr, `nice`) fits the ceiling:
 * null, or why not. `priority`/`nice` null: the call keeps them (KEEP_PARAMS, sched_setscheduler's nice).
 */
export function exceedsCeiling(c: SchedCeiling, policy: number, priority: number | null, nice: number | null): string | null {
  if (((c.allowedPolicies >>> policy) & 1) === 0) return `policy ${policy} is not allowed`;
  if ((policy === SCHED.FIFO || policy === SCHED.RR) && priority !== null && priority > c.maxRtPriority) {
    return `priority ${priority} is above ${c.maxRtPriority}`;
  }
  if ((policy === SCHED.OTHER || policy === SCHED.BATCH) && nice !== null && nice < c.minNice) return `nice ${nice} is below ${c.minNice}`;
  return null;
}

export class SchedEmulator {
  private readonly creds = new Uint32Array(CREDS_WORDS);
  private readonly attr = new Uint8Array(ATTR_VER1);
  private readonly attrView = new DataView(this.attr.buffer);
  private readonly response = new Int32Array(RESP_BYTES / 4);
  private supervisorPidns = 0;

  constructor(
    private readonly listenerFd: number,
    private readonly workloadUsernsInode: number,
    private readonly warn: (message: string) => void,
  ) {}

  emulate(notif: Uint8Array, words: Uint32Array, call: SchedCall, ceiling: SchedCeiling, reserved: number): number {
    const refused = refusedCeiling(ceiling, reserved);
    if (refused !== null) {
      this.warn(`sched emulation: the policy's operands are malformed (${refused}); answering EPERM`);
      return -E.EPERM;
    }
    if (this.workloadUsernsInode <= 0) {
      this.warn('sched emulation: the workload\'s user namespace is unknown; answering EPERM');
      return -E.EPERM;
    }
    const tid = words[Notif.TID]!;
    const valid = () => native.notifIdValid(this.listenerFd, notif);
    // The caller: the workload's root, CAP_SYS_NICE effective in the workload's user namespace.
    let callerUserns: number, callerPidns: number;
    try {
      statusFiles.readCreds(tid, this.creds);
      callerUserns = native.nsInode(tid, 'user');
      callerPidns = native.nsInode(tid, 'pid');
    } catch { return -E.ENOENT; }
    if (!valid()) return -E.ENOENT;
    const capEff = CAP_SYS_NICE < 32 ? this.creds[Creds.CAP_EFF]! >>> CAP_SYS_NICE : this.creds[Creds.CAP_EFF + 1]! >>> (CAP_SYS_NICE - 32);
    if (callerUserns !== this.workloadUsernsInode || (capEff & 1) === 0) return this.continueCall(words);

    // The arguments, read once.
    const pid = words[argLo(0)]! | 0;
    let policy: number, priority: number | null, nice: number | null = null, resetOnFork: boolean, keepPolicy = false;
    const attrLength = call === SchedCall.SETATTR ? this.readAttr(tid, words) : this.readParam(tid, words, call === SchedCall.SETSCHEDULER ? 2 : 1);
    if (attrLength < 0) return this.continueCall(words);
    if (!valid()) return -E.ENOENT;
    if (pid < 0) return this.continueCall(words);
    const v = this.attrView;
    if (call === SchedCall.SETATTR) {
      const flags = v.getUint32(A.FLAGS, true), flagsHi = v.getUint32(A.FLAGS + 4, true);
      if (flagsHi !== 0 || (flags & ~EMULATED_FLAGS) !== 0 || words[argLo(2)] !== 0 || words[argLo(2) + 1] !== 0) return this.continueCall(words);
      keepPolicy = (flags & FLAG.KEEP_POLICY) !== 0;
      policy = v.getUint32(A.POLICY, true);
      priority = flags & FLAG.KEEP_PARAMS ? null : v.getUint32(A.PRIORITY, true);
      nice = flags & FLAG.KEEP_PARAMS ? null : v.getInt32(A.NICE, true);
      resetOnFork = (flags & FLAG.RESET_ON_FORK) !== 0;
    } else {
      policy = call === SchedCall.SETSCHEDULER ? words[argLo(1)]! | 0 : -1;
      keepPolicy = call === SchedCall.SETPARAM;
      resetOnFork = policy >= 0 && (policy & SCHED_RESET_ON_FORK) !== 0;
      if (policy >= 0) policy &= ~SCHED_RESET_ON_FORK;
      priority = v.getInt32(0, true);
    }

    // The target, in the caller's pid namespace, pinned, in the workload.
    if (this.supervisorPidns === 0) this.supervisorPidns = native.nsInode(process.pid, 'pid');
    const target = pid === 0 ? tid : this.resolve(pid, callerPidns);
    if (target <= 0) return this.continueCall(words);
    let pidfd = -1;
    try {
      // The thread id may have been reused between the lookup and the pidfd: what the pidfd names now
      // must still be in the caller's pid namespace and in the workload. (From the supervisor's own pid
      // namespace every thread of the workload is visible, nested ones too.) A thread gone, or one the
      // host cannot even look at, is the kernel's to answer.
      try {
        pidfd = native.pidfdOpen(target, native.constants.PIDFD_THREAD);
        if (native.nsInode(target, 'user') !== this.workloadUsernsInode
          || (callerPidns !== this.supervisorPidns && native.nsInode(target, 'pid') !== callerPidns)) {
          return this.continueCall(words);
        }
        if (keepPolicy) policy = native.schedGetscheduler(target) & ~SCHED_RESET_ON_FORK;
      } catch { return this.continueCall(words); }
      if (policy < 0 || policy > 31 || ((SCHED_POLICY_BITS >>> policy) & 1) === 0) return this.continueCall(words);
      // Above the ceiling the host grants nothing: the kernel answers with the caller's own privileges
      // (EPERM for a raise, as without wasmsup; what needs no privilege, such as a lowering, it allows).
      if (exceedsCeiling(ceiling, policy, priority, nice) !== null) return this.continueCall(words);
      // Right before acting: the caller still waits, the pinned thread is still alive (so its id
      // still names it: an id is reused only after its thread is gone).
      native.pidfdSendSignal(pidfd, 0);
      if (!valid()) return -E.ENOENT;
      if (call === SchedCall.SETSCHEDULER) native.schedSetscheduler(target, policy | (resetOnFork ? SCHED_RESET_ON_FORK : 0), priority!);
      else if (call === SchedCall.SETPARAM) native.schedSetparam(target, priority!);
      else native.schedSetattr(target, this.attr, 0);
      return 0;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      // The target went away (ESRCH from pidfd_open or the liveness check): as the kernel would answer.
      if (err.code === 'ENOENT') return -E.ESRCH;
      if (typeof err.errno === 'number') return -err.errno;
      this.warn(`sched emulation for tid ${tid} failed: ${err.message}`);
      return -E.EPERM;
    } finally {
      if (pidfd >= 0) native.close(pidfd);
    }
  }

  /** sched_param at argument `arg` into attr[0..4); 4, or -1 when unreadable. */
  private readParam(tid: number, words: Uint32Array, arg: number): number {
    try {
      return native.readMemory(tid, words[argLo(arg)]!, words[argLo(arg) + 1]!, this.attr, 4) === 4 ? 4 : -1;
    } catch { return -1; }
  }

  /**
   * struct sched_attr at argument 1 into attr, once: its length (48 or 56, the size field set to it),
   * or -1 for what is not emulated (unreadable, another size).
   */
  private readAttr(tid: number, words: Uint32Array): number {
    let n: number;
    this.attr.fill(0);
    try {
      n = native.readMemory(tid, words[argLo(1)]!, words[argLo(1) + 1]!, this.attr, ATTR_VER1);
    } catch { return -1; }
    if (n < 4) return -1;
    let size = this.attrView.getUint32(A.SIZE, true);
    if (size === 0) size = ATTR_VER0; // the kernel's reading of size 0
    if ((size !== ATTR_VER0 && size !== ATTR_VER1) || n < size) return -1;
    // Bytes past the declared size were not part of the call: zero them, and hand the kernel this size.
    this.attr.fill(0, size);
    this.attrView.setUint32(A.SIZE, size, true);
    return size;
  }

  /**
   * The thread id, in the supervisor's pid namespace, of the thread `pid` names in the caller's pid
   * namespace (inode `callerPidns`), or 0 when none does. The same namespace: the number itself; another
   * one: the thread whose NSpid ends with `pid` and whose own pid namespace is the caller's.
   */
  private resolve(pid: number, callerPidns: number): number {
    if (callerPidns === this.supervisorPidns) return pid;
    for (const process of readdirSync('/proc')) {
      if (!/^\d+$/.test(process)) continue;
      let tasks: string[];
      try { tasks = readdirSync(`/proc/${process}/task`); } catch { continue; }
      for (const task of tasks) {
        let status: string;
        try { status = readFileSync(`/proc/${process}/task/${task}/status`, 'utf8'); } catch { continue; }
        const m = /^NSpid:\s+(.*)$/m.exec(status);
        if (m === null) continue;
        const ids = m[1]!.trim().split(/\s+/);
        if (Number(ids[ids.length - 1]) !== pid) continue;
        try { if (native.nsInode(Number(task), 'pid') === callerPidns) return Number(task); } catch { /* gone */ }
      }
    }
    return 0;
  }

  /** Lets the kernel run the call with its own checks; the notification is answered here. */
  private continueCall(words: Uint32Array): number {
    return continueInKernel(this.listenerFd, this.response, words);
  }
}
