// `wasmsup oci-config`: the `linux.seccomp` section an OCI runtime needs to hand a container's calls to
// the agent — SCMP_ACT_NOTIFY rules for the union of the policies' interest, with their argument
// conditions in OCI form, and listenerPath — either on its own or merged into an existing profile or
// config.json.
import { readFileSync } from 'node:fs';
import { mergeInterests } from '../filter/interest.js';
import { currentHostArch } from '../filter/compile.js';
import type { ArgCondition, CmpOp, SyscallInterest } from '../filter/types.js';
import { UsageError } from '../errors.js';
import { PolicyDirectory } from '../policy/directory.js';

/** Printed by the CLI as one line, exit status 2. */
export class OciConfigError extends UsageError {}

export interface OciArg { index: number; value: bigint; valueTwo?: bigint; op: string }
export interface OciRule { names: string[]; action: string; args?: OciArg[]; [other: string]: unknown }
export interface OciSeccomp {
  defaultAction: string;
  architectures?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: OciRule[];
  [other: string]: unknown;
}

const NOTIFY = 'SCMP_ACT_NOTIFY';
const ALLOW = 'SCMP_ACT_ALLOW';
const OPS: Record<Exclude<CmpOp, 'masked_eq'>, string> = {
  eq: 'SCMP_CMP_EQ', ne: 'SCMP_CMP_NE', lt: 'SCMP_CMP_LT', le: 'SCMP_CMP_LE', gt: 'SCMP_CMP_GT', ge: 'SCMP_CMP_GE',
};

/** libseccomp's names for the ABIs our filter compiler covers on each host (docs/filter.md, "Arches"). */
export const HOST_ARCHITECTURES: Record<'x86_64' | 'aarch64', string[]> = {
  x86_64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  aarch64: ['SCMP_ARCH_AARCH64'],
};

function ociArg(c: ArgCondition): OciArg {
  // libseccomp's masked comparison takes the mask first: SCMP_CMP_MASKED_EQ(mask, datum).
  if (c.op === 'masked_eq') return { index: c.arg, value: c.mask!, valueTwo: c.value, op: 'SCMP_CMP_MASKED_EQ' };
  return { index: c.arg, value: c.value, op: OPS[c.op] };
}

/**
 * One SCMP_ACT_NOTIFY rule per AND-group (OCI ANDs the args of a rule and ORs rules of the same name).
 * libseccomp refuses two comparisons of the same argument in one rule, so a group that has them keeps
 * only the first: the rule then matches more calls than the policy declared, which is safe, because
 * the agent asks each policy only about calls matching its own predicate and lets the others continue.
 */
export function notifyRules(interests: SyscallInterest[], warn: (message: string) => void): OciRule[] {
  const rules: OciRule[] = [];
  const seen = new Set<string>();
  for (const entry of mergeInterests([interests])) {
    if (!entry.when || entry.when.length === 0) {
      rules.push({ names: [entry.syscall], action: NOTIFY });
      continue;
    }
    for (const group of entry.when) {
      const args: OciArg[] = [];
      for (const c of group) {
        if (args.some((a) => a.index === c.arg)) {
          warn(`${entry.syscall}: a condition group compares argument ${c.arg} twice, which libseccomp cannot express; the rule keeps the first comparison and routes a few more calls`);
          continue;
        }
        args.push(ociArg(c));
      }
      const key = JSON.stringify(args, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
      if (seen.has(entry.syscall + key)) continue;
      seen.add(entry.syscall + key);
      rules.push({ names: [entry.syscall], action: NOTIFY, args });
    }
  }
  return rules;
}

/** A fresh profile: everything allowed, the policies' calls notified. */
export function freshProfile(rules: OciRule[], socketPath: string, hostArch: 'x86_64' | 'aarch64'): OciSeccomp {
  return { defaultAction: ALLOW, architectures: HOST_ARCHITECTURES[hostArch], listenerPath: socketPath, syscalls: rules };
}

/**
 * Merges the rules into an existing profile without changing what it allows or denies for any other
 * call. A syscall the profile allows unconditionally by a rule (while its default is not ALLOW) is
 * notified unconditionally: the calls outside the policies' conditions must stay allowed, and they are,
 * since the agent answers them "continue". A syscall the profile denies becomes reachable by the
 * policies for the calls matching their conditions (a warning says so). A rule that already gives one
 * of these syscalls another treatment (errno, conditions, trace…) is refused: no merge could keep it.
 * Earlier SCMP_ACT_NOTIFY rules for these syscalls are replaced, so merging twice changes nothing.
 */
export function mergeIntoProfile(profile: OciSeccomp, rules: OciRule[], socketPath: string, warn: (message: string) => void): OciSeccomp {
  if (typeof profile.defaultAction !== 'string') throw new OciConfigError('the profile has no "defaultAction"');
  if (profile.syscalls !== undefined && !Array.isArray(profile.syscalls)) throw new OciConfigError('the profile\'s "syscalls" is not an array');
  const ours = new Set(rules.flatMap((r) => r.names));
  const allowedByRule = new Set<string>();
  const kept: OciRule[] = [];
  (profile.syscalls ?? []).forEach((rule, i) => {
    if (typeof rule !== 'object' || rule === null || !Array.isArray(rule.names)) throw new OciConfigError(`syscalls[${i}]: not a rule with "names"`);
    const mine = rule.names.filter((n) => ours.has(n));
    if (mine.length === 0) return kept.push(rule);
    const conditional = Array.isArray(rule.args) && rule.args.length > 0;
    if (rule.action === NOTIFY && conditional) {
      // From an earlier merge (or another agent): replaced by ours.
    } else if ((rule.action === ALLOW || rule.action === NOTIFY) && !conditional) {
      // An unconditional NOTIFY is what an earlier merge made of such an ALLOW: every call allowed
      // unless a policy says otherwise. Keeping that meaning makes merging twice change nothing.
      for (const n of mine) allowedByRule.add(n);
    } else {
      throw new OciConfigError(`syscalls[${i}] (${String(rule.action)}${conditional ? ' with argument conditions' : ''}) already covers ${mine.join(', ')}; remove ${mine.length > 1 ? 'them' : 'it'} from that rule or merge by hand`);
    }
    const rest = rule.names.filter((n) => !ours.has(n));
    if (rest.length > 0) kept.push({ ...rule, names: rest });
  });

  const defaultAllows = profile.defaultAction === ALLOW;
  const merged: OciRule[] = [];
  for (const name of ours) {
    const own = rules.filter((r) => r.names.includes(name));
    if (allowedByRule.has(name) && !defaultAllows) {
      warn(`${name}: the profile allows every call and denies by default, so all ${name} calls are notified (the policies answer the others "continue")`);
      merged.push({ names: [name], action: NOTIFY });
    } else {
      if (!allowedByRule.has(name) && !defaultAllows) {
        warn(`${name}: the profile denies it (${profile.defaultAction}); the calls matching the policies' conditions now reach the policies, and one they answer "continue" runs`);
      }
      merged.push(...own);
    }
  }
  if (profile.listenerPath !== undefined && profile.listenerPath !== socketPath) warn(`listenerPath ${String(profile.listenerPath)} replaced by ${socketPath}`);
  return { ...profile, listenerPath: socketPath, syscalls: [...kept, ...merged] };
}

/** JSON.parse, refusing integers JSON.parse would round (a profile's u64 argument values). */
export function parseProfileText(text: string, where: string): unknown {
  const big = /(?<![\w."])\d{16,}(?![\w."])/.exec(text);
  if (big && BigInt(big[0]) > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new OciConfigError(`${where}: the number ${big[0]} is larger than 2^53 and would be rounded; write it in the rules after merging`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new OciConfigError(`${where}: not JSON: ${(e as Error).message}`);
  }
}

/** JSON with u64 (bigint) values written as exact numbers, as runtimes read them. */
export function stringifyOci(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `\u0000u64:${v}` : v), 2)
    .replace(/"\\u0000u64:(\d+)"/g, '$1');
}

/**
 * What `wasmsup oci-config` prints: the seccomp section for the policies of `policyDir`; merged into
 * `profileFile` when given — a seccomp profile (printed merged), or a whole config.json (printed whole,
 * its linux.seccomp merged or created).
 */
export function ociConfigText(opts: { policyDir: string; socketPath: string; profileFile?: string }, warn: (message: string) => void): string {
  const scan = new PolicyDirectory({ directory: opts.policyDir }).load();
  if (scan.errors.length) throw new OciConfigError(scan.errors.map((e) => `${e.file}: ${e.reason}`).join('\nwasmsup: '));
  const policies = scan.policies;
  if (policies.length === 0) throw new OciConfigError(`--policies ${opts.policyDir}: no *.wasm policies`);
  const rules = notifyRules(policies.flatMap((p) => p.interest), warn);
  const hostArch = currentHostArch();
  if (opts.profileFile === undefined) return stringifyOci(freshProfile(rules, opts.socketPath, hostArch));

  let text: string;
  try {
    text = readFileSync(opts.profileFile, 'utf8');
  } catch (e) {
    throw new OciConfigError(`${opts.profileFile}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const input = parseProfileText(text, opts.profileFile);
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new OciConfigError(`${opts.profileFile}: not a JSON object`);
  const where = (e: unknown) => new OciConfigError(`${opts.profileFile}: ${(e as Error).message}`);
  const obj = input as Record<string, unknown>;
  if ('defaultAction' in obj) {
    try { return stringifyOci(mergeIntoProfile(obj as OciSeccomp, rules, opts.socketPath, warn)); } catch (e) { throw where(e); }
  }
  if ('ociVersion' in obj || 'linux' in obj) {
    const linux = (obj.linux ?? {}) as Record<string, unknown>;
    if (typeof linux !== 'object' || Array.isArray(linux)) throw new OciConfigError(`${opts.profileFile}: "linux" is not an object`);
    let seccomp: OciSeccomp;
    try {
      seccomp = linux.seccomp === undefined ? freshProfile(rules, opts.socketPath, hostArch)
        : mergeIntoProfile(linux.seccomp as OciSeccomp, rules, opts.socketPath, warn);
    } catch (e) { throw where(e); }
    return stringifyOci({ ...obj, linux: { ...linux, seccomp } });
  }
  throw new OciConfigError(`${opts.profileFile}: neither a seccomp profile ("defaultAction") nor an OCI config.json ("ociVersion")`);
}
