// containerd as a node runs it: its own containerd (no systemd here: started by the test with its own
// root, state and socket, stopped by pid), an image imported from an OCI layout built from a busybox
// rootfs (nothing pulled), and `ctr run --seccomp --seccomp-profile` with the profile `wasmsup
// oci-config` prints, through the runc shim (io.containerd.runc.v2), the container root of a user
// namespace (--uidmap/--gidmap), its policies chosen by an OCI annotation (`ctr run --annotation`). The
// container's first process and a `ctr task exec`'d one are served.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mknodProbe, ROOT } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { agentSetup, eventually, withAgent, HOST_ID, ID_RANGE, findTool, killPid, makeBundle, ociConfig, ociGap, runTool, type AgentSetup } from '../support/oci.js';

function gap(): string | null {
  return ociGap() ?? (['containerd', 'ctr', 'containerd-shim-runc-v2'].every((t) => findTool(t)) ? null : 'needs containerd and ctr (apt-get install containerd)');
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * An OCI image layout tarball (oci-layout, index.json, blobs) of one layer: `rootfs` as the image's root
 * owns it (ctr remaps it for --uidmap). The index names the image with io.containerd.image.name.
 */
async function ociImage(rootfs: string, dir: string, name: string): Promise<string> {
  const layout = join(dir, 'layout'), blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const layerTar = join(dir, 'layer.tar');
  const made = await runTool(['tar', '--owner=0', '--group=0', '--numeric-owner', '-C', rootfs, '-cf', layerTar, '.']);
  assert.is(made.code, 0, made.stderr);
  const blob = (data: Buffer) => { const d = sha256(data); writeFileSync(join(blobs, d), data); return { digest: `sha256:${d}`, size: data.length }; };
  const layer = blob(readFileSync(layerTar));
  const platform = { architecture: process.arch === 'x64' ? 'amd64' : process.arch, os: 'linux' };
  const config = blob(Buffer.from(JSON.stringify({
    ...platform, config: { Env: ['PATH=/bin'], Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [layer.digest] },
  })));
  const manifest = blob(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
  })));
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, platform,
      annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': name.split(':').pop() },
    }],
  }));
  const tar = join(dir, 'image.tar');
  const packed = await runTool(['tar', '-C', layout, '-cf', tar, '.']);
  assert.is(packed.code, 0, packed.stderr);
  return tar;
}

/** A containerd of the test's own: root, state, socket in `dir`, no CRI plugin; stopped by pid. */
class Containerd {
  readonly socket: string;
  readonly runcRoot: string;
  readonly child: ChildProcess;
  readonly namespace = `wasmsup-test-${process.pid}`;
  log = '';

  constructor(readonly dir: string) {
    this.socket = join(dir, 'containerd.sock');
    this.runcRoot = join(dir, 'runc');
    const config = join(dir, 'config.toml');
    writeFileSync(config, [
      'version = 2',
      `root = ${JSON.stringify(join(dir, 'root'))}`,
      `state = ${JSON.stringify(join(dir, 'state'))}`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]', `  address = ${JSON.stringify(this.socket)}`,
      '[ttrpc]', `  address = ${JSON.stringify(`${this.socket}.ttrpc`)}`,
      '[debug]', '  address = ""',
      '[metrics]', '  address = ""',
      '',
    ].join('\n'));
    this.child = spawn(findTool('containerd')!, ['--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr!.on('data', (d) => { this.log += d; });
  }

  async ready(): Promise<void> {
    await eventually(() => /containerd successfully booted/.test(this.log) || this.child.exitCode !== null, 'containerd booted');
    assert.is(this.child.exitCode, null, `containerd exited: ${this.log}`);
  }

  ctr(args: string[], timeoutMs = 60000) {
    return runTool([findTool('ctr')!, '--address', this.socket, '--namespace', this.namespace, ...args], timeoutMs);
  }

  /** Stops containerd (by pid) and any shim of this test's containerd left behind (by pid, found by its socket). */
  async stop(): Promise<void> {
    const exited = new Promise((r) => { if (this.child.exitCode !== null || this.child.signalCode !== null) r(null); else this.child.once('exit', r); });
    killPid(this.child.pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((r) => { timer = setTimeout(r, 10000); })]);
    clearTimeout(timer);
    killPid(this.child.pid);
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      let argv: string[];
      try { argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'); } catch { continue; }
      const address = argv.indexOf('-address');
      if (argv[0]!.endsWith('containerd-shim-runc-v2') && address > 0 && argv[address + 1] === this.socket) killPid(Number(pid));
    }
  }
}

const CONTAINER_PREFIX = `wasmsup-ctr-${process.pid}-`;

// The first process: an allowed device (created by the policy, owned by the container's root), a
// refused one (EPERM), then waits for the test.
const INIT_SCRIPT = [
  'mknod /tmp/n c 1 3; echo $? > /tmp/n.rc',
  'mknod /tmp/sda b 8 0 2> /tmp/sda.err; echo $? > /tmp/sda.rc',
  'mknod-probe one /tmp/init-null > /tmp/init-probe',
  'while [ ! -e /tmp/stop ]; do sleep 0.05; done',
].join('\n');
const EXEC_SCRIPT = 'umask 022; mknod-probe one /tmp/exec-null; mknod /tmp/exec-sda b 8 0; echo sda=$?';

/** The task's pid (host pid namespace), from `ctr task ls`. */
async function taskPid(ctd: Containerd, id: string): Promise<number> {
  const ls = await ctd.ctr(['task', 'ls']);
  const m = new RegExp(`^${id}\\s+(\\d+)\\s+RUNNING`, 'm').exec(ls.stdout);
  assert.ok(m, `task ${id} not running: ${ls.stdout} ${ls.stderr}`);
  return Number(m![1]);
}

async function withContainerd(t: AgentSetup, body: (ctd: Containerd) => Promise<void>): Promise<void> {
  const dir = join(t.tmp.path, 'containerd');
  mkdirSync(dir);
  const hadRunContainerd = existsSync('/run/containerd');
  const ctd = new Containerd(dir);
  try {
    await ctd.ready();
    await body(ctd);
  } finally {
    // Whatever the body left (it failed half-way): its tasks, containers and their snapshots.
    if (ctd.child.exitCode === null) {
      const left = await ctd.ctr(['container', 'ls', '--quiet']);
      for (const id of left.stdout.split('\n').filter(Boolean)) await removeContainer(ctd, id);
    }
    await ctd.stop();
    for (const mount of readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '')
      .filter((m) => m.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length)) {
      await runTool(['umount', '--lazy', mount]);
    }
    if (existsSync('/run/containerd/fifo')) {
      for (const f of readdirSync('/run/containerd/fifo')) {
        const fifos = join('/run/containerd/fifo', f);
        if (readdirSync(fifos).every((n) => n.startsWith(CONTAINER_PREFIX))) rmSync(fifos, { recursive: true, force: true });
      }
    }
    // Whatever containerd's --root and --state: the shim's socket is in /run/containerd/s, ctr's fifos in
    // /run/containerd/fifo, the shim's `delete` makes /run/containerd/runc/NAMESPACE; the containers' cgroups
    // are NAMESPACE/ID in every hierarchy, and runc removes only ID.
    const gone = [`/run/containerd/runc/${ctd.namespace}`];
    if (!hadRunContainerd) gone.push('/run/containerd/runc', '/run/containerd/fifo', '/run/containerd/s', '/run/containerd');
    for (const hierarchy of ['', ...readdirSync('/sys/fs/cgroup').map((h) => `/${h}`)]) {
      const ns = `/sys/fs/cgroup${hierarchy}/${ctd.namespace}`;
      if (!existsSync(ns)) continue;
      for (const c of readdirSync(ns, { withFileTypes: true })) if (c.isDirectory()) gone.unshift(join(ns, c.name));
      gone.unshift(ns);
    }
    for (const d of gone.sort((a, b) => b.length - a.length)) { try { rmdirSync(d); } catch { /* not empty (someone else's) or gone */ } }
  }
}

/** Removes what `ctr run` made: the task (killed), the container with its snapshot, the image. */
async function removeContainer(ctd: Containerd, id: string, image?: string): Promise<void> {
  await ctd.ctr(['task', 'kill', '--signal', 'SIGKILL', id]);
  await eventually(async () => !/RUNNING/.test((await ctd.ctr(['task', 'ls'])).stdout), `task ${id} stopped`, 10000).catch(() => undefined);
  await ctd.ctr(['task', 'delete', '--force', id]);
  await ctd.ctr(['container', 'delete', id]);
  if (image) await ctd.ctr(['image', 'rm', image]);
}

test('containerd: ctr run --seccomp-profile (runc shim, user namespace) and ctr task exec are served by the agent', async () => {
  if (!privileged('containerd run and exec', gap())) return;
  await withAgent(agentSetup('wasmsup-oci-containerd-', ['mknod', 'sysinfo']), async (t, agent) => {
    await withContainerd(t, async (ctd) => {
      const { rootfs } = makeBundle(t.bundleDir(), { args: ['sh'], seccomp: null, binaries: [mknodProbe()] });
      const image = `localhost/wasmsup-test-${process.pid}:1`;
      const imported = await ctd.ctr(['image', 'import', await ociImage(rootfs, t.tmp.path, image)]);
      assert.is(imported.code, 0, `ctr image import: ${imported.stdout} ${imported.stderr}`);
      const profile = join(t.tmp.path, 'profile.json');
      writeFileSync(profile, JSON.stringify(ociConfig(t.policies, t.socket)));
      const id = `${CONTAINER_PREFIX}1`;
      try {
        const run = await ctd.ctr(['run', '-d', '--runc-root', ctd.runcRoot, '--seccomp', '--seccomp-profile', profile,
          '--uidmap', `0:${HOST_ID}:${ID_RANGE}`, '--gidmap', `0:${HOST_ID}:${ID_RANGE}`,
          '--annotation', 'io.wasmsup.policies=mknod', image, id, 'sh', '-c', INIT_SCRIPT]);
        assert.is(run.code, 0, `ctr run -d: ${run.stdout} ${run.stderr}\n${ctd.log}`);
        const pid = await taskPid(ctd, id);
        const root = `/proc/${pid}/root`;
        await eventually(() => existsSync(join(root, 'tmp', 'init-probe')) && readFileSync(join(root, 'tmp', 'init-probe'), 'utf8').includes('\n'), 'the first process\'s mknods');
        assert.match(agent.log, new RegExp(`container ${id} \\(pid ${pid}\\): serving policies=mknod\\n`));

        // The first process: created, owned by the container's root (host 100000); off the allowlist: EPERM.
        assert.is(readFileSync(join(root, 'tmp', 'n.rc'), 'utf8').trim(), '0', readFileSync(join(root, 'tmp', 'n.rc'), 'utf8'));
        const n = statSync(join(root, 'tmp', 'n'));
        assert.ok(n.isCharacterDevice());
        assert.is(n.rdev, 0x103);
        assert.equal([n.uid, n.gid], [HOST_ID, HOST_ID]);
        assert.is(readFileSync(join(root, 'tmp', 'sda.rc'), 'utf8').trim(), '1');
        assert.match(readFileSync(join(root, 'tmp', 'sda.err'), 'utf8'), /mknod: \/tmp\/sda: Operation not permitted/);
        assert.not.ok(existsSync(join(root, 'tmp', 'sda')));
        assert.match(readFileSync(join(root, 'tmp', 'init-probe'), 'utf8'), /^one ret=0 errno=0 type=chr rdev=1:3 mode=0\d+ uid=0 gid=0$/m);

        // A second process, `ctr task exec`: its own listener, served as the same container.
        const exec = await ctd.ctr(['task', 'exec', '--exec-id', 'e1', id, 'sh', '-c', EXEC_SCRIPT]);
        assert.is(exec.code, 0, `ctr task exec: ${exec.stdout} ${exec.stderr}`);
        assert.match(exec.stdout, /^one ret=0 errno=0 type=chr rdev=1:3 mode=0644 uid=0 gid=0$/m);
        assert.match(exec.stdout, /^sda=1$/m);
        assert.match(exec.stderr, /mknod: \/tmp\/exec-sda: Operation not permitted/);
        const e = statSync(join(root, 'tmp', 'exec-null'));
        assert.ok(e.isCharacterDevice());
        assert.equal([e.uid, e.gid], [HOST_ID, HOST_ID]);
        assert.match(agent.log, new RegExp(`container ${id} exec \\(pid \\d+\\): serving policies=mknod\\n`));
        await agent.waitFor(new RegExp(`container ${id} exec \\(pid \\d+\\): released`));
        assert.not.match(agent.log, /dropped/);

        writeFileSync(join(root, 'tmp', 'stop'), '');
        await agent.waitFor(new RegExp(`container ${id}: released`));
      } finally {
        await removeContainer(ctd, id);
      }

      // The Localhost profile of examples/kubernetes (what a pod gets through CRI, which loads it as ctr
      // does), pointed at this test's agent: it loads, and the container is served. (Skipped in a tree
      // without examples/kubernetes.)
      const k8sProfile = join(ROOT, 'examples', 'kubernetes', 'wasmsup-profile.json');
      if (existsSync(k8sProfile)) {
        const loaded = join(t.tmp.path, 'k8s-profile.json');
        writeFileSync(loaded, JSON.stringify({ ...JSON.parse(readFileSync(k8sProfile, 'utf8')), listenerPath: t.socket }));
        try {
          const k8s = await ctd.ctr(['run', '--rm', '--runc-root', ctd.runcRoot, '--seccomp', '--seccomp-profile', loaded,
            '--uidmap', `0:${HOST_ID}:${ID_RANGE}`, '--gidmap', `0:${HOST_ID}:${ID_RANGE}`, '--annotation', 'io.wasmsup.policies=mknod',
            image, `${id}-k8s`, 'sh', '-c', 'mknod /tmp/k c 1 3 && stat -c "%F %t:%T %u" /tmp/k']);
          assert.is(k8s.code, 0, `ctr run with ${k8sProfile}: ${k8s.stdout} ${k8s.stderr}`);
          assert.match(k8s.stdout, /^character special file 1:3 0$/m);
          assert.match(agent.log, new RegExp(`container ${id}-k8s \\(pid \\d+\\): serving policies=mknod\\n`));
        } finally {
          await removeContainer(ctd, `${id}-k8s`);
        }
      }

      // No agent on the profile's listenerPath: runc cannot hand the listener over, the task does not start.
      const deadProfile = join(t.tmp.path, 'dead-profile.json');
      writeFileSync(deadProfile, JSON.stringify(ociConfig(t.policies, join(t.tmp.path, 'nobody.sock'))));
      try {
        const dead = await ctd.ctr(['run', '-d', '--runc-root', ctd.runcRoot, '--seccomp', '--seccomp-profile', deadProfile,
          '--uidmap', `0:${HOST_ID}:${ID_RANGE}`, '--gidmap', `0:${HOST_ID}:${ID_RANGE}`, image, `${id}-dead`, 'true']);
        assert.is.not(dead.code, 0, dead.stdout);
        assert.match(dead.stderr, /nobody\.sock: connect: no such file or directory/);
      } finally {
        await removeContainer(ctd, `${id}-dead`);
        await ctd.ctr(['image', 'rm', image]);
      }
      const left = await ctd.ctr(['snapshot', 'ls']);
      assert.not.match(left.stdout, new RegExp(id), left.stdout);
    });
  });
});

test.run();

