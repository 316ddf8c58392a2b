// LXD's mknod allowlist: lets a container's root create the harmless character devices that images
// and package managers expect (null, zero, full, random, urandom, tty, console, ptmx) and overlayfs
// whiteouts (0:0), which a user namespace alone does not allow.
//
// Only mknod/mknodat of character and block devices ever reach this policy: FIFOs, sockets and
// regular files are decided by the kernel filter itself. A block device or any other device goes
// back to the kernel (CONTINUE), which says EPERM as usual.
import {
  Cap, Creds, Notification, Primitive, S_IFBLK, S_IFCHR, S_IFMT, Sys,
  arg, continueCall, devMajor, devMinor, emulate, intercept,
} from "wasmsup";

export function interest(): void {
  // mknod(path, mode, dev): mode is arg 1; mknodat(dirfd, path, mode, dev): mode is arg 2.
  intercept(Sys.mknod).when(arg(1).masked(S_IFMT).eq(S_IFCHR)).or(arg(1).masked(S_IFMT).eq(S_IFBLK));
  intercept(Sys.mknodat).when(arg(2).masked(S_IFMT).eq(S_IFCHR)).or(arg(2).masked(S_IFMT).eq(S_IFBLK));
}

/** The character devices LXD allows (major:minor), plus 0:0, the overlayfs whiteout. */
function allowedCharDevice(major: u32, minor: u32): bool {
  if (major == 0) return minor == 0;
  if (major == 1) return minor == 3 || minor == 5 || minor == 7 || minor == 8 || minor == 9;
  if (major == 5) return minor <= 2;
  return false;
}

export function decide(): i32 {
  const modeArg = Notification.sys == Sys.mknodat ? 2 : 1;
  const mode = Notification.argU32(modeArg);
  const dev = Notification.argU32(modeArg + 1);
  if ((mode & S_IFMT) != S_IFCHR) return continueCall();
  if (!allowedCharDevice(devMajor(dev), devMinor(dev))) return continueCall();

  // No credentials, no emulation: the kernel answers as it would have.
  if (Creds.load() != 0) return continueCall();
  // In the supervisor's (initial) user namespace the kernel's own CAP_MKNOD check is the real one.
  if (Creds.inSupervisorUserns) return continueCall();
  // Only the workload's root (its user namespace, CAP_MKNOD effective) gets what LXD would give it.
  if (!Creds.inWorkloadUserns || !Creds.hasCap(Cap.MKNOD)) return continueCall();
  return emulate(Primitive.MKNOD);
}
