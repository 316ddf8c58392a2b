// open-proxy opens what the operator configured, in the host's own view: nothing the workload does to
// its own mount namespace (a tmpfs over /etc, a symlink at the view path or in its parent, a bind
// mount onto it) changes which file the host opens; and the fd the workload gets can only read.
//
// The attacker is root of its user namespace (`--userns`), which can mount in a mount namespace of
// its own (`unshare -m`) but cannot read the host root's 0600 files. It uses the shipped policy as
// shipped: /etc/wasmsup/view.conf is a view. Before the fix the host resolved that name in the
// caller's root and mount namespace, with the supervisor's credentials, and handed back the secret.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runWasmsup, tempDir, POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { NS_ROOT, syscallProbe } from '../support/syscall-probe.js';
import { configureOpenProxy } from '../support/open-proxy.js';
import { AgentProcess, findTool, killPid, makeBundle, ociConfig, ociGap, runContainer } from '../support/oci.js';

const O_RDWR = 2, O_WRONLY = 1;
const HOST_VIEW = '/etc/wasmsup/view.conf';

/** Host files the namespace's root cannot read (host root, 0600), and a staging mount point it owns. */
function layout() {
  const t = tempDir('wasmsup-sec-open-');
  chmodSync(t.path, 0o755);
  writeFileSync(join(t.path, 'secret'), 'SECRET shadow\n', { mode: 0o600 });
  mkdirSync(join(t.path, 'secretdir'), { mode: 0o755 });
  writeFileSync(join(t.path, 'secretdir', 'view.conf'), 'SECRET in a directory\n', { mode: 0o600 });
  mkdirSync(join(t.path, 'stage'));
  chownSync(join(t.path, 'stage'), NS_ROOT, NS_ROOT);
  return t;
}

/** Runs SETUP (sh, in a mount namespace of the workload's own) then the probe's open of the view. */
async function attack(setup: string, policy = POLICY('open-proxy'), probeArgs = `open ${HOST_VIEW} 0`) {
  const script = `set -e; ${setup}; exec ${syscallProbe()} ${probeArgs}`;
  const r = await runWasmsup(['run', '--userns', '--policy', policy, '--', 'unshare', '-m', 'sh', '-c', script]);
  assert.is(r.code, 0, r.stderr + r.stdout);
  return r.stdout.trim();
}

/** What the view must give: the host's own /etc/wasmsup/view.conf, whatever the workload mounted. */
function hostAnswer(): string {
  if (!existsSync(HOST_VIEW)) return 'ret=-1 errno=ENOENT';
  return `ret=3 errno=0 cloexec=0 data=${readFileSync(HOST_VIEW, 'utf8').split('\n')[0]}`;
}

test('a tmpfs over /etc in the workload\'s mount namespace, the view path a symlink to a 0600 file', async () => {
  if (!privileged('open-proxy tmpfs + symlink')) return;
  const t = layout();
  try {
    const stage = join(t.path, 'stage');
    // Without the proxy the secret is out of reach: EACCES.
    const direct = await attack('true', POLICY('open-proxy'), `open ${join(t.path, 'secret')} 0`);
    assert.is(direct, 'ret=-1 errno=EACCES');
    const out = await attack(`mount -t tmpfs none ${stage}; mkdir ${stage}/wasmsup; ` +
      `ln -s ${join(t.path, 'secret')} ${stage}/wasmsup/view.conf; mount --bind ${stage} /etc`);
    assert.not.match(out, /SECRET/);
    assert.is(out, hostAnswer());
  } finally { t.cleanup(); }
});

test('a bind mount of a 0600 file onto the view path', async () => {
  if (!privileged('open-proxy bind mount')) return;
  const t = layout();
  try {
    const stage = join(t.path, 'stage');
    const out = await attack(`mount -t tmpfs none ${stage}; mkdir ${stage}/wasmsup; : > ${stage}/wasmsup/view.conf; ` +
      `mount --bind ${join(t.path, 'secret')} ${stage}/wasmsup/view.conf; mount --rbind ${stage} /etc`);
    assert.not.match(out, /SECRET/);
    assert.is(out, hostAnswer());
  } finally { t.cleanup(); }
});

test('a symlinked parent directory: /etc/wasmsup -> a directory holding a 0600 view.conf', async () => {
  if (!privileged('open-proxy symlinked parent')) return;
  const t = layout();
  try {
    const stage = join(t.path, 'stage');
    const out = await attack(`mount -t tmpfs none ${stage}; ln -s ${join(t.path, 'secretdir')} ${stage}/wasmsup; ` +
      `mount --bind ${stage} /etc`);
    assert.not.match(out, /SECRET/);
    assert.is(out, hostAnswer());
  } finally { t.cleanup(); }
});

test('the injected fd only reads: reopening it through /proc/self/fd for writing fails, the file is unchanged', async () => {
  if (!privileged('open-proxy reopen')) return;
  const t = layout();
  try {
    // The configured source: a host file the workload cannot reach by name (its directory is the
    // host root's 0700) but whose mode would let anyone write it once reached.
    const conf = join(t.path, 'conf');
    mkdirSync(conf, { mode: 0o700 });
    const source = join(conf, 'view.conf');
    writeFileSync(source, 'the view\n');
    chmodSync(source, 0o666);
    const policy = configureOpenProxy(t.path, [source], []);
    const run = async (args: string) => {
      const r = await runWasmsup(['run', '--userns', ...policy, '--', syscallProbe(), ...args.split(' ')]);
      assert.is(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    assert.is(await run(`open ${source} 0`), 'ret=3 errno=0 cloexec=0 data=the view');
    assert.is(await run(`reopen ${source} ${O_RDWR}`), 'ret=-1 errno=EROFS');
    assert.is(await run(`reopen ${source} ${O_WRONLY}`), 'ret=-1 errno=EROFS');
    assert.is(await run(`reopen ${source} 0`), 'ret=4 errno=0');
    assert.is(readFileSync(source, 'utf8'), 'the view\n');
  } finally { t.cleanup(); }
});

test('runc: the view path a symlink to a 0600 file on a host bind mount (the agent serving the container)', async () => {
  if (!privileged('open-proxy runc', ociGap())) return;
  const t = tempDir('wasmsup-sec-open-oci-');
  chmodSync(t.path, 0o755);
  const policies = join(t.path, 'policies');
  mkdirSync(policies);
  copyFileSync(POLICY('open-proxy'), join(policies, 'open-proxy.wasm'));
  const socket = join(t.path, 'agent.sock');
  const volume = join(t.path, 'volume'); // a host directory the container gets as a bind mount
  mkdirSync(volume, { mode: 0o755 });
  writeFileSync(join(volume, 'secret'), 'SECRET on the volume\n', { mode: 0o600 });
  const agent = new AgentProcess(['--socket', socket, '--policies', policies]);
  try {
    await agent.ready();
    const bundleDir = join(t.path, 'bundle');
    mkdirSync(bundleDir);
    const script = 'syscall-probe open /data/secret 0; mkdir -p /etc/wasmsup; ' +
      'ln -s /data/secret /etc/wasmsup/view.conf; syscall-probe open /etc/wasmsup/view.conf 0';
    const { bundle } = makeBundle(bundleDir, { args: ['sh', '-c', script], seccomp: ociConfig(policies, socket), binaries: [syscallProbe()] });
    const configPath = join(bundle, 'config.json');
    const config = JSON.parse(readFileSync(configPath, 'utf8'));
    config.mounts.push({ destination: '/data', type: 'bind', source: volume, options: ['rbind', 'ro'] });
    writeFileSync(configPath, JSON.stringify(config, null, 1));
    const r = await runContainer(findTool('runc')!, join(t.path, 'runc-state'), bundle, `wasmsup-sec-open-${process.pid}`);
    assert.is(r.code, 0, r.stderr);
    const [direct, view] = r.stdout.trim().split('\n');
    assert.is(direct, 'ret=-1 errno=EACCES'); // the container's root cannot read it itself
    assert.not.match(view!, /SECRET/);
    assert.is(view, hostAnswer());
  } finally {
    killPid(agent.child.pid);
    t.cleanup();
  }
});

test.run();
