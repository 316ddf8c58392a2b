// Invented syscalls end to end: numbers the kernel does not implement (0x3ffff000 + K), answered by the
// example policy (policies/invented.ts) through the native and the i386 entry; ENOSYS without it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { runWasmsup, POLICY, buildProbe } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';

const POLICY_FILE = POLICY('invented');
const isX64 = process.arch === 'x64';

test('without wasmsup, and under wasmsup without a policy claiming them, invented numbers fail with ENOSYS', async () => {
  const probe = buildProbe('invented-probe');
  assert.is(execFileSync(probe, ['0', '2', '3'], { encoding: 'utf8' }), '0 ret=-1 errno=ENOSYS\n');
  if (isX64) assert.is(execFileSync(probe, ['i386', '0', '2', '3'], { encoding: 'utf8' }), '0 ret=-1 errno=ENOSYS\n');
  const r = await runWasmsup(['run', '--', probe, '0', '2', '3']);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, '0 ret=-1 errno=ENOSYS\n');
});

test('the invented policy answers its numbers: a value, an errno it chose, the caller\'s namespace uid', async () => {
  if (!privileged('invented syscalls in a user namespace')) return;
  const probe = buildProbe('invented-probe');
  const cases: [string[], string][] = [
    [['0', '40', '2'], '0 ret=42 errno=0'],
    [['1', '13'], '1 ret=-1 errno=EACCES'],
    [['1', '5000'], '1 ret=-1 errno=EINVAL'],
    [['2'], '2 ret=0 errno=0'],
    // Not claimed by the policy: the kernel's answer.
    [['3'], '3 ret=-1 errno=ENOSYS'],
    // The x32 bit on an invented number is not an invented number.
    [['0x40000000'], '1073741824 ret=-1 errno=ENOSYS'],
  ];
  if (isX64) {
    cases.push([['i386', '0', '40', '2'], '0 ret=42 errno=0'], [['i386', '1', '13'], '1 ret=-1 errno=EACCES'], [['i386', '3'], '3 ret=-1 errno=ENOSYS']);
  }
  const script = cases.map(([args]) => `${probe} ${args.join(' ')}`).join(' && ');
  const r = await runWasmsup(['run', '--userns', '--policy', POLICY_FILE, '--', 'sh', '-c', script]);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, cases.map(([, want]) => want + '\n').join(''));
});

test('without a user namespace the same numbers work (the caller\'s uid is its host uid)', async () => {
  const probe = buildProbe('invented-probe');
  const r = await runWasmsup(['run', '--policy', POLICY_FILE, '--', 'sh', '-c', `${probe} 0 1 1 && ${probe} 2`]);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, `0 ret=2 errno=0\n2 ret=${process.getuid!()} errno=0\n`);
});

test.run();
