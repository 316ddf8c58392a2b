// Processes started in a running container (`runc exec`, `crun exec`, `podman exec`) come with a
// listener of their own, and the agent serves them like the container's first process: same container,
// same policy selection, their own user namespace and credentials. What the runtimes send (captured,
// docs/oci.md): runc "pid" = the exec'd process and "state.pid" = the init; crun 1.8 "pid" 0. Also:
// the policy list of an annotation (podman splits --annotation on commas), and forged states whose
// pids do not fit the listener, which are dropped.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { native } from '../../src/native.js';
import { launch } from '../../src/launch.js';
import { compileFilter } from '../../src/filter/compile.js';
import { loadPolicy } from '../../src/policy/load.js';
import { mergeInterests } from '../../src/filter/interest.js';
import { parseContainerState, requestedPolicies, StateError } from '../../src/oci/state.js';
import { IdentityError, UNKNOWN_USERNS, resolveListener, type ProcessFacts } from '../../src/oci/identity.js';
import type { WorkloadInfo } from '../../src/caller/workload.js';
import { mknodProbe, POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import {
  agentSetup, assertEveryCallServed, eventually, withAgent, type AgentSetup, HOST_ID, crunWrap, findTool, hybridCgroups, killPid, makeBundle, ociConfig, ociGap, podmanCommand, runTool,
} from '../support/oci.js';

let serial = 0;
const containerId = () => `wasmsup-exec-${process.pid}-${++serial}`;

// ---------------------------------------------------------------------------------------------
// What the runtimes send, as captured from runc 1.1.5 and crun 1.8.1 (docs/oci.md).

const captured = {
  runcRun: { ociVersion: '1.0.2-dev', fds: ['seccompFd'], pid: 10910, metadata: 'team=x; policies=mknod', state: { ociVersion: '1.0.2-dev', id: 'c', status: 'creating', pid: 10910, bundle: '/b', annotations: { 'io.wasmsup.policies': 'mknod' } } },
  runcExec: { ociVersion: '1.0.2-dev', fds: ['seccompFd'], pid: 10930, metadata: 'team=x; policies=mknod', state: { ociVersion: '1.0.2-dev', id: 'c', status: 'running', pid: 10910, bundle: '/b', annotations: { 'io.wasmsup.policies': 'mknod' } } },
  crunRun: { ociVersion: '0.2.0', fds: ['seccompFd'], pid: 11244, metadata: 'team=x; policies=mknod', state: { ociVersion: '0.2.0', id: 'c', status: 'creating', pid: 11244, bundle: '/b', annotations: { 'io.wasmsup.policies': 'mknod' } } },
  crunExec: { ociVersion: '0.2.0', fds: ['seccompFd'], pid: 0, metadata: 'team=x; policies=mknod', state: { ociVersion: '0.2.0', id: 'c', status: 'running', pid: 0, bundle: '.', annotations: { 'io.wasmsup.policies': 'mknod' } } },
};

test('state: what runc and crun send for run and exec is accepted; a negative or fractional pid is not', () => {
  const runcExec = parseContainerState(JSON.stringify(captured.runcExec));
  assert.equal([runcExec.pid, runcExec.statePid, runcExec.status], [10930, 10910, 'running']);
  const crunExec = parseContainerState(JSON.stringify(captured.crunExec));
  assert.equal([crunExec.pid, crunExec.statePid, crunExec.status], [0, 0, 'running']);
  for (const s of [captured.runcRun, captured.crunRun]) {
    const p = parseContainerState(JSON.stringify(s));
    assert.equal([p.pid, p.statePid, p.status, p.id], [s.pid, s.pid, 'creating', 'c']);
  }
  for (const [pid, statePid] of [[-1, 1], [1.5, 1], [1, -2], [1, 'x'], ['1', 1]] as const) {
    const bad = { ...captured.runcRun, pid, state: { ...captured.runcRun.state, pid: statePid } };
    assert.throws(() => parseContainerState(JSON.stringify(bad)), (e: unknown) => e instanceof StateError && /pid/.test((e as Error).message));
  }
});

test('policy selection: an annotation lists names with commas, whitespace or ";" (podman splits --annotation on commas)', () => {
  const names = (annotation: string) => requestedPolicies({ metadata: '', annotations: { 'io.wasmsup.policies': annotation } }).names;
  assert.equal(names('mknod,setxattr'), ['mknod', 'setxattr']);
  assert.equal(names('mknod setxattr'), ['mknod', 'setxattr']);
  assert.equal(names(' mknod;setxattr\t, sysinfo '), ['mknod', 'setxattr', 'sysinfo']);
  assert.equal(names('none'), []);
  assert.equal(names(''), []);
  assert.equal(names(' , '), []);
  const meta = (metadata: string) => requestedPolicies({ metadata, annotations: {} });
  assert.equal(meta('team=infra; policies=mknod,setxattr').names, ['mknod', 'setxattr']);
  assert.equal(meta('team=infra').names, null);
  assert.is(meta('policies=mknod').source, 'listenerMetadata');
});

// ---------------------------------------------------------------------------------------------
// Which process and container a listener belongs to, on invented /proc facts.

const INIT_USERNS = 4026532178, INIT_PIDNS = 4026532192, HOST_USERNS = 4026531837, HOST_PIDNS = 4026531836;
const workloadOf = (pid: number, startTicks: number): WorkloadInfo => ({ pid, startTicks, usernsInode: INIT_USERNS, supervisorUsernsInode: HOST_USERNS, cgroup2Dir: `/sys/fs/cgroup/c-${pid}`, supervisorCgroup2Dir: '/sys/fs/cgroup/agent' });

function factsFrom(table: Record<number, Partial<ProcessFacts>>) {
  return (pid: number): ProcessFacts => {
    const f = table[pid];
    if (!f) throw Object.assign(new Error('no such process'), { code: 'ESRCH' });
    const startTicks = f.startTicks ?? 100;
    return { pid, startTicks, usernsInode: INIT_USERNS, pidnsInode: INIT_PIDNS, seccompFiltered: true, workload: workloadOf(pid, startTicks), ...f };
  };
}
const state = (pid: number, statePid: number, status: string) => ({ id: 'c', pid, statePid, status });

test('identity: runc exec is served as its container, in its own user namespace; pids that do not fit are refused', () => {
  const recorded = [workloadOf(10, 100)];
  const facts = factsFrom({ 10: { startTicks: 100 }, 20: { startTicks: 500 } });
  const exec = resolveListener(state(20, 10, 'running'), recorded, facts);
  assert.equal([exec.role, exec.pid, exec.usernsInode, exec.workload], ['exec', 20, INIT_USERNS, recorded[0]]);
  // The same without this agent having seen the init: the init is described afresh.
  const fresh = resolveListener(state(20, 10, 'running'), [], facts);
  assert.equal([fresh.role, fresh.workload!.pid, fresh.workload!.cgroup2Dir], ['exec', 10, '/sys/fs/cgroup/c-10']);

  // An exec'd pid (exited, and its pid reused) outside the init's namespaces.
  const reused = factsFrom({ 10: {}, 20: { usernsInode: HOST_USERNS, pidnsInode: HOST_PIDNS } });
  assert.throws(() => resolveListener(state(20, 10, 'running'), recorded, reused), (e: unknown) => e instanceof IdentityError && /not in the user and pid namespaces of its container's init 10/.test((e as Error).message));
  // A process with no seccomp filter cannot be the one the listener was made for.
  const unfiltered = factsFrom({ 10: {}, 20: { seccompFiltered: false } });
  assert.throws(() => resolveListener(state(20, 10, 'running'), recorded, unfiltered), /process 20 has no seccomp filter/);
  // The exec'd process already gone (children it left may still use the listener): served as its container's.
  const gone = resolveListener(state(20, 10, 'running'), recorded, factsFrom({ 10: {} }));
  assert.equal([gone.role, gone.pid, gone.usernsInode, gone.workload], ['exec', 10, INIT_USERNS, recorded[0]]);
  assert.match(gone.note!, /process 20 is gone \(ESRCH\): served as its container's/);
  // Nothing to go by: dropped with the reason.
  assert.throws(() => resolveListener(state(20, 10, 'running'), [], factsFrom({})), /process 20 is gone \(ESRCH\)/);
  assert.throws(() => resolveListener(state(20, 20, 'creating'), recorded, factsFrom({ 10: {} })), /process 20 is gone/);
  assert.throws(() => resolveListener(state(20, 10, 'running'), [], factsFrom({ 20: {} })), /the container's init 10 is gone/);
});

test('identity: crun 1.8 exec (pid 0) takes its container\'s init as recorded, and only while that init is the same process', () => {
  const recorded = [workloadOf(10, 100)];
  const live = resolveListener(state(0, 0, 'running'), recorded, factsFrom({ 10: { startTicks: 100 } }));
  assert.equal([live.role, live.pid, live.usernsInode, live.workload], ['exec', 10, INIT_USERNS, recorded[0]]);
  assert.match(live.note!, /did not say which process/);
  // The init exited and its pid was taken by another process (another start time): no identity.
  const reused = resolveListener(state(0, 0, 'running'), recorded, factsFrom({ 10: { startTicks: 999 } }));
  assert.equal([reused.pid, reused.usernsInode, reused.workload], [0, UNKNOWN_USERNS, null]);
  assert.match(reused.note!, /does not serve its container/);
  // Two running containers of that id (two runtimes' state roots) in different namespaces: ambiguous.
  const two = resolveListener(state(0, 0, 'running'), [workloadOf(10, 100), workloadOf(30, 300)],
    factsFrom({ 10: { startTicks: 100 }, 30: { startTicks: 300, usernsInode: 1, pidnsInode: 2 } }));
  assert.equal([two.usernsInode, two.workload], [UNKNOWN_USERNS, null]);
  assert.match(two.note!, /2 running containers have this id/);
});

test('identity: a first process, and crun ≥ 1.9 exec ("pid" = "state.pid" = the exec\'d process)', () => {
  const facts = factsFrom({ 10: { startTicks: 100 }, 20: { startTicks: 500 } });
  const first = resolveListener(state(10, 10, 'creating'), [], facts);
  assert.equal([first.role, first.pid, first.workload!.pid, first.note], ['init', 10, 10, null]);
  const exec = resolveListener(state(20, 20, 'running'), [workloadOf(10, 100)], facts);
  assert.equal([exec.role, exec.pid, exec.workload!.pid], ['exec', 20, 10]);
  const unknown = resolveListener(state(20, 20, 'running'), [], facts);
  assert.equal([unknown.role, unknown.workload!.pid], ['exec', 20]);
  assert.match(unknown.note!, /not known to this agent/);
});

// ---------------------------------------------------------------------------------------------
// Forged states with real listeners, against a real agent.

test('agent: a forged state whose pid has no filter, or sits outside its init\'s namespaces, is dropped; pid 0 of an unknown container is served without its identity', async () => {
  if (!privileged('agent forged exec states')) return;
  const mknod = loadPolicy(POLICY('mknod'));
  const filter = compileFilter(mergeInterests([mknod.interest]), { hostArch: process.arch === 'arm64' ? 'aarch64' : 'x86_64' });
  await withAgent(agentSetup('wasmsup-oci-exec-', ['mknod', 'sysinfo']), async (t, agent) => {
    // Two processes under a filter with a listener each: one in the host's namespaces, one in a user namespace.
    const host = await launch({ argv: ['/bin/sleep', '60'], filter: filter.program, stdio: ['ignore', 'ignore', 'inherit'] });
    const userns = await launch({ argv: ['/bin/sleep', '60'], filter: filter.program, stdio: ['ignore', 'ignore', 'inherit'], userns: { uidMap: `0 ${HOST_ID} 65536\n`, gidMap: `0 ${HOST_ID} 65536\n` } });
    try {
      const send = (pid: number, statePid: number, id: string, annotations: Record<string, string> = {}, status = 'running') => {
        const conn = native.unixConnect(t.socket);
        const text = JSON.stringify({ ociVersion: '1.0.2', fds: ['seccompFd'], pid, state: { ociVersion: '1.0.2', id, status, pid: statePid, bundle: '/', annotations } });
        native.sendMessage(conn, Buffer.from(text), [host.listenerFd]);
        native.close(conn);
      };
      send(process.pid, process.pid, 'forged-unfiltered'); // this test runs under no filter
      await agent.waitFor(/dropped container forged-unfiltered: process \d+ has no seccomp filter, so the listener is not its/);
      send(host.pid, userns.pid, 'forged-elsewhere'); // "exec'd" in the host, "init" in a user namespace
      await agent.waitFor(new RegExp(`dropped container forged-elsewhere: process ${host.pid} is not in the user and pid namespaces of its container's init ${userns.pid}`));
      send(0, 0, 'forged-unknown');
      await agent.waitFor(/container forged-unknown exec \(pid 0\): the runtime did not say which process \(pid 0\) and this agent does not serve its container: served without/);
      await agent.waitFor(/container forged-unknown exec \(pid 0\): serving policies=mknod,sysinfo/);

      // A selection naming a policy the directory does not have: one line says what is served.
      send(host.pid, host.pid, 'typo', { 'io.wasmsup.policies': 'mknod sysinfo-typo' }, 'creating');
      await agent.waitFor(/warn: container typo \(pid \d+\): serving only the known policies: annotation io.wasmsup.policies names policies this agent does not have \(it has: mknod,sysinfo\) policies=mknod unknown=sysinfo-typo\n/);
      send(host.pid, host.pid, 'all-typos', { 'io.wasmsup.policies': 'mknd' }, 'creating');
      await agent.waitFor(/error: container all-typos \(pid \d+\): serving NO policy: annotation io.wasmsup.policies names policies this agent does not have \(it has: mknod,sysinfo\) policies=\(none\) unknown=mknd\n/);
    } finally {
      for (const l of [host, userns]) {
        killPid(l.pid);
        native.close(l.listenerFd);
        await l.exited;
      }
    }
    await agent.waitFor(/container forged-unknown exec \(pid 0\): released/);
  });
});

// ---------------------------------------------------------------------------------------------
// Real runtimes.

const INIT_SCRIPT = ['mknod-probe one /tmp/init-before', 'while [ ! -e /tmp/go ]; do sleep 0.05; done', 'mknod-probe one /tmp/init-after', 'sleep 0.2'].join('\n');
const EXEC_SCRIPT = 'umask 022; mknod-probe one /tmp/exec-null; mknod /tmp/sda b 8 0; echo sda=$?';

interface Engine {
  name: string;
  gap: () => string | null;
  /** Starts the container detached; returns the id the runtime (and so the agent) knows it by. */
  start: (bundle: string, id: string, rootfs: string, t: AgentSetup) => Promise<string>;
  exec: (id: string, args: string[], user?: string) => Promise<{ code: number | null; stdout: string; stderr: string }>;
  remove: (id: string) => Promise<void>;
}

function ociEngine(runtime: 'runc' | 'crun', stateRoot: () => string): Engine {
  const global = runtime === 'crun' ? ['--cgroup-manager=disabled'] : [];
  const wrap = runtime === 'crun' ? crunWrap : (a: string[]) => a;
  const base = () => [findTool(runtime)!, '--root', stateRoot(), ...global];
  return {
    name: runtime,
    gap: () => ociGap() ?? (findTool(runtime) ? null : `needs ${runtime} (apt-get install ${runtime})`),
    start: async (bundle, id) => {
      const r = await runTool(wrap([...base(), 'run', '-d', '--bundle', bundle, id]), 60000, true);
      assert.is(r.code, 0, `${runtime} run -d: ${r.stderr}`);
      return id;
    },
    exec: (id, args, user) => runTool([...base(), 'exec', ...(user ? ['--user', user] : []), id, ...args]),
    remove: async (id) => { await runTool(wrap([...base(), 'delete', '-f', id])); },
  };
}

/**
 * podman with a private store in the test's directory, the image imported from the bundle's busybox
 * rootfs (nothing pulled), the container's /tmp a host directory the test can look into, and the
 * profile `wasmsup oci-config` printed given with --security-opt seccomp=. Through crun on a hybrid
 * cgroup layout: in crunWrap's mount namespace, without cgroups.
 */
/** SIGKILL to every pid in a `pidfile` or `conmon.pid` under podman's run root `runRoot` (this test's own store). */
function killStorePids(runRoot: string): void {
  const containers = join(runRoot, 'overlay-containers');
  if (!existsSync(containers)) return;
  for (const c of readdirSync(containers)) {
    for (const f of ['pidfile', 'conmon.pid']) {
      const file = join(containers, c, 'userdata', f);
      const pid = existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : NaN;
      if (Number.isInteger(pid) && pid > 1) killPid(pid);
    }
  }
}

function podmanEngine(runtime: 'runc' | 'crun'): Engine {
  let store = '';
  const podman = (args: string[]) => {
    const argv = podmanCommand(store, runtime, args);
    return runtime === 'crun' ? crunWrap(argv) : argv;
  };
  return {
    name: `podman+${runtime}`,
    gap: () => ociGap() ?? (findTool('podman') ? (findTool(runtime) ? null : `needs ${runtime}`) : 'needs podman (apt-get install podman)'),
    start: async (bundle, id, rootfs, t) => {
      store = join(t.tmp.path, 'podman');
      const image = `localhost/wasmsup-test-${process.pid}:${id}`;
      const tar = join(t.tmp.path, `${id}.tar`);
      const made = await runTool(['tar', '--owner=0', '--group=0', '--numeric-owner', '-C', rootfs, '-cf', tar, '.']); // the image's root owns it; podman maps it
      assert.is(made.code, 0, made.stderr);
      const imported = await runTool(podman(['import', tar, image]));
      assert.is(imported.code, 0, imported.stderr);
      writeFileSync(join(t.tmp.path, 'profile.json'), JSON.stringify(ociConfig(t.policies, t.socket)));
      // podman's default RLIMIT_NOFILE (1048576) and RLIMIT_NPROC may exceed what this machine lets a container have.
      const limits = readFileSync('/proc/self/limits', 'utf8');
      const hard = (name: string) => new RegExp(`^${name}\\s+\\S+\\s+(\\S+)`, 'm').exec(limits)![1]!.replace('unlimited', '-1');
      const nofile = hard('Max open files');
      // And lowering a hard limit is always allowed; raising it back to this process's own is not, in a user namespace.
      const nproc = Math.min(4096, Number(hard('Max processes')) >>> 0);
      const run = await runTool(podman([
        'run', '-d', '--name', id, '--network', 'none', ...(runtime === 'crun' && hybridCgroups() ? ['--cgroups=disabled'] : []),
        '--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', `nproc=${nproc}:${nproc}`,
        '--uidmap', `0:${HOST_ID}:65536`, '--gidmap', `0:${HOST_ID}:65536`, '--cap-add', 'mknod',
        '--volume', `${join(rootfs, 'tmp')}:/tmp`, '--security-opt', `seccomp=${join(t.tmp.path, 'profile.json')}`,
        // A list as a podman user must write it: podman splits --annotation on commas.
        '--annotation', 'io.wasmsup.policies=mknod sysinfo',
        image, 'sh', '-c', INIT_SCRIPT,
      ]), 60000, true);
      assert.is(run.code, 0, `podman run -d: ${run.stderr}`);
      return run.stdout.trim();
    },
    exec: (id, args, user) => runTool(podman(['exec', ...(user ? ['--user', user] : []), id, ...args])),
    remove: async (id) => {
      if (!store) return;
      const removed = await runTool(podman(['rm', '-f', '-t', '0', id])).catch((e: Error) => ({ code: -1, stderr: e.message }));
      // A podman that hangs (seen once under load: an exec that never returned, then rm waiting for it)
      // must not leave the container running: end its processes by the pids podman wrote in this
      // test's own store, the container's first process and its conmon.
      if (removed.code !== 0) killStorePids(join(store, 'run'));
      // The store is this test's alone: reset also unmounts what podman's overlay driver keeps mounted
      // in it (its home), which would otherwise make removing the temporary directory fail (EBUSY).
      await runTool(podman(['system', 'reset', '-f']));
    },
  };
}

let stateRoot = '';

async function execCase(engine: Engine): Promise<void> {
  if (!privileged(`${engine.name} exec`, engine.gap())) return;
  await withAgent(agentSetup('wasmsup-oci-exec-', ['mknod', 'sysinfo']), async (t, agent) => {
    stateRoot = join(t.tmp.path, 'state');
    const { bundle, rootfs } = makeBundle(t.bundleDir(), {
      args: ['sh', '-c', INIT_SCRIPT], seccomp: ociConfig(t.policies, t.socket), binaries: [mknodProbe()],
      annotations: { 'io.wasmsup.policies': 'mknod sysinfo' },
    });
    const id = containerId();
    try {
      const rid = await engine.start(bundle, id, rootfs, t);
      await eventually(() => existsSync(join(rootfs, 'tmp', 'init-before')), 'the init\'s first mknod');
      assert.match(agent.log, new RegExp(`container ${rid} \\(pid \\d+\\): serving policies=mknod,sysinfo`));

      // As the container's root: emulated, owned by the container's root (host 100000), off the allowlist refused.
      const root = await engine.exec(id, ['sh', '-c', EXEC_SCRIPT]);
      assert.is(root.code, 0, root.stderr);
      assert.match(root.stdout, /^one ret=0 errno=0 type=chr rdev=1:3 mode=0644 uid=0 gid=0$/m);
      assert.match(root.stdout, /^sda=1$/m);
      assert.match(root.stderr, /mknod: \/tmp\/sda: Operation not permitted/);
      const st = statSync(join(rootfs, 'tmp', 'exec-null'));
      assert.ok(st.isCharacterDevice());
      assert.is(st.uid, HOST_ID);
      assert.is(st.gid, HOST_ID);
      assert.match(agent.log, new RegExp(`container ${rid} exec \\(pid \\d+\\): serving policies=mknod,sysinfo`));
      assert.not.match(agent.log, /dropped/);

      // As uid 1000 of the container, no capability: its own credentials, so the policy refuses.
      const user = await engine.exec(id, ['mknod-probe', 'one', '/tmp/user-null'], '1000:1000');
      assert.is(user.code, 0, user.stderr);
      assert.match(user.stdout, /^one ret=-1 errno=EPERM$/m);
      assert.not.ok(existsSync(join(rootfs, 'tmp', 'user-null')));

      // The first process is still served, by its own listener.
      writeFileSync(join(rootfs, 'tmp', 'go'), '');
      await eventually(() => existsSync(join(rootfs, 'tmp', 'init-after')), 'the init\'s second mknod');
      assert.is(statSync(join(rootfs, 'tmp', 'init-after')).uid, HOST_ID);
      // Each exec'd process's listener is released when it exits.
      await agent.waitFor(new RegExp(`(container ${rid} exec \\(pid \\d+\\): released[^]*){2}`));
    } finally {
      await engine.remove(id);
    }
  });
}

test('runc exec: an exec\'d process is served like the container\'s first process', () => execCase(ociEngine('runc', () => stateRoot)));
test('crun exec (pid 0): an exec\'d process is served like the container\'s first process', () => execCase(ociEngine('crun', () => stateRoot)));

test('runc exec: SIGUSR2 hands an exec\'d process\'s listener over with its container\'s; a loop of calls across it loses none', async () => {
  const engine = ociEngine('runc', () => stateRoot);
  if (!privileged('runc exec hand-over', engine.gap())) return;
  await withAgent(agentSetup('wasmsup-oci-exec-', ['mknod', 'sysinfo']), async (t, agent) => {
    stateRoot = join(t.tmp.path, 'state');
    const { bundle, rootfs } = makeBundle(t.bundleDir(), {
      // Ends after the exec'd loop (its end would kill the loop: the pid namespace goes with it).
      args: ['sh', '-c', 'while [ ! -e /tmp/stop-init ]; do sleep 0.05; done'], seccomp: ociConfig(t.policies, t.socket),
    });
    const id = containerId();
    let successor: number | undefined;
    try {
      await engine.start(bundle, id, rootfs, t);
      const loop = 'i=0; f=0; while [ ! -e /tmp/stop ]; do mknod /tmp/n c 1 3 || f=$((f+1)); rm -f /tmp/n; i=$((i+1)); done; echo calls=$i failed=$f';
      const running = engine.exec(id, ['sh', '-c', loop]);
      await agent.waitFor(new RegExp(`container ${id} exec \\(pid \\d+\\): serving`));
      await eventually(() => existsSync(join(rootfs, 'tmp', 'n')), 'the loop\'s first mknod');
      const mark = agent.log.length;
      killPid(agent.child.pid, 'SIGUSR2');
      successor = await agent.ready(mark);
      await agent.waitFor(/took over 2 container\(s\)/, mark);
      assert.match(agent.log.slice(mark), new RegExp(`container ${id} exec \\(pid \\d+\\): serving`));
      await new Promise((r) => setTimeout(r, 300)); // some calls answered by the successor
      writeFileSync(join(rootfs, 'tmp', 'stop'), '');
      const result = await running;
      assertEveryCallServed(result);
      await agent.waitFor(new RegExp(`container ${id} exec \\(pid \\d+\\): released \\(no task uses its filter any more\\) notifications=[1-9]`), mark);
      writeFileSync(join(rootfs, 'tmp', 'stop-init'), '');
    } finally {
      killPid(successor);
      await engine.remove(id);
    }
  });
});

test('podman exec through runc: served like the container\'s first process; a space-separated annotation list', () => execCase(podmanEngine('runc')));
test('podman exec through crun: served like the container\'s first process', () => execCase(podmanEngine('crun')));

test.run();
