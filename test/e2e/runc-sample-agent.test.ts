// runc's sample seccomp agent, ported as one wasmsup policy (examples/runc-sample-agent.ts), under runc's
// own scenarios (runc tests/integration/seccomp-notify.bats) with `wasmsup agent` in its place: the
// profile the bats file writes (listenerMetadata "bar", SCMP_ACT_NOTIFY for the names each scenario
// gives), the same container commands and the same expectations; plus what the port promises beyond
// them: the suffix reduced as the sample reduces listenerMetadata, each chmod-family syscall answered
// ENOMEDIUM, and the directory made as the caller (owner, group, mode as the container's own mkdir
// would make them, compared with a container running without the agent).
//
// runc's scenarios left out are runc's own checks, where no agent takes part: a profile without
// notify rules, an empty or unreachable (path or abstract) listenerPath, SCMP_ACT_NOTIFY for write.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildProbe, runWasmsup } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import {
  AgentProcess, HOST_ID, agentSetup, eventually, findTool, killPid, makeBundle, ociGap, removeContainerCgroups, runContainer, runTool,
  type AgentSetup,
} from '../support/oci.js';

const POLICY_SOURCE = 'examples/runc-sample-agent.ts';
let serial = 0;
const containerId = (what: string) => `wasmsup-runc-sample-${process.pid}-${what}-${++serial}`;

/** The profile of the bats file's scmp_act_notify_template. */
/** `metadata` null: no listenerMetadata at all (runc then leaves it out of the state). */
function notifyProfile(socket: string, names: string[], metadata: string | null = 'bar'): Record<string, unknown> {
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    listenerPath: socket,
    ...(metadata === null ? {} : { listenerMetadata: metadata }),
    architectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32', 'SCMP_ARCH_X86_64'],
    syscalls: [{ names, action: 'SCMP_ACT_NOTIFY' }],
  };
}

interface RuncBundle {
  /** The container's command, run by /bin/sh -c as the bats file does. */
  script: string;
  noNewPrivileges?: boolean;
  /** linux.seccomp; none for a container run without the agent. */
  seccomp?: Record<string, unknown>;
  /** process.user; the container's root by default. */
  user?: { uid: number; gid: number; additionalGids?: number[] };
  /** Without a user namespace: the container's root is the host's, as in `runc spec`'s config. */
  hostUsers?: boolean;
  hooks?: Record<string, unknown>;
}

/**
 * makeBundle's busybox bundle with what runc's bats bundle has and it lacks: /dev/shm (runc spec's
 * tmpfs), the probe, noNewPrivileges as the scenario says (the bats file runs both ways because runc
 * installs the filter at a different point for each).
 */
function runcBundle(t: AgentSetup, opts: RuncBundle): { bundle: string; rootfs: string } {
  const b = makeBundle(t.bundleDir(), { args: ['/bin/sh', '-c', opts.script], seccomp: opts.seccomp, binaries: [buildProbe('runc-agent-probe')] });
  const file = join(b.bundle, 'config.json');
  const config = JSON.parse(readFileSync(file, 'utf8'));
  config.process.noNewPrivileges = opts.noNewPrivileges ?? false;
  if (opts.user) config.process.user = opts.user;
  config.mounts.push({ destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] });
  if (opts.hostUsers) {
    config.linux.namespaces = config.linux.namespaces.filter((n: { type: string }) => n.type !== 'user');
    delete config.linux.uidMappings;
    delete config.linux.gidMappings;
  }
  if (opts.hooks) config.hooks = opts.hooks;
  writeFileSync(file, JSON.stringify(config, null, 1));
  return b;
}

// One agent serves the scenarios that do not stop it, each container in turn or at once, as runc's
// bats suite has one sample agent per test.
let shared: { t: AgentSetup; agent: AgentProcess; runc: string } | null = null;

async function buildPolicyInto(t: AgentSetup): Promise<void> {
  const built = await runWasmsup(['build', POLICY_SOURCE, '-o', join(t.policies, 'runc-sample-agent.wasm')], { timeoutMs: 120000 });
  assert.is(built.code, 0, built.stderr);
}

async function agentFor(what: string): Promise<{ t: AgentSetup; agent: AgentProcess; runc: string } | null> {
  if (!privileged(`runc sample agent: ${what}`, ociGap())) return null;
  if (shared) return shared;
  const t = agentSetup('wasmsup-runc-sample-', []);
  await buildPolicyInto(t);
  const agent = new AgentProcess(['--socket', t.socket, '--policies', t.policies]);
  await agent.ready();
  shared = { t, agent, runc: findTool('runc')! };
  return shared;
}

test.after(() => {
  if (!shared) return;
  killPid(shared.agent.child.pid);
  shared.t.tmp.cleanup();
});

const MKDIR_SCRIPT = 'mkdir /dev/shm/foo && stat /dev/shm/foo-bar && [ ! -e /dev/shm/foo ]';

for (const nnp of [false, true]) {
  test(`runc run (SCMP_ACT_NOTIFY noNewPrivileges ${nnp}): mkdir /dev/shm/foo makes /dev/shm/foo-bar`, async () => {
    const s = await agentFor('run'); if (!s) return;
    const b = runcBundle(s.t, { script: MKDIR_SCRIPT, noNewPrivileges: nnp, seccomp: notifyProfile(s.t.socket, ['mkdir']) });
    const r = await runContainer(s.runc, s.t.state, b.bundle, containerId('run'));
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /File: \/dev\/shm\/foo-bar\n[^]*directory/);
  });
}

test('runc run (SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV): served where runc sets the flag; runc 1.1 refuses the config itself', async () => {
  const s = await agentFor('wait killable'); if (!s) return;
  const b = runcBundle(s.t, { script: MKDIR_SCRIPT, seccomp: { ...notifyProfile(s.t.socket, ['mkdir']), flags: ['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'] } });
  const id = containerId('killable');
  const r = await runContainer(s.runc, s.t.state, b.bundle, id, { globalArgs: ['--debug'] });
  if (r.code !== 0 && /seccomp flags are not yet supported by runc|SetWaitKill requires /.test(r.stderr)) {
    // runc 1.1 reads no linux.seccomp.flags and refuses any (an older libseccomp or kernel says
    // SetWaitKill requires ...): the container never starts, so no agent is involved.
    console.log(`  runc refuses the flag here: ${/(seccomp flags are not yet supported by runc|SetWaitKill requires [^"]*)/.exec(r.stderr)![1]}`);
    assert.not.match(s.agent.log, id);
    return;
  }
  assert.is(r.code, 0, r.stdout + r.stderr);
  // 40 = WAIT_KILLABLE_RECV (32) | NEW_LISTENER (8), as runc's debug log prints it.
  assert.match(r.stderr, /seccomp filter flags: 40/);
});

for (const nnp of [false, true]) {
  test(`runc exec (SCMP_ACT_NOTIFY noNewPrivileges ${nnp}): mkdir in an exec'd process makes foo-bar`, async () => {
    const s = await agentFor('exec'); if (!s) return;
    const b = runcBundle(s.t, { script: 'sleep infinity', noNewPrivileges: nnp, seccomp: notifyProfile(s.t.socket, ['mkdir']) });
    const id = containerId('exec');
    const runc = [s.runc, '--root', s.t.state];
    try {
      const started = await runTool([...runc, 'run', '-d', '--bundle', b.bundle, id], 60000, true);
      assert.is(started.code, 0, started.stderr);
      const r = await runTool([...runc, 'exec', id, '/bin/sh', '-c', MKDIR_SCRIPT]);
      assert.is(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /File: \/dev\/shm\/foo-bar/);
      await s.agent.waitFor(new RegExp(`container ${id} exec \\(pid \\d+\\): serving policies=runc-sample-agent`));
    } finally {
      await runTool([...runc, 'delete', '-f', id]);
      await removeContainerCgroups(id);
    }
  });
}

for (const nnp of [false, true]) {
  test(`runc run (SCMP_ACT_NOTIFY important syscalls noNewPrivileges ${nnp}): /bin/true exits 0`, async () => {
    const s = await agentFor('important syscalls'); if (!s) return;
    const b = runcBundle(s.t, { script: '/bin/true', noNewPrivileges: nnp, seccomp: notifyProfile(s.t.socket, ['execve', 'openat', 'open', 'read', 'close', 'fcntl']) });
    const r = await runContainer(s.runc, s.t.state, b.bundle, containerId('important'));
    assert.is(r.code, 0, r.stdout + r.stderr);
  });
}

test('runc run (SCMP_ACT_NOTIFY error chmod): chmod, fchmod, fchmodat fail with ENOMEDIUM ("No medium found")', async () => {
  const s = await agentFor('chmod'); if (!s) return;
  const script = [
    'touch /dev/shm/foo && chmod 777 /dev/shm/foo; echo chmod-status=$?',
    'runc-agent-probe chmod /dev/shm/foo 600', 'runc-agent-probe fchmod /dev/shm/foo 600',
    'runc-agent-probe fchmodat /dev/shm/foo 600', 'runc-agent-probe --i386 chmod /dev/shm/foo 600',
    'stat -c mode=%a /dev/shm/foo',
  ].join('\n');
  const b = runcBundle(s.t, { script, seccomp: notifyProfile(s.t.socket, ['chmod', 'fchmod', 'fchmodat']) });
  const r = await runContainer(s.runc, s.t.state, b.bundle, containerId('chmod'));
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stderr, /chmod:.*\/dev\/shm\/foo.*No medium found/);
  assert.match(r.stdout, /^chmod-status=1$/m);
  assert.is(r.stdout.split('\n').filter((l) => l === 'ret=-1 errno=ENOMEDIUM').length, 4, r.stdout);
  assert.match(r.stdout, /^mode=644$/m); // touch's 0666 less the umask, untouched
});

test('runc run (SCMP_ACT_NOTIFY example config): gen-seccomp-example-cfg.sh\'s container, metadata "foo", relative paths', async () => {
  const s = await agentFor('example config'); if (!s) return;
  const script = 'set -x; cd /dev/shm; mkdir test-dir; touch test-file; chmod 777 test-file; stat /dev/shm/test-dir-foo && ls -l /dev/shm && echo "Note the agent added a suffix for the directory name and chmod fails"';
  const b = runcBundle(s.t, { script, seccomp: notifyProfile(s.t.socket, ['chmod', 'fchmod', 'fchmodat', 'mkdir'], 'foo') });
  const r = await runContainer(s.runc, s.t.state, b.bundle, containerId('example'));
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /chmod:.*test-file.*No medium found/);
  assert.match(r.stdout, /File: \/dev\/shm\/test-dir-foo/);
  assert.match(r.stdout, /Note the agent added a suffix/);
});

test('runc run (SCMP_ACT_NOTIFY startContainer hook): the hook gets no extra file descriptor', async () => {
  const s = await agentFor('startContainer hook'); if (!s) return;
  const hooks = {
    startContainer: [{
      path: '/bin/sh',
      args: ['sh', '-c', 'if [ $(ls /proc/self/fd/ | wc -l) -ne 4 ]; then echo "File descriptors is not 4". && ls -l /proc/self/fd/ && exit 1; fi'],
    }],
  };
  const seccomp = notifyProfile(s.t.socket, ['mkdir'], null); // the bats file's hook profile has no listenerMetadata
  const b = runcBundle(s.t, { script: '/bin/true', seccomp, hooks });
  const r = await runContainer(s.runc, s.t.state, b.bundle, containerId('hook'));
  assert.is(r.code, 0, r.stdout + r.stderr);
});

test('listenerMetadata reduced as the sample reduces it: Base, "/" -> agent-generated-suffix, none -> "."', async () => {
  const s = await agentFor('metadata'); if (!s) return;
  const cases: [string | null, string][] = [
    ['/', 'agent-generated-suffix'], ['///', 'agent-generated-suffix'], ['team/web', 'web'], ['../../etc/', 'etc'],
    [null, '.'], ['', '.'], ['policies-like text; with spaces', 'policies-like text; with spaces'],
  ];
  const bundles = cases.map(([metadata, suffix]) => runcBundle(s.t, {
    script: `mkdir /dev/shm/foo && stat -c 'made=%n' '/dev/shm/foo-${suffix}' && [ ! -e /dev/shm/foo ]`,
    seccomp: notifyProfile(s.t.socket, ['mkdir'], metadata),
  }));
  const results = await Promise.all(bundles.map((b) => runContainer(s.runc, s.t.state, b.bundle, containerId('metadata'))));
  results.forEach((r, i) => {
    assert.is(r.code, 0, `metadata ${JSON.stringify(cases[i]![0])}: ${r.stdout}${r.stderr}`);
    assert.is(r.stdout, `made=/dev/shm/foo-${cases[i]![1]}\n`);
  });
});

/** Owner, group and mode (type and setgid included) of each of `names` under `dir`, as the host sees them. */
function ownership(dir: string, names: string[]): string[] {
  return names.map((n) => { const st = statSync(join(dir, n)); return `${n} ${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)} ${st.isDirectory() ? 'dir' : 'other'}`; });
}

test('the directory is the caller\'s own: owner, group, mode after umask, setgid parent — as without the agent', async () => {
  const s = await agentFor('ownership'); if (!s) return;
  // Two containers per caller, one served by the agent (mkdir D makes D-bar) and one without it
  // (mkdir D-bar itself); the host compares what each made. /tmp/sg is setgid, group 1234.
  const callers: { name: string; user?: RuncBundle['user'] }[] = [
    { name: 'root' }, { name: 'user', user: { uid: 1000, gid: 1000, additionalGids: [1234] } },
  ];
  const made = ['tmp/plain-bar', 'tmp/sg/inherits-bar'];
  for (const caller of callers) {
    const pair = [true, false].map((served) => {
      const b = runcBundle(s.t, {
        script: served ? 'umask 027; mkdir /tmp/plain && mkdir /tmp/sg/inherits' : 'umask 027; mkdir /tmp/plain-bar && mkdir /tmp/sg/inherits-bar',
        seccomp: served ? notifyProfile(s.t.socket, ['mkdir']) : undefined, user: caller.user,
      });
      mkdirSync(join(b.rootfs, 'tmp', 'sg'));
      chownSync(join(b.rootfs, 'tmp', 'sg'), HOST_ID, HOST_ID + 1234);
      chmodSync(join(b.rootfs, 'tmp', 'sg'), 0o2777);
      return b;
    });
    const [served, native] = await Promise.all(pair.map((b, i) => runContainer(s.runc, s.t.state, b.bundle, containerId(`owner-${caller.name}-${i}`))));
    assert.is(served!.code, 0, served!.stdout + served!.stderr);
    assert.is(native!.code, 0, native!.stdout + native!.stderr);
    const got = ownership(pair[0]!.rootfs, made), want = ownership(pair[1]!.rootfs, made);
    assert.equal(got, want, caller.name);
    const uid = HOST_ID + (caller.user?.uid ?? 0), gid = HOST_ID + (caller.user?.gid ?? 0);
    assert.equal(got, [`tmp/plain-bar ${uid}:${gid} 750 dir`, `tmp/sg/inherits-bar ${uid}:${HOST_ID + 1234} 2750 dir`], caller.name);
    assert.not.ok(existsSync(join(pair[0]!.rootfs, 'tmp', 'plain')));
  }
});

test('without a user namespace (runc spec\'s config): the container\'s root makes the directory, as runc\'s users run it', async () => {
  const s = await agentFor('host users'); if (!s) return;
  // Also: a relative path from the cwd, `..` included (the sample's securejoin stopped `..` at the cwd);
  // an absolute symlink (/esc -> /etc) resolved inside the container's root, never the host's.
  const leak = `wasmsup-runc-sample-${process.pid}`;
  const script = `umask 022; mkdir /tmp/d && runc-agent-probe --i386 mkdir /tmp/e 700 && cd /tmp/d-bar && mkdir ../up && mkdir /esc/${leak}`;
  const b = runcBundle(s.t, { script, hostUsers: true, seccomp: notifyProfile(s.t.socket, ['mkdir']) });
  const r = await runContainer(s.runc, s.t.state, b.bundle, containerId('host-users'));
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^ret=0 errno=0$/m);
  assert.equal(ownership(b.rootfs, ['tmp/d-bar', 'tmp/e-bar', 'tmp/up-bar', `etc/${leak}-bar`]),
    ['tmp/d-bar 0:0 755 dir', 'tmp/e-bar 0:0 700 dir', 'tmp/up-bar 0:0 755 dir', `etc/${leak}-bar 0:0 755 dir`]);
  assert.not.ok(existsSync(`/etc/${leak}-bar`));
});

test('errors are the kernel\'s for the caller: EEXIST, ENOENT, ENAMETOOLONG, EFAULT never become ENOSYS', async () => {
  const s = await agentFor('errors'); if (!s) return;
  const long = 'x'.repeat(255);
  const script = [
    'runc-agent-probe mkdir /tmp/twice 755', 'runc-agent-probe mkdir /tmp/twice 755',
    'runc-agent-probe mkdir /tmp/missing/d 755',
    `runc-agent-probe mkdir /tmp/${long} 755`, // its name plus "-bar" is over NAME_MAX
  ].join('\n');
  const b = runcBundle(s.t, { script, seccomp: notifyProfile(s.t.socket, ['mkdir']) });
  const r = await runContainer(s.runc, s.t.state, b.bundle, containerId('errors'));
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.is(r.stdout, 'ret=0 errno=0\nret=-1 errno=EEXIST\nret=-1 errno=ENOENT\nret=-1 errno=ENAMETOOLONG\n');
});

test('runc run (SCMP_ACT_NOTIFY kill seccompagent): calls routed to a dead agent fail with ENOSYS, nothing hangs', async () => {
  if (!privileged('runc sample agent: kill', ociGap())) return;
  const t = agentSetup('wasmsup-runc-sample-', []);
  const agent = new AgentProcess(['--socket', t.socket, '--policies', t.policies]);
  try {
    await buildPolicyInto(t);
    await agent.ready();
    const b = runcBundle(t, {
      script: 'touch /tmp/started; while [ ! -e /tmp/go ]; do sleep 0.05; done; mkdir /dev/shm/foo',
      seccomp: notifyProfile(t.socket, ['mkdir']),
    });
    const id = containerId('kill');
    const running = runContainer(findTool('runc')!, t.state, b.bundle, id);
    await agent.waitFor(new RegExp(`container ${id} \\(pid \\d+\\): serving`));
    await eventually(() => existsSync(join(b.rootfs, 'tmp', 'started')), 'the container started');
    const exited = new Promise((r) => agent.child.on('exit', r));
    killPid(agent.child.pid, 'SIGKILL');
    await exited;
    writeFileSync(join(b.rootfs, 'tmp', 'go'), '');
    const r = await running;
    assert.is.not(r.code, 0);
    assert.match(r.stderr, /mkdir:.*\/dev\/shm\/foo.*Function not implemented/);
  } finally {
    killPid(agent.child.pid);
    t.tmp.cleanup();
  }
});

test('runc run (SCMP_ACT_NOTIFY no seccompagent): runc says it failed to connect', async () => {
  if (!privileged('runc sample agent: none', ociGap())) return;
  const t = agentSetup('wasmsup-runc-sample-', []);
  try {
    const b = runcBundle(t, { script: '/bin/true', seccomp: notifyProfile(t.socket, ['mkdir']) });
    const r = await runContainer(findTool('runc')!, t.state, b.bundle, containerId('none'));
    assert.is.not(r.code, 0);
    assert.match(r.stderr, /failed to connect with seccomp agent/);
  } finally {
    t.tmp.cleanup();
  }
});

test.run();
