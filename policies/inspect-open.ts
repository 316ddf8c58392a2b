// Deep argument inspection, then continue or deny: an example of reading pointer arguments (a path,
// openat2's struct open_how, clone3's struct clone_args) with the SDK's typed, size-versioned readers.
//
//   - opening anything under /etc/ for writing (O_WRONLY, O_RDWR, O_CREAT, O_TRUNC) fails with EROFS,
//     through every call of the open family that takes a path: open, openat, openat2 and creat
//     (always a write: open(path, O_CREAT|O_WRONLY|O_TRUNC)); on every ABI, i386's numbers included,
//     since the host maps each to the same portable id. (open_by_handle_at names no path: a handle
//     needs CAP_DAC_READ_SEARCH, and is the kernel's business.)
//   - creating a user namespace (CLONE_NEWUSER) with clone3 or clone fails with EPERM;
//   - everything else continues in the kernel.
//
// NOT A SECURITY BOUNDARY (seccomp_unotify(2)): after this policy read a path or struct, another
// thread of the caller can rewrite it before the kernel reads it for real, so a "continue" here only
// holds for callers that do not race it. It is right for catching mistakes and for auditing; when the
// decision must hold, emulate (the host then acts on exactly the bytes it read) or decide on registers
// only, as the clone rule does: clone's flags are a register, checked by the kernel filter itself.
import {
  Clone, CloneArgs, Errno, Notification, O, OpenHow, Sys,
  arg, bytesStartWith, continueCall, fail, intercept, readString,
} from "wasmsup";

const PATH = memory.data(4096);
const WRITE_FLAGS: u32 = O.CREAT | O.TRUNC;

/** Opens asking for write access: (flags & O_ACCMODE) is O_WRONLY or O_RDWR, or O_CREAT or O_TRUNC. */
function interceptWrites(sys: i32, flagsArg: i32): void {
  intercept(sys)
    .when(arg(flagsArg).masked(O.ACCMODE).eq(O.WRONLY))
    .or(arg(flagsArg).masked(O.ACCMODE).eq(O.RDWR))
    .or(arg(flagsArg).masked(O.CREAT).eq(O.CREAT))
    .or(arg(flagsArg).masked(O.TRUNC).eq(O.TRUNC));
}

export function interest(): void {
  // open and openat carry their flags in a register: read-only opens never leave the kernel.
  interceptWrites(Sys.open, 1);
  interceptWrites(Sys.openat, 2);
  // creat(path, mode) always creates or truncates for writing: every call comes here.
  intercept(Sys.creat);
  // openat2's flags and clone3's are behind a pointer: every call comes here.
  intercept(Sys.openat2);
  intercept(Sys.clone3);
  // clone's flags are a register: the filter itself selects CLONE_NEWUSER.
  intercept(Sys.clone).when(arg(0).masked(Clone.NEWUSER).eq(Clone.NEWUSER));
}

function writes(flags: u64): bool {
  return (flags & <u64>O.ACCMODE) != 0 || (flags & <u64>WRITE_FLAGS) != 0;
}

/** EROFS when `pathArg` names a path under /etc/ (as the caller wrote it: no resolution). */
function checkPath(pathArg: i32): i32 {
  const n = readString(Notification.arg(pathArg), PATH, 4096);
  // Unreadable or too long: the kernel gives the same errno when it reads it itself.
  if (n < 0) return continueCall();
  if (bytesStartWith(PATH, n, "/etc/")) return fail(Errno.EROFS);
  return continueCall();
}

export function decide(): i32 {
  const sys = Notification.sys;
  if (sys == Sys.open || sys == Sys.creat) return checkPath(0);
  if (sys == Sys.openat) return checkPath(1);
  if (sys == Sys.openat2) {
    // openat2(dirfd, path, how, size): an invalid size or unknown trailing fields are the kernel's
    // EINVAL/E2BIG, which the reader reports the same way.
    const r = OpenHow.read(Notification.arg(2), Notification.arg(3));
    if (r < 0) return fail(-r);
    return writes(OpenHow.flags) ? checkPath(1) : continueCall();
  }
  if (sys == Sys.clone3) {
    const r = CloneArgs.read(Notification.arg(0), Notification.arg(1));
    if (r < 0) return fail(-r);
    return (CloneArgs.flags & Clone.NEWUSER) != 0 ? fail(Errno.EPERM) : continueCall();
  }
  if (sys == Sys.clone) return fail(Errno.EPERM); // only CLONE_NEWUSER calls get here
  return continueCall();
}
