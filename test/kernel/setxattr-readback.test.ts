// The setxattr policy's read-back (GETXATTR, docs/policy-abi.md): what the workload's root set with
// the policy (trusted.overlay.opaque) it reads back and lists, so getfattr, python's os.getxattr and
// os.listxattr, cp -a and tar --xattrs keep it; the kernel's size query and ERANGE; a file the
// caller cannot read or whose owner its namespace does not map gives what the kernel gives.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, lchownSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { runWasmsup, tempDir, POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { NS_ROOT } from '../support/syscall-probe.js';

const SETXATTR = POLICY('setxattr');
const O = 'trusted.overlay.opaque';

/** The xattrs of PATH as the host's root sees them (symlinks not followed), "name=value;..." sorted. */
function hostXattrs(path: string): string {
  return execFileSync('python3', ['-c', `import os,sys
p=sys.argv[1]
print(";".join(f"{n}={os.getxattr(p,n,follow_symlinks=False).decode()}" for n in sorted(os.listxattr(p,follow_symlinks=False))))`, path], { encoding: 'utf8' }).trim();
}

function hasTool(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

/** A directory owned by the namespace's root, with `names` (dirs) and `files` in it, also its own. */
function ownTree(names: string[], files: string[]) {
  const t = tempDir('wasmsup-xattr-rb-');
  chmodSync(t.path, 0o755);
  chownSync(t.path, NS_ROOT, NS_ROOT);
  for (const d of names) { mkdirSync(join(t.path, d)); chownSync(join(t.path, d), NS_ROOT, NS_ROOT); }
  for (const f of files) { writeFileSync(join(t.path, f), 'x'); chownSync(join(t.path, f), NS_ROOT, NS_ROOT); }
  return t;
}

test('getfattr -d -m -, os.getxattr and os.listxattr (path, l and f forms) show what the policy set; without the policy they do not', async () => {
  if (!privileged('setxattr read-back')) return;
  if (!hasTool('getfattr') || !hasTool('setfattr')) {
    assert.unreachable('getfattr/setfattr missing: apt-get install attr');
    return;
  }
  const t = ownTree(['d'], ['f']);
  try {
    symlinkSync('f', join(t.path, 'link'));
    lchownSync(join(t.path, 'link'), NS_ROOT, NS_ROOT);
    execFileSync('setfattr', ['-n', 'user.kept', '-v', '1', join(t.path, 'f')]);
    const script = [
      `cd ${t.path}`,
      `setfattr -n ${O} -v y d f`,
      `setfattr -h -n ${O} -v y link`,
      'getfattr -d -m - d f 2>/dev/null',
      'getfattr -h -n trusted.overlay.opaque --only-values link 2>/dev/null; echo',
      `python3 -c '
import os
O = "${O}"
fd = os.open("f", os.O_RDONLY)
print("get", os.getxattr("d", O), "lget", os.getxattr("link", O, follow_symlinks=False), "fget", os.getxattr(fd, O))
print("list", sorted(os.listxattr("f")), "llist", sorted(os.listxattr("link", follow_symlinks=False)), "flist", sorted(os.listxattr(fd)))
'`,
    ].join('\n');
    const r = await runWasmsup(['run', '--userns', '--policy', SETXATTR, '--', 'sh', '-c', script]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, [
      '# file: d', `${O}="y"`, '',
      '# file: f', `${O}="y"`, 'user.kept="1"', '',
      'y',
      "get b'y' lget b'y' fget b'y'",
      `list ['${O}', 'user.kept'] llist ['${O}'] flist ['${O}', 'user.kept']`,
      '',
    ].join('\n'));
    assert.is(hostXattrs(join(t.path, 'link')), `${O}=y`);
    // Before GETXATTR (the kernel alone): what the policy set is invisible to the one who set it.
    const before = await runWasmsup(['run', '--userns', '--', 'sh', '-c', `cd ${t.path}; getfattr -d -m - d f 2>/dev/null`]);
    assert.is(before.code, 0, before.stderr);
    assert.is(before.stdout, '# file: f\nuser.kept="1"\n\n');
  } finally { t.cleanup(); }
});

test('cp -a, tar --xattrs (and rsync -aX where installed) round trips keep trusted.overlay.opaque', async () => {
  if (!privileged('setxattr read-back round trips')) return;
  const rsync = hasTool('rsync');
  const t = ownTree(['d', 'out', 'synced'], []);
  try {
    mkdirSync(join(t.path, 'd', 'sub'));
    chownSync(join(t.path, 'd', 'sub'), NS_ROOT, NS_ROOT);
    const script = [
      `cd ${t.path}`,
      `setfattr -n ${O} -v y d/sub`,
      'cp -a d copy',
      `tar --xattrs --xattrs-include='*' -cf d.tar d`,
      `tar --xattrs --xattrs-include='*' -xf d.tar -C out`,
      ...(rsync ? ['rsync -aX d synced/'] : []),
      'echo done',
    ].join(' && ');
    const r = await runWasmsup(['run', '--userns', '--policy', SETXATTR, '--', 'sh', '-c', script]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, 'done\n');
    assert.is(hostXattrs(join(t.path, 'copy', 'sub')), `${O}=y`);
    assert.is(hostXattrs(join(t.path, 'out', 'd', 'sub')), `${O}=y`);
    if (rsync) assert.is(hostXattrs(join(t.path, 'synced', 'd', 'sub')), `${O}=y`);
    assert.is(hostXattrs(join(t.path, 'copy')), '');
  } finally { t.cleanup(); }
});

// ctypes: the raw calls, so sizes, NULL and ERANGE are the caller's own.
const SIZES = (dir: string) => `
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
O = b"${O}"
os.chdir(${JSON.stringify(dir)})
def r(label, n):
  print(label, n if n >= 0 else "E%d" % ctypes.get_errno())
def g(path, name, size):
  buf = ctypes.create_string_buffer(b"\\xaa" * 8, 8)
  n = libc.getxattr(path, name, buf if size else None, ctypes.c_size_t(size))
  return n, buf.raw
def l(path, size):
  buf = ctypes.create_string_buffer(b"\\xaa" * 256, 256)
  n = libc.listxattr(path, buf if size else None, ctypes.c_size_t(size))
  return n, buf.raw
r("get-size0", g(b"d", O, 0)[0])
n, raw = g(b"d", O, 1); r("get-size1", n); print("value", raw[:2])
n, raw = g(b"d", O, 8); r("get-size8", n)
n, raw = g(b"d", b"trusted.overlay.redirect", 8); r("get-other", n)
n, raw = g(b"plain", O, 8); r("get-absent", n)
full = l(b"f", 0)[0]; r("list-size0", full)
n, raw = l(b"f", full); r("list-exact", n); print("names", sorted(x.decode() for x in raw[:n].split(b"\\0") if x))
n, raw = l(b"f", full - 1); r("list-short", n); print("untouched", raw[:8] == b"\\xaa" * 8)
n, raw = l(b"plain", 256); r("list-plain", n)
`;

test('size 0 gives the length, a short buffer ERANGE (nothing written), other trusted names and absent ones the kernel\'s ENODATA', async () => {
  if (!privileged('setxattr read-back sizes')) return;
  const t = ownTree(['d'], ['f', 'plain']);
  try {
    execFileSync('setfattr', ['-n', 'user.kept', '-v', '1', join(t.path, 'f')]);
    execFileSync('setfattr', ['-n', O, '-v', 'y', join(t.path, 'd')]);
    execFileSync('setfattr', ['-n', O, '-v', 'y', join(t.path, 'f')]);
    execFileSync('setfattr', ['-n', 'trusted.overlay.redirect', '-v', 'x', join(t.path, 'd')]);
    const r = await runWasmsup(['run', '--userns', '--policy', SETXATTR, '--', 'python3', '-c', SIZES(t.path)]);
    assert.is(r.code, 0, r.stderr);
    const full = 'user.kept\0'.length + `${O}\0`.length;
    assert.is(r.stdout, [
      'get-size0 1', 'get-size1 1', "value b'y\\xaa'", 'get-size8 1',
      'get-other E61', 'get-absent E61',
      `list-size0 ${full}`, `list-exact ${full}`, `names ['${O}', 'user.kept']`,
      'list-short E34', 'untouched True',
      'list-plain 0', '',
    ].join('\n'));
  } finally { t.cleanup(); }
});

// The caller keeps CAP_SYS_ADMIN but gives up CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (effective).
const UNREADABLE = (dir: string) => `
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)
data = (ctypes.c_uint32 * 6)()
assert libc.capget(hdr, data) == 0
data[0] &= ~((1 << 1) | (1 << 2))
assert libc.capset(hdr, data) == 0
O = "${O}"
d = ${JSON.stringify(dir)}
def t(label, f):
  try: print(label, f())
  except OSError as e: print(label, "E%d" % e.errno)
t("mode-000", lambda: os.getxattr(d + "/secret", O))
t("mode-000-list", lambda: sorted(os.listxattr(d + "/secret")))
t("mode-000-user", lambda: os.getxattr(d + "/secret", "user.kept"))
t("closed-dir", lambda: os.getxattr(d + "/closed/inner", O))
t("closed-dir-list", lambda: os.listxattr(d + "/closed/inner"))
t("host-owned", lambda: os.getxattr(d + "/host-owned", O))
t("host-owned-list", lambda: sorted(os.listxattr(d + "/host-owned")))
`;

test('a file the caller may not read, a directory it may not search, a file its namespace does not map: the kernel\'s answers', async () => {
  if (!privileged('setxattr read-back permission')) return;
  const t = ownTree(['closed'], ['secret', 'closed/inner', 'host-owned']);
  try {
    for (const f of ['secret', 'closed/inner', 'host-owned']) execFileSync('setfattr', ['-n', O, '-v', 'y', join(t.path, f)]);
    execFileSync('setfattr', ['-n', 'user.kept', '-v', '1', join(t.path, 'secret')]);
    chmodSync(join(t.path, 'secret'), 0o000);
    chmodSync(join(t.path, 'closed'), 0o000);
    chownSync(join(t.path, 'host-owned'), 0, 0);
    const r = await runWasmsup(['run', '--userns', '--policy', SETXATTR, '--', 'python3', '-c', UNREADABLE(t.path)]);
    assert.is(r.code, 0, r.stderr);
    // As the kernel answers this caller without the policy: ENODATA and no trusted name for the
    // unreadable and the unmapped file, EACCES for user.* and for the lookup through the closed dir.
    const without = await runWasmsup(['run', '--userns', '--', 'python3', '-c', UNREADABLE(t.path)]);
    assert.is(without.code, 0, without.stderr);
    const expected = [
      'mode-000 E61', "mode-000-list ['user.kept']", 'mode-000-user E13',
      'closed-dir E13', 'closed-dir-list E13',
      'host-owned E61', 'host-owned-list []', '',
    ].join('\n');
    assert.is(without.stdout, expected);
    assert.is(r.stdout, expected);
  } finally { chmodSync(join(t.path, 'closed'), 0o755); t.cleanup(); }
});

test.run();
