// --metrics (docs/metrics.md) and the agent's --audit: the endpoint scraped and its text parsed strictly
// (Prometheus text and OpenMetrics), for `run` and for the agent with real runc containers — while a
// container runs, after a reload, after it is released and after a hand-over — the read-only HTTP
// surface (404, 405, oversized and stalled requests), and the per-container audit lines.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { runWasmsup, tempDir, mknodProbe, ROOT, WASMSUP, POLICY, TEST_POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { AgentProcess, eventually, findTool, killPid, makeBundle, ociConfig, ociGap, runContainer } from '../support/oci.js';
import { http, scrape, valueOf, type Exposition, freePort } from '../support/exposition.js';
import { parseMetricsAddress } from '../../src/metrics/address.js';

const PYTHON = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => existsSync(p)) ?? 'python3';
/** getppid through syscall(2), N times per line read on stdin, printing one line each time. */
const PY_GETPPID_ON_DEMAND = [
  'import ctypes, os, sys',
  'libc = ctypes.CDLL(None, use_errno=True)',
  'nr = {"x86_64": 110, "aarch64": 173}[os.uname().machine]',
  'print("ready", flush=True)',
  'for line in sys.stdin:',
  '    for _ in range(int(line)): libc.syscall(nr)',
  '    print("done", flush=True)',
].join('\n');

const METRICS_URL = /metrics on (http:\/\/\S+\/metrics)/;

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  assert.is(lines.length, 1, `expected one line on stderr, got: ${stderr}`);
  return lines[0]!;
}


test('--metrics addresses: a bare port is loopback; any other host only as written', async () => {
  assert.equal(parseMetricsAddress('9464'), { host: '127.0.0.1', port: 9464, loopback: true });
  assert.equal(parseMetricsAddress('localhost:0'), { host: '127.0.0.1', port: 0, loopback: true });
  assert.equal(parseMetricsAddress('127.1.2.3:80'), { host: '127.1.2.3', port: 80, loopback: true });
  assert.equal(parseMetricsAddress('[::1]:9464'), { host: '::1', port: 9464, loopback: true });
  assert.equal(parseMetricsAddress('0.0.0.0:9464'), { host: '0.0.0.0', port: 9464, loopback: false });
  assert.equal(parseMetricsAddress('[::]:9464'), { host: '::', port: 9464, loopback: false });
  assert.equal(parseMetricsAddress('10.0.0.5:9464'), { host: '10.0.0.5', port: 9464, loopback: false });
  // Written out beyond loopback: served, with a warning saying what it exposes.
  const r = await runWasmsup(['run', '--metrics', '0.0.0.0:0', '--', 'true']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /warn: metrics on http:\/\/0\.0\.0\.0:\d+\/metrics, beyond loopback: whoever can reach it reads policy names/);
});

test('--metrics: a malformed value or an address in use is a one-line usage error, nothing started', async () => {
  for (const bad of ['localhost', '127.0.0.1:', 'metrics.example:9464', '127.0.0.1:65536', '[::1]9464', ':9464', '9464x', '0.0.0.0.0:1']) {
    for (const command of ['run', 'agent']) {
      const args = command === 'run' ? ['run', '--metrics', bad, '--', 'true'] : ['agent', '--socket', '/nonexistent/x.sock', '--metrics', bad];
      const r = await runWasmsup(args);
      assert.is(r.code, 2, `${command} --metrics ${bad}: ${r.stderr}`);
      assert.match(oneLine(r.stderr), new RegExp(`^wasmsup: ${command}: --metrics: "${bad.replace(/[.[\]]/g, '\\$&')}" is not PORT or HOST:PORT`));
    }
  }
  const taken: Server = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  try {
    const port = (taken.address() as { port: number }).port;
    const t = tempDir();
    try {
      const marker = join(t.path, 'ran');
      const r = await runWasmsup(['run', '--metrics', String(port), '--', 'touch', marker]);
      assert.is(r.code, 2, r.stderr);
      assert.match(oneLine(r.stderr), new RegExp(`--metrics 127\\.0\\.0\\.1:${port}: cannot listen \\(EADDRINUSE\\)`));
      assert.not.ok(existsSync(marker), 'the workload was not started');
      const socket = join(t.path, 'agent.sock');
      const agent = await runWasmsup(['agent', '--socket', socket, '--policies', t.path, '--metrics', `127.0.0.1:${port}`]);
      assert.is(agent.code, 2, agent.stderr);
      assert.match(agent.stderr, new RegExp(`--metrics 127\\.0\\.0\\.1:${port}: cannot listen \\(EADDRINUSE\\)`));
      assert.not.ok(existsSync(socket), 'the agent\'s socket was not bound');
    } finally { t.cleanup(); }
  } finally {
    await new Promise((r) => taken.close(r));
  }
});

/** `wasmsup run` with a python workload that makes getppid calls on demand. */
class Supervised {
  readonly child: ChildProcessWithoutNullStreams;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(args: string[]) {
    this.child = spawn(WASMSUP, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (d) => { this.stdout += d; });
    this.child.stderr.on('data', (d) => { this.stderr += d; });
    this.exited = new Promise((resolve) => this.child.on('close', resolve));
  }

  async calls(n: number): Promise<void> {
    const before = this.stdout.split('\n').length;
    this.child.stdin.write(`${n}\n`);
    await eventually(() => this.stdout.split('\n').length > before, `${n} calls`);
  }
}

test('run --metrics: counts by syscall, decision and policy, latency, reloads; Prometheus and OpenMetrics text', async () => {
  if (!privileged('run --metrics')) return;
  const t = tempDir();
  const dir = join(t.path, 'policies');
  mkdirSync(dir);
  copyFileSync(TEST_POLICY('getppid-errno'), join(dir, 'deny.wasm'));
  const s = new Supervised(['run', '--metrics', '0', '--policies', dir, '--', PYTHON, '-c', PY_GETPPID_ON_DEMAND]);
  try {
    const url = (await eventually(() => METRICS_URL.exec(s.stderr), `the metrics line; stderr: ${s.stderr}`))![1]!;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, 'a bare port is loopback');
    await eventually(() => s.stdout.includes('ready'), 'the workload');
    await s.calls(7);
    const m = await scrape(url);
    assert.is(valueOf(m, 'wasmsup_notifications_total', { syscall: 'getppid', decision: 'errno' }), 7);
    assert.is(valueOf(m, 'wasmsup_policy_decisions_total', { policy: 'getppid-errno', decision: 'errno' }), 7);
    assert.is(valueOf(m, 'wasmsup_policy_traps_total', { policy: 'getppid-errno' }), 0);
    assert.is(valueOf(m, 'wasmsup_notification_latency_seconds_count'), 7);
    assert.ok(valueOf(m, 'wasmsup_notification_latency_seconds_sum')! > 0);
    assert.is(valueOf(m, 'wasmsup_reloads_total'), 0);
    const info = m.samples.find((x) => x.name === 'wasmsup_build_info')!;
    assert.is(info.labels.command, 'run');
    assert.is(info.value, 1);
    assert.not.ok(m.samples.some((x) => 'container' in x.labels), 'run has no container label');
    assert.is(m.types.get('wasmsup_notification_latency_seconds'), 'histogram');

    // A reload (here to a policy that answers "return"): counted, and the new policy's decisions too.
    copyFileSync(TEST_POLICY('getppid-return'), join(dir, 'deny.wasm'));
    process.kill(s.child.pid!, 'SIGHUP');
    await eventually(() => /reload 1:/.test(s.stderr), 'the reload');
    await s.calls(2);
    const after = await scrape(url, true);
    assert.is(valueOf(after, 'wasmsup_reloads_total'), 1);
    assert.is(valueOf(after, 'wasmsup_reload_failures_total'), 0);
    assert.is(valueOf(after, 'wasmsup_notifications_total', { syscall: 'getppid', decision: 'errno' }), 7);
    assert.is(valueOf(after, 'wasmsup_notifications_total', { syscall: 'getppid', decision: 'return' }), 2);
    assert.is(after.types.get('wasmsup_notifications'), 'counter', 'OpenMetrics names the family without _total');

    s.child.stdin.end();
    assert.is(await s.exited, 0, s.stderr);
  } finally {
    killPid(s.child.pid);
    t.cleanup();
  }
});

test('the endpoint is read-only and bounded: 404, 405, oversized headers, a stalled client is cut off', async () => {
  if (!privileged('metrics endpoint')) return;
  const s = new Supervised(['run', '--metrics', '127.0.0.1:0', '--', PYTHON, '-c', PY_GETPPID_ON_DEMAND]);
  const stalled: Socket[] = [];
  try {
    const url = (await eventually(() => METRICS_URL.exec(s.stderr), `the metrics line; stderr: ${s.stderr}`))![1]!;
    const base = url.replace(/\/metrics$/, '');
    assert.is((await http(`${base}/`)).status, 404);
    assert.is((await http(`${base}/metrics/x`)).status, 404);
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
      const r = await http(url, { method });
      assert.is(r.status, 405, method);
      assert.is(r.headers.allow, 'GET, HEAD');
    }
    const head = await http(url, { method: 'HEAD' });
    assert.is(head.status, 200);
    assert.is(head.body, '');
    assert.is((await http(url, { headers: { 'X-Padding': 'x'.repeat(16384) } })).status, 431);

    // Clients that open a connection and send half a request, or nothing: scrapes still work, and the
    // server closes them on its own (headers timeout, idle timeout).
    const { port } = new URL(url);
    for (const partial of ['GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ', '', '\x16\x03\x01garbage']) {
      const c = connect(Number(port), '127.0.0.1');
      c.on('error', () => {});
      c.resume(); // read what the server says (a 400 or a 408), so that its close is seen
      c.write(partial);
      stalled.push(c);
    }
    const open = new Set(stalled.map((_, i) => i));
    stalled.forEach((c, i) => c.on('close', () => open.delete(i)));
    const m = await scrape(url);
    assert.is(valueOf(m, 'wasmsup_reloads_total'), 0);
    await eventually(() => open.size === 0, 'the server cuts the stalled clients off', 30_000)
      .catch(() => assert.unreachable(`clients ${[...open].join(', ')} still connected`));
    s.child.stdin.end();
    assert.is(await s.exited, 0, s.stderr);
  } finally {
    for (const c of stalled) c.destroy();
    killPid(s.child.pid);
  }
});

test('agent --metrics --audit: per-container counts while it runs, after a reload, after release and a hand-over; audit lines name the container', async () => {
  if (!privileged('agent metrics', ociGap())) return;
  const t = tempDir('wasmsup-metrics-');
  chmodSync(t.path, 0o755); // the container's root (host uid 100000) must reach its rootfs
  const policies = join(t.path, 'policies');
  mkdirSync(policies);
  copyFileSync(POLICY('mknod'), join(policies, 'mknod.wasm'));
  const socket = join(t.path, 'agent.sock');
  const audit = join(t.path, 'audit.jsonl');
  const port = await freePort();
  const agent = new AgentProcess(['--socket', socket, '--policies', policies, '--metrics', `127.0.0.1:${port}`, '--audit', audit]);
  let successor: number | undefined;
  let running: Promise<unknown> | null = null;
  let go = '';
  try {
    const first = await agent.ready();
    const url = (await agent.waitFor(METRICS_URL))[1]!;
    assert.is(url, `http://127.0.0.1:${port}/metrics`);
    const idle = await scrape(url);
    assert.is(valueOf(idle, 'wasmsup_containers'), 0);
    assert.is(valueOf(idle, 'wasmsup_notifications_total', { container: '_released', syscall: 'mknodat', decision: 'emulate' }), undefined);
    assert.is(valueOf(idle, 'wasmsup_notification_latency_seconds_count', { container: '_released' }), 0);

    const bundleDir = join(t.path, 'bundle');
    mkdirSync(bundleDir);
    const script = [
      'mknod-probe one /tmp/null', // emulated
      'mknod /tmp/sda b 8 0', // off the allowlist: errno
      'while [ ! -e /tmp/go ]; do sleep 0.05; done',
      'mknod-probe one /tmp/null2',
    ].join('\n');
    const { bundle, rootfs } = makeBundle(bundleDir, { args: ['sh', '-c', script], seccomp: ociConfig(policies, socket), binaries: [mknodProbe()] });
    const id = `wasmsup-metrics-${process.pid}`;
    go = join(rootfs, 'tmp', 'go');
    running = runContainer(findTool('runc')!, join(t.path, 'runc-state'), bundle, id);
    await eventually(() => existsSync(join(rootfs, 'tmp', 'null')), 'the first mknod');
    const during = await eventually(async () => {
      const m = await scrape(url);
      return valueOf(m, 'wasmsup_notification_latency_seconds_count', { container: id }) === 2 ? m : null;
    }, 'both calls counted') as Exposition;
    assert.is(valueOf(during, 'wasmsup_notifications_total', { container: id, syscall: 'mknodat', decision: 'emulate' }), 1);
    assert.is(valueOf(during, 'wasmsup_notifications_total', { container: id, syscall: 'mknodat', decision: 'continue' }), 1);
    assert.is(valueOf(during, 'wasmsup_policy_decisions_total', { container: id, policy: 'mknod', decision: 'emulate' }), 1);
    assert.is(valueOf(during, 'wasmsup_containers'), 1);
    assert.is(valueOf(during, 'wasmsup_data_planes_total'), 1);
    // Syscall labels only for what the filter routes: mknod here (the probe may use mknodat).
    for (const x of during.samples.filter((x) => x.name === 'wasmsup_notifications_total')) assert.match(x.labels.syscall!, /^mknod(at)?$/);

    // A reload, then a hand-over to a new agent process on the same port.
    let mark = agent.log.length;
    killPid(first, 'SIGHUP');
    await agent.waitFor(/reload 1:/, mark);
    assert.is(valueOf(await scrape(url), 'wasmsup_reloads_total'), 1);
    mark = agent.log.length;
    killPid(first, 'SIGUSR2');
    successor = await agent.ready(mark);
    assert.is((await agent.waitFor(METRICS_URL, mark))[1], url, 'the successor listens on the same port once its predecessor let go');
    const taken = await scrape(url);
    assert.is(valueOf(taken, 'wasmsup_handovers_total', { result: 'taken_over' }), 1);
    assert.is(valueOf(taken, 'wasmsup_containers'), 1);

    writeFileSync(go, '');
    const result = await running as { code: number | null; stderr: string };
    assert.is(result.code, 0, result.stderr);
    await agent.waitFor(new RegExp(`container ${id}: released`), mark);
    // Released: the container's label is gone, its counts went to "_released".
    const released = await scrape(url, true);
    assert.not.ok(released.samples.some((x) => x.labels.container === id), 'no series for a released container');
    assert.is(valueOf(released, 'wasmsup_notifications_total', { container: '_released', syscall: 'mknodat', decision: 'emulate' }), 1);
    assert.is(valueOf(released, 'wasmsup_containers'), 0);
    assert.is(valueOf(released, 'wasmsup_data_planes_released_total'), 1);

    // The audit log: run's format with the container's id on every line, from both agent processes.
    await eventually(() => readFileSync(audit, 'utf8').trim().split('\n').length >= 3, 'three audit lines');
    const lines = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.is(lines.length, 3, readFileSync(audit, 'utf8'));
    for (const l of lines) {
      assert.is(l.container, id);
      assert.match(String(l.syscall), /^mknod(at)?$/);
      assert.is(l.policy, 'mknod');
      assert.equal(Object.keys(l).slice(0, 4), ['time', 'container', 'pid', 'comm']);
      assert.ok(typeof l.latency_us === 'number');
      assert.is((l.args as string[]).length, 6);
    }
    // The block device is off the allowlist: back to the kernel, which says EPERM in a user namespace.
    assert.equal(lines.map((l) => l.decision), ['emulate', 'continue', 'emulate']);
  } finally {
    // A container still running is let finish (and deleted by runContainer) before its rootfs goes.
    if (running) {
      try { writeFileSync(go, ''); } catch { /* already gone */ }
      await running.catch(() => {});
    }
    killPid(successor);
    killPid(agent.child.pid);
    t.cleanup();
  }
});

test('agent --audit: an unwritable file is a one-line usage error', async () => {
  const t = tempDir();
  try {
    const r = await runWasmsup(['agent', '--socket', join(t.path, 'a.sock'), '--policies', t.path, '--audit', join(t.path, 'no', 'such', 'a.jsonl')]);
    assert.is(r.code, 2, r.stderr);
    assert.match(oneLine(r.stderr.replace(/^.*no \*\.wasm policies.*\n/m, '')), /--audit .*a\.jsonl: cannot open for appending \(ENOENT\)/);
    assert.not.ok(existsSync(join(t.path, 'a.sock')));
  } finally { t.cleanup(); }
});

test.run();
