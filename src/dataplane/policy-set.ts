// One consistent set of instantiated policies, as the data plane asks them. A reload builds a new
// PolicySet and the worker swaps it in between two notifications, so every notification is decided
// by exactly one set from start to finish.
import { instantiatePolicy, type HostContext, type PolicyInstance } from '../policy/instance.js';
import type { PolicyInfo } from '../policy/load.js';
import { InterestMatcher } from './dispatch.js';
import { Decision } from './protocol.js';

export interface LoadedPolicy {
  readonly info: PolicyInfo;
  readonly name: string;
  readonly matcher: InterestMatcher;
  readonly instance: PolicyInstance;
  // Views of the policy's notification block, re-made only when its memory grew (new buffer).
  block: Uint8Array | null;
  blockWords: Int32Array;
}

/** What the policies said about one notification. One object, reused for every notification. */
export interface Verdict {
  kind: number;          // a Decision, or FAIL_CLOSED
  policy: LoadedPolicy | null;
  valueLo: number;
  valueHi: number;
  primitive: number;
  reason: string;        // why FAIL_CLOSED (for the log); '' otherwise
}

/** Not an ABI decision: the host fails the call with the configured errno. */
export const FAIL_CLOSED = -1;
/** Not an ABI decision: no policy was interested or all had no opinion; the call continues. */
export const NO_POLICY = -2;

export class PolicySet {
  readonly policies: LoadedPolicy[];
  private readonly verdict: Verdict = { kind: NO_POLICY, policy: null, valueLo: 0, valueHi: 0, primitive: 0, reason: '' };

  constructor(infos: readonly PolicyInfo[], host: HostContext) {
    this.policies = infos.map((info) => ({
      info,
      name: info.name,
      matcher: new InterestMatcher(info.interest),
      instance: instantiatePolicy(info, host),
      block: null,
      blockWords: new Int32Array(0),
    }));
  }

  private blockOf(policy: LoadedPolicy): Uint8Array {
    const block = policy.instance.notification;
    if (block !== policy.block) {
      policy.block = block;
      policy.blockWords = new Int32Array(block.buffer, block.byteOffset, 32);
    }
    return block;
  }

  /**
   * Asks the interested policies in order; the first answer other than NO_OPINION wins.
   * `notif` is struct seccomp_notif with the portable id at offset 80; `words` the same as Uint32Array.
   */
  ask(notif: Uint8Array, words: Uint32Array, portable: number): Verdict {
    const v = this.verdict;
    v.kind = NO_POLICY; v.policy = null; v.valueLo = 0; v.valueHi = 0; v.primitive = 0; v.reason = '';
    for (let p = 0; p < this.policies.length; p++) {
      const policy = this.policies[p]!;
      if (!policy.matcher.matches(portable, words)) continue;
      const block = this.blockOf(policy);
      for (let i = 0; i < 84; i++) block[i] = notif[i]!;
      for (let i = 84; i < 128; i++) block[i] = 0;
      v.policy = policy;
      let kind: number;
      try {
        kind = policy.instance.decide();
      } catch (e) {
        v.kind = FAIL_CLOSED;
        v.reason = `policy ${policy.name} trapped: ${(e as Error).message}`;
        return v;
      }
      // decide() may have grown the policy's memory, detaching the old views.
      this.blockOf(policy);
      const w = policy.blockWords;
      switch (kind) {
        case Decision.NO_OPINION:
          continue;
        case Decision.CONTINUE:
          v.kind = kind;
          return v;
        case Decision.ERRNO:
          if (w[23] !== 0 || w[22]! < 1 || w[22]! > 4095) {
            v.kind = FAIL_CLOSED;
            v.reason = `policy ${policy.name} returned an out-of-range errno ${w[22]}`;
            return v;
          }
          v.kind = kind; v.valueLo = w[22]!;
          return v;
        case Decision.RETURN:
          v.kind = kind; v.valueLo = w[22]!; v.valueHi = w[23]!;
          return v;
        case Decision.EMULATE:
          v.kind = kind; v.primitive = w[24]!;
          return v;
        default:
          v.kind = FAIL_CLOSED;
          v.reason = `policy ${policy.name} returned unknown decision ${kind}`;
          return v;
      }
    }
    v.policy = null;
    return v;
  }
}
