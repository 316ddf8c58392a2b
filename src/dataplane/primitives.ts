// The emulation primitives a policy can name in an EMULATE decision (docs/policy-abi.md, section 4).
// Each is host code with its own checks: the policy only chose it. A primitive declares the portable
// syscalls it applies to; naming it for any other call fails the call closed.
import type { PrivilegedHelper } from '../emulate/helper-client.js';
import { MknodEmulator } from '../emulate/mknod.js';
import { portableId } from '../syscalls/tables.js';
import { Primitive } from './protocol.js';
import type { LoadedPolicy } from './policy-set.js';

/** Everything a primitive may use to act on one notification. One object, reused. */
export interface EmulationContext {
  listenerFd: number;
  /** struct seccomp_notif (+ portable id at 80), and the same as Uint32Array. */
  notif: Uint8Array;
  words: Uint32Array;
  portable: number;
  /** The policy that decided; its notification block may carry the primitive's operands. */
  policy: LoadedPolicy;
  helper: PrivilegedHelper | null;
  warn(message: string): void;
}

/** Returned by a primitive that has answered the notification itself (e.g. ADDFD with SEND). */
export const ANSWERED = -0x7fffffff;

export interface PrimitiveImpl {
  readonly name: string;
  /** Portable syscall ids it applies to. */
  readonly syscalls: readonly number[];
  /** Performs the call: ≥ 0 is the call's return value, < 0 is -errno, ANSWERED means already answered. */
  run(ctx: EmulationContext): number;
}

/** Builds the primitives available in one data-plane worker, indexed by primitive id. */
export function createPrimitives(ctx: { helper: PrivilegedHelper | null; listenerFd: number; warn: (m: string) => void }): (PrimitiveImpl | undefined)[] {
  const table: (PrimitiveImpl | undefined)[] = [];
  const mknod = new MknodEmulator(ctx.helper, ctx.listenerFd, ctx.warn);
  const SYS_MKNODAT = portableId('mknodat');
  table[Primitive.MKNOD] = {
    name: 'mknod',
    syscalls: [portableId('mknod'), SYS_MKNODAT],
    run: (c) => -mknod.emulate(c.notif, c.words, c.portable === SYS_MKNODAT),
  };
  return table;
}
