// The addon against the real kernel: errno shapes, sockets and fds, poll bits, target memory,
// /proc parsing and pidfds. Each test starts only its own children and closes every fd it opens.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { native, nativeError } from '../../src/native.js';
import { Creds, CREDS_WORDS, Notif } from '../../src/layouts.js';

const C = native.constants;

function throwsErrno(fn: () => unknown, code: string, syscall?: string): NodeJS.ErrnoException {
  try {
    fn();
  } catch (e) {
    assert.ok(nativeError(e), `expected an errno error, got ${String(e)}`);
    assert.is(e.code, code);
    assert.is(e.errno, native.errnoNumber(code));
    if (syscall !== undefined) assert.is(e.syscall, syscall);
    return e;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

function throwsKind(fn: () => unknown, kind: typeof TypeError | typeof RangeError): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, kind, `expected ${kind.name}, got ${String(e)}`);
    return;
  }
  assert.unreachable(`expected ${kind.name}`);
}

function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

function isCloexec(fd: number): boolean {
  const flags = /flags:\s+([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!;
  return (parseInt(flags, 8) & 0o2000000) !== 0;
}

test('errors carry code, positive errno, syscall and the contract message', () => {
  const e = throwsErrno(() => native.close(-1), 'EBADF', 'close');
  assert.is(e.errno, 9);
  assert.is(e.message, 'close: Bad file descriptor (EBADF)');
  throwsErrno(() => native.openPath('/nonexistent/wasmsup', C.O_RDONLY), 'ENOENT', 'openat');
  throwsErrno(() => native.stat('/nonexistent/wasmsup'), 'ENOENT', 'stat');
});

test('errnoName and errnoNumber', () => {
  assert.is(native.errnoName(2), 'ENOENT');
  assert.is(native.errnoName(1), 'EPERM');
  assert.is(native.errnoName(9999), 'E9999');
  assert.is(native.errnoNumber('ENOENT'), 2);
  assert.is(native.errnoNumber('EWOULDBLOCK'), native.errnoNumber('EAGAIN'));
  assert.is(native.errnoNumber('ENAMETOOLONG'), 36);
  throwsKind(() => native.errnoNumber('ENOTANERRNO'), RangeError);
});

test('bad arguments throw TypeError or RangeError, never crash', () => {
  const n = native as unknown as Record<string, (...args: unknown[]) => unknown>;
  throwsKind(() => n.close!('3'), TypeError);
  throwsKind(() => n.close!(1.5), TypeError);
  throwsKind(() => n.close!(), TypeError);
  throwsKind(() => n.close!(2 ** 40), RangeError);
  throwsKind(() => n.readMemory!(process.pid, 0, 0, [1, 2, 3], 3), TypeError);
  throwsKind(() => n.readMemory!(process.pid, 0, 0, new Uint8Array(4), 5), RangeError);
  throwsKind(() => n.readMemory!(process.pid, -1, 0, new Uint8Array(4), 4), RangeError);
  throwsKind(() => n.readMemory!(0, 0, 0, new Uint8Array(4), 4), RangeError);
  throwsKind(() => n.readMemory!(process.pid, 2 ** 32, 0, new Uint8Array(4), 4), RangeError);
  throwsKind(() => n.notifRecv!(0, new Uint8Array(79)), RangeError);
  throwsKind(() => n.notifSend!(0, new Uint8Array(80).subarray(60)), RangeError);
  throwsKind(() => n.readCreds!(process.pid, new Uint32Array(95)), RangeError);
  throwsKind(() => n.readCreds!(process.pid, new Uint8Array(96 * 4)), TypeError);
  throwsKind(() => n.nsInode!(process.pid, 'bogus'), TypeError);
  throwsKind(() => n.readIdMap!(process.pid, 'pid', new Uint32Array(3)), TypeError);
  throwsKind(() => n.openPath!('/tmp\0/x', C.O_RDONLY), TypeError);
  throwsKind(() => n.openPath!('x'.repeat(5000), C.O_RDONLY), RangeError);
  throwsKind(() => n.sendMessage!(0, new Uint8Array(1), 5), TypeError);
  throwsKind(() => n.sendMessage!(0, new Uint8Array(1), [-1]), TypeError);
  throwsKind(() => n.recvMessage!(0, new Uint8Array(1), -2), RangeError);
  throwsKind(() => n.setCloexec!(0, 1), TypeError);
  // A detached buffer reads as empty: nothing can be written through it.
  const detached = new Uint8Array(16);
  structuredClone(detached.buffer, { transfer: [detached.buffer] });
  throwsKind(() => n.notifRecv!(0, detached), RangeError);
});

test('socketpair, sendMessage/recvMessage with fds, timeout, EMSGSIZE, EOF', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wasmsup-native-'));
  const [a, b] = native.socketpair();
  try {
    assert.ok(isCloexec(a) && isCloexec(b));
    const file = join(dir, 'f');
    writeFileSync(file, 'x');
    const fileFd = openSync(file, 'r');
    assert.is(native.sendMessage(a, Buffer.from('hello'), [fileFd]), 5);
    closeSync(fileFd);
    const buf = new Uint8Array(64);
    const got = native.recvMessage(b, buf.subarray(8), 1000);
    assert.ok(got);
    assert.is(got!.bytes, 5);
    assert.is(Buffer.from(buf.subarray(8, 13)).toString(), 'hello');
    assert.is(got!.fds.length, 1);
    assert.ok(isCloexec(got!.fds[0]!), 'received fds are O_CLOEXEC');
    assert.is(native.fstat(got!.fds[0]!).ino, statSync(file).ino);
    native.close(got!.fds[0]!);

    const started = Date.now();
    throwsErrno(() => native.recvMessage(b, buf, 60), 'ETIMEDOUT');
    assert.ok(Date.now() - started >= 50, 'waited for the timeout');

    const before = openFdCount();
    const fileFd2 = openSync(file, 'r');
    native.sendMessage(a, new Uint8Array(100), [fileFd2]);
    closeSync(fileFd2);
    throwsErrno(() => native.recvMessage(b, new Uint8Array(10), 1000), 'EMSGSIZE');
    assert.is(openFdCount(), before, 'fds of a truncated message are closed');

    native.setCloexec(a, false);
    assert.not.ok(isCloexec(a));
    native.setCloexec(a, true);
    assert.ok(isCloexec(a));

    native.close(a);
    assert.is(native.recvMessage(b, buf, 1000), null);
    throwsErrno(() => native.sendMessage(b, Buffer.from('x')), 'EPIPE', 'sendmsg');
  } finally {
    try { native.close(a); } catch { /* closed above */ }
    native.close(b);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('eventfd and pollListener bits', () => {
  const wake = native.eventfd();
  const [a, b] = native.socketpair();
  try {
    assert.ok(isCloexec(wake));
    assert.is(native.pollListener(b, wake, 0), 0);
    assert.is(native.pollListener(b, -1, 0), 0);
    native.eventfdWrite(wake);
    native.eventfdWrite(wake, 5);
    assert.is(native.pollListener(b, wake, 0), 4);
    assert.is(native.pollListener(b, wake, 0), 0, 'the wake fd was drained');
    native.sendMessage(a, Buffer.from('n'));
    assert.is(native.pollListener(b, wake, 0), 1);
    native.eventfdWrite(wake);
    assert.is(native.pollListener(b, wake, -1), 1 | 4);
    native.recvMessage(b, new Uint8Array(4), 0);
    native.close(a);
    assert.is(native.pollListener(b, -1, 1000) & 2, 2, 'hang-up bit');
    const started = Date.now();
    const [c, d] = native.socketpair();
    assert.is(native.pollListener(c, wake, 50), 0);
    assert.ok(Date.now() - started >= 45);
    native.close(c);
    native.close(d);
    throwsErrno(() => native.pollListener(987654, -1, 0), 'EBADF');
  } finally {
    native.close(b);
    native.close(wake);
  }
});

test('openPath, fstat, stat', () => {
  const fd = native.openPath('/proc/self/ns/user', C.O_RDONLY);
  try {
    assert.ok(isCloexec(fd));
    assert.is(native.fstat(fd).ino, statSync('/proc/self/ns/user').ino);
  } finally {
    native.close(fd);
  }
  const dirFd = native.openPath('/', C.O_PATH | C.O_DIRECTORY);
  const s = native.fstat(dirFd);
  native.close(dirFd);
  assert.is(s.mode & 0o170000, 0o040000);
  assert.equal(native.stat('/'), s);
  const link = native.stat('/proc/self', false);
  assert.is(link.mode & 0o170000, 0o120000, 'lstat does not follow');
  assert.is(native.stat('/proc/self').mode & 0o170000, 0o040000);
});

// A python3 child with two 2-page mappings whose second pages are unmapped:
// A: "hello, world\0" at 0, 200 × 'x' + NUL at 64, "abc\0" ending exactly at the page end;
// B: 8 × 'u' at the very end of its page, no NUL before the unmapped page.
const MEMORY_CHILD = `
import ctypes, os, sys, time
libc = ctypes.CDLL(None)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
page = os.sysconf('SC_PAGE_SIZE')
def region():
    base = libc.mmap(None, 2 * page, 3, 0x22, -1, 0)
    libc.munmap(base + page, page)
    return base
a, b = region(), region()
ctypes.memmove(a, b'hello, world\\0', 13)
ctypes.memmove(a + 64, b'x' * 200 + b'\\0', 201)
ctypes.memmove(a + page - 4, b'abc\\0', 4)
ctypes.memmove(b + page - 8, b'u' * 8, 8)
print(a, b, page, flush=True)
time.sleep(60)
`;

async function startMemoryChild(): Promise<{ child: ChildProcess; a: bigint; b: bigint; page: number }> {
  const child = spawn('python3', ['-c', MEMORY_CHILD], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`memory child exited ${code}`)));
  });
  const [a, b, page] = line.split(' ');
  return { child, a: BigInt(a!), b: BigInt(b!), page: Number(page) };
}

function halves(addr: bigint): [number, number] {
  return [Number(addr & 0xffffffffn), Number(addr >> 32n)];
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

test('readMemory and readString on a child process', async () => {
  const { child, a, b, page } = await startMemoryChild();
  const pid = child.pid!;
  const P = BigInt(page);
  try {
    const dst = new Uint8Array(8192);
    assert.is(native.readMemory(pid, ...halves(a), dst, 13), 13);
    assert.is(Buffer.from(dst.subarray(0, 12)).toString(), 'hello, world');
    assert.is(native.readMemory(pid, ...halves(a + P - 8n), dst, 64), 8, 'short at the unmapped page');
    assert.is(native.readMemory(pid, ...halves(a), dst, 0), 0);
    throwsErrno(() => native.readMemory(pid, ...halves(a + P), dst, 16), 'EFAULT');
    throwsErrno(() => native.readMemory(pid, 0, 0, dst, 16), 'EFAULT');
    throwsErrno(() => native.readMemory(pid, 0, 0x80000000, dst, 16), 'EFAULT');
    throwsErrno(() => native.readMemory(pid, 0xfffffff0, 0xffffffff, dst, 64), 'EFAULT');

    dst.fill(0xff);
    assert.is(native.readString(pid, ...halves(a), dst, 4096), 12);
    assert.is(dst[12], 0, 'the NUL is stored');
    assert.is(native.readString(pid, ...halves(a + P - 4n), dst, 4096), 3, 'ends exactly at the page end');
    assert.is(Buffer.from(dst.subarray(0, 4)).toString('latin1'), 'abc\0');
    assert.is(native.readString(pid, ...halves(a + 64n), dst, 201), 200, 'NUL as the last allowed byte');
    throwsErrno(() => native.readString(pid, ...halves(a + 64n), dst, 200), 'ENAMETOOLONG');
    throwsErrno(() => native.readString(pid, ...halves(a + 64n), dst, 0), 'ENAMETOOLONG');
    throwsErrno(() => native.readString(pid, ...halves(b + P - 8n), dst, 4096), 'EFAULT');
    throwsErrno(() => native.readString(pid, 0, 0, dst, 4096), 'EFAULT');
    throwsErrno(() => native.readString(pid, 0, 0x80000000, dst, 4096), 'EFAULT');
    throwsKind(() => native.readString(pid, ...halves(a), dst, 8193), RangeError);
  } finally {
    await stop(child);
  }
  throwsErrno(() => native.readMemory(pid, ...halves(a), new Uint8Array(4), 4), 'ESRCH');
});

test('readCreds of this process matches /proc/self/status', () => {
  const status = readFileSync('/proc/self/status', 'utf8');
  const field = (name: string) => new RegExp(`^${name}:[ \\t]*([^\\n]*)$`, 'm').exec(status)![1]!.trim();
  const out = new Uint32Array(native.constants.CREDS_WORDS);
  native.readCreds(process.pid, out);
  assert.equal([...out.subarray(0, 4)], field('Uid').split(/\s+/).map(Number));
  assert.equal([...out.subarray(4, 8)], field('Gid').split(/\s+/).map(Number));
  assert.is(out[8], parseInt(field('Umask'), 8));
  assert.is(out[9], process.pid);
  const cap = (name: string, at: number) => {
    const v = BigInt(`0x${field(name)}`);
    assert.is(out[at], Number(v & 0xffffffffn), name);
    assert.is(out[at + 1], Number(v >> 32n), name);
  };
  cap('CapInh', 10);
  cap('CapPrm', 12);
  cap('CapEff', 14);
  cap('CapBnd', 16);
  assert.is(out[18], Number(field('NoNewPrivs')));
  const groups = field('Groups') === '' ? [] : field('Groups').split(/\s+/).map(Number);
  assert.is(out[19], Math.min(groups.length, 64));
  assert.equal([...out.subarray(32, 32 + out[19]!)], groups.slice(0, 64));
  throwsErrno(() => native.readCreds(2147483647, out), 'ENOENT');
});

test('nsInode and readIdMap', () => {
  assert.is(native.nsInode(process.pid, 'user'), statSync('/proc/self/ns/user').ino);
  assert.is(native.nsInode(process.pid, 'mnt'), statSync('/proc/self/ns/mnt').ino);
  const out = new Uint32Array(3 * 340);
  const lines = native.readIdMap(process.pid, 'uid', out);
  const expected = readFileSync('/proc/self/uid_map', 'utf8').trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
  assert.is(lines, expected.length);
  assert.equal([...out.subarray(0, 3 * lines)], expected.flat());
  assert.ok(native.readIdMap(process.pid, 'gid', out) >= 1);
  if (lines > 0) throwsKind(() => native.readIdMap(process.pid, 'uid', new Uint32Array(2)), RangeError);
  throwsErrno(() => native.nsInode(2147483647, 'user'), 'ENOENT');
});

test('pidfdOpen, pidfdGetfd, pidfdSendSignal', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wasmsup-native-'));
  const file = join(dir, 'target');
  writeFileSync(file, 'payload');
  const fileFd = openSync(file, 'r');
  const child = spawn('sleep', ['60'], { stdio: ['ignore', 'ignore', 'inherit', fileFd] });
  closeSync(fileFd);
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  let pidfd = -1;
  try {
    await new Promise((resolve) => child.once('spawn', resolve));
    pidfd = native.pidfdOpen(child.pid!);
    assert.ok(isCloexec(pidfd));
    const stolen = native.pidfdGetfd(pidfd, 3);
    assert.ok(isCloexec(stolen));
    const s = native.fstat(stolen);
    native.close(stolen);
    assert.is(s.ino, statSync(file).ino);
    assert.is(s.dev, statSync(file).dev);
    throwsErrno(() => native.pidfdGetfd(pidfd, 999), 'EBADF', 'pidfd_getfd');
    native.pidfdSendSignal(pidfd, 9);
    assert.is(await exited, 'SIGKILL');
  } finally {
    if (pidfd >= 0) native.close(pidfd);
    await stop(child);
    rmSync(dir, { recursive: true, force: true });
  }
  throwsErrno(() => native.pidfdOpen(2147483647), 'ESRCH', 'pidfd_open');
  throwsErrno(() => native.pidfdSendSignal(-1, 0), 'EBADF');
});

test('notifSizes and listener ioctls on a non-listener fd', () => {
  assert.equal(native.notifSizes(), { notif: 80, resp: 24, data: 64 });
  const fd = native.eventfd();
  try {
    throwsErrno(() => native.notifRecv(fd, new Uint8Array(80)), 'ENOTTY', 'ioctl(SECCOMP_IOCTL_NOTIF_RECV)');
    throwsErrno(() => native.notifIdValid(fd, new Uint8Array(8)), 'ENOTTY');
  } finally {
    native.close(fd);
  }
  throwsErrno(() => native.notifSend(-1, new Uint8Array(24)), 'EBADF');
});

test('constants', () => {
  assert.is(C.SECCOMP_RET_ALLOW, 0x7fff0000);
  assert.is(C.SECCOMP_RET_USER_NOTIF, 0x7fc00000);
  assert.is(C.SECCOMP_USER_NOTIF_FLAG_CONTINUE, 1);
  assert.is(C.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, 1);
  assert.is(C.AUDIT_ARCH_X86_64, 0xc000003e);
  assert.is(C.AUDIT_ARCH_AARCH64, 0xc00000b7);
  assert.is(C.AT_FDCWD, -100);
  assert.is(C.CREDS_WORDS, 96);
  assert.ok(Object.isFrozen(C));
});

test('layouts: the TypeScript word offsets agree with the native definitions the addon exports', () => {
  // native/creds_layout.h
  assert.is(CREDS_WORDS, C.CREDS_WORDS);
  assert.equal(Creds, {
    UID: C.CREDS_UID, GID: C.CREDS_GID, UMASK: C.CREDS_UMASK, TGID: C.CREDS_TGID,
    CAP_INH: C.CREDS_CAP_INH, CAP_PRM: C.CREDS_CAP_PRM, CAP_EFF: C.CREDS_CAP_EFF, CAP_BND: C.CREDS_CAP_BND,
    NO_NEW_PRIVS: C.CREDS_NO_NEW_PRIVS, NGROUPS: C.CREDS_NGROUPS, USERNS_INODE: C.CREDS_USERNS_INODE, GROUPS: C.CREDS_GROUPS,
    MAX_GROUPS: C.CREDS_WORDS - C.CREDS_GROUPS, NGROUPS_MAX: C.CREDS_NGROUPS_MAX,
  });
  // native/notif_layout.h (checked against the kernel's struct seccomp_notif when the addon is built):
  // the words the data plane reads a notification by.
  assert.equal(
    [C.NOTIF_WORD_ID, C.NOTIF_WORD_PID, C.NOTIF_WORD_FLAGS, C.NOTIF_WORD_NR, C.NOTIF_WORD_ARCH, C.NOTIF_WORD_IP, C.NOTIF_WORD_ARGS, C.NOTIF_WORDS],
    [0, 2, 3, 4, 5, 6, 8, 20],
  );
  // src/layouts.ts, which the data plane reads them by.
  assert.equal([Notif.ID_LO, Notif.TID, Notif.FLAGS, Notif.NR, Notif.ARCH, Notif.IP_LO, Notif.ARGS, Notif.DATA_TO],
    [C.NOTIF_WORD_ID, C.NOTIF_WORD_PID, C.NOTIF_WORD_FLAGS, C.NOTIF_WORD_NR, C.NOTIF_WORD_ARCH, C.NOTIF_WORD_IP, C.NOTIF_WORD_ARGS, C.NOTIF_WORDS]);
});

test('writeMemory, bpfProg*, sysinfo: writes land, bad arguments are clear errors, nothing crashes', () => {
  // Writing into a child's memory: python3 prints a bytearray's address, waits, then prints it.
  const child = spawn('python3', ['-c', 'import ctypes,sys\nb=ctypes.create_string_buffer(8)\nprint(ctypes.addressof(b),flush=True)\nsys.stdin.readline()\nprint(b.raw[:4].decode())'], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const lines = out.split('\n');
      if (lines.length === 2 && lines[1] === '') {
        try {
          const addr = BigInt(lines[0]!);
          const n = native.writeMemory(child.pid!, Number(addr & 0xffffffffn), Number(addr >> 32n), new TextEncoder().encode('wsup'), 4);
          assert.is(n, 4);
        } catch (e) { reject(e); }
        child.stdin!.end('\n');
      }
    });
    child.on('close', () => {
      try {
        assert.is(out.split('\n')[1], 'wsup');
        const t = (f: () => unknown): string => { try { f(); return 'ok'; } catch (e) { return (e as Error).constructor.name + ': ' + (e as Error).message; } };
        assert.match(t(() => native.writeMemory(process.pid, 0, 0, new Uint8Array(4), 8)), /RangeError: writeMemory: len is larger than src/);
        assert.match(t(() => native.writeMemory(process.pid, 16, 0, new Uint8Array(4), 4)), /EFAULT/);
        assert.match(t(() => native.bpfProgLoad(new Uint8Array(10), new Uint8Array(8), new Uint8Array([0]), null)), /RangeError: bpfProgLoad: attr/);
        assert.match(t(() => native.bpfProgLoad(new Uint8Array(48), new Uint8Array(7), new Uint8Array([0]), null)), /RangeError: bpfProgLoad: insns/);
        assert.match(t(() => native.bpfProgLoad(new Uint8Array(48), new Uint8Array(8), new Uint8Array([65]), null)), /RangeError: bpfProgLoad: license/);
        assert.match(t(() => native.bpfProgAttach(new Uint8Array(4))), /RangeError: bpfProgAttach: attr/);
        assert.match(t(() => native.sysinfo(new Float64Array(2))), /RangeError: sysinfo: out/);
        const si = new Float64Array(14);
        native.sysinfo(si);
        assert.ok(si[0]! > 0 && si[4]! > 0 && si[13]! >= 1, `sysinfo ${si.join(',')}`);
        resolve();
      } catch (e) { reject(e); }
    });
  });
});

test.run();
