// The data plane starts lazily (src/dataplane/control.ts): no worker thread and no privileged helper
// until the listener first has a notification pending. What must hold meanwhile: a workload that
// never makes an intercepted call exits with its status and nothing was started; the first call,
// however late, gets the policy's answer (emulations included, as the helper starts with the
// worker); a reload before it is what answers it; stop, detach and hang-up work before any start;
// a worker that cannot start closes the listener (ENOSYS), never leaves the call hung.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { chownSync, copyFileSync, lstatSync, readFileSync, readdirSync, readlinkSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { launch, type Launched } from '../../src/launch.js';
import { native } from '../../src/native.js';
import { compileFilter } from '../../src/filter/compile.js';
import { mergeInterests } from '../../src/filter/interest.js';
import { loadPolicy, type PolicyInfo } from '../../src/policy/load.js';
import { DataPlane } from '../../src/dataplane/control.js';
import { configureLog } from '../../src/log.js';
import { runWasmsup, tempDir, ROOT, WASMSUP, POLICY, TEST_POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';

const PYTHON = '/usr/bin/python3';
const ENOSYS = 38;
const STARTED = /data plane started/;

/**
 * Prints "ready", then per line read on stdin sleeps that many seconds and calls getppid through
 * syscall(2), printing its value or -errno. Python itself makes no getppid call at start.
 */
const PY_GETPPID_ON_DEMAND = [
  'import ctypes, os, sys, time',
  'libc = ctypes.CDLL(None, use_errno=True)',
  'nr = {"x86_64": 110, "aarch64": 173}[os.uname().machine]',
  'print("ready", flush=True)',
  'for line in sys.stdin:',
  '    time.sleep(float(line))',
  '    r = libc.syscall(nr)',
  '    print(r if r != -1 else -ctypes.get_errno(), flush=True)',
].join('\n');

/** The workload above under a filter that routes getppid, with pipes to talk to it. */
class Workload {
  private lines: string[] = [];
  private waiters: (() => void)[] = [];
  private constructor(readonly launched: Launched) {
    let partial = '';
    launched.child.stdout!.on('data', (d: Buffer) => {
      partial += d.toString();
      const parts = partial.split('\n');
      partial = parts.pop()!;
      this.lines.push(...parts);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async start(policies: PolicyInfo[]): Promise<Workload> {
    const filter = compileFilter(mergeInterests(policies.map((p) => p.interest)), { hostArch: process.arch === 'arm64' ? 'aarch64' : 'x86_64' });
    const launched = await launch({ argv: [PYTHON, '-c', PY_GETPPID_ON_DEMAND], filter: filter.program, stdio: ['pipe', 'pipe', 'inherit'] });
    const w = new Workload(launched);
    assert.is(await w.nextLine(), 'ready');
    return w;
  }

  nextLine(timeoutMs = 20000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the workload printed nothing in time')), timeoutMs);
      const take = () => {
        if (this.lines.length === 0) { this.waiters.push(take); return; }
        clearTimeout(timer);
        resolve(this.lines.shift()!);
      };
      take();
    });
  }

  /** One getppid after sleeping `seconds`; its value or -errno. */
  async call(seconds = 0): Promise<number> {
    this.launched.child.stdin!.write(`${seconds}\n`);
    return Number(await this.nextLine());
  }

  async finish(): Promise<number | null> {
    this.launched.child.stdin!.end();
    return (await this.launched.exited).code;
  }
}

function dataPlaneFor(w: Workload, policies: PolicyInfo[], listenerFd = w.launched.listenerFd): DataPlane {
  return new DataPlane({
    listenerFd, workloadUsernsInode: w.launched.usernsInode, policies, privilegedHelper: false, failErrno: 1, syncWakeUp: true,
  });
}

/** Runs `body` with the control plane's log (debug level) captured. */
async function withLog<T>(body: (log: () => string) => Promise<T>): Promise<T> {
  let captured = '';
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => { captured += String(chunk); return true; }) as typeof process.stderr.write;
  configureLog('debug');
  try {
    return await body(() => captured);
  } finally {
    process.stderr.write = write;
    configureLog('info');
  }
}

const isOpen = (fd: number) => { try { native.fstat(fd); return true; } catch { return false; } };
/** The open file description's flags (O_NONBLOCK among them), as the kernel reports them. */
const fdFlags = (fd: number) => /flags:\s+(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1];

test('run: a workload that makes no intercepted call exits with its status; no data plane was started', async () => {
  if (!privileged('lazy start, no call')) return;
  // coreutils false makes no getppid call (a shell would).
  const r = await runWasmsup(['run', '--log-level', 'debug', '--policy', TEST_POLICY('getppid-return'), '--', 'false']);
  assert.is(r.code, 1, r.stderr);
  assert.not.match(r.stderr, STARTED);
  assert.match(r.stderr, /workload finished status=1 notifications=0 /);
});

test('run: the first intercepted call, made late, gets the policy\'s answer; so does a late emulation', async () => {
  if (!privileged('lazy start, late call')) return;
  const r = await runWasmsup(['run', '--log-level', 'debug', '--policy', TEST_POLICY('getppid-return'), '--', PYTHON, '-c',
    'import ctypes, time; time.sleep(0.5); print(ctypes.CDLL(None).syscall(110))']);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout.trim(), '4242');
  assert.is(r.stderr.match(new RegExp(STARTED.source, 'g'))?.length, 1, r.stderr);

  // The helper starts with the worker: an emulated mknod made late creates a real node owned by the
  // namespace's root.
  const t = tempDir();
  try {
    chownSync(t.path, 100000, 100000);
    const node = join(t.path, 'null');
    const m = await runWasmsup(['run', '--userns', '--policy', POLICY('mknod'), '--', 'sh', '-c', `sleep 0.5; mknod ${node} c 1 3`]);
    assert.is(m.code, 0, m.stderr);
    const st = lstatSync(node);
    assert.ok(st.isCharacterDevice(), 'a character device');
    assert.is(st.rdev, 0x103);
    assert.is(st.uid, 100000);
  } finally { t.cleanup(); }
});

test('run: SIGHUP before the first call; the first call is answered by the new version', async () => {
  if (!privileged('lazy start, reload first')) return;
  const t = tempDir();
  try {
    copyFileSync(TEST_POLICY('getppid-errno'), join(t.path, 'p.wasm'));
    const child = spawn(WASMSUP, ['run', '--log-level', 'debug', '--policies', t.path, '--', PYTHON, '-c', PY_GETPPID_ON_DEMAND],
      { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    const until = (what: string, ok: () => boolean) => new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${what}: timed out\n${stderr}`)); }, 20000);
      const check = () => { if (ok()) { clearTimeout(timer); resolve(); } else setTimeout(check, 10); };
      check();
    });
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    await until('ready', () => stdout.includes('ready\n'));
    copyFileSync(TEST_POLICY('getppid-return'), join(t.path, 'p.tmp'));
    renameSync(join(t.path, 'p.tmp'), join(t.path, 'p.wasm'));
    process.kill(child.pid!, 'SIGHUP');
    await until('the reload', () => /reload 1: replaced p\.wasm/.test(stderr));
    assert.not.match(stderr, STARTED, 'a reload does not start the data plane');
    child.stdin.write('0\n');
    await until('the answer', () => stdout.split('\n').length > 2);
    assert.is(stdout.split('\n')[1], '4242', 'answered by the new version');
    child.stdin.end();
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.is(code, 0, stderr);
    assert.match(stderr, /reloads=1 /);
  } finally { t.cleanup(); }
});

test('DataPlane not started: stop() closes the listener, and the first call then fails with ENOSYS', async () => {
  if (!privileged('lazy start, stop')) return;
  const policies = [loadPolicy(TEST_POLICY('getppid-return'))];
  const w = await Workload.start(policies);
  await withLog(async (log) => {
    const dp = dataPlaneFor(w, policies);
    await dp.stop();
    assert.is(await dp.finished, 'stopped');
    assert.not.ok(isOpen(w.launched.listenerFd), 'the listener is closed');
    assert.is(await w.call(), -ENOSYS);
    assert.not.match(log(), STARTED);
  });
  assert.is(await w.finish(), 0);
});

test('DataPlane not started: detach() hands the listener back untouched; another data plane then serves it', async () => {
  if (!privileged('lazy start, detach')) return;
  const deny = [loadPolicy(TEST_POLICY('getppid-errno'))];
  const answer = [loadPolicy(TEST_POLICY('getppid-return'))];
  const w = await Workload.start(deny);
  const fd = w.launched.listenerFd;
  const flagsBefore = fdFlags(fd);
  const first = dataPlaneFor(w, deny);
  assert.ok(await first.detach(), 'the caller owns the fd');
  assert.is(readlinkSync(`/proc/self/fd/${fd}`), 'anon_inode:seccomp notify');
  assert.is(fdFlags(fd), flagsBefore, 'the watch left the flags as they were (no O_NONBLOCK)');
  const second = dataPlaneFor(w, answer, fd);
  assert.is(await w.call(), 4242, 'answered by the second data plane');
  assert.is(await w.finish(), 0);
  assert.is(await second.finished, 'hangup');
  assert.is(second.report().totals.notifications, 1);
  assert.is(first.report().totals.notifications, 0);
});

test('DataPlane not started: a hang-up with no call finishes it as "hangup"; a reload first counts and answers', async () => {
  if (!privileged('lazy start, hang-up')) return;
  const deny = [loadPolicy(TEST_POLICY('getppid-errno'))];
  const answer = [loadPolicy(TEST_POLICY('getppid-return'))];
  await withLog(async (log) => {
    const quiet = await Workload.start(deny);
    const dp = dataPlaneFor(quiet, deny);
    assert.is(await quiet.finish(), 0);
    assert.is(await dp.finished, 'hangup', 'noticed by the watch, without finishIfHungUp');
    assert.not.match(log(), STARTED);

    const w = await Workload.start(deny);
    const reloaded = dataPlaneFor(w, deny);
    await reloaded.reload(answer);
    assert.not.match(log(), STARTED);
    assert.is(await w.call(0.2), 4242, 'the worker started with the reloaded set');
    assert.is(await w.call(), 4242);
    assert.is(await w.finish(), 0);
    assert.is(await reloaded.finished, 'hangup');
    const { totals } = reloaded.report();
    assert.is(totals.reloads, 1);
    assert.is(totals.returned, 2);
    assert.is(log().match(new RegExp(STARTED.source, 'g'))?.length, 1);
  });
});

test('DataPlane: a worker that cannot start closes the listener with one log line; the call fails with ENOSYS', async () => {
  if (!privileged('lazy start, failure')) return;
  const good = loadPolicy(TEST_POLICY('getppid-errno'));
  const w = await Workload.start([good]);
  // An empty module in place of the policy's: the worker throws while instantiating its policy set.
  const broken: PolicyInfo = { ...good, module: new WebAssembly.Module(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])) };
  await withLog(async (log) => {
    const dp = dataPlaneFor(w, [broken]);
    assert.is(await w.call(), -ENOSYS, 'not hung: the kernel answers once the listener is closed');
    assert.is(await dp.finished, 'failed');
    assert.is(log().match(/data plane failed: .*intercepted calls now fail with ENOSYS/g)?.length, 1, log());
  });
  assert.is(await w.finish(), 0);
});

test('DataPlane: once finished, nothing of its worker stays open (helper socket, eventfd, kept /proc/TID/status files)', async () => {
  if (!privileged('data plane fds')) return;
  const t = tempDir();
  try {
    // The mknod policy reads the caller's credentials (a kept status file) before it lets a caller in
    // the initial namespace go on to the kernel, which creates the nodes for this root caller.
    const policies = [loadPolicy(POLICY('mknod'))];
    const openFds = () => readdirSync('/proc/self/fd').length;
    const fdLinks = () => readdirSync('/proc/self/fd').map((fd) => { try { return `${fd}:${readlinkSync(`/proc/self/fd/${fd}`)}`; } catch { return fd; } });
    const before = openFds();
    const beforeLinks = fdLinks();
    const filter = compileFilter(mergeInterests(policies.map((p) => p.interest)), { hostArch: process.arch === 'arm64' ? 'aarch64' : 'x86_64' });
    const script = `import os\nfor i in range(3): os.mknod('${t.path}/n%d' % i, 0o20666, os.makedev(1, 3))`;
    const launched = await launch({ argv: [PYTHON, '-c', script], filter: filter.program, stdio: ['ignore', 'inherit', 'inherit'] });
    const dp = new DataPlane({
      listenerFd: launched.listenerFd, workloadUsernsInode: launched.usernsInode, policies, privilegedHelper: true, failErrno: 1, syncWakeUp: true,
    });
    assert.is((await launched.exited).code, 0);
    assert.is(await dp.finished, 'hangup');
    assert.is(dp.report().totals.continued, 3);
    assert.ok(lstatSync(join(t.path, 'n2')).isCharacterDevice());
    // The worker's release (terminate, then closing the listener and the eventfd) finishes just after.
    for (let i = 0; i < 100 && openFds() !== before; i++) await new Promise((r) => setTimeout(r, 20));
    assert.is(openFds(), before, `left open: ${fdLinks().filter((l) => !beforeLinks.includes(l)).join(', ')}`);
  } finally { t.cleanup(); }
});

test.run();
