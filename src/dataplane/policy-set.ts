// One consistent set of instantiated policies, as the data plane asks them. A reload builds a new
// PolicySet and the worker swaps it in between two notifications, so every notification is decided
// by exactly one set from start to finish.
import { instantiatePolicy, type HostContext, type PolicyInstance } from '../policy/instance.js';
import type { PolicyInfo } from '../policy/load.js';
import { Notif, PolicyBlock } from '../layouts.js';
import { InterestMatcher } from './dispatch.js';
import { Containment, Decision } from './protocol.js';
import { POLICY_SLOTS, PolicyStat, type StatsWriter } from './stats.js';

export interface LoadedPolicy {
  readonly info: PolicyInfo;
  readonly name: string;
  readonly matcher: InterestMatcher;
  readonly instance: PolicyInstance;
  /** Its row in the shared per-policy stats. */
  readonly slot: number;
  // Views of the policy's notification block, re-made only when its memory grew (new buffer).
  block: Uint8Array | null;
  blockWords: Int32Array;
  /** Traps since its last decision that did not trap; at maxTraps the policy is put aside. */
  consecutiveTraps: number;
  /** Put aside (not asked) until the next reload builds a new set. */
  skipped: boolean;
  /** Rate limiting of its failure log lines (handler.ts). */
  lastLogMs: number;
  suppressedLogs: number;
}

export interface PolicySetOptions {
  /** Traps in a row after which a policy is skipped until the next reload; 0 = never (default 5). */
  maxTraps?: number;
  /** Stats slot of each policy, parallel to the infos (default: its index). */
  slots?: readonly number[];
  stats?: StatsWriter | null;
}

export const DEFAULT_MAX_TRAPS = 5;

// ask() copies the block word by word, written out for these sizes.
if (Notif.POLICY_WORDS !== 21 || PolicyBlock.WORDS !== 32) throw new Error('policy-set.ts: ask() copies 21 notification words into a 32-word block');
const { VALUE_LO, VALUE_HI, PRIMITIVE } = PolicyBlock;

/** What the policies said about one notification. One object, reused for every notification. */
export interface Verdict {
  kind: number;          // a Decision, or FAIL_CLOSED
  policy: LoadedPolicy | null;
  valueLo: number;
  valueHi: number;
  primitive: number;
  reason: string;        // why FAIL_CLOSED (for the log); '' otherwise
  trapped: boolean;      // FAIL_CLOSED because the policy trapped (or ran out of fuel)
  outOfFuel: boolean;
  skippedNow: boolean;   // this trap put the policy aside
}

/** Not an ABI decision: the host fails the call with the configured errno. */
export const FAIL_CLOSED = -1;
/** Not an ABI decision: no policy was interested or all had no opinion; the call continues. */
export const NO_POLICY = -2;

export class PolicySet {
  readonly policies: LoadedPolicy[];
  private readonly verdict: Verdict = {
    kind: NO_POLICY, policy: null, valueLo: 0, valueHi: 0, primitive: 0, reason: '', trapped: false, outOfFuel: false, skippedNow: false,
  };
  private readonly maxTraps: number;
  private readonly stats: StatsWriter | null;

  constructor(infos: readonly PolicyInfo[], host: HostContext, options: PolicySetOptions = {}) {
    this.maxTraps = options.maxTraps ?? DEFAULT_MAX_TRAPS;
    this.stats = options.stats ?? null;
    this.policies = infos.map((info, i) => ({
      info,
      name: info.name,
      matcher: new InterestMatcher(info.interest),
      instance: instantiatePolicy(info, host),
      slot: Math.min(options.slots?.[i] ?? i, POLICY_SLOTS - 1),
      block: null,
      blockWords: new Int32Array(0),
      consecutiveTraps: 0,
      skipped: false,
      lastLogMs: -Infinity,
      suppressedLogs: 0,
    }));
  }

  private count(policy: LoadedPolicy, stat: number): void {
    if (this.stats !== null) this.stats.policy(policy.slot, stat);
  }

  private trapped(policy: LoadedPolicy, e: unknown): Verdict {
    const v = this.verdict;
    v.kind = FAIL_CLOSED;
    v.trapped = true;
    v.outOfFuel = policy.instance.outOfFuel();
    this.count(policy, PolicyStat.traps);
    this.count(policy, PolicyStat.failedClosed);
    if (v.outOfFuel) this.count(policy, PolicyStat.fuelExhausted);
    v.reason = v.outOfFuel
      ? `policy ${policy.name} ran out of fuel (${policy.instance.fuel} loop iterations and calls) and was stopped`
      : `policy ${policy.name} trapped: ${(e as Error).message}`;
    policy.consecutiveTraps++;
    if (this.maxTraps > 0 && policy.consecutiveTraps >= this.maxTraps) {
      policy.skipped = true;
      v.skippedNow = true;
      v.reason += `; ${policy.consecutiveTraps} traps in a row, so it is skipped until the next reload`;
    }
    return v;
  }

  private refused(policy: LoadedPolicy, reason: string): Verdict {
    const v = this.verdict;
    v.kind = FAIL_CLOSED;
    v.reason = reason;
    this.count(policy, PolicyStat.failedClosed);
    return v;
  }

  private blockOf(policy: LoadedPolicy): void {
    // memory.grow detaches the old buffer, which empties every view of it: only then ask the instance
    // for the block again, as reading memory.buffer is a call into the engine, twice per decision.
    if (policy.blockWords.length !== 0) return;
    const block = policy.instance.notification;
    policy.block = block;
    policy.blockWords = new Int32Array(block.buffer, block.byteOffset, PolicyBlock.WORDS);
  }

  /**
   * Asks the interested policies in order; the first answer other than NO_OPINION wins.
   * `notif` is struct seccomp_notif with the portable id at offset 80; `words` the same as Uint32Array.
   */
  ask(notif: Uint8Array, words: Uint32Array, portable: number): Verdict {
    const v = this.verdict;
    v.kind = NO_POLICY; v.policy = null; v.valueLo = 0; v.valueHi = 0; v.primitive = 0; v.reason = '';
    v.trapped = false; v.outOfFuel = false; v.skippedNow = false;
    for (let p = 0; p < this.policies.length; p++) {
      const policy = this.policies[p]!;
      if (!policy.matcher.matches(portable, words)) continue;
      if (policy.skipped) { this.count(policy, PolicyStat.skipped); continue; }
      this.count(policy, PolicyStat.asked);
      this.blockOf(policy);
      // 21 words of notification and portable id, then 11 of zeroes: word copies, as this runs for
      // every notification (blockWords already requires the block to be 4-aligned). Written out: the
      // loop's stores into Wasm memory measured ~40 ns slower, and TypedArray.set slower still.
      const bw = policy.blockWords;
      bw[0] = words[0]!; bw[1] = words[1]!; bw[2] = words[2]!; bw[3] = words[3]!; bw[4] = words[4]!; bw[5] = words[5]!; bw[6] = words[6]!;
      bw[7] = words[7]!; bw[8] = words[8]!; bw[9] = words[9]!; bw[10] = words[10]!; bw[11] = words[11]!; bw[12] = words[12]!; bw[13] = words[13]!;
      bw[14] = words[14]!; bw[15] = words[15]!; bw[16] = words[16]!; bw[17] = words[17]!; bw[18] = words[18]!; bw[19] = words[19]!; bw[20] = words[20]!;
      bw[21] = 0; bw[22] = 0; bw[23] = 0; bw[24] = 0; bw[25] = 0; bw[26] = 0; bw[27] = 0; bw[28] = 0; bw[29] = 0; bw[30] = 0; bw[31] = 0;
      v.policy = policy;
      let kind: number;
      try {
        kind = policy.instance.decide();
      } catch (e) {
        return this.trapped(policy, e);
      }
      policy.consecutiveTraps = 0;
      // decide() may have grown the policy's memory, detaching the old views.
      this.blockOf(policy);
      const w = policy.blockWords;
      switch (kind) {
        case Decision.NO_OPINION:
          this.count(policy, PolicyStat.noOpinion);
          continue;
        case Decision.CONTINUE:
          this.count(policy, PolicyStat.continue);
          v.kind = kind;
          return v;
        case Decision.ERRNO:
          if (w[VALUE_HI] !== 0 || w[VALUE_LO]! < 1 || w[VALUE_LO]! > 4095) {
            return this.refused(policy, `policy ${policy.name} returned an out-of-range errno ${w[VALUE_LO]}`);
          }
          this.count(policy, PolicyStat.errno);
          v.kind = kind; v.valueLo = w[VALUE_LO]!;
          return v;
        case Decision.RETURN:
          this.count(policy, PolicyStat.return);
          v.kind = kind; v.valueLo = w[VALUE_LO]!; v.valueHi = w[VALUE_HI]!;
          return v;
        case Decision.EMULATE:
          this.count(policy, PolicyStat.emulate);
          v.kind = kind; v.primitive = w[PRIMITIVE]!;
          return v;
        case Decision.CONTAIN:
          if (w[VALUE_HI] !== 0 || w[VALUE_LO]! < 1 || w[VALUE_LO]! > 4095) {
            return this.refused(policy, `policy ${policy.name} asked to contain the workload with an out-of-range errno ${w[VALUE_LO]}`);
          }
          if (w[PRIMITIVE] !== Containment.KILL && w[PRIMITIVE] !== Containment.FREEZE) {
            return this.refused(policy, `policy ${policy.name} asked for unknown containment ${w[PRIMITIVE]}`);
          }
          this.count(policy, PolicyStat.contain);
          v.kind = kind; v.valueLo = w[VALUE_LO]!; v.primitive = w[PRIMITIVE]!;
          return v;
        default:
          return this.refused(policy, `policy ${policy.name} returned unknown decision ${kind}`);
      }
    }
    v.policy = null;
    return v;
  }
}
