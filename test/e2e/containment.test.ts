// Containment (docs/oci.md, "Misbehaving containers"): a policy's CONTAIN decision, or the operator's
// --default-action for calls no policy decides, kills or freezes the whole workload — for `run` the
// processes one by one (it shares wasmsup's cgroup), for a runc container through its own cgroup —
// after failing the call, logged and counted. Policy: test/fixtures/policies/contain.ts (`mknod NAME
// c 77 7` kills, `c 77 8` freezes, `c 77 9` is left undecided).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_POLICY, WASMSUP, ROOT, runWasmsup } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import {
  agentSetup, crunWrap, withAgent, type AgentProcess, type AgentSetup, eventually, findTool, killPid, makeBundle, ociConfig, ociGap, runContainer, runTool,
} from '../support/oci.js';
import { containerDefaultAction } from '../../src/oci/state.js';
import { scrape, valueOf } from '../support/exposition.js';
import { freePort } from '../support/exposition.js';

const POLICY = TEST_POLICY('contain');
/** The signal for the policy: a call it kills for (7), freezes for (8) or leaves undecided (9). */
const signalCall = (minor: number) => `mknod /tmp/wasmsup-contain-never c 77 ${minor}`;

/** State letter of `pid` (/proc/PID/status), or null once it is gone and reaped. */
function stateOf(pid: number): string | null {
  try { return /\nState:\s+(\S)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? null; } catch { return null; }
}

test('the container\'s own default action: annotation over listenerMetadata, kinvolk\'s spellings, typos refused', () => {
  const of = (metadata: string, annotations: Record<string, string> = {}) => containerDefaultAction({ metadata, annotations });
  assert.is(of(''), null);
  assert.is(of('policies=mknod default-action=freeze'), 'freeze');
  assert.is(of('DEFAULT_ACTION=kill-container;policies=mknod'), 'kill');
  assert.is(of('default-action=kill', { 'io.wasmsup.default-action': 'fail' }), 'fail');
  assert.throws(() => of('', { 'io.wasmsup.default-action': 'explode' }), /annotation io\.wasmsup\.default-action: "explode" is not one of continue, fail, kill, freeze/);
  assert.throws(() => of('default-action=kil'), /listenerMetadata item default-action: "kil"/);
});

test('run: --default-action decides what a call no policy decides gets; a typo is a usage error', async () => {
  // Undecided and continued: the kernel's own answer, EPERM in a user namespace.
  let r = await runWasmsup(['run', '--userns', '--policy', POLICY, '--', 'sh', '-c', `${signalCall(9)}; echo "status $?"`]);
  assert.match(r.stderr, /Operation not permitted/);
  assert.match(r.stdout, /^status 1$/m);
  assert.not.match(r.stderr, /asked to/);
  // Failed by the default action, without a user namespace, where the kernel would have made it.
  r = await runWasmsup(['run', '--policy', POLICY, '--default-action', 'fail', '--', 'sh', '-c', `${signalCall(9)}; echo "status $?"`]);
  assert.match(r.stderr, /Operation not permitted/);
  assert.match(r.stdout, /^status 1$/m);
  r = await runWasmsup(['run', '--default-action', 'kil', '--', 'true']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /run: --default-action: "kil" is not one of continue, fail, kill, freeze/);
});

test('run: a policy kills the workload — the caller and a background process, not wasmsup', async () => {
  if (!privileged('containment signals the workload\'s processes')) return;
  const dir = spawnSync('mktemp', ['-d'], { encoding: 'utf8' }).stdout.trim();
  try {
    const pidFile = join(dir, 'sleep.pid');
    // A background job, and a daemon double-forked out of the command's tree (setsid, its parent gone).
    const r = await runWasmsup(['run', '--policy', POLICY, '--', 'sh', '-c',
      `sleep 60 & echo $! > ${pidFile}; (setsid sleep 61 & echo $! >> ${pidFile}) ; sleep 0.2; ${signalCall(7)}; echo survived`]);
    assert.is(r.code, 137, r.stderr);
    assert.not.match(r.stdout, /survived/);
    assert.match(r.stderr, /policy contain asked to kill the workload \(mknodat? by tid \d+\): killed: [4-9] process\(es\), stopped one by one with SIGSTOP then SIGKILLed \(its cgroup2 cgroup holds wasmsup/);
    for (const sleeper of readFileSync(pidFile, 'utf8').trim().split('\n').map(Number)) {
      await eventually(() => { const s = stateOf(sleeper); return s === null || s === 'Z'; }, `background sleep ${sleeper} killed`);
    }
  } finally {
    spawnSync('rm', ['-rf', dir]);
  }
});

test('run: --default-action kill on an undecided call', async () => {
  if (!privileged('containment signals the workload\'s processes')) return;
  const r = await runWasmsup(['run', '--userns', '--policy', POLICY, '--default-action', 'kill', '--', 'sh', '-c', `${signalCall(9)}; echo survived`]);
  assert.is(r.code, 137, r.stderr);
  assert.not.match(r.stdout, /survived/);
  assert.match(r.stderr, /--default-action asked to kill the workload \(mknodat? by tid/);
});

test('run: a policy freezes the workload (stopped, as it shares wasmsup\'s cgroup); SIGCONT resumes it with the call failed', async () => {
  if (!privileged('containment signals the workload\'s processes')) return;
  const port = await freePort();
  const child = spawn(WASMSUP, ['run', '--userns', '--policy', POLICY, '--metrics', String(port), '--', 'sh', '-c', `${signalCall(8)}; echo "resumed $?"`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  try {
    const match = await eventually(() => /asked to freeze the workload \(mknodat? by tid (\d+)\): stopped: [2-9] process\(es\), one by one with SIGSTOP \(.*\); kill -CONT resumes them/.exec(stderr), `freeze logged; stderr: ${stderr}`);
    const tid = Number(match![1]);
    await eventually(() => stateOf(tid) === 'T', `caller ${tid} stopped`);
    // Still stopped a while later: nothing in the workload can resume it.
    await new Promise((r) => setTimeout(r, 300));
    assert.is(stateOf(tid), 'T');
    assert.is(stdout, '');
    // Counted: one freeze, no kill, and the policy's decision.
    const metrics = await scrape(`http://127.0.0.1:${port}/metrics`);
    assert.is(valueOf(metrics, 'wasmsup_containments_total', { action: 'freeze' }), 1);
    assert.is(valueOf(metrics, 'wasmsup_containments_total', { action: 'kill' }), 0);
    assert.is(valueOf(metrics, 'wasmsup_policy_decisions_total', { policy: 'contain', decision: 'contain' }), 1);
    // The operator resumes it: every process of the workload (the shell and the probe).
    for (const pid of [tid, ...parentsOf(tid)]) { try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ } }
    assert.is(await exited, 0, stderr);
    assert.is(stdout, 'resumed 1\n');
    assert.match(stderr, /Operation not permitted/);
  } finally {
    killPid(child.pid);
  }
});

/** The ancestors of `pid` up to (not including) the test process. */
function parentsOf(pid: number): number[] {
  const out: number[] = [];
  for (let p = pid; ;) {
    const ppid = Number(/\nPPid:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
    if (ppid <= 1 || ppid === process.pid) return out;
    out.push(ppid);
    p = ppid;
  }
}

// ---- a runc container through the agent: its own cgroup ----

function runcGap(): string | null {
  if (!privileged('runc containers')) return 'not root';
  return ociGap() ?? (findTool('runc') ? null : 'needs runc');
}

/** An agent serving only the containment policy. */
async function withContainmentAgent(body: (t: AgentSetup, agent: AgentProcess) => Promise<void>): Promise<void> {
  const t = agentSetup('wasmsup-contain-', []);
  copyFileSync(POLICY, join(t.policies, 'contain.wasm'));
  await withAgent(t, body);
}

test('agent + runc: a policy kills the container through its own cgroup (cgroup.kill), background processes too', async () => {
  if (runcGap()) return;
  await withContainmentAgent(async (t, agent) => {
    const { bundle } = makeBundle(t.bundleDir(), {
      args: ['sh', '-c', `sleep 60 & ${signalCall(7)}; echo survived`], seccomp: ociConfig(t.policies, t.socket),
    });
    const r = await runContainer('runc', t.state, bundle, 'wasmsup-contain-kill');
    assert.is(r.code, 137, `${r.stdout}${r.stderr}\n${agent.log}`);
    assert.not.match(r.stdout, /survived/);
    await agent.waitFor(/container wasmsup-contain-kill: policy contain asked to kill the workload \(mknodat? by tid \d+\): killed: cgroup\.kill of \/sys\/fs\/cgroup\/\S*wasmsup-contain-kill/);
  });
});

test('agent + crun without cgroups (--cgroup-manager=disabled): the shared cgroup is left alone, the container is killed process by process', async () => {
  if (runcGap() || !findTool('crun')) { privileged('crun containment', 'needs crun'); return; }
  await withContainmentAgent(async (t, agent) => {
    const { bundle } = makeBundle(t.bundleDir(), {
      args: ['sh', '-c', `sleep 60 & ${signalCall(7)}; echo survived`], seccomp: ociConfig(t.policies, t.socket),
    });
    const r = await runContainer(findTool('crun')!, join(t.tmp.path, 'crun-state'), bundle, 'wasmsup-contain-crun',
      { globalArgs: ['--cgroup-manager=disabled'], wrap: crunWrap });
    assert.not.match(r.stdout, /survived/, `${r.stdout}${r.stderr}\n${agent.log}`);
    // The container shares this test's cgroups, which hold the test and the agent: never written to.
    await agent.waitFor(/container wasmsup-contain-crun: policy contain asked to kill the workload \(mknodat? by tid \d+\): killed: [2-9] process\(es\), stopped one by one with SIGSTOP then SIGKILLed \(.*holds (wasmsup|pid \d+, not the workload's)/);
    assert.is(agent.child.exitCode, null, 'the agent survived');
  });
});

test('agent + runc: io.wasmsup.default-action=freeze pauses the container the way runc pause does; runc resume thaws it', async () => {
  if (runcGap()) return;
  await withContainmentAgent(async (t, agent) => {
    const id = 'wasmsup-contain-freeze';
    const { bundle } = makeBundle(t.bundleDir(), {
      args: ['sh', '-c', `${signalCall(9)}; echo "resumed $?"`], seccomp: ociConfig(t.policies, t.socket),
      annotations: { 'io.wasmsup.default-action': 'freeze' },
    });
    const running = runContainer('runc', t.state, bundle, id);
    try {
      await agent.waitFor(new RegExp(`container ${id}: --default-action asked to freeze the workload \\(mknodat? by tid \\d+\\): frozen: `));
      const status = await eventually(async () => {
        const s = await runTool(['runc', '--root', t.state, 'state', id]);
        return s.code === 0 && (JSON.parse(s.stdout) as { status: string }).status === 'paused';
      }, 'runc state says paused');
      assert.ok(status);
      await new Promise((r) => setTimeout(r, 300));
      const resumed = await runTool(['runc', '--root', t.state, 'resume', id]);
      assert.is(resumed.code, 0, resumed.stderr);
      const r = await running;
      assert.is(r.code, 0, `${r.stderr}\n${agent.log}`);
      assert.is(r.stdout, 'resumed 1\n');
      assert.match(r.stderr, /Operation not permitted/);
    } finally {
      spawnSync('runc', ['--root', t.state, 'resume', id], { stdio: 'ignore' });
      await running.catch(() => undefined);
    }
  });
});

test('agent + runc: listenerMetadata DEFAULT_ACTION=kill-container (kinvolk\'s spelling) kills on an undecided call; a typo drops the container', async () => {
  if (runcGap()) return;
  await withContainmentAgent(async (t, agent) => {
    const seccomp = ociConfig(t.policies, t.socket) as { listenerMetadata?: string };
    let { bundle } = makeBundle(t.bundleDir(), {
      args: ['sh', '-c', `${signalCall(9)}; echo survived`], seccomp: { ...seccomp, listenerMetadata: 'DEFAULT_ACTION=kill-container' },
    });
    let r = await runContainer('runc', t.state, bundle, 'wasmsup-contain-meta');
    assert.is(r.code, 137, `${r.stdout}${r.stderr}\n${agent.log}`);
    await agent.waitFor(/container wasmsup-contain-meta: --default-action asked to kill the workload/);

    ({ bundle } = makeBundle(t.bundleDir(), {
      args: ['sh', '-c', `${signalCall(7)}; echo "survived $?"`], seccomp,
      annotations: { 'io.wasmsup.default-action': 'explode' },
    }));
    r = await runContainer('runc', t.state, bundle, 'wasmsup-contain-typo');
    await agent.waitFor(/dropped a container state: container wasmsup-contain-typo: annotation io\.wasmsup\.default-action: "explode" is not one of continue, fail, kill, freeze/);
    // Nobody serves its listener: the kernel answers ENOSYS, and the container is not contained.
    assert.is(r.stdout, 'survived 1\n', `${r.stderr}\n${agent.log}`);
    assert.match(r.stderr, /Function not implemented/);
  });
});

test.run();
