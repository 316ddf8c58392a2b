// The SETXATTR emulation primitive: setxattr/lsetxattr/fsetxattr of the overlayfs xattrs a container
// needs to build overlay layers (docs/policies.md, "setxattr"), which the kernel refuses to a user
// namespace because trusted.* needs CAP_SYS_ADMIN in the initial one.
//
// The policy only chose this primitive; the host decides what it will actually write:
// - the name and value are read from the caller's memory exactly once, here, and those bytes are both
//   checked against the host's own allowlist and written (a thread rewriting them after the policy
//   looked changes nothing: what was checked is what is set);
// - a call that is not on the allowlist as read here is not refused but continued: the kernel then
//   answers it with its own checks (EPERM for trusted.*, success for user.*), as without wasmsup;
// - the caller must be in the workload's user namespace with CAP_SYS_ADMIN effective there;
// - the file is resolved once inside the caller's root, from its cwd or dirfd, never through a /proc
//   magic link (ELOOP: /proc/self there is the helper's child), and the privileged helper checks as
//   the caller what the kernel would check (read-only mount, immutable or append-only inode, the
//   caller's namespace mapping the inode's owner and group so that its CAP_SYS_ADMIN counts there,
//   write permission; the same for setxattr, lsetxattr and fsetxattr), then sets the xattr on that
//   very inode.
// Results as every emulator's (contract.ts): 0, -errno, or ANSWERED after a CONTINUE.
import { native } from '../native.js';
import { argLo, Creds, CREDS_WORDS, Notif, RESP_BYTES } from '../layouts.js';
import { statusFiles } from '../caller/status-files.js';
import { findXattrStart, readXattrPath, xattrAtFlags, xattrStart, XattrForm } from './xattr-start.js';
import type { PrivilegedHelper } from './helper-client.js';
import { resultOfErrno, continueInKernel } from './contract.js';

const PATH_MAX = 4096;
const XATTR_NAME_CAP = 256; // XATTR_NAME_MAX + NUL
const CAP_SYS_ADMIN = 21;
const E = { EPERM: 1, ENOENT: 2, EBADF: 9, EFAULT: 14, ENAMETOOLONG: 36 } as const;

/** The xattrs the host ever sets, with the one value each may take. */
export const SETXATTR_ALLOWLIST: readonly { name: string; value: string }[] = [
  // overlayfs: "this directory hides the lower layers' directory of the same name" (what `rm -rf dir;
  // mkdir dir` in an upper layer produces). The only overlayfs xattr that can be set safely from a
  // container: redirect/origin/metacopy/upper name other files and would let a layer point outside itself.
  { name: 'trusted.overlay.opaque', value: 'y' },
];

/**
 * The helper's xattr_flags bit that asks for removexattr instead (never a kernel XATTR_* bit:
 * native/helper_wire.h, XATTR_REMOVE_REQUEST).
 */
const XATTR_REMOVE_REQUEST = 4;

export class SetxattrEmulator {
  private readonly path = new Uint8Array(PATH_MAX);
  private readonly name = new Uint8Array(XATTR_NAME_CAP);
  private readonly value = new Uint8Array(256);
  private readonly creds = new Uint32Array(CREDS_WORDS);
  private readonly response = new Int32Array(RESP_BYTES / 4);
  private readonly allow = SETXATTR_ALLOWLIST.map((a) => ({ name: Buffer.from(a.name), value: Buffer.from(a.value) }));

  constructor(
    private readonly helper: PrivilegedHelper | null,
    private readonly listenerFd: number,
    private readonly workloadUsernsInode: number,
    private readonly warn: (message: string) => void,
  ) {}

  /**
   * Performs the call for the notification in `notif`; returns 0, or -errno for the caller, or
   * ANSWERED after answering the notification with CONTINUE itself.
   */
  emulate(notif: Uint8Array, words: Uint32Array, kind: XattrForm, remove = false): number {
    if (this.helper === null) {
      this.warn('setxattr emulation needs a privileged supervisor (root in the initial user namespace); answering EPERM');
      return -E.EPERM;
    }
    const tid = words[Notif.TID]!;
    // size_t size: on a 64-bit caller a high half makes it far larger than any allowed value.
    const size = remove ? 0 : words[argLo(3) + 1] !== 0 ? -1 : words[argLo(3)]!;
    const xattrFlags = remove ? XATTR_REMOVE_REQUEST : words[argLo(4)]!;

    let nameLength: number, valueLength: number;
    try {
      nameLength = native.readString(tid, words[argLo(1)]!, words[argLo(1) + 1]!, this.name, XATTR_NAME_CAP);
      valueLength = remove ? 0 : size >= 0 && size <= this.value.byteLength
        ? native.readMemory(tid, words[argLo(2)]!, words[argLo(2) + 1]!, this.value, size) : -1;
    } catch {
      // Unreadable name or value: the kernel's own copy will say EFAULT/ERANGE.
      return this.continueCall(words);
    }
    if (!native.notifIdValid(this.listenerFd, notif)) return -E.ENOENT;
    // removexattr: only a name the host may set (its value does not matter), with the same checks.
    if (remove ? !this.allowedName(nameLength) : !this.allowed(nameLength, valueLength, size) || xattrFlags > 3) {
      return this.continueCall(words);
    }

    let pathLength = 0;
    if (kind !== XattrForm.FD) {
      pathLength = readXattrPath(this.listenerFd, notif, words, tid, this.path);
      if (pathLength < 0) return pathLength;
    }

    let rootFd = -1, startFd = -1, usernsFd = -1;
    try {
      rootFd = native.openPath(`/proc/${tid}/root`, native.constants.O_PATH | native.constants.O_DIRECTORY);
      usernsFd = native.openPath(`/proc/${tid}/ns/user`, native.constants.O_RDONLY);
      const started = findXattrStart(tid, kind, words, this.path, pathLength);
      startFd = xattrStart.fd;
      pathLength = xattrStart.pathLength;
      if (started < 0) return started;
      statusFiles.readCreds(tid, this.creds);
      const creds = statusFiles.withAllGroups(tid, this.creds);
      const usernsInode = native.fstat(usernsFd).ino;
      if (!native.notifIdValid(this.listenerFd, notif)) return -E.ENOENT;
      // The host's own check of who may have this, whatever the policy said: the workload's root
      // (CAP_SYS_ADMIN effective in the workload's user namespace). Anyone else: the kernel decides.
      const capEffLo = creds[Creds.CAP_EFF]!, capEffHi = creds[Creds.CAP_EFF + 1]!;
      const hasSysAdmin = CAP_SYS_ADMIN < 32 ? (capEffLo >>> CAP_SYS_ADMIN) & 1 : (capEffHi >>> (CAP_SYS_ADMIN - 32)) & 1;
      if (usernsInode !== this.workloadUsernsInode || !hasSysAdmin) return this.continueCall(words);
      return resultOfErrno(this.helper.setxattr({
        rootFd, startFd, usernsFd, path: this.path, pathLength,
        xattrFlags,
        atFlags: xattrAtFlags(kind),
        name: this.name.subarray(0, nameLength), value: this.value.subarray(0, valueLength),
        creds,
      }));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ENOENT' || err.code === 'ESRCH') return -E.ENOENT;
      this.warn(`setxattr emulation for tid ${tid} failed: ${err.message}`);
      return -E.EPERM;
    } finally {
      for (const fd of [rootFd, startFd, usernsFd]) if (fd >= 0) native.close(fd);
    }
  }

  private allowedName(nameLength: number): boolean {
    return nameLength > 0 && this.allow.some((a) => a.name.length === nameLength && a.name.equals(this.name.subarray(0, nameLength)));
  }

  private allowed(nameLength: number, valueLength: number, size: number): boolean {
    if (nameLength <= 0 || valueLength !== size) return false;
    return this.allow.some((a) => a.name.length === nameLength && a.value.length === valueLength
      && a.name.equals(this.name.subarray(0, nameLength)) && a.value.equals(this.value.subarray(0, valueLength)));
  }

  /** Lets the kernel run the call with its own checks; the notification is answered here. */
  private continueCall(words: Uint32Array): number {
    return continueInKernel(this.listenerFd, this.response, words);
  }
}
