// Client of wasmsup-helper (native/helper.c), the single-threaded process that performs emulations
// needing credential or namespace changes. Synchronous, so a data-plane worker can call it while it
// holds a notification; the request buffer is reused across calls.
//
// The wire format is defined once, in native/helper_wire.h; the constants and the header layout
// below (`header`) follow it.
import { spawn, type ChildProcess } from 'node:child_process';
import { HELPER_PATH, native } from '../native.js';
import { Creds } from '../layouts.js';

export interface MknodRequest {
  /** The caller's /proc/TID/root (O_PATH|O_DIRECTORY). */
  rootFd: number;
  /** The caller's cwd or mknodat dirfd; -1 when the path is absolute. */
  startFd: number;
  /** The caller's /proc/TID/ns/user. */
  usernsFd: number;
  /** The path as the caller passed it; only the first pathLength bytes are used. */
  path: Uint8Array;
  pathLength: number;
  mode: number;
  /** Raw u32 syscall argument (the kernel's old 32-bit dev encoding), passed through unchanged. */
  dev: number;
  /** native.readCreds layout. */
  creds: Uint32Array;
}

export interface SetxattrRequest {
  rootFd: number;
  /** The caller's cwd or dirfd for a relative path, or its open file with AT_EMPTY_PATH; else -1. */
  startFd: number;
  usernsFd: number;
  path: Uint8Array;
  /** 0 only with AT_EMPTY_PATH. */
  pathLength: number;
  /** XATTR_CREATE | XATTR_REPLACE as the caller passed them. */
  xattrFlags: number;
  /** AT_SYMLINK_NOFOLLOW (lsetxattr) or AT_EMPTY_PATH (fsetxattr). */
  atFlags: number;
  name: Uint8Array;
  value: Uint8Array;
  creds: Uint32Array;
}

/** One GETXATTR request (native/helper_getxattr.c): read back managed names as the host. */
export interface GetxattrRequest {
  rootFd: number;
  /** The caller's cwd or dirfd for a relative path, or its open file with AT_EMPTY_PATH; else -1. */
  startFd: number;
  usernsFd: number;
  path: Uint8Array;
  /** 0 only with AT_EMPTY_PATH. */
  pathLength: number;
  /** listxattr (the caller's own list plus the managed names present) rather than getxattr of `names`. */
  list: boolean;
  /** AT_SYMLINK_NOFOLLOW (the l* forms) or AT_EMPTY_PATH (the f* forms). */
  atFlags: number;
  /** getxattr: the one name; listxattr: the managed names, separated by single NULs (1..255 bytes). */
  names: Uint8Array;
  creds: Uint32Array;
}

export interface MountRequest {
  rootFd: number;
  /** The caller's cwd (always: the source or target may be relative). */
  cwdFd: number;
  usernsFd: number;
  /** The caller's /proc/TID/ns/mnt. */
  mntnsFd: number;
  /** The caller's /proc/TID/ns/pid, with MOUNT_WANT.FUSE only; else -1. */
  pidnsFd: number;
  /** The caller's cgroup2 cgroup.procs opened for writing (MOUNT_HAS_CGROUP is then set here), or -1. */
  cgroupProcsFd: number;
  /** Empty for an umount. */
  source: Uint8Array;
  target: Uint8Array;
  /** Empty for an umount; the FUSE program's file name with MOUNT_WANT.FUSE. */
  fstype: Uint8Array;
  /** The caller's option string, cut as the kernel cuts it (at most 4095 bytes, no NUL). */
  options: Uint8Array;
  /** MOUNT_ATTR_* of the new mount. */
  attr: number;
  /** MOUNT_WANT_* bits; for an umount, MOUNT_REQUEST_UMOUNT | umount2's flags. */
  flags: number;
  /** For an umount: ids of the mounts made for this workload (1..MOUNT_MAX_TRACKED). */
  tracked: readonly bigint[];
  creds: Uint32Array;
}

/** One AS_CALLER call (src/emulate/as-caller.ts) for the exact way. */
export interface AsCallerHelperRequest {
  rootFd: number;
  usernsFd: number;
  /** Where the first/second relative path starts (the caller's cwd or dirfd), else -1. */
  startFd: number;
  start2Fd: number;
  /** The caller's open file (f* forms) or the fd of an AT_EMPTY_PATH form, else -1. */
  targetFd: number;
  /** actAsCaller's call words (as-caller.ts, CallWord), uid/gid as the caller's namespace names them. */
  call: Uint32Array;
  path: Uint8Array;
  path2: Uint8Array;
  name: Uint8Array;
  value: Uint8Array;
  creds: Uint32Array;
  /** The ids mapped into the supervisor's namespace (for the lend step), or 0xffffffff. */
  hostUid: number;
  hostGid: number;
  /** Capabilities lent (bits 0..31). */
  lend: number;
}

// native/helper_wire.h: OP_*, XATTR_*_LIMIT, WIRE_HEADER_BYTES, WIRE_MAX_*, AS_CALLER_WIRE_*, MOUNT_*.
const OP_MKNOD = 1;
const OP_SETXATTR = 2;
const OP_AS_CALLER = 3;
const AS_CALLER_WIRE_WORDS = 13;
const AS_CALLER_VALUE_LIMIT = 65536;
const OP_MOUNT = 4;
const OP_GETXATTR = 6;
const GETXATTR_LIST_REQUEST = 1;
/** The bytes of a GETXATTR answer: XATTR_SIZE_MAX and XATTR_LIST_MAX are both 64 KiB. */
export const GETXATTR_ANSWER_LIMIT = 65536;
export const MOUNT_WANT = { RDONLY: 1, SYNC: 2, DIRSYNC: 4, LAZYTIME: 8, SHIFT: 0x100, FUSE: 0x200 } as const;
export const MOUNT_REQUEST_UMOUNT = 0x80000000;
const MOUNT_HAS_CGROUP = 0x400;
export const MOUNT_FSTYPE_MAX = 63;
export const MOUNT_MAX_TRACKED = 64;
export const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_EMPTY_PATH = 0x1000;
const XATTR_LIMIT = 255;
const HEADER_BYTES = 80;
/** NGROUPS_MAX: the caller's whole list travels, never a cut one. */
const MAX_GROUPS = Creds.NGROUPS_MAX;
/** PATH_MAX less the NUL. */
const MAX_PATH_LENGTH = 4095;
const ENOENT = 2;
const ENAMETOOLONG = 36;
const SIGKILL = 9;
/**
 * How long one answer of the helper may take. The helper bounds each of its own exchanges with an
 * impersonator (2 s, IMPERSONATOR_TIMEOUT_MS in native/helper.h) and a request makes at most three
 * of them, so a helper that has not answered by then is wedged itself (e.g. blocked in a filesystem
 * a workload serves).
 */
export const HELPER_TIMEOUT_MS = 10_000;

/** A readCreds buffer that holds every group of its caller (acting with fewer would be a wrong answer). */
function checkCreds(creds: Uint32Array, op: string): void {
  if (creds.length < Creds.GROUPS + Creds.MAX_GROUPS) throw new RangeError(`PrivilegedHelper.${op}: creds is not a readCreds buffer`);
  const ngroups = creds[Creds.NGROUPS]!;
  if (ngroups > MAX_GROUPS || Creds.GROUPS + ngroups > creds.length) {
    throw new RangeError(`PrivilegedHelper.${op}: creds does not hold all ${ngroups} groups of the caller`);
  }
}

export class PrivilegedHelper {
  /** Replaced only by replace(). */
  socketFd: number;
  private static readonly MAX_REQUEST_BYTES = Math.max(
    HEADER_BYTES + 4 * MAX_GROUPS + 2 * MAX_PATH_LENGTH + 4 * AS_CALLER_WIRE_WORDS + XATTR_LIMIT + AS_CALLER_VALUE_LIMIT,
    HEADER_BYTES + 4 * MAX_GROUPS + 12 + 3 * MAX_PATH_LENGTH + MOUNT_FSTYPE_MAX + 4 + 8 * MOUNT_MAX_TRACKED);
  private readonly request = new Uint8Array(PrivilegedHelper.MAX_REQUEST_BYTES);
  private readonly words = new Uint32Array(this.request.buffer, 0, (HEADER_BYTES + 4 * MAX_GROUPS) / 4);
  private readonly reply = new Int32Array(4);
  /** GETXATTR's answer (errno, length, bytes) and its bytes; made on first use, kept. */
  private xattrReply: Uint8Array | null = null;
  private xattrBytes: Uint8Array | null = null;
  private readonly rootAndUserns = [0, 0];
  private readonly rootUsernsAndStart = [0, 0, 0];
  private readonly asCallerFds: number[] = [];
  private readonly view = new DataView(this.request.buffer);
  private closed = false;
  private wedged = false;

  /** Starts HELPER_PATH with fd 3 one end of a new socketpair; the helper exits when the other end closes. */
  static start(): { helper: PrivilegedHelper; process: ChildProcess } {
    // A request with a caller's every group is larger than a socket's default send buffer.
    const [ours, theirs] = native.socketpair(PrivilegedHelper.MAX_REQUEST_BYTES + 4096);
    let child: ChildProcess;
    try {
      child = spawn(HELPER_PATH, [], { stdio: ['ignore', 'inherit', 'inherit', theirs] });
    } catch (e) {
      native.close(ours);
      throw e;
    } finally {
      native.close(theirs);
    }
    // A helper that cannot start shows up as EPIPE/EOF on the first request; don't crash on the event.
    child.on('error', (e) => process.stderr.write(`wasmsup: cannot start ${HELPER_PATH}: ${e.message}\n`));
    // Opened now, before this thread's event loop can reap the child: the pidfd names this helper
    // and never a later holder of its pid. -1 if it did not start (it then answers nothing anyway).
    let pidfd = -1;
    if (child.pid !== undefined) {
      try { pidfd = native.pidfdOpen(child.pid); } catch { /* already gone */ }
    }
    return { helper: new PrivilegedHelper(ours, pidfd), process: child };
  }

  /**
   * `socketFd`: a connected SOCK_SEQPACKET socket to a helper. One thread at a time may use it.
   * `pidfd`: the helper's, to kill it when it does not answer in time (-1: only close the socket).
   * The pidfd stays the starter's to close (`closePidfd`).
   */
  constructor(socketFd: number, public pidfd = -1) {
    if (!Number.isInteger(socketFd) || socketFd < 0) throw new RangeError(`PrivilegedHelper: bad socket fd ${socketFd}`);
    this.socketFd = socketFd;
  }

  /** 0 when the node was created, else the positive errno the caller must see. Throws when the helper is gone. */
  mknod(req: MknodRequest): number {
    const { pathLength, creds } = req;
    if (!Number.isInteger(pathLength) || pathLength < 0 || pathLength > req.path.byteLength) {
      throw new RangeError(`PrivilegedHelper.mknod: pathLength ${pathLength} outside the path buffer`);
    }
    checkCreds(creds, 'mknod');
    // What the kernel's getname() answers before anything is looked up.
    if (pathLength === 0) return ENOENT;
    if (pathLength > MAX_PATH_LENGTH) return ENAMETOOLONG;
    const relative = req.path[0] !== 0x2f; // '/'
    if (relative && req.startFd < 0) throw new RangeError('PrivilegedHelper.mknod: a relative path needs startFd');

    const pathOffset = this.header(OP_MKNOD, req.mode, req.dev, creds, pathLength);
    this.request.set(req.path.subarray(0, pathLength), pathOffset);

    let fds: number[];
    if (relative) {
      fds = this.rootUsernsAndStart;
      fds[2] = req.startFd;
    } else {
      fds = this.rootAndUserns;
    }
    fds[0] = req.rootFd;
    fds[1] = req.usernsFd;
    return this.exchange(pathOffset + pathLength, fds);
  }

  /**
   * Sets the xattr `name` = `value` on the file the caller names, after checking as the caller that
   * it could modify it; 0 or the errno the caller must see. Throws when the helper is gone.
   */
  setxattr(req: SetxattrRequest): number {
    const { pathLength, creds, name, value } = req;
    const byFd = (req.atFlags & AT_EMPTY_PATH) !== 0;
    if (!Number.isInteger(pathLength) || pathLength < 0 || pathLength > req.path.byteLength || pathLength > MAX_PATH_LENGTH) {
      throw new RangeError(`PrivilegedHelper.setxattr: pathLength ${pathLength} outside the path buffer`);
    }
    if (byFd !== (pathLength === 0)) throw new RangeError('PrivilegedHelper.setxattr: AT_EMPTY_PATH goes with an empty path, and only it');
    if (name.byteLength < 1 || name.byteLength > XATTR_LIMIT || value.byteLength > XATTR_LIMIT) {
      throw new RangeError('PrivilegedHelper.setxattr: name must be 1..255 bytes, value 0..255');
    }
    checkCreds(creds, 'setxattr');
    const relative = !byFd && req.path[0] !== 0x2f;
    if ((relative || byFd) && req.startFd < 0) throw new RangeError('PrivilegedHelper.setxattr: needs startFd');

    const pathOffset = this.header(OP_SETXATTR, req.xattrFlags, req.atFlags, creds, pathLength);
    this.request.set(req.path.subarray(0, pathLength), pathOffset);
    const tail = new DataView(this.request.buffer, pathOffset + pathLength, 8);
    tail.setUint32(0, name.byteLength, true);
    tail.setUint32(4, value.byteLength, true);
    this.request.set(name, pathOffset + pathLength + 8);
    this.request.set(value, pathOffset + pathLength + 8 + name.byteLength);
    const fds = this.xattrFds(relative || byFd, req);
    return this.exchange(pathOffset + pathLength + 8 + name.byteLength + value.byteLength, fds);
  }

  /** The fds an xattr request passes: the caller's root and user namespace, and where its lookup starts when not at the root. */
  private xattrFds(withStart: boolean, req: { rootFd: number; usernsFd: number; startFd: number }): number[] {
    const fds = withStart ? this.rootUsernsAndStart : this.rootAndUserns;
    if (withStart) fds[2] = req.startFd;
    fds[0] = req.rootFd;
    fds[1] = req.usernsFd;
    return fds;
  }

  /**
   * Reads back, as the host, the managed names on the file the caller names, after checking as the
   * caller that their reading counts for it (native/helper_getxattr.c). The answer's length (≥ 0;
   * its bytes are `xattrAnswer`'s first ones) or -errno for the caller. Throws when the helper is gone.
   */
  getxattr(req: GetxattrRequest): number {
    const { pathLength, creds, names } = req;
    const byFd = (req.atFlags & AT_EMPTY_PATH) !== 0;
    if (!Number.isInteger(pathLength) || pathLength < 0 || pathLength > req.path.byteLength || pathLength > MAX_PATH_LENGTH) {
      throw new RangeError(`PrivilegedHelper.getxattr: pathLength ${pathLength} outside the path buffer`);
    }
    if (byFd !== (pathLength === 0)) throw new RangeError('PrivilegedHelper.getxattr: AT_EMPTY_PATH goes with an empty path, and only it');
    if (names.byteLength < 1 || names.byteLength > XATTR_LIMIT) throw new RangeError('PrivilegedHelper.getxattr: names must be 1..255 bytes');
    checkCreds(creds, 'getxattr');
    const relative = !byFd && req.path[0] !== 0x2f;
    if ((relative || byFd) && req.startFd < 0) throw new RangeError('PrivilegedHelper.getxattr: needs startFd');
    const pathOffset = this.header(OP_GETXATTR, req.list ? GETXATTR_LIST_REQUEST : 0, req.atFlags, creds, pathLength);
    this.request.set(req.path.subarray(0, pathLength), pathOffset);
    let at = this.word(pathOffset + pathLength, names.byteLength);
    at = this.word(at, 0);
    this.request.set(names, at);
    at += names.byteLength;
    const fds = this.xattrFds(relative || byFd, req);
    const reply = this.xattrAnswerBuffer();
    const bytes = this.send(at, fds, reply);
    const errno = bytes >= 8 ? this.view32(reply, 0) | 0 : -1, length = bytes >= 8 ? this.view32(reply, 4) : -1;
    if (bytes < 8 || length !== bytes - 8 || (errno !== 0 && length !== 0) || errno < 0) {
      throw new Error(`wasmsup-helper: malformed answer of ${bytes} bytes`);
    }
    return errno !== 0 ? -errno : length;
  }

  /** The bytes of the last getxattr answer (its return value says how many). */
  get xattrAnswer(): Uint8Array {
    this.xattrAnswerBuffer();
    return this.xattrBytes!;
  }

  private xattrAnswerBuffer(): Uint8Array {
    if (this.xattrReply === null) {
      this.xattrReply = new Uint8Array(8 + GETXATTR_ANSWER_LIMIT);
      this.xattrBytes = this.xattrReply.subarray(8);
    }
    return this.xattrReply;
  }

  /** The little-endian u32 at byte `at` of `b`. */
  private view32(b: Uint8Array, at: number): number {
    return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
  }

  /**
   * Mounts (or, with MOUNT_REQUEST_UMOUNT in flags, unmounts as the caller) for the caller
   * (native/helper_mount.c). The errno the caller must see (0 = done) and the mount's id; an umount
   * of a path that names no tracked mount answers EAGAIN. Throws when the helper is gone.
   */
  mount(req: MountRequest): { errno: number; mountId: bigint } {
    const umount = (req.flags & MOUNT_REQUEST_UMOUNT) !== 0;
    const lengths = [req.source.byteLength, req.target.byteLength, req.fstype.byteLength, req.options.byteLength];
    if (lengths.some((n) => n > MAX_PATH_LENGTH) || req.target.byteLength === 0 || req.fstype.byteLength > MOUNT_FSTYPE_MAX
      || (umount ? req.source.byteLength !== 0 || req.tracked.length === 0 || req.tracked.length > MOUNT_MAX_TRACKED
        : req.source.byteLength === 0 || req.fstype.byteLength === 0)) {
      throw new RangeError('PrivilegedHelper.mount: source, target, fstype or options out of bounds');
    }
    checkCreds(req.creds, 'mount');
    const cgroup = req.cgroupProcsFd >= 0 && !umount;
    let at = this.header(OP_MOUNT, req.attr, cgroup ? (req.flags | MOUNT_HAS_CGROUP) >>> 0 : req.flags, req.creds, req.source.byteLength);
    const view = new DataView(this.request.buffer);
    view.setUint32(at, req.target.byteLength, true);
    view.setUint32(at + 4, req.fstype.byteLength, true);
    view.setUint32(at + 8, req.options.byteLength, true);
    at += 12;
    for (const part of [req.source, req.target, req.fstype, req.options]) {
      this.request.set(part, at);
      at += part.byteLength;
    }
    if (umount) {
      view.setUint32(at, req.tracked.length, true);
      at += 4;
      for (const id of req.tracked) { view.setBigUint64(at, id, true); at += 8; }
    }
    const fuse = (req.flags & MOUNT_WANT.FUSE) !== 0 && !umount;
    if (fuse !== req.pidnsFd >= 0) throw new RangeError('PrivilegedHelper.mount: pidnsFd goes with MOUNT_WANT.FUSE, and only with it');
    const fds = [req.rootFd, req.usernsFd, req.cwdFd, req.mntnsFd];
    if (cgroup) fds.push(req.cgroupProcsFd);
    if (fuse) fds.push(req.pidnsFd);
    const errno = this.exchange(at, fds, 16);
    const mountId = BigInt(this.reply[2]! >>> 0) | (BigInt(this.reply[3]! >>> 0) << 32n);
    return { errno, mountId };
  }

  /**
   * Performs one AS_CALLER call the exact way (native/helper_as_caller.c): as the caller in its user
   * namespace, then, refused EPERM/EACCES and with capabilities lent, the lend step. 0 or the
   * positive errno the caller must see. Throws when the helper is gone.
   */
  asCaller(req: AsCallerHelperRequest): number {
    const c = req.call;
    // as-caller.ts CallWord: OP, FLAGS, RENAME_FLAGS, MODE, DEV, UID, GID, XATTR_FLAGS, lengths.
    const pathLength = c[8]!, path2Length = c[9]!, nameLength = c[10]!, valueLength = c[11]!;
    if (pathLength > MAX_PATH_LENGTH || path2Length > MAX_PATH_LENGTH || nameLength > XATTR_LIMIT || valueLength > AS_CALLER_VALUE_LIMIT) {
      throw new RangeError('PrivilegedHelper.asCaller: a path, name or value is too long');
    }
    checkCreds(req.creds, 'asCaller');
    const pathOffset = this.header(OP_AS_CALLER, c[3]!, c[4]!, req.creds, pathLength);
    this.request.set(req.path.subarray(0, pathLength), pathOffset);
    const wordsAt = pathOffset + pathLength;
    let mask = 0;
    const fds = this.asCallerFds;
    fds.length = 0;
    fds.push(req.rootFd, req.usernsFd);
    if (req.startFd >= 0) { mask |= 1; fds.push(req.startFd); }
    if (req.start2Fd >= 0) { mask |= 2; fds.push(req.start2Fd); }
    if (req.targetFd >= 0) { mask |= 4; fds.push(req.targetFd); }
    // native/helper_wire.h, AS_CALLER_WIRE_*: op, flags, rename flags, uid, gid, host uid, host gid,
    // xattr flags, lend, fd mask, path2, name and value lengths.
    let o = wordsAt;
    o = this.word(o, c[0]!); o = this.word(o, c[1]!); o = this.word(o, c[2]!); o = this.word(o, c[5]!); o = this.word(o, c[6]!);
    o = this.word(o, req.hostUid); o = this.word(o, req.hostGid); o = this.word(o, c[7]!); o = this.word(o, req.lend);
    o = this.word(o, mask); o = this.word(o, path2Length); o = this.word(o, nameLength); this.word(o, valueLength);
    let at = wordsAt + 4 * AS_CALLER_WIRE_WORDS;
    this.request.set(req.path2.subarray(0, path2Length), at); at += path2Length;
    this.request.set(req.name.subarray(0, nameLength), at); at += nameLength;
    this.request.set(req.value.subarray(0, valueLength), at); at += valueLength;
    return this.exchange(at, fds);
  }

  /** Writes a u32 of the request at byte `at`; returns the next word's offset. */
  private word(at: number, value: number): number {
    this.view.setUint32(at, value >>> 0, true);
    return at + 4;
  }

  /** Writes the common header and the groups (WIRE_* offsets in native/helper_wire.h); returns where the path goes. */
  private header(op: number, word1: number, word2: number, creds: Uint32Array, pathLength: number): number {
    const w = this.words;
    const ngroups = creds[Creds.NGROUPS]!; // checkCreds: all of them are in creds
    w[0] = op;
    w[1] = word1;
    w[2] = word2;
    w[3] = creds[Creds.UMASK]!;
    for (let i = 0; i < 4; i++) {
      w[4 + i] = creds[Creds.UID + i]!;
      w[8 + i] = creds[Creds.GID + i]!;
    }
    w[12] = creds[Creds.CAP_INH]!; w[13] = creds[Creds.CAP_INH + 1]!;
    w[14] = creds[Creds.CAP_PRM]!; w[15] = creds[Creds.CAP_PRM + 1]!;
    w[16] = creds[Creds.CAP_EFF]!; w[17] = creds[Creds.CAP_EFF + 1]!;
    w[18] = ngroups;
    w[19] = pathLength;
    for (let i = 0; i < ngroups; i++) w[20 + i] = creds[Creds.GROUPS + i]!;
    return HEADER_BYTES + 4 * ngroups;
  }

  private exchange(length: number, fds: number[], answerBytes = 4): number {
    const bytes = this.send(length, fds, this.reply);
    if (bytes !== answerBytes) throw new Error(`wasmsup-helper: malformed answer of ${bytes} bytes`);
    return this.reply[0]!;
  }

  /** Sends one request and receives its answer into `reply`; the answer's size in bytes. */
  private send(length: number, fds: number[], reply: Uint8Array | Int32Array): number {
    if (this.wedged) throw new Error(`wasmsup-helper: killed after it gave no answer within ${HELPER_TIMEOUT_MS} ms`);
    native.sendMessage(this.socketFd, this.request.subarray(0, length), fds);
    let answer;
    try {
      answer = native.recvMessage(this.socketFd, reply, HELPER_TIMEOUT_MS);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ETIMEDOUT') throw e;
      // A late answer would be taken for the next request's: this helper is never asked again.
      this.wedged = true;
      if (this.pidfd >= 0) {
        try { native.pidfdSendSignal(this.pidfd, SIGKILL); } catch { /* already gone */ }
      }
      throw new Error(`wasmsup-helper: no answer within ${HELPER_TIMEOUT_MS} ms; killed it, and every later request fails`);
    }
    if (answer === null) throw new Error('wasmsup-helper: the helper exited (end of stream on its socket)');
    for (const fd of answer.fds) native.close(fd);
    return answer.bytes;
  }

  /** It was killed for giving no answer in time: every request fails until replace(). */
  get isWedged(): boolean {
    return this.wedged;
  }

  /**
   * Talks to another helper from now on (a data-plane thread that serves many containers gets a new
   * one after its helper was killed: src/dataplane/threads.ts). The previous socket and pidfd stay
   * their owner's to close.
   */
  replace(socketFd: number, pidfd: number): void {
    if (!Number.isInteger(socketFd) || socketFd < 0) throw new RangeError(`PrivilegedHelper: bad socket fd ${socketFd}`);
    this.socketFd = socketFd;
    this.pidfd = pidfd;
    this.wedged = false;
    this.closed = false;
  }

  /** Closes the socket; the helper then exits 0. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    native.close(this.socketFd);
  }

  /** Closes the pidfd `start()` opened (its owner's job: the worker using this client may share it). */
  closePidfd(): void {
    if (this.pidfd >= 0) native.close(this.pidfd);
  }
}
