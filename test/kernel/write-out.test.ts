// write_out end to end: a fixture policy (test/fixtures/policies/write-out.ts) answers uname(2) and a
// few getxattr names through the caller's out-pointers, for `uname` and a C probe
// (test/probe/outptr-probe.c) that fills its buffer with a canary first. What reaches the caller, what
// the host refuses (beyond the declared size, an argument that is not an out-buffer, a full stage),
// what is dropped (staged, then not RETURN), a bad pointer (EFAULT).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runWasmsup, TEST_POLICY, buildProbe } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';

const POLICY = TEST_POLICY('write-out');

async function underPolicy(script: string): Promise<string> {
  const r = await runWasmsup(['run', '--userns', '--policy', POLICY, '--', 'sh', '-c', script]);
  assert.is(r.code, 0, r.stderr);
  return r.stdout;
}

/** The probe's getxattr line for NAME with a buffer of SIZE bytes. */
async function getxattr(name: string, size: number, pointer = ''): Promise<Record<string, string>> {
  const out = await underPolicy(`${buildProbe('outptr-probe')} getxattr / ${name} ${size} ${pointer}`);
  return Object.fromEntries(out.trim().split(' ').map((kv) => kv.split('=', 2) as [string, string]));
}

test('uname -a and a probe see the utsname the policy wrote', async () => {
  if (!privileged('write_out uname')) return;
  const out = await underPolicy(`uname -a; ${buildProbe('outptr-probe')} uname`);
  const [unameLine, probeLine] = out.trim().split('\n');
  assert.match(unameLine!, /^Linux wasmsup-node 9\.9\.9-wasmsup #1 wasmsup /);
  assert.is(probeLine, 'nodename=wasmsup-node release=9.9.9-wasmsup');
});

test('without the policy, uname is the host\'s', async () => {
  if (!privileged('write_out baseline')) return;
  const r = await runWasmsup(['run', '--userns', '--', buildProbe('outptr-probe'), 'uname']);
  assert.is(r.code, 0, r.stderr);
  assert.not.match(r.stdout, /wasmsup-node/);
});

test('getxattr answered: the value, a size query (size 0, NULL buffer), a buffer too small (ERANGE)', async () => {
  if (!privileged('write_out getxattr')) return;
  assert.equal(await getxattr('user.wasmsup', 64), { ret: '9', errno: '0', value: 'hello-out', canary: 'ok', untouched: 'no', rest: 'ok' });
  assert.equal(await getxattr('user.wasmsup', 9), { ret: '9', errno: '0', value: 'hello-out', canary: 'ok', untouched: 'no', rest: 'ok' });
  assert.equal(await getxattr('user.wasmsup', 0, 'null'), { ret: '9', errno: '0', value: '', canary: 'ok', untouched: 'yes', rest: 'ok' });
  assert.equal(await getxattr('user.wasmsup', 4), { ret: '-1', errno: 'ERANGE', value: '', canary: 'ok', untouched: 'yes', rest: 'ok' });
});

test('bounds: every write beyond the declared size or into an input argument is refused, nothing written', async () => {
  if (!privileged('write_out bounds')) return;
  for (const size of [0, 1, 5, 64]) {
    const r = await getxattr('user.beyond', size);
    assert.equal([r.ret, r.untouched], ['6', 'yes'], `size ${size}: ${JSON.stringify(r)}`);
  }
});

test('staged bytes are dropped unless the decision is RETURN', async () => {
  if (!privileged('write_out dropped')) return;
  assert.equal(await getxattr('user.dropped', 64), { ret: '-1', errno: 'EACCES', value: '', canary: 'ok', untouched: 'yes', rest: 'ok' });
  const noOpinion = await getxattr('user.dropped-opinion', 64);
  assert.is(noOpinion.untouched, 'yes', JSON.stringify(noOpinion));
  assert.is(noOpinion.ret, '-1', 'the kernel answered the continued call itself');
});

test('the stage holds eight writes; copies are taken at once; later writes win', async () => {
  if (!privileged('write_out stage')) return;
  const many = await getxattr('user.many', 64);
  assert.equal([many.ret, many.canary], ['8', 'ok']);
  const out = await underPolicy(`${buildProbe('outptr-probe')} getxattr / user.many 9`);
  assert.match(out, /^ret=8 errno=0 value=abcdefgh canary=ok/);
  assert.equal(await getxattr('user.overlap', 64), { ret: '4', errno: '0', value: 'XyyX', canary: 'ok', untouched: 'no', rest: 'ok' });
});

test('a bad pointer from the caller gets EFAULT, as from the kernel', async () => {
  if (!privileged('write_out EFAULT')) return;
  assert.equal(await getxattr('user.wasmsup', 64, 'bad'), { ret: '-1', errno: 'EFAULT', value: '', canary: 'ok', untouched: 'yes', rest: 'ok' });
});

test('a read-only page is not written (no /proc/PID/mem FOLL_FORCE): EFAULT, as from the kernel', async () => {
  if (!privileged('write_out read-only page')) return;
  const out = await underPolicy(`${buildProbe('outptr-probe')} getxattr / user.wasmsup 64 ro`);
  assert.is(out.trim(), 'ret=-1 errno=EFAULT untouched=yes');
});

test('a source outside the policy\'s memory traps: the call fails closed', async () => {
  if (!privileged('write_out trap')) return;
  const r = await runWasmsup(['run', '--userns', '--policy', POLICY, '--', buildProbe('outptr-probe'), 'getxattr', '/', 'user.trap-range', '64']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ret=-1 errno=EPERM .* untouched=yes/);
  assert.match(r.stderr, /write_out: range 4294963200\+64 is outside the policy's memory/);
});

test.run();
