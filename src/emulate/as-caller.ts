// The AS_CALLER emulation primitive: one filesystem call (as-caller-calls.ts lists them) performed by
// the host exactly as the caller would — its root, its cwd or dirfd, fsuid/fsgid, groups, umask and
// user namespace — plus only the capabilities the policy lent for this call (within the operator's
// --max-lend, checked before this is reached: dataplane/as-caller-operands.ts). MKNOD is this with
// CAP_MKNOD lent.
//
// The policy decided; everything that makes the result the caller's is done here and in the native
// core (native/as_caller_ops.h), never trusted to the policy:
// - each path is read from the caller's memory exactly once (or, replaced by the policy, taken from
//   the policy's memory once), and those bytes are what is resolved: a thread rewriting the buffer
//   afterwards changes nothing. A replaced path is in the caller's view, resolved exactly like its own;
// - each path's directory part is opened once inside the caller's root (openat2, no magic links) and
//   the call acts on that fd and the last component (or, for chown/chmod/xattrs, on the inode opened
//   from it): a symlink swapped in later cannot move the act. Two ways, as mknod always had:
//   * fast, on this worker thread (native.actAsCaller; for a call of one path from the caller's cwd,
//     native.asCallerFast, which also reads the path, root and cwd and checks ID_VALID, in one
//     crossing): chrooted into the caller's root with its umask,
//     fsuid, fsgid and groups, and as effective capabilities only the lent ones, all undone before
//     returning. Without the caller's own capabilities the answer can only be stricter than the
//     kernel's for it, so every answer but EACCES/EPERM is the caller's (and a success one it would
//     have had, or one the lent capabilities give);
//   * exact, through the privileged helper (native/helper_as_caller.c), for EACCES/EPERM: a child in
//     the caller's user namespace with its capabilities there performs the call as the kernel would;
//     only if that is refused too and the policy lent capabilities, the helper repeats the step on the
//     very fds the child resolved, with the caller's fs identity plus the lent capabilities.
// - every piece of caller state (root, cwd, dirfds, its open file, credentials, id maps) is read first
//   and the notification checked with ID_VALID afterwards, so a reused tid never lends its state.
// Results as every emulator's (contract.ts): 0, or -errno.
import { native } from '../native.js';
import { argLo, Creds, CREDS_WORDS, Notif } from '../layouts.js';
import { TaintedThreadError, THREAD_TAINTED_CODE } from '../errors.js';
import { statusFiles } from '../caller/status-files.js';
import { openCallerPidfd } from '../caller/fd.js';
import type { CallerSnapshot } from '../caller/snapshot.js';
import type { PrivilegedHelper } from './helper-client.js';
import { resultOfErrno } from './contract.js';
import { CallFlag, Op, shapesByPortableId, type CallShape } from './as-caller-calls.js';

const PATH_MAX = 4096;
const XATTR_NAME_CAP = 256; // XATTR_NAME_MAX + 1: a name that fills it is ERANGE
export const XATTR_SIZE_MAX = 65536;
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200, AT_SYMLINK_FOLLOW = 0x400, AT_EMPTY_PATH = 0x1000;
const E = { EPERM: 1, ENOENT: 2, EBADF: 9, EACCES: 13, EFAULT: 14, EINVAL: 22, ERANGE: 34, ENAMETOOLONG: 36, E2BIG: 7 } as const;
const CAP_FSETID = 4, CAP_MKNOD = 27;
const S_ISGID = 0o2000, S_IXGRP = 0o010;
/** No id: the kernel's (uid_t)-1, "leave unchanged". */
const NO_ID = 0xffffffff;
/** What each op is called in log lines. */
const OP_NAMES = ['', 'mknod', 'mkdir', 'symlink', 'link', 'unlink', 'rename', 'chown', 'chmod', 'setxattr', 'removexattr'];
const SIXTEEN_BIT_CHOWN = new Set(['chown', 'lchown', 'fchown']);
const AUDIT_ARCH_I386 = 0x40000003, AUDIT_ARCH_ARM = 0x40000028;
/** Slots of AsCallerEmulator.fds. */
const ROOT = 0, START = 1, START2 = 2, TARGET = 3, USERNS = 4;
/** The fast way could not run for this call: the helper decides. */
const FAST_PATH_UNAVAILABLE = 1;
/** inOneCrossing did nothing (the thread cannot act as a caller): the general way, from the start. */
const ONE_CROSSING_NOT_TAKEN = 2;

/** What the policy asked for beyond the call itself (dataplane/as-caller-operands.ts fills it). */
export interface AsCallerRequest {
  /** Capabilities lent, bits 0..31 (CAP_* numbers), already within --max-lend. */
  lend: number;
  /** Replacement paths in the policy's memory, or null: the caller's own. */
  path: Uint8Array | null;
  path2: Uint8Array | null;
  /** Bit i: argument i is replaced by args[2i] (low word; the high word must be 0 for these 32-bit arguments). */
  argMask: number;
  readonly args: Uint32Array;
}

export function newAsCallerRequest(): AsCallerRequest {
  return { lend: 0, path: null, path2: null, argMask: 0, args: new Uint32Array(12) };
}

/** Word indexes of native.actAsCaller's `call` (native/impersonate.cc, CallWord). */
export const CallWord = {
  OP: 0, FLAGS: 1, RENAME_FLAGS: 2, MODE: 3, DEV: 4, UID: 5, GID: 6, XATTR_FLAGS: 7,
  PATH_LENGTH: 8, PATH2_LENGTH: 9, NAME_LENGTH: 10, VALUE_LENGTH: 11, WORDS: 12,
} as const;

/** One id map (/proc/TID/uid_map or gid_map) as triples, and the namespace id → host id mapping. */
class IdMap {
  lines = 0;
  readonly triples = new Uint32Array(3 * 340);
  /** The host's id for `inside`, or NO_ID when the caller's namespace does not map it. */
  toHost(inside: number): number {
    for (let i = 0; i < this.lines; i++) {
      const first = this.triples[3 * i]!, outside = this.triples[3 * i + 1]!, count = this.triples[3 * i + 2]!;
      if (inside >= first && inside - first < count) return (outside + (inside - first)) >>> 0;
    }
    return NO_ID;
  }
}

export class AsCallerEmulator {
  private readonly shapes = shapesByPortableId();
  private readonly path = new Uint8Array(PATH_MAX);
  private readonly path2 = new Uint8Array(PATH_MAX);
  private readonly name = new Uint8Array(XATTR_NAME_CAP);
  private readonly value = new Uint8Array(XATTR_SIZE_MAX);
  private readonly creds = new Uint32Array(CREDS_WORDS);
  private readonly call = new Uint32Array(CallWord.WORDS);
  private readonly uidMap = new IdMap();
  private readonly gidMap = new IdMap();
  private readonly fds = [-1, -1, -1, -1, -1, -1];
  /** native.asCallerFast's [root, start]. */
  private readonly fastFds = new Int32Array(2);
  /** The notification and request being emulated (for argOf). */
  private words: Uint32Array = new Uint32Array(0);
  private request: AsCallerRequest = newAsCallerRequest();

  constructor(
    private readonly helper: PrivilegedHelper | null,
    private readonly listenerFd: number,
    private readonly warn: (message: string) => void,
    /** Test-only fault injection (src/dataplane/test-faults.ts): runs between reading the paths and acting. */
    private readonly afterPathRead: (() => void) | null = null,
    /** Try native.actAsCaller on this thread first; false sends every call through the helper. */
    private fastPath = true,
  ) {}

  /** Whether `portable` is one of the calls AS_CALLER performs. */
  covers(portable: number): boolean {
    return this.shapes.has(portable);
  }

  /** The shape of the call `portable` (undefined for a call AS_CALLER does not cover). */
  shapeOf(portable: number): CallShape | undefined {
    return this.shapes.get(portable);
  }

  /** Performs the call for the notification in `notif` as its caller; 0 or -errno. */
  emulate(notif: Uint8Array, words: Uint32Array, portable: number, request: AsCallerRequest, caller: CallerSnapshot): number {
    const shape = this.shapes.get(portable);
    if (shape === undefined) return -E.EPERM; // the primitive table lists only covered calls
    if (this.helper === null) {
      this.warn(`${OP_NAMES[shape.op]} emulation needs a privileged supervisor (root in the initial user namespace); answering EPERM`);
      return -E.EPERM;
    }
    const tid = words[Notif.TID]!;
    // No closure or array per call: the data plane allocates nothing per notification.
    this.words = words;
    this.request = request;
    const arg = this.argOf;
    const call = this.call;
    // A loop, not call.fill(0): cheaper for 12 words than the builtin's call.
    for (let i = 0; i < call.length; i++) call[i] = 0;
    call[CallWord.OP] = shape.op;
    let flags = shape.fixed;

    // The flags word first: the kernel refuses unknown flags before it reads anything.
    let emptyPathAllowed = false;
    if (shape.flags >= 0) {
      const f = arg(shape.flags) >>> 0;
      if ((f & ~shape.allowedFlags) !== 0) return -E.EINVAL;
      if (shape.op === Op.RENAME) call[CallWord.RENAME_FLAGS] = f;
      else {
        if (f & AT_SYMLINK_NOFOLLOW) flags |= CallFlag.NOFOLLOW;
        if (f & AT_REMOVEDIR) flags |= CallFlag.REMOVEDIR;
        if (f & AT_SYMLINK_FOLLOW) flags |= CallFlag.FOLLOW;
        emptyPathAllowed = (f & AT_EMPTY_PATH) !== 0;
      }
    }
    if (shape.mode >= 0) call[CallWord.MODE] = arg(shape.mode);
    if (shape.op === Op.MKNOD) call[CallWord.MODE] &= 0xffff; // umode_t
    if (shape.dev >= 0) call[CallWord.DEV] = arg(shape.dev);

    // setxattr_copy/import_xattr_name: flags, name and value before the path.
    if (shape.name_ >= 0) {
      if (shape.xattrFlags >= 0) {
        const xf = arg(shape.xattrFlags) >>> 0;
        if ((xf & ~3) !== 0) return -E.EINVAL;
        call[CallWord.XATTR_FLAGS] = xf;
      }
      let n: number;
      try {
        n = native.readString(tid, words[argLo(shape.name_)]!, words[argLo(shape.name_) + 1]!, this.name, XATTR_NAME_CAP);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        return code === 'ENAMETOOLONG' ? -E.ERANGE : -((e as NodeJS.ErrnoException).errno ?? E.EFAULT);
      }
      if (n === 0) return -E.ERANGE;
      call[CallWord.NAME_LENGTH] = n;
      if (shape.value >= 0) {
        const size = words[argLo(shape.size)]! >>> 0;
        if (words[argLo(shape.size) + 1] !== 0 || size > XATTR_SIZE_MAX) return -E.E2BIG;
        if (size > 0) {
          try {
            native.readMemory(tid, words[argLo(shape.value)]!, words[argLo(shape.value) + 1]!, this.value, size);
          } catch (e) {
            return -((e as NodeJS.ErrnoException).errno ?? E.EFAULT);
          }
        }
        call[CallWord.VALUE_LENGTH] = size;
      }
    }

    // The common calls (one path from the caller's cwd, nothing else to read or map) in one crossing.
    let creds: Uint32Array | null = null;
    if (this.fastPath && this.afterPathRead === null && shape.path >= 0 && shape.path2 < 0 && shape.name_ < 0
        && shape.op !== Op.CHOWN && shape.op !== Op.SYMLINK && (flags & CallFlag.BY_FD) === 0 && !emptyPathAllowed
        && request.path === null && this.dirfdOf(shape.dirfd) === AT_FDCWD) {
      call[CallWord.FLAGS] = flags;
      try {
        creds = this.credsFor(tid, words, caller);
      } catch (e) {
        return this.failed(shape, tid, e);
      }
      if (creds[Creds.UMASK]! <= 0o777 && !this.fsetidNeedsCaller(shape.op, creds, request.lend)) {
        const result = this.inOneCrossing(notif, words, tid, shape, creds, request);
        if (result !== ONE_CROSSING_NOT_TAKEN) return result;
      }
    }

    // getname(): each path is copied before anything is looked up, the first one first.
    if (shape.path >= 0) {
      const length = this.readPath(tid, words, shape.path, request.path, this.path);
      if (length < 0) return length;
      if (length === 0) {
        // AT_EMPTY_PATH acts on the dirfd itself; a symlink's empty content and every other empty path is ENOENT.
        if (!emptyPathAllowed || shape.op === Op.SYMLINK) return -E.ENOENT;
        flags |= CallFlag.EMPTY_PATH;
      }
      call[CallWord.PATH_LENGTH] = length;
    }
    if (shape.path2 >= 0) {
      const length = this.readPath(tid, words, shape.path2, request.path2, this.path2);
      if (length < 0) return length;
      if (length === 0) return -E.ENOENT;
      call[CallWord.PATH2_LENGTH] = length;
    }
    call[CallWord.FLAGS] = flags;
    // Before the caller's fds are copied (pidfd_getfd of a dirfd or fd argument): its tid is its own.
    if (!native.notifIdValid(this.listenerFd, notif)) return -E.ENOENT;
    if (this.afterPathRead !== null) this.afterPathRead();

    // Then the rest of the caller's state, and ID_VALID again after the last read, before anything is done.
    const fds = this.fds;
    fds.fill(-1);
    try {
      fds[ROOT] = native.openPath(`/proc/${tid}/root`, native.constants.O_PATH | native.constants.O_DIRECTORY);
      // The first path's start: only a relative path that is resolved (a symlink's content is not).
      if (shape.op !== Op.SYMLINK && shape.path >= 0 && (flags & CallFlag.EMPTY_PATH) === 0 && this.path[0] !== 0x2f) {
        fds[START] = this.startOf(tid, this.dirfdOf(shape.dirfd));
      }
      if (shape.path2 >= 0 && this.path2[0] !== 0x2f) fds[START2] = this.startOf(tid, this.dirfdOf(shape.dirfd2));
      if ((flags & CallFlag.EMPTY_PATH) !== 0) fds[TARGET] = this.startOf(tid, this.dirfdOf(shape.dirfd));
      if ((flags & CallFlag.BY_FD) !== 0) fds[TARGET] = this.callerFd(tid, arg(shape.fd) | 0);
      // A dirfd or fd the caller does not have: its -errno (EBADF).
      for (let i = START; i <= TARGET; i++) if (fds[i]! < -1) return fds[i]!;

      creds ??= this.credsFor(tid, words, caller);

      // chown's ids are the caller's namespace's: the host acts with them mapped into its own.
      let hostUid = NO_ID, hostGid = NO_ID, unmapped = false, callerUid = NO_ID, callerGid = NO_ID;
      if (shape.op === Op.CHOWN) {
        let uid = arg(shape.uid) >>> 0, gid = arg(shape.gid) >>> 0;
        // i386 and arm's chown, lchown and fchown (not the *32 forms) take 16-bit ids, -1 being 0xffff.
        if (SIXTEEN_BIT_CHOWN.has(shape.name) && (words[Notif.ARCH] === AUDIT_ARCH_I386 || words[Notif.ARCH] === AUDIT_ARCH_ARM)) {
          uid = (uid & 0xffff) === 0xffff ? NO_ID : uid & 0xffff;
          gid = (gid & 0xffff) === 0xffff ? NO_ID : gid & 0xffff;
        }
        call[CallWord.UID] = callerUid = uid;
        call[CallWord.GID] = callerGid = gid;
        this.uidMap.lines = native.readIdMap(tid, 'uid', this.uidMap.triples);
        this.gidMap.lines = native.readIdMap(tid, 'gid', this.gidMap.triples);
        if (uid !== NO_ID) hostUid = this.uidMap.toHost(uid);
        if (gid !== NO_ID) hostGid = this.gidMap.toHost(gid);
        // Unmapped: the caller's EINVAL comes after its own lookup, which only the exact way has.
        unmapped = (uid !== NO_ID && hostUid === NO_ID) || (gid !== NO_ID && hostGid === NO_ID);
      }
      if (!native.notifIdValid(this.listenerFd, notif)) return -E.ENOENT;

      // The xattr calls by path never take the fast way: on an O_PATH inode fd the kernel offers no
      // *xattrat form (EBADF), so the step names the last component again (setxattrat(dir, last));
      // a symlink swapped in there would be followed by this supervisor thread, whose /proc/self is
      // the supervisor (/proc/self/root: the host's root) whenever the caller's /proc shows host pids.
      // The exact way's child is the caller itself, where such a name means only what it would mean
      // to the caller (its /proc/self is the child, chrooted).
      const xattrByName = (shape.op === Op.SETXATTR || shape.op === Op.REMOVEXATTR) && (flags & CallFlag.BY_FD) === 0;
      if (this.fastPath && !xattrByName && creds[Creds.UMASK]! <= 0o777 && !unmapped && !this.fsetidNeedsCaller(shape.op, creds, request.lend)) {
        // This thread is in the initial namespace: the ids as it names them, then the caller's again.
        if (shape.op === Op.CHOWN) { call[CallWord.UID] = hostUid; call[CallWord.GID] = hostGid; }
        const result = this.onThisThread(fds[ROOT]!, fds[START]!, fds[START2]!, fds[TARGET]!, creds, request.lend >>> 0);
        if (shape.op === Op.CHOWN) { call[CallWord.UID] = callerUid; call[CallWord.GID] = callerGid; }
        if (result !== -E.EACCES && result !== -E.EPERM && result !== FAST_PATH_UNAVAILABLE) return result;
      }
      return this.exactWay(notif, tid, shape, creds, request, hostUid, hostGid);
    } catch (e) {
      return this.failed(shape, tid, e);
    } finally {
      this.closeFds();
    }
  }

  /** The caller's confirmed credentials from the policy's read, else read now (all its groups). Throws as readCreds does. */
  private credsFor(tid: number, words: Uint32Array, caller: CallerSnapshot): Uint32Array {
    let creds = caller.credsOf(words);
    if (creds === null) {
      statusFiles.readCreds(tid, this.creds);
      creds = this.creds;
    }
    return statusFiles.withAllGroups(tid, creds);
  }

  /**
   * native.asCallerFast: path, root and cwd read, ID_VALID, the step on this thread; the exact way
   * with what it read when the step was refused with EACCES/EPERM or the thread could not act.
   */
  private inOneCrossing(notif: Uint8Array, words: Uint32Array, tid: number, shape: CallShape, creds: Uint32Array,
                        request: AsCallerRequest): number {
    const fast = this.fastFds;
    fast[0] = fast[1] = -1;
    const lo = argLo(shape.path);
    try {
      let result: number;
      try {
        result = native.asCallerFast(this.listenerFd, notif, tid, words[lo]!, words[lo + 1]!, this.call, this.path, creds,
          request.lend >>> 0, fast);
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (err.code === THREAD_TAINTED_CODE) throw new TaintedThreadError(err.message);
        if (fast[0]! < 0) {
          // Nothing of the caller read, or nothing kept: as the general way would answer.
          if (!err.syscall?.includes('unshare')) throw e;
          this.fastPath = false;
          this.warn(`as-caller emulation: ${err.message}; every call goes through the helper`);
          return ONE_CROSSING_NOT_TAKEN;
        }
        result = FAST_PATH_UNAVAILABLE; // the switch failed after the reads: the exact way with them
      }
      if (result !== FAST_PATH_UNAVAILABLE) return result;
      const fds = this.fds;
      fds.fill(-1);
      fds[ROOT] = fast[0]!;
      fds[START] = fast[1]!;
      fast[0] = fast[1] = -1;
      return this.exactWay(notif, tid, shape, creds, request, NO_ID, NO_ID);
    } catch (e) {
      return this.failed(shape, tid, e);
    } finally {
      if (fast[0]! >= 0) native.close(fast[0]!);
      if (fast[1]! >= 0) native.close(fast[1]!);
      this.closeFds();
    }
  }

  /**
   * The exact way, through the helper, with the fds in this.fds and the paths read: a child in the
   * caller's user namespace (its user namespace read last, then ID_VALID).
   */
  private exactWay(notif: Uint8Array, tid: number, shape: CallShape, creds: Uint32Array, request: AsCallerRequest,
                   hostUid: number, hostGid: number): number {
    const fds = this.fds, call = this.call, helper = this.helper!;
    fds[USERNS] = native.openPath(`/proc/${tid}/ns/user`, native.constants.O_RDONLY);
    if (!native.notifIdValid(this.listenerFd, notif)) return -E.ENOENT;
    if (shape.op === Op.MKNOD && request.lend >>> 0 === 1 << CAP_MKNOD) {
      // mknod's own exact way: kept impersonators, and the create step it has always had.
      return resultOfErrno(helper.mknod({
        rootFd: fds[ROOT]!, startFd: fds[START]!, usernsFd: fds[USERNS]!, path: this.path,
        pathLength: call[CallWord.PATH_LENGTH]!, mode: call[CallWord.MODE]!, dev: call[CallWord.DEV]!, creds,
      }));
    }
    return resultOfErrno(helper.asCaller({
      rootFd: fds[ROOT]!, usernsFd: fds[USERNS]!, startFd: fds[START]!, start2Fd: fds[START2]!, targetFd: fds[TARGET]!,
      call, path: this.path, path2: this.path2, name: this.name, value: this.value, creds,
      hostUid, hostGid, lend: request.lend >>> 0,
    }));
  }

  /** What an exception while emulating answers: ENOENT when the caller is gone, else EPERM after a log line. */
  private failed(shape: CallShape, tid: number, e: unknown): number {
    if (e instanceof TaintedThreadError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT' || err.code === 'ESRCH') return -E.ENOENT;
    this.warn(`${shape.name} as the caller for tid ${tid} failed: ${err.message}`);
    return -E.EPERM;
  }

  private closeFds(): void {
    const fds = this.fds;
    for (let i = 0; i < fds.length; i++) {
      if (fds[i]! >= 0) native.close(fds[i]!);
      fds[i] = -1;
    }
  }

  /** Argument i of the call being emulated: the policy's replacement, or the caller's own (low word). */
  private readonly argOf = (i: number): number =>
    ((this.request.argMask >>> i) & 1) !== 0 ? this.request.args[2 * i]! : this.words[argLo(i)]!;

  /** The dirfd argument at index i (-1: the call has none, AT_FDCWD). */
  private dirfdOf(i: number): number {
    return i >= 0 ? this.argOf(i) | 0 : AT_FDCWD;
  }

  /** The path at argument `index` (or the policy's replacement) into `out`: its length, or -errno. */
  private readPath(tid: number, words: Uint32Array, index: number, replacement: Uint8Array | null, out: Uint8Array): number {
    if (replacement !== null) {
      out.set(replacement);
      return replacement.byteLength;
    }
    try {
      return native.readString(tid, words[argLo(index)]!, words[argLo(index) + 1]!, out, PATH_MAX);
    } catch (e) {
      return -((e as NodeJS.ErrnoException).errno ?? E.EFAULT);
    }
  }

  /**
   * Where a relative path starts: the caller's cwd for AT_FDCWD, else that very open file of the
   * caller (pidfd_getfd; one that is no directory is the kernel's ENOTDIR at the lookup). An fd, or
   * -errno (< -1) for the caller.
   */
  private startOf(tid: number, dirfd: number): number {
    if (dirfd === AT_FDCWD) {
      return native.openPath(`/proc/${tid}/cwd`, native.constants.O_PATH | native.constants.O_DIRECTORY);
    }
    return this.callerFd(tid, dirfd);
  }

  /** The caller's open file `fd` (O_CLOEXEC copy), or -EBADF. */
  private callerFd(tid: number, fd: number): number {
    if (fd < 0) return -E.EBADF;
    let pidfd = -1;
    try {
      pidfd = openCallerPidfd(tid);
      return native.pidfdGetfd(pidfd, fd);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EBADF') return -E.EBADF;
      throw e;
    } finally {
      if (pidfd >= 0) native.close(pidfd);
    }
  }

  /**
   * Whether only the caller's own CAP_FSETID can tell if a setgid bit it asks for survives (mknod of
   * S_ISGID|S_IXGRP, chmod to S_ISGID): the fast way, without it and in the initial namespace, cannot
   * reproduce the rule for files whose owner and group the caller's namespace maps.
   */
  private fsetidNeedsCaller(op: number, creds: Uint32Array, lend: number): boolean {
    if ((creds[Creds.CAP_EFF]! & (1 << CAP_FSETID)) === 0 || (lend & (1 << CAP_FSETID)) !== 0) return false;
    const mode = this.call[CallWord.MODE]!;
    if (op === Op.MKNOD) return (mode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP);
    return op === Op.CHMOD && (mode & S_ISGID) !== 0;
  }

  /** The fast way's result (0 or -errno), or FAST_PATH_UNAVAILABLE. */
  private onThisThread(rootFd: number, startFd: number, start2Fd: number, targetFd: number, creds: Uint32Array, effective: number): number {
    try {
      return resultOfErrno(native.actAsCaller(rootFd, startFd, start2Fd, targetFd, this.call, this.path, this.path2,
        this.name, this.value, creds, effective));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === THREAD_TAINTED_CODE) throw new TaintedThreadError(err.message);
      if (err.syscall?.includes('unshare')) {
        this.fastPath = false;
        this.warn(`as-caller emulation: ${err.message}; every call goes through the helper`);
      }
      return FAST_PATH_UNAVAILABLE;
    }
  }
}
