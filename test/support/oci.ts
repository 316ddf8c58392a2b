// OCI end-to-end plumbing for tests: a busybox bundle with a user namespace, a `wasmsup agent` process
// whose log lines can be awaited, and containers run with real runc (or crun) under a private state
// root, each deleted afterwards.
import { spawn, execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, chmodSync, existsSync, lchownSync, mkdirSync, readFileSync, readdirSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { WASMSUP, ROOT, POLICY, tempDir } from './wasmsup.js';

export const HOST_ID = 100000;
export const ID_RANGE = 65536;
const BUSYBOX = '/bin/busybox';

/** The first of `names` found on PATH's usual directories, or null. */
export function findTool(name: string): string | null {
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/bin', '/usr/local/sbin']) {
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

/** Why the runc tests cannot run here, or null. */
export function ociGap(): string | null {
  if (!findTool('runc')) return 'needs runc (apt-get install runc)';
  const file = spawnSync('file', ['-b', BUSYBOX], { encoding: 'utf8' }).stdout ?? '';
  if (!existsSync(BUSYBOX) || (file && !file.includes('statically linked'))) return 'needs a static /bin/busybox (apt-get install busybox-static)';
  return null;
}

export interface BundleOptions {
  /** The container's command. */
  args: string[];
  /** linux.seccomp, e.g. from `wasmsup oci-config`. */
  seccomp: unknown;
  annotations?: Record<string, string>;
  /** Extra static executables copied into the rootfs's /bin. */
  binaries?: string[];
}

/**
 * A bundle in `dir`: rootfs = busybox with its applets (`busybox --install -s` run inside the rootfs),
 * /esc -> /etc (an absolute symlink that must resolve inside the rootfs), everything owned by the
 * container's root (host uid/gid 100000); config.json with user, mount, pid, ipc and uts namespaces.
 */
export function makeBundle(dir: string, opts: BundleOptions): { bundle: string; rootfs: string } {
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'dev']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'));
  chmodSync(join(rootfs, 'bin', 'busybox'), 0o755);
  execFileSync('chroot', [rootfs, '/bin/busybox', '--install', '-s', '/bin']);
  for (const b of opts.binaries ?? []) {
    const name = b.split('/').pop()!;
    copyFileSync(b, join(rootfs, 'bin', name));
    chmodSync(join(rootfs, 'bin', name), 0o755);
  }
  symlinkSync('/etc', join(rootfs, 'esc'));
  chownTree(rootfs, HOST_ID);
  chmodSync(join(rootfs, 'tmp'), 0o1777);

  const caps = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID',
    'CAP_SETPCAP', 'CAP_MKNOD', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_AUDIT_WRITE'];
  const config = {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: opts.args,
      env: ['PATH=/bin'],
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: false },
    hostname: 'wasmsup-test',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'mode=755', 'size=1024k'] },
    ],
    annotations: opts.annotations ?? {},
    linux: {
      uidMappings: [{ containerID: 0, hostID: HOST_ID, size: ID_RANGE }],
      gidMappings: [{ containerID: 0, hostID: HOST_ID, size: ID_RANGE }],
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'user' }],
      seccomp: opts.seccomp,
    },
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 1));
  return { bundle: dir, rootfs };
}

function chownTree(path: string, id: number): void {
  lchownSync(path, id, id);
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, entry.name);
    if (entry.isDirectory()) chownTree(p, id);
    else lchownSync(p, id, id);
  }
}

/** `wasmsup oci-config --policies DIR --socket SOCKET`, parsed. */
export function ociConfig(policyDir: string, socket: string): unknown {
  return JSON.parse(execFileSync(WASMSUP, ['oci-config', '--policies', policyDir, '--socket', socket], { cwd: ROOT, encoding: 'utf8' }));
}

/** A running `wasmsup agent`, with its stderr collected (a successor's too: it inherits the pipe). */
export class AgentProcess {
  readonly child: ChildProcess;
  log = '';
  private waiters: { re: RegExp; from: number; resolve: (m: RegExpExecArray) => void }[] = [];

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(WASMSUP, ['agent', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr!.on('data', (d) => {
      this.log += d;
      this.waiters = this.waiters.filter((w) => {
        const m = w.re.exec(this.log.slice(w.from));
        if (m) w.resolve(m);
        return !m;
      });
    });
  }

  /** Resolves with the first match of `re` in the log after offset `from`; rejects after timeoutMs. */
  waitFor(re: RegExp, from = 0, timeoutMs = 30000): Promise<RegExpExecArray> {
    const m = re.exec(this.log.slice(from));
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`agent log never matched ${re} in ${timeoutMs} ms; log:\n${this.log}`)), timeoutMs);
      this.waiters.push({ re, from, resolve: (x) => { clearTimeout(timer); resolve(x); } });
    });
  }

  /** Waits until the agent serves its socket; returns its pid. */
  async ready(from = 0): Promise<number> {
    return Number((await this.waitFor(/agent serving on \S+ \(pid (\d+)\)/, from))[1]);
  }
}

/** Kills `pid` (an agent this test started) if it still runs. */
export function killPid(pid: number | undefined, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (pid === undefined) return;
  try { process.kill(pid, signal); } catch { /* gone */ }
}

/**
 * The argv of `podman ARGS` on a store of a test's own in directory `store`: its images, containers,
 * run state and temporary files there, and its container locks as files there (lock_type "file" in a
 * containers.conf of its own) rather than podman's default, one shared-memory segment (/libpod_lock)
 * that every rootful store on the machine allocates lock numbers from. Two stores sharing it (another
 * test's, an operator's podman) each hand out lock 0 to their first container and then wait on each
 * other's locks (seen: "acquiring lock 0 for container …: file exists", and an exec that never returned).
 */
export function podmanCommand(store: string, runtime: 'runc' | 'crun', args: string[]): string[] {
  const conf = join(store, 'containers.conf');
  if (!existsSync(conf)) {
    mkdirSync(store, { recursive: true });
    // CONTAINERS_CONF replaces the machine's configuration files (podman 4.3 has no override file), so
    // the machine's own settings (its default capabilities, which the tests rely on) are copied in.
    const system = ['/etc/containers/containers.conf', '/usr/share/containers/containers.conf'].find((f) => existsSync(f));
    const text = system ? readFileSync(system, 'utf8') : '';
    writeFileSync(conf, /^\[engine\]$/m.test(text) ? text.replace(/^\[engine\]$/m, '[engine]\nlock_type = "file"') : `${text}\n[engine]\nlock_type = "file"\n`);
  }
  return ['env', `CONTAINERS_CONF=${conf}`, findTool('podman')!, '--root', join(store, 'root'), '--runroot', join(store, 'run'),
    '--tmpdir', join(store, 'tmp'), '--cgroup-manager=cgroupfs', '--events-backend=none', '--runtime', runtime, ...args];
}

export interface ContainerResult { code: number | null; stdout: string; stderr: string }

/**
 * `RUNTIME --root STATE [globalArgs] run --bundle BUNDLE ID` in the foreground; the container is deleted
 * (`delete -f`) afterwards whatever happened. `wrap` runs the runtime through another command (the crun
 * workaround's private mount namespace).
 */
export async function runContainer(runtime: string, stateRoot: string, bundle: string, id: string,
  opts: { globalArgs?: string[]; wrap?: (argv: string[]) => string[]; timeoutMs?: number; onStart?: () => void } = {}): Promise<ContainerResult> {
  const argv = [runtime, '--root', stateRoot, ...(opts.globalArgs ?? []), 'run', '--bundle', bundle, id];
  const full = opts.wrap ? opts.wrap(argv) : argv;
  try {
    return await new Promise<ContainerResult>((resolve, reject) => {
      const child = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '', stderr = '';
      child.stdout.on('data', (d) => { stdout += d; });
      child.stderr.on('data', (d) => { stderr += d; });
      const timer = setTimeout(() => {
        killPid(child.pid);
        reject(new Error(`${runtime} run ${id} did not finish in ${opts.timeoutMs ?? 60000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, opts.timeoutMs ?? 60000);
      child.on('spawn', () => opts.onStart?.());
      child.on('error', reject);
      child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    });
  } finally {
    const del = [runtime, '--root', stateRoot, ...(opts.globalArgs ?? []), 'delete', '-f', id];
    spawnSync((opts.wrap ? opts.wrap(del) : del)[0]!, (opts.wrap ? opts.wrap(del) : del).slice(1), { stdio: 'ignore' });
    await removeContainerCgroups(id);
  }
}

/**
 * Removes the empty cgroups a runtime left for container `id`: under load runc 1.1 sometimes fails to
 * rmdir them (EBUSY while the last task is still being reaped) and gives up. Without cgroupsPath a
 * container's cgroup is `id` below the runtime's own, i.e. this process's, in every hierarchy.
 */
export async function removeContainerCgroups(id: string): Promise<void> {
  const mounts = new Map<string, string>();
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const [fstype, , superOptions] = right.split(' ');
    const mountPoint = left.split(' ')[4]!;
    if (fstype === 'cgroup2') mounts.set('', mountPoint);
    else if (fstype === 'cgroup') for (const o of superOptions!.split(',')) mounts.set(o, mountPoint);
  }
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const [hierarchy, controllers, path] = line.split(':') as [string, string, string];
    const key = hierarchy === '0' ? '' : controllers.split(',').find((c) => mounts.has(c)) ?? '';
    const mount = hierarchy === '0' ? mounts.get('') : mounts.get(key);
    if (!mount) continue;
    const dir = join(mount, path, id);
    for (let attempt = 0; attempt < 20 && existsSync(dir); attempt++) {
      try { rmdirSync(dir); } catch { await new Promise((r) => setTimeout(r, 50)); }
    }
  }
}

/**
 * `argv` to completion (stdin closed), killed after timeoutMs. `untilExit`: done when it exits, not
 * when its output closes — what `run -d` needs, whose container keeps the output open.
 */
export function runTool(argv: string[], timeoutMs = 60000, untilExit = false): Promise<ContainerResult> {
  return new Promise<ContainerResult>((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => {
      killPid(child.pid);
      reject(new Error(`${argv.join(' ')} did not finish in ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on(untilExit ? 'exit' : 'close', (code) => {
      clearTimeout(timer);
      if (untilExit) { child.stdout.destroy(); child.stderr.destroy(); }
      resolve({ code, stdout, stderr });
    });
  });
}

/** True on this machine's hybrid cgroup layout (v1 controllers plus /sys/fs/cgroup/unified), which crun refuses. */
export function hybridCgroups(): boolean {
  return execFileSync('sh', ['-c', 'grep -c " /sys/fs/cgroup/unified " /proc/self/mountinfo || true'], { encoding: 'utf8' }).trim() !== '0';
}

/** crun rejects a hybrid cgroup layout; the documented workaround (docs/oci.md): a mount namespace without the v2 mount. */
export function crunWrap(argv: string[]): string[] {
  return hybridCgroups() ? ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'umount /sys/fs/cgroup/unified && exec "$@"', 'crun-hybrid', ...argv] : argv;
}

/**
 * A temporary directory for an agent test: a policy directory holding only the shipped policies named
 * (so no other policy changes the outcome), the agent's socket path, a runc state root, and bundles.
 */
export function agentSetup(prefix: string, policyNames: string[] = ['mknod']) {
  const tmp = tempDir(prefix);
  chmodSync(tmp.path, 0o755); // the container's root (host uid 100000) must reach its rootfs
  const policies = join(tmp.path, 'policies');
  mkdirSync(policies);
  for (const name of policyNames) copyFileSync(POLICY(name), join(policies, `${name}.wasm`));
  let bundles = 0;
  return {
    tmp, policies, socket: join(tmp.path, 'agent.sock'), state: join(tmp.path, 'runc-state'),
    bundleDir: () => { const d = join(tmp.path, `bundle-${++bundles}`); mkdirSync(d); return d; },
  };
}
export type AgentSetup = ReturnType<typeof agentSetup>;

/** An agent serving `t` for `body`; killed (by pid) and the directory removed after. */
export async function withAgent(t: AgentSetup, body: (t: AgentSetup, agent: AgentProcess) => Promise<void>): Promise<void> {
  const agent = new AgentProcess(['--socket', t.socket, '--policies', t.policies]);
  try {
    await agent.ready();
    await body(t, agent);
  } finally {
    killPid(agent.child.pid);
    t.tmp.cleanup();
  }
}

/** Polls `check` every 50 ms until it gives something truthy, which it returns; throws after timeoutMs. */
export async function eventually<T>(check: () => T | Promise<T>, what: string, timeoutMs = 15000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A container's call loop ended well and printed `calls=N failed=0` with N > 0: every call was served. */
export function assertEveryCallServed(result: { code: number | null; stdout: string; stderr: string }): void {
  assert.is(result.code, 0, result.stderr);
  const m = /calls=(\d+) failed=(\d+)/.exec(result.stdout);
  assert.ok(m, result.stdout);
  assert.is(Number(m![2]), 0, `failed calls: ${result.stdout} ${result.stderr}`);
  assert.ok(Number(m![1]) > 0);
}
