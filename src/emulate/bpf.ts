// The BPF emulation primitive: bpf(2) for a nested container runtime, as LXD does it. The policy chose
// to emulate from a read of the attr that proves nothing (the caller can change its memory at any
// time); everything here is read again, once, and checked by the host:
//
// BPF_PROG_LOAD — only BPF_PROG_TYPE_CGROUP_DEVICE, 1..MAX_INSNS instructions, none of the attr's
// features that would name the caller's fds or more of its memory (BTF, func/line info, fd arrays,
// attach targets, tokens, offload), prog_flags at most BPF_F_STRICT_ALIGNMENT. The instructions may
// call only the helpers of DEVICE_HELPERS (none that reads kernel memory or pointers), no bpf-to-bpf
// call or kfunc, and load no 64-bit immediate but a plain number (a map or BTF object named by fd would
// be looked up in the supervisor's fd table). The host copies the instructions and the license and
// loads the program itself, with only CAP_BPF and CAP_NET_ADMIN effective on its thread
// (native/bpf.cc), so the verifier judges it as it would an unprivileged-as-possible loader's; it
// writes the verifier log back to the caller's log_buf (and log_true_size into its attr where the
// attr has that field) on success and on failure.
//
// The caller does not get the program. On this kernel anyone holding a program fd may attach it, with
// BPF_PROG_ATTACH or BPF_LINK_CREATE and no capability, to any cgroup it can open, and an fd travels:
// to a child in a new user namespace, to another uid, over a unix socket to a process no filter sees.
// So the host keeps the program and injects a token instead (ADDFD + SEND, O_CLOEXEC as the kernel's
// bpf fds, the lowest free number, installed and answered atomically): the read end of a pipe whose
// write end the host keeps. The token is no bpf object, so the kernel refuses it for every command
// (EINVAL); only this host, on an emulated attach or detach, turns it back into the program, by the
// pipe's inode (unique while the host holds the write end). When no process holds a read end any
// more, poll reports POLLERR on the write end and the host lets the program go (an attached program
// stays attached: the cgroup holds its own reference).
//
// BPF_PROG_ATTACH / BPF_PROG_DETACH — only BPF_CGROUP_DEVICE, and only when target_fd (fetched with
// pidfd_getfd, so it is the very open directory the caller names) is a cgroup2 directory
//   1. at or below the cgroup2 cgroup the workload's first process started in (WorkloadInfo.cgroup2Dir),
//   2. owned by a uid the caller's user namespace maps (delegated to the workload, as a runtime
//      creating a container's cgroup in its own delegated subtree has it), and
//   3. neither the supervisor's own cgroup nor an ancestor of it (device rules apply to descendants:
//      the workload must never restrict the supervisor).
// Otherwise EPERM, what the kernel answers a user namespace. The program fds (attach_bpf_fd,
// replace_bpf_fd with BPF_F_REPLACE) are fetched with pidfd_getfd too and must be tokens of this
// host's (EINVAL otherwise: what the kernel says of an fd that is no program); a detach without one
// passes the kernel no program, which detaches the cgroup's only non-multi program, as it would.
//
// Performed by the supervisor thread itself, not the privileged helper: loading and attaching need
// CAP_BPF/CAP_NET_ADMIN in the initial namespace, which the supervisor has, and no credential or
// namespace change; the program is the kernel's verified object whoever loads it.
//
// Results as every emulator's (contract.ts): ≥ 0, -errno, or ANSWERED after ADDFD + SEND.
import { readdirSync } from 'node:fs';
import { native } from '../native.js';
import { argLo, Notif } from '../layouts.js';
import { TaintedThreadError, THREAD_TAINTED_CODE } from '../errors.js';
import { openCallerPidfd } from '../caller/fd.js';
import type { WorkloadInfo } from '../caller/workload.js';
import { FdInjector } from './inject-fd.js';
import { ANSWERED } from './contract.js';

/** Instruction cap of an emulated load: the classic BPF_MAXINSNS; runc/crun device programs use ~10 per rule. */
export const MAX_INSNS = 4096;
/** Largest verifier log the host lends the kernel; a larger caller buffer gets the first 1 MiB. */
const MAX_LOG = 1 << 20;
const LICENSE_MAX = 128;
/** The kernel refuses attrs larger than a page. */
const MAX_ATTR = 4096;
/** Directories searched to find a target cgroup in the workload's subtree. */
const MAX_SUBTREE_DIRS = 4096;
/** Programs one data plane keeps for its callers' tokens at a time (two fds each); then EMFILE. */
export const MAX_PROGRAMS = 256;
/**
 * Helpers an emulated device program may call: those a BPF_PROG_TYPE_CGROUP_DEVICE program gets
 * without CAP_PERFMON and that need no map (none can be named): clocks, random numbers, the CPU and
 * NUMA node, the current task's ids, comm and cgroup ids. runc, crun, systemd and LXC call none.
 */
const DEVICE_HELPERS: ReadonlySet<number> = new Set([
  5, // ktime_get_ns
  7, // get_prandom_u32
  8, // get_smp_processor_id
  14, // get_current_pid_tgid
  15, // get_current_uid_gid
  16, // get_current_comm
  42, // get_numa_node_id
  80, // get_current_cgroup_id
  123, // get_current_ancestor_cgroup_id
  125, // ktime_get_boot_ns
  160, // ktime_get_coarse_ns
  208, // ktime_get_tai_ns
]);
const BPF_JMP_CALL = 0x85, BPF_LD_IMM64 = 0x18;
/** Any BPF_CALL opcode: BPF_JMP or BPF_JMP32 class with operation BPF_CALL. */
const isCall = (code: number): boolean => (code & 0xf0) === 0x80 && ((code & 7) === 5 || (code & 7) === 6);

const BPF_PROG_LOAD = 5, BPF_PROG_ATTACH = 8, BPF_PROG_DETACH = 9, BPF_LINK_CREATE = 28;
const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
const BPF_CGROUP_DEVICE = 6;
const BPF_F_STRICT_ALIGNMENT = 1;
const BPF_F_ALLOW_OVERRIDE = 1, BPF_F_ALLOW_MULTI = 2, BPF_F_REPLACE = 4;
const O_CLOEXEC = 0o2000000;
const S_IFMT = 0o170000, S_IFDIR = 0o040000, S_IFIFO = 0o010000;
const POLLERR = 0x8, POLLNVAL = 0x20;
const E = { EPERM: 1, ENOENT: 2, EBADF: 9, E2BIG: 7, EFAULT: 14, EINVAL: 22, EMFILE: 24 } as const;

// union bpf_attr, BPF_PROG_LOAD.
const L = {
  progType: 0, insnCnt: 4, insns: 8, license: 16, logLevel: 24, logSize: 28, logBuf: 32, kernVersion: 40,
  progFlags: 44, progName: 48, progIfindex: 64, expectedAttachType: 68, logTrueSize: 140,
  /** First byte past what an emulated load supports (prog_token_fd and later must be 0). */
  end: 144,
} as const;
// Bytes of the load attr that must be zero: they would name the caller's fds or more of its memory.
const LOAD_ZERO_RANGES: readonly [number, number][] = [[L.progIfindex, L.progIfindex + 4], [72, L.logTrueSize]];
// union bpf_attr, BPF_PROG_ATTACH / DETACH: u32 target_fd, attach_bpf_fd, attach_type, attach_flags,
// replace_bpf_fd; then relative_fd/id and expected_revision (multi-prog links), unsupported here.
const A = { targetFd: 0, progFd: 4, attachType: 8, flags: 12, replaceFd: 16, end: 20 } as const;

class Refusal { constructor(readonly errno: number) {} }

/** A program the host loaded and keeps, and the write end of its token's pipe. */
interface Kept { progFd: number; writeEnd: number }

/** Whether the instructions call only DEVICE_HELPERS and load only plain 64-bit numbers. */
export function onlyDeviceHelpers(insns: Uint8Array): boolean {
  const view = new DataView(insns.buffer, insns.byteOffset, insns.byteLength);
  for (let at = 0; at + 8 <= insns.length; at += 8) {
    const code = insns[at]!, src = insns[at + 1]! >> 4;
    // Every slot is checked, the second half of a 64-bit load too: the verifier wants its code 0,
    // so a slot that is both is refused by one of us.
    if (isCall(code) && (code !== BPF_JMP_CALL || src !== 0 || !DEVICE_HELPERS.has(view.getInt32(at + 4, true)))) return false;
    if (code === BPF_LD_IMM64 && src !== 0) return false;
  }
  return true;
}

export class BpfEmulator {
  private readonly attr = new Uint8Array(MAX_ATTR);
  private readonly attrView = new DataView(this.attr.buffer);
  private readonly hostAttr = new Uint8Array(L.end);
  private readonly hostView = new DataView(this.hostAttr.buffer);
  private readonly license = new Uint8Array(LICENSE_MAX);
  private readonly injector: FdInjector;
  private readonly idMap = new Uint32Array(3 * 340);
  /** The programs behind the tokens callers hold, by the token pipe's inode number. */
  private readonly kept = new Map<number, Kept>();
  /** The pipe file system's device: a token is a FIFO on it. */
  private pipeDev = -1;
  // The caller's attr address (args[1]) of the notification in hand.
  private attrLo = 0;
  private attrHi = 0;

  constructor(
    private readonly listenerFd: number,
    private readonly workload: WorkloadInfo | null,
    private readonly warn: (message: string) => void,
  ) {
    this.injector = new FdInjector(listenerFd, warn);
  }

  /** Performs the call; ≥ 0 its result, < 0 -errno, or ANSWERED when ADDFD+SEND already answered. */
  emulate(notif: Uint8Array, words: Uint32Array): number {
    const tid = words[Notif.TID]!;
    const cmd = words[argLo(0)]!; // int cmd: the low half of args[0]
    const size = words[argLo(2)]!; // unsigned int size: the low half of args[2]
    this.attrLo = words[argLo(1)]!;
    this.attrHi = words[argLo(1) + 1]!;
    try {
      const attrLength = this.readAttr(tid, this.attrLo, this.attrHi, size);
      if (!native.notifIdValid(this.listenerFd, notif)) return -E.ENOENT;
      switch (cmd) {
        case BPF_PROG_LOAD: return this.load(notif, tid, attrLength, size);
        case BPF_PROG_ATTACH: return this.attachOrDetach(notif, tid, attrLength, true);
        case BPF_PROG_DETACH: return this.attachOrDetach(notif, tid, attrLength, false);
        // A link would be an attachment whose fd the caller holds; not emulated.
        case BPF_LINK_CREATE: return -E.EPERM;
        default: return -E.EINVAL;
      }
    } catch (e) {
      if (e instanceof Refusal) return -e.errno;
      if (e instanceof TaintedThreadError) throw e;
      const err = e as NodeJS.ErrnoException;
      // The caller's /proc entry or memory vanished: it is gone, the answer goes nowhere.
      if (err.code === 'ESRCH') return -E.ENOENT;
      if (typeof err.errno === 'number' && err.errno > 0) return -err.errno;
      this.warn(`bpf emulation for tid ${tid} failed: ${err.message}`);
      return -E.EPERM;
    }
  }

  /** Reads the caller's attr once into this.attr (zero beyond `size`); its length. */
  private readAttr(tid: number, lo: number, hi: number, size: number): number {
    // bpf_check_uarg_tail_zero: more than a page is E2BIG.
    if (size > MAX_ATTR) throw new Refusal(E.E2BIG);
    this.attr.fill(0);
    if (size === 0) return 0;
    const n = native.readMemory(tid, lo, hi, this.attr, size);
    if (n < size) throw new Refusal(E.EFAULT);
    return size;
  }

  private u32(offset: number): number { return this.attrView.getUint32(offset, true); }
  private u64(offset: number): { lo: number; hi: number; zero: boolean } {
    const lo = this.u32(offset), hi = this.u32(offset + 4);
    return { lo, hi, zero: lo === 0 && hi === 0 };
  }
  private allZero(from: number, to: number): boolean {
    for (let i = from; i < to; i++) if (this.attr[i] !== 0) return false;
    return true;
  }

  private load(notif: Uint8Array, tid: number, attrLength: number, size: number): number {
    if (this.u32(L.progType) !== BPF_PROG_TYPE_CGROUP_DEVICE) return -E.EPERM;
    const insnCnt = this.u32(L.insnCnt);
    if (insnCnt === 0 || insnCnt > MAX_INSNS) return -E.E2BIG;
    if ((this.u32(L.progFlags) & ~BPF_F_STRICT_ALIGNMENT) !== 0) return -E.EINVAL;
    const expected = this.u32(L.expectedAttachType);
    if (expected !== 0 && expected !== BPF_CGROUP_DEVICE) return -E.EINVAL;
    for (const [from, to] of LOAD_ZERO_RANGES) if (!this.allZero(from, to)) return -E.EINVAL;
    if (!this.allZero(L.end, MAX_ATTR)) return -E.EINVAL;

    const insnsPtr = this.u64(L.insns), licensePtr = this.u64(L.license), logPtr = this.u64(L.logBuf);
    const insns = new Uint8Array(insnCnt * 8);
    if (native.readMemory(tid, insnsPtr.lo, insnsPtr.hi, insns, insns.length) !== insns.length) return -E.EFAULT;
    // What the verifier would refuse an unprivileged loader (unknown func, or not for this program
    // type): EINVAL, checked on the host's copy.
    if (!onlyDeviceHelpers(insns)) return -E.EINVAL;
    this.releaseDropped();
    if (this.kept.size >= MAX_PROGRAMS) return -E.EMFILE;
    // The kernel copies at most 127 bytes of the license and ignores the rest.
    this.license.fill(0);
    if (licensePtr.zero) return -E.EFAULT;
    try {
      native.readString(tid, licensePtr.lo, licensePtr.hi, this.license, LICENSE_MAX);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENAMETOOLONG') throw e;
      this.license[LICENSE_MAX - 1] = 0;
    }
    const logSize = this.u32(L.logSize);
    // The kernel's rule: a log buffer and a log size come together.
    if (logPtr.zero !== (logSize === 0)) return -E.EINVAL;
    const log = logSize > 0 ? new Uint8Array(Math.min(logSize, MAX_LOG)) : null;
    if (!native.notifIdValid(this.listenerFd, notif)) return -E.ENOENT;

    // The host's attr: the caller's scalar fields; the shim fills in the pointers to our copies.
    this.hostAttr.fill(0);
    this.hostAttr.set(this.attr.subarray(0, L.end));
    const hostLength = Math.min(Math.max(attrLength, L.logBuf + 8), L.end);
    const attrForKernel = this.hostAttr.subarray(0, hostLength);
    let progFd = -1;
    let loadError: NodeJS.ErrnoException | null = null;
    try {
      progFd = native.bpfProgLoad(attrForKernel, insns, this.license, log);
    } catch (e) {
      loadError = e as NodeJS.ErrnoException;
      if (loadError.code === THREAD_TAINTED_CODE) throw new TaintedThreadError(loadError.message);
      if (typeof loadError.errno !== 'number') throw e;
    }
    let readEnd = -1, writeEnd = -1;
    try {
      this.writeLogBack(notif, tid, log, logPtr, size);
      if (loadError) return -loadError.errno!;
      [readEnd, writeEnd] = native.pipe();
      const token = native.fstat(readEnd);
      this.pipeDev = token.dev;
      // ADDFD + SEND: the caller's bpf() returns the token's fd number, atomically with the install.
      this.injector.sendFd(notif, readEnd, O_CLOEXEC, `bpf emulation for tid ${tid}`);
      this.kept.set(token.ino, { progFd, writeEnd });
      progFd = writeEnd = -1;
      return ANSWERED;
    } finally {
      if (progFd >= 0) native.close(progFd);
      if (writeEnd >= 0) native.close(writeEnd);
      // The host never keeps a read end: the last reader gone is how it learns the token was dropped.
      if (readEnd >= 0) native.close(readEnd);
    }
  }

  /** Lets go of the programs whose tokens no process holds any more. */
  private releaseDropped(): void {
    for (const [ino, k] of this.kept) {
      if ((native.pollRevents(k.writeEnd) & (POLLERR | POLLNVAL)) === 0) continue;
      native.close(k.progFd);
      native.close(k.writeEnd);
      this.kept.delete(ino);
    }
  }

  /** The program behind `fd` (a copy of a caller's fd) if it is one of this host's tokens, else -1. */
  private programOf(fd: number): number {
    const st = native.fstat(fd);
    if ((st.mode & S_IFMT) !== S_IFIFO || st.dev !== this.pipeDev) return -1;
    return this.kept.get(st.ino)?.progFd ?? -1;
  }

  /** Closes every kept program and token end: the data plane is ending (attached programs stay). */
  dispose(): void {
    for (const k of this.kept.values()) {
      native.close(k.progFd);
      native.close(k.writeEnd);
    }
    this.kept.clear();
  }

  /** The verifier's log (NUL-terminated, as the kernel leaves it) and log_true_size, into the caller's buffers. */
  private writeLogBack(notif: Uint8Array, tid: number, log: Uint8Array | null, logPtr: { lo: number; hi: number }, size: number): void {
    if (!native.notifIdValid(this.listenerFd, notif)) throw new Refusal(E.ENOENT);
    if (log !== null) {
      const end = log.indexOf(0);
      const length = end < 0 ? log.length : end + 1;
      if (length > 1 || log[0] === 0) {
        try { native.writeMemory(tid, logPtr.lo, logPtr.hi, log, length); } catch { /* the kernel ignores a failed log copy too */ }
      }
    }
    // The kernel reports log_true_size only to callers whose attr has the field.
    if (size >= L.logTrueSize + 4) {
      const at = ((BigInt(this.attrHi) << 32n) + BigInt(this.attrLo) + BigInt(L.logTrueSize)) & 0xffff_ffff_ffff_ffffn;
      const field = this.hostAttr.subarray(L.logTrueSize, L.logTrueSize + 4);
      try { native.writeMemory(tid, Number(at & 0xffffffffn), Number(at >> 32n), field, 4); } catch { /* as above */ }
    }
  }

  private attachOrDetach(notif: Uint8Array, tid: number, attrLength: number, attach: boolean): number {
    if (attrLength < A.end - 8) return -E.EINVAL;
    if (this.u32(A.attachType) !== BPF_CGROUP_DEVICE) return -E.EINVAL;
    if (!this.allZero(A.end, MAX_ATTR)) return -E.EINVAL;
    const flags = this.u32(A.flags);
    if (attach && (flags & ~(BPF_F_ALLOW_OVERRIDE | BPF_F_ALLOW_MULTI | BPF_F_REPLACE)) !== 0) return -E.EINVAL;
    const fds: number[] = [];
    let pidfd = -1;
    try {
      pidfd = openCallerPidfd(tid);
      const fetch = (fd: number): number => {
        const copy = native.pidfdGetfd(pidfd, fd);
        fds.push(copy);
        return copy;
      };
      let targetFd: number, progFd: number, replaceFd = 0;
      try { targetFd = fetch(this.u32(A.targetFd)); } catch { return -E.EBADF; }
      try {
        progFd = this.programOf(fetch(this.u32(A.progFd)));
      } catch (e) {
        if (attach) return (e as NodeJS.ErrnoException).code === 'EBADF' ? -E.EBADF : -E.EINVAL;
        progFd = -1;
      }
      // Detaching "the" program of a non-multi attachment needs no program: the kernel then takes an
      // fd that is not a program as none. -1 is never one. Attaching needs one of ours.
      if (attach && progFd < 0) return -E.EINVAL;
      if (attach && (flags & BPF_F_REPLACE) !== 0) {
        try { replaceFd = this.programOf(fetch(this.u32(A.replaceFd))); } catch { return -E.EBADF; }
        if (replaceFd < 0) return -E.EINVAL;
      }
      if (!native.notifIdValid(this.listenerFd, notif)) return -E.ENOENT;
      if (!this.inDelegatedSubtree(tid, targetFd)) return -E.EPERM;

      const hostAttr = new Uint8Array(A.end);
      const v = new DataView(hostAttr.buffer);
      v.setInt32(A.targetFd, targetFd, true);
      v.setInt32(A.progFd, progFd, true);
      v.setUint32(A.attachType, BPF_CGROUP_DEVICE, true);
      v.setUint32(A.flags, flags, true);
      v.setUint32(A.replaceFd, replaceFd, true);
      if (!native.notifIdValid(this.listenerFd, notif)) return -E.ENOENT;
      if (attach) native.bpfProgAttach(hostAttr);
      else native.bpfProgDetach(hostAttr);
      return 0;
    } finally {
      if (pidfd >= 0) native.close(pidfd);
      for (const fd of fds) native.close(fd);
    }
  }

  /** Rules 1–3 of the header: the target is a cgroup2 directory delegated to the workload, not above the supervisor. */
  private inDelegatedSubtree(tid: number, targetFd: number): boolean {
    const w = this.workload;
    if (w === null || w.cgroup2Dir === null) return false;
    const target = native.fstat(targetFd);
    if ((target.mode & S_IFMT) !== S_IFDIR) return false;
    let root;
    try { root = native.stat(w.cgroup2Dir, false); } catch { return false; }
    if (target.dev !== root.dev) return false;
    const path = findDirectory(w.cgroup2Dir, root.ino, target.ino);
    if (path === null) return false;
    const sup = w.supervisorCgroup2Dir;
    if (sup !== null && (sup === path || sup.startsWith(path.endsWith('/') ? path : path + '/'))) return false;
    // Delegated: owned by a uid the caller's user namespace has a name for.
    const lines = native.readIdMap(tid, 'uid', this.idMap);
    for (let i = 0; i < lines; i++) {
      const outside = this.idMap[3 * i + 1]!, count = this.idMap[3 * i + 2]!;
      if (target.uid >= outside && target.uid - outside < count) return w.usernsInode !== w.supervisorUsernsInode;
    }
    return false;
  }
}

/** Host path of the directory with inode `ino` at or below `rootDir` (whose inode is `rootIno`), or null. */
function findDirectory(rootDir: string, rootIno: number, ino: number): string | null {
  if (ino === rootIno) return rootDir;
  const queue = [rootDir];
  let seen = 0;
  while (queue.length > 0 && seen < MAX_SUBTREE_DIRS) {
    const dir = queue.shift()!;
    let entries;
    try { entries = readdirSync(dir, { withFileTypes: true }); } catch { continue; }
    for (const entry of entries) {
      if (!entry.isDirectory()) continue;
      const path = `${dir}/${entry.name}`;
      seen++;
      try {
        if (native.stat(path, false).ino === ino) return path;
      } catch { continue; }
      queue.push(path);
    }
  }
  return null;
}
