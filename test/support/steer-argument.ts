// Choosing syscall arguments for the filter's randomized tests: a value that satisfies a declared
// condition, or one that just misses it, so that matches and near-misses are both frequent.
import type { ArgCondition } from '../../src/filter/types.js';
import type { SeededRandom } from './seeded-random.js';

const U64_MAX = 0xffff_ffff_ffff_ffffn;
const u64 = (x: bigint): bigint => BigInt.asUintN(64, x);

/** An argument value chosen to satisfy `c`, or (nearMiss) to just fail it. */
export function steerArgument(rng: SeededRandom, c: ArgCondition, nearMiss: boolean): bigint {
  const v = c.value;
  switch (c.op) {
    case 'eq': return nearMiss ? u64(v ^ (1n << BigInt(rng.below(64)))) : v;
    case 'ne': return nearMiss ? v : u64(v + 1n);
    case 'lt': return nearMiss ? v : u64(v - 1n);
    case 'le': return nearMiss ? u64(v + 1n) : v;
    case 'gt': return nearMiss ? v : u64(v + 1n);
    case 'ge': return nearMiss ? u64(v - 1n) : v;
    case 'masked_eq': {
      const mask = c.mask ?? U64_MAX;
      const hit = v | (rng.u64() & ~mask & U64_MAX);
      if (!nearMiss || mask === 0n) return hit;
      let bit = 1n << BigInt(rng.below(64));
      while ((bit & mask) === 0n) bit = 1n << BigInt(rng.below(64));
      return hit ^ bit;
    }
  }
}
