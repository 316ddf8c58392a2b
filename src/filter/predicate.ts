// The declared interest predicate evaluated directly on 64-bit values: the definition the BPF filter
// must implement exactly (the tests hold the compiled filter to it) and what the host may use to decide
// which policies to ask about a notification.
import { syscallName, type ArchName } from '../syscalls/tables.js';
import type { ArgCondition, SyscallInterest } from './types.js';

const U64 = (v: bigint): bigint => BigInt.asUintN(64, v);
const ALL_ONES = 0xffff_ffff_ffff_ffffn;

/** Whether one argument condition holds for `args` (unsigned 64-bit comparisons). */
export function conditionHolds(c: ArgCondition, args: readonly bigint[]): boolean {
  const a = U64(args[c.arg] ?? 0n);
  const v = U64(c.value);
  switch (c.op) {
    case 'eq': return a === v;
    case 'ne': return a !== v;
    case 'lt': return a < v;
    case 'le': return a <= v;
    case 'gt': return a > v;
    case 'ge': return a >= v;
    case 'masked_eq': return (a & U64(c.mask ?? ALL_ONES)) === v;
  }
}

/** An OR of AND-groups; absent or empty `when` holds for every call, an empty group is vacuously true. */
export function whenHolds(when: readonly (readonly ArgCondition[])[] | undefined, args: readonly bigint[]): boolean {
  if (!when || when.length === 0) return true;
  return when.some((group) => group.every((c) => conditionHolds(c, args)));
}

/**
 * Whether a call of raw syscall number `nr` on `arch` (x32 numbers with the x32 bit) with arguments
 * `args` matches any of `interests`. Numbers the arch does not define never match.
 */
export function matchesInterest(interests: readonly SyscallInterest[], arch: ArchName, nr: number, args: readonly bigint[]): boolean {
  const name = syscallName(arch, nr);
  if (name === undefined) return false;
  return interests.some((entry) => entry.syscall === name && whenHolds(entry.when, args));
}
