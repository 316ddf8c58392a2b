// The OPEN emulation primitive: the host opens a file for the caller and injects the fd into it
// (SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SEND, which installs the fd and answers the call
// with its number in one step). docs/policy-abi.md, section 4, gives the operands; docs/policies.md,
// "open-proxy", what it is for.
//
// What the host opens is the path the policy passes in its own memory (the operands of its
// notification block, which the data plane reads: src/dataplane/primitives.ts): the source the
// operator configured in the policy, never the caller's memory.
//
// The open is a read-only view with the supervisor's credentials (that is what makes a proxy worth
// having: it can give the workload a file its own credentials could not open), so it must be the
// operator's file whatever the caller did to its own namespace. Fenced by the host's own checks,
// whatever the policy asked:
// - the path is resolved in the host's own view, from the supervisor's root and in its mount
//   namespace, never the caller's: nothing the caller mounts or links (a tmpfs over /etc, a symlink
//   at the name or in a parent, a bind mount onto it) can change which file is opened. No symlinks
//   and no magic links at all (RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS): the operator names the
//   file itself;
// - regular files only, never on procfs: the file is first opened O_PATH and its type checked, so a
//   FIFO or device is never opened at all, and no directory fd (a handle into the host's tree) is
//   ever handed out;
// - read-only, and the fd stays so: write access, O_CREAT, O_TRUNC, O_APPEND, O_TMPFILE answer
//   EROFS, O_PATH EINVAL; and the file is opened through a detached bind mount of just that file,
//   made read-only, nosuid, nodev and noexec, so neither a reopen of /proc/self/fd/N for writing
//   (permission is checked then with the caller's credentials, which may well pass on the inode),
//   nor fchmod/fsetxattr/exec through the fd, can do more than read; and a file has no ".." to walk;
// - the fd number is the lowest free one in the caller (ADDFD without SETFD) and O_CLOEXEC is
//   honoured through newfd_flags, as the kernel's own open would do; RLIMIT_NOFILE still applies.
// Results as every emulator's (contract.ts): ANSWERED once the fd is injected, or -errno.
import { native } from '../native.js';
import { Notif } from '../layouts.js';
import { FdInjector } from './inject-fd.js';

const E = { EPERM: 1, ENOENT: 2, EACCES: 13, ENOTDIR: 20, EINVAL: 22, EROFS: 30 } as const;
const PATH_MAX = 4096;
const PROC_SUPER_MAGIC = 0x9fa0;
const S_IFMT = 0o170000, S_IFREG = 0o100000;

/** Open flags of the host's architecture (x86 and asm-generic agree on all but arm64's four). */
const O = process.arch === 'arm64' ? { DIRECTORY: 0o40000 } : { DIRECTORY: 0o200000 };
const O_ACCMODE = 3, O_CREAT = 0o100, O_NOCTTY = 0o400, O_TRUNC = 0o1000, O_APPEND = 0o2000;
const O_NONBLOCK = 0o4000, O_CLOEXEC = 0o2000000, O_PATH = 0o10000000, O_TMPFILE_BIT = 0o20000000;
const WRITE_FLAGS = O_CREAT | O_TRUNC | O_APPEND | O_TMPFILE_BIT;

const RESOLVE_NO_XDEV = 0x01, RESOLVE_NO_MAGICLINKS = 0x02, RESOLVE_NO_SYMLINKS = 0x04, RESOLVE_IN_ROOT = 0x10;
/** RESOLVE_* bits a policy may add; the others below are always on. */
const RESOLVE_ALLOWED = RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS;
const RESOLVE_ALWAYS = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS;
const MOUNT_ATTR_RDONLY = 0x1, MOUNT_ATTR_NOSUID = 0x2, MOUNT_ATTR_NODEV = 0x4, MOUNT_ATTR_NOEXEC = 0x8;
const VIEW_MOUNT_ATTRS = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;

/** What a policy asked to open: its OPEN operands (docs/policy-abi.md, section 4). */
export interface OpenRequest {
  /** The path, in the policy's memory; at least 1 and under PATH_MAX bytes. */
  path: Uint8Array;
  /** Open flags to honour (the caller's). */
  flags: number;
  /** RESOLVE_* bits the policy adds. */
  resolve: number;
  /** The policy that asked, for the log. */
  policyName: string;
}

/** Longest OPEN path, NUL excluded. */
export const OPEN_PATH_MAX = PATH_MAX - 1;

/** Opens files for callers and injects them; one per data-plane worker. */
export class OpenEmulator {
  private readonly injector: FdInjector;
  private readonly stat = new Float64Array(10);
  /**
   * The supervisor's own root, taken once when the worker starts (before any emulation could have
   * moved this thread's root): every path is resolved from here, never from a caller's.
   */
  private readonly hostRoot: number;

  constructor(
    listenerFd: number,
    private readonly warn: (message: string) => void,
  ) {
    this.injector = new FdInjector(listenerFd, warn);
    this.hostRoot = native.openPath('/', native.constants.O_PATH | native.constants.O_DIRECTORY);
  }

  /** Closes the supervisor's root it holds (the worker's end). */
  dispose(): void {
    native.close(this.hostRoot);
  }

  /** Opens what a policy asked for and injects it: ANSWERED (the caller has the fd), or -errno. */
  emulate(notif: Uint8Array, words: Uint32Array, request: OpenRequest): number {
    const { path, flags, resolve } = request;
    const pathLength = path.length;
    // Malformed operands are a bug in the policy, not something the caller did: fail closed, say why.
    const bad = (why: string) => refusedOperands(this.warn, request.policyName, why);
    if ((resolve & ~RESOLVE_ALLOWED) !== 0) return bad(`resolve flags 0x${resolve.toString(16)} beyond RESOLVE_NO_XDEV|RESOLVE_NO_SYMLINKS`);
    if (path[0] !== 0x2f) return bad('the path is not absolute');
    if (path.includes(0)) return bad('the path holds a NUL byte');

    if ((flags & O_ACCMODE) !== 0 || (flags & WRITE_FLAGS) !== 0) return -E.EROFS;
    if ((flags & O_PATH) !== 0) return -E.EINVAL;

    const tid = words[Notif.TID]!;
    let pathFd = -1, treeFd = -1, fd = -1;
    try {
      try {
        pathFd = native.openat2(this.hostRoot, path, pathLength, native.constants.O_PATH, 0, RESOLVE_ALWAYS | resolve);
      } catch (e) {
        // The configured source is missing or reached through a symlink: the operator's to fix; the
        // caller gets the lookup's errno (ENOENT, ENOTDIR, ELOOP, EXDEV), as from its own open.
        const err = e as NodeJS.ErrnoException;
        if (typeof err.errno === 'number') return -err.errno;
        throw e;
      }
      native.fdStat(pathFd, this.stat);
      const type = this.stat[0]! & S_IFMT;
      if (type !== S_IFREG || native.fdFsType(pathFd) === PROC_SUPER_MAGIC) return -E.EACCES;
      if ((flags & O.DIRECTORY) !== 0) return -E.ENOTDIR; // a regular file, as the kernel answers it
      // A private read-only mount of just this file: whatever the caller does with the fd (reopen it
      // through /proc/self/fd for writing, fchmod, exec it), the mount says no.
      treeFd = native.openTreeClone(pathFd);
      native.mountSetattr(treeFd, VIEW_MOUNT_ATTRS);
      fd = native.reopenFd(treeFd, (flags & O_NONBLOCK) | O_NOCTTY);

      // Lowest free fd in the caller, answered atomically with its number.
      return this.injector.sendFd(notif, fd, flags & O_CLOEXEC, `open emulation for tid ${tid}`);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (typeof err.errno === 'number' && err.syscall === 'ioctl(SECCOMP_IOCTL_NOTIF_ADDFD)') return -err.errno;
      // open_tree/mount_setattr need CAP_SYS_ADMIN: an unprivileged supervisor cannot fence the fd,
      // so it hands none out.
      this.warn(`open emulation for tid ${tid} failed: ${err.message}; failing the call closed`);
      return -E.EPERM;
    } finally {
      for (const f of [pathFd, treeFd, fd]) if (f >= 0) native.close(f);
    }
  }
}

/**
 * Logs why a policy's OPEN operands were refused and fails the call closed (EPERM): malformed
 * operands are a bug in the policy, not something the caller did.
 */
export function refusedOperands(warn: (message: string) => void, policyName: string, why: string): number {
  warn(`policy ${policyName}: OPEN operands refused: ${why}; failing the call closed`);
  return -E.EPERM;
}
