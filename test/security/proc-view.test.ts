// Attacks on the fds PROC_VIEW hands out, written as a workload would try them: write to the view, grow
// or shrink it, map it writable, drop its seals, re-open it writable through /proc/self/fd (as the
// host's root, and as root of a user namespace), walk from it into the host's /proc. Each must fail:
// the fd is an O_RDONLY open of a sealed (WRITE|SHRINK|GROW|SEAL) memfd of mode 0444, never a fd of
// the host's /proc. Without the policy the same script opens the host's procfs file: the checks that
// it is a memfd fail there, which is what makes them worth running.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { runWasmsup, buildProbe, POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';

const PYTHON = '/usr/bin/python3';
const ATTACK = [
  'import os, fcntl, mmap, errno',
  'def tryit(name, f):',
  '    try: f(); print(name, "ok")',
  '    except OSError as e: print(name, errno.errorcode[e.errno])',
  '    except Exception as e: print(name, type(e).__name__)',
  'fd = os.open("/proc/meminfo", os.O_RDONLY)',
  'print("link", os.readlink("/proc/self/fd/%d" % fd))',
  'print("procfs", os.fstat(fd).st_dev == os.stat("/proc/self").st_dev)',
  'tryit("write", lambda: os.write(fd, b"x"))',
  'tryit("ftruncate", lambda: os.ftruncate(fd, 0))',
  'tryit("unseal", lambda: fcntl.fcntl(fd, fcntl.F_ADD_SEALS, 0))',
  'tryit("mmap-shared-write", lambda: mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_WRITE | mmap.PROT_READ))',
  'def reopen():',
  '    w = os.open("/proc/self/fd/%d" % fd, os.O_RDWR)',
  '    for name, f in (("reopened-write", lambda: os.write(w, b"x")), ("reopened-pwrite", lambda: os.pwrite(w, b"x", 0)), ("reopened-ftruncate", lambda: os.ftruncate(w, 0)), ("reopened-grow", lambda: os.ftruncate(w, 1 << 20)), ("reopened-fallocate", lambda: os.posix_fallocate(w, 0, 1 << 20)), ("reopened-unseal", lambda: fcntl.fcntl(w, fcntl.F_ADD_SEALS, 0))):',
  '        tryit(name, f)',
  'tryit("reopen-rdwr", reopen)',
  'tryit("dotdot", lambda: os.open("..", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd))',
  'print("content-intact", os.pread(fd, 9, 0) == b"MemTotal:")',
].join('\n');

function results(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.trim().split('\n')) {
    const space = line.indexOf(' ');
    out[line.slice(0, space)] = line.slice(space + 1);
  }
  return out;
}

function assertSealedView(r: Record<string, string>, stdout: string): void {
  assert.is(r.link, '/memfd:wasmsup-meminfo (deleted)', stdout);
  assert.is(r.procfs, 'False');
  assert.is(r.write, 'EBADF');
  assert.ok(r.ftruncate === 'EINVAL' || r.ftruncate === 'EBADF', stdout);
  assert.is(r.unseal, 'EPERM'); // F_SEAL_SEAL
  assert.ok(r['mmap-shared-write'] === 'EACCES' || r['mmap-shared-write'] === 'EPERM', stdout);
  assert.is(r.dotdot, 'ENOTDIR'); // a file: nothing to walk from
  assert.is(r['content-intact'], 'True');
}

test('as the host\'s root: the view cannot be written, grown, shrunk or unsealed, even re-opened read-write', async () => {
  if (!privileged('proc-view fd attacks')) return;
  const r = await runWasmsup(['run', '--policy', POLICY('proc-view'), '--', PYTHON, '-c', ATTACK]);
  assert.is(r.code, 0, r.stderr);
  const out = results(r.stdout);
  assertSealedView(out, r.stdout);
  // CAP_DAC_OVERRIDE opens the 0444 inode read-write; the seals still refuse every change.
  assert.is(out['reopen-rdwr'], 'ok', r.stdout);
  for (const k of ['reopened-write', 'reopened-pwrite', 'reopened-ftruncate', 'reopened-grow', 'reopened-fallocate', 'reopened-unseal']) {
    assert.is(out[k], 'EPERM', `${k}: ${r.stdout}`);
  }
});

test('as root of a user namespace: re-opening the view writable is refused outright', async () => {
  if (!privileged('proc-view fd attacks, userns')) return;
  const r = await runWasmsup(['run', '--userns', '--policy', POLICY('proc-view'), '--', PYTHON, '-c', ATTACK]);
  assert.is(r.code, 0, r.stderr);
  const out = results(r.stdout);
  assertSealedView(out, r.stdout);
  assert.is(out['reopen-rdwr'], 'EACCES', r.stdout);
});

test('without the policy the same open is the host\'s procfs file (the checks above are not vacuous)', async () => {
  if (!privileged('proc-view baseline')) return;
  const r = await runWasmsup(['run', '--', PYTHON, '-c', ATTACK]);
  assert.is(r.code, 0, r.stderr);
  const out = results(r.stdout);
  assert.is(out.link, '/proc/meminfo');
  assert.is(out.procfs, 'True');
});

// The injection (SECCOMP_IOCTL_NOTIF_ADDFD with SEND) marks the notification answered when it is
// queued; a signal interrupting the supervisor's wait withdrew the fd but not the answer, and the
// caller's open returned 0 — someone else's fd (stdin), a confused deputy by accident. Bombarded
// with the data plane's own interrupt signal (SIGRTMIN+3, to every thread), every open must still get
// its view. Failed before native/seccomp.cc blocked signals around the ioctl.
test('signals to the supervisor\'s threads during injections never hand the caller a wrong fd', async () => {
  if (!privileged('proc-view interrupted injection')) return;
  const signaller = buildProbe('signal-threads');
  const rtmin = Number(spawnSync('sh', ['-c', 'kill -l RTMIN'], { encoding: 'utf8' }).stdout.trim()) || 34;
  const loop = 'import os\nbad = 0\nfor i in range(30000):\n    fd = os.open("/proc/meminfo", os.O_RDONLY)\n    bad += os.read(fd, 9) != b"MemTotal:"\n    os.close(fd)\nprint("bad", bad)';
  let supervisor = 0;
  const run = runWasmsup(['run', '--policy', POLICY('proc-view'), '--', PYTHON, '-c', loop], { onSpawn: (pid) => { supervisor = pid; }, timeoutMs: 120_000 });
  await new Promise((r) => setTimeout(r, 500));
  // bin/wasmsup execs node: the supervisor's pid is the spawned one.
  spawnSync(signaller, [String(supervisor), '5000', String(rtmin + 3)], { timeout: 60_000 });
  const r = await run;
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout.trim(), 'bad 0', r.stderr);
  assert.not.match(r.stderr, /interrupted SECCOMP_IOCTL_NOTIF_ADDFD/);
});

test.run();
