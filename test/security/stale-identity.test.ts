// Attack: stale caller identities. The kernel reuses a user namespace's inode number as soon as the
// namespace is freed, so anything cached by that number may describe a namespace that no longer
// exists. A workload creates successive nested user namespaces, one after the other, each mapping
// its only uid to a different id; each makes an intercepted call whose policy answers with the
// effective uid it was told (test/fixtures/policies/caller-ids.ts). Each must see its own.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runWasmsup, TEST_POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';

const ROUNDS = 8;

test('successive nested user namespaces mapped to different uids: the policy sees each one\'s own euid', async () => {
  if (!privileged('stale identity')) return;
  // Each round: a namespace whose only uid is 2000+i (the workload's root mapped to it), in which
  // getppid() returns what the policy was told; and the namespace's inode, to show that it is reused.
  // The pause lets the kernel's deferred free of the previous namespace run, so that the next one
  // gets its inode number.
  const script = Array.from({ length: ROUNDS }, (_, i) => 2000 + i).map((uid) =>
    `unshare --map-user=${uid} --map-group=${uid} python3 -c 'import os; print(${uid}, os.getppid(), os.geteuid(), os.readlink("/proc/self/ns/user"))'`,
  ).join(' && sleep 0.1 && ');
  const r = await runWasmsup(['run', '--userns', '--policy', TEST_POLICY('caller-ids'), '--', 'sh', '-c', script], { timeoutMs: 30000 });
  assert.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => l.split(' '));
  assert.is(lines.length, ROUNDS, r.stdout);
  const inodes = new Set(lines.map((l) => l[3]));
  // Not an assertion on the kernel, only a note that the attack had something to work with.
  if (inodes.size === ROUNDS) console.log('  note: no namespace inode was reused in this run');
  for (const [expected, seenByPolicy, ownEuid] of lines) {
    assert.is(ownEuid, expected, r.stdout);
    assert.is(seenByPolicy, expected, `the policy was told another namespace's euid:\n${r.stdout}`);
  }
});

test.run();
