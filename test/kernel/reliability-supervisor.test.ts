// Faults of the supervisor (docs/reliability.md, item 3). SIGKILLed while a call is pending: the kernel
// fails that call and every later intercepted one with ENOSYS, the workload runs on and nothing hangs.
// An exception in the host's JS (injected by the test-only WASMSUP_TEST_FAULTS=throw-every): that call
// fails closed, the loop goes on and answers the next ones.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runWasmsup, TEST_POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { alive, faultEnv, finalStats, reliabilityProbe, startWasmsup } from '../support/reliability.js';

const GETPPID_EACCES = TEST_POLICY('getppid-errno');

test('supervisor SIGKILLed with a call pending: that call and the next fail with ENOSYS, the workload finishes', async () => {
  if (!privileged('supervisor SIGKILL')) return;
  // The answer is held back 20 s: only the supervisor's death can end the call sooner.
  const s = startWasmsup(['run', '--policy', GETPPID_EACCES, '--', reliabilityProbe(), 'pending-call', '3'], faultEnv('delay-send-ms=20000'));
  const calling = await s.line(/^calling pid=\d+$/);
  const workload = Number(/pid=(\d+)/.exec(calling)![1]);
  try {
    await new Promise((r) => setTimeout(r, 300)); // the call is received and held
    const killedAt = process.hrtime.bigint(); // CLOCK_MONOTONIC, as the probe's end_ns
    process.kill(s.pid, 'SIGKILL');
    // The workload inherited the supervisor's stdout: done settles when the workload has closed it.
    const r = await s.done;
    assert.is(r.signal, 'SIGKILL');
    const calls = r.stdout.split('\n').filter((l) => l.startsWith('call '));
    assert.is(calls.length, 3, r.stdout);
    for (const [i, l] of calls.entries()) assert.match(l, new RegExp(`^call ${i} ret=-1 errno=ENOSYS end_ns=\\d+$`));
    const latencyMs = Number(BigInt(/end_ns=(\d+)/.exec(calls[0]!)![1]!) - killedAt) / 1e6;
    console.log(`  pending call failed with ENOSYS ${latencyMs.toFixed(1)} ms after the supervisor's SIGKILL`);
  } finally {
    if (alive(workload)) process.kill(workload, 'SIGKILL');
  }
});

test('an exception in the host fails that call closed; the supervisor goes on answering', async () => {
  if (!privileged('host exception')) return;
  const r = await runWasmsup(['run', '--log-level', 'debug', '--fail-errno', '131', '--policy', GETPPID_EACCES,
    '--', reliabilityProbe(), 'getppid-cases', ...Array.from({ length: 10 }, (_, i) => String(i))], { env: faultEnv('throw-every=3') });
  assert.is(r.code, 0, r.stderr);
  const expected = Array.from({ length: 10 }, (_, i) => `case ${i} ret=-1 errno=${(i + 1) % 3 === 0 ? 'ENOTRECOVERABLE' : 'EACCES'}\n`).join('');
  assert.is(r.stdout, expected);
  assert.match(r.stderr, /internal error while handling a notification: Error: injected fault/);
  const stats = finalStats(r.stderr);
  assert.is(stats.failedClosed, 3);
  assert.is(stats.errno, 7);
});

test('a bad WASMSUP_TEST_FAULTS fails the data plane: intercepted calls fail with ENOSYS, nothing hangs', async () => {
  if (!privileged('bad fault spec')) return;
  const r = await runWasmsup(['run', '--policy', GETPPID_EACCES, '--', reliabilityProbe(), 'getppid-cases', '1'], { env: faultEnv('explode=1') });
  assert.match(r.stderr, /WASMSUP_TEST_FAULTS: "explode=1" is not one of/);
  assert.is(r.stdout, 'case 1 ret=-1 errno=ENOSYS\n');
});

test.run();
