// The shapes shared by the interest parser, the predicate, the filter compiler and the dataplane.
import type { ArchName } from '../syscalls/tables.js';

/** Unsigned 64-bit comparisons of a syscall argument; `masked_eq` is `(arg & mask) == value`. */
export type CmpOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'masked_eq';

export interface ArgCondition {
  /** Argument index, 0..5. */
  arg: number;
  op: CmpOp;
  /** u64. */
  value: bigint;
  /** u64, `masked_eq` only. */
  mask?: bigint;
}

/** A syscall a policy wants to see: `when` is an OR of AND-groups; absent or [] = every call. */
export interface SyscallInterest {
  syscall: string;
  when?: ArgCondition[][];
}

export interface CompileOptions {
  /** The arch the supervisor runs on: decides which `seccomp_data.arch` values the filter accepts. */
  hostArch: 'x86_64' | 'aarch64';
  /**
   * What the filter returns for a call of interest. Default SECCOMP_RET_USER_NOTIF; tests substitute
   * SECCOMP_RET_ERRNO | errno to observe routing without a supervisor.
   */
  action?: number;
}

export interface CompiledFilter {
  /** `length` × 8-byte `struct sock_filter` (u16 code, u8 jt, u8 jf, u32 k), little-endian. */
  program: Buffer;
  length: number;
  /** Raw syscall numbers (x32 ones with the x32 bit) that can reach the supervisor, per arch, ascending. */
  routed: Record<ArchName, number[]>;
  /** Things that compiled but are probably not what the policy author meant. */
  warnings: string[];
  /** Per instruction, why it is there (for `disassemble(program, notes)`); undefined = no note. */
  notes: (string | undefined)[];
}
