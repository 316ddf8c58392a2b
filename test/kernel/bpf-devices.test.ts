// The bpf-devices policy end to end: a nested container runtime (test/probe/bpf-devices-probe.c), root
// of a user namespace that owns a cgroup2 subtree, loads a BPF_PROG_TYPE_CGROUP_DEVICE program denying
// /dev/null and attaches it to a child cgroup; a process there gets EPERM opening /dev/null.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runWasmsup, POLICY, buildProbe } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { cgroup2Mount, createCgroup } from '../support/cgroups.js';

const NS_ROOT = 100000;
const POLICY_FILE = POLICY('bpf-devices');

function lines(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.trim().split('\n')) {
    const space = line.indexOf(' ');
    out[line.slice(0, space)] = line.slice(space + 1);
  }
  return out;
}

test('without the policy, root of a user namespace cannot load a device program (EPERM)', async () => {
  const top = cgroup2Mount();
  if (!privileged('bpf baseline', top === null ? 'needs a cgroup2 mount' : null)) return;
  const cg = createCgroup(top!, `wasmsup-bpf-base-${process.pid}`, NS_ROOT);
  try {
    const r = await runWasmsup(['run', '--userns', '--', buildProbe('bpf-devices-probe'), cg.dir, top!], { prefix: cg.prefix });
    assert.is(r.code, 0, r.stderr);
    const l = lines(r.stdout);
    assert.is(l.load, 'ret=-1 errno=EPERM');
    assert.is(l.in_ctr, 'null=0 zero=0');
  } finally { cg.remove(['ctr']); }
});

test('bpf-devices: load (fd injected, log written back), attach only inside the delegated subtree, /dev/null denied there', async () => {
  const top = cgroup2Mount();
  if (!privileged('bpf device programs', top === null ? 'needs a cgroup2 mount' : null)) return;
  const cg = createCgroup(top!, `wasmsup-bpf-${process.pid}`, NS_ROOT);
  try {
    const r = await runWasmsup(['run', '--userns', '--policy', POLICY_FILE, '--', buildProbe('bpf-devices-probe'), cg.dir, top!], { prefix: cg.prefix });
    assert.is(r.code, 0, r.stderr);
    const l = lines(r.stdout);
    // The fd is the lowest free one, close-on-exec like the kernel's own bpf fds; log_true_size came back.
    assert.is(l.load, 'ok lowest_fd=1 cloexec=1 log_true_size_set=1');
    // A program the verifier refuses: its errno, and its log in the caller's buffer.
    assert.is(l.badload, 'ret=-1 errno=EACCES log_true_size_matches=1 log_has_r0=1');
    // Other program types continue to the kernel, which refuses a user namespace.
    assert.is(l.socketfilter, 'ret=-1 errno=EPERM');
    if (process.arch === 'x64') assert.is(l.load_i386, 'ok=1 errno=0');
    // The subtree's root holds the supervisor; the cgroup2 root is not the workload's.
    assert.is(l.attach_root, 'ret=-1 errno=EPERM');
    assert.is(l.attach_top, 'ret=-1 errno=EPERM');
    assert.is(l.attach_ctr, 'ret=0 errno=0');
    assert.is(l.in_ctr, 'null=EPERM zero=0');
    assert.is(l.outside, 'null=0');
    assert.is(l.detach_ctr, 'ret=0 errno=0');
    assert.is(l.after_detach, 'null=0 zero=0');
    assert.is(l.rmdir, 'ret=0 errno=0');
  } finally { cg.remove(['ctr']); }
});

test.run();
