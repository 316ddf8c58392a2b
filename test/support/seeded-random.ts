// A small seeded PRNG (mulberry32) for the fuzz targets: a printed seed reproduces a run exactly.
export class SeededRandom {
  private state: number;
  constructor(readonly seed: number) { this.state = seed >>> 0; }

  /** The seed from the environment variable `name`, or a fresh one. */
  static fromEnv(name: string): SeededRandom {
    const text = process.env[name];
    return new SeededRandom(text !== undefined && text !== '' ? Number(text) >>> 0 : Math.floor(Math.random() * 0xffff_ffff));
  }

  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  below(n: number): number { return this.u32() % n; }
  chance(p: number): boolean { return this.u32() / 0x1_0000_0000 < p; }
  pick<T>(xs: readonly T[]): T { return xs[this.below(xs.length)]!; }
  u64(): bigint { return (BigInt(this.u32()) << 32n) | BigInt(this.u32()); }
}

/** How long a fuzz target runs: WASMSUP_FUZZ_SECONDS, else `defaultSeconds`. */
export function fuzzSeconds(defaultSeconds: number): number {
  const s = Number(process.env.WASMSUP_FUZZ_SECONDS);
  return Number.isFinite(s) && s > 0 ? s : defaultSeconds;
}
