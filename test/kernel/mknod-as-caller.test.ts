// native.mknodatAsCaller, the MKNOD fast path, against the real kernel: on a worker thread it creates
// exactly what the caller's credentials, umask and root make, answers with the kernel's errno, and
// leaves the thread as it found it. Plus the cheaper caller-state reads the fast path relies on.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, openSync, closeSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { native, nativeError } from '../../src/native.js';
import { privileged } from '../support/privileged.js';
import { tempDir } from '../support/wasmsup.js';
import type { AsCallerCall } from '../support/as-caller-worker.js';
import { onWorker } from '../support/as-caller-run.js';

const NS_ROOT = 100000;
const S_IFCHR = 0o020000;
const CAP_FSETID = 4;
const DEV_NULL = (1 << 8) | 3; // the kernel's old 32-bit encoding: major << 8 | minor
const E = (name: string) => native.errnoNumber(name);

const openFds = () => readdirSync('/proc/self/fd').length;

const call = (over: Partial<AsCallerCall> & Pick<AsCallerCall, 'root' | 'path'>): AsCallerCall => ({
  start: null, mode: S_IFCHR | 0o666, dev: DEV_NULL, fsuid: NS_ROOT, fsgid: NS_ROOT, umask: 0o022, groups: [], capEffLo: 0, ...over,
});

test('refused on the main thread, where unsharing the fs_struct would cut libuv off from the cwd', () => {
  const creds = new Uint32Array(native.constants.CREDS_WORDS);
  const path = new TextEncoder().encode('/x');
  try {
    native.mknodatAsCaller(-1, -1, path, path.length, S_IFCHR | 0o666, DEV_NULL, creds);
    assert.unreachable('expected EINVAL');
  } catch (e) {
    assert.ok(nativeError(e));
    assert.is(e.code, 'EINVAL');
  }
});

test('as the caller: owner, group, mode per umask, rdev; errnos the kernel gives; the thread is itself again', async () => {
  if (!privileged('mknodatAsCaller')) return;
  const t = tempDir();
  try {
    const base = t.path;
    chmodSync(base, 0o755);
    chownSync(base, NS_ROOT, NS_ROOT);
    mkdirSync(join(base, 'sub'));
    chownSync(join(base, 'sub'), NS_ROOT, NS_ROOT);
    mkdirSync(join(base, 'hosts'), 0o755); // root's: no write for 100000, nor DAC override here
    mkdirSync(join(base, 'sgid'));
    chownSync(join(base, 'sgid'), NS_ROOT, NS_ROOT + 5);
    chmodSync(join(base, 'sgid'), 0o2775); // mkdir(2) ignores S_ISGID in its mode
    closeSync(openSync(join(base, 'file'), 'w'));
    const fdsBefore = openFds();
    const report = await onWorker([
      call({ root: '/', path: join(base, 'null'), umask: 0o027 }),
      call({ root: '/', path: join(base, 'null') }),
      call({ root: '/', path: join(base, 'hosts', 'n') }),
      call({ root: '/', path: join(base, 'missing', 'n') }),
      call({ root: '/', path: join(base, 'file', 'n') }),
      // Relative to a start directory, `..` included.
      call({ root: '/', start: join(base, 'sub'), path: '../rel', fsgid: NS_ROOT + 7 }),
      // A chroot: "/" is base, and an absolute symlink cannot leave it.
      call({ root: base, path: '/sub/in-root' }),
      // The setgid directory's group; the node's setgid bit survives only for a member of that group:
      // the thread never holds CAP_FSETID, even for a caller that has it (src/emulate/mknod.ts sends those the exact way).
      call({ root: '/', path: join(base, 'sgid', 'keeps'), mode: S_IFCHR | 0o2775, groups: [NS_ROOT + 5] }),
      call({ root: '/', path: join(base, 'sgid', 'drops'), mode: S_IFCHR | 0o2775, capEffLo: 1 << CAP_FSETID }),
      // /proc/self is this process, not the caller: its magic links are never followed (ELOOP).
      call({ root: '/', path: `/proc/self/root${join(base, 'magic')}` }),
      call({ root: '/', path: `/proc/thread-self/cwd/magic` }),
      // Slashes alone: EEXIST before any lookup, as the kernel answers.
      call({ root: '/', path: '//' }),
    ]);
    assert.equal(report.results, [0, E('EEXIST'), E('EACCES'), E('ENOENT'), E('ENOTDIR'), 0, 0, 0, 0, E('ELOOP'), E('ELOOP'), E('EEXIST')]);
    assert.not.ok(existsSync(join(base, 'magic')));

    const node = lstatSync(join(base, 'null'));
    assert.ok(node.isCharacterDevice());
    assert.is(node.rdev, DEV_NULL);
    assert.is(node.uid, NS_ROOT);
    assert.is(node.gid, NS_ROOT);
    assert.is(node.mode & 0o7777, 0o640);
    assert.not.ok(existsSync(join(base, 'hosts', 'n')));
    assert.is(lstatSync(join(base, 'rel')).gid, NS_ROOT + 7);
    assert.ok(lstatSync(join(base, 'sub', 'in-root')).isCharacterDevice());
    assert.is(lstatSync(join(base, 'sgid', 'keeps')).gid, NS_ROOT + 5);
    // In group NS_ROOT+5: kept; not in it: the kernel strips S_ISGID (mode_strip_sgid).
    assert.is(lstatSync(join(base, 'sgid', 'keeps')).mode & 0o7777, 0o2755);
    assert.is(lstatSync(join(base, 'sgid', 'drops')).mode & 0o7777, 0o755);

    // Everything put back: ids (fsuid/fsgid last), groups, capabilities, umask, root, and /proc.
    assert.equal(report.after, report.before);
    assert.ok(report.after.procSelf);
    assert.is(report.after.rootIno, statSync('/').ino);
    // The thread's own root and cwd fds, kept while it lives, are closed with it.
    assert.is(openFds(), fdsBefore);
  } finally { t.cleanup(); }
});

test('readCredsFd re-reads a kept /proc/TID/status, and says ESRCH once that task has exited', async () => {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('spawn', resolve));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const fd = native.openPath(`/proc/${child.pid}/status`, native.constants.O_RDONLY);
  try {
    const byFd = new Uint32Array(native.constants.CREDS_WORDS), byTid = new Uint32Array(native.constants.CREDS_WORDS);
    native.readCredsFd(fd, byFd);
    native.readCreds(child.pid!, byTid);
    assert.equal([...byFd], [...byTid]);
    native.readCredsFd(fd, byFd); // again: the same fd, regenerated from offset 0
    assert.is(byFd[9], child.pid);
    child.kill('SIGKILL');
    await exited;
    try {
      native.readCredsFd(fd, byFd);
      assert.unreachable('expected ESRCH');
    } catch (e) {
      assert.ok(nativeError(e));
      assert.is(e.code, 'ESRCH');
    }
  } finally {
    native.close(fd);
    child.kill('SIGKILL');
  }
});

test.run();
