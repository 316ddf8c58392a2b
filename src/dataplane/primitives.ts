// The emulation primitives a policy can name in an EMULATE decision (docs/policy-abi.md, section 4).
// Each is host code with its own checks (src/emulate/): the policy only chose it. A primitive declares
// the portable syscalls it applies to; naming it for any other call fails the call closed. This table
// is where a policy's operands become an emulator's arguments: the emulators never see a policy.
// Every primitive returns as every emulator does (src/emulate/contract.ts): ≥ 0, -errno, or ANSWERED.
import type { PrivilegedHelper } from '../emulate/helper-client.js';
import { MknodEmulator } from '../emulate/mknod.js';
import { BpfEmulator } from '../emulate/bpf.js';
import { SysinfoEmulator } from '../emulate/sysinfo.js';
import { ProcViewEmulator } from '../emulate/proc-view.js';
import { ProcViews } from '../emulate/proc-views.js';
import { WorkloadFigures } from '../caller/workload-figures.js';
import { OPEN_PATH_MAX, OpenEmulator, refusedOperands, type OpenRequest } from '../emulate/open.js';
import { SetxattrCall, SetxattrEmulator } from '../emulate/setxattr.js';
import type { WorkloadInfo } from '../caller/workload.js';
import type { CallerSnapshot } from '../caller/snapshot.js';
import { PolicyBlock } from '../layouts.js';
import { portableId } from '../syscalls/tables.js';
import { Primitive } from './protocol.js';
import type { LoadedPolicy } from './policy-set.js';
import { sleepMs, type TestFaults } from './test-faults.js';

/** Everything a primitive may use to act on one notification. One object, reused. */
export interface EmulationContext {
  /** struct seccomp_notif (+ portable id at 80), and the same as Uint32Array. */
  notif: Uint8Array;
  words: Uint32Array;
  portable: number;
  /** The policy that decided; its notification block may carry the primitive's operands. */
  policy: LoadedPolicy;
  /** What the policy's host functions learned about this notification's caller. */
  caller: CallerSnapshot;
}

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
}): (PrimitiveImpl | undefined)[] {
  const table: (PrimitiveImpl | undefined)[] = [];
  const pathReadDelay = ctx.faults?.delayAfterPathReadMs ?? 0;
  const mknod = new MknodEmulator(ctx.helper, ctx.listenerFd, ctx.warn, pathReadDelay > 0 ? () => sleepMs(pathReadDelay) : null,
    !(ctx.faults?.mknodHelperOnly));
  const SYS_MKNODAT = portableId('mknodat');
  table[Primitive.MKNOD] = {
    name: 'mknod',
    syscalls: [portableId('mknod'), SYS_MKNODAT],
    run: (c) => mknod.emulate(c.notif, c.words, c.portable === SYS_MKNODAT, c.caller),
  };
  const setxattr = new SetxattrEmulator(ctx.helper, ctx.listenerFd, ctx.workloadUsernsInode ?? -1, ctx.warn);
  const SYS_LSETXATTR = portableId('lsetxattr'), SYS_FSETXATTR = portableId('fsetxattr');
  table[Primitive.SETXATTR] = {
    name: 'setxattr',
    syscalls: [portableId('setxattr'), SYS_LSETXATTR, SYS_FSETXATTR],
    run: (c) => setxattr.emulate(c.notif, c.words,
      c.portable === SYS_FSETXATTR ? SetxattrCall.FD : c.portable === SYS_LSETXATTR ? SetxattrCall.LINK : SetxattrCall.PATH),
  };
  const open = new OpenEmulator(ctx.listenerFd, ctx.warn);
  const openRequest: OpenRequest = { path: new Uint8Array(0), flags: 0, resolve: 0, policyName: '' };
  table[Primitive.OPEN] = {
    name: 'open',
    syscalls: [portableId('open'), portableId('openat'), portableId('openat2')],
    run: (c) => {
      const request = openOperands(c.policy, openRequest, ctx.warn);
      return typeof request === 'number' ? request : open.emulate(c.notif, c.words, request);
    },
    dispose: () => open.dispose(),
  };
  const bpf = new BpfEmulator(ctx.listenerFd, ctx.workload ?? null, ctx.warn);
  table[Primitive.BPF] = {
    name: 'bpf',
    syscalls: [portableId('bpf')],
    run: (c) => bpf.emulate(c.notif, c.words),
    dispose: () => bpf.dispose(),
  };
  // One computation of the workload's machine for both doors (sysinfo and the /proc views), so they agree.
  const figures = ctx.workload ? new WorkloadFigures(ctx.workload) : null;
  const sysinfo = new SysinfoEmulator(ctx.listenerFd, figures, ctx.warn);
  table[Primitive.SYSINFO] = {
    name: 'sysinfo',
    syscalls: [portableId('sysinfo')],
    run: (c) => sysinfo.emulate(c.notif, c.words, c.policy.blockWords[PolicyBlock.SYSINFO_FROM_HOST]!),
    dispose: () => figures?.dispose(),
  };
  const views = figures ? new ProcViews(figures) : null;
  const procView = new ProcViewEmulator(ctx.listenerFd, views, ctx.warn);
  table[Primitive.PROC_VIEW] = {
    name: 'proc-view',
    syscalls: [portableId('open'), portableId('openat'), portableId('openat2')],
    run: (c) => {
      const op = c.policy.blockWords;
      for (let w = PolicyBlock.PROC_VIEW_RESERVED; w < PolicyBlock.WORDS; w++) {
        if (op[w] !== 0) {
          ctx.warn(`policy ${c.policy.name}: PROC_VIEW operands refused: reserved bytes 108..128 are not zero; failing the call closed`);
          return -1; // EPERM
        }
      }
      return procView.emulate(c.notif, c.words, op[PolicyBlock.PROC_VIEW_ID]! >>> 0, op[PolicyBlock.PROC_VIEW_FLAGS]! >>> 0);
    },
    dispose: () => { procView.dispose(); views?.dispose(); },
  };
  return table;
}

/**
 * OPEN's operands from `policy`'s notification block into `request`, the path a view of the policy's
 * memory; or, when they do not describe a path in that memory, -EPERM after saying why.
 */
export function openOperands(policy: LoadedPolicy, request: OpenRequest, warn: (m: string) => void): OpenRequest | number {
  const op = policy.blockWords;
  const memory = policy.instance.memory.buffer;
  const pathPtr = op[PolicyBlock.OPEN_PATH_PTR]! >>> 0, pathLength = op[PolicyBlock.OPEN_PATH_LEN]! >>> 0;
  const bad = (why: string) => refusedOperands(warn, policy.name, why);
  for (let w = PolicyBlock.OPEN_RESERVED; w < PolicyBlock.WORDS; w++) if (op[w] !== 0) return bad('reserved bytes 116..128 are not zero');
  if (pathLength < 1 || pathLength > OPEN_PATH_MAX) return bad(`path length ${pathLength} is not 1..${OPEN_PATH_MAX}`);
  if (pathPtr + pathLength > memory.byteLength) return bad(`path ${pathPtr}+${pathLength} is outside the policy's memory`);
  request.path = new Uint8Array(memory, pathPtr, pathLength);
  request.flags = op[PolicyBlock.OPEN_FLAGS]! >>> 0;
  request.resolve = op[PolicyBlock.OPEN_RESOLVE]! >>> 0;
  request.policyName = policy.name;
  return request;
}
