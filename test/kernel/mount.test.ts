// The mount policy end to end (kernel tier): a container's root (wasmsup run --userns) mounts an ext4
// loop device it was given; owners, nosuid/nodev, the host's mount table, umount, and what stays the
// kernel's (other types, binds).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { runWasmsup, POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { ext4Image, hostMounts, PY_MOUNT } from '../support/mount-image.js';
import { cgroup2Mount, createCgroup } from '../support/cgroups.js';

const MOUNT = POLICY('mount');

function config(dir: string, json: object): string {
  const path = join(dir, 'mount.json');
  writeFileSync(path, JSON.stringify(json));
  return path;
}

test('without the policy, root of a user namespace cannot mount ext4 (EPERM)', async () => {
  if (!privileged('mount baseline')) return;
  const img = ext4Image();
  try {
    const py = `${PY_MOUNT}\nm("ext4", ${JSON.stringify(img.loop)}, ${JSON.stringify(img.target)}, "ext4")`;
    const r = await runWasmsup(['run', '--userns', '--', 'python3', '-c', py]);
    assert.is(r.stdout, 'ext4 EPERM\n', r.stderr);
  } finally { img.cleanup(); }
});

test('mount policy, shift: mount -t ext4 succeeds, files owned by the container\'s ids, nosuid,nodev, host untouched, umount', async () => {
  if (!privileged('mount ext4 shift')) return;
  const img = ext4Image();
  try {
    const cfg = config(img.dir, { allowed: ['ext4'], shift: true });
    const t = img.target;
    const script = [
      `mount -t ext4 ${img.loop} ${t} && echo mounted`,
      `stat -c '%n %u:%g' ${t}/hello.txt ${t}/dir ${t}/dir/user.txt`,
      `cat ${t}/hello.txt`,
      `awk '$5 == "${t}" { for (i = 7; i <= NF; i++) if ($i == "-") print $6, $(i + 1) }' /proc/self/mountinfo`,
      `echo written > ${t}/dir/new.txt && stat -c '%n %u:%g' ${t}/dir/new.txt`,
      `umount ${t} && echo unmounted`,
      `awk '$5 == "${t}"' /proc/self/mountinfo | wc -l`,
    ].join('\n');
    const before = hostMounts(img.dir);
    const r = await runWasmsup(['run', '--userns', '--policy', MOUNT, '--policy-config', cfg, '--', 'sh', '-c', script]);
    process.stdout.write(`  workload printed:\n${r.stdout.replace(/^/gm, '    ')}`);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, [
      'mounted',
      `${t}/hello.txt 0:0`, `${t}/dir 1000:1000`, `${t}/dir/user.txt 1000:1000`,
      'hello',
      'rw,nosuid,nodev,relatime,idmapped ext4',
      `${t}/dir/new.txt 0:0`,
      'unmounted', '0', '',
    ].join('\n'));
    assert.equal(before, []);
    assert.equal(hostMounts(img.dir), [], 'the host\'s mount table never had it');
  } finally { img.cleanup(); }
});

test('mount policy without shift: the disk\'s ids are the host\'s, unmapped in the container (overflow id)', async () => {
  if (!privileged('mount ext4 no shift')) return;
  const img = ext4Image();
  try {
    const cfg = config(img.dir, { allowed: ['ext4'] });
    const t = img.target;
    const r = await runWasmsup(['run', '--userns', '--policy', MOUNT, '--policy-config', cfg, '--', 'sh', '-c',
      `mount -t ext4 ${img.loop} ${t} && stat -c '%u:%g' ${t}/hello.txt ${t}/dir && umount ${t} && echo unmounted`]);
    assert.is(r.stdout, '65534:65534\n65534:65534\nunmounted\n', r.stderr);
  } finally { img.cleanup(); }
});

test('mount policy: other types, binds and other callers are the kernel\'s; umount of a mount it did not make too', async () => {
  if (!privileged('mount kernel cases')) return;
  const img = ext4Image();
  try {
    const cfg = config(img.dir, { allowed: ['ext4'], shift: true });
    const t = JSON.stringify(img.target), loop = JSON.stringify(img.loop);
    const py = `${PY_MOUNT}
m("btrfs", ${loop}, ${t}, "btrfs")
m("tmpfs", "none", ${t}, "tmpfs")
print("tmpfs-opts", opts(${t}))
u("umount-tmpfs", ${t})
m("bind", "/etc", ${t}, None, MS_BIND)
u("umount-bind", ${t})
m("ext4", ${loop}, ${t}, "ext4")
u("umount-ext4", ${t})
m("nosuch", ${loop}, ${t}, "nosuchfs")
m("null-type", ${loop}, ${t}, None)
os.setresuid(1000, 1000, 1000)
m("uid-1000", ${loop}, ${t}, "ext4")`;
    const r = await runWasmsup(['run', '--userns', '--policy', MOUNT, '--policy-config', cfg, '--', 'python3', '-c', py]);
    assert.is(r.stdout, [
      'btrfs EPERM', 'tmpfs ok', 'tmpfs-opts rw,relatime tmpfs', 'umount-tmpfs ok', 'bind ok', 'umount-bind ok',
      'ext4 ok', 'umount-ext4 ok', 'nosuch ENODEV', 'null-type EINVAL', 'uid-1000 EACCES', '',
    ].join('\n'), r.stderr);
  } finally { img.cleanup(); }
});

test('mount policy unconfigured allows nothing (the kernel\'s EPERM)', async () => {
  if (!privileged('mount unconfigured')) return;
  const img = ext4Image();
  try {
    const py = `${PY_MOUNT}\nm("ext4", ${JSON.stringify(img.loop)}, ${JSON.stringify(img.target)}, "ext4")`;
    const r = await runWasmsup(['run', '--userns', '--policy', MOUNT, '--', 'python3', '-c', py]);
    assert.is(r.stdout, 'ext4 EPERM\n', r.stderr);
  } finally { img.cleanup(); }
});

function fuse2fsGap(): string | null {
  if (!['/usr/bin/fuse2fs', '/usr/sbin/fuse2fs', '/sbin/fuse2fs', '/bin/fuse2fs'].some(existsSync)) return 'fuse2fs is not installed (apt-get install fuse2fs)';
  if (!existsSync('/dev/fuse')) return 'no /dev/fuse';
  return null;
}

test('mount policy, fuse: {"ext4": "fuse2fs"} mounts an image file through fuse2fs run as the caller; umount ends it', async () => {
  if (!privileged('mount fuse2fs', fuse2fsGap())) return;
  const img = ext4Image();
  // The container's root must be able to open /dev/fuse (most distributions make it 0666).
  const fuseMode = statSync('/dev/fuse').mode & 0o777;
  chmodSync('/dev/fuse', 0o666);
  try {
    chownSync(img.image, 100000, 100000);
    const cfg = config(img.dir, { fuse: { ext4: 'fuse2fs' } });
    const t = JSON.stringify(img.target);
    const py = `${PY_MOUNT}
import subprocess
m("fuse-file", ${JSON.stringify(img.image)}, ${t}, "ext4")
print("opts", opts(${t}))
print(open(${JSON.stringify(join(img.target, 'hello.txt'))}).read().strip())
st = os.stat(${JSON.stringify(join(img.target, 'dir', 'user.txt'))}); print("owner", st.st_uid, st.st_gid)
daemon = subprocess.run(["pgrep", "-x", "fuse2fs"], capture_output=True, text=True).stdout.split()
print("daemon", len(daemon))
u("umount", ${t})
print("after", opts(${t}))`;
    const r = await runWasmsup(['run', '--userns', '--policy', MOUNT, '--policy-config', cfg, '--', 'python3', '-c', py]);
    process.stdout.write(`  workload printed:\n${r.stdout.replace(/^/gm, '    ')}`);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, [
      'fuse-file ok', 'opts rw,nosuid,nodev,relatime fuse.ext4', 'hello', 'owner 1000 1000', 'daemon 1', 'umount ok', 'after none', '',
    ].join('\n'), r.stderr);
    assert.equal(hostMounts(img.dir), []);
    // The daemon ended with the umount (fuse2fs exits when its filesystem goes; wasmsup run, a child
    // subreaper, reaps it): none is left (allowing it a moment to flush the image and exit).
    let left = 'not checked';
    for (let i = 0; i < 100 && left !== ''; i++) {
      try { left = execFileSync('pgrep', ['-x', 'fuse2fs'], { encoding: 'utf8' }); } catch { left = ''; }
      if (left !== '') await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.is(left, '');
  } finally {
    chmodSync('/dev/fuse', fuseMode);
    img.cleanup();
  }
});

test('mount policy, fuse: the FUSE program runs in the caller\'s cgroup (cgroup2), not the helper\'s', async () => {
  const top = cgroup2Mount();
  if (!privileged('mount fuse2fs cgroup', fuse2fsGap() ?? (top === null ? 'needs a cgroup2 mount' : null))) return;
  const img = ext4Image();
  const cg = createCgroup(top!, `wasmsup-mount-${process.pid}`, 100000);
  const fuseMode = statSync('/dev/fuse').mode & 0o777;
  chmodSync('/dev/fuse', 0o666);
  try {
    chownSync(img.image, 100000, 100000);
    const cfg = config(img.dir, { fuse: { ext4: 'fuse2fs' } });
    const t = JSON.stringify(img.target);
    const py = `${PY_MOUNT}
import subprocess
os.mkdir(${JSON.stringify(join(cg.dir, 'ctr'))})
open(${JSON.stringify(join(cg.dir, 'ctr', 'cgroup.procs'))}, "w").write(str(os.getpid()))
m("fuse-file", ${JSON.stringify(img.image)}, ${t}, "ext4")
pids = subprocess.run(["pgrep", "-x", "fuse2fs"], capture_output=True, text=True).stdout.split()
cgroups = [[l.split("::")[1].strip() for l in open("/proc/%s/cgroup" % p) if l.startswith("0::")][0] for p in pids]
print("daemon cgroup", [c.endswith("/ctr") for c in cgroups if ${JSON.stringify(cg.dir.split('/').pop())} in c])
u("umount", ${t})
open(${JSON.stringify(join(cg.dir, 'cgroup.procs'))}, "w").write(str(os.getpid()))`;
    const r = await runWasmsup(['run', '--userns', '--policy', MOUNT, '--policy-config', cfg, '--', 'python3', '-c', py], { prefix: cg.prefix });
    assert.is(r.stdout, 'fuse-file ok\ndaemon cgroup [True]\numount ok\n', r.stderr);
  } finally {
    chmodSync('/dev/fuse', fuseMode);
    cg.remove(['ctr']);
    img.cleanup();
  }
});

test.run();
