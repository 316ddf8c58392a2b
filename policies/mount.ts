// LXD/Incus's security.syscalls.intercept.mount: lets a container's root mount a block device it can
// open (a disk or loop device handed to it) with a filesystem the operator allows, which a user
// namespace alone may not (ext4, xfs, btrfs are not mountable from a user namespace: their parsers
// trust the disk). Nothing is allowed until configured.
//
// Configuration (docs/policies.md), LXD's vocabulary:
//   {"allowed": ["ext4", "xfs"], "shift": true, "allowSuid": false, "allowDev": false}
// "allowed" (security.syscalls.intercept.mount.allowed): the filesystem types emulated;
// "shift" (….mount.shift): idmap the mount with the caller's user namespace, so files owned by uid 0
// on the disk appear owned by the container's root; "allowSuid"/"allowDev": do not force nosuid /
// nodev (both forced by default); "fuse" (….mount.fuse): {"type": "program"}, types mounted by running
// that FUSE program (looked for in the caller's /usr/sbin, /usr/bin, /sbin, /bin) as the caller
// instead of by the kernel; a type may not be both in "allowed" and in "fuse" (as in LXD).
//
// What it decides (the host re-checks all of it, src/emulate/mount.ts and native/helper_mount.c):
// - mount(2) of an allowed type by the workload's root (its user namespace, CAP_SYS_ADMIN) is
//   emulated with the type as read here; any other mount (another type, a bind, a remount, a
//   propagation change, another caller) is continued: the kernel answers it as without wasmsup
//   (tmpfs, proc, binds succeed in a user namespace; ext4 from a user namespace is EPERM);
// - umount2/umount go to the host, which unmounts (as the caller) only mounts it made and continues
//   the rest;
// - fsopen of an allowed type fails ENOSYS, so that mount(8) falls back to mount(2), which is
//   emulated (Incus fails every fsopen and fsconfig; here other types keep the new API).
import {
  Cap, Creds, Errno, Json, JsonKind, LogLevel, MountOption, Notification, Primitive, Sys,
  arg, continueCall, emulate, emulateMount, fail, intercept, log, readString, refuse,
} from "wasmsup";

// mount(2) flags of the calls that make no new superblock (remount, bind, move, propagation): the
// kernel decides them without a notification.
const MS_NOT_EMULATED: u64 = 32 | 4096 | 8192 | (1 << 17) | (1 << 18) | (1 << 19) | (1 << 20);

export function interest(): void {
  intercept(Sys.mount).when(arg(3).masked(MS_NOT_EMULATED).eq(0));
  intercept(Sys.umount2);
  intercept(Sys.umount);
  intercept(Sys.fsopen);
}

const MAX_TYPES: i32 = 32;
const TYPE_CAP: i32 = 32; // a type name of at most 31 bytes and its NUL
const TYPES = memory.data(MAX_TYPES * TYPE_CAP);
const TYPE_LENGTHS = memory.data(MAX_TYPES * 4);
// Per type: the FUSE program's name and length (0: a kernel mount).
const PROGRAM_CAP: i32 = 64;
const PROGRAMS = memory.data(MAX_TYPES * PROGRAM_CAP);
const PROGRAM_LENGTHS = memory.data(MAX_TYPES * 4);
let typeCount: i32 = 0;
let options: u32 = 0;
/** The type the caller passed, read once: what is compared and what the host is given. */
const FSTYPE = memory.data(TYPE_CAP);

/** 1..31 bytes of [a-z0-9_], not a FUSE type: what the host accepts too. */
function validType(at: usize, n: i32): bool {
  if (n < 1 || n >= TYPE_CAP) return false;
  for (let i = 0; i < n; i++) {
    const c = load<u8>(at + <usize>i);
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x5f)) return false;
  }
  return !(n >= 4 && load<u8>(at) == 0x66 && load<u8>(at + 1) == 0x75 && load<u8>(at + 2) == 0x73 && load<u8>(at + 3) == 0x65);
}

/** Appends the string at `p` to the types; false when it is not a valid type. */
function addType(json: Json, p: i32): bool {
  const at = TYPES + <usize>(typeCount * TYPE_CAP);
  const n = json.copyString(p, at, TYPE_CAP);
  if (n < 0 || !validType(at, n)) return false;
  store<i32>(TYPE_LENGTHS + <usize>(typeCount * 4), n);
  typeCount++;
  return true;
}

/** 1..63 of [A-Za-z0-9._+-], not "." or "..": a file name the host looks for in fixed directories. */
function validProgram(at: usize, n: i32): bool {
  for (let i = 0; i < n; i++) {
    const c = load<u8>(at + <usize>i);
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c == 0x2e || c == 0x5f || c == 0x2b || c == 0x2d;
    if (!ok) return false;
  }
  return !(load<u8>(at) == 0x2e && (n == 1 || (n == 2 && load<u8>(at + 1) == 0x2e)));
}

function boolKey(json: Json, root: i32, name: string, bit: u32): bool {
  const at = json.get(root, name);
  if (at < 0) return true;
  if (!json.isBool(at)) return refuse(name + ": must be true or false, not " + json.text(at));
  if (json.isTrue(at)) options |= bit;
  return true;
}

export function configure(config: Json | null): bool {
  typeCount = 0;
  options = 0;
  if (config === null) return true; // nothing allowed
  const json = config!;
  const root = json.root;
  if (json.kind(root) != JsonKind.Object) return refuse("the configuration must be a JSON object, not " + json.text(root));
  const unknown = json.unknownKey(root, "allowed,shift,allowSuid,allowDev,fuse");
  if (unknown >= 0) return refuse("unknown key " + json.text(unknown) + " (known keys: allowed, shift, allowSuid, allowDev, fuse)");
  if (!boolKey(json, root, "shift", MountOption.SHIFT) || !boolKey(json, root, "allowSuid", MountOption.ALLOW_SUID)
    || !boolKey(json, root, "allowDev", MountOption.ALLOW_DEV)) return false;
  const allowed = json.get(root, "allowed");
  if (allowed >= 0) {
    if (json.kind(allowed) != JsonKind.Array) return refuse("allowed: must be an array of filesystem types, not " + json.text(allowed));
    if (json.count(allowed) > MAX_TYPES) return refuse("allowed: " + json.count(allowed).toString() + " types, at most " + MAX_TYPES.toString());
    let i = 0;
    for (let e = json.first(allowed); e >= 0; e = json.next(e), i++) {
      if (!addType(json, e)) {
        typeCount = 0;
        return refuse("allowed[" + i.toString() + "]: " + json.text(e) + " is not a filesystem type (1..31 of a-z 0-9 _, no FUSE type)");
      }
      store<i32>(PROGRAM_LENGTHS + <usize>((typeCount - 1) * 4), 0);
    }
  }
  const fuse = json.get(root, "fuse");
  if (fuse >= 0) {
    if (json.kind(fuse) != JsonKind.Object) { typeCount = 0; return refuse("fuse: must be an object of \"type\": \"program\", not " + json.text(fuse)); }
    if (typeCount + json.count(fuse) > MAX_TYPES) { typeCount = 0; return refuse("allowed and fuse: more than " + MAX_TYPES.toString() + " types"); }
    for (let k = json.first(fuse); k >= 0; k = json.next(k)) {
      const before = typeCount;
      if (!addType(json, k)) { typeCount = 0; return refuse("fuse: " + json.text(k) + " is not a filesystem type (1..31 of a-z 0-9 _, no FUSE type)"); }
      const n = load<i32>(TYPE_LENGTHS + <usize>(before * 4));
      for (let t = 0; t < before; t++) {
        if (load<i32>(TYPE_LENGTHS + <usize>(t * 4)) == n && memory.compare(TYPES + <usize>(t * TYPE_CAP), TYPES + <usize>(before * TYPE_CAP), <usize>n) == 0) {
          typeCount = 0;
          return refuse("fuse: " + json.text(k) + " is also in allowed (a type is mounted either by the kernel or by a FUSE program)");
        }
      }
      const v = json.value(k);
      const at = PROGRAMS + <usize>(before * PROGRAM_CAP);
      const p = json.copyString(v, at, PROGRAM_CAP);
      if (p < 1 || p >= PROGRAM_CAP || !validProgram(at, p)) {
        typeCount = 0;
        return refuse("fuse: " + json.text(k) + ": " + json.text(v) + " is not a program's file name (1..63 of A-Z a-z 0-9 . _ + -, no slash)");
      }
      store<i32>(PROGRAM_LENGTHS + <usize>(before * 4), p);
    }
  }
  log(LogLevel.DEBUG, "mount: " + typeCount.toString() + " filesystem type(s) allowed, options " + options.toString());
  return true;
}

/** Index of the allowed type equal to the n bytes at FSTYPE, or -1. */
function allowedType(n: i32): i32 {
  for (let i = 0; i < typeCount; i++) {
    if (load<i32>(TYPE_LENGTHS + <usize>(i * 4)) == n && memory.compare(TYPES + <usize>(i * TYPE_CAP), FSTYPE, <usize>n) == 0) return i;
  }
  return -1;
}

/** The workload's root: its user namespace (not the supervisor's), CAP_SYS_ADMIN effective. */
function workloadRoot(): bool {
  if (Creds.load() != 0) return false;
  return !Creds.inSupervisorUserns && Creds.inWorkloadUserns && Creds.hasCap(Cap.SYS_ADMIN);
}

export function decide(): i32 {
  if (typeCount == 0) return continueCall();
  const sys = Notification.sys;
  if (sys == Sys.umount2 || sys == Sys.umount) return workloadRoot() ? emulate(Primitive.MOUNT) : continueCall();

  // fsopen(fstype, flags) and mount(source, target, fstype, flags, data): the type's argument.
  const typeArg = sys == Sys.fsopen ? 0 : 2;
  const addr = Notification.arg(typeArg);
  if (addr == 0) return continueCall();
  const n = readString(addr, FSTYPE, TYPE_CAP);
  const t = n < 0 ? -1 : allowedType(n);
  if (t < 0) return continueCall();
  if (sys == Sys.fsopen) return workloadRoot() ? fail(Errno.ENOSYS) : continueCall();
  if ((Notification.arg(3) & MS_NOT_EMULATED) != 0) return continueCall();
  if (!workloadRoot()) return continueCall();
  return emulateMount(FSTYPE, n, options, PROGRAMS + <usize>(t * PROGRAM_CAP), load<i32>(PROGRAM_LENGTHS + <usize>(t * 4)));
}
