// An open proxy: for a few configured absolute paths the host opens a file the operator chose itself,
// read-only and in the host's own view, and injects the fd into the caller (SECCOMP_IOCTL_NOTIF_ADDFD
// with SECCOMP_ADDFD_FLAG_SEND), so the workload can read a file its own credentials could not open
// (a view), or gets another file than the one it named (a redirect). Every other open continues.
//
// What the caller passed only decides WHETHER the call is served: its path is read once and compared
// byte for byte with the configured names. WHAT is opened is always this policy's own configured
// source, resolved by the host from its own root and in its own mount namespace, without following
// symlinks: nothing the workload mounts or links in its namespace (a tmpfs over /etc, a symlink at
// the name or in a parent directory, a bind mount onto it) changes the file the host opens. The host's
// own fences (read-only fd on a read-only private mount, regular files only, never procfs) are in
// docs/policies.md, "open-proxy".
//
// CONFIGURATION is compiled in: edit the two tables below and rebuild
// (`wasmsup build policies/open-proxy.ts`). Names are compared byte for byte with what the caller
// passed, before any resolution: only absolute paths can match.
import {
  Notification, OpenHow, Resolve, Sys, bytesEqual, continueCall, emulateOpen, intercept, noOpinion, readString,
} from "wasmsup";

/**
 * Read-only views: the host's file of that very path (as the supervisor sees it, symlinks not
 * followed) is opened, with the supervisor's credentials, when the caller names the path.
 */
const VIEWS: string[] = [
  "/etc/wasmsup/view.conf",
];

/**
 * Redirects: the caller naming the first path gets the host's file at the second (read-only as
 * well; the second is a path in the host's view, as for a view).
 */
const REDIRECTS: string[][] = [
  ["/etc/wasmsup/redirect.conf", "/etc/wasmsup/redirect-target.conf"],
];

const PATH_CAP: i32 = 4096;
const PATH = memory.data(PATH_CAP);

// The configured sources as UTF-8 bytes in this module's memory, made once at start-up (top-level code
// may allocate; deciding does not): what the host opens is always one of these, never the caller's bytes.
const VIEW_SOURCES: ArrayBuffer[] = [];
for (let i = 0; i < VIEWS.length; i++) VIEW_SOURCES.push(String.UTF8.encode(VIEWS[i]));
const TARGETS: ArrayBuffer[] = [];
for (let i = 0; i < REDIRECTS.length; i++) TARGETS.push(String.UTF8.encode(REDIRECTS[i][1]));

/**
 * RESOLVE_* bits with which the caller's name still means the configured one; a call asking for
 * more (RESOLVE_BENEATH, RESOLVE_IN_ROOT: the name is then relative to a directory) continues and
 * the kernel decides. These only restrict the caller's own lookup, which the host never makes.
 */
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
  }

  // Read once; these bytes are only compared: what the host opens is the configured source.
  const n = readString(Notification.arg(pathArg), PATH, PATH_CAP);
  if (n <= 0) return continueCall();

  for (let i = 0; i < VIEWS.length; i++) {
    if (bytesEqual(PATH, n, VIEWS[i])) {
      const source = VIEW_SOURCES[i];
      return emulateOpen(changetype<usize>(source), source.byteLength, flags);
    }
  }
  for (let i = 0; i < REDIRECTS.length; i++) {
    if (bytesEqual(PATH, n, REDIRECTS[i][0])) {
      const target = TARGETS[i];
      return emulateOpen(changetype<usize>(target), target.byteLength, flags);
    }
  }
  return noOpinion();
}
