// Hostile arguments (docs/reliability.md, item 4): NULL, unmapped and unterminated pointers, 1 MiB
// strings, a path rewritten by another thread while the call is pending, a caller gone (its tid free
// for reuse) between the host's read and its act. Each gets the kernel's own errno and nothing happens
// beyond what the policy approved.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { runWasmsup, tempDir, POLICY, TEST_POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { faultEnv, finalStats, nsOwnedDir, reliabilityProbe } from '../support/reliability.js';

const MKNOD = POLICY('mknod');

test('mknod with NULL, unmapped, unterminated, 1 MiB and PATH_MAX paths: the errnos real root gets', async () => {
  if (!privileged('hostile mknod paths')) return;
  const probe = reliabilityProbe();
  const real = tempDir();
  const ns = nsOwnedDir();
  try {
    const expected = execFileSync(probe, ['hostile-mknod', real.path], { encoding: 'utf8' });
    const r = await runWasmsup(['run', '--userns', '--policy', MKNOD, '--', probe, 'hostile-mknod', ns.path]);
    assert.is(r.code, 0, r.stderr);
    assert.fixture(r.stdout, expected);
    // The kernel's answers, spelled out, so that a kernel change shows here rather than silently.
    assert.fixture(expected, [
      'null ret=-1 errno=EFAULT', 'unmapped ret=-1 errno=EFAULT', 'unterminated_page ret=-1 errno=ENAMETOOLONG',
      'unterminated_at_hole ret=-1 errno=EFAULT', 'terminated_at_edge ret=-1 errno=ENAMETOOLONG', 'short_at_edge ret=0 errno=0',
      'one_mib ret=-1 errno=ENAMETOOLONG', 'one_mib_slashes ret=-1 errno=ENAMETOOLONG', 'path_max_minus_1 ret=-1 errno=ENOENT',
      'path_max ret=-1 errno=ENAMETOOLONG', 'empty ret=-1 errno=ENOENT', '',
    ].join('\n'));
    // Only the one valid name was created, on both sides.
    assert.equal(readdirSync(ns.path), ['edge1']);
    assert.equal(readdirSync(real.path), ['edge1']);
  } finally { real.cleanup(); ns.cleanup(); }
});

test('read_string / read_memory on hostile addresses: -EFAULT, -ENAMETOOLONG, short counts, 1 MiB intact', async () => {
  if (!privileged('hostile read_string/read_memory')) return;
  const r = await runWasmsup(['run', '--policy', TEST_POLICY('read-args'), '--', reliabilityProbe(), 'read-args']);
  assert.is(r.code, 0, r.stderr);
  assert.fixture(r.stdout, [
    'string_ok ret=5 errno=0',
    'string_null ret=-1 errno=EFAULT',
    'string_unmapped ret=-1 errno=EFAULT',
    'string_unterminated_at_hole ret=-1 errno=EFAULT',
    'string_longer_than_cap ret=-1 errno=ENAMETOOLONG',
    'string_cap_zero ret=-1 errno=ENAMETOOLONG',
    'string_one_mib ret=1048576 errno=0',
    'string_one_mib_small_cap ret=-1 errno=ENAMETOOLONG',
    'memory_ok ret=8 errno=0',
    'memory_null ret=-1 errno=EFAULT',
    'memory_straddles_hole ret=4 errno=0', // the bytes before the hole, as process_vm_readv counts them
    'memory_unmapped ret=-1 errno=EFAULT',
    'memory_one_mib ret=1048576 errno=0',
    'memory_kernel_address ret=-1 errno=EFAULT',
    'memory_noncanonical ret=-1 errno=EFAULT',
    '',
  ].join('\n'));
});

test('a second thread rewrites the path while the call is pending: the node is made at the path read, never the other', async () => {
  if (!privileged('path rewritten while pending')) return;
  const t = nsOwnedDir();
  try {
    // The host reads the path at once, then (fault injection) waits 1.5 s before acting; the workload's
    // second thread rewrites every byte of the buffer 300 ms into the call.
    const r = await runWasmsup(['run', '--userns', '--policy', MKNOD, '--', reliabilityProbe(), 'rewrite', t.path, '300'],
      { env: faultEnv('delay-after-path-read-ms=1500') });
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, 'rewrite ret=0 errno=0 buffer-now=other first=chr other=none\n');
    assert.equal(readdirSync(t.path).sort(), ['first-path', 'warm-up']);
  } finally { t.cleanup(); }
});

test('the caller dies between the host\'s read and its act (its tid free for reuse): nothing is created', async () => {
  if (!privileged('caller gone before the act')) return;
  const t = nsOwnedDir();
  try {
    const r = await runWasmsup(['run', '--log-level', 'debug', '--userns', '--policy', MKNOD, '--', reliabilityProbe(), 'gone-caller', t.path, '300'],
      { env: faultEnv('delay-after-path-read-ms=1000') });
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, 'child killed=1\ngone node=none; alive ret=0\n');
    assert.equal(readdirSync(t.path).sort(), ['alive', 'warm-up']);
    const stats = finalStats(r.stderr);
    // The gone caller's emulation was abandoned (ID_VALID failed), the living ones' (and the warm-up) done.
    assert.is(stats.emulated, 2);
    assert.is(stats.emulationFailed, 1);
  } finally { t.cleanup(); }
});

test.run();
