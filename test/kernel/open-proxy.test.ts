// The open-proxy policy end to end: for its configured names the host opens the configured source,
// a regular file in the host's own view, read-only, and injects the fd (ADDFD + SEND); the number,
// O_CLOEXEC and errnos are what the kernel's own open would give. The workload runs in a bare chroot
// holding only the probe and decoys at the same paths: what it gets is the host's file, never its own.
// The shipped policy is configured with this test's own tables (test/support/open-proxy.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { runWasmsup, tempDir, POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { NS_ROOT, installProbe } from '../support/syscall-probe.js';
import { configureOpenProxy } from '../support/open-proxy.js';

const O_RDWR = 2, O_CREAT_WRONLY = 0o101, O_CLOEXEC = 0o2000000, O_DIRECTORY = 0o200000, O_NOFOLLOW = 0o400000;
const REDIRECT_NAME = '/etc/wasmsup/redirect.conf';

/**
 * On the host: T/conf/view.conf (root, 0600: the namespace's root cannot read it), T/conf/target.conf,
 * and T/conf/{link,fifo,dir} for the fences. A chroot T/rootfs with decoys at the view's path and at
 * the redirect's name, which the workload could read itself. The policy: view T/conf/view.conf (and
 * the fence paths), redirect /etc/wasmsup/redirect.conf -> T/conf/target.conf.
 */
async function setup() {
  const t = tempDir();
  chmodSync(t.path, 0o755);
  const conf = join(t.path, 'conf');
  mkdirSync(conf, { mode: 0o755 });
  const view = join(conf, 'view.conf'), target = join(conf, 'target.conf');
  writeFileSync(view, 'the view\n', { mode: 0o600 });
  writeFileSync(target, 'the target\n', { mode: 0o600 });
  const rootfs = join(t.path, 'rootfs');
  for (const [path, text] of [[join(rootfs, view), 'the caller\'s decoy\n'], [join(rootfs, REDIRECT_NAME), 'the original\n']] as const) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    chownSync(path, NS_ROOT, NS_ROOT);
  }
  chmodSync(rootfs, 0o755);
  installProbe(rootfs);
  const fence = (name: string) => join(conf, name);
  const policy = configureOpenProxy(t.path, [view, fence('link'), fence('fifo'), fence('dir'), fence('missing'), '/proc/version'],
    [[REDIRECT_NAME, target]]);
  return { t, rootfs, view, fence, policy };
}

async function inChroot(rootfs: string, policy: string[] | null, calls: string[]) {
  const script = calls.map((c) => `chroot ${rootfs} /probe ${c}`).join('; ');
  const r = await runWasmsup(['run', '--userns', ...(policy ?? []), '--', 'sh', '-c', script]);
  assert.is(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n');
}

test('without the policy the namespace root cannot read the 0600 source (EACCES), and sees its own decoy', async () => {
  if (!privileged('open-proxy baseline')) return;
  const s = await setup();
  try {
    const r = await runWasmsup(['run', '--userns', '--', join(s.rootfs, 'probe'), 'open', s.view, '0']);
    assert.is(r.stdout.trim(), 'ret=-1 errno=EACCES');
    assert.equal(await inChroot(s.rootfs, null, [`open ${s.view} 0`]), ['ret=3 errno=0 cloexec=0 data=the caller\'s decoy']);
  } finally { s.t.cleanup(); }
});

test('view: the host\'s file through open/openat/openat2, lowest free fd, O_CLOEXEC honoured, writes EROFS', async () => {
  if (!privileged('open-proxy view')) return;
  const s = await setup();
  try {
    assert.equal(await inChroot(s.rootfs, s.policy, [
      `open ${s.view} 0`,
      `--hole openat ${s.view} ${O_CLOEXEC}`,
      `openat2 ${s.view} ${O_CLOEXEC} 24 0 0`,
      `openat2 ${s.view} 0 24 4 0`, // RESOLVE_NO_SYMLINKS on the caller's side: still the name
      `openat ${s.view} ${O_NOFOLLOW}`,
      `openat ${s.view} ${O_RDWR}`,
      `open ${s.view} ${O_CREAT_WRONLY}`,
      `openat ${s.view} ${O_DIRECTORY}`,
      `openat2 ${s.view} 0 24 8 0`, // RESOLVE_BENEATH: not honoured, the kernel answers
    ]), [
      'ret=3 errno=0 cloexec=0 data=the view',
      // fds 3 and 4 were taken and 3 closed: the injected fd is 3, as the kernel would choose.
      'ret=3 errno=0 cloexec=1 data=the view',
      'ret=3 errno=0 cloexec=1 data=the view',
      'ret=3 errno=0 cloexec=0 data=the view',
      'ret=3 errno=0 cloexec=0 data=the view',
      'ret=-1 errno=EROFS',
      'ret=-1 errno=EROFS',
      'ret=-1 errno=ENOTDIR',
      'ret=-1 errno=EXDEV',
    ]);
  } finally { s.t.cleanup(); }
});

test('redirect: the configured name opens the host\'s target; other names are the kernel\'s', async () => {
  if (!privileged('open-proxy redirect')) return;
  const s = await setup();
  try {
    assert.equal(await inChroot(s.rootfs, s.policy, [
      `openat ${REDIRECT_NAME} 0`,
      `openat2 ${REDIRECT_NAME} 0 24 0 0`,
      `openat ${join(s.t.path, 'conf', 'target.conf')} 0`, // not a configured name: the kernel's ENOENT in the chroot
      `openat ${s.view.slice(1)} 0`, // relative: never matches, the caller's own decoy
    ]), [
      'ret=3 errno=0 cloexec=0 data=the target',
      'ret=3 errno=0 cloexec=0 data=the target',
      'ret=-1 errno=ENOENT',
      'ret=3 errno=0 cloexec=0 data=the caller\'s decoy',
    ]);
  } finally { s.t.cleanup(); }
});

test('fences: a source reached through a symlink, a FIFO, a directory, a missing one, procfs', async () => {
  if (!privileged('open-proxy fences')) return;
  const s = await setup();
  try {
    // The operator names the file itself: a symlink on the host is not followed, even to the view.
    symlinkSync(s.view, s.fence('link'));
    execFileSync('mkfifo', [s.fence('fifo')]); // never opened: an open would block the supervisor
    mkdirSync(s.fence('dir')); // no directory fd, a handle into the host's tree, is handed out
    assert.equal(await inChroot(s.rootfs, s.policy, [
      `open ${s.fence('link')} 0`, `open ${s.fence('fifo')} 0`, `open ${s.fence('dir')} 0`,
      `open ${s.fence('dir')} ${O_DIRECTORY}`, `open ${s.fence('missing')} 0`, 'open /proc/version 0',
    ]), ['ret=-1 errno=ELOOP', 'ret=-1 errno=EACCES', 'ret=-1 errno=EACCES', 'ret=-1 errno=EACCES', 'ret=-1 errno=ENOENT', 'ret=-1 errno=EACCES']);
    rmSync(s.fence('fifo'));
  } finally { s.t.cleanup(); }
});

test('i386 callers: open and openat2 through int 0x80 get the injected fd too', async () => {
  if (process.arch !== 'x64') { console.log('  skip: i386 compat: x86_64 hosts only'); return; }
  if (!privileged('i386 open-proxy')) return;
  const s = await setup();
  try {
    assert.equal(await inChroot(s.rootfs, s.policy, [
      `--i386 --hole open ${s.view} ${O_CLOEXEC}`,
      `--i386 openat2 ${REDIRECT_NAME} 0 24 0 0`,
      `--i386 open ${s.view} ${O_RDWR}`,
    ]), ['ret=3 errno=0 cloexec=1 data=the view', 'ret=3 errno=0 cloexec=0 data=the target', 'ret=-1 errno=EROFS']);
  } finally { s.t.cleanup(); }
});

test('the shipped policy builds with its example configuration', async () => {
  if (!privileged('open-proxy shipped')) return;
  const r = await runWasmsup(['check', POLICY('open-proxy')]);
  assert.is(r.code, 0, r.stderr);
});

test.run();
