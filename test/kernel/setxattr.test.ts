// The setxattr policy end to end: the workload's root (a user namespace) may mark directories opaque
// for overlayfs (trusted.overlay.opaque = "y") and the host sees it; everything else is the kernel's.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, lchownSync, mkdirSync, symlinkSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { runWasmsup, tempDir, POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { NS_ROOT, syscallProbe } from '../support/syscall-probe.js';

const SETXATTR = POLICY('setxattr');

/** The xattrs of PATH as real root on the host sees them (symlinks not followed), as "name=value;...". */
function hostXattrs(path: string): string {
  return execFileSync('python3', ['-c', `import os,sys
p=sys.argv[1]
print(";".join(f"{n}={os.getxattr(p,n,follow_symlinks=False).decode()}" for n in sorted(os.listxattr(p,follow_symlinks=False))))`, path], { encoding: 'utf8' }).trim();
}

function layer() {
  const t = tempDir();
  chmodSync(t.path, 0o755);
  chownSync(t.path, NS_ROOT, NS_ROOT);
  for (const d of ['a', 'b', 'c', 'd']) { mkdirSync(join(t.path, d)); chownSync(join(t.path, d), NS_ROOT, NS_ROOT); }
  mkdirSync(join(t.path, 'host-owned')); // owned by host root, unmapped in the namespace
  symlinkSync('a', join(t.path, 'link'));
  lchownSync(join(t.path, 'link'), NS_ROOT, NS_ROOT);
  return t;
}

const PY = (dir: string) => [
  'import os',
  `d = ${JSON.stringify(dir)}`,
  'def t(label, f):',
  '  try: f(); print(label, "ok")',
  '  except OSError as e: print(label, e.errno)',
  'O = "trusted.overlay.opaque"',
  't("path", lambda: os.setxattr(d + "/a", O, b"y"))',
  't("link", lambda: os.setxattr(d + "/link", O, b"y", follow_symlinks=False))',
  'fd = os.open(d + "/b", os.O_RDONLY)',
  't("fd", lambda: os.setxattr(fd, O, b"y", os.XATTR_CREATE))',
  't("fd-again", lambda: os.setxattr(fd, O, b"y", os.XATTR_CREATE))',
  'os.chdir(d)',
  't("relative", lambda: os.setxattr("c", O, b"y"))',
  't("evil", lambda: os.setxattr(d + "/d", "trusted.evil", b"y"))',
  't("opaque-n", lambda: os.setxattr(d + "/d", O, b"n"))',
  't("user", lambda: os.setxattr(d + "/d", "user.note", b"kept"))',
  't("host-owned", lambda: os.setxattr(d + "/host-owned", O, b"y"))',
  't("missing", lambda: os.setxattr(d + "/missing", O, b"y"))',
  'opath = os.open(d + "/d", os.O_PATH)',
  't("o-path-fd", lambda: os.setxattr(opath, O, b"y"))',
  'os.setgid(1000); os.setuid(1000)',
  't("uid-1000", lambda: os.setxattr(d + "/d", O, b"y"))',
].join('\n');

test('without the policy, root of a user namespace cannot set trusted.overlay.opaque (EPERM)', async () => {
  if (!privileged('setxattr baseline')) return;
  const t = layer();
  try {
    const r = await runWasmsup(['run', '--userns', '--', syscallProbe(), 'setxattr', join(t.path, 'a'), 'trusted.overlay.opaque', 'y']);
    assert.is(r.stdout.trim(), 'ret=-1 errno=EPERM', r.stderr);
    assert.is(hostXattrs(join(t.path, 'a')), '');
  } finally { t.cleanup(); }
});

test('setxattr policy: opaque via path, symlink, fd, relative path; the host sees it; the rest is the kernel\'s', async () => {
  if (!privileged('setxattr emulation')) return;
  const t = layer();
  try {
    const r = await runWasmsup(['run', '--userns', '--policy', SETXATTR, '--', 'python3', '-c', PY(t.path)]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, [
      'path ok', 'link ok', 'fd ok', 'fd-again 17', 'relative ok',
      // host-owned: the namespace's CAP_SYS_ADMIN does not count over an inode whose owner it does not
      // map, and the kernel checks that capability before write permission: EPERM (not EACCES).
      'evil 1', 'opaque-n 1', 'user ok', 'host-owned 1', 'missing 2', 'o-path-fd 9', 'uid-1000 1', '',
    ].join('\n'));
    // Real root on the host reads what the workload set.
    assert.is(hostXattrs(join(t.path, 'a')), 'trusted.overlay.opaque=y');
    assert.is(hostXattrs(join(t.path, 'link')), 'trusted.overlay.opaque=y');
    assert.is(hostXattrs(join(t.path, 'b')), 'trusted.overlay.opaque=y');
    assert.is(hostXattrs(join(t.path, 'c')), 'trusted.overlay.opaque=y');
    assert.is(hostXattrs(join(t.path, 'd')), 'user.note=kept');
    assert.is(hostXattrs(join(t.path, 'host-owned')), '');
  } finally { t.cleanup(); }
});

test('i386 callers: setxattr and lsetxattr through int 0x80 are emulated too', async () => {
  if (process.arch !== 'x64') { console.log('  skip: i386 compat: x86_64 hosts only'); return; }
  if (!privileged('i386 setxattr')) return;
  const t = layer();
  try {
    const probe = syscallProbe();
    const r = await runWasmsup(['run', '--userns', '--policy', SETXATTR, '--', 'sh', '-c',
      `${probe} --i386 setxattr ${t.path}/a trusted.overlay.opaque y; ${probe} --i386 lsetxattr ${t.path}/link trusted.overlay.opaque y; ` +
      `${probe} --i386 setxattr ${t.path}/d trusted.evil y`]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, 'ret=0 errno=0\nret=0 errno=0\nret=-1 errno=EPERM\n');
    assert.is(hostXattrs(join(t.path, 'a')), 'trusted.overlay.opaque=y');
    assert.is(hostXattrs(join(t.path, 'link')), 'trusted.overlay.opaque=y');
  } finally { t.cleanup(); }
});

test('the kernel filter keeps other xattr calls away from the supervisor (size != 1)', async () => {
  if (!privileged('setxattr filter')) return;
  const t = layer();
  try {
    const r = await runWasmsup(['run', '--log-level', 'debug', '--userns', '--policy', SETXATTR, '--',
      syscallProbe(), 'setxattr', join(t.path, 'a'), 'user.long', 'several bytes']);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout.trim(), 'ret=0 errno=0');
    assert.match(r.stderr, /notifications=0\b/);
  } finally { t.cleanup(); }
});

test.run();
