// The mknod policy end to end, against the real kernel: an unprivileged container (root of a user
// namespace) gets exactly the nodes of LXD's allowlist, with what a privileged caller would get.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, symlinkSync, chmodSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { runWasmsup, tempDir, POLICY, mknodProbe } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { finalStats } from '../support/reliability.js';

const NS_ROOT = 100000;
const MKNOD = POLICY('mknod');
const major = (rdev: number) => Math.floor(rdev / 256) & 0xfff;
const minor = (rdev: number) => (rdev & 0xff) | ((Math.floor(rdev / 4096)) & 0xfff00);

/** A temporary directory owned by the namespace's root, as a container's rootfs would be. */
function nsOwnedDir() {
  const t = tempDir();
  chmodSync(t.path, 0o755);
  chownSync(t.path, NS_ROOT, NS_ROOT);
  return t;
}

test('without wasmsup, root of a user namespace cannot mknod c 1 3 (EPERM)', async () => {
  if (!privileged('userns mknod baseline')) return;
  const t = nsOwnedDir();
  try {
    const r = await runWasmsup(['run', '--userns', '--', mknodProbe(), 'one', join(t.path, 'null')]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout.trim(), 'one ret=-1 errno=EPERM');
  } finally { t.cleanup(); }
});

test('mknod policy: the node exists on the host, char 1:3, owned by the namespace root, mode per umask, usable', async () => {
  if (!privileged('mknod emulation')) return;
  const t = nsOwnedDir();
  try {
    const node = join(t.path, 'null');
    const r = await runWasmsup(['run', '--userns', '--policy', MKNOD, '--', 'sh', '-c',
      `umask 022 && ${mknodProbe()} one ${node} && echo data > ${node} && cat ${node} && echo usable`]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, 'one ret=0 errno=0 type=chr rdev=1:3 mode=0644 uid=0 gid=0\nusable\n');
    const st = lstatSync(node);
    assert.ok(st.isCharacterDevice());
    assert.is(major(st.rdev), 1);
    assert.is(minor(st.rdev), 3);
    assert.is(st.uid, NS_ROOT);
    assert.is(st.gid, NS_ROOT);
    assert.is(st.mode & 0o7777, 0o644);
  } finally { t.cleanup(); }
});

test('off the allowlist (1:4, block 7:0), or without CAP_MKNOD: EPERM as the kernel says; FIFOs never reach the supervisor', async () => {
  if (!privileged('mknod refusals')) return;
  const t = nsOwnedDir();
  try {
    const py = [
      'import os, stat',
      `d = ${JSON.stringify(t.path)}`,
      'def try_(name, mode, dev):',
      '  try:',
      '    os.mknod(os.path.join(d, name), mode, dev); print(name, "ok")',
      '  except OSError as e: print(name, e.errno)',
      'try_("port", stat.S_IFCHR | 0o666, os.makedev(1, 4))',
      'try_("loop", stat.S_IFBLK | 0o666, os.makedev(7, 0))',
      // A world-writable directory, so that the kernel's answer is about CAP_MKNOD, not EACCES.
      'os.chmod(d, 0o1777); os.setgid(1000); os.setuid(1000)',
      'try_("null_as_1000", stat.S_IFCHR | 0o666, os.makedev(1, 3))',
    ].join('\n');
    const r = await runWasmsup(['run', '--userns', '--policy', MKNOD, '--', 'python3', '-c', py]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, 'port 1\nloop 1\nnull_as_1000 1\n');
    for (const n of ['port', 'loop', 'null_as_1000']) assert.not.ok(existsSync(join(t.path, n)));

    const fifo = await runWasmsup(['run', '--log-level', 'debug', '--userns', '--policy', MKNOD, '--', 'mkfifo', join(t.path, 'fifo')]);
    assert.is(fifo.code, 0, fifo.stderr);
    assert.ok(lstatSync(join(t.path, 'fifo')).isFIFO());
    assert.match(fifo.stderr, /notifications=0\b/);
  } finally { t.cleanup(); }
});

test('i386 callers on an x86_64 host: the same policy, the compat syscall numbers', async () => {
  if (process.arch !== 'x64') { console.log('  skip: i386 compat: x86_64 hosts only'); return; }
  if (!privileged('i386 compat mknod')) return;
  const t = nsOwnedDir();
  try {
    const node = join(t.path, 'null32');
    const denied = await runWasmsup(['run', '--userns', '--', mknodProbe(), 'one-i386', node]);
    assert.is(denied.stdout.trim(), 'one_i386 ret=-1 errno=EPERM', denied.stderr);
    const r = await runWasmsup(['run', '--userns', '--policy', MKNOD, '--', 'sh', '-c', `umask 022 && ${mknodProbe()} one-i386 ${node}`]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, 'one_i386 ret=0 errno=0 type=chr rdev=1:3 mode=0644 uid=0 gid=0\n');
    assert.is(lstatSync(node).uid, NS_ROOT);
  } finally { t.cleanup(); }
});

/**
 * The same mknod calls as real root and as namespace root under wasmsup. `env` may force every call
 * through the helper's exact path; by default most take the worker thread's fast path, and those it
 * must not answer itself (EACCES/EPERM: other_users_dir, readonly_dir, sgid_dir) the helper's.
 */
async function differential(env: NodeJS.ProcessEnv | undefined) {
  const probe = mknodProbe();
  const real = tempDir();
  const ns = nsOwnedDir();
  try {
    const expected = execFileSync(probe, ['suite', real.path], { encoding: 'utf8' }).replaceAll(real.path, 'BASE');
    const r = await runWasmsup(['run', '--userns', '--policy', MKNOD, '--', probe, 'suite', ns.path], { env });
    assert.is(r.code, 0, r.stderr);
    const actual = r.stdout.replaceAll(ns.path, 'BASE');
    assert.ok(expected.split('\n').length > 25, expected);
    assert.fixture(actual, expected);
    // Seen from the host, the namespace's root is 100000 and its group 1000 is 101000.
    assert.is(lstatSync(join(ns.path, 'null')).uid, NS_ROOT);
    assert.is(lstatSync(join(ns.path, 'sgid', 'n')).gid, NS_ROOT + 1000);
  } finally { real.cleanup(); ns.cleanup(); }
}

test('differential: the same mknod calls as real root and as namespace root under wasmsup give the same results', async () => {
  if (!privileged('mknod differential')) return;
  await differential(undefined);
});

test('differential, every call through the helper (no fast path on the worker thread): the same results', async () => {
  if (!privileged('mknod differential, helper only')) return;
  await differential({ ...process.env, WASMSUP_TEST_FAULTS: 'mknod-helper-only=1' });
});

test('a setgid bit asked for in a setgid directory survives exactly when the kernel keeps it for the caller\'s own files', async () => {
  if (!privileged('mknod setgid')) return;
  const t = nsOwnedDir();
  try {
    // unmapped: owned by the host's root, which the namespace does not map, so its CAP_FSETID does
    // not cover it; mapped: owned by the namespace's root and group 5. Neither group is the caller's.
    const unmapped = join(t.path, 'unmapped'), mapped = join(t.path, 'mapped');
    mkdirSync(unmapped);
    chmodSync(unmapped, 0o2777);
    mkdirSync(mapped);
    chownSync(mapped, NS_ROOT, NS_ROOT + 5);
    chmodSync(mapped, 0o2777);
    // The regular file is the kernel's own verdict for this caller (the same mode_strip_sgid rule,
    // no supervisor involved); the node is the emulation's.
    const script = [
      'import os, sys',
      'os.umask(0)',
      'for d in sys.argv[1:]:',
      '    n, f = os.path.join(d, "n"), os.path.join(d, "f")',
      '    os.mknod(n, 0o20000 | 0o2755, os.makedev(1, 3))',
      '    os.close(os.open(f, os.O_CREAT | os.O_WRONLY, 0o2755))',
      '    print(oct(os.lstat(n).st_mode & 0o7777), oct(os.lstat(f).st_mode & 0o7777))',
    ].join('\n');
    const r = await runWasmsup(['run', '--userns', '--policy', MKNOD, '--', 'python3', '-c', script, unmapped, mapped]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, '0o755 0o755\n0o2755 0o2755\n');
    assert.ok(lstatSync(join(mapped, 'n')).isCharacterDevice());
  } finally { t.cleanup(); }
});

test('an absolute symlink inside a chroot cannot place a node outside it', async () => {
  if (!privileged('chroot symlink escape')) return;
  const t = nsOwnedDir();
  const name = `wasmsup-escape-${process.pid}`;
  try {
    const root = t.path;
    mkdirSync(join(root, 'etc'));
    chownSync(join(root, 'etc'), NS_ROOT, NS_ROOT);
    symlinkSync('/etc', join(root, 'esc'));
    copyFileSync(mknodProbe(), join(root, 'probe'));
    chmodSync(join(root, 'probe'), 0o755);
    const r = await runWasmsup(['run', '--userns', '--policy', MKNOD, '--', 'chroot', root, '/probe', 'one', `/esc/${name}`]);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /^one ret=0 errno=0 type=chr rdev=1:3/);
    assert.ok(lstatSync(join(root, 'etc', name)).isCharacterDevice());
    assert.not.ok(existsSync(join('/etc', name)));
  } finally { t.cleanup(); }
});

test('the overlayfs whiteout c 0:0 is the kernel\'s: made with the caller\'s ids, never routed to wasmsup', async () => {
  if (!privileged('whiteout in a user namespace')) return;
  const t = nsOwnedDir();
  try {
    const node = join(t.path, 'wh');
    const r = await runWasmsup(['run', '--log-level', 'debug', '--userns', '--policy', POLICY('mknod'), '--', 'mknod', node, 'c', '0', '0']);
    assert.is(r.code, 0, r.stderr);
    const st = lstatSync(node);
    assert.ok(st.isCharacterDevice());
    assert.is(st.rdev, 0);
    assert.is(st.uid, 100000);
    assert.is(finalStats(r.stderr).notifications, 0);
  } finally { t.cleanup(); }
});

test.run();
