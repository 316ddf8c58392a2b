// wasmsup-helper's MKNOD for a workload in a user namespace: the node is created with the caller's
// fsuid/fsgid and umask, every errno is the kernel's for that caller, relative paths resolve against
// its cwd, absolute ones (and absolute symlinks) inside its root. Every node is removed afterwards.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch, type Launched } from '../../src/launch.js';
import { PrivilegedHelper, type MknodRequest } from '../../src/emulate/helper-client.js';
import { native } from '../../src/native.js';
import { privileged } from '../support/privileged.js';

const C = native.constants;
const PYTHON = '/usr/bin/python3';
const HOST_ID = 100000;
const USERNS = { uidMap: `0 ${HOST_ID} 65536\n`, gidMap: `0 ${HOST_ID} 65536\n` };
const S_IFCHR = 0o020000, S_IFIFO = 0o010000, S_IFMT = 0o170000;
/** The kernel's 32-bit dev argument for 1:3 (/dev/null). */
const DEV_NULL = (1 << 8) | 3;
const ERR = { EPERM: 1, ENOENT: 2, EACCES: 13, EEXIST: 17, ENOTDIR: 20, EINVAL: 22 };

function allowAll(): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(0x06, 0); // BPF_RET | BPF_K
  b.writeUInt32LE(C.SECCOMP_RET_ALLOW, 4);
  return b;
}

/** A workload in a user namespace, with what an emulation needs to act for it. */
class Caller {
  readonly creds = new Uint32Array(C.CREDS_WORDS);
  readonly rootFd: number;
  readonly cwdFd: number;
  readonly usernsFd: number;

  constructor(readonly launched: Launched) {
    const pid = launched.pid;
    this.rootFd = native.openPath(`/proc/${pid}/root`, C.O_PATH | C.O_DIRECTORY);
    this.cwdFd = native.openPath(`/proc/${pid}/cwd`, C.O_PATH | C.O_DIRECTORY);
    this.usernsFd = native.openPath(`/proc/${pid}/ns/user`, C.O_RDONLY);
    native.readCreds(pid, this.creds);
  }

  request(path: string, mode: number, dev = DEV_NULL): MknodRequest {
    const bytes = Buffer.from(path);
    const padded = new Uint8Array(4096);
    padded.set(bytes);
    return { rootFd: this.rootFd, startFd: path.startsWith('/') ? -1 : this.cwdFd, usernsFd: this.usernsFd,
      path: padded, pathLength: bytes.length, mode, dev, creds: this.creds };
  }

  async stop(): Promise<void> {
    for (const fd of [this.rootFd, this.cwdFd, this.usernsFd]) native.close(fd);
    native.close(this.launched.listenerFd);
    const child = this.launched.child;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await this.launched.exited;
  }
}

async function startCaller(argv: string[], cwd?: string): Promise<Caller> {
  const launched = await launch({ argv, filter: allowAll(), userns: USERNS, cwd, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Caller(launched);
}

/** Waits for the workload to print `line` (it has finished its own setup then). */
function printed(child: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.split('\n').includes(line)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`workload exited ${code} before printing "${line}"`)));
  });
}

let helper: PrivilegedHelper | null = null;
let helperProcess: ChildProcess | null = null;
let caller: Caller | null = null;
let dir = '';

test.before(async () => {
  if (!privileged('helper setup')) return;
  dir = mkdtempSync(join(tmpdir(), 'wasmsup-helper-'));
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'mine'));
  chownSync(join(dir, 'mine'), HOST_ID, HOST_ID);
  mkdirSync(join(dir, 'hosts'), { mode: 0o755 });
  writeFileSync(join(dir, 'mine', 'file'), '');
  const started = PrivilegedHelper.start();
  helper = started.helper;
  helperProcess = started.process;
  caller = await startCaller(['sleep', '60'], join(dir, 'mine'));
});

test.after(async () => {
  if (caller) await caller.stop();
  if (helper && helperProcess) {
    const exited = new Promise<number | null>((resolve) => helperProcess!.once('exit', (code) => resolve(code)));
    helper.close();
    assert.is(await exited, 0, 'the helper exits 0 at end of stream');
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('creates a char device owned by the caller\'s host ids with mode & ~umask', () => {
  if (!privileged('helper mknod')) return;
  const path = join(dir, 'mine', 'null');
  assert.is(helper!.mknod(caller!.request(path, S_IFCHR | 0o666)), 0);
  const st = lstatSync(path);
  assert.is(st.mode & S_IFMT, S_IFCHR);
  assert.is(st.rdev, DEV_NULL);
  assert.is(st.uid, HOST_ID);
  assert.is(st.gid, HOST_ID);
  assert.is(st.mode & 0o7777, 0o666 & ~caller!.creds[8]!);
  assert.is(helper!.mknod(caller!.request(path, S_IFCHR | 0o666)), ERR.EEXIST);
  rmSync(path);
});

test('an impersonator that dies is replaced: the next request is still answered, as the caller', () => {
  if (!privileged('helper impersonator replaced')) return;
  const path = join(dir, 'mine', 'null-again');
  assert.is(helper!.mknod(caller!.request(path, S_IFCHR | 0o666)), 0);
  rmSync(path);
  // The helper keeps one impersonator per caller identity; kill the one this caller used.
  const children = (pid: number) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  const impersonators = children(helperProcess!.pid!);
  assert.ok(impersonators.length >= 1, 'an impersonator is kept between requests');
  for (const pid of impersonators) process.kill(pid, 'SIGKILL');
  assert.is(helper!.mknod(caller!.request(path, S_IFCHR | 0o666)), 0);
  const st = lstatSync(path);
  assert.is(st.mode & S_IFMT, S_IFCHR);
  assert.is(st.uid, HOST_ID);
  assert.is(helper!.mknod(caller!.request(path, S_IFCHR | 0o666)), ERR.EEXIST);
  rmSync(path);
  const after = children(helperProcess!.pid!);
  assert.is(after.length, 1, 'the dead one was reaped and one replacement serves');
  assert.not.ok(impersonators.includes(after[0]!));
});

test('a FIFO needs no privilege: created by the impersonating child itself', () => {
  if (!privileged('helper fifo')) return;
  const path = join(dir, 'mine', 'fifo');
  assert.is(helper!.mknod(caller!.request(path, S_IFIFO | 0o640)), 0);
  const st = lstatSync(path);
  assert.is(st.mode & S_IFMT, S_IFIFO);
  assert.is(st.uid, HOST_ID);
  assert.is(st.mode & 0o7777, 0o640 & ~caller!.creds[8]!);
  rmSync(path);
});

test('errnos are the kernel\'s for the caller: ENOENT, ENOTDIR, EACCES, EPERM, EINVAL', () => {
  if (!privileged('helper errnos')) return;
  assert.is(helper!.mknod(caller!.request(join(dir, 'mine', 'missing', 'x'), S_IFCHR | 0o600)), ERR.ENOENT);
  assert.is(helper!.mknod(caller!.request(join(dir, 'mine', 'file', 'x'), S_IFCHR | 0o600)), ERR.ENOTDIR);
  assert.is(helper!.mknod(caller!.request(join(dir, 'hosts', 'x'), S_IFCHR | 0o600)), ERR.EACCES);
  assert.not.ok(existsSync(join(dir, 'hosts', 'x')));
  // mknod refuses directories with EPERM and unknown file types with EINVAL, as for any caller.
  assert.is(helper!.mknod(caller!.request(join(dir, 'mine', 'd'), 0o040755)), ERR.EPERM);
  assert.is(helper!.mknod(caller!.request(join(dir, 'mine', 'd'), 0o070755)), ERR.EINVAL);
  assert.not.ok(existsSync(join(dir, 'mine', 'd')));
});

test('a relative path resolves against the caller\'s cwd', () => {
  if (!privileged('helper relative')) return;
  assert.is(helper!.mknod(caller!.request('relative-null', S_IFCHR | 0o644)), 0);
  const path = join(dir, 'mine', 'relative-null');
  assert.is(lstatSync(path).mode & S_IFMT, S_IFCHR);
  assert.is(lstatSync(path).uid, HOST_ID);
  rmSync(path);
});

test('an absolute symlink resolves inside the caller\'s root', async () => {
  if (!privileged('helper chroot')) return;
  const root = join(dir, 'rootfs');
  mkdirSync(join(root, 'dev'), { recursive: true, mode: 0o755 });
  chownSync(join(root, 'dev'), HOST_ID, HOST_ID);
  symlinkSync('/dev', join(root, 'link'));
  const script = `import os, sys, time\nos.chroot(sys.argv[1])\nos.chdir("/")\nprint("ready", flush=True)\ntime.sleep(60)`;
  const chrooted = await startCaller([PYTHON, '-c', script, root]);
  try {
    await printed(chrooted.launched.child, 'ready');
    // Opened again now that the workload has chrooted.
    const rootFd = native.openPath(`/proc/${chrooted.launched.pid}/root`, C.O_PATH | C.O_DIRECTORY);
    try {
      const req = { ...chrooted.request('/link/wasmsup-null', S_IFCHR | 0o600), rootFd };
      assert.is(helper!.mknod(req), 0);
    } finally {
      native.close(rootFd);
    }
    const inside = join(root, 'dev', 'wasmsup-null');
    assert.is(lstatSync(inside).mode & S_IFMT, S_IFCHR);
    assert.is(lstatSync(inside).uid, HOST_ID);
    assert.not.ok(existsSync('/dev/wasmsup-null'), 'nothing was made on the host\'s /dev');
  } finally {
    await chrooted.stop();
  }
});

test('a caller in the helper\'s own user namespace (no setns): root creates, others get the kernel\'s errno', async () => {
  if (!privileged('helper initial namespace')) return;
  const launched = await launch({ argv: ['sleep', '60'], filter: allowAll(), stdio: ['ignore', 'ignore', 'inherit'] });
  const hostCaller = new Caller(launched);
  try {
    const path = join(dir, 'hosts', 'root-null');
    assert.is(helper!.mknod(hostCaller.request(path, S_IFCHR | 0o600)), 0);
    assert.is(lstatSync(path).uid, 0);
    assert.is(lstatSync(path).mode & S_IFMT, S_IFCHR);
    rmSync(path);
    // The same process as seen with an unprivileged uid and no capabilities.
    const plain = hostCaller.request(join(dir, 'hosts', 'plain-null'), S_IFCHR | 0o600);
    const creds = plain.creds.slice();
    creds.fill(1000, 0, 8);
    creds.fill(0, 10, 16);
    assert.is(helper!.mknod({ ...plain, creds }), ERR.EACCES);
    assert.not.ok(existsSync(join(dir, 'hosts', 'plain-null')));
  } finally {
    await hostCaller.stop();
  }
});

test('the client answers what getname() would for empty and over-long paths', () => {
  if (!privileged('helper path lengths')) return;
  const req = caller!.request('x', S_IFCHR | 0o600);
  assert.is(helper!.mknod({ ...req, pathLength: 0 }), ERR.ENOENT);
  assert.is(helper!.mknod({ ...req, path: new Uint8Array(5000).fill(0x61), pathLength: 5000 }), 36);
  try {
    helper!.mknod({ ...req, pathLength: 5000 });
    assert.unreachable('pathLength beyond the buffer');
  } catch (e) {
    assert.instance(e, RangeError);
  }
});

test('malformed requests are answered EINVAL and the helper keeps serving', () => {
  if (!privileged('helper validation')) return;
  const fd = helper!.socketFd;
  const reply = new Int32Array(1);
  const ask = (bytes: Uint8Array, fds: number[] = []): number => {
    native.sendMessage(fd, bytes, fds);
    const got = native.recvMessage(fd, reply, 5000);
    assert.ok(got && got.bytes === 4);
    return reply[0]!;
  };
  const header = (op: number, ngroups: number, pathLength: number) => {
    const w = new Uint32Array(20);
    w[0] = op; w[1] = S_IFCHR | 0o600; w[2] = DEV_NULL; w[3] = 0o022;
    w.fill(HOST_ID, 4, 12);
    w[18] = ngroups; w[19] = pathLength;
    return new Uint8Array(w.buffer);
  };
  const withPath = (h: Uint8Array, path: string) => Buffer.concat([h, Buffer.from(path)]);
  const { rootFd, usernsFd, cwdFd } = caller!;
  const ok = join(dir, 'mine', 'v');
  assert.is(ask(new Uint8Array(3)), ERR.EINVAL, 'short');
  assert.is(ask(withPath(header(9, 0, ok.length), ok), [rootFd, usernsFd]), ERR.EINVAL, 'unknown op');
  assert.is(ask(withPath(header(1, 0, ok.length + 1), ok), [rootFd, usernsFd]), ERR.EINVAL, 'length mismatch');
  assert.is(ask(withPath(header(1, 65, ok.length), ok), [rootFd, usernsFd]), ERR.EINVAL, 'too many groups');
  assert.is(ask(withPath(header(1, 0, 3), 'a\0b'), [rootFd, usernsFd, cwdFd]), ERR.EINVAL, 'NUL in path');
  assert.is(ask(withPath(header(1, 0, ok.length), ok), [rootFd]), ERR.EINVAL, 'too few fds');
  assert.is(ask(withPath(header(1, 0, ok.length), ok), [rootFd, usernsFd, cwdFd]), ERR.EINVAL, 'extra fd');
  assert.is(ask(withPath(header(1, 0, 1), 'v'), [rootFd, usernsFd]), ERR.EINVAL, 'relative without start fd');
  assert.is(ask(withPath(header(1, 0, ok.length), ok), [usernsFd, rootFd]), ERR.EINVAL, 'fds swapped');
  const bigUmask = header(1, 0, ok.length);
  new Uint32Array(bigUmask.buffer)[3] = 0o1000;
  assert.is(ask(withPath(bigUmask, ok), [rootFd, usernsFd]), ERR.EINVAL, 'umask');
  assert.not.ok(existsSync(ok));
  // Still serving.
  assert.is(helper!.mknod(caller!.request(ok, S_IFCHR | 0o600)), 0);
  rmSync(ok);
});

test.run();
