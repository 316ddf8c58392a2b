// The sysinfo policy end to end, with a C probe calling sysinfo(2) natively and through the i386
// entry, in a user-namespaced workload placed in a memory cgroup of its own: uptime since the
// workload started, its own task count, its memory limit as total RAM, the host's RAM without one.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { runWasmsup, POLICY, buildProbe } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { createCgroup, memoryHierarchy } from '../support/cgroups.js';

const POLICY_FILE = POLICY('sysinfo');
const LIMIT = 256 * 1024 * 1024;
const isX64 = process.arch === 'x64';

function parse(block: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of block.trim().split('\n')) {
    const [k, v] = line.split('=');
    out[k!] = Number(v);
  }
  return out;
}

/** Probe outputs (native, then i386 on x86_64) from `sh` with two sleeping children: 4 tasks. */
function script(probe: string): string {
  const calls = [`${probe}`, ...(isX64 ? [`echo --- && ${probe} i386`] : [])].join(' && ');
  return `sleep 60 & a=$!; sleep 60 & b=$!; ${calls}; kill $a $b`;
}

function results(stdout: string): Record<string, number>[] {
  return stdout.split('---\n').map(parse);
}

const hostUptime = (): number => Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);

test('without the policy: the host\'s uptime and task count', async () => {
  if (!privileged('sysinfo baseline')) return;
  const before = Math.floor(hostUptime());
  const r = await runWasmsup(['run', '--userns', '--', 'sh', '-c', script(buildProbe('sysinfo-probe'))]);
  assert.is(r.code, 0, r.stderr);
  const [native] = results(r.stdout);
  assert.ok(native!.uptime >= before, `uptime ${native!.uptime} < host ${before}`);
  assert.ok(native!.procs > 4, `procs ${native!.procs}`);
  assert.is(native!.totalram, totalmem());
});

test('sysinfo policy, no memory limit: workload uptime, the workload\'s 4 tasks, the host\'s RAM', async () => {
  const mem = memoryHierarchy();
  if (!privileged('sysinfo emulation', mem === null ? 'needs a memory cgroup hierarchy' : null)) return;
  const cg = createCgroup(mem!.root, `wasmsup-sysinfo-${process.pid}`);
  try {
    const hostBefore = hostUptime();
    const r = await runWasmsup(['run', '--userns', '--policy', POLICY_FILE, '--', 'sh', '-c', script(buildProbe('sysinfo-probe'))], { prefix: cg.prefix });
    assert.is(r.code, 0, r.stderr);
    const all = results(r.stdout);
    assert.is(all.length, isX64 ? 2 : 1, r.stdout);
    for (const s of all) {
      // Seconds since the workload started: far below the host's, which is > 60 s on any machine that
      // has run this test suite this far; and never negative.
      assert.ok(s.uptime! >= 0 && s.uptime! < hostBefore, `uptime ${s.uptime} (host ${hostBefore})`);
      assert.is(s.procs, 4, r.stdout);
      assert.is(s.totalram, totalmem());
    }
  } finally { cg.remove(); }
});

test('sysinfo policy with a memory limit: totalram is the limit, freeram within it, on both ABIs', async () => {
  const mem = memoryHierarchy();
  if (!privileged('sysinfo memory limit', mem === null ? 'needs a memory cgroup hierarchy' : null)) return;
  const cg = createCgroup(mem!.root, `wasmsup-sysinfo-limit-${process.pid}`);
  try {
    writeFileSync(join(cg.dir, mem!.version === 1 ? 'memory.limit_in_bytes' : 'memory.max'), String(LIMIT));
    const r = await runWasmsup(['run', '--userns', '--policy', POLICY_FILE, '--', 'sh', '-c', script(buildProbe('sysinfo-probe'))], { prefix: cg.prefix });
    assert.is(r.code, 0, r.stderr);
    const all = results(r.stdout);
    for (const s of all) {
      assert.is(s.totalram, LIMIT, r.stdout);
      assert.ok(s.freeram! > 0 && s.freeram! < LIMIT, `freeram ${s.freeram}`);
      assert.is(s.procs, 4);
    }
    // Within 32 bits, the i386 struct counts in bytes like the native one.
    if (isX64) assert.is(all[1]!.mem_unit, 1);
  } finally { cg.remove(); }
});

test('sysinfo(NULL) fails with EFAULT, as the kernel\'s would', async () => {
  const r = await runWasmsup(['run', '--policy', POLICY_FILE, '--', buildProbe('sysinfo-probe'), 'null']);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'null ret=-1 errno=14\n');
});

test.run();
