// The MOUNT emulation primitive: mount(2) of a block-device filesystem for a container's root, as
// Incus's security.syscalls.intercept.mount does, and umount2 of the mounts it made.
//
// The policy chose the filesystem type (it read it from the caller once and passes those very bytes
// as an operand) and its configuration (shift, suid, dev); the host decides everything else itself:
// - only new mounts are emulated: MS_REMOUNT, MS_BIND, MS_MOVE and propagation changes are
//   continued, so the kernel answers them with the caller's own privilege (a user namespace may bind
//   and remount what it owns; nothing of wasmsup's privilege is involved);
// - the caller must be in the workload's user namespace (not the supervisor's, where the kernel's
//   own check is the real one) with CAP_SYS_ADMIN effective, and its mount namespace must belong to
//   that user namespace (the helper checks that): anyone else is continued, the kernel answers EPERM;
// - source, target and options are read from the caller once, bounded as the kernel bounds them
//   (PATH_MAX; the option page: at most PAGE_SIZE bytes, cut at PAGE_SIZE - 1 as path_mount does);
// - the helper opens the source and target as the caller in its root (native/helper_mount.c), mounts
//   a filesystem that needs a device, from that very device fd, with nosuid and nodev unless the
//   policy allows them, refuses options naming devices or paths, never on or under /proc or /sys,
//   and attaches it in the caller's mount namespace on that very target fd;
// - the mount's id is kept for this workload; umount2 of a path that names one of them is performed
//   by the helper as the caller (its own privilege, nothing more) and forgets the id; every other
//   umount2 is continued to the kernel.
// Results as every emulator's (contract.ts): 0, -errno, or ANSWERED after a CONTINUE.
import { native } from '../native.js';
import { argLo, Creds, CREDS_WORDS, Notif, RESP_BYTES } from '../layouts.js';
import { statusFiles } from '../caller/status-files.js';
import { cgroup2DirOf } from '../caller/workload.js';
import type { CallerSnapshot } from '../caller/snapshot.js';
import { MOUNT_FSTYPE_MAX, MOUNT_MAX_TRACKED, MOUNT_REQUEST_UMOUNT, MOUNT_WANT, type PrivilegedHelper } from './helper-client.js';
import { continueInKernel } from './contract.js';

const PATH_MAX = 4096;
/** The kernel's copy_mount_options copies one page; path_mount then cuts it at PAGE_SIZE - 1. */
export const MOUNT_OPTIONS_PAGE = 4096;
const CAP_SYS_ADMIN = 21;
const O_WRONLY = 1;
const E = { EPERM: 1, ENOENT: 2, EFAULT: 14, EINVAL: 22, EAGAIN: 11, ENAMETOOLONG: 36 } as const;

// mount(2)'s flags (linux/mount.h, MS_*).
export const MS = {
  RDONLY: 1, NOSUID: 2, NODEV: 4, NOEXEC: 8, SYNCHRONOUS: 16, REMOUNT: 32, MANDLOCK: 64, DIRSYNC: 128,
  NOSYMFOLLOW: 256, NOATIME: 1024, NODIRATIME: 2048, BIND: 4096, MOVE: 8192, REC: 16384, SILENT: 32768,
  UNBINDABLE: 1 << 17, PRIVATE: 1 << 18, SLAVE: 1 << 19, SHARED: 1 << 20, RELATIME: 1 << 21,
  STRICTATIME: 1 << 24, LAZYTIME: 1 << 25,
} as const;
const MS_MGC_MSK = 0xffff0000, MS_MGC_VAL = 0xc0ed0000;
/** Calls that make no new superblock: the kernel answers them (path_mount's order: remount, bind, propagation, move). */
export const MS_NOT_EMULATED = MS.REMOUNT | MS.BIND | MS.MOVE | MS.UNBINDABLE | MS.PRIVATE | MS.SLAVE | MS.SHARED;
// fsmount's attr_flags (MOUNT_ATTR_*).
const ATTR = { RDONLY: 1, NOSUID: 2, NODEV: 4, NOEXEC: 8, NOATIME: 0x10, STRICTATIME: 0x20, NODIRATIME: 0x80, NOSYMFOLLOW: 0x200000 } as const;
// umount2's flags.
const UMOUNT_FLAGS = 1 | 2 | 4 | 8;

/** MOUNT's operand word (docs/policy-abi.md, section 4). */
export const MountOption = { SHIFT: 1, ALLOW_SUID: 2, ALLOW_DEV: 4 } as const;
const MOUNT_OPTIONS_KNOWN = MountOption.SHIFT | MountOption.ALLOW_SUID | MountOption.ALLOW_DEV;

/** The mount attributes and superblock wishes of mount(2) flags, with nosuid/nodev forced unless allowed. */
export function mountAttributes(msFlags: number, options: number): { attr: number; want: number } {
  let attr = 0, want = 0;
  if (msFlags & MS.RDONLY) { attr |= ATTR.RDONLY; want |= MOUNT_WANT.RDONLY; }
  if ((msFlags & MS.NOSUID) || !(options & MountOption.ALLOW_SUID)) attr |= ATTR.NOSUID;
  if ((msFlags & MS.NODEV) || !(options & MountOption.ALLOW_DEV)) attr |= ATTR.NODEV;
  if (msFlags & MS.NOEXEC) attr |= ATTR.NOEXEC;
  if (msFlags & MS.NOSYMFOLLOW) attr |= ATTR.NOSYMFOLLOW;
  if (msFlags & MS.NODIRATIME) attr |= ATTR.NODIRATIME;
  // The kernel's precedence: noatime over strictatime; relatime is the default either way.
  if (msFlags & MS.NOATIME) attr |= ATTR.NOATIME;
  else if (msFlags & MS.STRICTATIME) attr |= ATTR.STRICTATIME;
  if (msFlags & MS.SYNCHRONOUS) want |= MOUNT_WANT.SYNC;
  if (msFlags & MS.DIRSYNC) want |= MOUNT_WANT.DIRSYNC;
  if (msFlags & MS.LAZYTIME) want |= MOUNT_WANT.LAZYTIME;
  if (options & MountOption.SHIFT) want |= MOUNT_WANT.SHIFT;
  return { attr, want };
}

/** A filesystem type the host will mount: 1..63 bytes of [a-z0-9_], and no FUSE type (its fd= options name the mounter's fds). */
export function acceptableFstype(fstype: Uint8Array): boolean {
  if (fstype.byteLength < 1 || fstype.byteLength > MOUNT_FSTYPE_MAX) return false;
  for (const c of fstype) {
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f)) return false;
  }
  return !Buffer.from(fstype.buffer, fstype.byteOffset, fstype.byteLength).toString('latin1').startsWith('fuse');
}

/**
 * The option string as the kernel takes it from `page` (`length` bytes were readable): up to the
 * first NUL, and never more than PAGE_SIZE - 1 bytes (path_mount NUL-terminates the page).
 */
export function optionString(page: Uint8Array, length: number): Uint8Array {
  const limit = Math.min(length, MOUNT_OPTIONS_PAGE - 1);
  const nul = page.subarray(0, limit).indexOf(0);
  return page.subarray(0, nul >= 0 ? nul : limit);
}

export interface MountOperands {
  /** The filesystem type the policy decided on (a view of its memory). */
  fstype: Uint8Array;
  /** MountOption bits. */
  options: number;
  /** The FUSE program's file name to run instead of a kernel mount (a view of the policy's memory), or null. */
  fuse: Uint8Array | null;
}

/** A FUSE program's file name: 1..63 of [A-Za-z0-9._+-], not "." or "..". */
export function acceptableFuseProgram(name: Uint8Array): boolean {
  if (name.byteLength < 1 || name.byteLength > MOUNT_FSTYPE_MAX) return false;
  const text = Buffer.from(name.buffer, name.byteOffset, name.byteLength).toString('latin1');
  return /^[A-Za-z0-9._+-]+$/.test(text) && text !== '.' && text !== '..';
}

export class MountEmulator {
  private readonly source = new Uint8Array(PATH_MAX);
  private readonly target = new Uint8Array(PATH_MAX);
  private readonly page = new Uint8Array(MOUNT_OPTIONS_PAGE);
  private readonly creds = new Uint32Array(CREDS_WORDS);
  private readonly response = new Int32Array(RESP_BYTES / 4);
  /** Ids of the mounts made for this workload, in order (at most MOUNT_MAX_TRACKED). */
  private readonly tracked: bigint[] = [];
  private readonly supervisorUsernsInode: number;

  constructor(
    private readonly helper: PrivilegedHelper | null,
    private readonly listenerFd: number,
    private readonly workloadUsernsInode: number,
    private readonly warn: (message: string) => void,
    /** Test-only fault injection (src/dataplane/test-faults.ts): runs between reading the paths and acting. */
    private readonly afterPathRead: (() => void) | null = null,
  ) {
    let inode = -1;
    try {
      const fd = native.openPath('/proc/self/ns/user', native.constants.O_RDONLY);
      try { inode = native.fstat(fd).ino; } finally { native.close(fd); }
    } catch { /* no /proc: every caller counts as not the supervisor's */ }
    this.supervisorUsernsInode = inode;
  }

  /** The ids of the mounts made for this workload and not yet unmounted through the emulation. */
  trackedMounts(): readonly bigint[] {
    return this.tracked;
  }

  /** mount(source, target, fstype, flags, data) for the notification in `notif`. */
  mount(notif: Uint8Array, words: Uint32Array, operands: MountOperands, caller: CallerSnapshot): number {
    let msFlags = words[argLo(3)]! >>> 0;
    if (((msFlags & MS_MGC_MSK) >>> 0) === MS_MGC_VAL) msFlags = (msFlags & ~MS_MGC_MSK) >>> 0;
    if (msFlags & MS_NOT_EMULATED) return this.continueCall(words);
    if ((operands.options & ~MOUNT_OPTIONS_KNOWN) !== 0 || !acceptableFstype(operands.fstype)
      || (operands.fuse !== null && !acceptableFuseProgram(operands.fuse))) {
      this.warn(`mount emulation: the policy's operands are not a filesystem type and option bits the host knows; failing the call closed`);
      return -E.EPERM;
    }
    if (this.helper === null) {
      this.warn('mount emulation needs a privileged supervisor (root in the initial user namespace); answering EPERM');
      return -E.EPERM;
    }
    const tid = words[Notif.TID]!;
    // The kernel copies the strings before looking anything up: their errnos come first.
    let sourceLength: number, targetLength: number, options: Uint8Array;
    try {
      if (words[argLo(0)] === 0 && words[argLo(0) + 1] === 0) return -E.EINVAL; // "no source specified"
      sourceLength = native.readString(tid, words[argLo(0)]!, words[argLo(0) + 1]!, this.source, PATH_MAX);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return code === 'ENAMETOOLONG' ? -E.EINVAL : -((e as NodeJS.ErrnoException).errno ?? E.EFAULT);
    }
    try {
      targetLength = native.readString(tid, words[argLo(1)]!, words[argLo(1) + 1]!, this.target, PATH_MAX);
      const dataLo = words[argLo(4)]!, dataHi = words[argLo(4) + 1]!;
      options = dataLo === 0 && dataHi === 0 ? this.page.subarray(0, 0)
        : optionString(this.page, native.readMemory(tid, dataLo, dataHi, this.page, MOUNT_OPTIONS_PAGE));
    } catch (e) {
      return -((e as NodeJS.ErrnoException).errno ?? E.EFAULT);
    }
    if (!native.notifIdValid(this.listenerFd, notif)) return -E.ENOENT;
    if (sourceLength === 0 || targetLength === 0) return -E.ENOENT;
    if (this.afterPathRead !== null) this.afterPathRead();
    const { attr, want } = mountAttributes(msFlags, operands.options);
    const fuse = operands.fuse;
    return this.withCaller(notif, words, caller, (fds, creds) => {
      let pidnsFd = -1, cgroupProcsFd = -1;
      try {
        if (fuse !== null) pidnsFd = native.openPath(`/proc/${tid}/ns/pid`, native.constants.O_RDONLY);
        // The caller's cgroup (cgroup2): the helper's children that act as the caller join it, so its
        // device programs judge the source's open, and a FUSE program runs (and is accounted) there.
        const cgroupDir = cgroup2DirOf(tid);
        if (cgroupDir !== null) cgroupProcsFd = native.openPath(`${cgroupDir}/cgroup.procs`, O_WRONLY);
        if (!native.notifIdValid(this.listenerFd, notif)) return -E.ENOENT;
        const { errno, mountId } = this.helper!.mount({
          ...fds, pidnsFd, cgroupProcsFd, source: this.source.subarray(0, sourceLength), target: this.target.subarray(0, targetLength),
          fstype: fuse ?? operands.fstype, options, attr, flags: fuse !== null ? want | MOUNT_WANT.FUSE : want, tracked: [], creds,
        });
        if (errno !== 0) return -errno;
        // A FUSE mount is the caller's own (its program made it): its umount is the kernel's.
        if (fuse === null && mountId !== 0n && this.tracked.length < MOUNT_MAX_TRACKED) this.tracked.push(mountId);
        return 0;
      } finally {
        if (pidnsFd >= 0) native.close(pidnsFd);
        if (cgroupProcsFd >= 0) native.close(cgroupProcsFd);
      }
    });
  }

  /** umount2(target, flags) (umount: flags 0): the helper's, as the caller, only for a tracked mount. */
  umount(notif: Uint8Array, words: Uint32Array, flags: number, caller: CallerSnapshot): number {
    if (this.tracked.length === 0 || this.helper === null) return this.continueCall(words);
    if ((flags & ~UMOUNT_FLAGS) !== 0) return this.continueCall(words); // the kernel's EINVAL
    const tid = words[Notif.TID]!;
    let targetLength: number;
    try {
      targetLength = native.readString(tid, words[argLo(0)]!, words[argLo(0) + 1]!, this.target, PATH_MAX);
    } catch (e) {
      return -((e as NodeJS.ErrnoException).errno ?? E.EFAULT);
    }
    if (!native.notifIdValid(this.listenerFd, notif)) return -E.ENOENT;
    if (targetLength === 0) return -E.ENOENT;
    return this.withCaller(notif, words, caller, (fds, creds) => {
      const { errno, mountId } = this.helper!.mount({
        ...fds, pidnsFd: -1, cgroupProcsFd: -1, source: new Uint8Array(0), target: this.target.subarray(0, targetLength), fstype: new Uint8Array(0),
        options: new Uint8Array(0), attr: 0, flags: (MOUNT_REQUEST_UMOUNT | flags) >>> 0, tracked: this.tracked, creds,
      });
      if (errno === E.EAGAIN) return this.continueCall(words); // not one of ours: the kernel's
      if (errno === 0) {
        const at = this.tracked.indexOf(mountId);
        if (at >= 0) this.tracked.splice(at, 1);
      }
      return -errno;
    });
  }

  /**
   * Opens the caller's root, cwd, user and mount namespaces, reads its credentials, checks it may
   * have a mount (else continues the call), re-checks ID_VALID, and runs `act`.
   */
  private withCaller(notif: Uint8Array, words: Uint32Array, caller: CallerSnapshot,
    act: (fds: { rootFd: number; cwdFd: number; usernsFd: number; mntnsFd: number }, creds: Uint32Array) => number): number {
    const tid = words[Notif.TID]!;
    let rootFd = -1, cwdFd = -1, usernsFd = -1, mntnsFd = -1;
    try {
      rootFd = native.openPath(`/proc/${tid}/root`, native.constants.O_PATH | native.constants.O_DIRECTORY);
      cwdFd = native.openPath(`/proc/${tid}/cwd`, native.constants.O_PATH | native.constants.O_DIRECTORY);
      usernsFd = native.openPath(`/proc/${tid}/ns/user`, native.constants.O_RDONLY);
      mntnsFd = native.openPath(`/proc/${tid}/ns/mnt`, native.constants.O_RDONLY);
      let creds = caller.credsOf(words);
      if (creds === null) {
        statusFiles.readCreds(tid, this.creds);
        creds = this.creds;
      }
      creds = statusFiles.withAllGroups(tid, creds);
      const usernsInode = native.fstat(usernsFd).ino;
      if (!native.notifIdValid(this.listenerFd, notif)) return -E.ENOENT;
      // The host's own check of who may have a mount, whatever the policy said: the workload's root.
      const capEff = creds[Creds.CAP_EFF]!;
      if (usernsInode !== this.workloadUsernsInode || usernsInode === this.supervisorUsernsInode
        || ((capEff >>> CAP_SYS_ADMIN) & 1) === 0) {
        return this.continueCall(words);
      }
      return act({ rootFd, cwdFd, usernsFd, mntnsFd }, creds);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ENOENT' || err.code === 'ESRCH') return -E.ENOENT;
      this.warn(`mount emulation for tid ${tid} failed: ${err.message}`);
      return -E.EPERM;
    } finally {
      for (const fd of [rootFd, cwdFd, usernsFd, mntnsFd]) if (fd >= 0) native.close(fd);
    }
  }

  /** Lets the kernel run the call with its own checks; the notification is answered here. */
  private continueCall(words: Uint32Array): number {
    return continueInKernel(this.listenerFd, this.response, words);
  }
}
