// The `interest` array of a policy's `wasmsup.policy` custom section (docs/policy-abi.md, section 1):
// validated here, at load, so that a bad declaration is one clear line naming the policy and the exact
// JSON path, never a surprise in the filter compiler or at the first notification.
import { portableId } from '../syscalls/tables.js';
import type { ArgCondition, CmpOp, SyscallInterest } from './types.js';

const OPS: readonly CmpOp[] = ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'masked_eq'];
const U64_MAX = 0xffff_ffff_ffff_ffffn;
const MAX_ARG = 5;

class InterestError extends Error {}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(obj: Record<string, unknown>, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      throw new InterestError(`${path}: unknown field "${key}" (expected ${allowed.map((k) => `"${k}"`).join(', ')})`);
    }
  }
}

/**
 * A u64 written as a decimal or 0x-hex string. Strings rather than JSON numbers because JSON numbers
 * lose precision above 2^53; leading zeros are refused because "0644" is almost always meant as octal.
 */
export function parseU64(v: unknown, path: string): bigint {
  if (typeof v !== 'string') {
    throw new InterestError(`${path}: expected a string holding a decimal or 0x-hex u64, got ${kindOf(v)}${typeof v === 'number' ? ` ${v} (write "${v}")` : ''}`);
  }
  let value: bigint;
  if (/^0[xX][0-9a-fA-F]+$/.test(v)) value = BigInt(v);
  else if (/^(0|[1-9][0-9]*)$/.test(v)) value = BigInt(v);
  else if (/^0[0-9]+$/.test(v)) throw new InterestError(`${path}: "${v}" has a leading zero; octal is not accepted, write it in decimal or 0x hex`);
  else throw new InterestError(`${path}: "${v}" is not a decimal or 0x-hex u64`);
  if (value > U64_MAX) throw new InterestError(`${path}: "${v}" does not fit in 64 bits`);
  return value;
}

function parseCondition(raw: unknown, path: string): ArgCondition {
  if (!isObject(raw)) throw new InterestError(`${path}: expected a condition object { arg, op, value }, got ${kindOf(raw)}`);
  checkKeys(raw, ['arg', 'op', 'value', 'mask'], path);
  const { arg, op } = raw;
  if (typeof arg !== 'number' || !Number.isInteger(arg) || arg < 0 || arg > MAX_ARG) {
    throw new InterestError(`${path}.arg: expected an integer 0..${MAX_ARG}, got ${typeof arg === 'number' ? arg : kindOf(arg)}`);
  }
  if (typeof op !== 'string') throw new InterestError(`${path}.op: expected one of ${OPS.join(' ')}, got ${kindOf(op)}`);
  if (!(OPS as readonly string[]).includes(op)) throw new InterestError(`${path}.op: unknown operator "${op}" (expected one of ${OPS.join(' ')})`);
  if (!('value' in raw)) throw new InterestError(`${path}.value: missing`);
  const value = parseU64(raw.value, `${path}.value`);
  const condition: ArgCondition = { arg, op: op as CmpOp, value };
  if (op === 'masked_eq') {
    if (!('mask' in raw)) throw new InterestError(`${path}.mask: missing (masked_eq compares (arg & mask) with value)`);
    condition.mask = parseU64(raw.mask, `${path}.mask`);
  } else if ('mask' in raw) {
    throw new InterestError(`${path}.mask: only allowed with op "masked_eq", not "${op}"`);
  }
  return condition;
}

function parseEntry(raw: unknown, path: string): SyscallInterest {
  if (!isObject(raw)) throw new InterestError(`${path}: expected an object { syscall, when? }, got ${kindOf(raw)}`);
  checkKeys(raw, ['syscall', 'when'], path);
  const { syscall, when } = raw;
  if (typeof syscall !== 'string') throw new InterestError(`${path}.syscall: expected a syscall name, got ${kindOf(syscall)}`);
  if (portableId(syscall) === 0) throw new InterestError(`${path}.syscall: unknown syscall "${syscall}" (not in src/syscalls/portable-ids.txt)`);
  if (when === undefined) return { syscall };
  if (!Array.isArray(when)) throw new InterestError(`${path}.when: expected an array of condition groups (OR of ANDs), got ${kindOf(when)}`);
  const groups = when.map((group: unknown, g) => {
    const groupPath = `${path}.when[${g}]`;
    if (!Array.isArray(group)) throw new InterestError(`${groupPath}: expected an array of conditions (all must hold), got ${kindOf(group)}`);
    if (group.length === 0) throw new InterestError(`${groupPath}: empty condition group (omit "when" to see every call)`);
    return group.map((c: unknown, i) => parseCondition(c, `${groupPath}[${i}]`));
  });
  return groups.length === 0 ? { syscall } : { syscall, when: groups };
}

/**
 * Validates the `interest` array of a policy's custom section. `where` names the policy (usually its
 * file) and starts the one-line error message, e.g.
 * `mknod.wasm: interest[0].when[1][0].op: unknown operator "eqq" (expected one of ...)`.
 */
export function parseInterest(json: unknown, where: string): SyscallInterest[] {
  try {
    if (!Array.isArray(json)) throw new InterestError(`interest: expected an array of { syscall, when? }, got ${kindOf(json)}`);
    return json.map((entry: unknown, i) => parseEntry(entry, `interest[${i}]`));
  } catch (e) {
    if (e instanceof InterestError) throw new Error(`${where}: ${e.message}`);
    throw e;
  }
}

/**
 * The union of several policies' interests, one entry per syscall in order of first appearance: the
 * OR of every group declared for it, or unconditional when any declaration is unconditional.
 */
export function mergeInterests(lists: readonly (readonly SyscallInterest[])[]): SyscallInterest[] {
  const merged = new Map<string, ArgCondition[][] | 'always'>();
  for (const list of lists) {
    for (const entry of list) {
      const previous = merged.get(entry.syscall);
      if (previous === 'always') continue;
      if (!entry.when || entry.when.length === 0) {
        merged.set(entry.syscall, 'always');
        continue;
      }
      const groups = entry.when.map((group) => group.map((c) => ({ ...c })));
      merged.set(entry.syscall, previous ? previous.concat(groups) : groups);
    }
  }
  return [...merged].map(([syscall, when]) => (when === 'always' ? { syscall } : { syscall, when }));
}

function sameGroup(a: readonly ArgCondition[], b: readonly ArgCondition[]): boolean {
  return a.length === b.length && a.every((c, i) => c.arg === b[i]!.arg && c.op === b[i]!.op && c.value === b[i]!.value && c.mask === b[i]!.mask);
}

/**
 * The syscalls of `wanted` that a filter compiled from `installed` may not route (a running
 * workload's filter cannot be widened). Conservative: a condition group is taken as covered only
 * when the filter routes the syscall unconditionally or has the very same group.
 */
export function interestNotCovered(installed: readonly SyscallInterest[], wanted: readonly SyscallInterest[]): string[] {
  const routed = new Map(mergeInterests([installed]).map((e) => [e.syscall, e.when ?? []]));
  const missing: string[] = [];
  for (const entry of mergeInterests([wanted])) {
    const groups = routed.get(entry.syscall);
    if (groups === undefined) { missing.push(entry.syscall); continue; }
    if (groups.length === 0) continue;
    const wantedGroups = entry.when ?? [];
    if (wantedGroups.length === 0 || !wantedGroups.every((g) => groups.some((h) => sameGroup(g, h)))) {
      missing.push(`${entry.syscall} (beyond the conditions the filter routes)`);
    }
  }
  return missing;
}
