// Counters shared between the data-plane worker (writer) and the control plane (reader, e.g. on
// SIGUSR1), in a SharedArrayBuffer so that counting costs one store and no message. Besides the
// totals (Stat), the buffer holds outcomes per syscall, counters per policy (by a slot the control
// plane assigns to each policy name, stable across reloads) and a histogram of the latency from
// receiving a notification to answering it; see statsReport for how they read.
import { portableName, PORTABLE_COUNT } from '../syscalls/tables.js';
export const Stat = {
  notifications: 0,
  continued: 1,
  errno: 2,
  returned: 3,
  emulated: 4,
  emulationFailed: 5,
  traps: 6,
  failedClosed: 7,
  recvEnoent: 8,
  sendEnoent: 9,
  noPolicy: 10,
  /** Restarted calls answered with their undelivered emulation's result (undelivered.ts). */
  replayed: 11,
  /** Decisions stopped for running out of fuel (also counted in traps). */
  fuelExhausted: 12,
  /** Times a policy was put aside for trapping too often in a row (until the next reload). */
  policiesSkipped: 13,
  /** Policy sets swapped in by reloads. */
  reloads: 14,
  /** Audit records written to the ring, and those dropped because it was full. */
  audited: 15,
  auditDropped: 16,
  /** Workloads contained (src/emulate/contain.ts), by a policy's CONTAIN or by --default-action. */
  killed: 17,
  frozen: 18,
} as const;
export const STAT_NAMES = Object.keys(Stat) as (keyof typeof Stat)[];

/** Words reserved for Stat; the per-syscall table starts after them. */
const TOTAL_WORDS = 32;

/** Final outcome of a notification, per syscall. */
export const Outcome = { continued: 0, errno: 1, returned: 2, emulated: 3, failedClosed: 4, noPolicy: 5 } as const;
export const OUTCOME_NAMES = Object.keys(Outcome) as (keyof typeof Outcome)[];
const OUTCOMES = OUTCOME_NAMES.length;

/** What happened to one policy. `skipped`: notifications it would have been asked about while put aside. */
export const PolicyStat = {
  asked: 0, noOpinion: 1, continue: 2, errno: 3, return: 4, emulate: 5, failedClosed: 6, traps: 7, fuelExhausted: 8, skipped: 9, contain: 10,
} as const;
export const POLICY_STAT_NAMES = Object.keys(PolicyStat) as (keyof typeof PolicyStat)[];
const POLICY_STATS = POLICY_STAT_NAMES.length;
/** Policy slots; names beyond the last share it. */
export const POLICY_SLOTS = 64;

/**
 * Latency histogram: 4 buckets per power of two of nanoseconds (bucket 4e+s holds [(4+s)·2^(e-2),
 * (5+s)·2^(e-2)) ns), so percentiles are read within 25 %; the last bucket takes everything from ~2 s.
 * The native data plane buckets into the same words (native/latency_buckets.h; latencyBucket below
 * is its twin, and test/unit/latency-buckets.test.ts holds them to each other).
 */
const LATENCY_BUCKETS = 124;

/** The histogram bucket of a latency of `ns` nanoseconds (native/latency_buckets.h's latency_bucket). */
export function latencyBucket(ns: number): number {
  const n = ns < 1 ? 1 : ns > 0x7fffffff ? 0x7fffffff : ns | 0;
  const e = 31 - Math.clz32(n);
  const bucket = e < 2 ? n : 4 * e + ((n >>> (e - 2)) & 3) - 4;
  return bucket < LATENCY_BUCKETS ? bucket : LATENCY_BUCKETS - 1;
}

const SYSCALL_BASE = TOTAL_WORDS;
const POLICY_BASE = SYSCALL_BASE + (PORTABLE_COUNT + 1) * OUTCOMES;
const LATENCY_BASE = POLICY_BASE + POLICY_SLOTS * POLICY_STATS;
// Two doubles after the histogram: the largest latency and the sum, in ns (one writer: no atomics needed).
const DOUBLES_BYTE_OFFSET = Math.ceil(((LATENCY_BASE + LATENCY_BUCKETS) * 4) / 8) * 8;
const STATS_BYTES = DOUBLES_BYTE_OFFSET + 16;
/** Where the native data plane counts latencies (native.registerDataPlane): the histogram's first word, the doubles' byte offset. */
export const LATENCY_WORD = LATENCY_BASE;
export const LATENCY_DOUBLES_BYTE = DOUBLES_BYTE_OFFSET;

export function newStatsBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(STATS_BYTES);
}

/**
 * The data plane's side: counting without allocating. One per worker, and its thread is the only
 * writer of the buffer, so plain increments suffice (no read-modify-write race to guard against; int32
 * stores do not tear for the readers' Atomics.load), and they cost a fraction of an Atomics.add.
 */
export class StatsWriter {
  readonly words: Int32Array;
  private readonly doubles: Float64Array;

  constructor(buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer);
    this.doubles = new Float64Array(buffer, DOUBLES_BYTE_OFFSET, 2);
  }

  count(stat: number): void {
    this.words[stat]! += 1;
  }

  outcome(portable: number, outcome: number): void {
    const id = portable >= 0 && portable <= PORTABLE_COUNT ? portable : 0;
    this.words[SYSCALL_BASE + id * OUTCOMES + outcome]! += 1;
  }

  policy(slot: number, stat: number): void {
    this.words[POLICY_BASE + slot * POLICY_STATS + stat]! += 1;
  }

  /** Counts one latency timed in JavaScript (the polling loops; the blocking loop's are counted natively). */
  latency(ns: number): void {
    this.words[LATENCY_BASE + latencyBucket(ns)]! += 1;
    if (ns > this.doubles[0]!) this.doubles[0] = ns;
    this.doubles[1] += ns;
  }
}

/** Upper bound in ns of latency bucket `b` (the inverse of StatsWriter.latency's bucketing). */
function bucketUpperNs(b: number): number {
  if (b < 4) return b + 1;
  const e = (b >> 2) + 1, s = b & 3;
  return (5 + s) * 2 ** (e - 2);
}

export interface StatsReport {
  totals: Record<keyof typeof Stat, number>;
  /** Syscall name → outcome → count; only syscalls seen. */
  bySyscall: Record<string, Partial<Record<keyof typeof Outcome, number>>>;
  /** Policy name → counters; only policies asked or skipped. */
  byPolicy: Record<string, Partial<Record<keyof typeof PolicyStat, number>>>;
  /**
   * From receiving a notification to sending its answer (the blocking loop times both in C, around
   * the ioctls; the polling loops in JavaScript, around the handling), in µs; percentiles are bucket
   * upper bounds.
   */
  latency: { count: number; p50Us: number; p99Us: number; maxUs: number; meanUs: number };
}

/** Reads everything; `policyNames[slot]` names the policy slots (as DataPlane assigned them). */
export function statsReport(buffer: SharedArrayBuffer, policyNames: readonly string[]): StatsReport {
  const words = new Int32Array(buffer);
  const doubles = new Float64Array(buffer, DOUBLES_BYTE_OFFSET, 2);
  const bySyscall: StatsReport['bySyscall'] = {};
  for (let id = 0; id <= PORTABLE_COUNT; id++) {
    for (let o = 0; o < OUTCOMES; o++) {
      const n = Atomics.load(words, SYSCALL_BASE + id * OUTCOMES + o);
      if (n === 0) continue;
      const name = portableName(id) ?? 'unknown';
      (bySyscall[name] ??= {})[OUTCOME_NAMES[o]!] = n;
    }
  }
  const byPolicy: StatsReport['byPolicy'] = {};
  for (let slot = 0; slot < POLICY_SLOTS; slot++) {
    for (let k = 0; k < POLICY_STATS; k++) {
      const n = Atomics.load(words, POLICY_BASE + slot * POLICY_STATS + k);
      if (n === 0) continue;
      const name = slot === POLICY_SLOTS - 1 ? 'other policies' : policyNames[slot] ?? `slot ${slot}`;
      (byPolicy[name] ??= {})[POLICY_STAT_NAMES[k]!] = n;
    }
  }
  let count = 0;
  for (let b = 0; b < LATENCY_BUCKETS; b++) count += Atomics.load(words, LATENCY_BASE + b);
  const percentile = (p: number): number => {
    if (count === 0) return 0;
    const rank = Math.ceil(p * count);
    let seen = 0;
    for (let b = 0; b < LATENCY_BUCKETS; b++) {
      seen += Atomics.load(words, LATENCY_BASE + b);
      if (seen >= rank) return Math.min(bucketUpperNs(b), doubles[0]!);
    }
    return doubles[0]!;
  };
  const us = (ns: number) => Math.round(ns / 10) / 100;
  return {
    totals: readStats(buffer),
    bySyscall,
    byPolicy,
    latency: { count, p50Us: us(percentile(0.5)), p99Us: us(percentile(0.99)), maxUs: us(doubles[0]!), meanUs: count ? us(doubles[1]! / count) : 0 },
  };
}

export function readStats(buffer: SharedArrayBuffer): Record<keyof typeof Stat, number> {
  const words = new Int32Array(buffer);
  const out = {} as Record<keyof typeof Stat, number>;
  for (const name of STAT_NAMES) out[name] = Atomics.load(words, Stat[name]);
  return out;
}

/**
 * Counts summed over data planes, for the metrics endpoint (src/metrics/): read at scrape time on the
 * control plane, so that a container's counts can outlive its data plane (folded into its container's,
 * or all released containers', snapshot) and the exported counters never go back. Doubles: a sum of
 * int32 words may exceed 2^31.
 */
export interface StatsSnapshot {
  /** By Stat index. */
  totals: Float64Array;
  /** By portable syscall id × Outcome. */
  outcomes: Float64Array;
  /** Policy name → by PolicyStat index; names beyond the last slot share "other policies". */
  byPolicy: Map<string, Float64Array>;
  /** By latency bucket (see latencyBucketUpperNs). */
  latency: Float64Array;
  latencySumNs: number;
}

export const LATENCY_BUCKET_COUNT = LATENCY_BUCKETS;
export const OTHER_POLICIES = 'other policies';

export function newStatsSnapshot(): StatsSnapshot {
  return {
    totals: new Float64Array(TOTAL_WORDS),
    outcomes: new Float64Array((PORTABLE_COUNT + 1) * OUTCOMES),
    byPolicy: new Map(),
    latency: new Float64Array(LATENCY_BUCKETS),
    latencySumNs: 0,
  };
}

/** Adds one data plane's counters (its buffer, its slot names) into `into`. */
export function addStats(into: StatsSnapshot, buffer: SharedArrayBuffer, policyNames: readonly string[]): void {
  const words = new Int32Array(buffer);
  // `>>> 0`: a word the worker incremented past 2^31 is still a count.
  for (let i = 0; i < TOTAL_WORDS; i++) into.totals[i] += Atomics.load(words, i) >>> 0;
  for (let i = 0; i < into.outcomes.length; i++) into.outcomes[i] += Atomics.load(words, SYSCALL_BASE + i) >>> 0;
  for (let slot = 0; slot < POLICY_SLOTS; slot++) {
    const base = POLICY_BASE + slot * POLICY_STATS;
    let any = false;
    for (let k = 0; k < POLICY_STATS && !any; k++) any = Atomics.load(words, base + k) !== 0;
    if (!any) continue;
    const name = slot === POLICY_SLOTS - 1 ? OTHER_POLICIES : policyNames[slot] ?? OTHER_POLICIES;
    let row = into.byPolicy.get(name);
    if (!row) into.byPolicy.set(name, row = new Float64Array(POLICY_STATS));
    for (let k = 0; k < POLICY_STATS; k++) row[k] += Atomics.load(words, base + k) >>> 0;
  }
  for (let b = 0; b < LATENCY_BUCKETS; b++) into.latency[b] += Atomics.load(words, LATENCY_BASE + b) >>> 0;
  into.latencySumNs += new Float64Array(buffer, DOUBLES_BYTE_OFFSET, 2)[1]!;
}

/** Adds snapshot `from` into `into`. */
export function mergeStats(into: StatsSnapshot, from: StatsSnapshot): void {
  for (let i = 0; i < into.totals.length; i++) into.totals[i] += from.totals[i]!;
  for (let i = 0; i < into.outcomes.length; i++) into.outcomes[i] += from.outcomes[i]!;
  for (const [name, counts] of from.byPolicy) {
    let row = into.byPolicy.get(name);
    if (!row) into.byPolicy.set(name, row = new Float64Array(POLICY_STATS));
    for (let k = 0; k < POLICY_STATS; k++) row[k] += counts[k]!;
  }
  for (let b = 0; b < LATENCY_BUCKETS; b++) into.latency[b] += from.latency[b]!;
  into.latencySumNs += from.latencySumNs;
}

export function cloneStats(from: StatsSnapshot): StatsSnapshot {
  const s = newStatsSnapshot();
  mergeStats(s, from);
  return s;
}

/** Latency bucket `b` holds latencies below this many ns (and at least the previous bucket's bound). */
export function latencyBucketUpperNs(b: number): number {
  return bucketUpperNs(b);
}

/** The outcome table's layout, for readers of StatsSnapshot.outcomes. */
export const OUTCOME_COUNT = OUTCOMES;
