// The latency histogram's one bucketing: the native data plane's (native/latency_buckets.h, reached
// through native.latencyBucket) and the TypeScript twin the polling loops use (stats.ts) put every
// latency in the same bucket, and the buckets' upper bounds read back what went in.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { native } from '../../src/native.js';
import { LATENCY_BUCKET_COUNT, latencyBucket, latencyBucketUpperNs } from '../../src/dataplane/stats.js';

/** Every value up to 4096, each power of two and its neighbours up to 2^40, and a spread in between. */
function samples(): number[] {
  const out: number[] = [-5, -1, 0];
  for (let n = 1; n <= 4096; n++) out.push(n);
  for (let e = 12; e <= 40; e++) {
    const p = 2 ** e;
    out.push(p - 1, p, p + 1, p * 1.25 - 1, p * 1.25, p * 1.5, p * 1.75, p * 1.75 + 1);
  }
  let x = 12345;
  for (let i = 0; i < 20000; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    out.push(x % 2 ** (1 + (i % 34)));
  }
  return out;
}

test('the native and the TypeScript bucketing agree, over the whole range', () => {
  assert.is(native.constants.LATENCY_BUCKETS, LATENCY_BUCKET_COUNT);
  for (const ns of samples()) {
    const n = Math.floor(ns);
    assert.is(latencyBucket(n), native.latencyBucket(n), `bucket of ${n} ns`);
  }
});

test('a latency lies below its bucket\'s upper bound and at or above the previous one\'s', () => {
  for (const ns of samples()) {
    if (ns < 1 || ns >= 2 ** 31) continue;
    const b = latencyBucket(ns);
    assert.ok(ns < latencyBucketUpperNs(b), `${ns} < upper(${b})`);
    if (b > 0) assert.ok(ns >= latencyBucketUpperNs(b - 1), `${ns} >= upper(${b - 1})`);
  }
  // Latencies are clamped to 2^31 - 1 ns (~2.1 s): everything longer lands in that one's bucket.
  assert.is(latencyBucket(2 ** 40), latencyBucket(2 ** 31 - 1));
  assert.is(native.latencyBucket(2 ** 40), latencyBucket(2 ** 31 - 1));
  assert.is(latencyBucket(0), latencyBucket(1));
});

test('latencyBucket: bad input gets a one-line error', () => {
  assert.throws(() => native.latencyBucket('x' as unknown as number), (e: Error) => e instanceof TypeError && !e.message.includes('\n'));
  assert.throws(() => native.latencyBucket(1.5), (e: Error) => e instanceof TypeError && /latencyBucket: ns/.test(e.message));
});

test.run();
