// The emulation primitives a policy can name in an EMULATE decision (docs/policy-abi.md, section 4).
// Each is host code with its own checks: the policy only chose it. A primitive declares the portable
// syscalls it applies to; naming it for any other call fails the call closed.
import type { PrivilegedHelper } from '../emulate/helper-client.js';
import { MknodEmulator } from '../emulate/mknod.js';
import { BpfEmulator } from '../emulate/bpf.js';
import { SysinfoEmulator } from '../emulate/sysinfo.js';
import type { WorkloadInfo } from '../emulate/workload.js';
import { OpenEmulator } from '../emulate/open.js';
import { SetxattrCall, SetxattrEmulator } from '../emulate/setxattr.js';
import { portableId } from '../syscalls/tables.js';
import { Primitive } from './protocol.js';
import type { LoadedPolicy } from './policy-set.js';
import { sleepMs, type TestFaults } from './test-faults.js';

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
  /** Releases what the primitive keeps across calls (fds), when the worker ends. */
  dispose?(): void;
}

/** Builds the primitives available in one data-plane worker, indexed by primitive id. */
export function createPrimitives(ctx: {
  helper: PrivilegedHelper | null; listenerFd: number; warn: (m: string) => void; faults?: TestFaults | null;
  /** Inode of the workload's user namespace: SETXATTR serves only callers in it. */
  workloadUsernsInode?: number;
  /** The workload as recorded at start (BPF and SYSINFO need its cgroups, first process, start time). */
  workload?: WorkloadInfo | null;
  /** The caller's readCreds words if the policy already read them for this notification (by its words), else null. */
  confirmedCreds?: (words: Uint32Array) => Uint32Array | null;
}): (PrimitiveImpl | undefined)[] {
  const table: (PrimitiveImpl | undefined)[] = [];
  const pathReadDelay = ctx.faults?.delayAfterPathReadMs ?? 0;
  const mknod = new MknodEmulator(ctx.helper, ctx.listenerFd, ctx.warn, pathReadDelay > 0 ? () => sleepMs(pathReadDelay) : null, ctx.confirmedCreds ?? null,
    !(ctx.faults?.mknodHelperOnly));
  const SYS_MKNODAT = portableId('mknodat');
  table[Primitive.MKNOD] = {
    name: 'mknod',
    syscalls: [portableId('mknod'), SYS_MKNODAT],
    run: (c) => -mknod.emulate(c.notif, c.words, c.portable === SYS_MKNODAT),
  };
  const setxattr = new SetxattrEmulator(ctx.helper, ctx.listenerFd, ctx.workloadUsernsInode ?? -1, ctx.warn);
  const SYS_LSETXATTR = portableId('lsetxattr'), SYS_FSETXATTR = portableId('fsetxattr');
  table[Primitive.SETXATTR] = {
    name: 'setxattr',
    syscalls: [portableId('setxattr'), SYS_LSETXATTR, SYS_FSETXATTR],
    run: (c) => setxattr.emulate(c.notif, c.words,
      c.portable === SYS_FSETXATTR ? SetxattrCall.FD : c.portable === SYS_LSETXATTR ? SetxattrCall.LINK : SetxattrCall.PATH, ANSWERED),
  };
  const open = new OpenEmulator(ctx.listenerFd, ctx.warn, ANSWERED);
  table[Primitive.OPEN] = {
    name: 'open',
    syscalls: [portableId('open'), portableId('openat'), portableId('openat2')],
    run: (c) => open.emulate(c.notif, c.words, c.policy),
    dispose: () => open.dispose(),
  };
  const bpf = new BpfEmulator(ctx.listenerFd, ctx.workload ?? null, ctx.warn);
  table[Primitive.BPF] = {
    name: 'bpf',
    syscalls: [portableId('bpf')],
    run: (c) => bpf.emulate(c.notif, c.words, ANSWERED),
    dispose: () => bpf.dispose(),
  };
  const sysinfo = new SysinfoEmulator(ctx.listenerFd, ctx.workload ?? null, ctx.warn);
  table[Primitive.SYSINFO] = {
    name: 'sysinfo',
    syscalls: [portableId('sysinfo')],
    // Operand word 25 (byte 100 of the block): the figures the policy takes from the host.
    run: (c) => -sysinfo.emulate(c.notif, c.words, c.policy.blockWords[25]!),
  };
  return table;
}
