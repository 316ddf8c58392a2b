/*
 * The data plane's latency histogram (src/dataplane/stats.ts, StatsWriter.latency): 4 buckets per power
 * of two of nanoseconds, bucket 4e+s holding [(4+s)·2^(e-2), (5+s)·2^(e-2)) ns (the first four hold 0-1,
 * 2, 3 ns). Latencies are clamped to 2^31 - 1 ns, so bucket 119 takes everything from ~1.9 s (the
 * last four stay empty; the layout keeps them). The native data plane (native/dataplane.cc) buckets
 * here; the TypeScript side buckets the same way for the paths that time in JavaScript, and
 * test/unit/latency-buckets.test.ts holds the two to each other through native.latencyBucket.
 */
#ifndef WASMSUP_LATENCY_BUCKETS_H
#define WASMSUP_LATENCY_BUCKETS_H

#include <stdint.h>

enum { LATENCY_BUCKETS = 124 };

static inline int latency_bucket(int64_t ns) {
  uint32_t n = ns < 1 ? 1 : ns > 0x7fffffff ? 0x7fffffff : (uint32_t)ns;
  int e = 31 - __builtin_clz(n);
  int bucket = e < 2 ? (int)n : 4 * e + (int)((n >> (e - 2)) & 3) - 4;
  return bucket < LATENCY_BUCKETS ? bucket : LATENCY_BUCKETS - 1;
}

#endif
