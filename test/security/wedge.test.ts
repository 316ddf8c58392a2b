// Attack: a workload wedges its own supervisor. The impersonator the privileged helper keeps for a
// caller identity (native/helper_pool.c) runs with the caller's ids in the caller's user namespace, so
// the caller can see it in /proc (a shared pid namespace) and SIGSTOP it. The workload does exactly
// that between two emulated mknod calls that take the helper's exact path (a namespace root creating
// in a 0755 directory of another namespace uid: the worker's fast path, without CAP_DAC_OVERRIDE, is
// refused, test/kernel/mknod.test.ts). `wasmsup run` must still finish, the wedged call must get an errno,
// and the next call must be served by a fresh impersonator.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runWasmsup, tempDir, POLICY, type Result } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { AgentProcess, agentSetup, findTool, killPid, makeBundle, ociConfig, ociGap, runContainer } from '../support/oci.js';
import { spawn } from 'node:child_process';
import { HELPER_TIMEOUT_MS, PrivilegedHelper } from '../../src/emulate/helper-client.js';
import { native } from '../../src/native.js';

const NS_ROOT = 100000;

/** Kills a process the workload named, if it is still a wasmsup-helper (checked by its pid only). */
function killIfHelper(pid: number): void {
  try {
    if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'wasmsup-helper') return;
    process.kill(pid, 'SIGKILL');
  } catch { /* gone */ }
}

const WORKLOAD = String.raw`
import os, signal, stat, sys
d = sys.argv[1]
def mknod(name):
    try:
        os.mknod(os.path.join(d, name), stat.S_IFCHR | 0o666, os.makedev(1, 3)); return "0"
    except OSError as e:
        return str(e.errno)
print("first", mknod("first"), flush=True)
victims = []
for p in os.listdir("/proc"):
    if not p.isdigit() or int(p) == os.getpid(): continue
    try:
        # Its uid line, read as this namespace sees it: ours (the impersonator took on our ids).
        uids = [l for l in open("/proc/%s/status" % p) if l.startswith("Uid:")][0].split()[1:]
        # Ours only: a child of the helper that our supervisor (our parent: the launcher exec'd us) started.
        helper = [l for l in open("/proc/%s/status" % p) if l.startswith("PPid:")][0].split()[1]
        ours = [l for l in open("/proc/%s/status" % helper) if l.startswith("PPid:")][0].split()[1] == str(os.getppid())
        if open("/proc/%s/comm" % p).read().strip() == "wasmsup-helper" and uids == ["0"] * 4 and ours:
            victims.append(int(p))
    except OSError:
        pass
print("victims", " ".join(map(str, victims)), flush=True)
# Before stopping it: could we take it over instead? It has our ids in our namespace, but it must not
# be ours to trace (not dumpable; its memory belongs to the initial namespace).
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
for v in victims:
    rc = libc.ptrace(16, v, None, None)  # PTRACE_ATTACH
    print("ptrace", 0 if rc == 0 else ctypes.get_errno(), flush=True)
    if rc == 0: libc.ptrace(17, v, None, None)  # PTRACE_DETACH
for v in victims: os.kill(v, signal.SIGSTOP)
print("second", mknod("second"), flush=True)
print("victims-alive", sum(1 for v in victims if os.path.exists("/proc/%d" % v) and open("/proc/%d/stat" % v).read().split(") ")[1][0] != "Z"), flush=True)
print("third", mknod("third"), flush=True)
`;

test('a workload SIGSTOPs its impersonator mid-call: the call fails with an errno, the run finishes, the next call is served', async () => {
  if (!privileged('wedged impersonator')) return;
  const t = tempDir();
  // The namespace root's rootfs-like directory, and in it a 0755 directory of namespace uid 1000.
  chmodSync(t.path, 0o755);
  chownSync(t.path, NS_ROOT, NS_ROOT);
  const other = join(t.path, 'other');
  mkdirSync(other);
  chmodSync(other, 0o755);
  chownSync(other, NS_ROOT + 1000, NS_ROOT + 1000);
  let r: Result | null = null;
  let failure: Error | null = null;
  try {
    r = await runWasmsup(['run', '--userns', '--policy', POLICY('mknod'), '--', 'python3', '-c', WORKLOAD, other], { timeoutMs: 30000 });
  } catch (e) {
    failure = e as Error;
  } finally {
    const text = r?.stdout ?? failure?.message ?? '';
    for (const pid of /^victims ([\d ]*)$/m.exec(text)?.[1]?.split(' ').filter(Boolean).map(Number) ?? []) killIfHelper(pid);
  }
  try {
    if (failure) throw failure;
    const out = r!.stdout;
    assert.is(r!.code, 0, r!.stderr);
    assert.match(out, /^first 0$/m, out);
    assert.match(out, /^victims \d+/m, `the workload found no impersonator to stop:\n${out}`);
    assert.match(out, /^ptrace 1$/m, `the workload could ptrace its impersonator (or did not try):\n${out}`);
    assert.not.match(out, /^ptrace 0$/m, `the workload attached to its impersonator:\n${out}`);
    const second = /^second (\d+)$/m.exec(out)?.[1];
    assert.ok(second !== undefined && second !== '0', `the wedged call must fail with an errno:\n${out}`);
    assert.not.ok(existsSync(join(other, 'second')));
    assert.match(out, /^victims-alive 0$/m, `the wedged impersonator must be killed:\n${out}`);
    assert.match(out, /^third 0$/m, `the next call must be served by a new impersonator:\n${out}\n${r!.stderr}`);
    assert.ok(existsSync(join(other, 'third')));
  } finally { t.cleanup(); }
});

// The supervisor's side of the helper exchange: a helper that never answers (here a process holding
// the other end of the socket and doing nothing, standing for one blocked in a filesystem a workload
// serves) is killed after HELPER_TIMEOUT_MS, the request fails, and the helper is never asked again.
test('a helper that does not answer is killed, and its client fails every later request instead of hanging', async () => {
  const [ours, theirs] = native.socketpair();
  const silent = spawn('sleep', ['600'], { stdio: ['ignore', 'ignore', 'ignore', theirs] });
  native.close(theirs);
  const exited = new Promise<NodeJS.Signals | null>((resolve) => silent.on('exit', (_code, signal) => resolve(signal)));
  const pidfd = native.pidfdOpen(silent.pid!);
  const rootFd = native.openPath('/', native.constants.O_PATH | native.constants.O_DIRECTORY);
  const usernsFd = native.openPath('/proc/self/ns/user', native.constants.O_RDONLY);
  const helper = new PrivilegedHelper(ours, pidfd);
  const path = Buffer.from('/tmp/never-created');
  const request = { rootFd, startFd: -1, usernsFd, path, pathLength: path.length, mode: 0o020666, dev: 0x103, creds: new Uint32Array(native.constants.CREDS_WORDS) };
  try {
    assert.throws(() => helper.mknod(request), (e: Error) => e.message.includes(`no answer within ${HELPER_TIMEOUT_MS} ms`));
    assert.is(await exited, 'SIGKILL');
    assert.throws(() => helper.mknod(request), /killed after it gave no answer/);
  } finally {
    helper.close();
    helper.closePidfd();
    native.close(rootFd);
    native.close(usernsFd);
    if (silent.exitCode === null && silent.signalCode === null) killPid(silent.pid);
  }
});

// The agent's side: SIGUSR2 hands every container to a successor after each data plane has stopped
// between two notifications. A data plane that cannot stop (here: its worker held in an emulation by
// the test-only fault delay-after-path-read-ms, standing for any call that does not end) must not
// stall the hand-over of the others: it is left out, and this agent keeps serving it.
test('agent hand-over: a container whose data plane does not stop in time is kept; the others are handed over', async () => {
  if (!privileged('agent hand-over with a wedged container', ociGap())) return;
  const { tmp, policies, socket, state } = agentSetup('wasmsup-wedge-');
  const runc = findTool('runc')!;
  const faults = process.env.WASMSUP_TEST_FAULTS;
  process.env.WASMSUP_TEST_FAULTS = 'delay-after-path-read-ms=600000';
  const agent = new AgentProcess(['--socket', socket, '--policies', policies]);
  if (faults === undefined) delete process.env.WASMSUP_TEST_FAULTS; else process.env.WASMSUP_TEST_FAULTS = faults;
  let successor: number | undefined;
  let first: number | undefined;
  let stopIdle = () => {};
  const running: Promise<unknown>[] = [];
  try {
    first = await agent.ready();
    const seccomp = ociConfig(policies, socket);
    mkdirSync(join(tmp.path, 'a'));
    mkdirSync(join(tmp.path, 'b'));
    const wedged = makeBundle(join(tmp.path, 'a'), { args: ['sh', '-c', 'touch /tmp/calling; mknod /tmp/n c 1 3; echo mknod=$?'], seccomp });
    const idle = makeBundle(join(tmp.path, 'b'), { args: ['sh', '-c', 'while [ ! -e /tmp/stop ]; do sleep 0.1; done; echo idle-done'], seccomp });
    stopIdle = () => writeFileSync(join(idle.rootfs, 'tmp', 'stop'), '');
    const idA = `wasmsup-wedge-${process.pid}-a`, idB = `wasmsup-wedge-${process.pid}-b`;
    const a = runContainer(runc, state, wedged.bundle, idA, { timeoutMs: 90000 });
    const b = runContainer(runc, state, idle.bundle, idB, { timeoutMs: 90000 });
    running.push(a.catch(() => null), b.catch(() => null));
    await agent.waitFor(new RegExp(`container ${idA} \\(pid \\d+\\): serving`));
    await agent.waitFor(new RegExp(`container ${idB} \\(pid \\d+\\): serving`));
    // A's mknod is in its data plane's hands (the worker starts with the first call: give it a second).
    for (let i = 0; i < 100 && !existsSync(join(wedged.rootfs, 'tmp', 'calling')); i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1000));
    const mark = agent.log.length;
    killPid(first, 'SIGUSR2');
    await agent.waitFor(new RegExp(`container ${idA}: its data plane did not stop within \\d+ ms`), mark, 40000);
    successor = await agent.ready(mark);
    assert.is.not(successor, first);
    await agent.waitFor(/took over 1 container\(s\)/, mark);
    await agent.waitFor(new RegExp(`handed over 1 container\\(s\\) to pid ${successor}; exiting once the 1 container\\(s\\) kept here are released`), mark);
    assert.is(agent.child.exitCode, null, 'the first agent keeps serving the container it kept');
    // B, handed over, ends normally under the successor.
    stopIdle();
    const rb = await b;
    assert.match(rb.stdout, /idle-done/);
    await agent.waitFor(new RegExp(`container ${idB}: released`), mark);
  } finally {
    killPid(successor);
    killPid(first); // A's call, still held, then fails with ENOSYS and A ends
    stopIdle();
    await Promise.all(running);
    tmp.cleanup();
  }
});

// And its SIGTERM: a data plane that cannot stop must not keep the agent from stopping (systemd would
// otherwise wait for its own stop timeout and SIGKILL it).
test('agent SIGTERM: a container whose data plane does not stop in time does not keep the agent alive', async () => {
  if (!privileged('agent SIGTERM with a wedged container', ociGap())) return;
  const { tmp, policies, socket, state } = agentSetup('wasmsup-wedge-term-');
  const faults = process.env.WASMSUP_TEST_FAULTS;
  process.env.WASMSUP_TEST_FAULTS = 'delay-after-path-read-ms=600000';
  const agent = new AgentProcess(['--socket', socket, '--policies', policies]);
  if (faults === undefined) delete process.env.WASMSUP_TEST_FAULTS; else process.env.WASMSUP_TEST_FAULTS = faults;
  let first: number | undefined;
  let running: Promise<unknown> = Promise.resolve();
  try {
    first = await agent.ready();
    mkdirSync(join(tmp.path, 'a'));
    const wedged = makeBundle(join(tmp.path, 'a'), { args: ['sh', '-c', 'touch /tmp/calling; mknod /tmp/n c 1 3; echo mknod=$?'], seccomp: ociConfig(policies, socket) });
    const id = `wasmsup-wedge-term-${process.pid}`;
    const run = runContainer(findTool('runc')!, state, wedged.bundle, id, { timeoutMs: 90000 });
    running = run.catch(() => null);
    await agent.waitFor(new RegExp(`container ${id} \\(pid \\d+\\): serving`));
    for (let i = 0; i < 100 && !existsSync(join(wedged.rootfs, 'tmp', 'calling')); i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1000));
    const exited = new Promise<number | null>((resolve) => agent.child.once('exit', (code) => resolve(code)));
    killPid(first, 'SIGTERM');
    await agent.waitFor(new RegExp(`container ${id}: its data plane did not stop within \\d+ ms; stopping anyway`), 0, 40000);
    const code = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 10000))]);
    assert.is(code, 0, `the agent did not exit after SIGTERM:\n${agent.log}`);
    assert.not.ok(existsSync(socket), 'the socket is removed');
    // The held call, its listener gone with the agent, fails like any call of a stopped agent.
    const result = (await run) as { stdout: string };
    assert.match(result.stdout, /mknod=1/);
  } finally {
    killPid(first);
    await running;
    tmp.cleanup();
  }
});

test.run();
