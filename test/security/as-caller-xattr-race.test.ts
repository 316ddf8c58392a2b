// AS_CALLER's setxattr/removexattr by path (commit b28a6ad): the attacker, root of its user namespace
// and chrooted into a directory of its own, races a rename of the last component between its own
// file and a symlink to a host file outside its root (an absolute link, and one through /proc/1/root)
// while it calls setxattr and removexattr through a policy that emulates them as the caller. Whatever
// the host does must stay inside the attacker's root: the host file neither gains nor loses an
// xattr. Before b28a6ad the fast way (on a supervisor thread) named the last component a second time
// (setxattrat(dir, last)), following the swapped-in symlink through /proc/self/root (the
// supervisor's own root: /proc/self is the supervisor there) to the host file. With the fix reverted
// (2026-12-02, 3,000 rounds, twice) the host file gained user.pwned and lost user.keep both times;
// with it, never. The policy intercepts only the xattr calls, so the attacker's renames are the
// kernel's and race the host freely (with renames emulated too, the data plane serialises them with
// the setxattr and the window never opens).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, lchownSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { runWasmsup, tempDir, TEST_POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { PYTHON_RACE } from '../support/python-race.js';
import { NS_ROOT } from '../support/syscall-probe.js';

const ROUNDS = 3000;

/** user.* xattrs of PATH as the host's root sees them, "name=value;..." sorted. */
function hostXattrs(path: string): string {
  return execFileSync('python3', ['-c', `import os,sys
p=sys.argv[1]
print(";".join(f"{n}={os.getxattr(p,n).decode()}" for n in sorted(os.listxattr(p)) if n.startswith("user.")))`, path], { encoding: 'utf8' }).trim();
}

const ATTACK = (root: string, link: string) => `${PYTHON_RACE}
os.chroot(${JSON.stringify(root)}); os.chdir("/")
stop = exchanging(b"${link}", b"own")
for i in range(${ROUNDS}):
  try: os.setxattr("${link}", "user.pwned", b"1"); note("set-ok")
  except OSError as e: note("set-E%d" % e.errno)
  try: os.removexattr("${link}", "user.keep"); note("remove-ok")
  except OSError as e: note("remove-E%d" % e.errno)
stop()
print(sorted(seen.items()))
`;

for (const [label, target] of [['an absolute symlink', (host: string) => host], ['a symlink through /proc/self/root', (host: string) => `/proc/self/root${host}`]] as const) {
  test(`setxattr/removexattr through AS_CALLER while the last component is swapped with ${label} to a host file: the host file is untouched`, async () => {
    if (!privileged('as-caller xattr race')) return;
    const t = tempDir('wasmsup-sec-ac-xattr-');
    const root = join(t.path, 'root');
    const host = join(t.path, 'host-file');
    let mounted = false;
    try {
      chmodSync(t.path, 0o755);
      mkdirSync(root);
      chownSync(root, NS_ROOT, NS_ROOT);
      mkdirSync(join(root, 'proc'));
      execFileSync('mount', ['--bind', '/proc', join(root, 'proc')]);
      mounted = true;
      // The host file belongs to the namespace's root: only the root stands between.
      writeFileSync(host, 'x');
      chownSync(host, NS_ROOT, NS_ROOT);
      execFileSync('setfattr', ['-n', 'user.keep', '-v', '1', host]);
      writeFileSync(join(root, 'own'), 'x');
      chownSync(join(root, 'own'), NS_ROOT, NS_ROOT);
      symlinkSync(target(host), join(root, 'race'));
      lchownSync(join(root, 'race'), NS_ROOT, NS_ROOT);
      const r = await runWasmsup(['run', '--userns', '--policy', TEST_POLICY('as-caller-xattr'), '--', 'python3', '-c', ATTACK(root, 'race')]);
      console.log(`  ${label} (${ROUNDS} rounds): ${r.stdout.trim()}; host file: ${hostXattrs(host)}`);
      assert.is(r.code, 0, r.stderr);
      assert.is(hostXattrs(host), 'user.keep=1');
      // The attacker's own file was reached: the race ran.
      assert.match(r.stdout, /'set-ok', \d+/);
    } finally {
      if (mounted) spawnSync('umount', ['-l', join(root, 'proc')]);
      t.cleanup();
    }
  });
}

test.run();
