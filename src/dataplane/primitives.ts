// The emulation primitives a policy can name in an EMULATE decision (docs/policy-abi.md, section 4).
// Each is host code with its own checks (src/emulate/): the policy only chose it. A primitive declares
// the portable syscalls it applies to; naming it for any other call fails the call closed. This table
// is where a policy's operands become an emulator's arguments: the emulators never see a policy.
// Every primitive returns as every emulator does (src/emulate/contract.ts): ≥ 0, -errno, or ANSWERED.
import type { PrivilegedHelper } from '../emulate/helper-client.js';
import { AsCallerEmulator, newAsCallerRequest } from '../emulate/as-caller.js';
import { CALL_SHAPES } from '../emulate/as-caller-calls.js';
import { CAP_MKNOD, DEFAULT_MAX_LEND, asCallerOperands } from './as-caller-operands.js';
import { BpfEmulator } from '../emulate/bpf.js';
import { SysinfoEmulator } from '../emulate/sysinfo.js';
import { MountEmulator, type MountOperands } from '../emulate/mount.js';
import { ProcViewEmulator } from '../emulate/proc-view.js';
import { ProcViews } from '../emulate/proc-views.js';
import { WorkloadFigures } from '../caller/workload-figures.js';
import { OPEN_PATH_MAX, OpenEmulator, refusedOperands, type OpenRequest } from '../emulate/open.js';
import { SetxattrEmulator } from '../emulate/setxattr.js';
import { GETXATTR_NAMES_MAX, GetxattrEmulator } from '../emulate/getxattr.js';
import { xattrFormOf } from '../emulate/xattr-start.js';
import { SchedCall, SchedEmulator, type SchedCeiling } from '../emulate/sched.js';
import type { WorkloadInfo } from '../caller/workload.js';
import type { CallerSnapshot } from '../caller/snapshot.js';
import { argLo, PolicyBlock } from '../layouts.js';
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
  /** --max-lend: what AS_CALLER may lend (bits 0..31); DEFAULT_MAX_LEND when absent. */
  maxLend?: number;
}): (PrimitiveImpl | undefined)[] {
  const table: (PrimitiveImpl | undefined)[] = [];
  const pathReadDelay = ctx.faults?.delayAfterPathReadMs ?? 0;
  // One emulator performs every call "as the caller"; MKNOD (for policies older than AS_CALLER) is
  // AS_CALLER of mknod/mknodat lending CAP_MKNOD, whatever --max-lend says (it always could).
  const asCaller = new AsCallerEmulator(ctx.helper, ctx.listenerFd, ctx.warn, pathReadDelay > 0 ? () => sleepMs(pathReadDelay) : null,
    !(ctx.faults?.mknodHelperOnly));
  const maxLend = (ctx.maxLend ?? DEFAULT_MAX_LEND) >>> 0;
  const mknodRequest = newAsCallerRequest();
  mknodRequest.lend = 1 << CAP_MKNOD;
  table[Primitive.MKNOD] = {
    name: 'mknod',
    syscalls: [portableId('mknod'), portableId('mknodat')],
    run: (c) => asCaller.emulate(c.notif, c.words, c.portable, mknodRequest, c.caller),
  };
  const asCallerRequest = newAsCallerRequest();
  const asCallerSyscalls = CALL_SHAPES.map((s) => portableId(s.name)).filter((id) => id !== 0);
  table[Primitive.AS_CALLER] = {
    name: 'as-caller',
    syscalls: asCallerSyscalls,
    run: (c) => {
      const request = asCallerOperands(c.policy, asCaller.shapeOf(c.portable)!, asCallerRequest, maxLend, ctx.warn);
      return typeof request === 'number' ? request : asCaller.emulate(c.notif, c.words, c.portable, request, c.caller);
    },
  };
  const setxattr = new SetxattrEmulator(ctx.helper, ctx.listenerFd, ctx.workloadUsernsInode ?? -1, ctx.warn);
  const SYS_LSETXATTR = portableId('lsetxattr'), SYS_FSETXATTR = portableId('fsetxattr');
  // removexattr of what SETXATTR may set, with the same checks (added within abi 1).
  const SYS_REMOVEXATTR = portableId('removexattr'), SYS_LREMOVEXATTR = portableId('lremovexattr'), SYS_FREMOVEXATTR = portableId('fremovexattr');
  table[Primitive.SETXATTR] = {
    name: 'setxattr',
    syscalls: [portableId('setxattr'), SYS_LSETXATTR, SYS_FSETXATTR, SYS_REMOVEXATTR, SYS_LREMOVEXATTR, SYS_FREMOVEXATTR],
    run: (c) => setxattr.emulate(c.notif, c.words, xattrFormOf(c.portable),
      c.portable === SYS_REMOVEXATTR || c.portable === SYS_LREMOVEXATTR || c.portable === SYS_FREMOVEXATTR),
  };
  const getxattr = new GetxattrEmulator(ctx.helper, ctx.listenerFd, ctx.workloadUsernsInode ?? -1, ctx.warn);
  const SYS_LGETXATTR = portableId('lgetxattr'), SYS_FGETXATTR = portableId('fgetxattr');
  const SYS_LISTXATTR = portableId('listxattr'), SYS_LLISTXATTR = portableId('llistxattr'), SYS_FLISTXATTR = portableId('flistxattr');
  table[Primitive.GETXATTR] = {
    name: 'getxattr',
    syscalls: [portableId('getxattr'), SYS_LGETXATTR, SYS_FGETXATTR, SYS_LISTXATTR, SYS_LLISTXATTR, SYS_FLISTXATTR],
    run: (c) => {
      const names = getxattrNames(c.policy, ctx.warn);
      if (typeof names === 'number') return names;
      const p = c.portable;
      return getxattr.emulate(c.notif, c.words, xattrFormOf(p), p === SYS_LISTXATTR || p === SYS_LLISTXATTR || p === SYS_FLISTXATTR, names);
    },
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
  const mountEmulator = new MountEmulator(ctx.helper, ctx.listenerFd, ctx.workloadUsernsInode ?? -1, ctx.warn,
    pathReadDelay > 0 ? () => sleepMs(pathReadDelay) : null);
  const mountOperands: MountOperands = { fstype: new Uint8Array(0), options: 0, fuse: null };
  const SYS_MOUNT = portableId('mount'), SYS_UMOUNT2 = portableId('umount2');
  table[Primitive.MOUNT] = {
    name: 'mount',
    syscalls: [SYS_MOUNT, SYS_UMOUNT2, portableId('umount')],
    run: (c) => {
      if (c.portable !== SYS_MOUNT) return mountEmulator.umount(c.notif, c.words, c.portable === SYS_UMOUNT2 ? c.words[argLo(1)]! : 0, c.caller);
      const operands = mountOperandsOf(c.policy, mountOperands, ctx.warn);
      return typeof operands === 'number' ? operands : mountEmulator.mount(c.notif, c.words, operands, c.caller);
    },
  };
  const sched = new SchedEmulator(ctx.listenerFd, ctx.workloadUsernsInode ?? -1, ctx.warn);
  const ceiling: SchedCeiling = { allowedPolicies: 0, maxRtPriority: 0, minNice: 0 };
  const SYS_SCHED_SETPARAM = portableId('sched_setparam'), SYS_SCHED_SETATTR = portableId('sched_setattr');
  table[Primitive.SCHED] = {
    name: 'sched',
    syscalls: [portableId('sched_setscheduler'), SYS_SCHED_SETPARAM, SYS_SCHED_SETATTR],
    run: (c) => {
      const op = c.policy.blockWords;
      ceiling.allowedPolicies = op[PolicyBlock.SCHED_POLICIES]! >>> 0;
      ceiling.maxRtPriority = op[PolicyBlock.SCHED_MAX_RT_PRIORITY]! | 0;
      ceiling.minNice = op[PolicyBlock.SCHED_MIN_NICE]! | 0;
      let reserved = 0;
      for (let w = PolicyBlock.SCHED_RESERVED; w < PolicyBlock.WORDS; w++) reserved |= op[w]!;
      const call = c.portable === SYS_SCHED_SETATTR ? SchedCall.SETATTR : c.portable === SYS_SCHED_SETPARAM ? SchedCall.SETPARAM : SchedCall.SETSCHEDULER;
      return sched.emulate(c.notif, c.words, call, ceiling, reserved);
    },
  };
  return table;
}

/** GETXATTR's operand, the managed names, as a view of `policy`'s memory; or -EPERM after saying why. */
export function getxattrNames(policy: LoadedPolicy, warn: (m: string) => void): Uint8Array | number {
  const op = policy.blockWords;
  const memory = policy.instance.memory.buffer;
  const ptr = op[PolicyBlock.GETXATTR_NAMES_PTR]! >>> 0, length = op[PolicyBlock.GETXATTR_NAMES_LEN]! >>> 0;
  const bad = (why: string) => { warn(`policy ${policy.name}: GETXATTR operands refused: ${why}; failing the call closed`); return -1; };
  for (let w = PolicyBlock.GETXATTR_RESERVED; w < PolicyBlock.WORDS; w++) if (op[w] !== 0) return bad('reserved bytes 108..128 are not zero');
  if (length < 1 || length > GETXATTR_NAMES_MAX) return bad(`names length ${length} is not 1..${GETXATTR_NAMES_MAX}`);
  if (ptr + length > memory.byteLength) return bad(`names ${ptr}+${length} are outside the policy's memory`);
  return new Uint8Array(memory, ptr, length);
}

/** MOUNT's operands from `policy`'s notification block, the type a view of its memory; or -EPERM after saying why. */
export function mountOperandsOf(policy: LoadedPolicy, operands: MountOperands, warn: (m: string) => void): MountOperands | number {
  const op = policy.blockWords;
  const memory = policy.instance.memory.buffer;
  const ptr = op[PolicyBlock.MOUNT_FSTYPE_PTR]! >>> 0, length = op[PolicyBlock.MOUNT_FSTYPE_LEN]! >>> 0;
  const bad = (why: string) => { warn(`policy ${policy.name}: MOUNT operands refused: ${why}; failing the call closed`); return -1; };
  const fusePtr = op[PolicyBlock.MOUNT_FUSE_PTR]! >>> 0, fuseLength = op[PolicyBlock.MOUNT_FUSE_LEN]! >>> 0;
  for (let w = PolicyBlock.MOUNT_RESERVED; w < PolicyBlock.WORDS; w++) if (op[w] !== 0) return bad('reserved bytes 120..128 are not zero');
  if (length < 1 || length > 63) return bad(`filesystem type length ${length} is not 1..63`);
  if (ptr + length > memory.byteLength) return bad(`filesystem type ${ptr}+${length} is outside the policy's memory`);
  if (fuseLength > 63) return bad(`FUSE program length ${fuseLength} is not 0..63`);
  if (fusePtr + fuseLength > memory.byteLength) return bad(`FUSE program ${fusePtr}+${fuseLength} is outside the policy's memory`);
  operands.fstype = new Uint8Array(memory, ptr, length);
  operands.options = op[PolicyBlock.MOUNT_OPTIONS]! >>> 0;
  operands.fuse = fuseLength === 0 ? null : new Uint8Array(memory, fusePtr, fuseLength);
  return operands;
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
