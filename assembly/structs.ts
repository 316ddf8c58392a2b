// Typed readers for the syscall structs policies inspect most: struct open_how (openat2) and struct
// clone_args (clone3). Both are the kernel's "extensible structs": the caller passes the size it was
// compiled with, and the kernel reads them with copy_struct_from_user(), which these readers follow:
//   size < the first version's size, or > one page  ->  -EINVAL / -E2BIG, as the syscall answers;
//   size < the size known here                      ->  the missing fields read as zero;
//   size > the size known here                      ->  the bytes beyond must all be zero, else -E2BIG
//                                                      (a newer caller asked for something unknown).
// Each reader fills one static buffer (no allocation) and the getters read it; -ENOENT means the call
// is gone. Reading memory and then continuing is not a security boundary (docs/writing-policies.md).
import { read_memory } from "./host";

const PAGE_SIZE: u64 = 4096;
const EINVAL: i32 = 22, E2BIG: i32 = 7, EFAULT: i32 = 14;
const TAIL: usize = memory.data(256, 8);

/**
 * copy_struct_from_user() for a policy: reads `size` bytes at `addr` in the caller into `out`, which
 * holds `known` bytes (the zero-filled remainder when `size` is smaller); 0 or -errno. `minimum` is
 * the syscall's first-version size (smaller is -EINVAL, as openat2 and clone3 answer).
 */
export function readExtensibleStruct(addr: u64, size: u64, out: usize, known: i32, minimum: i32): i32 {
  if (size < <u64>minimum) return -EINVAL;
  if (size > PAGE_SIZE) return -E2BIG;
  memory.fill(out, 0, <usize>known);
  const copy = size < <u64>known ? <i32>size : known;
  const n = read_memory(addr, out, copy);
  if (n < 0) return n;
  if (n < copy) return -EFAULT;
  // The caller's struct is newer than ours: whatever it adds must be unused (zero).
  let offset = <u64>known;
  while (offset < size) {
    const chunk = size - offset < 256 ? <i32>(size - offset) : 256;
    const m = read_memory(addr + offset, TAIL, chunk);
    if (m < 0) return m;
    if (m < chunk) return -EFAULT;
    for (let i = 0; i < chunk; i++) if (load<u8>(TAIL + <usize>i) != 0) return -E2BIG;
    offset += <u64>chunk;
  }
  return 0;
}

const HOW: usize = memory.data(24, 8);

/** struct open_how of openat2(dirfd, path, how, size): flags, mode, resolve (u64 each). */
export class OpenHow {
  /** Size of the struct as this SDK knows it, and of its first version (OPEN_HOW_SIZE_VER0). */
  static readonly SIZE: i32 = 24;
  static readonly SIZE_VER0: i32 = 24;
  /** Reads the caller's open_how of `size` bytes at `addr` (openat2's args 2 and 3); 0 or -errno. */
  static read(addr: u64, size: u64): i32 {
    return readExtensibleStruct(addr, size, HOW, OpenHow.SIZE, OpenHow.SIZE_VER0);
  }
  static get flags(): u64 { return load<u64>(HOW); }
  static get mode(): u64 { return load<u64>(HOW + 8); }
  static get resolve(): u64 { return load<u64>(HOW + 16); }
}

const CLONE: usize = memory.data(88, 8);

/** struct clone_args of clone3(args, size), versions 0 (64 bytes), 1 (80: set_tid) and 2 (88: cgroup). */
export class CloneArgs {
  static readonly SIZE: i32 = 88;
  static readonly SIZE_VER0: i32 = 64;
  /** Reads the caller's clone_args of `size` bytes at `addr` (clone3's args 0 and 1); 0 or -errno. */
  static read(addr: u64, size: u64): i32 {
    return readExtensibleStruct(addr, size, CLONE, CloneArgs.SIZE, CloneArgs.SIZE_VER0);
  }
  static get flags(): u64 { return load<u64>(CLONE); }
  static get pidfd(): u64 { return load<u64>(CLONE + 8); }
  static get childTid(): u64 { return load<u64>(CLONE + 16); }
  static get parentTid(): u64 { return load<u64>(CLONE + 24); }
  static get exitSignal(): u64 { return load<u64>(CLONE + 32); }
  static get stack(): u64 { return load<u64>(CLONE + 40); }
  static get stackSize(): u64 { return load<u64>(CLONE + 48); }
  static get tls(): u64 { return load<u64>(CLONE + 56); }
  static get setTid(): u64 { return load<u64>(CLONE + 64); }
  static get setTidSize(): u64 { return load<u64>(CLONE + 72); }
  static get cgroup(): u64 { return load<u64>(CLONE + 80); }
}

/**
 * open(2) flags that have the same value on x86_64, i386 and aarch64. (O_DIRECTORY, O_NOFOLLOW,
 * O_DIRECT and O_LARGEFILE differ on aarch64; compare them per `Notification.arch` if you need them.)
 */
export namespace O {
  export const ACCMODE: u32 = 3;
  export const RDONLY: u32 = 0;
  export const WRONLY: u32 = 1;
  export const RDWR: u32 = 2;
  export const CREAT: u32 = 0o100;
  export const EXCL: u32 = 0o200;
  export const NOCTTY: u32 = 0o400;
  export const TRUNC: u32 = 0o1000;
  export const APPEND: u32 = 0o2000;
  export const NONBLOCK: u32 = 0o4000;
  export const CLOEXEC: u32 = 0o2000000;
  export const PATH: u32 = 0o10000000;
  /** The __O_TMPFILE bit (O_TMPFILE is it plus O_DIRECTORY). */
  export const TMPFILE_BIT: u32 = 0o20000000;
  /** x86_64 and i386 values. */
  export const DIRECTORY_X86: u32 = 0o200000;
  export const NOFOLLOW_X86: u32 = 0o400000;
}

/** openat2 resolve flags (linux/openat2.h). */
export namespace Resolve {
  export const NO_XDEV: u64 = 0x01;
  export const NO_MAGICLINKS: u64 = 0x02;
  export const NO_SYMLINKS: u64 = 0x04;
  export const BENEATH: u64 = 0x08;
  export const IN_ROOT: u64 = 0x10;
  export const CACHED: u64 = 0x20;
}

/** clone flags (linux/sched.h), for Notification.arg(0) of clone and CloneArgs.flags of clone3. */
export namespace Clone {
  export const VM: u64 = 0x00000100;
  export const FS: u64 = 0x00000200;
  export const FILES: u64 = 0x00000400;
  export const SIGHAND: u64 = 0x00000800;
  export const PIDFD: u64 = 0x00001000;
  export const PTRACE: u64 = 0x00002000;
  export const VFORK: u64 = 0x00004000;
  export const PARENT: u64 = 0x00008000;
  export const THREAD: u64 = 0x00010000;
  export const NEWNS: u64 = 0x00020000;
  export const SYSVSEM: u64 = 0x00040000;
  export const SETTLS: u64 = 0x00080000;
  export const NEWCGROUP: u64 = 0x02000000;
  export const NEWUTS: u64 = 0x04000000;
  export const NEWIPC: u64 = 0x08000000;
  export const NEWUSER: u64 = 0x10000000;
  export const NEWPID: u64 = 0x20000000;
  export const NEWNET: u64 = 0x40000000;
  export const IO: u64 = 0x80000000;
  export const NEWTIME: u64 = 0x00000080;
  export const INTO_CGROUP: u64 = 0x200000000;
  /** Every flag that creates a namespace. */
  export const NEW_NAMESPACES: u64 = NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME;
}
