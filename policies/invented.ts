// An example of invented syscalls: numbers the kernel does not implement, claimed and answered by a
// policy (docs/policy-abi.md, "Invented syscalls"). A workload calls them with syscall(2):
//
//   syscall(0x3ffff000 + 0, a, b)   returns a + b
//   syscall(0x3ffff000 + 1, e)      fails with errno e (1..4095), EINVAL for anything else
//   syscall(0x3ffff000 + 2)         returns the caller's effective uid inside its user namespace
//
// Any other invented number is not claimed here, so the kernel says ENOSYS, as it does for all of
// them when the workload runs without wasmsup. The numbers are the same on x86_64, i386 and aarch64.
import { Creds, Errno, Notification, UNMAPPED_ID, fail, intercept, invented, inventedIndex, returnValue } from "wasmsup";

export function interest(): void {
  intercept(invented(0));
  intercept(invented(1));
  intercept(invented(2));
}

export function decide(): i32 {
  switch (inventedIndex(Notification.sys)) {
    case 0:
      return returnValue(<i64>(Notification.arg(0) + Notification.arg(1)));
    case 1: {
      const errno = Notification.arg(0);
      return fail(errno >= 1 && errno <= 4095 ? <i32>errno : Errno.EINVAL);
    }
    case 2: {
      if (Creds.load() != 0) return fail(Errno.ESRCH);
      const euid = Creds.nsEuid;
      return euid == UNMAPPED_ID ? fail(Errno.EOVERFLOW) : returnValue(<i64>euid);
    }
  }
  // Only the three numbers above are routed here; anything else would be a host bug: be the kernel.
  return fail(Errno.ENOSYS);
}
