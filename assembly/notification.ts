// The notification block (docs/policy-abi.md, section 2) and the decision a policy returns. The block
// is one static 128-byte buffer that the host overwrites before every call of wasmsup_decide, so
// reading a notification and answering it allocate nothing.

const BLOCK: usize = memory.data(128, 16);

// Field offsets in the block.
const ID = 0, PID = 8, FLAGS = 12, NR = 16, ARCH = 20, IP = 24, ARGS = 32, SYS = 80, VALUE = 88, PRIMITIVE = 96;
// Bytes 100..128: a primitive's operands (docs/policy-abi.md, section 4), zeroed by the host before each call.
const OPERANDS = 100;

/** The address of the notification block: what the ABI export `wasmsup_notification` returns. */
export function notificationBlock(): usize {
  return BLOCK;
}

/** The notification being decided. */
export class Notification {
  /** The kernel's notification id. */
  @inline static get id(): u64 { return load<u64>(BLOCK + ID); }
  /** Thread id of the caller, in the supervisor's pid namespace. */
  @inline static get pid(): u32 { return load<u32>(BLOCK + PID); }
  @inline static get flags(): u32 { return load<u32>(BLOCK + FLAGS); }
  /** Raw syscall number for `arch`. Prefer `sys`, which is the same on every architecture. */
  @inline static get nr(): i32 { return load<i32>(BLOCK + NR); }
  /** AUDIT_ARCH_* of the call (see `Arch`). */
  @inline static get arch(): u32 { return load<u32>(BLOCK + ARCH); }
  /** Portable syscall id (`Sys.*`); 0 when the syscall is not in the portable table. */
  @inline static get sys(): i32 { return load<i32>(BLOCK + SYS); }
  @inline static get ip(): u64 { return load<u64>(BLOCK + IP); }

  /** Argument `i` (0..5) as the kernel passed it (64 bits; on 32-bit ABIs the upper half is 0). */
  static arg(i: i32): u64 {
    if (<u32>i > 5) abort("Notification.arg: index must be 0..5");
    return load<u64>(BLOCK + ARGS + (<usize>i << 3));
  }
  /** The low 32 bits of argument `i`: a C `unsigned int`, `mode_t`, `dev_t` as the syscall takes it. */
  static argU32(i: i32): u32 {
    return <u32>Notification.arg(i);
  }
  /** The low 32 bits of argument `i` as signed: a C `int` such as a dirfd (AT_FDCWD is -100). */
  static argI32(i: i32): i32 {
    return <i32>Notification.arg(i);
  }
}

/** Decision kinds, the result of wasmsup_decide (docs/policy-abi.md, section 4). */
export namespace Decision {
  /** Ask the next interested policy; if none answers, the call continues. */
  export const NO_OPINION: i32 = 0;
  /** The kernel runs the call as usual (SECCOMP_USER_NOTIF_FLAG_CONTINUE). */
  export const CONTINUE: i32 = 1;
  /** The call fails with the errno in `value`. */
  export const ERRNO: i32 = 2;
  /** The call returns `value` without running. */
  export const RETURN: i32 = 3;
  /** The host performs `primitive` with its own checks and answers with its result. */
  export const EMULATE: i32 = 4;
  /** The call fails with the errno in `value`, then the host kills or freezes the workload (`Containment` in `primitive`). */
  export const CONTAIN: i32 = 5;
}

/** Emulation primitives of an EMULATE decision. */
export namespace Primitive {
  /** mknod/mknodat performed by the host with the caller's credentials. */
  export const MKNOD: i32 = 1;
  /**
   * setxattr/lsetxattr/fsetxattr of the host's overlayfs allowlist (trusted.overlay.opaque = "y") for
   * the workload's root; the host re-reads name and value once and continues anything else.
   */
  export const SETXATTR: i32 = 2;
  /** open/openat/openat2: the host opens a path the policy passes (see `emulateOpen`) and injects the fd. */
  export const OPEN: i32 = 3;
  /**
   * bpf(2) for nested container runtimes: BPF_PROG_LOAD of a BPF_PROG_TYPE_CGROUP_DEVICE program loaded
   * by the host (fd injected), BPF_PROG_ATTACH/DETACH of BPF_CGROUP_DEVICE to cgroups delegated to the
   * workload. The host re-reads and re-checks everything (docs/policies.md, bpf-devices).
   */
  export const BPF: i32 = 4;
  /** sysinfo(2) answered with the workload's uptime, task count and memory cgroup limits. */
  export const SYSINFO: i32 = 5;
  /**
   * A filesystem call (mkdir, mknod, symlink, link, unlink, rmdir, rename, chown, chmod, the xattrs...)
   * performed by the host exactly as the caller would, plus the capabilities the policy lends: see `asCaller()`.
   */
  export const AS_CALLER: i32 = 6;
  /**
   * sched_setscheduler/sched_setparam/sched_setattr performed by the host with its CAP_SYS_NICE for the
   * workload's root, on a thread of the workload, within a ceiling (see `emulateSched`).
   */
  export const SCHED: i32 = 8;
  /**
   * mount(2) of a block-device filesystem for the workload's root, in its mount namespace, and
   * umount2 of the mounts made so (see `emulateMount`; docs/policies.md, mount).
   */
  export const MOUNT: i32 = 7;
  /**
   * open/openat/openat2 answered with a generated read-only file: the workload's view of a /proc or
   * /sys file (`ProcView`), as lxcfs gives containers (see `emulateProcView`).
   */
  export const PROC_VIEW: i32 = 9;
  /**
   * getxattr/lgetxattr/fgetxattr and listxattr/llistxattr/flistxattr: the host reads back, for the
   * workload's root, the trusted.* names SETXATTR manages that the policy names (see `emulateGetxattr`).
   */
  export const GETXATTR: i32 = 10;
}

/** What a CONTAIN decision asks the host to do to the whole workload (docs/policy-abi.md, section 4). */
export namespace Containment {
  /** Every process of the workload (the container) ends with SIGKILL. */
  export const KILL: i32 = 1;
  /** The workload is frozen where it stands, for the operator to inspect and thaw (or kill). */
  export const FREEZE: i32 = 2;
}

/** AUDIT_ARCH_* values of `Notification.arch`. */
export namespace Arch {
  export const X86_64: u32 = 0xc000003e;
  export const I386: u32 = 0x40000003;
  export const AARCH64: u32 = 0xc00000b7;
  export const ARM: u32 = 0x40000028;
}

/** No opinion: the next interested policy is asked. */
@inline export function noOpinion(): i32 {
  return Decision.NO_OPINION;
}

/** Let the kernel run the call as usual. Not a security boundary after reading target memory. */
@inline export function continueCall(): i32 {
  return Decision.CONTINUE;
}

/** Same as continueCall(): the call goes ahead in the kernel, with the kernel's own checks. */
@inline export function allow(): i32 {
  return Decision.CONTINUE;
}

/** Fail the call with `errno` (1..4095, see `Errno`); anything else fails it closed. */
export function fail(errno: i32): i32 {
  store<i64>(BLOCK + VALUE, <i64>errno);
  return Decision.ERRNO;
}

/**
 * Fail the call with `errno` and have the host kill the whole workload (the container): for a call
 * that shows the workload is hostile, not just mistaken. Logged and counted by the host.
 */
export function killWorkload(errno: i32): i32 {
  store<i64>(BLOCK + VALUE, <i64>errno);
  store<i32>(BLOCK + PRIMITIVE, Containment.KILL);
  return Decision.CONTAIN;
}

/** Fail the call with `errno` and have the host freeze the whole workload for the operator to inspect. */
export function freezeWorkload(errno: i32): i32 {
  store<i64>(BLOCK + VALUE, <i64>errno);
  store<i32>(BLOCK + PRIMITIVE, Containment.FREEZE);
  return Decision.CONTAIN;
}

/** Make the call return `value` without running it. */
export function returnValue(value: i64): i32 {
  store<i64>(BLOCK + VALUE, value);
  return Decision.RETURN;
}

/**
 * Ask the host to open, read-only and in the host's own view (from the supervisor's root and mount
 * namespace, no symlinks followed: never what the caller's namespace makes of the name), the absolute
 * path at `path` (`len` bytes, no NUL, in the policy's own memory: the source the policy's
 * configuration names), a regular file, with open flags `flags` (the caller's, for O_CLOEXEC and
 * O_NONBLOCK; write access is refused) and extra RESOLVE_* bits `resolve` (RESOLVE_NO_XDEV), and
 * inject a fd that can only read into the caller (Primitive.OPEN; docs/policy-abi.md, section 4).
 */
export function emulateOpen(path: usize, len: i32, flags: u32, resolve: u32 = 0): i32 {
  store<u32>(BLOCK + OPERANDS, <u32>path);
  store<u32>(BLOCK + OPERANDS + 4, <u32>len);
  store<u32>(BLOCK + OPERANDS + 8, flags);
  store<u32>(BLOCK + OPERANDS + 12, resolve);
  return emulate(Primitive.OPEN);
}

/**
 * Which figures of an emulated sysinfo come from the host rather than the workload (operand word of
 * SYSINFO, docs/policy-abi.md); 0 = the workload's view of all of them.
 */
export namespace SysinfoSource {
  /** uptime: the host's, not since the workload's first process started. */
  export const HOST_UPTIME: u32 = 1;
  /** RAM and swap: the host's, whatever the caller's memory cgroup limits. */
  export const HOST_MEMORY: u32 = 2;
  /** procs: the host's task count, not the workload's. */
  export const HOST_PROCS: u32 = 4;
}

/** Ask the host to answer sysinfo(2) itself, with the figures `sources` (SysinfoSource bits) names from the host. */
export function emulateSysinfo(sources: u32 = 0): i32 {
  store<u32>(BLOCK + OPERANDS, sources);
  return emulate(Primitive.SYSINFO);
}

/** MOUNT's option bits (docs/policy-abi.md, section 4). */
export namespace MountOption {
  /** Idmap the mount with the caller's user namespace: files owned by uid 0 on disk appear owned by the container's root. */
  export const SHIFT: u32 = 1;
  /** Honour set-user-id bits (no forced nosuid; the caller's MS_NOSUID still counts). */
  export const ALLOW_SUID: u32 = 2;
  /** Honour device nodes (no forced nodev; the caller's MS_NODEV still counts). */
  export const ALLOW_DEV: u32 = 4;
}

/**
 * Ask the host to mount, for the caller, the filesystem type at `fstype` (`len` bytes in the policy's
 * own memory: the type the policy read from the caller and allowed) with `options` (MountOption bits)
 * (Primitive.MOUNT; for umount2/umount the operands are not read). With `fuse`/`fuseLen` (a program's
 * file name in the policy's memory, e.g. "fuse2fs") the host runs that FUSE program as the caller
 * instead of mounting in the kernel. The host reads source, target and option string from the caller
 * itself and checks everything (docs/policy-abi.md, section 4).
 */
export function emulateMount(fstype: usize, len: i32, options: u32 = 0, fuse: usize = 0, fuseLen: i32 = 0): i32 {
  store<u32>(BLOCK + OPERANDS, <u32>fstype);
  store<u32>(BLOCK + OPERANDS + 4, <u32>len);
  store<u32>(BLOCK + OPERANDS + 8, options);
  store<u32>(BLOCK + OPERANDS + 12, <u32>fuse);
  store<u32>(BLOCK + OPERANDS + 16, <u32>fuseLen);
  return emulate(Primitive.MOUNT);
}

/** Scheduling policies (`SCHED_*`), as bits of `emulateSched`'s allowed set: bit N allows policy N. */
export namespace SchedPolicy {
  export const OTHER: u32 = 1 << 0;
  export const FIFO: u32 = 1 << 1;
  export const RR: u32 = 1 << 2;
  export const BATCH: u32 = 1 << 3;
  export const IDLE: u32 = 1 << 5;
  export const DEADLINE: u32 = 1 << 6;
}

/**
 * Ask the host to perform sched_setscheduler, sched_setparam or sched_setattr with its own CAP_SYS_NICE
 * (Primitive.SCHED; docs/policy-abi.md, section 4), within a ceiling: the policies `allowed`
 * (SchedPolicy bits), an RT priority (SCHED_FIFO, SCHED_RR) of at most `maxRtPriority` (0..99), a nice
 * value (sched_setattr, SCHED_OTHER and SCHED_BATCH) of at least `minNice` (-20..19). The host checks
 * the caller (the workload's user namespace, CAP_SYS_NICE effective there) and the target (a thread of
 * the workload, in the caller's pid namespace) itself; anything outside the ceiling or those checks is
 * continued, and the kernel answers with the caller's own privileges.
 */
export function emulateSched(allowed: u32, maxRtPriority: i32, minNice: i32): i32 {
  store<u32>(BLOCK + OPERANDS, allowed);
  store<i32>(BLOCK + OPERANDS + 4, maxRtPriority);
  store<i32>(BLOCK + OPERANDS + 8, minNice);
  return emulate(Primitive.SCHED);
}

/** The files PROC_VIEW can generate (docs/policy-abi.md, section 4). */
export namespace ProcView {
  /** /proc/meminfo: memory and swap from the caller's memory cgroup. */
  export const MEMINFO: u32 = 1;
  /** /proc/cpuinfo: the caller's cpus (cpuset, cut to its cpu quota), renumbered from 0. */
  export const CPUINFO: u32 = 2;
  /** /proc/stat: those cpus' lines, with the cgroup's cpu time. */
  export const STAT: u32 = 3;
  /** /proc/uptime: since the workload started, and those cpus' idle time. */
  export const UPTIME: u32 = 4;
  /** /proc/loadavg: the workload's load averages and tasks. */
  export const LOADAVG: u32 = 5;
  /** /proc/swaps: the cgroup's swap limit. */
  export const SWAPS: u32 = 6;
  /** /sys/devices/system/cpu/online: 0-(N-1) for the caller's N cpus. */
  export const CPU_ONLINE: u32 = 7;
}

/**
 * Ask the host to answer this open with a sealed, read-only, generated file holding the workload's
 * view `view` (`ProcView`), honouring the caller's open flags `flags` (O_CLOEXEC, O_NONBLOCK; write
 * access is answered EACCES) (Primitive.PROC_VIEW; docs/policy-abi.md, section 4).
 */
export function emulateProcView(view: u32, flags: u32): i32 {
  store<u32>(BLOCK + OPERANDS, view);
  store<u32>(BLOCK + OPERANDS + 4, flags);
  return emulate(Primitive.PROC_VIEW);
}

/**
 * Ask the host to answer this getxattr (of a name among `names`) or listxattr itself, reading as the
 * host the names in `names` (`len` bytes of the policy's memory: names separated by single NULs, 1..255
 * bytes) that it also sets itself (Primitive.GETXATTR; docs/policy-abi.md, section 4). The host
 * re-reads the caller's name, checks the caller and the file itself, and continues anything else.
 */
export function emulateGetxattr(names: usize, len: i32): i32 {
  store<u32>(BLOCK + OPERANDS, <u32>names);
  store<u32>(BLOCK + OPERANDS + 4, <u32>len);
  return emulate(Primitive.GETXATTR);
}

/** Ask the host to perform emulation `primitive` (see `Primitive`). */
export function emulate(primitive: i32): i32 {
  store<i32>(BLOCK + PRIMITIVE, primitive);
  return Decision.EMULATE;
}
