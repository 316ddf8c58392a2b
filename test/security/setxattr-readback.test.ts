// GETXATTR reads trusted.* as the host (CAP_SYS_ADMIN of the initial namespace) for the workload's
// root. The attacker, root of its user namespace and chrooted, tries to make it read what the
// kernel would never show it: a trusted name the host does not manage, a file outside its root
// through /proc/1/root (directly, through a symlink, and through a symlink swapped in while the
// host works), a name swapped after the policy looked, and buffer pointers aimed where the write
// would do harm. Each must get what the kernel gives it, and the host's file's value must never
// reach it. Shown to fail against the design it guards against: with the helper re-resolving the
// caller's path itself after its child's checks (openat from the caller's cwd, as the host), the
// swapped absolute symlink gave the attacker the host file's value in 517 of 3,000 rounds
// (2026-12-02); as built (the inode the child found, read through its fd): 0.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, lchownSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { runWasmsup, tempDir, POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { PYTHON_RACE } from '../support/python-race.js';
import { NS_ROOT } from '../support/syscall-probe.js';

const O = 'trusted.overlay.opaque';
const SECRET = 'host-secret';
const ROUNDS = 3000;

/** The attack, run inside the chroot `root` (which has /proc); `host` is the host file's path. */
const ATTACK = (root: string, host: string) => `${PYTHON_RACE}
O = "${O}"
os.chroot(${JSON.stringify(root)}); os.chdir("/")
def t(label, f):
  try: print(label, f())
  except OSError as e: print(label, "E%d" % e.errno)
# The names the host does not manage, on the attacker's own file.
t("other-trusted", lambda: os.getxattr("own", "trusted.overlay.redirect"))
t("other-trusted-2", lambda: os.getxattr("own", "trusted.secret"))
t("own-list", sorted(os.listxattr("own")).__str__)
# The host's file through the host's /proc/1/root, directly and through the attacker's symlink.
t("proc-root", lambda: os.getxattr("/proc/1/root${host}", O))
t("proc-root-list", lambda: O in os.listxattr("/proc/1/root${host}"))
t("proc-self-root", lambda: os.getxattr("/proc/self/root/own", O))
t("link", lambda: os.getxattr("escape", O))
t("link-list", lambda: O in os.listxattr("escape"))
t("abs-link", lambda: os.getxattr("abs-link", O))
t("dotdot", lambda: os.getxattr("../../../../../../..${host}", O))
# The race: "race" is the attacker's own file and the escaping symlink in turn.
stop = exchanging(b"race", b"spare")
for i in range(${ROUNDS}):
  try: note(os.getxattr("race", O).decode())
  except OSError as e: note("E%d" % e.errno)
  try: note("listed" if O in os.listxattr("race") else "unlisted")
  except OSError as e: note("list-E%d" % e.errno)
stop()
# The name swapped between a managed one and an unmanaged one after the policy looked.
name = ctypes.create_string_buffer(b"trusted.overlay.opaque", 64)
def flip():
  while not stop2:
    ctypes.memmove(name, b"trusted.secret\\0", 15); ctypes.memmove(name, b"trusted.overlay.opaque\\0", 23)
stop2 = False
th = threading.Thread(target=flip); th.start()
buf = ctypes.create_string_buffer(64)
for i in range(${ROUNDS}):
  n = libc.getxattr(b"own", name, buf, 64)
  note("flip:" + (buf.raw[:n].decode() if n >= 0 else "E%d" % ctypes.get_errno()))
stop2 = True; th.join()
print("race", sorted(seen.items()))
# Buffers: unmapped, read-only, and a real buffer with a size far beyond it (only the value's
# length may be written).
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
ro = libc.mmap(None, 4096, 1, 0x22, -1, 0)
def err(n): return n if n >= 0 else "E%d" % ctypes.get_errno()
print("unmapped", err(libc.getxattr(b"own", O.encode(), ctypes.c_void_p(8), ctypes.c_size_t(16))))
print("read-only", err(libc.getxattr(b"own", O.encode(), ctypes.c_void_p(ro), ctypes.c_size_t(16))), ctypes.string_at(ro, 16) == b"\\0" * 16)
print("list-read-only", err(libc.listxattr(b"own", ctypes.c_void_p(ro), ctypes.c_size_t(4096))), ctypes.string_at(ro, 16) == b"\\0" * 16)
guard = ctypes.create_string_buffer(b"\\xaa" * 64, 64)
print("oversized", err(libc.getxattr(b"own", O.encode(), guard, ctypes.c_size_t(1 << 40))), guard.raw[:1], guard.raw[1:] == b"\\xaa" * 63)
`;

test('the attacker (chrooted root of its namespace) reads no unmanaged trusted name, nothing through /proc/1/root, nothing through a swapped symlink, nothing beyond its buffer', async () => {
  if (!privileged('setxattr read-back attack')) return;
  const t = tempDir('wasmsup-sec-xattr-rb-');
  const root = join(t.path, 'root');
  const proc = join(root, 'proc');
  const host = join(t.path, 'host-file');
  let mounted = false;
  try {
    chmodSync(t.path, 0o755);
    mkdirSync(root);
    chownSync(root, NS_ROOT, NS_ROOT);
    mkdirSync(proc);
    execFileSync('mount', ['--bind', '/proc', proc]);
    mounted = true;
    // The host's file: mapped (owned by the namespace's root), so only the root stands between.
    writeFileSync(host, 'x');
    chownSync(host, NS_ROOT, NS_ROOT);
    execFileSync('setfattr', ['-n', O, '-v', SECRET, host]);
    for (const f of ['own', 'spare']) {
      writeFileSync(join(root, f), 'x');
      chownSync(join(root, f), NS_ROOT, NS_ROOT);
    }
    execFileSync('setfattr', ['-n', O, '-v', 'y', join(root, 'own')]);
    execFileSync('setfattr', ['-n', O, '-v', 'y', join(root, 'spare')]);
    execFileSync('setfattr', ['-n', 'trusted.overlay.redirect', '-v', '/host/path', join(root, 'own')]);
    execFileSync('setfattr', ['-n', 'trusted.secret', '-v', 'bar', join(root, 'own')]);
    // Through the host's /proc, and an absolute link: inside the attacker's root it names nothing,
    // but a host that resolved it again itself, from its own root, would reach the host's file.
    for (const [l, target] of [['escape', `/proc/1/root${host}`], ['abs-link', host], ['race', host]] as const) {
      symlinkSync(target, join(root, l));
      lchownSync(join(root, l), NS_ROOT, NS_ROOT);
    }

    const r = await runWasmsup(['run', '--userns', '--policy', POLICY('setxattr'), '--', 'python3', '-c', ATTACK(root, host)]);
    assert.is(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    const line = (label: string) => lines.find((l) => l.startsWith(label + ' ')) ?? `${label} (missing)`;
    const race = line('race');
    console.log(`  race (${ROUNDS} rounds each): ${race}`);
    assert.not.match(r.stdout, SECRET);
    assert.not.match(r.stdout, 'bar');
    assert.is(line('other-trusted'), 'other-trusted E61');
    assert.is(line('other-trusted-2'), 'other-trusted-2 E61');
    assert.is(line('own-list'), `own-list ['${O}']`);
    // The helper's child refuses magic links (ELOOP); the kernel would refuse the caller pid 1's
    // root (EACCES). Either way nothing of the host's file.
    for (const l of ['proc-root', 'link']) assert.match(line(l), /^\S+ E(40|13)$/);
    for (const l of ['proc-root-list', 'link-list']) assert.match(line(l), /^\S+ (False|E40|E13)$/);
    assert.is(line('proc-self-root'), 'proc-self-root E40');
    assert.is(line('abs-link'), 'abs-link E2');
    assert.is(line('dotdot'), 'dotdot E2');
    assert.match(race, /\('y', \d+\)/); // the own file was read back
    assert.match(race, /\('flip:y', \d+\)/);
    assert.is(line('unmapped'), 'unmapped E14');
    assert.is(line('read-only'), 'read-only E14 True');
    assert.is(line('list-read-only'), 'list-read-only E14 True');
    assert.is(line('oversized'), "oversized 1 b'y' True");
    // The host's file and the attacker's are as they were.
    assert.is(execFileSync('getfattr', ['--only-values', '-n', O, host], { encoding: 'utf8' }), SECRET);
  } finally {
    if (mounted) spawnSync('umount', ['-l', proc]);
    t.cleanup();
  }
});

test('a caller without CAP_SYS_ADMIN in the namespace (uid 1000 there) gets the kernel\'s answers', async () => {
  if (!privileged('setxattr read-back unprivileged caller')) return;
  const t = tempDir('wasmsup-sec-xattr-rb-');
  try {
    chmodSync(t.path, 0o755);
    writeFileSync(join(t.path, 'f'), 'x');
    chmodSync(join(t.path, 'f'), 0o644);
    chownSync(join(t.path, 'f'), NS_ROOT + 1000, NS_ROOT + 1000);
    execFileSync('setfattr', ['-n', O, '-v', 'y', join(t.path, 'f')]);
    const py = `import os\nos.setgid(1000); os.setuid(1000)\ntry: print(os.getxattr(${JSON.stringify(join(t.path, 'f'))}, "${O}"))\nexcept OSError as e: print("E%d" % e.errno)\nprint(os.listxattr(${JSON.stringify(join(t.path, 'f'))}))`;
    const r = await runWasmsup(['run', '--userns', '--policy', POLICY('setxattr'), '--', 'python3', '-c', py]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, 'E61\n[]\n');
  } finally { t.cleanup(); }
});

test.run();
