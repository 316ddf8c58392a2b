// The open-proxy policy end to end: for its configured paths the host opens the file read-only inside
// the caller's root and injects the fd (ADDFD + SEND); the number, O_CLOEXEC and errnos are what the
// kernel's own open would give. The workload runs in a bare chroot holding only the probe and /etc/wasmsup.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { runWasmsup, tempDir, POLICY } from './support/wasmsup.js';
import { privileged } from './support/privileged.js';
import { NS_ROOT, installProbe } from './support/syscall-probe.js';

const OPEN_PROXY = POLICY('open-proxy');
const O_RDWR = 2, O_CREAT_WRONLY = 0o101, O_CLOEXEC = 0o2000000, O_DIRECTORY = 0o200000, O_NOFOLLOW = 0o400000;

/** A rootfs: /etc/wasmsup/view.conf (host root, 0600: the namespace's root cannot read it) and a redirect. */
function rootfs() {
  const t = tempDir();
  chmodSync(t.path, 0o755);
  const etc = join(t.path, 'etc', 'wasmsup');
  mkdirSync(etc, { recursive: true });
  writeFileSync(join(etc, 'view.conf'), 'the view\n', { mode: 0o600 });
  writeFileSync(join(etc, 'redirect.conf'), 'the original\n');
  chownSync(join(etc, 'redirect.conf'), NS_ROOT, NS_ROOT);
  writeFileSync(join(etc, 'redirect-target.conf'), 'the target\n', { mode: 0o600 });
  installProbe(t.path);
  return t;
}

async function inChroot(root: string, calls: string[], policy = true) {
  const script = calls.map((c) => `chroot ${root} /probe ${c}`).join('; ');
  const r = await runWasmsup(['run', '--userns', ...(policy ? ['--policy', OPEN_PROXY] : []), '--', 'sh', '-c', script]);
  assert.is(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n');
}

test('without the policy the namespace root cannot read the 0600 view (EACCES)', async () => {
  if (!privileged('open-proxy baseline')) return;
  const t = rootfs();
  try {
    assert.equal(await inChroot(t.path, ['open /etc/wasmsup/view.conf 0'], false), ['ret=-1 errno=EACCES']);
  } finally { t.cleanup(); }
});

test('view: readable through open/openat/openat2, lowest free fd, O_CLOEXEC honoured, writes EROFS', async () => {
  if (!privileged('open-proxy view')) return;
  const t = rootfs();
  try {
    assert.equal(await inChroot(t.path, [
      'open /etc/wasmsup/view.conf 0',
      `--hole openat /etc/wasmsup/view.conf ${O_CLOEXEC}`,
      `openat2 /etc/wasmsup/view.conf ${O_CLOEXEC} 24 0 0`,
      `openat /etc/wasmsup/view.conf ${O_RDWR}`,
      `open /etc/wasmsup/view.conf ${O_CREAT_WRONLY}`,
      `openat /etc/wasmsup/view.conf ${O_DIRECTORY}`,
      `openat2 /etc/wasmsup/view.conf 0 24 8 0`, // RESOLVE_BENEATH: not honoured, the kernel answers
    ]), [
      'ret=3 errno=0 cloexec=0 data=the view',
      // fds 3 and 4 were taken and 3 closed: the injected fd is 3, as the kernel would choose.
      'ret=3 errno=0 cloexec=1 data=the view',
      'ret=3 errno=0 cloexec=1 data=the view',
      'ret=-1 errno=EROFS',
      'ret=-1 errno=EROFS',
      'ret=-1 errno=ENOTDIR',
      'ret=-1 errno=EXDEV',
    ]);
  } finally { t.cleanup(); }
});

test('redirect: the configured path opens the target; other paths are the kernel\'s', async () => {
  if (!privileged('open-proxy redirect')) return;
  const t = rootfs();
  try {
    assert.equal(await inChroot(t.path, [
      'openat /etc/wasmsup/redirect.conf 0',
      'openat2 /etc/wasmsup/redirect.conf 0 24 0 0',
      'openat /etc/wasmsup/redirect-target.conf 0', // not configured: the kernel's EACCES
      'openat etc/wasmsup/view.conf 0', // relative: never matches, the kernel's EACCES
    ]), [
      'ret=3 errno=0 cloexec=0 data=the target',
      'ret=3 errno=0 cloexec=0 data=the target',
      'ret=-1 errno=EACCES',
      'ret=-1 errno=EACCES',
    ]);
  } finally { t.cleanup(); }
});

test('fences: symlinks resolve inside the caller\'s root, O_NOFOLLOW, FIFOs never opened', async () => {
  if (!privileged('open-proxy fences')) return;
  const t = rootfs();
  try {
    const view = join(t.path, 'etc', 'wasmsup', 'view.conf');
    // An absolute symlink to a host file: resolved inside the rootfs, where there is no /etc/shadow.
    rmSync(view);
    symlinkSync('/etc/shadow', view);
    assert.equal(await inChroot(t.path, ['open /etc/wasmsup/view.conf 0', `open /etc/wasmsup/view.conf ${O_NOFOLLOW}`]),
      ['ret=-1 errno=ENOENT', 'ret=-1 errno=ELOOP']);
    // A FIFO in place of the file: refused without opening it (an open would block the supervisor).
    rmSync(view);
    execFileSync('mkfifo', [view]);
    assert.equal(await inChroot(t.path, ['open /etc/wasmsup/view.conf 0']), ['ret=-1 errno=EACCES']);
  } finally { t.cleanup(); }
});

test('i386 callers: open and openat2 through int 0x80 get the injected fd too', async () => {
  if (process.arch !== 'x64') { console.log('  skip: i386 compat: x86_64 hosts only'); return; }
  if (!privileged('i386 open-proxy')) return;
  const t = rootfs();
  try {
    assert.equal(await inChroot(t.path, [
      `--i386 --hole open /etc/wasmsup/view.conf ${O_CLOEXEC}`,
      '--i386 openat2 /etc/wasmsup/redirect.conf 0 24 0 0',
      `--i386 open /etc/wasmsup/view.conf ${O_RDWR}`,
    ]), ['ret=3 errno=0 cloexec=1 data=the view', 'ret=3 errno=0 cloexec=0 data=the target', 'ret=-1 errno=EROFS']);
  } finally { t.cleanup(); }
});

test.run();
