// AS_CALLER's operands (docs/policy-abi.md §4): where a policy's request becomes the emulator's
// AsCallerRequest, every operand checked, and the operator's --max-lend cap on what a policy may lend.
// A bad operand is a bug in the policy: the call fails closed (EPERM) with one log line, like OPEN's.
//
// Notification block, bytes 100..128:
//   100 u32 lend (low word: capabilities 0..31)   104 u32 lend (high word: must be 0)
//   108 u32 replace: bit 0 path, bit 1 path2, bit 8+i argument i (0..5)
//   112 u32 address of the replacement block in the policy's memory (0 when replace is 0)
//   116..128 reserved, 0
// Replacement block (64 bytes, little-endian): u32 path ptr, u32 path length, u32 path2 ptr,
//   u32 path2 length, then u64 args[6] at 16.
import { PolicyBlock } from '../layouts.js';
import type { AsCallerRequest } from '../emulate/as-caller.js';
import { replaceableArgs, type CallShape } from '../emulate/as-caller-calls.js';
import type { LoadedPolicy } from './policy-set.js';

export const REPLACE_PATH = 1, REPLACE_PATH2 = 2, REPLACE_ARG0 = 1 << 8;
export const REPLACEMENT_BLOCK_BYTES = 64;
const PATH_MAX_LENGTH = 4095;
const EPERM = 1;

/** capabilities(7) names, lower case without CAP_, by number. */
export const CAPABILITY_NAMES = [
  'chown', 'dac_override', 'dac_read_search', 'fowner', 'fsetid', 'kill', 'setgid', 'setuid', 'setpcap',
  'linux_immutable', 'net_bind_service', 'net_broadcast', 'net_admin', 'net_raw', 'ipc_lock', 'ipc_owner',
  'sys_module', 'sys_rawio', 'sys_chroot', 'sys_ptrace', 'sys_pacct', 'sys_admin', 'sys_boot', 'sys_nice',
  'sys_resource', 'sys_time', 'sys_tty_config', 'mknod', 'lease', 'audit_write', 'audit_control', 'setfcap',
] as const;

export const CAP_MKNOD = 27;
/** --max-lend's default: what the shipped policies lend (mknod's CAP_MKNOD), and nothing else. */
export const DEFAULT_MAX_LEND = 1 << CAP_MKNOD;

/** Names of the capabilities in `mask`, for log lines. */
export function capabilityNames(mask: number): string {
  const names: string[] = [];
  for (let i = 0; i < 32; i++) if ((mask >>> i) & 1) names.push(CAPABILITY_NAMES[i]!);
  return names.join(',') || 'none';
}

/** --max-lend CAP[,CAP...] ("none" for nothing; "cap_" prefixes and case are ignored): the mask, or a one-line error. */
export function parseMaxLend(text: string): number {
  let mask = 0;
  for (const raw of text.split(',')) {
    const name = raw.trim().toLowerCase().replace(/^cap_/, '');
    if (name === '' ) continue;
    if (name === 'none') continue;
    const bit = CAPABILITY_NAMES.indexOf(name as (typeof CAPABILITY_NAMES)[number]);
    if (bit < 0) throw new Error(`"${raw.trim()}" is not a capability a policy can lend (one of ${CAPABILITY_NAMES.join(', ')}, or none)`);
    mask = (mask | (1 << bit)) >>> 0;
  }
  return mask;
}

/**
 * AS_CALLER's operands of `policy` for a call of `shape` into `request` (paths as views of the
 * policy's memory); or, when they are not acceptable, -EPERM after one log line.
 */
export function asCallerOperands(policy: LoadedPolicy, shape: CallShape, request: AsCallerRequest, maxLend: number,
                                 warn: (m: string) => void): AsCallerRequest | number {
  const op = policy.blockWords;
  const bad = (why: string) => {
    warn(`policy ${policy.name}: AS_CALLER operands for ${shape.name} refused: ${why}; failing the call closed`);
    return -EPERM;
  };
  const lend = op[PolicyBlock.AS_CALLER_LEND_LO]! >>> 0, lendHi = op[PolicyBlock.AS_CALLER_LEND_HI]! >>> 0;
  const replace = op[PolicyBlock.AS_CALLER_REPLACE]! >>> 0, at = op[PolicyBlock.AS_CALLER_BLOCK]! >>> 0;
  for (let w = PolicyBlock.AS_CALLER_RESERVED; w < PolicyBlock.WORDS; w++) if (op[w] !== 0) return bad('reserved bytes 116..128 are not zero');
  if (lendHi !== 0) return bad(`capabilities 32..63 cannot be lent (high word ${lendHi.toString(16)})`);
  if ((lend & ~maxLend) >>> 0 !== 0) {
    return bad(`it lends ${capabilityNames((lend & ~maxLend) >>> 0)} beyond --max-lend (${capabilityNames(maxLend)})`);
  }
  request.lend = lend;
  request.path = null;
  request.path2 = null;
  request.argMask = 0;
  if (replace === 0) {
    if (at !== 0) return bad('a replacement block without anything replaced');
    return request;
  }
  if ((replace & ~(REPLACE_PATH | REPLACE_PATH2 | (0x3f * REPLACE_ARG0))) !== 0) return bad(`unknown replace bits ${replace.toString(16)}`);
  const memory = policy.instance.memory.buffer;
  if (at === 0 || at % 8 !== 0 || at + REPLACEMENT_BLOCK_BYTES > memory.byteLength) {
    return bad(`replacement block ${at} is not an 8-aligned block inside the policy's memory`);
  }
  const block = new DataView(memory, at, REPLACEMENT_BLOCK_BYTES);
  const pathOf = (which: string, ptrAt: number): Uint8Array | string => {
    const ptr = block.getUint32(ptrAt, true), length = block.getUint32(ptrAt + 4, true);
    if (length < 1 || length > PATH_MAX_LENGTH) return `${which} length ${length} is not 1..${PATH_MAX_LENGTH}`;
    if (ptr + length > memory.byteLength) return `${which} ${ptr}+${length} is outside the policy's memory`;
    const bytes = new Uint8Array(memory, ptr, length);
    if (bytes.includes(0)) return `${which} holds a NUL byte`;
    return bytes;
  };
  if (replace & REPLACE_PATH) {
    if (shape.path < 0) return bad(`${shape.name} has no path to replace`);
    const p = pathOf('path', 0);
    if (typeof p === 'string') return bad(p);
    request.path = p;
  }
  if (replace & REPLACE_PATH2) {
    if (shape.path2 < 0) return bad(`${shape.name} has no second path to replace`);
    const p = pathOf('path2', 8);
    if (typeof p === 'string') return bad(p);
    request.path2 = p;
  }
  const replaceable = replaceableArgs(shape);
  for (let i = 0; i < 6; i++) {
    if (((replace >>> (8 + i)) & 1) === 0) continue;
    if (!replaceable.includes(i)) return bad(`argument ${i} of ${shape.name} is not a mode, dev, id or flags word (a pointer or fd is never replaced)`);
    const lo = block.getUint32(16 + 8 * i, true), hi = block.getUint32(20 + 8 * i, true);
    if (hi !== 0) return bad(`argument ${i}: ${hi.toString(16)}${lo.toString(16).padStart(8, '0')} does not fit the 32-bit argument`);
    request.args[2 * i] = lo;
    request.args[2 * i + 1] = 0;
    request.argMask |= 1 << i;
  }
  return request;
}
