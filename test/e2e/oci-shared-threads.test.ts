// Many containers on few data-plane threads (src/dataplane/threads.ts, docs/oci.md "Threads and
// memory"): 30 runc containers served at once by one agent with --dataplane-threads 2, each with its
// own policy configuration, decisions and per-container metrics; one of them killed while the others
// run on undisturbed; a SIGHUP reload that reaches every one; two privileged helpers for all of them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { TEST_POLICY, runWasmsup, tempDir } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { AgentProcess, agentSetup, eventually, findTool, killPid, makeBundle, ociConfig, ociGap, runContainer, type ContainerResult } from '../support/oci.js';
import { freePort, scrape, valueOf } from '../support/exposition.js';

const CONTAINERS = 30;
/** How many runc processes start containers at once (the machine may have 2 cores). */
const STARTING_AT_ONCE = 6;

/** The agent's children that are wasmsup-helper processes. */
function helpersOf(agentPid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === agentPid && comm.startsWith('wasmsup-helper')) out.push(Number(entry));
    } catch { /* gone */ }
  }
  return out;
}

test(`agent --dataplane-threads 2: ${CONTAINERS} runc containers at once, each its own decisions and metrics; one killed disturbs none; a reload reaches all`, async () => {
  if (!privileged('agent shared data-plane threads', ociGap())) return;
  const t = agentSetup('wasmsup-shared-threads-', []);
  // getppid answers the container's own configured n (io.wasmsup.config.json-reader).
  copyFileSync(TEST_POLICY('json-reader'), join(t.policies, 'json-reader.wasm'));
  const port = await freePort();
  const agent = new AgentProcess(['--socket', t.socket, '--policies', t.policies, '--dataplane-threads', '2', '--metrics', `127.0.0.1:${port}`]);
  const runc = findTool('runc')!;
  const ids: string[] = [];
  const rootfses: string[] = [];
  const running: Promise<ContainerResult>[] = [];
  try {
    const agentPid = await agent.ready();
    const url = `http://127.0.0.1:${port}/metrics`;
    const seccomp = ociConfig(t.policies, t.socket);
    // ash reads getppid() once at start for $PPID: each shell's first line is its policy's answer.
    const script = ['echo first $PPID', 'while [ ! -e /tmp/go ]; do sleep 0.2; done', 'sh -c \'echo second $PPID\''].join('\n');
    for (let i = 0; i < CONTAINERS; i++) {
      const { rootfs } = makeBundle(t.bundleDir(), {
        args: ['sh', '-c', script], seccomp, annotations: { 'io.wasmsup.config.json-reader': JSON.stringify({ n: 1000 + i }) },
      });
      const id = `wasmsup-shared-${process.pid}-${i}`;
      ids.push(id);
      rootfses.push(rootfs);
    }
    // Started a few at a time; each stays (waiting for /tmp/go) once it has made its first call.
    for (let i = 0; i < CONTAINERS; i++) {
      running.push(runContainer(runc, t.state, join(rootfses[i]!, '..'), ids[i]!, { timeoutMs: 180_000 }));
      if ((i + 1) % STARTING_AT_ONCE === 0) {
        const started = ids.slice(0, i + 1);
        await eventually(async () => {
          const m = await scrape(url);
          return started.every((id) => valueOf(m, 'wasmsup_notifications_total', { container: id, syscall: 'getppid', decision: 'return' }) === 1);
        }, `the first call of containers 0..${i}`, 60_000);
      }
    }
    const served = await scrape(url);
    assert.is(valueOf(served, 'wasmsup_containers'), CONTAINERS);
    for (const id of ids) {
      assert.is(valueOf(served, 'wasmsup_notifications_total', { container: id, syscall: 'getppid', decision: 'return' }), 1, id);
      assert.is(valueOf(served, 'wasmsup_policy_decisions_total', { container: id, policy: 'json-reader', decision: 'return' }), 1, id);
    }
    // All of them on two threads: two privileged helpers, not one per container.
    assert.is(helpersOf(agentPid).length, 2, `helpers: ${helpersOf(agentPid).join(' ')}`);

    // One container killed: it is released alone.
    let mark = agent.log.length;
    const victim = ids[0]!;
    spawnSync(runc, ['--root', t.state, 'kill', victim, 'KILL'], { stdio: 'ignore' });
    await agent.waitFor(new RegExp(`container ${victim}: released \\(no task uses its filter any more\\)`), mark);
    const after = await scrape(url);
    assert.is(valueOf(after, 'wasmsup_containers'), CONTAINERS - 1);
    assert.not.ok(agent.log.slice(mark).match(/data plane failed|error:/), agent.log.slice(mark));

    // A reload reaches every container still served: a policy sorted first that answers 4242.
    copyFileSync(TEST_POLICY('getppid-return'), join(t.policies, 'aaa-getppid.wasm'));
    mark = agent.log.length;
    killPid(agentPid, 'SIGHUP');
    await agent.waitFor(/reload 1:/, mark);
    for (const rootfs of rootfses.slice(1)) writeFileSync(join(rootfs, 'tmp', 'go'), '');
    const results = await Promise.all(running);
    for (let i = 1; i < CONTAINERS; i++) {
      const r = results[i]!;
      assert.is(r.code, 0, `${ids[i]}: ${r.stderr}`);
      assert.equal(r.stdout.trim().split('\n'), [`first ${1000 + i}`, 'second 4242'], ids[i]);
    }
    assert.not.ok(results[0]!.stdout.includes('second'), 'the killed container did not go on');
    for (const id of ids.slice(1)) await agent.waitFor(new RegExp(`container ${id}: released`), mark);
    assert.is(helpersOf(agentPid).length, 2, 'the helpers stay for the next containers');

    // Nothing a served container held is left behind: five more, served and released, leave the
    // agent with the fds it had before them.
    const fdsBefore = readdirSync(`/proc/${agentPid}/fd`).length;
    mark = agent.log.length;
    const more = [];
    for (let i = 0; i < 5; i++) {
      const { bundle } = makeBundle(t.bundleDir(), {
        args: ['sh', '-c', 'echo $PPID'], seccomp, annotations: { 'io.wasmsup.config.json-reader': '{"n": 7}' },
      });
      more.push(runContainer(runc, t.state, bundle, `wasmsup-shared-${process.pid}-more-${i}`));
    }
    for (const r of await Promise.all(more)) assert.equal([r.code, r.stdout.trim()], [0, '4242'], r.stderr); // the reloaded set's first policy
    await eventually(() => (agent.log.slice(mark).match(/: released/g) ?? []).length === 5, 'the five released');
    await eventually(() => readdirSync(`/proc/${agentPid}/fd`).length === fdsBefore,
      `the agent's fds back to ${fdsBefore} (now ${readdirSync(`/proc/${agentPid}/fd`).length})`);
    assert.not.ok(agent.log.match(/data plane failed/), agent.log);
  } finally {
    for (const rootfs of rootfses) { try { if (existsSync(join(rootfs, 'tmp'))) writeFileSync(join(rootfs, 'tmp', 'go'), ''); } catch { /* gone */ } }
    await Promise.allSettled(running);
    killPid(agent.child.pid);
    t.tmp.cleanup();
  }
});

// The helper a thread's containers share (native/helper.c), stopped here by the test (standing for
// one blocked in a filesystem a workload serves): the call in hand fails after HELPER_TIMEOUT_MS, the
// helper is killed and replaced, and the containers of that thread have their mknods served again.
test('agent --dataplane-threads 1: a shared helper that stops answering is killed and replaced; the containers\' next mknods are served', async () => {
  if (!privileged('agent shared helper replaced', ociGap())) return;
  const t = agentSetup('wasmsup-shared-helper-', ['mknod']);
  const faults = process.env.WASMSUP_TEST_FAULTS;
  // Every mknod through the helper, never the thread's fast path.
  process.env.WASMSUP_TEST_FAULTS = 'mknod-helper-only=1';
  const agent = new AgentProcess(['--socket', t.socket, '--policies', t.policies, '--dataplane-threads', '1']);
  if (faults === undefined) delete process.env.WASMSUP_TEST_FAULTS; else process.env.WASMSUP_TEST_FAULTS = faults;
  const runc = findTool('runc')!;
  const running: Promise<ContainerResult>[] = [];
  const rootfses: string[] = [];
  try {
    const agentPid = await agent.ready();
    const seccomp = ociConfig(t.policies, t.socket);
    const script = (name: string) => [
      `mknod /tmp/${name}-1 c 1 3; echo one=$?`,
      'touch /tmp/first-done',
      'while [ ! -e /tmp/go ]; do sleep 0.1; done',
      `mknod /tmp/${name}-2 c 1 3; echo two=$?`,
      'touch /tmp/second-done',
      'while [ ! -e /tmp/go2 ]; do sleep 0.1; done',
      `mknod /tmp/${name}-3 c 1 3; echo three=$?`,
    ].join('\n');
    for (const name of ['a', 'b']) {
      const { bundle, rootfs } = makeBundle(t.bundleDir(), { args: ['sh', '-c', script(name)], seccomp });
      rootfses.push(rootfs);
      running.push(runContainer(runc, t.state, bundle, `wasmsup-shared-helper-${process.pid}-${name}`, { timeoutMs: 120_000 }));
    }
    for (const rootfs of rootfses) await eventually(() => existsSync(join(rootfs, 'tmp', 'first-done')), 'the first mknods', 30_000);
    const helpers = helpersOf(agentPid);
    assert.is(helpers.length, 1, `one thread, one helper: ${helpers.join(' ')}`);
    killPid(helpers[0], 'SIGSTOP');
    const mark = agent.log.length;
    writeFileSync(join(rootfses[0]!, 'tmp', 'go'), '');
    await agent.waitFor(/privileged helper was killed .*started a new one for its 2 container\(s\)/, mark, 30_000);
    await eventually(() => existsSync(join(rootfses[0]!, 'tmp', 'second-done')), 'a\'s second mknod answered');
    // b's second and both third mknods: served by the new helper.
    writeFileSync(join(rootfses[1]!, 'tmp', 'go'), '');
    await eventually(() => existsSync(join(rootfses[1]!, 'tmp', 'second-done')), 'b\'s second mknod answered');
    for (const rootfs of rootfses) writeFileSync(join(rootfs, 'tmp', 'go2'), '');
    const [a, b] = await Promise.all(running);
    assert.is(a!.code, 0, a!.stderr);
    assert.is(b!.code, 0, b!.stderr);
    assert.match(a!.stdout, /^one=0$/m);
    assert.match(a!.stdout, /^two=[1-9]\d*$/m, `the call in hand when the helper stopped answering fails: ${a!.stdout}`);
    assert.match(a!.stdout, /^three=0$/m, a!.stdout);
    assert.equal(b!.stdout.trim().split('\n'), ['one=0', 'two=0', 'three=0']);
    const now = helpersOf(agentPid);
    assert.is(now.length, 1, `the stopped helper is gone, one new one serves: ${now.join(' ')}`);
    assert.is.not(now[0], helpers[0]);
  } finally {
    for (const rootfs of rootfses) for (const f of ['go', 'go2']) { try { writeFileSync(join(rootfs, 'tmp', f), ''); } catch { /* gone */ } }
    await Promise.allSettled(running);
    killPid(agent.child.pid);
    t.tmp.cleanup();
  }
});

test('agent --dataplane-threads: anything but a whole number from 1 to 1024 is a one-line usage error, no socket bound', async () => {
  const t = tempDir();
  try {
    for (const bad of ['0', '1025', 'two', '1.5']) {
      const socket = join(t.path, 'a.sock');
      const r = await runWasmsup(['agent', '--socket', socket, '--policies', t.path, '--dataplane-threads', bad]);
      assert.is(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim().split('\n'), [`wasmsup: agent: --dataplane-threads: "${bad}" is not a whole number from 1 to 1024`]);
      assert.not.ok(existsSync(socket));
    }
  } finally { t.cleanup(); }
});

test.run();
