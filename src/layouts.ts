// The memory layouts the host shares with the kernel, the native shim and the policies, each defined
// here once for TypeScript: the host reads and writes them as typed-array words (no DataView, no
// allocation) on the data plane's path. The native definitions are native/notif_layout.h (the
// notification's words, checked against the kernel's struct when the addon is built) and
// native/creds_layout.h (the readCreds words); the addon exports both as native.constants, and
// test/kernel/native.test.ts holds these to them. The SDK's side of the policy blocks is assembly/;
// docs/policy-abi.md and docs/native-api.md describe them.

/**
 * struct seccomp_notif (linux/seccomp.h) as a Uint32Array, in the host's 128-byte notification buffer:
 * id (u64), pid (the calling thread's tid), flags, then struct seccomp_data: nr, arch,
 * instruction_pointer (u64), args[6] (u64 each, low half first). The host adds the portable syscall
 * id after it, at byte 80, and copies words 0..POLICY_WORDS into a policy's notification block.
 */
export const Notif = {
  ID_LO: 0, ID_HI: 1,
  TID: 2,
  FLAGS: 3,
  NR: 4,
  ARCH: 5,
  IP_LO: 6, IP_HI: 7,
  /** args[0]'s low half; args[i] is at ARGS + 2i (low), ARGS + 2i + 1 (high). */
  ARGS: 8,
  /** The host's: the portable syscall id (src/syscalls/tables.ts). */
  PORTABLE: 20,
  /** struct seccomp_data: words DATA_FROM..DATA_TO. */
  DATA_FROM: 4, DATA_TO: 20,
  /** Words a policy's notification block receives: the notification and the portable id. */
  POLICY_WORDS: 21,
} as const;

/** Bytes of the buffer a notification is received into (struct seccomp_notif is 80 on every ABI). */
export const NOTIF_BUFFER_BYTES = 128;

/** Word index of the low half of args[i] in Notif words. */
export const argLo = (i: number): number => Notif.ARGS + 2 * i;

/**
 * struct seccomp_notif_resp as an Int32Array (24 bytes): id (u64), val (s64), error (s32: 0 or
 * -errno, the kernel's convention), flags (u32).
 */
export const Resp = { ID_LO: 0, ID_HI: 1, VAL_LO: 2, VAL_HI: 3, ERROR: 4, FLAGS: 5 } as const;
export const RESP_BYTES = 24;

/** struct seccomp_notif_addfd, byte offsets (24 bytes): id (u64), flags, srcfd, newfd, newfd_flags. */
export const AddFd = { ID: 0, FLAGS: 8, SRCFD: 12, NEWFD: 16, NEWFD_FLAGS: 20 } as const;
export const ADDFD_BYTES = 24;

/**
 * Word offsets in native.readCreds output (docs/native-api.md), parsed from /proc/TID/status by the
 * native shim; the one native definition is native/creds_layout.h (native.constants.CREDS_*).
 */
export const Creds = {
  UID: 0, // r, e, s, fs
  GID: 4, // r, e, s, fs
  UMASK: 8,
  TGID: 9,
  CAP_INH: 10, // lo, hi
  CAP_PRM: 12,
  CAP_EFF: 14,
  CAP_BND: 16,
  NO_NEW_PRIVS: 18,
  NGROUPS: 19,
  /** lo, hi: the inode of the caller's user namespace, when readCredsFd read it (else 0). */
  USERNS_INODE: 20,
  GROUPS: 32,
  /** Groups a CREDS_WORDS buffer holds; NGROUPS is the caller's real count, which may be more. */
  MAX_GROUPS: 64,
  /** The kernel's NGROUPS_MAX: a buffer of CREDS_WORDS_ALL_GROUPS words holds any caller's groups. */
  NGROUPS_MAX: 65536,
} as const;

/** Number of Uint32 words `readCreds` fills. */
export const CREDS_WORDS = 96;

/** `readCreds` words that hold every group a caller can have. */
export const CREDS_WORDS_ALL_GROUPS = Creds.GROUPS + Creds.NGROUPS_MAX;

// The policy ABI's blocks (docs/policy-abi.md, sections 2 to 4; the SDK's side is assembly/).

/** Size of a policy's notification block, of the creds block, and of the block fd_info fills. */
export const NOTIFICATION_BYTES = 128;
export const CREDS_BYTES = 128;
export const FD_INFO_BYTES = 80;

/**
 * A policy's notification block as an Int32Array (32 words): words 0..Notif.POLICY_WORDS are the
 * host's copy of the notification; the policy writes its decision's operands after them.
 */
export const PolicyBlock = {
  /** RETURN's value (s64, low half first); ERRNO's and CONTAIN's errno (positive, 1..4095) in VALUE_LO. */
  VALUE_LO: 22, VALUE_HI: 23,
  /** EMULATE's primitive; CONTAIN's containment (kill, freeze). */
  PRIMITIVE: 24,
  /** OPEN's operands: path pointer and length in the policy's memory, open flags, RESOLVE_* bits. */
  OPEN_PATH_PTR: 25, OPEN_PATH_LEN: 26, OPEN_FLAGS: 27, OPEN_RESOLVE: 28,
  /** OPEN's reserved words (bytes 116..128), which must be zero. */
  OPEN_RESERVED: 29,
  /** SYSINFO's operand: the figures taken from the host (SYSINFO_SOURCES bits, src/emulate/sysinfo.ts). */
  SYSINFO_FROM_HOST: 25,
  /**
   * MOUNT's operands: filesystem type (pointer and length in the policy's memory), MountOption bits,
   * the FUSE program's file name (pointer and length, 0 for a kernel mount); then reserved words.
   */
  MOUNT_FSTYPE_PTR: 25, MOUNT_FSTYPE_LEN: 26, MOUNT_OPTIONS: 27, MOUNT_FUSE_PTR: 28, MOUNT_FUSE_LEN: 29, MOUNT_RESERVED: 30,
  /** SCHED's operands: allowed policies (bit N = SCHED_* N), highest RT priority, lowest nice (i32); reserved from 28. */
  SCHED_POLICIES: 25, SCHED_MAX_RT_PRIORITY: 26, SCHED_MIN_NICE: 27, SCHED_RESERVED: 28,
  /** AS_CALLER's operands (src/dataplane/as-caller-operands.ts): lent capabilities, what is replaced, the replacement block. */
  AS_CALLER_LEND_LO: 25, AS_CALLER_LEND_HI: 26, AS_CALLER_REPLACE: 27, AS_CALLER_BLOCK: 28,
  /** AS_CALLER's reserved words (bytes 116..128), which must be zero. */
  AS_CALLER_RESERVED: 29,
  /** PROC_VIEW's operands: which view (ProcView, src/emulate/proc-views.ts), the caller's open flags; words 27.. reserved (0). */
  PROC_VIEW_ID: 25, PROC_VIEW_FLAGS: 26, PROC_VIEW_RESERVED: 27,
  /** GETXATTR's operands: the managed names (NUL-separated) as pointer and length in the policy's memory; words 27.. reserved (0). */
  GETXATTR_NAMES_PTR: 25, GETXATTR_NAMES_LEN: 26, GETXATTR_RESERVED: 27,
  WORDS: 32,
} as const;

/** The creds block caller_creds fills, as a Uint32Array (32 words). */
export const CredsBlock = {
  /** uid, euid, suid, fsuid as the supervisor sees them; then gid, egid, sgid, fsgid. */
  UID: 0, GID: 4,
  /** The same eight ids as the caller's user namespace names them (UNMAPPED_ID when it has no name). */
  NS_UID: 8, NS_GID: 12,
  CAP_EFF: 16, CAP_PRM: 18, CAP_INH: 20, // lo, hi
  UMASK: 22,
  FLAGS: 23,
  NGROUPS: 24,
  WORDS: 32,
} as const;

/** CredsBlock.FLAGS bits (the SDK: Creds.inWorkloadUserns, inSupervisorUserns, noNewPrivs). */
export const CALLER_IN_WORKLOAD_USERNS = 1;
export const CALLER_IN_SUPERVISOR_USERNS = 2;
export const CALLER_NO_NEW_PRIVS = 4;

/** An id the caller's user namespace has no name for. */
export const UNMAPPED_ID = 0xffffffff;

/** The block fd_info fills, byte offsets (little-endian). */
export const FdInfoBlock = {
  MODE: 0, FLAGS: 4, DEV_MAJOR: 8, DEV_MINOR: 12, INO: 16, RDEV_MAJOR: 24, RDEV_MINOR: 28,
  UID: 32, GID: 36, SIZE: 40, SOCK_FAMILY: 48, SOCK_TYPE: 52, SOCK_PROTOCOL: 56, FS_TYPE: 60,
  PATH_LENGTH: 64, PATH_FLAGS: 68,
} as const;

/** FdInfoBlock.PATH_FLAGS: the path is as the caller sees it from its root; it lies outside that root; not a path at all. */
export const FD_PATH_IN_ROOT = 1, FD_PATH_OUTSIDE_ROOT = 2, FD_PATH_NOT_A_PATH = 4;
