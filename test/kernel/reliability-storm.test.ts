// Storms (docs/reliability.md, item 2): 64 threads and a bounded fork storm making intercepted calls.
// Every call is answered (the workload counts its answers, the supervisor its notifications), the
// supervisor's memory does not grow with the number of calls (it keeps state per pending notification
// only), and its fds stay bounded: besides those it started with, only the callers' kept
// /proc/TID/status files (src/dataplane/status-files.ts), at most KEPT_STATUS_FILES of them, the
// two the mknod fast path keeps for its thread, and the one user namespace whose id maps are cached,
// so a second storm of new threads adds none.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { POLICY, TEST_POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { KEPT_STATUS_FILES } from '../../src/dataplane/status-files.js';
import { faultEnv, fdCount, finalStats, nsOwnedDir, reliabilityProbe, rssKiB, startWasmsup, NS_ROOT } from '../support/reliability.js';

const THREADS = 64, CALLS = 1000, FORKS = 200, CONCURRENT = 16;
/** RSS may move with V8's heap and the kernel's accounting; a per-call leak of even 64 bytes over the second storm's 64,000 calls would add 4 MiB on top. */
const RSS_SLACK_KIB = 8 * 1024;

test(`${THREADS} threads × ${CALLS} calls and ${FORKS} forks: every call answered, memory and fds bounded`, async () => {
  if (!privileged('storms')) return;
  const t = nsOwnedDir();
  const s = startWasmsup(['run', '--log-level', 'debug', '--userns', '--policy', POLICY('mknod'), '--policy', TEST_POLICY('getppid-errno'),
    '--', reliabilityProbe(), 'storm', String(THREADS), String(CALLS), String(FORKS), String(CONCURRENT), t.path], faultEnv(null), 120_000);
  try {
    const sample = () => ({ rss: rssKiB(s.pid), fds: fdCount(s.pid) });

    await s.line(/^phase warm$/);
    const warm = sample();
    s.send('go');
    await s.line(/^phase storm1$/);
    const storm1 = sample();
    s.send('go');
    await s.line(/^phase storm2$/);
    const storm2 = sample();
    s.send('go');
    const r = await s.done;
    assert.is(r.code, 0, r.stderr);

    const calls = THREADS * CALLS;
    assert.ok(r.stdout.includes(`storm1 threads=${THREADS} calls=${calls} eacces=${calls} other=0\n`), r.stdout);
    assert.ok(r.stdout.includes(`storm2 threads=${THREADS} calls=${calls} eacces=${calls} other=0\n`), r.stdout);
    assert.ok(r.stdout.includes(`forks total=${FORKS} ok=${FORKS}\n`), r.stdout);
    for (let i = 0; i < FORKS; i += 37) {
      const st = lstatSync(join(t.path, `f${i}`));
      assert.ok(st.isCharacterDevice());
      assert.is(st.uid, NS_ROOT);
    }
    // The supervisor's side of the count: every notification was decided, none failed or was lost.
    const stats = finalStats(r.stderr);
    const expected = THREADS * CALLS / 10 + 2 * calls + FORKS * (CALLS / 10) + FORKS;
    assert.is(stats.notifications, expected);
    assert.is(stats.errno + stats.emulated, expected);
    assert.is(stats.failedClosed, 0);
    assert.is(stats.emulationFailed, 0);

    // + the worker thread's own root and cwd, which the mknod fast path opens once (native/impersonate.cc),
    // and the callers' user namespace, held open while its id maps are cached (src/dataplane/caller.ts).
    assert.ok(storm1.fds >= warm.fds && storm1.fds <= warm.fds + KEPT_STATUS_FILES + 3, `fds after the first storm: ${warm.fds} → ${storm1.fds}`);
    assert.is(storm2.fds, storm1.fds, 'fds after the second storm');
    assert.ok(storm2.rss - storm1.rss < RSS_SLACK_KIB, `RSS grew from ${storm1.rss} to ${storm2.rss} KiB over the second storm`);
    console.log(`  supervisor: ${expected} notifications; VmRSS ${warm.rss} → ${storm1.rss} → ${storm2.rss} KiB; fds ${warm.fds} → ${storm1.fds} → ${storm2.fds}`);
  } finally {
    s.child.stdin!.end(); // a workload still waiting for "go" (a failed assertion above) reads EOF and exits
    t.cleanup();
  }
});

test.run();
