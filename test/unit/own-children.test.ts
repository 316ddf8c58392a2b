// This process's children as reapAdopted finds them (src/caller/workload.ts, ownChildren): from the
// kernel's per-thread children lists, the same set a walk of all of /proc gives. Any user.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { ownChildren, procEntry, scanProc } from '../../src/caller/workload.js';

test('ownChildren lists the children a walk of /proc finds (running, then zombie until reaped)', async () => {
  const children = [spawn('sleep', ['30']), spawn('sleep', ['30'])];
  try {
    const pids = children.map((c) => c.pid!);
    const listed = ownChildren();
    if (listed === null) { console.log('  (no /proc/PID/task/TID/children on this kernel: the walk is used)'); return; }
    for (const pid of pids) assert.ok(listed.includes(pid), `${pid} not in ${listed.join(' ')}`);
    const walked = [...scanProc().values()].filter((p) => p.ppid === process.pid).map((p) => p.pid).sort();
    assert.equal([...listed].sort(), walked);
    const entry = procEntry(pids[0]!);
    assert.is(entry?.ppid, process.pid);
    assert.is(entry?.zombie, false);
  } finally {
    for (const c of children) c.kill('SIGKILL');
  }
});

test('procEntry of a pid that does not exist is null', () => {
  assert.is(procEntry(2 ** 22 + 1), null);
});

test.run();
