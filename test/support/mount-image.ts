// A small ext4 image on a loop device for the mount tests: files with known owners (uid 0, and
// 1000 for dir/), the loop device's node made openable by the user namespace's root (NS_ROOT), and a
// cleanup that unmounts whatever the test left on the host, detaches the loop device and removes
// everything.
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './wasmsup.js';
import { NS_ROOT } from './syscall-probe.js';

export interface Ext4Image { dir: string; image: string; loop: string; target: string; cleanup: () => void }

export function ext4Image(): Ext4Image {
  const t = tempDir('wasmsup-mount-');
  const src = join(t.path, 'src');
  mkdirSync(join(src, 'dir'), { recursive: true });
  writeFileSync(join(src, 'hello.txt'), 'hello\n');
  writeFileSync(join(src, 'dir', 'user.txt'), 'user\n');
  chownSync(join(src, 'dir'), 1000, 1000);
  chownSync(join(src, 'dir', 'user.txt'), 1000, 1000);
  const image = join(t.path, 'disk.img');
  execFileSync('mkfs.ext4', ['-q', '-d', src, image, '8M'], { stdio: 'ignore' });
  const loop = execFileSync('losetup', ['-f', '--show', image], { encoding: 'utf8' }).trim();
  // The namespace's root may open the device (as a container given a disk); a node it cannot open is a test of its own.
  chownSync(loop, NS_ROOT, NS_ROOT);
  const target = join(t.path, 'target');
  mkdirSync(target);
  chownSync(t.path, NS_ROOT, NS_ROOT);
  chownSync(target, NS_ROOT, NS_ROOT);
  return {
    dir: t.path, image, loop, target,
    cleanup: () => {
      for (const line of hostMounts(t.path)) {
        try { execFileSync('umount', ['-l', line], { stdio: 'ignore' }); } catch { /* already gone */ }
      }
      try { chownSync(loop, 0, 6); } catch { /* detached */ }
      try { execFileSync('losetup', ['-d', loop], { stdio: 'ignore' }); } catch { /* already detached */ }
      t.cleanup();
    },
  };
}

/** Mount points under `prefix` in the host's (this process's) mount table. */
export function hostMounts(prefix: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(prefix));
}

/** A Python prelude for workloads: m(label, source, target, fstype, flags, data) prints "label ok" or "label ERRNO". */
export const PY_MOUNT = [
  'import ctypes, os, sys',
  'libc = ctypes.CDLL(None, use_errno=True)',
  'libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]',
  'libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]',
  'def m(label, source, target, fstype, flags=0, data=None):',
  '  r = libc.mount(source.encode() if source else None, target.encode(), fstype.encode() if fstype else None, flags, data)',
  '  print(label, "ok" if r == 0 else os.strerror(ctypes.get_errno()) and __import__("errno").errorcode[ctypes.get_errno()], flush=True)',
  'def u(label, target, flags=0):',
  '  r = libc.umount2(target.encode(), flags)',
  '  print(label, "ok" if r == 0 else __import__("errno").errorcode[ctypes.get_errno()], flush=True)',
  'def opts(target):',
  '  for l in open("/proc/self/mountinfo"):',
  '    f = l.split()',
  '    if f[4] == target: return f[5] + " " + f[f.index("-") + 1]',
  '  return "none"',
  'MS_NOSUID, MS_NODEV, MS_RDONLY, MS_BIND = 2, 4, 1, 4096',
].join('\n');
