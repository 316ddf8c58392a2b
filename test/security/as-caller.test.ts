// Attacks on AS_CALLER's path resolution, written as a hostile workload would: root of a user
// namespace, chrooted into its own root directory, whose calls the host performs as the caller
// (docs/security.md, "AS_CALLER"). What must hold: the act never lands outside the caller's root or
// where the caller may not write, whatever the path (a replaced one with "..", a /proc/self magic
// link) or a symlink swapped in while the host holds the call.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { runWasmsup, tempDir, TEST_POLICY, buildProbe } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';

const NS_ROOT = 100000;
const ALL = TEST_POLICY('as-caller-all');
const LEND = TEST_POLICY('as-caller-lend');
const REPLACE = TEST_POLICY('as-caller-replace');
const FAST = process.env;
const EXACT = { ...process.env, WASMSUP_TEST_FAULTS: 'mknod-helper-only=1' };

function nsOwned(path: string, mode = 0o755): string {
  chmodSync(path, mode);
  chownSync(path, NS_ROOT, NS_ROOT);
  return path;
}

/** The caller's root: owned by the namespace's root, with the static probe at /probe. */
function callerRoot() {
  const t = tempDir();
  nsOwned(t.path);
  copyFileSync(buildProbe('as-caller-probe'), join(t.path, 'probe'));
  chmodSync(join(t.path, 'probe'), 0o755);
  return t;
}

const line = (out: string) => out.trim().replace(/ +/g, ' ');

for (const [way, env] of [['fast', FAST], ['exact', EXACT]] as const) {
  test(`${way} way: a replaced path with ".." ("/../../../../DIR/NAME") stays in the caller's root`, async () => {
    if (!privileged('as-caller dotdot')) return;
    const root = callerRoot();
    const outside = tempDir(); // the same path on the host: writable by the namespace root
    nsOwned(outside.path, 0o777);
    try {
      // The directory the replaced path names exists in the caller's root too.
      mkdirSync(join(root.path, outside.path), { recursive: true });
      nsOwned(join(root.path, outside.path));
      const r = await runWasmsup(['run', '--userns', '--policy', REPLACE, '--', 'chroot', root.path, '/probe', 'one', 'mkdir',
        `up:${outside.path.slice(1)}/escaped`], { env });
      assert.is(r.code, 0, r.stderr);
      assert.is(line(r.stdout), 'mkdir ret=0 errno=0');
      assert.ok(existsSync(join(root.path, outside.path, 'escaped')), 'created in the caller\'s root');
      assert.is(readdirSync(outside.path).length, 0, 'created on the host');
    } finally { root.cleanup(); outside.cleanup(); }
  });

  test(`${way} way: /proc/self/root/... is ELOOP (it would be the supervisor's root), where the kernel alone follows the caller's`, async () => {
    if (!privileged('as-caller magic links')) return;
    const t = tempDir();
    nsOwned(t.path);
    const probe = buildProbe('as-caller-probe');
    try {
      const viaProc = `/proc/self/root${t.path}`;
      const r = await runWasmsup(['run', '--userns', '--policy', ALL, '--', 'sh', '-c',
        `${probe} one mkdir ${viaProc}/a; ${probe} one symlink ${viaProc}/b; ${probe} one chown0 ${viaProc}; ${probe} one unlink /proc/self/cwd/x`], { env });
      assert.is(r.code, 0, r.stderr);
      assert.is(r.stdout.replace(/ +/g, ' '), 'mkdir ret=-1 errno=ELOOP\nsymlink ret=-1 errno=ELOOP\nchown0 ret=-1 errno=ELOOP\nunlink ret=-1 errno=ELOOP\n');
      assert.is(readdirSync(t.path).length, 0);
      const k = await runWasmsup(['run', '--userns', '--', probe, 'one', 'mkdir', `${viaProc}/a`], { env });
      assert.is(line(k.stdout), 'mkdir ret=0 errno=0'); // the kernel alone: the caller's own /proc/self
    } finally { t.cleanup(); }
  });

  for (const target of ['outside', 'locked'] as const) {
    test(`${way} way: a symlink swapped in while the host holds the call (lending CAP_MKNOD) cannot move the act ${target === 'outside' ? 'outside the caller\'s root' : 'where the caller may not write'}`, async () => {
      if (!privileged('as-caller swap')) return;
      const root = callerRoot();
      const outside = tempDir(); // writable by the namespace root, outside its root
      nsOwned(outside.path, 0o777);
      try {
        mkdirSync(join(root.path, 'w'));
        nsOwned(join(root.path, 'w'));
        mkdirSync(join(root.path, 'locked'), 0o755); // the host's root owns it: the caller may not write
        symlinkSync('/w', join(root.path, 'sub'));
        // What the swapper renames over sub: the host directory by its absolute path (which, resolved
        // in the caller's root, names nothing), or the locked directory.
        symlinkSync(target === 'outside' ? outside.path : '/locked', join(root.path, 'sub.next'));
        const faults = `${env.WASMSUP_TEST_FAULTS ? `${env.WASMSUP_TEST_FAULTS},` : ''}delay-after-path-read-ms=500`;
        const r = await runWasmsup(['run', '--userns', '--max-lend', 'mknod,chown', '--policy', LEND, '--',
          'chroot', root.path, '/probe', 'one', 'swap-mknod', 'sub/p'], { env: { ...env, WASMSUP_TEST_FAULTS: faults } });
        assert.is(r.code, 0, r.stderr);
        const [result, swapped] = r.stdout.trim().split('\n');
        assert.is(swapped, 'swapped=1', r.stdout);
        // After the swap, sub names a directory that does not exist in the root, or one it may not write.
        assert.is(line(result!), target === 'outside' ? 'swap-mknod ret=-1 errno=ENOENT' : 'swap-mknod ret=-1 errno=EACCES');
        assert.is(readdirSync(outside.path).length, 0, 'nothing outside the root');
        assert.is(readdirSync(join(root.path, 'locked')).length, 0, 'nothing in the locked directory');
      } finally { root.cleanup(); outside.cleanup(); }
    });
  }
}

test.run();
