// Per-container configuration through the agent (docs/oci.md, "Per-container configuration"): one
// agent serves two runc containers at the same time, each with its own mknod allowlist from the
// io.wasmsup.config.mknod annotation (or a listenerMetadata item), replacing the directory's
// mknod.json for that container only; the identity its policies read; a refused configuration.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mknodProbe, POLICY, TEST_POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { AgentProcess, agentSetup, eventually, findTool, killPid, makeBundle, ociConfig, ociGap, runContainer } from '../support/oci.js';

let serial = 0;
const containerId = (what: string) => `wasmsup-cfg-${process.pid}-${what}-${++serial}`;

/** mknod of each node, printing "NAME=STATUS", between two rendezvous so that both containers are alive at once. */
const SCRIPT = [
  'touch /tmp/started',
  'while [ ! -e /tmp/go ]; do sleep 0.05; done',
  'mknod /tmp/null c 1 3; echo null=$?',
  'mknod /tmp/zero c 1 5; echo zero=$?',
  'mknod /tmp/port c 1 4; echo port=$?',
  'mknod /tmp/loop b 7 0; echo loop=$?',
].join('\n');

test('one agent, two runc containers at once, two mknod allowlists from the annotation; the file\'s for a third', async () => {
  if (!privileged('runc per-container configuration', ociGap())) return;
  const t = agentSetup('wasmsup-oci-config-');
  // The directory's configuration: only c 1:3.
  writeFileSync(join(t.policies, 'mknod.json'), '{"devices": ["c 1:3"]}');
  const agent = new AgentProcess(['--socket', t.socket, '--policies', t.policies]);
  try {
    await agent.ready();
    const runc = findTool('runc')!;
    const seccomp = ociConfig(t.policies, t.socket);
    const a = makeBundle(t.bundleDir(), {
      args: ['sh', '-c', SCRIPT], seccomp, binaries: [mknodProbe()],
      annotations: { 'io.wasmsup.config.mknod': '{"devices": ["c 1:5"]}' },
    });
    const b = makeBundle(t.bundleDir(), {
      args: ['sh', '-c', SCRIPT], seccomp, binaries: [mknodProbe()],
      annotations: { 'io.wasmsup.config.mknod': '{"devices": ["c 1:4", "b 7:0"], "allowBlock": true}' },
    });
    // listenerMetadata's item, JSON with spaces and all, among other items.
    const c = makeBundle(t.bundleDir(), {
      args: ['sh', '-c', SCRIPT], binaries: [mknodProbe()],
      seccomp: { ...(seccomp as object), listenerMetadata: 'team=infra; config.mknod={"devices": ["c 1:3", "c 1:5"]}; policies=mknod' },
    });
    const d = makeBundle(t.bundleDir(), { args: ['sh', '-c', SCRIPT], seccomp, binaries: [mknodProbe()] });
    const running = [a, b, c, d].map((x, i) => runContainer(runc, t.state, x.bundle, containerId(`${i}`)));
    // All four alive and served before any of them calls mknod.
    await eventually(() => [a, b, c, d].every((x) => existsSync(join(x.rootfs, 'tmp', 'started'))), 'four containers started');
    for (const x of [a, b, c, d]) writeFileSync(join(x.rootfs, 'tmp', 'go'), '');
    const [ra, rb, rc, rd] = await Promise.all(running);
    const outcome = (r: typeof ra) => { assert.is(r!.code, 0, r!.stderr); return r!.stdout; };
    assert.is(outcome(ra), 'null=1\nzero=0\nport=1\nloop=1\n');
    assert.is(outcome(rb), 'null=1\nzero=1\nport=0\nloop=0\n');
    assert.is(outcome(rc), 'null=0\nzero=0\nport=1\nloop=1\n');
    assert.is(outcome(rd), 'null=0\nzero=1\nport=1\nloop=1\n');
  } finally {
    killPid(agent.child.pid);
    t.tmp.cleanup();
  }
});

test('agent: a configuration the policy refuses is one line naming the container and the key; the container is not served', async () => {
  if (!privileged('runc refused configuration', ociGap())) return;
  const t = agentSetup('wasmsup-oci-config-');
  const agent = new AgentProcess(['--socket', t.socket, '--policies', t.policies]);
  try {
    await agent.ready();
    const id = containerId('refused');
    const x = makeBundle(t.bundleDir(), {
      args: ['sh', '-c', 'mknod /tmp/null c 1 3; echo null=$?'], seccomp: ociConfig(t.policies, t.socket),
      annotations: { 'io.wasmsup.config.mknod': '{"devices": ["b 8:0"]}' },
    });
    const r = await runContainer(findTool('runc')!, t.state, x.bundle, id);
    // Its listener closed: the intercepted call fails (ENOSYS), never served with another allowlist.
    assert.match(r.stdout, /^null=1$/m);
    assert.not.ok(existsSync(join(x.rootfs, 'tmp', 'null')));
    await agent.waitFor(new RegExp(`container ${id} \\(pid \\d+\\): not served: container ${id}: annotation io\\.wasmsup\\.config\\.mknod: policy mknod refused its configuration: devices\\[0\\]: "b 8:0" is a block device, refused unless "allowBlock": true`));
  } finally {
    killPid(agent.child.pid);
    t.tmp.cleanup();
  }
});

test('agent SIGHUP: a new set that refuses a container\'s own configuration leaves that container its previous set', async () => {
  if (!privileged('runc reload with per-container configuration', ociGap())) return;
  const t = agentSetup('wasmsup-oci-config-');
  const agent = new AgentProcess(['--socket', t.socket, '--policies', t.policies]);
  try {
    await agent.ready();
    const id = containerId('reload');
    const script = ['mknod /tmp/before c 1 5; echo before=$?', 'while [ ! -e /tmp/go ]; do sleep 0.05; done', 'mknod /tmp/after c 1 5; echo after=$?'].join('\n');
    const x = makeBundle(t.bundleDir(), {
      args: ['sh', '-c', script], seccomp: ociConfig(t.policies, t.socket),
      annotations: { 'io.wasmsup.config.mknod': '{"devices": ["c 1:5"]}' },
    });
    const running = runContainer(findTool('runc')!, t.state, x.bundle, id);
    await eventually(() => existsSync(join(x.rootfs, 'tmp', 'before')), 'the first mknod');
    // mknod.wasm replaced by a policy that knows no "devices": the container's annotation is refused.
    rmSync(join(t.policies, 'mknod.wasm'));
    copyFileSync(POLICY('bpf-devices'), join(t.policies, 'mknod.wasm'));
    const from = agent.log.length;
    killPid(agent.child.pid, 'SIGHUP');
    await agent.waitFor(new RegExp(`a data plane kept its previous policies: container ${id}: annotation io\\.wasmsup\\.config\\.mknod: policy bpf-devices refused its configuration: unknown key "devices"`), from);
    await agent.waitFor(/reload 1: replaced mknod\.wasm/, from);
    writeFileSync(join(x.rootfs, 'tmp', 'go'), '');
    const r = await running;
    assert.is(r.code, 0, r.stderr);
    // Still its own allowlist, from the previous set: c 1:5 is emulated after the reload too.
    assert.is(r.stdout, 'before=0\nafter=0\n');
  } finally {
    killPid(agent.child.pid);
    t.tmp.cleanup();
  }
});

test('agent --container-config: a container configuring a policy it was not allowed to is not served', async () => {
  if (!privileged('runc --container-config', ociGap())) return;
  const t = agentSetup('wasmsup-oci-config-');
  const agent = new AgentProcess(['--socket', t.socket, '--policies', t.policies, '--container-config', 'sysinfo']);
  try {
    await agent.ready();
    const id = containerId('not-allowed');
    const x = makeBundle(t.bundleDir(), {
      args: ['sh', '-c', 'mknod /tmp/null c 1 3; echo null=$?'], seccomp: ociConfig(t.policies, t.socket),
      annotations: { 'io.wasmsup.config.mknod': '{"devices": ["c 1:3"]}' },
    });
    const r = await runContainer(findTool('runc')!, t.state, x.bundle, id);
    assert.match(r.stdout, /^null=1$/m);
    await agent.waitFor(new RegExp(`not served: container ${id}: annotation io\.wasmsup\.config\.mknod: this agent takes no per-container configuration of mknod \\(--container-config sysinfo\\)`));
  } finally {
    killPid(agent.child.pid);
    t.tmp.cleanup();
  }
});

test('agent: the identity a container\'s policies read — id, listenerMetadata, only the annotations let through', async () => {
  if (!privileged('runc identity', ociGap())) return;
  const t = agentSetup('wasmsup-oci-config-', []);
  copyFileSync(TEST_POLICY('json-reader'), join(t.policies, 'json-reader.wasm'));
  const agent = new AgentProcess(['--socket', t.socket, '--policies', t.policies, '--pass-annotation', 'team', '--pass-annotation', 'org.example.*']);
  try {
    await agent.ready();
    const id = containerId('identity');
    const x = makeBundle(t.bundleDir(), {
      args: ['sh', '-c', 'true'],
      seccomp: { ...(ociConfig(t.policies, t.socket) as object), listenerMetadata: 'tier=gold' },
      annotations: { team: 'infra', secret: 'hunter2', 'org.example.app': 'web', 'io.wasmsup.config.json-reader': '{"n": 5}' },
    });
    const r = await runContainer(findTool('runc')!, t.state, x.bundle, id);
    assert.is(r.code, 0, r.stderr);
    await agent.waitFor(new RegExp(`identity \\{"container":"${id}","listenerMetadata":"tier=gold","annotations":\\{"org\\.example\\.app":"web","team":"infra"\\}\\}`));
    assert.match(agent.log, /config \{"n":5\}/);
    assert.not.match(agent.log, /hunter2/);
  } finally {
    killPid(agent.child.pid);
    t.tmp.cleanup();
  }
});

test.run();
