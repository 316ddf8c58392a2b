// AS_CALLER against the real kernel: every covered call performed by the host as the caller gives
// exactly what the kernel alone gives that caller (results, errnos, owners, modes, link counts,
// xattrs); a replaced path is resolved in the caller's root; lent capabilities work, and --max-lend
// refuses a lend beyond it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { runWasmsup, tempDir, TEST_POLICY, buildProbe } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';

const NS_ROOT = 100000;
const ALL = TEST_POLICY('as-caller-all');
const LEND = TEST_POLICY('as-caller-lend');
const REPLACE = TEST_POLICY('as-caller-replace');

/** A directory owned by the namespace's root with a tmpfs at mnt (another mount, for EXDEV). */
function suiteDir() {
  const t = tempDir();
  chmodSync(t.path, 0o755);
  chownSync(t.path, NS_ROOT, NS_ROOT);
  const mnt = join(t.path, 'mnt');
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `uid=${NS_ROOT},gid=${NS_ROOT},size=1m`, 'as-caller-test', mnt]);
  return {
    path: t.path,
    cleanup: () => {
      try { execFileSync('umount', [mnt]); } finally { t.cleanup(); }
    },
  };
}

/** A root directory for a chrooted caller, owned by the namespace's root, holding the probe. */
function chrootDir() {
  const t = tempDir();
  chmodSync(t.path, 0o755);
  chownSync(t.path, NS_ROOT, NS_ROOT);
  copyFileSync(buildProbe('as-caller-probe'), join(t.path, 'probe'));
  chmodSync(join(t.path, 'probe'), 0o755);
  return t;
}

test('parity: every covered call, good and bad inputs, under the kernel alone and emulated as the caller (no lend)', async () => {
  if (!privileged('as-caller parity')) return;
  const probe = buildProbe('as-caller-probe');
  const kernel = suiteDir(), emulated = suiteDir();
  try {
    const k = await runWasmsup(['run', '--userns', '--', probe, 'suite', kernel.path]);
    assert.is(k.code, 0, k.stderr);
    const e = await runWasmsup(['run', '--log-level', 'debug', '--userns', '--policy', ALL, '--', probe, 'suite', emulated.path],
      { timeoutMs: 120_000 });
    assert.is(e.code, 0, e.stderr);
    assert.is(e.stdout, k.stdout);
    // Every call was the host's: none continued, none failed closed.
    const calls = k.stdout.split('\n').filter((l) => / ret=/.test(l)).length;
    assert.ok(calls >= 100, `${calls} calls`);
    const notifications = Number(/notifications=(\d+)/.exec(e.stderr)?.[1]);
    assert.is(notifications, calls);
    assert.match(e.stderr, /continued=0 /);
    assert.match(e.stderr, /failedClosed=0 /);
    // The owners as the host sees them: the namespace's ids mapped.
    assert.is(lstatSync(join(emulated.path, 'd2')).uid, NS_ROOT + 8);
    assert.is(lstatSync(join(emulated.path, 'd1', 'sub', 'own')).uid, NS_ROOT + 1000);
  } finally { kernel.cleanup(); emulated.cleanup(); }
});

test('parity through the exact way alone (the helper: the caller\'s own call in its namespace), with and without lending', async () => {
  if (!privileged('as-caller parity, exact way')) return;
  const probe = buildProbe('as-caller-probe');
  const env = { ...process.env, WASMSUP_TEST_FAULTS: 'mknod-helper-only=1' };
  const kernel = suiteDir(), emulated = suiteDir();
  try {
    const k = await runWasmsup(['run', '--userns', '--', probe, 'suite', kernel.path]);
    assert.is(k.code, 0, k.stderr);
    const e = await runWasmsup(['run', '--userns', '--policy', ALL, '--', probe, 'suite', emulated.path], { env, timeoutMs: 180_000 });
    assert.is(e.code, 0, e.stderr);
    assert.is(e.stdout, k.stdout);
  } finally { kernel.cleanup(); emulated.cleanup(); }
  // The lend step: the helper repeats a step the caller was refused on the fds its child resolved.
  const t = suiteDir();
  try {
    const hostOwned = join(t.path, 'host-owned');
    writeFileSync(hostOwned, 'x');
    const lent = await runWasmsup(['run', '--userns', '--max-lend', 'mknod,chown', '--policy', LEND, '--', 'sh', '-c',
      `${probe} one mknod-chr ${t.path}/null; ${probe} one chown0 ${hostOwned}`], { env });
    assert.is(lent.code, 0, lent.stderr);
    assert.is(lent.stdout.replace(/ +/g, ' '), 'mknod-chr ret=0 errno=0\nchown0 ret=0 errno=0\n');
    assert.ok(lstatSync(`${t.path}/null`).isCharacterDevice());
    assert.is(lstatSync(hostOwned).uid, NS_ROOT);
  } finally { t.cleanup(); }
});

test('path replacement: mkdir PATH becomes PATH.sfx, resolved in the caller\'s root (a chroot)', async () => {
  if (!privileged('as-caller path replacement')) return;
  const root = chrootDir();
  const hostSide = `/as-caller-made-${process.pid}`;
  try {
    const r = await runWasmsup(['run', '--userns', '--policy', REPLACE, '--', 'chroot', root.path, '/probe', 'one', 'mkdir', hostSide]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout.trim().replace(/\s+/g, ' '), 'mkdir ret=0 errno=0');
    const made = lstatSync(join(root.path, `${hostSide}.sfx`));
    assert.ok(made.isDirectory());
    assert.is(made.uid, NS_ROOT);
    assert.is(made.mode & 0o7777, 0o755);
    assert.not.ok(existsSync(join(root.path, hostSide)));
    assert.not.ok(existsSync(`${hostSide}.sfx`));
    assert.not.ok(existsSync(hostSide));
  } finally { root.cleanup(); }
});

test('argument replacement: chmod\'s mode replaced (0700); a pointer replaced by an integer or a path2 the call lacks fails closed with one log line', async () => {
  if (!privileged('as-caller argument replacement')) return;
  const t = suiteDir();
  try {
    const f = join(t.path, 'f');
    writeFileSync(f, 'x');
    chownSync(f, NS_ROOT, NS_ROOT);
    chmodSync(f, 0o644);
    mkdirSync(join(t.path, 'd'));
    chownSync(join(t.path, 'd'), NS_ROOT, NS_ROOT);
    const py = [
      'import os',
      `d = ${JSON.stringify(t.path)}`,
      'os.chmod(os.path.join(d, "f"), 0o644); print("chmod ok")',
      'for call, p in (("rmdir", "d"), ("unlink", "f")):',
      '  try:',
      '    getattr(os, call)(os.path.join(d, p)); print(call, "ok")',
      '  except OSError as e: print(call, e.errno)',
    ].join('\n');
    const r = await runWasmsup(['run', '--userns', '--policy', REPLACE, '--', 'python3', '-c', py]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, 'chmod ok\nrmdir 1\nunlink 1\n');
    assert.is(lstatSync(f).mode & 0o7777, 0o700);
    assert.ok(existsSync(join(t.path, 'd')) && existsSync(f));
    assert.match(r.stderr, /AS_CALLER operands for rmdir refused: argument 0 of rmdir is not a mode, dev, id or flags word/);
    assert.match(r.stderr, /AS_CALLER operands for unlink refused: unlink has no second path to replace/);
  } finally { t.cleanup(); }
});

test('lending: CAP_MKNOD and CAP_CHOWN lent (within --max-lend) let the namespace root mknod c 1:3 and chown a host-owned file; beyond the default --max-lend the call fails closed', async () => {
  if (!privileged('as-caller lending')) return;
  const probe = buildProbe('as-caller-probe');
  const t = suiteDir();
  try {
    const hostOwned = join(t.path, 'host-owned');
    writeFileSync(hostOwned, 'x'); // root:root, which the namespace does not map
    // The kernel alone: EPERM for both (no CAP_MKNOD in the initial namespace; an unmapped owner).
    const k = await runWasmsup(['run', '--userns', '--', 'sh', '-c', `${probe} one mknod-chr ${t.path}/null; ${probe} one chown0 ${hostOwned}`]);
    assert.is(k.code, 0, k.stderr);
    assert.is(k.stdout.replace(/ +/g, ' '), 'mknod-chr ret=-1 errno=EPERM\nchown0 ret=-1 errno=EPERM\n');

    // The policy lends CAP_MKNOD | CAP_CHOWN; the default --max-lend (mknod) refuses CAP_CHOWN.
    const capped = await runWasmsup(['run', '--userns', '--policy', LEND, '--', probe, 'one', 'mknod-chr', `${t.path}/null`]);
    assert.is(capped.code, 0, capped.stderr);
    assert.is(capped.stdout.replace(/ +/g, ' '), 'mknod-chr ret=-1 errno=EPERM\n');
    assert.match(capped.stderr, /AS_CALLER operands for mknod refused: it lends chown beyond --max-lend \(mknod\)/);
    assert.not.ok(existsSync(`${t.path}/null`));

    const lent = await runWasmsup(['run', '--userns', '--max-lend', 'mknod,chown', '--policy', LEND, '--', 'sh', '-c',
      `${probe} one mknod-chr ${t.path}/null; ${probe} one chown0 ${hostOwned}`]);
    assert.is(lent.code, 0, lent.stderr);
    assert.is(lent.stdout.replace(/ +/g, ' '), 'mknod-chr ret=0 errno=0\nchown0 ret=0 errno=0\n');
    const node = lstatSync(`${t.path}/null`);
    assert.ok(node.isCharacterDevice());
    assert.is(node.uid, NS_ROOT);
    // chown 0 0 in the namespace is the host's NS_ROOT: the id mapped through the caller's maps.
    assert.is(lstatSync(hostOwned).uid, NS_ROOT);
    assert.is(lstatSync(hostOwned).gid, NS_ROOT);

    const bad = await runWasmsup(['run', '--userns', '--max-lend', 'mknod,nosuchcap', '--', 'true']);
    assert.is.not(bad.code, 0);
    assert.match(bad.stderr, /--max-lend: "nosuchcap" is not a capability a policy can lend/);
  } finally { t.cleanup(); }
});

test.run();
