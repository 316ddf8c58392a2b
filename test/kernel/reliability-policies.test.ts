// Hostile policies at run time (docs/reliability.md, item 5): policies that return decisions the ABI
// does not have or errnos out of range, name primitives that do not exist or do not apply, read out of
// their memory, abort, trap, loop forever (stopped by fuel metering) or grow their memory to its cap.
// Every such call fails closed with --fail-errno, and the supervisor answers the next call as usual.
// --max-traps 0 keeps each policy in service however often it traps, so every call shows the
// fail-closed answer (skipping a policy after N traps is issue 4's and tested there).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runWasmsup, TEST_POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { finalStats, reliabilityProbe } from '../support/reliability.js';

const FAIL = ['--fail-errno', '131', '--max-traps', '0']; // ENOTRECOVERABLE: no policy here answers it
const cases = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1));

async function runCases(policy: string, args: string[]) {
  const r = await runWasmsup(['run', '--log-level', 'debug', ...FAIL, '--policy', TEST_POLICY(policy), '--', reliabilityProbe(), 'getppid-cases', ...args],
    { timeoutMs: 60_000 });
  assert.is(r.code, 0, r.stderr);
  return { lines: r.stdout.trimEnd().split('\n'), stats: finalStats(r.stderr) };
}

test('bad decisions, bad errnos, bad primitives, out-of-bounds reads, abort: each call fails closed, the next is answered', async () => {
  if (!privileged('hostile decisions')) return;
  const { lines, stats } = await runCases('hostile-decisions', ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '12', '13', '100', '11']);
  assert.equal(lines, [
    ...Array.from({ length: 10 }, (_, i) => `case ${i} ret=-1 errno=ENOTRECOVERABLE`),
    'case 12 ret=-1 errno=ENOTRECOVERABLE',
    'case 13 ret=-1 errno=ENOTRECOVERABLE',
    'case 100 ret=4242 errno=0',
    'case 11 ret=-1 errno=EACCES',
  ]);
  assert.is(stats.failedClosed, 12);
  assert.is(stats.killed, 0);
  assert.is(stats.frozen, 0);
  assert.is(stats.notifications, 14);
});

test('a trapping policy: every call fails closed', async () => {
  if (!privileged('trapping policy')) return;
  const { lines, stats } = await runCases('trap', cases(20));
  assert.equal(lines, cases(20).map((c) => `case ${c} ret=-1 errno=ENOTRECOVERABLE`));
  assert.is(stats.failedClosed, 20);
  assert.is(stats.traps, 20);
});

test('a policy that loops forever: stopped by its fuel, every call fails closed, the supervisor goes on', async () => {
  if (!privileged('looping policy')) return;
  const { lines, stats } = await runCases('loop', cases(20));
  assert.equal(lines, cases(20).map((c) => `case ${c} ret=-1 errno=ENOTRECOVERABLE`));
  assert.is(stats.failedClosed, 20);
  assert.is(stats.fuelExhausted, 20);
});

test('a policy that grows its memory on every call: answered until its cap, then every call fails closed', async () => {
  if (!privileged('memory-hungry policy')) return;
  const { lines, stats } = await runCases('hungry', cases(30));
  const firstClosed = lines.findIndex((l) => l.endsWith('errno=ENOTRECOVERABLE'));
  // 1 MiB kept per call against a 16 MiB cap: some calls are answered, then none can be.
  assert.ok(firstClosed >= 10 && firstClosed < 16, lines.join('\n'));
  assert.equal(lines.slice(0, firstClosed), cases(firstClosed).map((c) => `case ${c} ret=-1 errno=EACCES`));
  assert.equal(lines.slice(firstClosed), cases(30).slice(firstClosed).map((c) => `case ${c} ret=-1 errno=ENOTRECOVERABLE`));
  assert.is(stats.errno + stats.failedClosed, 30);
});

test.run();
