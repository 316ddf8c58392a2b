// LXD's mknod allowlist: lets a container's root create the harmless character devices that images
// and package managers expect (null, zero, full, random, urandom, tty, console, ptmx), which a user
// namespace alone does not allow.
//
// Only mknod/mknodat of character and block devices ever reach this policy: FIFOs, sockets and
// regular files are decided by the kernel filter itself, and so is the overlayfs whiteout c 0:0,
// which the kernel lets any user create since Linux 5.8 (wasmsup needs 5.9): it makes it with the
// caller's own credentials, one privileged act fewer (LXD stopped emulating it for the same reason). A device not in the allowlist goes back to
// the kernel (CONTINUE), which says EPERM as usual.
//
// Configuration (docs/policies.md): {"devices": ["c 1:3", "c 0:0", ...], "allowBlock": false}.
// "devices" replaces the default list below; a "b MAJOR:MINOR" entry is refused unless "allowBlock"
// is true, so that letting a container create a disk's node is never a typo.
import {
  Cap, Creds, Json, JsonKind, LogLevel, Notification, S_IFBLK, S_IFCHR, S_IFMT, Sys,
  arg, asCaller, continueCall, devMajor, devMinor, intercept, log, refuse,
} from "wasmsup";

export function interest(): void {
  // mknod(path, mode, dev): mode is arg 1; mknodat(dirfd, path, mode, dev): mode is arg 2.
  // dev is arg 2 and 3: a character device numbered 0 (the whiteout) is left to the kernel.
  intercept(Sys.mknod).when(arg(1).masked(S_IFMT).eq(S_IFCHR)).and(arg(2).ne(0)).or(arg(1).masked(S_IFMT).eq(S_IFBLK));
  intercept(Sys.mknodat).when(arg(2).masked(S_IFMT).eq(S_IFCHR)).and(arg(3).ne(0)).or(arg(2).masked(S_IFMT).eq(S_IFBLK));
}

/** Most devices a configuration may list. */
const MAX_DEVICES: i32 = 256;
// The allowlist: device number and whether it is a block device, per entry (static, so that
// configuring allocates nothing that decide() reads).
const DEVICES = memory.data(MAX_DEVICES * 4);
const BLOCK = memory.data(MAX_DEVICES);
let deviceCount: i32 = 0;

/**
 * The character devices LXD allows: the list without configuration. (A "c 0:0" entry in a
 * configuration is accepted and has no effect: whiteouts are the kernel's, see above.)
 */
const DEFAULT_DEVICES = "c 1:3,c 1:5,c 1:7,c 1:8,c 1:9,c 5:0,c 5:1,c 5:2";
const ENTRY = memory.data(32);

function setDefaults(): void {
  deviceCount = 0;
  let start = 0;
  while (start < DEFAULT_DEVICES.length) {
    let stop = DEFAULT_DEVICES.indexOf(",", start);
    if (stop < 0) stop = DEFAULT_DEVICES.length;
    for (let i = start; i < stop; i++) store<u8>(ENTRY + <usize>(i - start), <u8>DEFAULT_DEVICES.charCodeAt(i));
    addEntry(stop - start);
    start = stop + 1;
  }
}
setDefaults();

/**
 * Adds the entry of `n` bytes at ENTRY, "c MAJOR:MINOR" or "b MAJOR:MINOR" (decimal, major < 4096,
 * minor < 1048576 as the kernel's dev_t); 1 when added, 0 when malformed.
 */
function addEntry(n: i32): i32 {
  if (n < 5 || n > 20) return 0;
  const type = load<u8>(ENTRY);
  if ((type != 0x63 && type != 0x62) || load<u8>(ENTRY + 1) != 0x20) return 0;
  let p = 2, major: u32 = 0, minor: u32 = 0, digits = 0;
  while (p < n && load<u8>(ENTRY + <usize>p) >= 0x30 && load<u8>(ENTRY + <usize>p) <= 0x39) {
    major = major * 10 + <u32>(load<u8>(ENTRY + <usize>p) - 0x30); p++; digits++;
  }
  if (digits == 0 || digits > 7 || p >= n || load<u8>(ENTRY + <usize>p) != 0x3a) return 0;
  p++; digits = 0;
  while (p < n && load<u8>(ENTRY + <usize>p) >= 0x30 && load<u8>(ENTRY + <usize>p) <= 0x39) {
    minor = minor * 10 + <u32>(load<u8>(ENTRY + <usize>p) - 0x30); p++; digits++;
  }
  if (digits == 0 || digits > 7 || p != n || major >= 4096 || minor >= 1048576) return 0;
  store<u32>(DEVICES + <usize>(deviceCount * 4), (major << 20) | minor);
  store<u8>(BLOCK + <usize>deviceCount, type == 0x62 ? 1 : 0);
  deviceCount++;
  return 1;
}

export function configure(config: Json | null): bool {
  if (config === null) return true;
  const json = config!;
  const root = json.root;
  if (json.kind(root) != JsonKind.Object) return refuse("the configuration must be a JSON object, not " + json.text(root));
  const unknown = json.unknownKey(root, "devices,allowBlock");
  if (unknown >= 0) return refuse("unknown key " + json.text(unknown) + " (known keys: devices, allowBlock)");
  const allowBlockAt = json.get(root, "allowBlock");
  if (allowBlockAt >= 0 && !json.isBool(allowBlockAt)) return refuse("allowBlock: must be true or false, not " + json.text(allowBlockAt));
  const allowBlock = allowBlockAt >= 0 && json.isTrue(allowBlockAt);
  const devices = json.get(root, "devices");
  if (devices < 0) return true; // the default list
  if (json.kind(devices) != JsonKind.Array) return refuse("devices: must be an array of \"c MAJOR:MINOR\" strings, not " + json.text(devices));
  if (json.count(devices) > MAX_DEVICES) return refuse("devices: " + json.count(devices).toString() + " entries, at most " + MAX_DEVICES.toString());
  deviceCount = 0;
  let i = 0;
  for (let e = json.first(devices); e >= 0; e = json.next(e), i++) {
    const n = json.copyString(e, ENTRY, 32);
    if (n < 0 || n > 32 || addEntry(n) == 0) {
      return refuse("devices[" + i.toString() + "]: " + json.text(e) + " is not \"c MAJOR:MINOR\" or \"b MAJOR:MINOR\"");
    }
    if (load<u8>(BLOCK + <usize>(deviceCount - 1)) != 0 && !allowBlock) {
      return refuse("devices[" + i.toString() + "]: " + json.text(e) + " is a block device, refused unless \"allowBlock\": true");
    }
  }
  log(LogLevel.DEBUG, "mknod: " + deviceCount.toString() + " device(s) allowed" + (allowBlock ? ", block devices allowed" : ""));
  return true;
}

function allowedDevice(block: bool, major: u32, minor: u32): bool {
  const dev = (major << 20) | minor;
  const flag: u8 = block ? 1 : 0;
  for (let i = 0; i < deviceCount; i++) {
    if (load<u32>(DEVICES + <usize>(i * 4)) == dev && load<u8>(BLOCK + <usize>i) == flag) return true;
  }
  return false;
}

export function decide(): i32 {
  const modeArg = Notification.sys == Sys.mknodat ? 2 : 1;
  const mode = Notification.argU32(modeArg);
  const dev = Notification.argU32(modeArg + 1);
  const type = mode & S_IFMT;
  if (type != S_IFCHR && type != S_IFBLK) return continueCall();
  // The whiteout, routed only when the upper half of the argument was not 0 (the kernel reads 32 bits).
  if (type == S_IFCHR && dev == 0) return continueCall();
  if (!allowedDevice(type == S_IFBLK, devMajor(dev), devMinor(dev))) return continueCall();

  // No credentials, no emulation: the kernel answers as it would have.
  if (Creds.load() != 0) return continueCall();
  // In the supervisor's (initial) user namespace the kernel's own CAP_MKNOD check is the real one.
  if (Creds.inSupervisorUserns) return continueCall();
  // Only the workload's root (its user namespace, CAP_MKNOD effective) gets what LXD would give it.
  if (!Creds.inWorkloadUserns || !Creds.hasCap(Cap.MKNOD)) return continueCall();
  // The host creates the node as this caller, lending it only the CAP_MKNOD of the initial namespace.
  return asCaller().lend(1 << Cap.MKNOD).emulate();
}
