// An open proxy: for a few configured absolute paths the host opens the file itself, read-only and
// inside the caller's root, and injects the fd into the caller (SECCOMP_IOCTL_NOTIF_ADDFD with
// SECCOMP_ADDFD_FLAG_SEND), so the workload can read a file its own credentials could not open
// (a view), or gets another file than the one it named (a redirect). Every other open continues.
//
// The path is read from the caller once, here, and the host opens exactly these bytes (or the
// configured target): a thread rewriting the path after this read changes nothing. The host's own
// fences (read-only, regular files and directories, inside the caller's root, never procfs) are in
// docs/policies.md, "open-proxy".
//
// CONFIGURATION is compiled in: edit the two tables below and rebuild
// (`wasmsup build policies/open-proxy.ts`). Paths are compared byte for byte with what the caller
// passed, before any resolution: only absolute paths can match.
import {
  Notification, OpenHow, Resolve, Sys, bytesEqual, continueCall, emulateOpen, intercept, noOpinion, readString,
} from "wasmsup";

/** Read-only views: opened as named, with the supervisor's credentials. */
const VIEWS: string[] = [
  "/etc/wasmsup/view.conf",
];

/** Redirects: opening the first path opens the second one instead (read-only as well). */
const REDIRECTS: string[][] = [
  ["/etc/wasmsup/redirect.conf", "/etc/wasmsup/redirect-target.conf"],
];

const PATH_CAP: i32 = 4096;
const PATH = memory.data(PATH_CAP);

// The redirect targets as UTF-8 bytes in this module's memory, made once at start-up (top-level code
// may allocate; deciding does not).
const TARGETS: ArrayBuffer[] = [];
for (let i = 0; i < REDIRECTS.length; i++) TARGETS.push(String.UTF8.encode(REDIRECTS[i][1]));

/** RESOLVE_* bits the host honours; a call asking for more continues and the kernel decides. */
const RESOLVE_HONOURED: u64 = Resolve.NO_XDEV | Resolve.NO_SYMLINKS | Resolve.NO_MAGICLINKS;

export function interest(): void {
  // The path is behind a pointer: every open comes here (a cost of one round trip per open).
  intercept(Sys.open);
  intercept(Sys.openat);
  intercept(Sys.openat2);
}

export function decide(): i32 {
  const sys = Notification.sys;
  let pathArg = 1;
  let flags: u32 = 0;
  let resolve: u64 = 0;
  if (sys == Sys.open) {
    pathArg = 0;
    flags = Notification.argU32(1);
  } else if (sys == Sys.openat) {
    flags = Notification.argU32(2);
  } else {
    // openat2(dirfd, path, how, size): a struct the kernel would refuse is left to the kernel.
    if (OpenHow.read(Notification.arg(2), Notification.arg(3)) != 0) return continueCall();
    if ((OpenHow.flags >> 32) != 0 || (OpenHow.resolve & ~RESOLVE_HONOURED) != 0) return continueCall();
    flags = <u32>OpenHow.flags;
    resolve = OpenHow.resolve & ~Resolve.NO_MAGICLINKS; // the host always adds it
  }

  // Read once; these bytes are what is compared and, for a view, what the host opens.
  const n = readString(Notification.arg(pathArg), PATH, PATH_CAP);
  if (n <= 0) return continueCall();

  for (let i = 0; i < VIEWS.length; i++) {
    if (bytesEqual(PATH, n, VIEWS[i])) return emulateOpen(PATH, n, flags, <u32>resolve);
  }
  for (let i = 0; i < REDIRECTS.length; i++) {
    if (bytesEqual(PATH, n, REDIRECTS[i][0])) {
      const target = TARGETS[i];
      return emulateOpen(changetype<usize>(target), target.byteLength, flags, <u32>resolve);
    }
  }
  return noOpinion();
}
