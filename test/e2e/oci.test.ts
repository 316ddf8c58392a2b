// `wasmsup agent` and `wasmsup oci-config` end to end: the config a user pastes, the agent's socket
// rules, malformed states, and real containers started by runc (and crun) in a user namespace —
// mknod emulated, refused off the allowlist, resolved inside the rootfs, per-container policy
// selection, an agent upgrade (SIGUSR2) under load that loses no call, and a killed agent (ENOSYS).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, existsSync, rmSync, lstatSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { native } from '../../src/native.js';
import { runWasmsup, mknodProbe, POLICY, TEST_POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import {
  AgentProcess, agentSetup, assertEveryCallServed, eventually, withAgent, HOST_ID, crunWrap, findTool, killPid, makeBundle, ociConfig, ociGap, runContainer,
} from '../support/oci.js';

let serial = 0;
const containerId = () => `wasmsup-test-${process.pid}-${++serial}`;
const makedev = (major: number, minor: number) => (major << 8) | minor;

const setup = () => agentSetup('wasmsup-oci-');

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  assert.is(lines.length, 1, `expected one line on stderr, got: ${stderr}`);
  return lines[0]!;
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

test('oci-config: NOTIFY rules carry the policies\' conditions in OCI form, and merge into a profile', async () => {
  const t = setup();
  try {
    const fresh = await runWasmsup(['oci-config', '--policies', t.policies, '--socket', t.socket]);
    assert.is(fresh.code, 0, fresh.stderr);
    const seccomp = JSON.parse(fresh.stdout);
    assert.is(seccomp.defaultAction, 'SCMP_ACT_ALLOW');
    assert.is(seccomp.listenerPath, t.socket);
    // mknod's mode is argument 1, mknodat's argument 2; (mode & S_IFMT) == S_IFCHR with a device number
    // (the next argument) other than 0, the whiteout the kernel makes itself; or S_IFBLK.
    const S_IFMT = 0o170000, S_IFCHR = 0o020000, S_IFBLK = 0o060000;
    const rules = seccomp.syscalls as { names: string[]; action: string; args: { index: number; value: number; valueTwo: number; op: string }[] }[];
    for (const [name, index] of [['mknod', 1], ['mknodat', 2]] as const) {
      const mine = rules.filter((r) => r.names.includes(name));
      assert.is(mine.length, 2, name);
      for (const r of mine) assert.is(r.action, 'SCMP_ACT_NOTIFY');
      const chr = mine.find((r) => r.args[0]!.valueTwo === S_IFCHR)!, blk = mine.find((r) => r.args[0]!.valueTwo === S_IFBLK)!;
      assert.equal(chr.args.map((a) => [a.index, a.op, a.value]), [[index, 'SCMP_CMP_MASKED_EQ', S_IFMT], [index + 1, 'SCMP_CMP_NE', 0]]);
      assert.equal(blk.args.map((a) => [a.index, a.op, a.value]), [[index, 'SCMP_CMP_MASKED_EQ', S_IFMT]]);
    }

    // A deny-by-default profile that allows mknod: every mknod is notified (the others must stay
    // allowed, and the agent answers them "continue"); other rules are untouched.
    const profile = join(t.tmp.path, 'profile.json');
    writeFileSync(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'mknod'], action: 'SCMP_ACT_ALLOW' }] }));
    const merged = await runWasmsup(['oci-config', '--policies', t.policies, '--socket', t.socket, profile]);
    assert.is(merged.code, 0, merged.stderr);
    const m = JSON.parse(merged.stdout);
    assert.is(m.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(m.syscalls[0], { names: ['read'], action: 'SCMP_ACT_ALLOW' });
    assert.equal(m.syscalls.filter((r: { names: string[] }) => r.names.includes('mknod')), [{ names: ['mknod'], action: 'SCMP_ACT_NOTIFY' }]);
    assert.is(m.syscalls.filter((r: { names: string[] }) => r.names.includes('mknodat')).length, 2);
    assert.match(merged.stderr, /mknodat: the profile denies it/);

    // Merging its own output again changes nothing.
    writeFileSync(profile, merged.stdout);
    const again = await runWasmsup(['oci-config', '--policies', t.policies, '--socket', t.socket, profile]);
    assert.equal(JSON.parse(again.stdout), m);

    // A rule that gives mknod another treatment cannot be merged: one line, exit 2.
    writeFileSync(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mknod'], action: 'SCMP_ACT_ERRNO' }] }));
    const refused = await runWasmsup(['oci-config', '--policies', t.policies, profile]);
    assert.is(refused.code, 2);
    assert.match(oneLine(refused.stderr), /syscalls\[0\] \(SCMP_ACT_ERRNO\) already covers mknod/);

    const missing = await runWasmsup(['oci-config', '--socket', t.socket]);
    assert.is(missing.code, 2);
    assert.match(oneLine(missing.stderr), /--policies DIR is required/);
  } finally {
    t.tmp.cleanup();
  }
});

test('agent socket: mode 0600, a live agent is not displaced, a stale socket is replaced, SIGTERM removes it', async () => {
  const t = setup();
  let agent: AgentProcess | null = null;
  try {
    writeFileSync(join(t.tmp.path, 'not-a-socket'), 'x');
    const notSocket = await runWasmsup(['agent', '--socket', join(t.tmp.path, 'not-a-socket'), '--policies', t.policies]);
    assert.is(notSocket.code, 2);
    assert.match(oneLine(notSocket.stderr), /exists and is not a socket/);

    // A stale socket: bound by a process that is gone (nobody listens).
    const staleFd = native.unixListen(t.socket, 1);
    native.close(staleFd);
    agent = new AgentProcess(['--socket', t.socket, '--policies', t.policies]);
    await agent.ready();
    const st = lstatSync(t.socket);
    assert.ok(st.isSocket());
    assert.is(st.mode & 0o777, 0o600);

    const second = await runWasmsup(['agent', '--socket', t.socket, '--policies', t.policies]);
    assert.is(second.code, 2);
    assert.match(oneLine(second.stderr), /another agent is live on it/);

    const exited = new Promise((r) => agent!.child.on('exit', r));
    killPid(agent.child.pid, 'SIGTERM');
    assert.is(await exited, 0);
    assert.not.ok(existsSync(t.socket));
  } finally {
    killPid(agent?.child.pid);
    t.tmp.cleanup();
  }
});

test('agent: it listens before loading its policies; a bad option or policy after that leaves no socket behind', async () => {
  const t = setup();
  try {
    // Bound first (src/oci/early.ts), then refused by the CLI or the policy loader: the socket goes with the process.
    for (const [args, reason] of [
      [['--fail-errno', 'EBOGUS'], /--fail-errno/],
      [['--log-level', 'loud'], /--log-level: "loud"/],
      [['--policies', join(t.tmp.path, 'missing')], /missing/],
    ] as const) {
      const r = await runWasmsup(['agent', '--socket', t.socket, '--policies', t.policies, ...args]);
      assert.is(r.code, 2, r.stderr);
      assert.match(oneLine(r.stderr), reason);
      assert.not.ok(existsSync(t.socket), `${args.join(' ')}: the socket was left behind`);
      assert.equal(readdirSync(t.tmp.path).filter((f) => f.startsWith('agent.sock')), []);
    }
  } finally {
    t.tmp.cleanup();
  }
});

test('runc: a container started the moment the agent\'s socket appears waits for the policies and is served', async () => {
  if (!privileged('runc early container', ociGap())) return;
  const t = setup();
  // Every shipped policy, so that loading them takes a while after the socket is bound.
  for (const f of readdirSync(dirname(POLICY('mknod')))) if (f.endsWith('.wasm') && f !== 'mknod.wasm') copyFileSync(join(dirname(POLICY('mknod')), f), join(t.policies, f));
  const escapeName = `wasmsup-escape-early-${process.pid}`;
  const { bundle, rootfs } = makeBundle(t.bundleDir(), {
    args: ['sh', '-c', MKNOD_SCRIPT(escapeName)], seccomp: ociConfig(t.policies, t.socket), binaries: [mknodProbe()],
    annotations: { 'io.wasmsup.policies': 'mknod' },
  });
  const agent = new AgentProcess(['--socket', t.socket, '--policies', t.policies]);
  try {
    await eventually(() => existsSync(t.socket), 'the socket appears', 30000);
    // Never more open than 0600, even this early.
    assert.is(lstatSync(t.socket).mode & 0o777, 0o600);
    const result = await runContainer(findTool('runc')!, t.state, bundle, containerId());
    checkMknodOutcome(result, rootfs, escapeName);
    assert.match(agent.log, /agent serving on/);
  } finally {
    killPid(agent.child.pid);
    t.tmp.cleanup();
  }
});

test('agent: malformed states are logged and dropped, every fd they carried is closed, the agent goes on', async () => {
  const t = setup();
  const agent = new AgentProcess(['--socket', t.socket, '--policies', t.policies]);
  try {
    const pid = await agent.ready();
    await new Promise((r) => setTimeout(r, 200)); // let the accept worker settle its own fds
    const baseline = fdCount(pid);
    const send = (text: string, fdsToSend: number) => {
      const fds = Array.from({ length: fdsToSend }, () => native.eventfd());
      const conn = native.unixConnect(t.socket);
      native.sendMessage(conn, Buffer.from(text), fds);
      native.close(conn);
      for (const fd of fds) native.close(fd);
    };
    const state = (fds: string[]) => JSON.stringify({ ociVersion: '0.2.0', fds, pid: process.pid, metadata: '', state: { ociVersion: '0.2.0', id: 'bogus', status: 'creating', pid: process.pid, bundle: '/' } });
    send('{"ociVersion": "1.0.2", "fds": ["seccompFd"', 1); // never completed
    send('[1, 2, 3]', 2);
    send(state(['other']), 1);
    send(state(['seccompFd', 'other']), 2); // an eventfd is no seccomp listener
    send(state(['seccompFd']), 2); // more fds than named
    await agent.waitFor(/(dropped[^\n]*\n[^]*){5}/);
    assert.match(agent.log, /closed before a complete state arrived/);
    assert.match(agent.log, /not a JSON object/);
    assert.match(agent.log, /does not name a "seccompFd"/);
    assert.match(agent.log, /its "seccompFd" is not a seccomp listener/);
    assert.match(agent.log, /names 1 fd\(s\) but 2 came with it/);
    await eventually(() => fdCount(pid) === baseline, `agent back to ${baseline} fds (has ${fdCount(pid)})`);
    assert.is(agent.child.exitCode, null);
  } finally {
    killPid(agent.child.pid);
    t.tmp.cleanup();
  }
});

const MKNOD_SCRIPT = (escapeName: string) => [
  'umask 027',
  'mknod-probe one /tmp/null',
  'echo hello > /tmp/null && echo write=ok',
  'echo read=$(wc -c < /tmp/null)',
  'mknod /tmp/sda b 8 0; echo sda=$?',
  `mknod-probe one /esc/${escapeName}`,
].join('\n');

function checkMknodOutcome(result: { code: number | null; stdout: string; stderr: string }, rootfs: string, escapeName: string): void {
  assert.is(result.code, 0, result.stderr);
  // Inside: created, root's own, mode 0666 & ~027, usable as /dev/null.
  assert.match(result.stdout, /^\S+ ret=0 errno=0 type=chr rdev=1:3 mode=0640 uid=0 gid=0$/m);
  assert.match(result.stdout, /^write=ok$/m);
  assert.match(result.stdout, /^read=0$/m);
  // Off the allowlist: the kernel's EPERM.
  assert.match(result.stdout, /^sda=1$/m);
  assert.match(result.stderr, /mknod: \/tmp\/sda: Operation not permitted/);
  assert.not.ok(existsSync(join(rootfs, 'tmp', 'sda')));
  // Outside: owned by the container's root, host uid/gid 100000.
  const st = statSync(join(rootfs, 'tmp', 'null'));
  assert.ok(st.isCharacterDevice());
  assert.is(st.rdev, makedev(1, 3));
  assert.is(st.uid, HOST_ID);
  assert.is(st.gid, HOST_ID);
  assert.is(st.mode & 0o7777, 0o640);
  // /esc -> /etc resolved inside the container's root: the rootfs's etc, never the host's.
  const escaped = statSync(join(rootfs, 'etc', escapeName));
  assert.ok(escaped.isCharacterDevice());
  assert.is(escaped.uid, HOST_ID);
  assert.not.ok(existsSync(join('/etc', escapeName)));
}

test('runc: a userns container mknods /dev/null-likes through the agent; off-allowlist EPERM; symlinks resolve in the rootfs', async () => {
  if (!privileged('runc mknod', ociGap())) return;
  await withAgent(setup(), async (t, agent) => {
    const escapeName = `wasmsup-escape-${process.pid}`;
    const { bundle, rootfs } = makeBundle(t.bundleDir(), {
      args: ['sh', '-c', MKNOD_SCRIPT(escapeName)], seccomp: ociConfig(t.policies, t.socket), binaries: [mknodProbe()],
    });
    const result = await runContainer(findTool('runc')!, t.state, bundle, containerId());
    checkMknodOutcome(result, rootfs, escapeName);
    assert.match(agent.log, /container \S+ \(pid \d+\): serving policies=mknod/);
  });
});

test('runc: per-container selection — the io.wasmsup.policies annotation and listenerMetadata', async () => {
  if (!privileged('runc policy selection', ociGap())) return;
  await withAgent(setup(), async (t, agent) => {
    const script = ['mknod-probe one /tmp/null'];
    // "none": no policy answers, the kernel's own EPERM for a user namespace.
    const none = makeBundle(t.bundleDir(), {
      args: ['sh', '-c', script.join('\n')], seccomp: ociConfig(t.policies, t.socket), binaries: [mknodProbe()],
      annotations: { 'io.wasmsup.policies': 'none' },
    });
    const r1 = await runContainer(findTool('runc')!, t.state, none.bundle, containerId());
    assert.is(r1.code, 0, r1.stderr);
    assert.match(r1.stdout, /ret=-1 errno=EPERM/);
    assert.match(agent.log, /serving policies=\(none\)/);

    // listenerMetadata naming the policy (by file name), among other items.
    const seccomp = { ...(ociConfig(t.policies, t.socket) as object), listenerMetadata: 'team=infra; policies=mknod' };
    const chosen = makeBundle(t.bundleDir(), { args: ['sh', '-c', script.join('\n')], seccomp, binaries: [mknodProbe()] });
    const r2 = await runContainer(findTool('runc')!, t.state, chosen.bundle, containerId());
    assert.is(r2.code, 0, r2.stderr);
    assert.match(r2.stdout, /ret=0 errno=0 type=chr rdev=1:3/);
  });
});

test('runc: SIGHUP reloads the policy directory for running containers', async () => {
  if (!privileged('runc reload', ociGap())) return;
  await withAgent(setup(), async (t, agent) => {
    const script = ['mknod-probe one /tmp/before', 'while [ ! -e /tmp/go ]; do sleep 0.05; done', 'mknod-probe one /tmp/after'].join('\n');
    const { bundle, rootfs } = makeBundle(t.bundleDir(), { args: ['sh', '-c', script], seccomp: ociConfig(t.policies, t.socket), binaries: [mknodProbe()] });
    const running = runContainer(findTool('runc')!, t.state, bundle, containerId());
    await eventually(() => existsSync(join(rootfs, 'tmp', 'before')), 'the first mknod');
    rmSync(join(t.policies, 'mknod.wasm'));
    // A policy for a call the containers' filters do not route: the warning says how to route it here.
    copyFileSync(TEST_POLICY('getppid-errno'), join(t.policies, 'getppid-errno.wasm'));
    killPid(agent.child.pid, 'SIGHUP');
    await agent.waitFor(/reload 1: .*removed mknod\.wasm/);
    await agent.waitFor(/filter does not route getppid: .*regenerate the containers' seccomp profile with `wasmsup oci-config`/);
    writeFileSync(join(rootfs, 'tmp', 'go'), '');
    const result = await running;
    assert.is(result.code, 0, result.stderr);
    assert.match(result.stdout, /^one ret=0 errno=0 type=chr/m);
    // No policy any more: the kernel's own answer in a user namespace.
    assert.match(result.stdout, /^one ret=-1 errno=EPERM$/m);
  });
});

test('runc: SIGUSR2 hands every container to a new agent process; a container mknod-ing in a loop sees every call answered', async () => {
  if (!privileged('runc agent hand-over', ociGap())) return;
  const t = setup();
  const agent = new AgentProcess(['--socket', t.socket, '--policies', t.policies]);
  let successor: number | undefined;
  try {
    const first = await agent.ready();
    // Runs until the test says stop, so the hand-over surely happens in the middle of the loop.
    const loop = 'i=0; f=0; while [ ! -e /tmp/stop ]; do mknod /tmp/n c 1 3 || f=$((f+1)); rm -f /tmp/n; i=$((i+1)); done; echo calls=$i failed=$f';
    const { bundle, rootfs } = makeBundle(t.bundleDir(), { args: ['sh', '-c', loop], seccomp: ociConfig(t.policies, t.socket) });
    const id = containerId();
    const running = runContainer(findTool('runc')!, t.state, bundle, id);
    await agent.waitFor(new RegExp(`container ${id} \\(pid \\d+\\): serving`));
    await new Promise((r) => setTimeout(r, 300)); // some calls answered by the first agent
    const mark = agent.log.length;
    killPid(first, 'SIGUSR2');
    successor = await agent.ready(mark);
    assert.is.not(successor, first);
    await agent.waitFor(/took over 1 container\(s\)/, mark);
    await new Promise((r) => setTimeout(r, 300)); // and some by the second
    writeFileSync(join(rootfs, 'tmp', 'stop'), '');
    const result = await running;
    assertEveryCallServed(result);
    // The first agent exited; the successor served the rest and released the container.
    await eventually(() => agent.child.exitCode !== null, 'the first agent exits');
    assert.is(agent.child.exitCode, 0);
    const released = await agent.waitFor(new RegExp(`container ${id}: released \\(no task uses its filter any more\\) notifications=(\\d+)`), mark);
    assert.ok(Number(released[1]) > 0);
  } finally {
    killPid(successor);
    killPid(agent.child.pid);
    t.tmp.cleanup();
  }
});

test('runc: a successor that cannot start leaves the old agent serving, and no call is lost', async () => {
  if (!privileged('runc failed hand-over', ociGap())) return;
  const t = setup();
  const agent = new AgentProcess(['--socket', t.socket, '--policies', t.policies]);
  try {
    const first = await agent.ready();
    const loop = 'i=0; f=0; while [ ! -e /tmp/stop ]; do mknod /tmp/n c 1 3 || f=$((f+1)); rm -f /tmp/n; i=$((i+1)); done; echo calls=$i failed=$f';
    const { bundle, rootfs } = makeBundle(t.bundleDir(), { args: ['sh', '-c', loop], seccomp: ociConfig(t.policies, t.socket) });
    const id = containerId();
    const running = runContainer(findTool('runc')!, t.state, bundle, id);
    await agent.waitFor(new RegExp(`container ${id} \\(pid \\d+\\): serving`));
    // The successor loads the directory again and refuses to start on a bad file.
    writeFileSync(join(t.policies, 'broken.wasm'), 'not wasm');
    const mark = agent.log.length;
    killPid(first, 'SIGUSR2');
    await agent.waitFor(/hand-over failed: the new agent exited before it was ready; this agent goes on serving/, mark);
    await agent.waitFor(new RegExp(`container ${id} \\(pid \\d+\\): serving`), mark);
    await new Promise((r) => setTimeout(r, 300));
    writeFileSync(join(rootfs, 'tmp', 'stop'), '');
    const result = await running;
    assert.is(result.code, 0, result.stderr);
    const m = /calls=(\d+) failed=(\d+)/.exec(result.stdout);
    assert.ok(m, result.stdout);
    assert.is(Number(m![2]), 0, `failed calls: ${result.stdout} ${result.stderr}`);
    assert.is(agent.child.exitCode, null); // still the first agent
  } finally {
    killPid(agent.child.pid);
    t.tmp.cleanup();
  }
});

test('runc: the agent killed while a container runs — its trapped calls fail with ENOSYS, nothing hangs', async () => {
  if (!privileged('runc agent killed', ociGap())) return;
  await withAgent(setup(), async (t, agent) => {
    const script = [
      'mknod-probe one /tmp/before',
      ': > /tmp/answered', // the first call has its answer: the agent is killed only after that
      'while [ ! -e /tmp/go ]; do sleep 0.05; done',
      'mknod-probe one /tmp/after',
      'mknod /tmp/fifo p; echo fifo=$?', // not intercepted: unaffected
    ].join('\n');
    const { bundle, rootfs } = makeBundle(t.bundleDir(), { args: ['sh', '-c', script], seccomp: ociConfig(t.policies, t.socket), binaries: [mknodProbe()] });
    const running = runContainer(findTool('runc')!, t.state, bundle, containerId(), { timeoutMs: 60000 });
    // Not the node itself: it exists a moment before the emulation's answer is sent, and a kill in
    // that moment fails the first call too (ENOSYS, its node made), which is not what this tests.
    await eventually(() => existsSync(join(rootfs, 'tmp', 'answered')), 'the first mknod answered');
    const exited = new Promise((r) => agent.child.on('exit', r));
    killPid(agent.child.pid, 'SIGKILL');
    await exited;
    writeFileSync(join(rootfs, 'tmp', 'go'), '');
    const result = await running;
    assert.is(result.code, 0, result.stderr);
    assert.match(result.stdout, /^one ret=0 errno=0 type=chr/m);
    assert.match(result.stdout, /^one ret=-1 errno=ENOSYS$/m);
    assert.match(result.stdout, /^fifo=0$/m);
  });
});

test('crun: the same container through the agent (crun sends ociVersion 0.2.0)', async () => {
  if (!privileged('crun mknod', ociGap() ?? (findTool('crun') ? null : 'needs crun (apt-get install crun)'))) return;
  await withAgent(setup(), async (t, agent) => {
    const escapeName = `wasmsup-escape-crun-${process.pid}`;
    const { bundle, rootfs } = makeBundle(t.bundleDir(), {
      args: ['sh', '-c', MKNOD_SCRIPT(escapeName)], seccomp: ociConfig(t.policies, t.socket), binaries: [mknodProbe()],
    });
    const result = await runContainer(findTool('crun')!, join(t.tmp.path, 'crun-state'), bundle, containerId(),
      { globalArgs: ['--cgroup-manager=disabled'], wrap: crunWrap });
    checkMknodOutcome(result, rootfs, escapeName);
  });
});

test.run();
