// The GETXATTR emulation primitive: read-back of the trusted.* names SETXATTR manages
// (docs/policy-abi.md, section 4, GETXATTR), which the kernel hides from a user namespace's root:
// getxattr/lgetxattr/fgetxattr answer ENODATA and listxattr/llistxattr/flistxattr omit them, so
// `getfattr -d`, `cp -a`, `tar --xattrs` and `rsync -aX` drop what the setxattr policy set.
//
// The policy names the names it manages; the host reads only those that are also on its own
// SETXATTR allowlist (what it ever sets), so no policy can make it read another trusted.* name:
// - getxattr: the name is read from the caller once; a name not managed is continued (the kernel
//   answers as without wasmsup);
// - the caller must qualify as for SETXATTR (the workload's user namespace, CAP_SYS_ADMIN effective
//   there), or the call is continued (the kernel's ENODATA / its own list);
// - the privileged helper finds the file once inside the caller's root as the caller (or takes its
//   open file), shows a managed name only over an inode the caller's namespace maps and the caller
//   may read, and for a list starts from the caller's own list as the kernel gives it to the caller
//   (native/helper_getxattr.c);
// - the answer goes to the caller's buffer as the kernel's would: size 0 asks for the length, a buffer
//   too small is ERANGE, a bad pointer EFAULT; ID_VALID before and after writing (process_vm_writev
//   only, as write_out: src/dataplane/out-writes.ts).
// Results as every emulator's (contract.ts): ≥ 0, -errno, or ANSWERED after a CONTINUE.
import { native } from '../native.js';
import { argLo, Creds, CREDS_WORDS, Notif, RESP_BYTES } from '../layouts.js';
import { statusFiles } from '../caller/status-files.js';
import { findXattrStart, readXattrPath, xattrAtFlags, xattrStart, XattrForm } from './xattr-start.js';
import { GETXATTR_ANSWER_LIMIT, type PrivilegedHelper } from './helper-client.js';
import { ANSWERED, continueInKernel } from './contract.js';
import { SETXATTR_ALLOWLIST } from './setxattr.js';

const PATH_MAX = 4096;
const XATTR_NAME_CAP = 256; // XATTR_NAME_MAX + NUL
/** The helper's bound on the managed names of one request (NUL-separated). */
export const GETXATTR_NAMES_MAX = 255;
const CAP_SYS_ADMIN = 21;
const E = { ENOENT: 2, EBADF: 9, EFAULT: 14, ERANGE: 34 } as const;

export class GetxattrEmulator {
  private readonly path = new Uint8Array(PATH_MAX);
  private readonly name = new Uint8Array(XATTR_NAME_CAP);
  /** The managed names of the call in hand: the policy's that the host itself sets, NUL-separated. */
  private readonly managed = new Uint8Array(GETXATTR_NAMES_MAX);
  /** One of them at a time, for the first look (noneOnFile). */
  private readonly oneName = new Uint8Array(XATTR_NAME_CAP);
  private readonly creds = new Uint32Array(CREDS_WORDS);
  private readonly response = new Int32Array(RESP_BYTES / 4);
  private readonly allow = SETXATTR_ALLOWLIST.map((a) => Buffer.from(a.name));

  constructor(
    private readonly helper: PrivilegedHelper | null,
    private readonly listenerFd: number,
    private readonly workloadUsernsInode: number,
    private readonly warn: (message: string) => void,
  ) {}

  /**
   * Performs the getxattr (or, with `list`, listxattr) of the notification in `notif` for the names
   * `policyNames` (the policy's, NUL-separated); ≥ 0 the call's result, -errno, or ANSWERED.
   */
  emulate(notif: Uint8Array, words: Uint32Array, kind: XattrForm, list: boolean, policyNames: Uint8Array): number {
    // Without a privileged helper nothing can be read as the host: the kernel's own answer.
    if (this.helper === null) return this.continueCall(words);
    const tid = words[Notif.TID]!;
    let managedLength = this.managedNames(policyNames);
    if (managedLength === 0) return this.continueCall(words);

    if (!list) {
      let nameLength: number;
      try {
        nameLength = native.readString(tid, words[argLo(1)]!, words[argLo(1) + 1]!, this.name, XATTR_NAME_CAP);
      } catch {
        return this.continueCall(words); // the kernel's own copy says EFAULT/ERANGE
      }
      if (!native.notifIdValid(this.listenerFd, notif)) return -E.ENOENT;
      if (!this.isManaged(nameLength, managedLength)) return this.continueCall(words);
      for (let k = 0; k < nameLength; k++) this.managed[k] = this.name[k]!;
      managedLength = nameLength;
    }

    let pathLength = 0;
    if (kind !== XattrForm.FD) {
      pathLength = readXattrPath(this.listenerFd, notif, words, tid, this.path);
      if (pathLength < 0) return pathLength;
    }

    let rootFd = -1, startFd = -1, usernsFd = -1;
    let length: number;
    try {
      rootFd = native.openPath(`/proc/${tid}/root`, native.constants.O_PATH | native.constants.O_DIRECTORY);
      const started = findXattrStart(tid, kind, words, this.path, pathLength);
      startFd = xattrStart.fd;
      pathLength = xattrStart.pathLength;
      if (started < 0) return started;
      // None of the names on the file at all: the kernel's own answer is the right one, whoever asks.
      if (this.noneOnFile(kind, rootFd, startFd, pathLength, managedLength)) return this.continueCall(words);
      usernsFd = native.openPath(`/proc/${tid}/ns/user`, native.constants.O_RDONLY);
      statusFiles.readCreds(tid, this.creds);
      const creds = statusFiles.withAllGroups(tid, this.creds);
      const usernsInode = native.fstat(usernsFd).ino;
      if (!native.notifIdValid(this.listenerFd, notif)) return -E.ENOENT;
      // The host's own check of who may read them, whatever the policy said: SETXATTR's.
      const capEffLo = creds[Creds.CAP_EFF]!;
      const hasSysAdmin = (capEffLo >>> CAP_SYS_ADMIN) & 1;
      if (usernsInode !== this.workloadUsernsInode || !hasSysAdmin) return this.continueCall(words);
      length = this.helper.getxattr({
        rootFd, startFd, usernsFd, path: this.path, pathLength, list,
        atFlags: xattrAtFlags(kind),
        names: this.managed.subarray(0, managedLength), creds,
      });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ENOENT' || err.code === 'ESRCH') return -E.ENOENT;
      this.warn(`getxattr emulation for tid ${tid} failed: ${err.message}`);
      return this.continueCall(words); // the host could not read: the caller gets what it got before
    } finally {
      for (const fd of [rootFd, startFd, usernsFd]) if (fd >= 0) native.close(fd);
    }
    if (length < 0) return length;
    return this.answer(notif, words, tid, list ? 1 : 2, list ? 2 : 3, length);
  }

  /**
   * Puts `length` bytes of the helper's answer into the caller's buffer (argument `bufArg`, its size
   * in `sizeArg`) as the kernel would: size 0 asks only for the length; a size too small is ERANGE.
   */
  private answer(notif: Uint8Array, words: Uint32Array, tid: number, bufArg: number, sizeArg: number, length: number): number {
    // size_t: a high half makes it larger than any answer (the kernel clamps it to 64 KiB).
    const size = words[argLo(sizeArg) + 1] !== 0 ? GETXATTR_ANSWER_LIMIT : Math.min(words[argLo(sizeArg)]!, GETXATTR_ANSWER_LIMIT);
    if (size === 0) return length;
    if (length > size) return -E.ERANGE;
    if (length === 0) return 0;
    if (!native.notifIdValid(this.listenerFd, notif)) return -E.ENOENT;
    let written: number;
    try {
      written = native.writeMemory(tid, words[argLo(bufArg)]!, words[argLo(bufArg) + 1]!, this.helper!.xattrAnswer, length);
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ESRCH' ? -E.ENOENT : -E.EFAULT;
    }
    // Written to the caller, which must still be the one that asked (its thread id not reused).
    if (!native.notifIdValid(this.listenerFd, notif)) return -E.ENOENT;
    return written === length ? length : -E.EFAULT;
  }

  /**
   * Whether the file the call names, as this thread finds it, certainly has none of the managed names:
   * then the kernel's answer (ENODATA, or the caller's own list) is exactly the emulation's, and the
   * call is continued without a helper child. The file is found inside the caller's root with openat2
   * (an absolute path RESOLVE_IN_ROOT; a relative one RESOLVE_BENEATH its start, so `..` above it or an
   * absolute symlink is not decided here), never through a magic link, O_PATH (no open of the file
   * itself); anything not found or not certain goes to the helper, which decides as the caller. A
   * continued call grants nothing: the kernel re-reads the arguments and checks the caller.
   */
  private noneOnFile(kind: XattrForm, rootFd: number, startFd: number, pathLength: number, managedLength: number): boolean {
    let fd = -1, opened = false;
    try {
      if (kind === XattrForm.FD) {
        fd = startFd;
      } else {
        const absolute = this.path[0] === 0x2f;
        const c = native.constants;
        fd = native.openat2(absolute ? rootFd : startFd, this.path, pathLength,
          c.O_PATH | (kind === XattrForm.LINK ? c.O_NOFOLLOW : 0), 0,
          c.RESOLVE_NO_MAGICLINKS | (absolute ? c.RESOLVE_IN_ROOT : c.RESOLVE_BENEATH));
        opened = true;
      }
      for (let at = 0; at < managedLength;) {
        let end = this.managed.indexOf(0, at);
        if (end < 0 || end > managedLength) end = managedLength;
        for (let k = at; k < end; k++) this.oneName[k - at] = this.managed[k]!;
        try {
          native.fdXattrSize(fd, this.oneName, end - at);
          return false; // present
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code !== 'ENODATA' && code !== 'EOPNOTSUPP' && code !== 'ENOTSUP') return false;
        }
        at = end + 1;
      }
      return true;
    } catch {
      return false;
    } finally {
      if (opened && fd >= 0) native.close(fd);
    }
  }

  /** The policy's names that are on the host's allowlist into `managed`, NUL-separated; their length. */
  private managedNames(policyNames: Uint8Array): number {
    let out = 0;
    for (let at = 0; at < policyNames.byteLength;) {
      let end = policyNames.indexOf(0, at);
      if (end < 0) end = policyNames.byteLength;
      const n = end - at;
      for (const a of this.allow) {
        if (a.length === n && sameBytes(a, 0, policyNames, at, n) && out + (out > 0 ? 1 : 0) + n <= GETXATTR_NAMES_MAX) {
          if (out > 0) this.managed[out++] = 0;
          for (let k = 0; k < n; k++) this.managed[out++] = a[k]!;
          break;
        }
      }
      at = end + 1;
    }
    return out;
  }

  /** Whether the name read (`nameLength` bytes of `name`) is one of the managed names. */
  private isManaged(nameLength: number, managedLength: number): boolean {
    if (nameLength <= 0) return false;
    for (let at = 0; at < managedLength;) {
      let end = this.managed.indexOf(0, at);
      if (end < 0 || end > managedLength) end = managedLength;
      if (end - at === nameLength && sameBytes(this.name, 0, this.managed, at, nameLength)) return true;
      at = end + 1;
    }
    return false;
  }

  /** Lets the kernel run the call with its own checks; the notification is answered here. */
  private continueCall(words: Uint32Array): number {
    continueInKernel(this.listenerFd, this.response, words);
    return ANSWERED;
  }
}

/** Whether a[aFrom..aFrom+n) and b[bFrom..bFrom+n) hold the same bytes (no view made). */
function sameBytes(a: Uint8Array, aFrom: number, b: Uint8Array, bFrom: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (a[aFrom + k] !== b[bFrom + k]) return false;
  return true;
}
