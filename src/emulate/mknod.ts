// The MKNOD emulation primitive: what the host does when a policy answers EMULATE(MKNOD).
//
// The policy only decided that this caller may have this device; everything that makes the result
// correct is done here and in the privileged helper, never trusted to the policy:
// - the path is read from the caller's memory exactly once, and those bytes are what is created
//   (a second thread rewriting the buffer afterwards changes nothing);
// - the path is resolved inside the caller's root with the caller's cwd or dirfd, credentials,
//   capabilities and umask, so errnos, owner and mode are the kernel's own for that caller. Two ways:
//   * fast, on this worker thread (native.mknodatAsCaller): chrooted into the caller's root with its
//     umask, fsuid, fsgid and groups and no capability but CAP_MKNOD, all undone before returning.
//     Without the DAC capabilities the walk is at most stricter than the caller's own, so any errno
//     but EACCES/EPERM is the caller's answer, and a success is one the caller would have had;
//   * exact, through the privileged helper (native/helper.c), for EACCES/EPERM: an impersonator in
//     the caller's user namespace with its capabilities there (a namespace root may write its
//     namespace's directories of other users) decides, and the helper creates the node in the very
//     directory fd the impersonator was refused in (only for want of CAP_MKNOD);
//   each way looks the path up once (native/as_caller.h: the directory part opened, the last
//   component created in that fd), and nothing one way found is used by the other, so a symlink
//   swapped between lookups cannot move a create the caller was allowed to where it was not; and
//   never through a /proc magic link, since /proc/self there is the supervisor or an impersonator
//   (/proc/self/root/..., /proc/self/fd/N/... are ELOOP, where the kernel would follow the caller's);
// - every piece of caller state (/proc/TID/root, cwd, ns/user, status) is opened first and the
//   notification checked with ID_VALID afterwards, so a reused pid can never lend its state (the
//   credentials may come from the policy's caller_creds for the same notification, checked likewise).
// Results as every emulator's (contract.ts): 0, or -errno.
import { native } from '../native.js';
import { argLo, Creds, CREDS_WORDS, Notif } from '../layouts.js';
import { TaintedThreadError, THREAD_TAINTED_CODE } from '../errors.js';
import { statusFiles } from '../caller/status-files.js';
import { openCallerPidfd } from '../caller/fd.js';
import type { CallerSnapshot } from '../caller/snapshot.js';
import type { PrivilegedHelper } from './helper-client.js';
import { resultOfErrno } from './contract.js';

const PATH_MAX = 4096;
const AT_FDCWD = -100;
const E = { EPERM: 1, ENOENT: 2, EBADF: 9, EFAULT: 14, EACCES: 13, ENAMETOOLONG: 36 } as const;
/** createOnThisThread could not run for this call: the helper decides. */
const FAST_PATH_UNAVAILABLE = 1;

export interface MknodCall { pathLo: number; pathHi: number; mode: number; dev: number; dirfd: number }

export class MknodEmulator {
  private readonly path = new Uint8Array(PATH_MAX);
  private readonly creds = new Uint32Array(CREDS_WORDS);
  private readonly call: MknodCall = { pathLo: 0, pathHi: 0, mode: 0, dev: 0, dirfd: AT_FDCWD };

  constructor(
    private readonly helper: PrivilegedHelper | null,
    private readonly listenerFd: number,
    private readonly warn: (message: string) => void,
    /** Test-only fault injection (src/dataplane/test-faults.ts): runs between reading the path and acting. */
    private readonly afterPathRead: (() => void) | null = null,
    /** Try native.mknodatAsCaller on this thread first; false sends every call through the helper. */
    private fastPath = true,
  ) {}

  /** Decodes mknod (isAt = false) or mknodat arguments; mode is umode_t (16 bits), dev an unsigned int. */
  decode(words: Uint32Array, isAt: boolean): MknodCall {
    const c = this.call;
    const base = isAt ? 1 : 0;
    c.dirfd = isAt ? words[argLo(0)]! | 0 : AT_FDCWD;
    c.pathLo = words[argLo(base)]!;
    c.pathHi = words[argLo(base) + 1]!;
    c.mode = words[argLo(base + 1)]! & 0xffff;
    c.dev = words[argLo(base + 2)]!;
    return c;
  }

  /**
   * Performs the call for the notification in `notif`; returns 0 or -errno. `caller` has the caller's
   * credentials when the policy read them for this notification.
   */
  emulate(notif: Uint8Array, words: Uint32Array, isAt: boolean, caller: CallerSnapshot): number {
    if (this.helper === null) {
      this.warn('mknod emulation needs a privileged supervisor (root in the initial user namespace); answering EPERM');
      return -E.EPERM;
    }
    const call = this.decode(words, isAt);
    const tid = words[Notif.TID]!;

    // getname(): the kernel copies the path before it looks at dirfd, so its errnos come first.
    let length: number;
    try {
      length = native.readString(tid, call.pathLo, call.pathHi, this.path, PATH_MAX);
    } catch (e) {
      return -((e as NodeJS.ErrnoException).errno ?? E.EFAULT);
    }
    if (!native.notifIdValid(this.listenerFd, notif)) return -E.ENOENT;
    if (length === 0) return -E.ENOENT;
    if (this.afterPathRead !== null) this.afterPathRead();

    const relative = this.path[0] !== 0x2f; // '/'
    let rootFd = -1, startFd = -1, usernsFd = -1, pidfd = -1;
    try {
      rootFd = native.openPath(`/proc/${tid}/root`, native.constants.O_PATH | native.constants.O_DIRECTORY);
      if (relative) {
        if (call.dirfd === AT_FDCWD) {
          startFd = native.openPath(`/proc/${tid}/cwd`, native.constants.O_PATH | native.constants.O_DIRECTORY);
        } else {
          // The dirfd is the caller's: fetch that very open file, as the kernel would use it.
          pidfd = openCallerPidfd(tid);
          try {
            startFd = native.pidfdGetfd(pidfd, call.dirfd);
          } catch (e) {
            const code = (e as NodeJS.ErrnoException).code;
            return code === 'EBADF' || call.dirfd < 0 ? -E.EBADF : -((e as NodeJS.ErrnoException).errno ?? E.EBADF);
          }
        }
      }
      // Parsing /proc/TID/status is the costliest read here: reuse the policy's, which a blocked
      // caller cannot have changed since (a signal would end the notification, and ID_VALID below).
      let creds = caller.credsOf(words);
      if (creds === null) {
        statusFiles.readCreds(tid, this.creds);
        creds = this.creds;
      }
      // Never act with a cut list: a caller with more groups than these words hold is read again.
      creds = statusFiles.withAllGroups(tid, creds);
      // Everything above named the caller by tid; if the notification is no longer valid the tid may
      // belong to someone else by now, so nothing read may be used.
      if (!native.notifIdValid(this.listenerFd, notif)) return -E.ENOENT;
      if (this.fastPath && creds[Creds.UMASK]! <= 0o777 && !setgidNeedsCaller(call.mode, creds)) {
        const result = this.createOnThisThread(rootFd, relative ? startFd : -1, length, call, creds);
        if (result !== -E.EACCES && result !== -E.EPERM && result !== FAST_PATH_UNAVAILABLE) return result;
      }
      usernsFd = native.openPath(`/proc/${tid}/ns/user`, native.constants.O_RDONLY);
      if (!native.notifIdValid(this.listenerFd, notif)) return -E.ENOENT;
      return resultOfErrno(this.helper.mknod({
        rootFd, startFd: relative ? startFd : -1, usernsFd,
        path: this.path, pathLength: length, mode: call.mode, dev: call.dev, creds,
      }));
    } catch (e) {
      if (e instanceof TaintedThreadError) throw e;
      const err = e as NodeJS.ErrnoException;
      // /proc/TID vanished: the caller is gone; the answer will not be delivered anyway.
      if (err.code === 'ENOENT' || err.code === 'ESRCH') return -E.ENOENT;
      this.warn(`mknod emulation for tid ${tid} failed: ${err.message}`);
      return -E.EPERM;
    } finally {
      for (const fd of [rootFd, startFd, usernsFd, pidfd]) if (fd >= 0) native.close(fd);
    }
  }

  /** The fast path's result (0 = created, or -errno), or FAST_PATH_UNAVAILABLE for this call. */
  private createOnThisThread(rootFd: number, startFd: number, length: number, call: MknodCall, creds: Uint32Array): number {
    try {
      return resultOfErrno(native.mknodatAsCaller(rootFd, startFd, this.path, length, call.mode, call.dev, creds));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === THREAD_TAINTED_CODE) throw new TaintedThreadError(err.message);
      // A thread that cannot have its own root and umask (unshare(CLONE_FS) refused) never will.
      if (err.syscall?.includes('unshare')) {
        this.fastPath = false;
        this.warn(`mknod emulation: ${err.message}; every mknod goes through the helper`);
      }
      return FAST_PATH_UNAVAILABLE;
    }
  }
}

const S_ISGID = 0o2000, S_IXGRP = 0o010, CAP_FSETID = 4;

/**
 * Whether only the caller's own capabilities can tell if a setgid bit it asks for survives: with
 * CAP_FSETID in its namespace it keeps the bit in a setgid directory whose owner and group that
 * namespace maps, which the fast path (no CAP_FSETID, initial namespace) cannot reproduce; the
 * helper's impersonator asks the kernel as the caller (native/helper_mknod.c, probe_setgid).
 */
function setgidNeedsCaller(mode: number, creds: Uint32Array): boolean {
  return (mode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP) && (creds[Creds.CAP_EFF]! & (1 << CAP_FSETID)) !== 0;
}
