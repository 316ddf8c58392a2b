// Attack: the workload's root using the sched policy to raise the priority of a process that is not
// the workload's — a host process named by its pid, or a pid the workload saw for its own child and
// that a host process holds by now (the child exited and was reaped, the number was given again). The
// host acts only on a thread it has pinned with a pidfd and found in the workload's user namespace (and
// the caller's pid namespace); anything else is the kernel's to answer, with the caller's own
// privileges: EPERM. The host process's policy is read back from outside.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runWasmsup, POLICY, buildProbe, tempDir } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { native } from '../../src/native.js';

const CONFIG = JSON.stringify({ policies: ['fifo', 'rr', 'other', 'batch', 'idle'], maxRtPriority: 50, minNice: -10 });

function hostSleeper(): ChildProcess {
  return spawn('sleep', ['60'], { stdio: 'ignore' });
}

test('a host process named by its pid: EPERM for all three calls, its policy unchanged', async () => {
  if (!privileged('sched host pid')) return;
  const dir = tempDir('wasmsup-sched-attack-');
  const victim = hostSleeper();
  try {
    writeFileSync(join(dir.path, 'sched.json'), CONFIG);
    const p = buildProbe('sched-probe'), pid = victim.pid!;
    const r = await runWasmsup(['run', '--userns', '--kill-on-exit', '--policy', POLICY('sched'), '--policy-config', join(dir.path, 'sched.json'), '--',
      'sh', '-c', `chrt -f -p 5 ${pid}; echo chrt=$?; ${p} setscheduler ${pid} 1 5; ${p} setparam ${pid} 0; ${p} setattr ${pid} 0 0 -10 0`]);
    assert.is(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n'), ['chrt=1', 'ret=-1 errno=EPERM', 'ret=-1 errno=EPERM', 'ret=-1 errno=EPERM']);
    assert.is(native.schedGetscheduler(pid), 0, 'still SCHED_OTHER');
    assert.is(native.schedGetparam(pid), 0);
  } finally {
    victim.kill('SIGKILL');
    dir.cleanup();
  }
});

test('a pid reused by a host process after the workload\'s child exited: EPERM, the host process unchanged', async () => {
  if (!privileged('sched reused pid')) return;
  const dir = tempDir('wasmsup-sched-reuse-');
  chmodSync(dir.path, 0o777); // the workload's root is uid 100000 on the host
  let victim: ChildProcess | null = null;
  try {
    writeFileSync(join(dir.path, 'sched.json'), CONFIG);
    const d = dir.path, p = buildProbe('sched-probe');
    const run = runWasmsup(['run', '--userns', '--kill-on-exit', '--policy', POLICY('sched'), '--policy-config', join(d, 'sched.json'), '--',
      'sh', '-c', `sleep 60 & c=$!; echo $c > ${d}/pid; kill $c; wait $c; touch ${d}/reaped; `
        + `while [ ! -e ${d}/go ]; do sleep 0.05; done; chrt -f -p 5 $c; echo chrt=$?; ${p} setscheduler $c 1 5`]);
    for (let i = 0; i < 400 && !existsSync(join(d, 'reaped')); i++) await sleep(25);
    const reused = Number(readFileSync(join(d, 'pid'), 'utf8'));
    // Hand the number to a host process: the kernel gives ns_last_pid + 1 next (retried if another
    // process took it first).
    for (let attempt = 0; attempt < 20; attempt++) {
      writeFileSync('/proc/sys/kernel/ns_last_pid', String(reused - 1));
      victim = hostSleeper();
      if (victim.pid === reused) break;
      victim.kill('SIGKILL');
      victim = null;
    }
    assert.ok(victim !== null, `could not give pid ${reused} to a host process`);
    writeFileSync(join(d, 'go'), '');
    const r = await run;
    assert.is(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n'), ['chrt=1', 'ret=-1 errno=EPERM']);
    assert.is(native.schedGetscheduler(reused), 0, 'the host process is still SCHED_OTHER');
  } finally {
    victim?.kill('SIGKILL');
    dir.cleanup();
  }
});

test.run();
