// Attack: a hostile policy using write_out to write into the caller outside the buffer the call
// declares (past a struct's end, at a negative or overflowing offset, into an input argument, into a
// call that has no out-buffer), or to smuggle bytes into an answer another policy gives. The host's
// table bounds every write by the call's declared size and drops a stage the deciding policy did not
// make; the probe fills its buffers with a canary and reports every byte that changed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runWasmsup, TEST_POLICY, buildProbe } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';

const HOSTILE = TEST_POLICY('write-out-hostile');

test('writes past the utsname, at wrapped offsets or into inputs are refused and nothing is written', async () => {
  if (!privileged('write_out hostile bounds')) return;
  const probe = buildProbe('outptr-probe');
  const r = await runWasmsup(['run', '--userns', '--policy', HOSTILE, '--', 'sh', '-c', `${probe} uname-raw; ${probe} getppid`]);
  assert.is(r.code, 0, r.stderr);
  const [uname, getppid] = r.stdout.trim().split('\n');
  // 12 attempts refused, the answer 12, and not one byte of the caller's 512-byte buffer changed.
  assert.match(uname!, /^ret=12 errno=0 nodename=\.+ tail=ok$/);
  assert.is(uname!.split('nodename=')[1]!.split(' ')[0], '.'.repeat(65), 'nodename still the canary');
  assert.is(getppid, 'ret=6');
});

test('bytes a policy staged before having no opinion never reach the answer the next policy gives', async () => {
  if (!privileged('write_out stage smuggling')) return;
  const r = await runWasmsup(['run', '--userns', '--policy', HOSTILE, '--policy', TEST_POLICY('write-out'), '--',
    buildProbe('outptr-probe'), 'getxattr', '/', 'user.wasmsup', '64']);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout.trim(), 'ret=9 errno=0 value=hello-out canary=ok untouched=no rest=ok');
});

test.run();
