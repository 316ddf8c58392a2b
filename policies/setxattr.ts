// Overlay layers for unprivileged containers (as LXD's setxattr emulation): lets the workload's root
// mark a directory opaque in an overlayfs upper layer (trusted.overlay.opaque = "y", what `rm -rf d;
// mkdir d` produces), which the kernel refuses to a user namespace because trusted.* needs
// CAP_SYS_ADMIN in the initial one. Everything else goes back to the kernel untouched: trusted.evil
// still fails with EPERM, user.* works as before.
//
// The kernel filter only lets through calls whose size is 1 (the length of "y") and whose flags are
// valid; this policy reads the name and value to pick the configured ones, and the host, which
// re-reads them once and checks its own allowlist on exactly what it writes, does the rest.
//
// Reading back (docs/policies.md, "setxattr"): the kernel hides trusted.* from a user namespace's
// root, so getfattr, cp -a, tar --xattrs and rsync -aX would drop what this policy set. The
// getxattr (of a configured name; any other is the kernel's) and listxattr calls go to the host's
// GETXATTR, which shows the configured names to the workload's root only, as the kernel shows them to
// the host's root, on files the caller may read and whose owner its namespace maps.
//
// Configuration (docs/policies.md): {"xattrs": {"trusted.overlay.opaque": "y"}}, names and the one
// value each may take; only pairs the host itself would write are accepted ({} emulates none).
import {
  Cap, Creds, Json, JsonKind, LogLevel, Notification, Primitive, Sys,
  arg, bytesEqualBytes, continueCall, emulate, emulateGetxattr, intercept, log, readBytes, readString, refuse,
} from "wasmsup";

const NAME = memory.data(256);
const VALUE = memory.data(8);

// What the host ever sets (src/emulate/setxattr.ts, SETXATTR_ALLOWLIST); a configuration is a subset.
const HOST_NAME = "trusted.overlay.opaque";
const HOST_VALUE = "y";

// The configured pairs as UTF-8, made in configure(); the default is the host's one pair.
let names: ArrayBuffer[] = [String.UTF8.encode(HOST_NAME)];
let values: ArrayBuffer[] = [String.UTF8.encode(HOST_VALUE)];
// The same names separated by single NULs: GETXATTR's operand (empty: nothing to read back).
let managed: ArrayBuffer = String.UTF8.encode(HOST_NAME);

export function interest(): void {
  // setxattr(path, name, value, size, flags), lsetxattr(same), fsetxattr(fd, name, value, size, flags).
  intercept(Sys.setxattr).when(arg(3).eq(1)).and(arg(4).le(3));
  intercept(Sys.lsetxattr).when(arg(3).eq(1)).and(arg(4).le(3));
  intercept(Sys.fsetxattr).when(arg(3).eq(1)).and(arg(4).le(3));
  // Removing what it may set: the same names, the same checks (the host's SETXATTR primitive).
  intercept(Sys.removexattr);
  intercept(Sys.lremovexattr);
  intercept(Sys.fremovexattr);
  // Reading them back: getxattr(path, name, value, size) and listxattr(path, list, size), all forms.
  intercept(Sys.getxattr);
  intercept(Sys.lgetxattr);
  intercept(Sys.fgetxattr);
  intercept(Sys.listxattr);
  intercept(Sys.llistxattr);
  intercept(Sys.flistxattr);
}

export function configure(config: Json | null): bool {
  if (config === null) return true;
  const json = config!;
  if (json.kind(json.root) != JsonKind.Object) return refuse("the configuration must be a JSON object, not " + json.text(json.root));
  const unknown = json.unknownKey(json.root, "xattrs");
  if (unknown >= 0) return refuse("unknown key " + json.text(unknown) + " (known keys: xattrs)");
  const xattrs = json.get(json.root, "xattrs");
  if (xattrs < 0) return true;
  if (json.kind(xattrs) != JsonKind.Object) return refuse("xattrs: must be an object of name: value, not " + json.text(xattrs));
  names = []; values = [];
  for (let k = json.first(xattrs); k >= 0; k = json.next(k)) {
    const v = json.value(k);
    if (json.kind(v) != JsonKind.String) return refuse("xattrs." + json.str(k) + ": the value must be a string, not " + json.text(v));
    if (!json.stringIs(k, HOST_NAME) || !json.stringIs(v, HOST_VALUE)) {
      return refuse("xattrs." + json.str(k) + ": " + json.text(v) + " is not one the host sets (it sets only " + HOST_NAME + " = \"" + HOST_VALUE + "\")");
    }
    names.push(String.UTF8.encode(json.str(k)));
    values.push(String.UTF8.encode(json.str(v)));
  }
  managed = joinNames(names);
  log(LogLevel.DEBUG, "setxattr: " + names.length.toString() + " xattr(s) emulated");
  return true;
}

export function decide(): i32 {
  const sys = Notification.sys;
  // listxattr: the host adds the managed names present to the caller's own list.
  if (sys == Sys.listxattr || sys == Sys.llistxattr || sys == Sys.flistxattr) return readBackFor();
  // Unreadable or another name or value: the kernel answers as it would have (EFAULT, EPERM, ok).
  const n = readString(Notification.arg(1), NAME, 256);
  if (n < 0) return continueCall();
  let i = 0;
  while (i < names.length && !bytesEqualBytes(NAME, n, changetype<usize>(names[i]), names[i].byteLength)) i++;
  if (i == names.length) return continueCall();
  if (sys == Sys.getxattr || sys == Sys.lgetxattr || sys == Sys.fgetxattr) return readBackFor();
  // removexattr: a name it may set is enough (there is no value); the host re-checks everything.
  if (sys == Sys.removexattr || sys == Sys.lremovexattr || sys == Sys.fremovexattr) return emulateFor();
  const value = values[i];
  if (readBytes(Notification.arg(2), VALUE, value.byteLength) != value.byteLength
    || !bytesEqualBytes(VALUE, value.byteLength, changetype<usize>(value), value.byteLength)) return continueCall();

  return emulateFor();
}

/** The workload's root (CAP_SYS_ADMIN effective in its user namespace) gets the host's SETXATTR. */
function emulateFor(): i32 {
  if (Creds.load() != 0) return continueCall();
  // In the supervisor's (initial) user namespace the kernel's own CAP_SYS_ADMIN check is the real one.
  if (Creds.inSupervisorUserns) return continueCall();
  if (!Creds.inWorkloadUserns || !Creds.hasCap(Cap.SYS_ADMIN)) return continueCall();
  return emulate(Primitive.SETXATTR);
}

/**
 * The host's GETXATTR for the configured names. Who qualifies (the workload's root) the host checks
 * itself, after its first look at the file (most files carry none of the names, and the kernel's own
 * answer is then the right one): asking for the caller's credentials here would read its status for
 * every getxattr of a managed name and every listxattr.
 */
function readBackFor(): i32 {
  if (managed.byteLength == 0) return continueCall();
  return emulateGetxattr(changetype<usize>(managed), managed.byteLength);
}

/** `list` separated by single NULs. */
function joinNames(list: ArrayBuffer[]): ArrayBuffer {
  let length = 0;
  for (let i = 0; i < list.length; i++) length += list[i].byteLength + (i > 0 ? 1 : 0);
  const out = new ArrayBuffer(length);
  let at = 0;
  for (let i = 0; i < list.length; i++) {
    if (i > 0) store<u8>(changetype<usize>(out) + at++, 0);
    memory.copy(changetype<usize>(out) + at, changetype<usize>(list[i]), list[i].byteLength);
    at += list[i].byteLength;
  }
  return out;
}
