// runc's sample seccomp agent (runc 1.1 contrib/cmd/seccompagent, now tests/cmd/seccompagent), as
// one wasmsup policy: run `wasmsup agent` with it where runc's tests and examples run that agent
// (docs/oci.md, "runc's sample agent"). What the sample does, and what this does:
//
// - mkdir(path, mode) makes the directory `path + "-" + SUFFIX` instead, and answers 0. SUFFIX is the
//   container's linux.seccomp.listenerMetadata reduced as the sample reduces it: Go's filepath.Base,
//   then "agent-generated-suffix" if that still holds a "/" (only an all-slashes metadata does). The
//   host makes the directory as the caller (its root, cwd, credentials, umask and user namespace; the
//   new path looked up once inside its root), so owner, group and mode are what the caller's own
//   mkdir would give, and a failure is the kernel's errno for it (EEXIST, ENOENT, ...). The sample made
//   it as the agent (host root, the agent's umask) and answered ENOSYS to any failure.
// - chmod, fchmod and fchmodat fail with ENOMEDIUM.
// - anything else the profile routes to the agent is not this policy's: the agent continues it.
//
// The suffix is worked out once per instance, in configure(), from identity(); deciding allocates
// nothing. Build: `wasmsup build examples/runc-sample-agent.ts -o runc-sample-agent.wasm`.
import {
  Errno, Json, JsonKind, LogLevel, Notification, Sys, asCaller, fail, identity, intercept, log, readString, refuse,
} from "wasmsup";

/** ENOMEDIUM ("No medium found"), the sample's answer to every chmod. Its number on every ABI wasmsup runs. */
const ENOMEDIUM: i32 = 123;
/** The kernel's PATH_MAX: a path and its NUL. */
const PATH_MAX: i32 = 4096;
/** The suffix when listenerMetadata's Base still holds a "/", as the sample has it. */
const FALLBACK = "agent-generated-suffix";

/** The caller's path, then "-" and the suffix: what the host makes. Static, so deciding allocates nothing. */
const PATH = memory.data(PATH_MAX);
/** The suffix's bytes; set once by configure(). */
let suffix: usize = 0;
let suffixLength: i32 = 0;
/** The metadata held a NUL: Go refuses such a path (EINVAL) and the sample answered ENOSYS; so does this. */
let suffixHasNul = false;

export function interest(): void {
  intercept(Sys.mkdir);
  intercept(Sys.chmod);
  intercept(Sys.fchmod);
  intercept(Sys.fchmodat);
}

/**
 * Go's filepath.Base on `[text, text+len)`, as a range of it: "" is ".", trailing slashes are dropped,
 * an all-slashes text is "/", otherwise what follows the last "/". Returns [start, length] packed as
 * start << 32 | length; start -1 for the literal "." and -2 for the literal "/".
 */
function goBase(text: usize, len: i32): i64 {
  if (len == 0) return (<i64>-1 << 32) | 1;
  let end = len;
  while (end > 0 && load<u8>(text + <usize>(end - 1)) == 0x2f) end--;
  if (end == 0) return (<i64>-2 << 32) | 1;
  let start = end;
  while (start > 0 && load<u8>(text + <usize>(start - 1)) != 0x2f) start--;
  return (<i64>start << 32) | <i64>(end - start);
}

/** Keeps `s` (a literal) as the suffix. */
function suffixFromLiteral(s: string): void {
  const bytes = String.UTF8.encode(s);
  suffix = changetype<usize>(bytes);
  suffixLength = bytes.byteLength;
}

export function configure(config: Json | null): bool {
  if (config !== null) {
    const json = config!;
    if (json.kind(json.root) != JsonKind.Object || json.count(json.root) != 0) {
      return refuse("this policy takes no configuration: its suffix is the container's listenerMetadata");
    }
  }
  // The agent's identity carries the container's listenerMetadata; `wasmsup run` has none, which the
  // sample would have seen as "" (runc leaves an empty metadata out of the state).
  const who = identity();
  const at = who.get(who.root, "listenerMetadata");
  const length = at >= 0 ? who.copyString(at, 0, 0) : 0;
  const metadata = new ArrayBuffer(length > 0 ? length : 0);
  if (length > 0) who.copyString(at, changetype<usize>(metadata), length);
  const text = changetype<usize>(metadata);

  const base = goBase(text, length);
  const start = <i32>(base >> 32), baseLength = <i32>(base & 0xffffffff);
  if (start == -1) suffixFromLiteral(".");
  else if (start == -2) suffixFromLiteral(FALLBACK); // Base is "/": it holds a "/"
  else { suffix = text + <usize>start; suffixLength = baseLength; }

  suffixHasNul = false;
  for (let i = 0; i < suffixLength; i++) if (load<u8>(suffix + <usize>i) == 0) suffixHasNul = true;
  log(LogLevel.DEBUG, "runc-sample-agent: mkdir(P) makes P-" + String.UTF8.decodeUnsafe(suffix, suffixLength));
  return true;
}

/** mkdir(path, mode): `path-SUFFIX` made by the host as the caller, the caller's mode argument as it is. */
function mkdirWithSuffix(): i32 {
  if (suffixHasNul) return fail(Errno.ENOSYS);
  // Read once; the host never reads the caller's path again, it makes the bytes built here.
  const n = readString(Notification.arg(0), PATH, PATH_MAX);
  if (n < 0) return fail(-n); // EFAULT, ENAMETOOLONG as the kernel's getname; ENOENT: the call is gone
  const total = n + 1 + suffixLength;
  if (total >= PATH_MAX) return fail(Errno.ENAMETOOLONG); // what the kernel answers a path that long
  store<u8>(PATH + <usize>n, 0x2d); // "-"
  memory.copy(PATH + <usize>(n + 1), suffix, <usize>suffixLength);
  return asCaller().path(PATH, total).emulate();
}

export function decide(): i32 {
  const sys = Notification.sys;
  if (sys == Sys.mkdir) return mkdirWithSuffix();
  return fail(ENOMEDIUM); // chmod, fchmod, fchmodat: the only others interest() routes here
}
