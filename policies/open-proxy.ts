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
// Configuration (docs/policies.md): {"views": [PATH, ...], "redirects": {PATH: TARGET, ...}}, absolute
// paths; either key replaces its default table below. Names are compared byte for byte with what the
// caller passed, before any resolution: only absolute paths can match.
import {
  Json, JsonKind, LogLevel, Notification, OpenHow, Resolve, Sys,
  bytesEqualBytes, continueCall, emulateOpen, intercept, log, noOpinion, readString, refuse,
} from "wasmsup";

const PATH_CAP: i32 = 4096;
const PATH = memory.data(PATH_CAP);

// The tables as UTF-8 bytes in this module's memory, made at start-up and in configure() (which may
// allocate; deciding does not): what the host opens is always one of these, never the caller's bytes.
//
// Read-only views: the host's file of that very path (as the supervisor sees it, symlinks not
// followed) is opened, with the supervisor's credentials, when the caller names the path.
let views: ArrayBuffer[] = [String.UTF8.encode("/etc/wasmsup/view.conf")];
// Redirects: the caller naming redirectNames[i] gets the host's file at redirectTargets[i] (read-only
// as well; a path in the host's view, as for a view).
let redirectNames: ArrayBuffer[] = [String.UTF8.encode("/etc/wasmsup/redirect.conf")];
let redirectTargets: ArrayBuffer[] = [String.UTF8.encode("/etc/wasmsup/redirect-target.conf")];

/** Most entries per table: each open is compared with every one. */
const MAX_ENTRIES: i32 = 256;

/** Why `at` is not a usable absolute path, or "" when it is. */
function badPath(json: Json, at: i32): string {
  if (json.kind(at) != JsonKind.String) return "must be a string, not " + json.text(at);
  const n = json.copyString(at, 0, 0);
  if (n < 2 || n >= PATH_CAP) return json.text(at) + " must be an absolute path of 2 to " + (PATH_CAP - 1).toString() + " bytes";
  const s = json.str(at);
  if (s.charCodeAt(0) != 0x2f) return json.text(at) + " is not an absolute path";
  if (s.indexOf("\0") >= 0) return json.text(at) + " holds a NUL byte";
  return "";
}

export function configure(config: Json | null): bool {
  if (config === null) return true;
  const json = config!;
  const root = json.root;
  if (json.kind(root) != JsonKind.Object) return refuse("the configuration must be a JSON object, not " + json.text(root));
  const unknown = json.unknownKey(root, "views,redirects");
  if (unknown >= 0) return refuse("unknown key " + json.text(unknown) + " (known keys: views, redirects)");
  const v = json.get(root, "views");
  if (v >= 0) {
    if (json.kind(v) != JsonKind.Array) return refuse("views: must be an array of absolute paths, not " + json.text(v));
    if (json.count(v) > MAX_ENTRIES) return refuse("views: more than " + MAX_ENTRIES.toString() + " entries");
    views = [];
    let i = 0;
    for (let e = json.first(v); e >= 0; e = json.next(e), i++) {
      const why = badPath(json, e);
      if (why.length) return refuse("views[" + i.toString() + "]: " + why);
      views.push(String.UTF8.encode(json.str(e)));
    }
  }
  const r = json.get(root, "redirects");
  if (r >= 0) {
    if (json.kind(r) != JsonKind.Object) return refuse("redirects: must be an object of path: target, not " + json.text(r));
    if (json.count(r) > MAX_ENTRIES) return refuse("redirects: more than " + MAX_ENTRIES.toString() + " entries");
    redirectNames = []; redirectTargets = [];
    for (let k = json.first(r); k >= 0; k = json.next(k)) {
      let why = badPath(json, k);
      if (why.length) return refuse("redirects: key " + why);
      why = badPath(json, json.value(k));
      if (why.length) return refuse("redirects." + json.str(k) + ": " + why);
      redirectNames.push(String.UTF8.encode(json.str(k)));
      redirectTargets.push(String.UTF8.encode(json.str(json.value(k))));
    }
  }
  log(LogLevel.DEBUG, "open-proxy: " + views.length.toString() + " view(s), " + redirectNames.length.toString() + " redirect(s)");
  return true;
}

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

  for (let i = 0; i < views.length; i++) {
    const source = views[i];
    if (bytesEqualBytes(PATH, n, changetype<usize>(source), source.byteLength)) {
      return emulateOpen(changetype<usize>(source), source.byteLength, flags);
    }
  }
  for (let i = 0; i < redirectNames.length; i++) {
    const name = redirectNames[i];
    if (bytesEqualBytes(PATH, n, changetype<usize>(name), name.byteLength)) {
      const target = redirectTargets[i];
      return emulateOpen(changetype<usize>(target), target.byteLength, flags);
    }
  }
  return noOpinion();
}
