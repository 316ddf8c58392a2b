// examples/kubernetes/ checked as far as a machine without a cluster allows: the manifests' fields that
// make the agent work on a node (parsed, not pattern-matched), the Localhost profile exactly what
// `wasmsup oci-config` prints for the policies the DaemonSet is told to serve (so it cannot go stale),
// and the DaemonSet's own agent and reloader commands run here against a policy directory laid out
// as kubelet lays out a ConfigMap volume, serving a runc container started with that profile.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, copyFileSync, symlinkSync, renameSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT, WASMSUP, POLICY, tempDir } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { findTool, makeBundle, ociGap, runContainer, killPid, eventually } from '../support/oci.js';

const DIR = join(ROOT, 'examples', 'kubernetes');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = any;

function load(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(join(DIR, file), 'utf8'));
  for (const d of docs) assert.is(d.errors.length, 0, `${file}: ${d.errors.join('; ')}`);
  return docs.map((d) => d.toJS());
}

const daemonSet = () => load('daemonset.yaml').find((d) => d.kind === 'DaemonSet');
const container = (spec: Obj, name: string) => spec.containers.find((c: Obj) => c.name === name);
const volume = (spec: Obj, name: string) => spec.volumes.find((v: Obj) => v.name === name);
const mountOf = (c: Obj, name: string) => c.volumeMounts.find((m: Obj) => m.name === name);
const profileText = () => readFileSync(join(DIR, 'wasmsup-profile.json'), 'utf8');

/** The policies the DaemonSet's instructions put in its ConfigMap (`--from-file=build/policies/NAME.wasm`). */
function configMapPolicies(): string[] {
  const text = readFileSync(join(DIR, 'daemonset.yaml'), 'utf8');
  return [...text.matchAll(/--from-file=build\/policies\/([\w-]+)\.wasm/g)].map((m) => m[1]!);
}

test('daemonset.yaml: host pid namespace, privileged root agent, socket directory shared with the node at the profile\'s listenerPath', () => {
  const ds = daemonSet();
  assert.ok(ds, 'a DaemonSet');
  assert.is(ds.apiVersion, 'apps/v1');
  assert.is(ds.spec.updateStrategy.type, 'OnDelete', 'a rolling update would drop every running container\'s listener');
  const spec = ds.spec.template.spec;
  assert.equal(ds.spec.selector.matchLabels, ds.spec.template.metadata.labels);
  assert.is(spec.hostPID, true, 'the runtime sends host pids');
  assert.is(spec.shareProcessNamespace, undefined, 'not allowed with hostPID');

  const agent = container(spec, 'agent');
  assert.is(agent.securityContext.privileged, true);
  assert.is(agent.securityContext.runAsUser, 0);
  const cmd: string[] = agent.command;
  assert.equal(cmd.slice(0, 2), ['sh', '-c']);
  assert.match(cmd[2]!, /exec \/opt\/wasmsup\/bin\/wasmsup agent /);

  const listenerPath: string = JSON.parse(profileText()).listenerPath;
  const socketArg = /--socket (\S+)/.exec(cmd[2]!)![1]!;
  assert.is(socketArg, listenerPath, 'the agent listens where the profile sends runc');
  const sock = mountOf(agent, 'socket-dir');
  const hostDir = volume(spec, 'socket-dir').hostPath;
  assert.is(sock.mountPath, hostDir.path, 'the same path inside and on the node');
  assert.is(join(hostDir.path, 'agent.sock'), listenerPath);
  assert.is(hostDir.type, 'DirectoryOrCreate');

  const policiesDir = /--policies (\S+)/.exec(cmd[2]!)![1]!;
  assert.is(mountOf(agent, 'policies').mountPath, policiesDir);
  assert.is(volume(spec, 'policies').configMap.name, 'wasmsup-policies');

  // The reloader watches the same ConfigMap volume and reads the pid file the agent's command writes.
  const reloader = container(spec, 'reloader');
  assert.is(mountOf(reloader, 'policies').mountPath, policiesDir);
  const pidFile = /echo \$\$ > (\S+)/.exec(cmd[2]!)![1]!;
  assert.ok(pidFile.startsWith(mountOf(reloader, 'pod-run').mountPath + '/'));
  assert.ok(pidFile.startsWith(mountOf(agent, 'pod-run').mountPath + '/'));
  assert.match(reloader.command[2], /kill -HUP "\$pid"/);
  assert.equal(reloader.securityContext.capabilities.drop, ['ALL']);

  // The profile lands where kubelet reads Localhost profiles.
  const install = spec.initContainers.find((c: Obj) => c.name === 'install-profile');
  assert.is(volume(spec, 'kubelet-seccomp').hostPath.path, '/var/lib/kubelet/seccomp');
  const [pod] = load('pod.yaml');
  const wanted = pod.spec.containers[0].securityContext.seccompProfile.localhostProfile;
  assert.ok(install.command[2].includes(`mv ${mountOf(install, 'kubelet-seccomp').mountPath}/${wanted}.new ${mountOf(install, 'kubelet-seccomp').mountPath}/${wanted}`),
    'the init container installs the file the pod names, under kubelet\'s seccomp root');
  assert.is(volume(spec, 'profile').configMap.name, 'wasmsup-profile');
});

test('pod.yaml: Localhost profile by kubelet\'s relative path, a user namespace, CAP_MKNOD, a policy selection', () => {
  const [pod] = load('pod.yaml');
  assert.is(pod.kind, 'Pod');
  assert.is(pod.spec.hostUsers, false, 'the policies serve the root of the workload\'s own user namespace');
  assert.is(pod.metadata.annotations['io.wasmsup.policies'], 'mknod');
  const c = pod.spec.containers[0];
  assert.equal(c.securityContext.seccompProfile, { type: 'Localhost', localhostProfile: 'wasmsup-profile.json' });
  assert.ok(c.securityContext.capabilities.add.includes('MKNOD'));
  assert.ok(pod.spec.securityContext?.seccompProfile === undefined, 'not pod-level: the sandbox (pause) container needs no agent');
});

test('wasmsup-profile.json is exactly what `wasmsup oci-config` prints for the DaemonSet\'s policies', () => {
  const names = configMapPolicies();
  assert.equal(names, ['mknod', 'setxattr', 'sysinfo']);
  const t = tempDir('wasmsup-k8s-profile-');
  try {
    for (const n of names) copyFileSync(POLICY(n), join(t.path, `${n}.wasm`));
    const listenerPath = JSON.parse(profileText()).listenerPath;
    const printed = execFileSync(WASMSUP, ['oci-config', '--policies', t.path, '--socket', listenerPath], { cwd: ROOT, encoding: 'utf8' });
    assert.is(profileText(), printed, 'regenerate: wasmsup oci-config --policies DIR --socket /run/wasmsup/agent.sock > examples/kubernetes/wasmsup-profile.json');
    const p = JSON.parse(printed);
    // kubelet hands a Localhost profile to the runtime as the OCI linux.seccomp object.
    assert.is(p.defaultAction, 'SCMP_ACT_ALLOW');
    assert.ok(p.syscalls.every((s: Obj) => s.action === 'SCMP_ACT_NOTIFY'));
  } finally {
    t.cleanup();
  }
});

/** The state kubelet's atomic writer leaves in a ConfigMap volume: NAME -> ..data/NAME, ..data -> ..TIMESTAMP. */
function configMapVolume(dir: string, version: string, names: string[]): void {
  const data = join(dir, `..${version}`);
  mkdirSync(data);
  for (const n of names) copyFileSync(POLICY(n), join(data, `${n}.wasm`));
  symlinkSync(`..${version}`, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const n of names) if (!existsSync(join(dir, `${n}.wasm`))) symlinkSync(`..data/${n}.wasm`, join(dir, `${n}.wasm`));
  for (const f of readdirSync(dir)) if (!f.startsWith('..') && !names.includes(f.replace(/\.wasm$/, ''))) rmSync(join(dir, f));
}

function shell(script: string, onStderr: (s: string) => void): ChildProcess {
  const child = spawn('sh', ['-c', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => onStderr(String(d)));
  child.stderr!.on('data', (d) => onStderr(String(d)));
  return child;
}

test('runc: the DaemonSet\'s agent and reloader commands, a ConfigMap-style policy volume, a container under the profile', async () => {
  if (!privileged('kubernetes example under runc', ociGap())) return;
  const t = tempDir('wasmsup-k8s-');
  execFileSync('chmod', ['755', t.path]); // the container's root (host uid 100000) must reach its rootfs
  const policies = join(t.path, 'policies');
  const podRun = join(t.path, 'pod-run');
  const socket = join(t.path, 'agent.sock');
  mkdirSync(policies);
  mkdirSync(podRun);
  configMapVolume(policies, '2026_01_01_00_00_00.1', configMapPolicies());
  const spec = daemonSet().spec.template.spec;
  const paths = (s: string) => s.replaceAll('/etc/wasmsup/policies', policies).replaceAll('/run/wasmsup-pod', podRun)
    .replaceAll('/run/wasmsup/agent.sock', socket).replaceAll('/opt/wasmsup/bin/wasmsup', WASMSUP);
  let log = '';
  const agent = shell(paths(container(spec, 'agent').command[2]), (s) => { log += s; });
  const reloader = shell(paths(container(spec, 'reloader').command[2]).replace('sleep 10', 'sleep 0.2'), (s) => { log += s; });
  try {
    await eventually(() => /agent serving on/.test(log), 'agent ready', 30000).catch((e) => { throw new Error(`${e.message}; log:\n${log}`); });
    assert.is(readFileSync(join(podRun, 'agent.pid'), 'utf8').trim(), String(agent.pid), 'the pid file names the agent itself');

    const [pod] = load('pod.yaml');
    const seccomp = { ...JSON.parse(profileText()), listenerPath: socket };
    const { bundle } = makeBundle(join(t.path, 'bundle'), {
      args: pod.spec.containers[0].command,
      seccomp, annotations: { 'io.wasmsup.policies': pod.metadata.annotations['io.wasmsup.policies'] },
    });
    const r = await runContainer(findTool('runc')!, join(t.path, 'runc-state'), bundle, `k8s-${process.pid}`);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /^crw\S* +1 0 +0 +1, +3 .*\/tmp\/null$/m);
    assert.match(r.stdout, /sda refused, as it should be/);
    assert.match(log, /container k8s-\d+ \(pid \d+\): serving policies=mknod/);

    // kubelet swaps ..data when the ConfigMap changes; the reloader sends SIGHUP, the agent rescans.
    configMapVolume(policies, '2026_01_01_00_01_00.2', configMapPolicies().filter((n) => n !== 'sysinfo'));
    await eventually(() => /SIGHUP to agent \d+/.test(log) && /reload 1: removed sysinfo\.wasm; policies: mknod \(mknod\.wasm\), setxattr \(setxattr\.wasm\)$/m.test(log), 'a reload')
      .catch((e) => { throw new Error(`${e.message}; log:\n${log}`); });
  } finally {
    killPid(reloader.pid);
    killPid(agent.pid);
    t.cleanup();
  }
});

test.run();
