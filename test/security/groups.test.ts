// Attack (fidelity and privilege): a caller's supplementary groups were cut at 64. A caller with
// 100 groups, of which only the 100th may write a directory, asks for an emulated mknod there: the
// kernel would let it (group write), so the emulation must too — with the caller's whole group list,
// never a truncated one (fewer groups than the caller has is a wrong EACCES; more would be a grant
// it does not have). The policy must be told the real count as well.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runWasmsup, tempDir, POLICY, TEST_POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';

const NS_ROOT = 100000;
const GROUPS = Array.from({ length: 100 }, (_, i) => 2001 + i); // the kernel keeps them sorted: 2100 is the 100th
const LAST = GROUPS[GROUPS.length - 1]!;

/** The caller: root of the workload's namespace without the DAC capabilities, with `groups`. */
function asCaller(command: string[], groups = GROUPS): string[] {
  return ['setpriv', `--groups=${groups.join(',')}`, '--bounding-set=-dac_override,-dac_read_search,-fowner', '--', ...command];
}

/** In `root` (made the namespace root's): a 0770 directory of another namespace user that only group LAST may write. */
function lastGroupDir(root: string): string {
  chmodSync(root, 0o755);
  chownSync(root, NS_ROOT, NS_ROOT);
  const dir = join(root, 'shared');
  mkdirSync(dir);
  chownSync(dir, NS_ROOT + 1000, NS_ROOT + LAST);
  chmodSync(dir, 0o770);
  return dir;
}

const MKNOD = String.raw`
import os, stat, sys
print(len(os.getgroups()), flush=True)
try:
    os.mknod(sys.argv[1], stat.S_IFCHR | 0o666, os.makedev(1, 3)); print("mknod 0")
except OSError as e:
    print("mknod", e.errno)
`;

async function attempt(env: NodeJS.ProcessEnv | undefined, name: string) {
  const t = tempDir();
  try {
    const dir = lastGroupDir(t.path);
    const node = join(dir, name);
    const r = await runWasmsup(['run', '--userns', '--policy', POLICY('mknod'), '--', ...asCaller(['python3', '-c', MKNOD, node])], { env });
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, '100\nmknod 0\n', `${r.stdout}\n${r.stderr}`);
    const st = lstatSync(node);
    assert.ok(st.isCharacterDevice());
    assert.is(st.uid, NS_ROOT);
  } finally { t.cleanup(); }
}

test('100 supplementary groups, only the 100th grants write: the emulated mknod succeeds (worker fast path)', async () => {
  if (!privileged('100 groups, fast path')) return;
  await attempt(undefined, 'fast');
});

test('100 supplementary groups, only the 100th grants write: the emulated mknod succeeds (helper exact path)', async () => {
  if (!privileged('100 groups, helper path')) return;
  await attempt({ ...process.env, WASMSUP_TEST_FAULTS: 'mknod-helper-only=1' }, 'exact');
});

test('without the 100th group the same call is refused (EACCES), as the kernel would', async () => {
  if (!privileged('99 groups')) return;
  const t = tempDir();
  try {
    const dir = lastGroupDir(t.path);
    const r = await runWasmsup(['run', '--userns', '--policy', POLICY('mknod'), '--', ...asCaller(['python3', '-c', MKNOD, join(dir, 'n')], GROUPS.slice(0, -1))]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, '99\nmknod 13\n', r.stderr);
    assert.not.ok(existsSync(join(dir, 'n')));
  } finally { t.cleanup(); }
});

test('the policy is told the caller\'s real number of groups', async () => {
  if (!privileged('ngroups seen by a policy')) return;
  const r = await runWasmsup(['run', '--userns', '--policy', TEST_POLICY('caller-ids'), '--',
    ...asCaller(['python3', '-c', 'import os; print(os.getpgid(0x7ffffffe))'])]);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, '100\n', r.stderr);
});

test.run();
