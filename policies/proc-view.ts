// /proc as the container sees it, as lxcfs gives it but without FUSE: an open of /proc/meminfo,
// /proc/cpuinfo, /proc/stat, /proc/uptime, /proc/loadavg, /proc/swaps or /sys/devices/system/cpu/online
// is answered by the host with a sealed, read-only, generated file holding the workload's view —
// memory and swap of its memory cgroup, its cpuset cut to its cpu quota, its cgroup's cpu time, its
// uptime and load (primitive PROC_VIEW; docs/policies.md, "proc-view"). The same figures as the
// sysinfo policy's, so free(1) and sysinfo(2) agree. Every other open continues.
//
// What is matched is the name as the caller wrote it, normalised lexically ("//", "." and ".." folded,
// so /proc/self/../meminfo and /proc//meminfo match): an absolute name, or a relative one under an
// openat/openat2 dirfd whose path (fd_info: as the caller sees it from its own root) makes it one of
// the names. Not matched, and so the host's file: a name relative to the working directory (no host
// function tells a policy the caller's cwd), names through /proc/PID/root or another mount of procfs,
// a reopen through /proc/self/fd. That is the right trade here: this is a view, not a wall — nothing
// is granted by a match (the caller gets bytes the host generated, never a host fd), and nothing is
// withheld by a miss that the caller could not read anyway. (Matching on caller memory is never a
// security boundary; this policy does not need one.)
//
// Write access (O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND) to a matched name fails with EACCES,
// what the kernel answers anyone without CAP_DAC_OVERRIDE for these 0444 files; O_PATH continues.
//
// Configuration (docs/policies.md): {"files": [NAME, ...]}: which of the names above are served
// (default: all of them).
import {
  Errno, FdInfo, Json, JsonKind, LogLevel, Notification, O, OpenHow, ProcView, Resolve, Sys,
  bytesEqual, continueCall, emulateProcView, fail, intercept, log, noOpinion, readString, refuse,
} from "wasmsup";

const PATH_CAP: i32 = 4096;
const PATH = memory.data(PATH_CAP);
/** A dirfd's path + "/" + the caller's relative name. */
const FULL = memory.data(PATH_CAP * 2 + 1);
const NORM = memory.data(PATH_CAP * 2 + 1);
const MAX_DEPTH: i32 = 4096;
/** Where each component of NORM starts, for "..". */
const STARTS = memory.data(MAX_DEPTH * 4);
const AT_FDCWD: i32 = -100;

// Parallel: the names served, the last component of each (a cheap first test), the view.
const NAMES: string[] = ["/proc/meminfo", "/proc/cpuinfo", "/proc/stat", "/proc/uptime", "/proc/loadavg", "/proc/swaps", "/sys/devices/system/cpu/online"];
const BASENAMES: string[] = ["meminfo", "cpuinfo", "stat", "uptime", "loadavg", "swaps", "online"];
const VIEWS: u32[] = [ProcView.MEMINFO, ProcView.CPUINFO, ProcView.STAT, ProcView.UPTIME, ProcView.LOADAVG, ProcView.SWAPS, ProcView.CPU_ONLINE];
let served: bool[] = [true, true, true, true, true, true, true];

const WRITE_FLAGS: u64 = <u64>(O.ACCMODE | O.CREAT | O.TRUNC | O.APPEND | O.TMPFILE_BIT);
/** openat2 resolve bits that make the name relative to a root of the caller's choosing: left to the kernel. */
const RESOLVE_SCOPED: u64 = Resolve.BENEATH | Resolve.IN_ROOT;

export function configure(config: Json | null): bool {
  if (config === null) return true;
  const json = config!;
  const root = json.root;
  if (json.kind(root) != JsonKind.Object) return refuse("the configuration must be a JSON object, not " + json.text(root));
  const unknown = json.unknownKey(root, "files");
  if (unknown >= 0) return refuse("unknown key " + json.text(unknown) + " (known keys: files)");
  const files = json.get(root, "files");
  if (files < 0) return true;
  if (json.kind(files) != JsonKind.Array) return refuse("files: must be an array of names, not " + json.text(files));
  served = [false, false, false, false, false, false, false];
  let i = 0;
  for (let e = json.first(files); e >= 0; e = json.next(e), i++) {
    let known = -1;
    for (let k = 0; k < NAMES.length; k++) if (json.stringIs(e, NAMES[k])) known = k;
    if (known < 0) return refuse("files[" + i.toString() + "]: " + json.text(e) + " is not one of " + NAMES.join(", "));
    served[known] = true;
  }
  let list = "";
  for (let k = 0; k < NAMES.length; k++) if (served[k]) list += (list.length ? ", " : "") + NAMES[k];
  log(LogLevel.DEBUG, "proc-view: serving " + (list.length ? list : "nothing"));
  return true;
}

export function interest(): void {
  // The name is behind a pointer: every open comes here (one round trip per open).
  intercept(Sys.open);
  intercept(Sys.openat);
  intercept(Sys.openat2);
}

/** The served name whose last component the `len` bytes at `buf` end with, or -1: the cheap first test. */
function byBasename(buf: usize, len: i32): i32 {
  let start = len;
  while (start > 0 && load<u8>(buf + <usize>(start - 1)) != 0x2f) start--;
  for (let k = 0; k < BASENAMES.length; k++) {
    if (served[k] && bytesEqual(buf + <usize>start, len - start, BASENAMES[k])) return k;
  }
  return -1;
}

/** `len` bytes at `src` (an absolute name) with "//", "." and ".." folded, into NORM; its length, or -1. */
function normalise(src: usize, len: i32): i32 {
  let out = 0, depth = 0, i = 0;
  while (i < len) {
    while (i < len && load<u8>(src + <usize>i) == 0x2f) i++;
    if (i >= len) break;
    let j = i;
    while (j < len && load<u8>(src + <usize>j) != 0x2f) j++;
    const n = j - i;
    const dot = load<u8>(src + <usize>i) == 0x2e;
    if (n == 1 && dot) {
      // "."
    } else if (n == 2 && dot && load<u8>(src + <usize>(i + 1)) == 0x2e) {
      // "..": back to where the last component started ("/.." is "/")
      if (depth > 0) { depth--; out = load<i32>(STARTS + <usize>(depth * 4)); }
    } else {
      if (depth >= MAX_DEPTH) return -1;
      store<i32>(STARTS + <usize>(depth * 4), out);
      depth++;
      store<u8>(NORM + <usize>out, 0x2f);
      memory.copy(NORM + <usize>(out + 1), src + <usize>i, <usize>n);
      out += n + 1;
    }
    i = j;
  }
  return out;
}

/** The served name the caller's name means, or -1. `n` bytes of it are at PATH. */
function match(dirfd: i32, n: i32): i32 {
  if (byBasename(PATH, n) < 0) return -1;
  let src = PATH, len = n;
  if (load<u8>(PATH) != 0x2f) {
    // Relative: only under a dirfd whose path the host can tell (not the cwd).
    if (dirfd == AT_FDCWD) return -1;
    if (FdInfo.load(dirfd) != 0 || FdInfo.notAPath || !FdInfo.pathInRoot) return -1;
    const dirLen = FdInfo.pathLength;
    if (dirLen <= 0 || dirLen > PATH_CAP) return -1;
    memory.copy(FULL, FdInfo.path, <usize>dirLen);
    store<u8>(FULL + <usize>dirLen, 0x2f);
    memory.copy(FULL + <usize>(dirLen + 1), PATH, <usize>n);
    src = FULL; len = dirLen + 1 + n;
  }
  const m = normalise(src, len);
  if (m < 0) return -1;
  for (let k = 0; k < NAMES.length; k++) if (served[k] && bytesEqual(NORM, m, NAMES[k])) return k;
  return -1;
}

export function decide(): i32 {
  const sys = Notification.sys;
  let pathArg = 1, dirfd = AT_FDCWD;
  let flags: u64 = 0;
  if (sys == Sys.open) {
    pathArg = 0;
    flags = <u64>Notification.argU32(1);
  } else if (sys == Sys.openat) {
    dirfd = <i32>Notification.argU32(0);
    flags = <u64>Notification.argU32(2);
  } else {
    // openat2(dirfd, path, how, size): a struct the kernel would refuse is left to the kernel.
    if (OpenHow.read(Notification.arg(2), Notification.arg(3)) != 0) return continueCall();
    if ((OpenHow.resolve & RESOLVE_SCOPED) != 0) return noOpinion();
    dirfd = <i32>Notification.argU32(0);
    flags = OpenHow.flags;
  }
  const n = readString(Notification.arg(pathArg), PATH, PATH_CAP);
  if (n <= 0) return noOpinion();
  const k = match(dirfd, n);
  if (k < 0) return noOpinion();
  if ((flags & <u64>O.PATH) != 0) return noOpinion();
  if ((flags & WRITE_FLAGS) != 0) return fail(Errno.EACCES);
  return emulateProcView(VIEWS[k], <u32>flags);
}
