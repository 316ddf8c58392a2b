// Overlay layers for unprivileged containers (as LXD's setxattr emulation): lets the workload's root
// mark a directory opaque in an overlayfs upper layer (trusted.overlay.opaque = "y", what `rm -rf d;
// mkdir d` produces), which the kernel refuses to a user namespace because trusted.* needs
// CAP_SYS_ADMIN in the initial one. Everything else goes back to the kernel untouched: trusted.evil
// still fails with EPERM, user.* works as before.
//
// The kernel filter only lets through calls whose size is 1 (the length of "y") and whose flags are
// valid; this policy reads the name and value to pick the overlayfs one, and the host, which re-reads
// them once and checks its own allowlist on exactly what it writes, does the rest.
import {
  Cap, Creds, Notification, Primitive, Sys,
  arg, bytesEqual, continueCall, emulate, intercept, readBytes, readString,
} from "wasmsup";

const NAME = memory.data(256);
const VALUE = memory.data(8);

export function interest(): void {
  // setxattr(path, name, value, size, flags), lsetxattr(same), fsetxattr(fd, name, value, size, flags).
  intercept(Sys.setxattr).when(arg(3).eq(1)).and(arg(4).le(3));
  intercept(Sys.lsetxattr).when(arg(3).eq(1)).and(arg(4).le(3));
  intercept(Sys.fsetxattr).when(arg(3).eq(1)).and(arg(4).le(3));
}

export function decide(): i32 {
  // Unreadable or another name or value: the kernel answers as it would have (EFAULT, EPERM, ok).
  const n = readString(Notification.arg(1), NAME, 256);
  if (n < 0 || !bytesEqual(NAME, n, "trusted.overlay.opaque")) return continueCall();
  if (readBytes(Notification.arg(2), VALUE, 1) != 1 || load<u8>(VALUE) != 0x79 /* y */) return continueCall();

  if (Creds.load() != 0) return continueCall();
  // In the supervisor's (initial) user namespace the kernel's own CAP_SYS_ADMIN check is the real one.
  if (Creds.inSupervisorUserns) return continueCall();
  if (!Creds.inWorkloadUserns || !Creds.hasCap(Cap.SYS_ADMIN)) return continueCall();
  return emulate(Primitive.SETXATTR);
}
