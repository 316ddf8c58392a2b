// Where the lookup of an xattr emulation (SETXATTR, GETXATTR) starts, as the kernel's would for the
// caller: the f* forms from the caller's own open file (pidfd_getfd), a /proc/self/fd/N/REST path from
// its fd N (proc-fd-path.ts), a relative path from its cwd, an absolute one from its root (which the
// emulation opens itself). One place, so the set and the read-back paths cannot come to start apart.
import { native } from '../native.js';
import { argLo } from '../layouts.js';
import { fetchCallerFd } from '../caller/fd.js';
import { procFdMatch, procFdOf } from './proc-fd-path.js';

const ENOENT = 2, EBADF = 9, EFAULT = 14;
const PATH_MAX = 4096;
const O_PATH = 0o10000000;

/**
 * What findXattrStart found: `fd` the directory or file the lookup starts from (-1: the caller's root),
 * `pathLength` the length of the path still to resolve from there (the path was shifted in place when
 * a /proc/self/fd/N/ prefix was taken off).
 */
export const xattrStart = { fd: -1, pathLength: 0 };

/**
 * Fills xattrStart for caller `tid`'s call: `fdArg` is the f* forms' fd, or null for a path call whose
 * bytes are `path[0..pathLength)`. Returns 0 or -errno (the kernel's for that case); xattrStart.fd, when
 * not -1, is the emulation's to close whatever the result. Other failures (the caller's cwd gone)
 * throw as the shim does.
 */
export function findXattrStart(tid: number, fdArg: number | null, path: Uint8Array, pathLength: number): number {
  xattrStart.fd = -1;
  xattrStart.pathLength = pathLength;
  if (fdArg !== null) {
    try {
      xattrStart.fd = fetchCallerFd(tid, fdArg);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return code === 'ESRCH' || code === 'ENOENT' ? -ENOENT : -EBADF;
    }
    // The f* forms on an O_PATH fd are EBADF in the kernel too.
    return native.fdGetFlags(xattrStart.fd) & O_PATH ? -EBADF : 0;
  }
  const procFd = procFdOf(path, pathLength);
  if (procFd >= 0) {
    // /proc/self/fd/N/REST (GNU tar's): REST from the caller's fd N, as its /proc would lead.
    try {
      xattrStart.fd = fetchCallerFd(tid, procFd);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return code === 'ESRCH' || code === 'EBADF' ? -ENOENT : -EBADF; // no fd N: /proc's ENOENT
    }
    path.copyWithin(0, procFdMatch.restOffset, pathLength);
    xattrStart.pathLength = pathLength - procFdMatch.restOffset;
  } else if (path[0] !== 0x2f) {
    xattrStart.fd = native.openPath(`/proc/${tid}/cwd`, native.constants.O_PATH | native.constants.O_DIRECTORY);
  }
  return 0;
}

/**
 * Reads a path call's path (argument 0) from the caller of the notification in `notif` once, into
 * `path` (PATH_MAX bytes): its length, or -errno (the shim's EFAULT/ENAMETOOLONG; ENOENT for an empty
 * path, as the kernel's, or once the call is no longer pending: ID_VALID follows the read).
 */
export function readXattrPath(listenerFd: number, notif: Uint8Array, words: Uint32Array, tid: number, path: Uint8Array): number {
  let length: number;
  try {
    length = native.readString(tid, words[argLo(0)]!, words[argLo(0) + 1]!, path, PATH_MAX);
  } catch (e) {
    return -((e as NodeJS.ErrnoException).errno ?? EFAULT);
  }
  if (!native.notifIdValid(listenerFd, notif)) return -ENOENT;
  return length === 0 ? -ENOENT : length;
}
