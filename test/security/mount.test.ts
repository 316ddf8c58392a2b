// The mount emulation attacked as a container's root would (security tier). Each case names the
// protection it meets and what would happen without it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runWasmsup, POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { ext4Image, hostMounts, PY_MOUNT } from '../support/mount-image.js';
import { installProbe, NS_ROOT } from '../support/syscall-probe.js';

const MOUNT = POLICY('mount');

function config(dir: string, json: object): string {
  const path = join(dir, 'mount.json');
  writeFileSync(path, JSON.stringify(json));
  return path;
}

test('source: only a block device the caller itself can open, never a file or a magic link', async () => {
  if (!privileged('mount source checks')) return;
  const img = ext4Image();
  try {
    const cfg = config(img.dir, { allowed: ['ext4'], shift: true });
    chownSync(img.image, NS_ROOT, NS_ROOT);
    const t = JSON.stringify(img.target), loop = JSON.stringify(img.loop);
    const py = `${PY_MOUNT}
fd = os.open(${loop}, os.O_RDONLY)
m("magic-link", "/proc/%d/fd/%d" % (os.getpid(), fd), ${t}, "ext4")
m("proc-self", "/proc/self/fd/%d" % fd, ${t}, "ext4")
m("regular-file", ${JSON.stringify(img.image)}, ${t}, "ext4")
m("missing", "/nonexistent/dev", ${t}, "ext4")
sys.stdout.flush()
open(${JSON.stringify(join(img.dir, 'ready'))}, "w").close()
import time
while os.path.exists(${JSON.stringify(join(img.dir, 'ready'))}): time.sleep(0.02)
m("not-readable", ${loop}, ${t}, "ext4")
m("not-readable-ro", ${loop}, ${t}, "ext4", MS_RDONLY)`;
    // Without the caller's own open, the helper (root) would open any device node it is shown.
    const run = runWasmsup(['run', '--userns', '--policy', MOUNT, '--policy-config', cfg, '--', 'python3', '-c', py]);
    const ready = join(img.dir, 'ready');
    for (let i = 0; i < 500; i++) {
      try { chmodSync(ready, 0o644); break; } catch { await new Promise((r) => setTimeout(r, 20)); }
    }
    chownSync(img.loop, 0, 6); // root:disk 0660: the container's root may no longer open it
    chmodSync(img.loop, 0o660);
    const { rmSync } = await import('node:fs');
    rmSync(ready, { force: true });
    const r = await run;
    assert.is(r.stdout, [
      // /proc/PID/fd/N is a magic link: never followed (ELOOP). /proc/self in the helper's child names
      // no process of the caller's pid namespace: ENOENT. Either way the caller's fd is never reached.
      'magic-link ELOOP', 'proc-self ENOENT', 'regular-file ENOTBLK', 'missing ENOENT', 'not-readable EACCES', 'not-readable-ro EACCES', '',
    ].join('\n'), r.stderr);
    assert.equal(hostMounts(img.dir), []);
  } finally { img.cleanup(); }
});

test('options: a 1 MiB or page-end unterminated string gets the kernel\'s answer; device/path options are refused', async () => {
  if (!privileged('mount options')) return;
  const img = ext4Image();
  try {
    const cfg = config(img.dir, { allowed: ['ext4'], shift: true });
    const t = JSON.stringify(img.target), loop = JSON.stringify(img.loop);
    const py = `${PY_MOUNT}
big = ctypes.create_string_buffer(b"a" * (1 << 20), 1 << 20)
m("1MiB", ${loop}, ${t}, "ext4", 0, ctypes.addressof(big))
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
p = libc.mmap(None, 8192, 3, 0x22, -1, 0)
libc.munmap(p + 4096, 4096)
ctypes.memset(p, ord("a"), 4096)
m("page-end", ${loop}, ${t}, "ext4", 0, p)
ctypes.memmove(p, b"ro,errors=remount-ro," + b"x" * 4000, 4021)
m("page-end-options", ${loop}, ${t}, "ext4", 0, p)
m("unreadable", ${loop}, ${t}, "ext4", 0, p + 4096)
m("journal_path", ${loop}, ${t}, "ext4", 0, ctypes.c_char_p(b"journal_path=/etc/passwd"))
m("journal_dev", ${loop}, ${t}, "ext4", 0, ctypes.c_char_p(b"journal_dev=2049"))
m("source", ${loop}, ${t}, "ext4", 0, ctypes.c_char_p(b"source=/dev/sda"))
m("good", ${loop}, ${t}, "ext4", MS_RDONLY, ctypes.c_char_p(b"errors=remount-ro,,noload"))
print("good-opts", opts(${t}))
u("umount", ${t})`;
    const r = await runWasmsup(['run', '--userns', '--policy', MOUNT, '--policy-config', cfg, '--', 'python3', '-c', py]);
    assert.is(r.stdout, [
      'page-end EINVAL'.replace('page-end', '1MiB'), 'page-end EINVAL', 'page-end-options EINVAL', 'unreadable EFAULT',
      'journal_path EPERM', 'journal_dev EPERM', 'source EPERM',
      'good ok', 'good-opts ro,nosuid,nodev,relatime,idmapped ext4', 'umount ok', '',
    ].join('\n'), r.stderr);
    assert.equal(hostMounts(img.dir), []);
  } finally { img.cleanup(); }
});

test('suid and dev: forced nosuid,nodev unless configured', async () => {
  if (!privileged('mount suid dev')) return;
  const img = ext4Image();
  try {
    const t = JSON.stringify(img.target), loop = JSON.stringify(img.loop);
    const py = `${PY_MOUNT}
m("suid-dev", ${loop}, ${t}, "ext4", 0)
print("opts", opts(${t}))
u("umount", ${t})`;
    const forced = await runWasmsup(['run', '--userns', '--policy', MOUNT, '--policy-config',
      config(img.dir, { allowed: ['ext4'] }), '--', 'python3', '-c', py]);
    assert.is(forced.stdout, 'suid-dev ok\nopts rw,nosuid,nodev,relatime ext4\numount ok\n', forced.stderr);
    const allowed = await runWasmsup(['run', '--userns', '--policy', MOUNT, '--policy-config',
      config(img.dir, { allowed: ['ext4'], allowSuid: true, allowDev: true }), '--', 'python3', '-c', py]);
    assert.is(allowed.stdout, 'suid-dev ok\nopts rw,relatime ext4\numount ok\n', allowed.stderr);
  } finally { img.cleanup(); }
});

test('target: never on or under /proc or /sys, also when a symlink is swapped in during the call', async () => {
  if (!privileged('mount target checks')) return;
  const img = ext4Image();
  try {
    const cfg = config(img.dir, { allowed: ['ext4'], shift: true });
    const loop = JSON.stringify(img.loop);
    const swap = join(img.dir, 'swap');
    const py = `${PY_MOUNT}
import threading, time
for target in ["/proc", "/proc/sys", "/sys", "/sys/fs/cgroup", "/proc/sys/kernel"]:
  m(target, ${loop}, target, "ext4")
os.mkdir(${JSON.stringify(swap)})
def racer():
  time.sleep(0.2)
  os.rmdir(${JSON.stringify(swap)})
  os.symlink("/proc/sys", ${JSON.stringify(swap)})
th = threading.Thread(target=racer); th.start()
m("swapped-to-proc", ${loop}, ${JSON.stringify(swap)}, "ext4")
th.join()
print("proc-sys", opts("/proc/sys"))`;
    // The host reads the target, waits (the test fault), and only then resolves it once: the swap
    // lands before the resolution, which then finds /proc/sys and refuses it.
    const r = await runWasmsup(['run', '--userns', '--policy', MOUNT, '--policy-config', cfg, '--', 'python3', '-c', py],
      { env: { ...process.env, WASMSUP_TEST_FAULTS: 'delay-after-path-read-ms=600' } });
    assert.is(r.stdout, [
      '/proc EPERM', '/proc/sys EPERM', '/sys EPERM', '/sys/fs/cgroup EPERM', '/proc/sys/kernel EPERM',
      'swapped-to-proc EPERM', 'proc-sys none', '',
    ].join('\n'), r.stderr);
    assert.equal(hostMounts('/proc/sys'), []);
  } finally { img.cleanup(); }
});

test('target: resolved inside the caller\'s root, never outside it (chroot, absolute symlink, ..)', async () => {
  if (!privileged('mount target outside root')) return;
  const img = ext4Image();
  try {
    const cfg = config(img.dir, { allowed: ['ext4'], shift: true });
    const rootfs = join(img.dir, 'rootfs');
    mkdirSync(join(rootfs, 'dev'), { recursive: true });
    writeFileSync(join(rootfs, 'dev', 'disk'), '');
    installProbe(rootfs);
    const { symlinkSync } = await import('node:fs');
    symlinkSync(`/../../../../..${img.target}`, join(rootfs, 'escape'));
    chownSync(rootfs, NS_ROOT, NS_ROOT);
    const script = [
      `mount --bind ${img.loop} ${rootfs}/dev/disk`,
      `chroot ${rootfs} /probe mount /dev/disk /escape ext4 0`,
      `chroot ${rootfs} /probe mount /dev/disk /../../../../..${img.target} ext4 0`,
      `awk '$5 == "${img.target}"' /proc/self/mountinfo | wc -l`,
    ].join('\n');
    const r = await runWasmsup(['run', '--userns', '--policy', MOUNT, '--policy-config', cfg, '--', 'sh', '-c', script]);
    assert.is(r.stdout, 'ret=-1 errno=ENOENT\nret=-1 errno=ENOENT\n0\n', r.stderr);
    assert.equal(hostMounts(img.dir), []);
  } finally { img.cleanup(); }
});

test.run();
