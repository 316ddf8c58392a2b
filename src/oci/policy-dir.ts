// Which of the agent's policies a container gets. Loading and reloading the directory is
// src/policy/directory.ts (shared with `wasmsup run`); this only picks names out of what is in force.
import { basename } from 'node:path';
import type { PolicyInfo } from '../policy/load.js';

/** The name a container may use for a policy: its declared name, or its file name without `.wasm`. */
function answersTo(policy: PolicyInfo, name: string): boolean {
  return policy.name === name || basename(policy.file, '.wasm') === name;
}

/**
 * The policies of `all` named in `names` (null = all), kept in directory order so that every container
 * asks its policies in the same order; `unknown` lists the names nothing answered to.
 */
export function selectPolicies(all: readonly PolicyInfo[], names: string[] | null): { policies: PolicyInfo[]; unknown: string[] } {
  if (names === null) return { policies: [...all], unknown: [] };
  return {
    policies: all.filter((p) => names.some((n) => answersTo(p, n))),
    unknown: names.filter((n) => !all.some((p) => answersTo(p, n))),
  };
}
