// The sched policy (policies/sched.ts) and the SCHED primitive end to end: a workload under
// `wasmsup run --userns` (its root has CAP_SYS_NICE only in its own user namespace, which the kernel
// does not accept for raising a priority) running chrt and a C probe (test/probe/sched-probe.c) that
// makes the raw calls and reads the result back with sched_getattr.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runWasmsup, POLICY, buildProbe, tempDir } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';

const CONFIG = { policies: ['fifo', 'rr', 'other', 'batch', 'idle'], maxRtPriority: 50, minNice: -10 };
const FIFO = 1, RR = 2, OTHER = 0;

async function underSched(script: string, config: object | null = CONFIG): Promise<string> {
  const dir = tempDir('wasmsup-sched-');
  try {
    const args = ['run', '--userns', '--kill-on-exit', '--policy', POLICY('sched')];
    if (config !== null) {
      writeFileSync(join(dir.path, 'sched.json'), JSON.stringify(config));
      args.push('--policy-config', join(dir.path, 'sched.json'));
    }
    const r = await runWasmsup([...args, '--', 'sh', '-c', script]);
    assert.is(r.code, 0, r.stderr);
    return r.stdout;
  } finally { dir.cleanup(); }
}

test('chrt -f 10 and chrt -f -p 5 of its own child succeed, and the priority is really set', async () => {
  if (!privileged('sched chrt')) return;
  const out = await underSched('chrt -f 10 sh -c \'chrt -p $$\'; sleep 30 & c=$!; chrt -f -p 5 $c && chrt -p $c');
  assert.match(out, /pid \d+'s current scheduling policy: SCHED_FIFO\npid \d+'s current scheduling priority: 10\n/);
  assert.match(out, /pid \d+'s current scheduling policy: SCHED_FIFO\npid \d+'s current scheduling priority: 5\n$/);
});

test('the three calls within the ceiling succeed; above it, EPERM; read back with sched_getattr', async () => {
  if (!privileged('sched calls')) return;
  const p = buildProbe('sched-probe');
  const out = await underSched([
    'sleep 30 & c=$!',
    `${p} setattr $c ${OTHER} 0 -5 0`, `${p} get $c`,      // nice -5 ≥ -10
    `${p} setattr $c ${OTHER} 0 -15 0`,                       // nice -15 < -10
    `${p} setscheduler $c ${FIFO} 20`, `${p} setparam $c 40`, `${p} get $c`,
    `${p} setparam $c 51`, `${p} setscheduler $c ${RR} 60`,   // above 50
    `${p} setattr $c ${RR} 50 0 0`, `${p} get $c`,
  ].join('; '));
  assert.equal(out.trim().split('\n'), [
    'ret=0 errno=0', 'policy=0 priority=0 nice=-5',
    'ret=-1 errno=EPERM',
    'ret=0 errno=0', 'ret=0 errno=0', 'policy=1 priority=40 nice=0',
    'ret=-1 errno=EPERM', 'ret=-1 errno=EPERM',
    'ret=0 errno=0', 'policy=2 priority=50 nice=0',
  ]);
});

test('a pid that names nothing is ESRCH; a caller without CAP_SYS_NICE in its namespace gets EPERM', async () => {
  if (!privileged('sched who')) return;
  const p = buildProbe('sched-probe');
  const out = await underSched(`${p} setscheduler 4000000 ${FIFO} 5; setpriv --reuid 1000 --regid 1000 --clear-groups ${p} setscheduler 0 ${FIFO} 5`);
  assert.equal(out.trim().split('\n'), ['ret=-1 errno=ESRCH', 'ret=-1 errno=EPERM']);
});

test('a target in the caller\'s own pid namespace is resolved there (NSpid)', async () => {
  if (!privileged('sched pid namespace')) return;
  const p = buildProbe('sched-probe');
  const out = await underSched(`unshare --pid --fork sh -c 'sleep 30 & d=$!; echo inner=$d; ${p} setscheduler $d ${FIFO} 9; ${p} get $d; kill $d'`);
  assert.equal(out.trim().split('\n'), ['inner=2', 'ret=0 errno=0', 'policy=1 priority=9 nice=0']);
});

test('without the policy, or with it unconfigured, the kernel refuses: EPERM', async () => {
  if (!privileged('sched baseline')) return;
  const p = buildProbe('sched-probe');
  const script = `chrt -f 10 true; echo chrt=$?; ${p} setscheduler 0 ${FIFO} 5`;
  const bare = await runWasmsup(['run', '--userns', '--', 'sh', '-c', script]);
  assert.is(bare.code, 0, bare.stderr);
  assert.equal(bare.stdout.trim().split('\n'), ['chrt=1', 'ret=-1 errno=EPERM']);
  assert.equal((await underSched(script, null)).trim().split('\n'), ['chrt=1', 'ret=-1 errno=EPERM']);
  // Configured without the RT policies: SCHED_FIFO stays the kernel's to refuse.
  assert.equal((await underSched(script, { policies: ['other', 'batch'] })).trim().split('\n'), ['chrt=1', 'ret=-1 errno=EPERM']);
});

test.run();
