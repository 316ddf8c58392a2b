// Which argument of a syscall is a buffer the kernel writes its answer into, and how many bytes of it
// the caller declared: the bound of every write_out (docs/policy-abi.md, section 3). A policy that
// answers such a call with RETURN may fill the buffer, never beyond what the kernel itself could write
// there for this caller: a fixed struct size per arch, or the size the caller passed in another
// argument. Anything not in this table is not an out-buffer, and write_out refuses it.
import { Notif, argLo } from '../layouts.js';
import { AUDIT_ARCH_I386, portableId } from '../syscalls/tables.js';

/** How big an out-buffer is: a fixed size (per arch), or the value of another argument. */
interface OutBuffer {
  /** The pointer argument (0..5). */
  readonly arg: number;
  /** Fixed size for 64-bit callers (x86_64, x32, aarch64), or -1 when `sizeArg` gives it. */
  readonly size: number;
  /** Fixed size for i386 callers (compat structs); -1 when `sizeArg` gives it. */
  readonly compatSize: number;
  /** The argument holding the size in bytes, or -1. */
  readonly sizeArg: number;
  /** That argument is a C `int` (readlink's bufsiz): its low 32 bits, signed; ≤ 0 declares nothing. */
  readonly intSize: boolean;
}

const fixed = (arg: number, size: number, compatSize = size): OutBuffer => ({ arg, size, compatSize, sizeArg: -1, intSize: false });
const sized = (arg: number, sizeArg: number, intSize = false): OutBuffer => ({ arg, size: -1, compatSize: -1, sizeArg, intSize });

// struct new_utsname: 6 fields of 65 bytes, the same everywhere. struct sysinfo: 112 bytes for 64-bit
// callers (x32 too: its longs are __kernel_long_t), struct compat_sysinfo: 64 for i386. struct statx: 256.
// The sizes given by an argument are the kernel's own bound for that buffer (getxattr's size,
// getcwd's size, readlink's bufsiz, getrandom's count).
const TABLE: ReadonlyArray<readonly [string, OutBuffer]> = [
  ['uname', fixed(0, 390)],
  ['sysinfo', fixed(0, 112, 64)],
  ['statx', fixed(4, 256)],
  ['getxattr', sized(2, 3)],
  ['lgetxattr', sized(2, 3)],
  ['fgetxattr', sized(2, 3)],
  ['listxattr', sized(1, 2)],
  ['llistxattr', sized(1, 2)],
  ['flistxattr', sized(1, 2)],
  ['getcwd', sized(0, 1)],
  ['readlink', sized(1, 2, true)],
  ['readlinkat', sized(2, 3, true)],
  ['getrandom', sized(0, 1)],
];

/** Not an out-buffer of this call. */
export const NOT_OUT_BUFFER = -1;

/** The out-buffers by portable id; built once per thread. */
export class OutBufferTable {
  private readonly byPortable = new Map<number, OutBuffer>();

  constructor() {
    for (const [name, buffer] of TABLE) this.byPortable.set(portableId(name), buffer);
  }

  /** The portable syscall names with an out-buffer (docs, tests). */
  static names(): string[] {
    return TABLE.map(([name]) => name);
  }

  /**
   * The declared size in bytes of argument `arg` of the notification in `words` (struct seccomp_notif
   * words, portable id `portable`), or NOT_OUT_BUFFER. A size argument above 2^32 counts as 2^32: a
   * write is bounded far below that by the staging area anyway.
   */
  declaredSize(portable: number, words: Uint32Array, arg: number): number {
    const b = this.byPortable.get(portable);
    if (b === undefined || b.arg !== arg) return NOT_OUT_BUFFER;
    if (b.sizeArg < 0) return words[Notif.ARCH] === AUDIT_ARCH_I386 ? b.compatSize : b.size;
    const lo = words[argLo(b.sizeArg)]!, hi = words[argLo(b.sizeArg) + 1]!;
    if (b.intSize) return Math.max(0, lo | 0);
    return hi !== 0 ? 2 ** 32 : lo >>> 0;
  }
}
