// docs/oci.md "podman", as a user runs it: the generated profile with --security-opt seccomp=, what a
// container needs for the mknod policy to serve it (a user namespace and --cap-add mknod), a policy
// list in an annotation, and what podman says when the agent is down or dies. A private store in
// the test's directory, an image imported from a busybox rootfs (nothing pulled), runc.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { privileged } from '../support/privileged.js';
import { AgentProcess, agentSetup, HOST_ID, eventually, findTool, killPid, makeBundle, ociConfig, ociGap, podmanCommand, runTool } from '../support/oci.js';

function gap(): string | null {
  return ociGap() ?? (findTool('podman') ? null : 'needs podman (apt-get install podman)');
}

test('podman: the documented run lines — capabilities, user namespace, annotation, agent down and killed', async () => {
  if (!privileged('podman documented runs', gap())) return;
  const t = agentSetup('wasmsup-podman-', ['mknod', 'setxattr', 'sysinfo']);
  const store = join(t.tmp.path, 'store');
  const podman = (args: string[]) => podmanCommand(store, 'runc', args);
  // podman's default RLIMIT_NOFILE (1048576) and RLIMIT_NPROC may exceed what this machine allows a container.
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const hard = (name: string) => new RegExp(`^${name}\\s+\\S+\\s+(\\S+)`, 'm').exec(limits)![1]!.replace('unlimited', '-1');
  const nproc = Math.min(4096, Number(hard('Max processes')) >>> 0);
  const common = ['--network', 'none', '--ulimit', `nofile=${hard('Max open files')}:${hard('Max open files')}`, '--ulimit', `nproc=${nproc}:${nproc}`];
  const userns = ['--uidmap', `0:${HOST_ID}:65536`, '--gidmap', `0:${HOST_ID}:65536`];
  const image = `localhost/wasmsup-podman-test-${process.pid}`;
  const profile = join(t.tmp.path, 'profile.json');
  let agent: AgentProcess | undefined;
  try {
    const { rootfs } = makeBundle(t.bundleDir(), { args: ['true'], seccomp: {} });
    const tar = join(t.tmp.path, 'rootfs.tar');
    assert.is((await runTool(['tar', '--owner=0', '--group=0', '--numeric-owner', '-C', rootfs, '-cf', tar, '.'])).code, 0);
    const imported = await runTool(podman(['import', tar, image]));
    assert.is(imported.code, 0, imported.stderr);
    writeFileSync(profile, JSON.stringify(ociConfig(t.policies, t.socket)));
    const run = (opts: string[], script: string) =>
      runTool(podman(['run', '--rm', ...common, '--security-opt', `seccomp=${profile}`, ...opts, image, 'sh', '-c', script]));

    // No agent: podman (runc) fails the container, exit status 127.
    const down = await run(userns, 'true');
    assert.is(down.code, 127, down.stderr);
    assert.match(down.stderr, `failed to connect with seccomp agent specified in the seccomp profile: dial unix ${t.socket}: connect: no such file or directory`);

    agent = new AgentProcess(['--socket', t.socket, '--policies', t.policies]);
    await agent.ready();
    const MKNOD = 'mknod /tmp/null c 1 3 && ls -ln /tmp/null; mknod /tmp/sda b 8 0';

    // A user namespace and CAP_MKNOD: the policy makes 1:3, owned by the container's root; 8:0 is refused.
    const served = await run([...userns, '--cap-add', 'mknod'], MKNOD);
    assert.is(served.code, 1, served.stderr);
    assert.match(served.stdout, /^crw\S* +1 0 +0 +1, +3 .*\/tmp\/null$/m);
    assert.match(served.stderr, 'mknod: /tmp/sda: Operation not permitted');

    // Without --cap-add mknod (podman's default set lacks it) the policy leaves the call to the kernel: EPERM.
    const noCap = await run(userns, MKNOD);
    assert.match(noCap.stderr, 'mknod: /tmp/null: Operation not permitted');

    // The annotation, space-separated (podman splits --annotation on commas): mknod not selected.
    const other = await run([...userns, '--cap-add', 'mknod', '--annotation', 'io.wasmsup.policies=sysinfo setxattr'], MKNOD);
    assert.match(other.stderr, 'mknod: /tmp/null: Operation not permitted');
    await agent.waitFor(/\(pid \d+\): serving policies=setxattr,sysinfo$/m);
    const comma = await run(['--annotation', 'io.wasmsup.policies=sysinfo,mknod'], 'true');
    assert.is.not(comma.code, 0);
    assert.match(comma.stderr, 'annotations must be formatted KEY=VALUE');

    // The agent killed under a running container: its intercepted calls fail with ENOSYS; exec cannot start.
    const shared = join(t.tmp.path, 'shared');
    mkdirSync(shared);
    chownSync(shared, HOST_ID, HOST_ID);
    const name = `wasmsup-podman-${process.pid}`;
    const started = await runTool(podman(['run', '-d', '--name', name, ...common, '--security-opt', `seccomp=${profile}`, ...userns,
      '--cap-add', 'mknod', '--volume', `${shared}:/w`, image, 'sh', '-c',
      'while [ ! -e /w/go ]; do sleep 0.1; done; mknod /tmp/x c 1 3 2>/w/out; echo done >>/w/out; sleep 600']), 60000, true);
    assert.is(started.code, 0, started.stderr);
    try {
      await agent.waitFor(new RegExp(`container ${started.stdout.trim()} \\(pid \\d+\\): serving`));
      killPid(agent.child.pid);
      await eventually(() => agent!.child.exitCode !== null || agent!.child.signalCode !== null, 'the agent gone');
      writeFileSync(join(shared, 'go'), '');
      await eventually(() => existsSync(join(shared, 'out')) && readFileSync(join(shared, 'out'), 'utf8').includes('done'), 'the container\'s mknod');
      assert.match(readFileSync(join(shared, 'out'), 'utf8'), 'mknod: /tmp/x: Function not implemented');
      const exec = await runTool(podman(['exec', name, 'true']));
      assert.is(exec.code, 255, exec.stderr); // podman 4.3: 127 when the socket file is gone, 255 for a refused connect
      assert.match(exec.stderr, `exec failed: unable to start container process: failed to connect with seccomp agent specified in the seccomp profile: dial unix ${t.socket}: connect: connection refused`);
    } finally {
      await runTool(podman(['rm', '-f', '-t', '0', name]));
    }

    // A new container while the dead agent's socket file is left: "connection refused", exit status 126.
    const refused = await run(userns, 'true');
    assert.is(refused.code, 126, refused.stderr);
    assert.match(refused.stderr, 'connect: connection refused');
  } finally {
    killPid(agent?.child.pid);
    await runTool(podman(['system', 'reset', '-f']));
    t.tmp.cleanup();
  }
});

test.run();
