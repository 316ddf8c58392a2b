// Where the lookup of an xattr emulation (SETXATTR, GETXATTR) starts, as the kernel's would for the
// caller: the f* forms from the caller's own open file (pidfd_getfd), a /proc/self/fd/N/REST path from
// its fd N (proc-fd-path.ts), a relative path from its cwd, an absolute one from its root (which the
// emulation opens itself). One place, so the set and the read-back paths cannot come to start apart.
import { native } from '../native.js';
import { argLo } from '../layouts.js';
import { portableId } from '../syscalls/tables.js';
import { fetchCallerFd } from '../caller/fd.js';
import { procFdMatch, procFdOf } from './proc-fd-path.js';
import { AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW } from './helper-client.js';

const ENOENT = 2, EBADF = 9, EFAULT = 14;
const PATH_MAX = 4096;
const O_PATH = 0o10000000;

/** How an xattr call names its file: a path (the last link followed), an l* path (not), an f* fd. */
export const XattrForm = { PATH: 0, LINK: 1, FD: 2 } as const;
export type XattrForm = (typeof XattrForm)[keyof typeof XattrForm];

const FD_FORMS = new Set(['fsetxattr', 'fgetxattr', 'flistxattr', 'fremovexattr'].map(portableId));
const LINK_FORMS = new Set(['lsetxattr', 'lgetxattr', 'llistxattr', 'lremovexattr'].map(portableId));

/** The form of xattr syscall `portable` (a portable id). */
export function xattrFormOf(portable: number): XattrForm {
  return FD_FORMS.has(portable) ? XattrForm.FD : LINK_FORMS.has(portable) ? XattrForm.LINK : XattrForm.PATH;
}

/** The *at flags that act on the file `form` names, from findXattrStart's start and path. */
export function xattrAtFlags(form: XattrForm): number {
  return form === XattrForm.FD ? AT_EMPTY_PATH : form === XattrForm.LINK ? AT_SYMLINK_NOFOLLOW : 0;
}

/**
 * What findXattrStart found: `fd` the directory or file the lookup starts from (-1: the caller's root),
 * `pathLength` the length of the path still to resolve from there (the path was shifted in place when
 * a /proc/self/fd/N/ prefix was taken off).
 */
export const xattrStart = { fd: -1, pathLength: 0 };

/**
 * Fills xattrStart for caller `tid`'s call of `form` (notification words `words`): the f* forms start
 * from their fd (argument 0), a path call from where its bytes `path[0..pathLength)` lead. Returns 0 or
 * -errno (the kernel's for that case); xattrStart.fd, when not -1, is the emulation's to close whatever
 * the result. Other failures (the caller's cwd gone) throw as the shim does.
 */
export function findXattrStart(tid: number, form: XattrForm, words: Uint32Array, path: Uint8Array, pathLength: number): number {
  xattrStart.fd = -1;
  xattrStart.pathLength = pathLength;
  if (form === XattrForm.FD) {
    try {
      xattrStart.fd = fetchCallerFd(tid, words[argLo(0)]! | 0);
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
