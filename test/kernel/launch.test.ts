// launch() and wasmsup-launch with real filters: notifications answered with values and CONTINUE,
// the listener hand-over when every syscall the launcher makes after the filter is routed to us
// (the crun#1002 deadlock), user namespaces, exec failures, hang-up and SYNC_WAKE_UP.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { launch, type Launched, type LaunchOptions } from '../../src/launch.js';
import { native, nativeError } from '../../src/native.js';
import { privileged } from '../support/privileged.js';

const C = native.constants;
// The real interpreter, not a shim under /root (unreachable from a user namespace).
const PYTHON = '/usr/bin/python3';

interface ArchInfo { audit: number; nr: Record<string, number> }
const ARCHES: Record<string, ArchInfo> = {
  x64: {
    audit: C.AUDIT_ARCH_X86_64,
    nr: { read: 0, write: 1, close: 3, fstat: 5, mmap: 9, mprotect: 10, munmap: 11, brk: 12, rt_sigaction: 13,
      rt_sigprocmask: 14, sendmsg: 46, execve: 59, getppid: 110, futex: 202, exit_group: 231, openat: 257,
      newfstatat: 262, uname: 63 },
  },
  arm64: {
    audit: C.AUDIT_ARCH_AARCH64,
    nr: { read: 63, write: 64, close: 57, fstat: 80, mmap: 222, mprotect: 226, munmap: 215, brk: 214, rt_sigaction: 134,
      rt_sigprocmask: 135, sendmsg: 211, execve: 221, getppid: 173, futex: 98, exit_group: 94, openat: 56,
      newfstatat: 79, uname: 160 },
  },
};
const arch = ARCHES[process.arch];
const archGap = arch ? null : `no syscall table for ${process.arch} in this test`;

function insn(code: number, jt: number, jf: number, k: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(code, 0);
  b[2] = jt;
  b[3] = jf;
  b.writeUInt32LE(k >>> 0, 4);
  return b;
}
const BPF_LD_W_ABS = 0x20, BPF_JEQ_K = 0x15, BPF_RET_K = 0x06;

/** Allows everything except the named syscalls of the native arch, which go to the listener. */
function notifyFilter(names: string[]): Buffer {
  const nrs = names.map((n) => arch!.nr[n]!);
  const program = [insn(BPF_LD_W_ABS, 0, 0, 4), insn(BPF_JEQ_K, 0, nrs.length + 1, arch!.audit), insn(BPF_LD_W_ABS, 0, 0, 0)];
  nrs.forEach((nr, i) => program.push(insn(BPF_JEQ_K, nrs.length - i, 0, nr)));
  program.push(insn(BPF_RET_K, 0, 0, C.SECCOMP_RET_ALLOW), insn(BPF_RET_K, 0, 0, C.SECCOMP_RET_USER_NOTIF));
  return Buffer.concat(program);
}

interface Notification { id: bigint; pid: number; nr: number; arch: number; raw: Uint8Array }
type Answer = { val: number } | { error: number } | 'continue' | { injectFd: number };

/**
 * Answers notifications until the listener hangs up (the workload and its children are gone).
 * Polls in short slices and yields between them, because the child's exit (and so the hang-up)
 * is only reaped by this process's own event loop.
 */
async function supervise(listenerFd: number, answer: (n: Notification) => Answer): Promise<Notification[]> {
  const raw = new Uint8Array(80);
  const view = new DataView(raw.buffer);
  const resp = new Uint8Array(24);
  const respView = new DataView(resp.buffer);
  const addfd = new Uint8Array(24);
  const addfdView = new DataView(addfd.buffer);
  const seen: Notification[] = [];
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (Date.now() > deadline) throw new Error('supervise: workload did not finish within 30 s');
    const events = native.pollListener(listenerFd, -1, 5);
    if (events & 1) {
      try {
        native.notifRecv(listenerFd, raw);
      } catch (e) {
        if (nativeError(e) && e.code === 'ENOENT') continue;
        throw e;
      }
      const n = { id: view.getBigUint64(0, true), pid: view.getUint32(8, true), nr: view.getInt32(16, true),
        arch: view.getUint32(20, true), raw: raw.slice() };
      seen.push(n);
      const a = answer(n);
      try {
        if (typeof a === 'object' && 'injectFd' in a) {
          addfd.fill(0);
          addfdView.setBigUint64(0, n.id, true);
          addfdView.setUint32(8, C.SECCOMP_ADDFD_FLAG_SEND, true);
          addfdView.setUint32(12, a.injectFd, true);
          native.notifAddFd(listenerFd, addfd);
          continue;
        }
        resp.fill(0);
        respView.setBigUint64(0, n.id, true);
        if (a === 'continue') respView.setUint32(20, C.SECCOMP_USER_NOTIF_FLAG_CONTINUE, true);
        else if ('val' in a) respView.setBigInt64(8, BigInt(a.val), true);
        else respView.setInt32(16, -a.error, true);
        native.notifSend(listenerFd, resp);
      } catch (e) {
        if (!(nativeError(e) && e.code === 'ENOENT')) throw e;
      }
      continue;
    }
    if (events & 2) return seen;
    await yieldToEventLoop();
  }
}

interface Run { launched: Launched; stdout: string; stderr: string; status: number | null; signal: NodeJS.Signals | null; seen: Notification[] }

/**
 * Launches, answers every notification with `answer` until the workload is gone, and collects its
 * output. Output goes to files, not pipes: a workload that fails at once may be gone before
 * launch() resolves, and Node discards pipe output nobody was reading yet.
 */
async function run(opts: Omit<LaunchOptions, 'stdio'>, answer: (n: Notification) => Answer = () => 'continue',
  beforeServe: (l: Launched) => void = () => {}): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'wasmsup-launch-out-'));
  const outFd = openSync(join(dir, 'stdout'), 'w');
  const errFd = openSync(join(dir, 'stderr'), 'w');
  let launched: Launched | null = null;
  try {
    launched = await launch({ ...opts, stdio: ['ignore', outFd, errFd] });
    beforeServe(launched);
    const seen = await supervise(launched.listenerFd, answer);
    const { code, signal } = await launched.exited;
    return { launched, stdout: readFileSync(join(dir, 'stdout'), 'utf8'), stderr: readFileSync(join(dir, 'stderr'), 'utf8'),
      status: code, signal, seen };
  } finally {
    closeSync(outFd);
    closeSync(errFd);
    if (launched) {
      if (launched.child.exitCode === null && launched.child.signalCode === null) launched.child.kill('SIGKILL');
      native.close(launched.listenerFd);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a USER_NOTIF getppid is answered with 42', async () => {
  if (!privileged('launch getppid', archGap)) return;
  const r = await run({ argv: [PYTHON, '-c', 'import os; print(os.getppid())'], filter: notifyFilter(['getppid']) },
    (n) => (n.nr === arch!.nr.getppid ? { val: 42 } : 'continue'));
  assert.is(r.stdout, '42\n');
  assert.is(r.status, 0);
  const getppids = r.seen.filter((n) => n.nr === arch!.nr.getppid);
  assert.is(getppids.length, 1);
  assert.is(getppids[0]!.pid, r.launched.pid, 'the notification names the workload');
  assert.is(getppids[0]!.arch, arch!.audit);
  assert.is(r.launched.usernsInode, native.nsInode(process.pid, 'user'));
});

test('CONTINUE runs the real call; an error answer fails it', async () => {
  if (!privileged('launch continue', archGap)) return;
  const r = await run({ argv: [PYTHON, '-c', 'import os; print(os.getppid())'], filter: notifyFilter(['getppid']) });
  assert.is(r.stdout, `${process.pid}\n`);
  const failing = await run({
    argv: [PYTHON, '-c', 'import os\ntry:\n  os.uname()\nexcept OSError as e:\n  print(e.errno)'],
    filter: notifyFilter(['uname']),
  }, (n) => (n.nr === arch!.nr.uname ? { error: 13 } : 'continue'));
  assert.is(failing.stdout, '13\n');
});

test('notifIdValid: valid while pending, invalid once answered', async () => {
  if (!privileged('launch notifIdValid', archGap)) return;
  let validBefore = false;
  let listenerFd = -1;
  const r = await run({ argv: [PYTHON, '-c', 'import os; os.getppid()'], filter: notifyFilter(['getppid']) }, (n) => {
    validBefore = native.notifIdValid(listenerFd, n.raw);
    return 'continue';
  }, (l) => { listenerFd = l.listenerFd; });
  assert.is(r.status, 0);
  assert.ok(validBefore);
  // run() has closed the listener by now; a fresh workload's listener knows nothing of the old id.
  const again = await run({ argv: ['true'], filter: notifyFilter(['getppid']) }, () => 'continue', (l) => {
    assert.not.ok(native.notifIdValid(l.listenerFd, r.seen[0]!.raw));
  });
  assert.is(again.status, 0);
});

test('notifAddFd with SEND answers the call with the injected fd', async () => {
  if (!privileged('launch addfd', archGap)) return;
  const dir = mkdtempSync(join(tmpdir(), 'wasmsup-launch-'));
  const file = join(dir, 'injected');
  writeFileSync(file, 'from the supervisor');
  const fd = openSync(file, 'r');
  try {
    const r = await run({ argv: [PYTHON, '-c', 'import os; n = os.getppid(); print(n > 2, os.read(n, 100).decode())'], filter: notifyFilter(['getppid']) },
      (n) => (n.nr === arch!.nr.getppid ? { injectFd: fd } : 'continue'));
    assert.is(r.stdout, 'True from the supervisor\n');
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no deadlock when everything the launcher does after the filter is routed to the supervisor', async () => {
  if (!privileged('launch deadlock', archGap)) return;
  const names = ['write', 'sendmsg', 'close', 'futex', 'execve', 'mmap', 'munmap', 'mprotect', 'rt_sigprocmask',
    'rt_sigaction', 'read', 'openat', 'brk', 'fstat', 'newfstatat', 'exit_group'];
  const r = await run({ argv: [PYTHON, '-c', 'import os; print("done", os.getppid())'], filter: notifyFilter([...names, 'getppid']) });
  assert.is(r.status, 0);
  assert.is(r.stdout, `done ${process.pid}\n`);
  const execves = r.seen.filter((n) => n.nr === arch!.nr.execve);
  assert.ok(execves.length >= 1, 'the launcher\'s execve went through the supervisor');
  assert.ok(r.seen.length > 50, `many notifications (${r.seen.length})`);
  assert.not.ok(r.seen.some((n) => n.nr === arch!.nr.sendmsg), 'the listener was not sent by a filtered thread');
});

test('--userns: the workload is root in a mapped namespace and still cannot mknod', async () => {
  if (!privileged('launch userns', archGap)) return;
  const dir = mkdtempSync(join(tmpdir(), 'wasmsup-launch-'));
  chmodSync(dir, 0o777);
  const script = [
    'import errno, os, stat, sys',
    'print(os.getuid(), os.getgid())',
    'print(" ".join(open("/proc/self/uid_map").read().split()))',
    'try:',
    '    os.mknod(sys.argv[1], stat.S_IFCHR | 0o666, os.makedev(1, 3))',
    '    print("created")',
    'except OSError as e:',
    '    print(errno.errorcode[e.errno])',
  ].join('\n');
  try {
    const r = await run({
      argv: [PYTHON, '-c', script, join(dir, 'null')],
      filter: notifyFilter(['getppid']),
      userns: { uidMap: '0 100000 65536\n', gidMap: '0 100000 65536\n' },
    });
    assert.is(r.stderr, '');
    assert.is(r.stdout, '0 0\n0 100000 65536\nEPERM\n');
    assert.is.not(r.launched.usernsInode, native.nsInode(process.pid, 'user'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bad id map makes launch() reject with one line', async () => {
  if (!privileged('launch bad map', archGap)) return;
  try {
    await launch({ argv: ['true'], filter: notifyFilter(['getppid']), userns: { uidMap: 'nonsense\n', gidMap: 'nonsense\n' }, stdio: ['ignore', 'ignore', 'ignore'] });
    assert.unreachable('launch should fail');
  } catch (e) {
    assert.instance(e, Error);
    assert.match((e as Error).message, /^wasmsup: cannot start true: cannot write the id maps of pid \d+: EINVAL: invalid argument, write$/);
  }
});

test('exec failures exit 127 and 126; the listener still arrives first', async () => {
  if (!privileged('launch exec failure', archGap)) return;
  const missing = await run({ argv: ['/nonexistent/wasmsup-cmd'], filter: notifyFilter(['getppid']) });
  assert.is(missing.status, 127);
  assert.is(missing.stderr, 'wasmsup: /nonexistent/wasmsup-cmd: No such file or directory\n');
  const dir = mkdtempSync(join(tmpdir(), 'wasmsup-launch-'));
  try {
    const notExecutable = join(dir, 'script');
    writeFileSync(notExecutable, '#!/bin/sh\n', { mode: 0o644 });
    const denied = await run({ argv: [notExecutable], filter: notifyFilter(['getppid']) });
    assert.is(denied.status, 126);
    assert.match(denied.stderr, /Permission denied/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a filter the kernel rejects makes launch() reject; bad options are refused up front', async () => {
  if (!privileged('launch bad filter', archGap)) return;
  // A jump past the end of the program: seccomp() says EINVAL, the launcher exits 125.
  const broken = Buffer.concat([insn(BPF_JEQ_K, 5, 5, 0), insn(BPF_RET_K, 0, 0, C.SECCOMP_RET_ALLOW)]);
  let message = '';
  try {
    await launch({ argv: ['true'], filter: broken, stdio: ['ignore', 'ignore', 'ignore'] });
  } catch (e) {
    message = (e as Error).message;
  }
  assert.is(message, 'wasmsup: cannot start true (launcher exit status 125)');
  try {
    await launch({ argv: [], filter: broken });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, TypeError);
  }
  try {
    await launch({ argv: ['true'], filter: Buffer.alloc(12) });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, RangeError);
  }
});

test('the listener hangs up (bit 2) once the workload has exited', async () => {
  if (!privileged('launch hangup', archGap)) return;
  const launched = await launch({ argv: ['sleep', '0.2'], filter: notifyFilter(['getppid']), stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    assert.is(native.pollListener(launched.listenerFd, -1, 0) & 2, 0, 'no hang-up while it runs');
    const { code } = await launched.exited;
    assert.is(code, 0);
    assert.is(native.pollListener(launched.listenerFd, -1, 2000) & 2, 2);
  } finally {
    native.close(launched.listenerFd);
  }
});

test('SYNC_WAKE_UP and WAIT_KILLABLE_RECV', async () => {
  if (!privileged('launch sync wake up', archGap)) return;
  let unknownFlag = '';
  const r = await run({ argv: [PYTHON, '-c', 'import os; print(os.getppid())'], filter: notifyFilter(['getppid']),
    waitKillable: true, noNewPrivs: true }, (n) => (n.nr === arch!.nr.getppid ? { val: 7 } : 'continue'), (l) => {
    native.notifSetFlags(l.listenerFd, C.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
    try {
      native.notifSetFlags(l.listenerFd, 2);
    } catch (e) {
      unknownFlag = nativeError(e) ? e.code! : String(e);
    }
  });
  assert.is(unknownFlag, 'EINVAL');
  assert.is(r.stdout, '7\n');
  assert.is(r.status, 0);
});

test.run();
