// fd_info: what a caller's fd refers to, as a policy sees it (test/fixtures/policies/fd-info-probe.ts
// answers flock(fd, 0x10000 + k) with field k), compared with what the workload itself knows.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runWasmsup, tempDir, TEST_POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { installProbe } from '../support/syscall-probe.js';

const PROBE_POLICY = TEST_POLICY('fd-info-probe');

const PY = `
import ctypes, os, socket, platform
libc = ctypes.CDLL(None, use_errno=True)
NR = {"x86_64": 73, "aarch64": 32}[platform.machine()]
def q(fd, k):
    r = libc.syscall(NR, fd, 0x10000 + k)
    return r if r >= 0 else -ctypes.get_errno()
def path(fd):
    n = q(fd, 6)
    return bytes(q(fd, 0x100 + i) for i in range(n)).decode() if n > 0 else n
f = os.open("/etc/hostname", os.O_RDONLY | os.O_NONBLOCK)
st = os.fstat(f)
print("file", q(f, 0) == 0o100000, q(f, 3) == st.st_ino & 0x7fffffff, (q(f, 4), q(f, 5)) == (os.major(st.st_dev), os.minor(st.st_dev)),
      path(f), q(f, 7), q(f, 8) & (os.O_ACCMODE | os.O_NONBLOCK) == os.O_NONBLOCK)
w = os.open("/dev/null", os.O_WRONLY)
print("dev", path(w), q(w, 8) & os.O_ACCMODE)
for fam, typ in [(socket.AF_INET6, socket.SOCK_DGRAM), (socket.AF_UNIX, socket.SOCK_STREAM), (socket.AF_INET, socket.SOCK_STREAM)]:
    s = socket.socket(fam, typ)
    print("socket", q(s.fileno(), 0) == 0o140000, q(s.fileno(), 1) == fam, q(s.fileno(), 2) == typ, path(s.fileno()).startswith("socket:["), q(s.fileno(), 7))
r, _ = os.pipe()
print("pipe", q(r, 0) == 0o10000, path(r).startswith("pipe:["), q(r, 7))
print("procfs", hex(q(os.open("/proc/self/status", os.O_RDONLY), 9)))
print("closed", q(99, 0))
`;

test('fd_info: type, inode, device, path, open flags, socket family/type, file system; EBADF', async () => {
  if (!privileged('fd_info')) return;
  const r = await runWasmsup(['run', '--userns', '--policy', PROBE_POLICY, '--', 'python3', '-c', PY]);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, [
    'file True True True /etc/hostname 1 True',
    'dev /dev/null 1',
    'socket True True True True 4',
    'socket True True True True 4',
    'socket True True True True 4',
    'pipe True True 4',
    'procfs 0x9fa0',
    'closed -9',
    '',
  ].join('\n'));
});

test('fd_info paths are as the caller sees them from its root; a file outside it is flagged', async () => {
  if (!privileged('fd_info chroot')) return;
  const t = tempDir();
  try {
    chmodSync(t.path, 0o755);
    mkdirSync(join(t.path, 'etc'));
    writeFileSync(join(t.path, 'etc', 'inside.conf'), 'x\n');
    installProbe(t.path);
    const r = await runWasmsup(['run', '--userns', '--policy', PROBE_POLICY, '--', 'sh', '-c',
      `exec 5</etc/hostname; chroot ${t.path} /probe fdinfo /etc/inside.conf; chroot ${t.path} /probe fdinfo /; chroot ${t.path} /probe fdinfo 5`]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, 'path=/etc/inside.conf flags=1\npath=/ flags=1\npath=/etc/hostname flags=2\n');
  } finally { t.cleanup(); }
});

test.run();
