// The typed face of the native shim (docs/native-api.md): the addon build/Release/wasmsup_native.node
// and the paths of the two executables built beside it.
import { createRequire } from 'node:module';
import { PACKAGE_ROOT } from './package-root.js';

const releaseDir = `${PACKAGE_ROOT}build/Release/`;

export const ADDON_PATH = `${releaseDir}wasmsup_native.node`;
/** The launcher executable (native/launcher.c). */
export const LAUNCHER_PATH = `${releaseDir}wasmsup-launch`;
/** The privileged-primitives executable (native/helper.c). */
export const HELPER_PATH = `${releaseDir}wasmsup-helper`;

export type NamespaceKind = 'user' | 'mnt' | 'pid' | 'net' | 'cgroup' | 'ipc' | 'uts' | 'time';

export interface StatResult {
  dev: number;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  rdev: number;
  nlink: number;
  size: number;
}

export interface ReceivedMessage {
  bytes: number;
  fds: number[];
}

export interface NativeConstants {
  readonly SECCOMP_USER_NOTIF_FLAG_CONTINUE: number;
  readonly SECCOMP_ADDFD_FLAG_SETFD: number;
  readonly SECCOMP_ADDFD_FLAG_SEND: number;
  readonly SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: number;
  readonly SECCOMP_FILTER_FLAG_NEW_LISTENER: number;
  readonly SECCOMP_FILTER_FLAG_TSYNC: number;
  readonly SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: number;
  readonly SECCOMP_RET_KILL_PROCESS: number;
  readonly SECCOMP_RET_KILL_THREAD: number;
  readonly SECCOMP_RET_TRAP: number;
  readonly SECCOMP_RET_ERRNO: number;
  readonly SECCOMP_RET_USER_NOTIF: number;
  readonly SECCOMP_RET_TRACE: number;
  readonly SECCOMP_RET_LOG: number;
  readonly SECCOMP_RET_ALLOW: number;
  readonly AUDIT_ARCH_X86_64: number;
  readonly AUDIT_ARCH_I386: number;
  readonly AUDIT_ARCH_AARCH64: number;
  readonly AUDIT_ARCH_ARM: number;
  readonly PIDFD_THREAD: number;
  readonly O_PATH: number;
  readonly O_DIRECTORY: number;
  readonly O_RDONLY: number;
  readonly O_NOFOLLOW: number;
  readonly AT_FDCWD: number;
  readonly RESOLVE_IN_ROOT: number;
  readonly RESOLVE_NO_MAGICLINKS: number;
  readonly RESOLVE_BENEATH: number;
  readonly CREDS_WORDS: number;
  readonly CREDS_UID: number;
  readonly CREDS_GID: number;
  readonly CREDS_UMASK: number;
  readonly CREDS_TGID: number;
  readonly CREDS_CAP_INH: number;
  readonly CREDS_CAP_PRM: number;
  readonly CREDS_CAP_EFF: number;
  readonly CREDS_CAP_BND: number;
  readonly CREDS_NO_NEW_PRIVS: number;
  readonly CREDS_NGROUPS: number;
  readonly CREDS_USERNS_INODE: number;
  readonly CREDS_GROUPS: number;
  readonly CREDS_NGROUPS_MAX: number;
  readonly NOTIF_WORD_ID: number;
  readonly NOTIF_WORD_PID: number;
  readonly NOTIF_WORD_FLAGS: number;
  readonly NOTIF_WORD_NR: number;
  readonly NOTIF_WORD_ARCH: number;
  readonly NOTIF_WORD_IP: number;
  readonly NOTIF_WORD_ARGS: number;
  readonly NOTIF_WORDS: number;
  /** Byte offset in the host's notification buffer of the receive time (CLOCK_MONOTONIC ns, a double) the native data plane writes. */
  readonly NOTIF_BYTE_RECEIVED_NS: number;
  /** Buckets of the latency histogram (native/latency_buckets.h). */
  readonly LATENCY_BUCKETS: number;
}

/** What native.watchReadable returns. */
export interface FdWatch {
  cancel(): void;
}

/**
 * Every function and constant of the addon. Errors are thrown as ErrnoExceptions (`code`, positive
 * `errno`, `syscall`); bad arguments as TypeError/RangeError. Buffers are any ArrayBufferView.
 */
export interface NativeBinding {
  readonly constants: NativeConstants;
  errnoName(n: number): string;
  errnoNumber(name: string): number;

  close(fd: number): void;
  /** A SOCK_SEQPACKET pair; `sendBufferBytes`: the largest message either end must be able to send. */
  socketpair(sendBufferBytes?: number): [number, number];
  /** pipe2(O_CLOEXEC): [read end, write end]. */
  pipe(): [number, number];
  /** poll() of one fd for no event, without waiting: the revents poll always reports (POLLERR, POLLHUP, POLLNVAL). */
  pollRevents(fd: number): number;
  setCloexec(fd: number, on: boolean): void;
  sendMessage(fd: number, data: ArrayBufferView, fds?: number[]): number;
  /** `null` at end of stream; throws ETIMEDOUT when nothing arrived within timeoutMs (-1 = forever). */
  recvMessage(fd: number, buf: ArrayBufferView, timeoutMs: number): ReceivedMessage | null;
  eventfd(): number;
  eventfdWrite(fd: number, n?: number): void;
  /** Bit 1: a notification is pending; 2: the listener hung up; 4: wakeFd fired (drained). 0 on timeout. */
  pollListener(listenerFd: number, wakeFd: number, timeoutMs: number): number;
  /**
   * poll() of `count` listeners (fds[0..count), at most 4096) and `wakeFd` (-1: none) at once: events[i]
   * gets pollListener's bits 1 and 2 for fds[i], or 8 when it is not an open fd; returns 4 when
   * wakeFd fired (drained), else 0.
   */
  pollListeners(fds: Uint32Array, count: number, events: Uint32Array, wakeFd: number, timeoutMs: number): number;
  /**
   * One-shot watch of `fd` from this thread's event loop: `callback(events)` once, with pollListener's
   * bits 1 (readable; a listener: a notification is pending) and 2 (hung up or failed), then the
   * watch is over. `cancel()` stops it (idempotent; the callback is then never called). The fd's
   * flags are restored when the watch ends. EEXIST when this loop already watches the fd.
   */
  watchReadable(fd: number, callback: (events: number) => void): FdWatch;
  openPath(path: string, flags: number): number;
  fstat(fd: number): StatResult;
  stat(path: string, followLinks?: boolean): StatResult;

  notifSizes(): { notif: number; resp: number; data: number };
  notifRecv(listenerFd: number, buf: ArrayBufferView): void;
  notifSend(listenerFd: number, resp: ArrayBufferView): void;
  /**
   * Registers, for the calling thread, the listener and the buffers the per-notification calls below
   * work with (native/dataplane.cc): `notif` (≥ 96 bytes), `response` (≥ 24), and `stats`, whose
   * latency histogram starts at word `latencyWord` and whose max and sum doubles at byte
   * `latencyDoublesByte` (src/dataplane/stats.ts), and `result`, whose first word receives each
   * per-notification call's result (they return undefined: no value is created per call). Replaces an
   * earlier registration; the buffers are kept alive until unregisterDataPlane.
   */
  registerDataPlane(listenerFd: number, notif: Uint8Array, response: Uint8Array, stats: Int32Array, latencyWord: number, latencyDoublesByte: number, result: Int32Array): void;
  unregisterDataPlane(): void;
  /** One blocking RECV into the registered notif, stamping its receive time; result[0] = its errno (0 = received, EINTR = interrupted). */
  dataPlaneReceive(): void;
  /** SEND the registered response (latency counted), then dataPlaneReceive: result[0] = (SEND errno) << 16 | (RECV errno). Never throws for the ioctls. */
  dataPlaneSendReceive(): void;
  /** SEND the registered response now (latency counted); result[0] = its errno. */
  dataPlaneSend(): void;
  /** The notification in hand was answered another way: counts its latency (once). */
  dataPlaneAnswered(): void;
  /** The latency histogram bucket of `ns` (native/latency_buckets.h), for the tests. */
  latencyBucket(ns: number): number;
  /** Makes the calling thread interruptible by interruptThread (no-op handler, no SA_RESTART, unblocked); its tid. EBUSY when the signal has another handler. */
  prepareInterrupt(): number;
  /** tgkill(getpid(), tid, the interrupt signal): a blocking call of that thread returns EINTR. */
  interruptThread(tid: number): void;
  /** pthread_sigmask(SIG_UNBLOCK) of one signal, on the calling thread only (src/signals.ts). */
  unblockSignal(signo: number): void;
  notifIdValid(listenerFd: number, idBuf: ArrayBufferView): boolean;
  notifAddFd(listenerFd: number, addfd: ArrayBufferView): number;
  notifSetFlags(listenerFd: number, flags: number): void;

  pidfdOpen(pid: number, flags?: number): number;
  pidfdGetfd(pidfd: number, targetFd: number): number;
  pidfdSendSignal(pidfd: number, sig: number): void;
  /** prctl(PR_SET_CHILD_SUBREAPER, 1) for the whole process (`run`: orphans of the command become its children). */
  setChildSubreaper(): void;
  /** waitid(P_PID, pid, WEXITED | WNOHANG): true when the zombie child was reaped. Never for a child Node spawned. */
  reapChild(pid: number): boolean;

  readMemory(pid: number, addrLo: number, addrHi: number, dst: ArrayBufferView, len: number): number;
  readString(pid: number, addrLo: number, addrHi: number, dst: ArrayBufferView, max: number): number;
  /** process_vm_writev of src[0..len) to the target; bytes written (short at an unwritable page). No /proc/PID/mem fallback. */
  writeMemory(pid: number, addrLo: number, addrHi: number, src: ArrayBufferView, len: number): number;

  /** bpf(BPF_PROG_LOAD) with only CAP_BPF and CAP_NET_ADMIN effective on this thread: `attr` laid out by the caller; insn_cnt/insns/license/log_size/log_buf are set from the buffers. The kernel's writes to attr (log_true_size) are copied back, also on failure. Throws EWASMSUP_THREAD_TAINTED if the thread's capabilities could not be put back. */
  bpfProgLoad(attr: ArrayBufferView, insns: ArrayBufferView, license: ArrayBufferView, log: ArrayBufferView | null): number;
  /** bpf(BPF_PROG_ATTACH) with `attr` as given (fds and numbers only). */
  bpfProgAttach(attr: ArrayBufferView): void;
  /** bpf(BPF_PROG_DETACH) with `attr` as given. */
  bpfProgDetach(attr: ArrayBufferView): void;
  /** sysinfo(2) into out[0..14): uptime, loads×3 (raw), totalram, freeram, sharedram, bufferram, totalswap, freeswap, procs, totalhigh, freehigh, mem_unit. */
  sysinfo(out: Float64Array): void;

  /** sched_setscheduler(tid, policy, {priority}) with the supervisor's credentials (SCHED emulation). */
  schedSetscheduler(tid: number, policy: number, priority: number): void;
  /** sched_setparam(tid, {priority}). */
  schedSetparam(tid: number, priority: number): void;
  /** sched_setattr(tid, attr, flags) with struct sched_attr laid out in `attr` (≥ 48 bytes, its size field set). */
  schedSetattr(tid: number, attr: ArrayBufferView, flags: number): void;
  /** sched_getscheduler(tid): the policy, SCHED_RESET_ON_FORK included. */
  schedGetscheduler(tid: number): number;
  /** sched_getparam(tid).sched_priority. */
  schedGetparam(tid: number): number;

  /** /proc/TID/status as words (src/layouts.ts, Creds) into out (at least CREDS_WORDS long). */
  readCreds(tid: number, out: Uint32Array): void;
  /**
   * readCreds from an open /proc/TID/status (re-read from its start); ESRCH once that task has exited.
   * With usernsOf, also nsInode(usernsOf, 'user') into out[Creds.USERNS_INODE] (lo, hi): caller_creds'
   * two reads in one crossing.
   */
  readCredsFd(fd: number, out: Uint32Array, usernsOf?: number): void;
  /**
   * mknodat(2) on the calling (worker) thread inside the caller's root, with its umask, fsuid, fsgid and
   * groups from `creds` (readCreds words) and only CAP_MKNOD (never CAP_FSETID); every switch is
   * undone before it returns. 0 or the errno the caller must see; EACCES/EPERM may be stricter
   * than the caller's own answer (native/impersonate.cc). Refused on the main thread; a thread it could
   * not restore throws code EWASMSUP_THREAD_TAINTED and must not be used again.
   */
  mknodatAsCaller(rootFd: number, startFd: number, path: ArrayBufferView, pathLength: number, mode: number, dev: number, creds: Uint32Array): number;
  /** One call of native/as_caller_ops.h on this thread as the caller (native/impersonate.cc, actAsCaller). */
  actAsCaller(rootFd: number, startFd: number, start2Fd: number, targetFd: number, call: Uint32Array, path: ArrayBufferView,
    path2: ArrayBufferView, name: ArrayBufferView, value: ArrayBufferView, creds: Uint32Array, effective: number): number;
  /**
   * AS_CALLER's whole fast way for a call of one path from the caller's cwd, in one crossing: path read
   * once into `path`, /proc/TID/root (and cwd) opened, ID_VALID, the step (native/impersonate.cc,
   * asCallerFast). 0 or -errno; 1: refused with EACCES/EPERM, the exact way decides with `fds` [root, start].
   */
  asCallerFast(listenerFd: number, notif: ArrayBufferView, tid: number, addrLo: number, addrHi: number, call: Uint32Array,
    path: ArrayBufferView, creds: Uint32Array, effective: number, fds: Int32Array): number;
  nsInode(tid: number, kind: NamespaceKind): number;
  readIdMap(tid: number, kind: 'uid' | 'gid', out: Uint32Array): number;

  /** fstat into out[0..10): mode, dev major, dev minor, ino, rdev major, rdev minor, uid, gid, size, nlink. */
  fdStat(fd: number, out: Float64Array): void;
  /** readlink of /proc/self/fd/FD into dst (no NUL); its length. ENAMETOOLONG when it does not fit. */
  fdReadlink(fd: number, dst: ArrayBufferView): number;
  /** SO_DOMAIN, SO_TYPE, SO_PROTOCOL into out[0..3); ENOTSOCK for anything but a socket. */
  fdSocketInfo(fd: number, out: Int32Array): void;
  /** fstatfs(fd).f_type, e.g. 0x9fa0 for procfs. */
  fdFsType(fd: number): number;
  /** fcntl(F_GETFL). */
  fdGetFlags(fd: number): number;
  /** The size of xattr name[0..nameLength) of the file fd names (O_PATH too), with this thread's credentials; throws the errno (ENODATA: none). */
  fdXattrSize(fd: number, name: ArrayBufferView, nameLength: number): number;
  /** openat2(dirfd, path[0..pathLength), {flags|O_CLOEXEC, mode, resolve}); the new fd. */
  openat2(dirfd: number, path: ArrayBufferView, pathLength: number, flags: number, mode: number, resolve: number): number;
  /** open("/proc/self/fd/FD", flags|O_CLOEXEC): a real open of what an O_PATH fd names. */
  reopenFd(fd: number, flags: number): number;
  /** open_tree(fd, "", OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC|AT_EMPTY_PATH): a detached bind mount of what fd names. */
  openTreeClone(fd: number): number;
  /** mount_setattr(fd, "", AT_EMPTY_PATH, {attr_set: attrSet}): MOUNT_ATTR_* bits on that mount. */
  mountSetattr(fd: number, attrSet: number): void;
  /** memfd_create(name, flags | MFD_CLOEXEC): a new in-memory file (native/memfd.cc). */
  memfdCreate(name: string, flags: number): number;
  /** fcntl(fd, F_ADD_SEALS, seals). */
  fdAddSeals(fd: number, seals: number): void;
  /** fcntl(fd, F_GET_SEALS). */
  fdGetSeals(fd: number): number;
  /** fchmod(fd, mode & 07777). */
  fdChmod(fd: number, mode: number): void;

  /** A listening AF_UNIX SOCK_STREAM socket bound to `path` (non-blocking, so accept never blocks). */
  unixListen(path: string, backlog: number): number;
  /** A connection's fd, or null when none is pending any more. */
  unixAccept(fd: number): number | null;
  /** A stream socket connected to `path`; ECONNREFUSED when nobody listens there. */
  unixConnect(path: string): number;
  /** One datagram to the SOCK_DGRAM socket `path` ('@name' = abstract), e.g. sd_notify. */
  unixSendDatagram(path: string, data: ArrayBufferView): number;
}

function loadAddon(): NativeBinding {
  const require = createRequire(import.meta.url);
  try {
    // A copy: the addon's own exports object (and its constants) hold their properties in dictionary
    // mode (added one by one), where every `native.f` on the data plane is a slow, uncached lookup;
    // objects made by a spread have fast properties, whose loads are inline-cached.
    const addon = require(ADDON_PATH) as NativeBinding;
    return { ...addon, constants: Object.freeze({ ...addon.constants }) };
  } catch (e) {
    const reason = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new Error(`wasmsup: cannot load the native addon ${ADDON_PATH} (run "npm run build:native"): ${reason}`);
  }
}

export const native: NativeBinding = loadAddon();

/** True for an error thrown by the shim (or by Node's own fs calls): it carries an errno code. */
export function nativeError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' &&
    typeof (e as NodeJS.ErrnoException).errno === 'number';
}

/** True when `e` is a shim error with errno name `code`. */
export function isErrno(e: unknown, code: string): boolean {
  return nativeError(e) && e.code === code;
}
