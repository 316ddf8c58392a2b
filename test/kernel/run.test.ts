// `wasmsup run` end to end: the command line's refusals, exit statuses, signal forwarding, the
// listener hand-off that must not deadlock, decisions other than emulation, and supervision that
// outlives the workload's own process.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runWasmsup, tempDir, POLICY, TEST_POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';

// getppid through syscall(2): glibc's getppid() cannot fail, so it would hand back -errno as a pid.
const PY_GETPPID = [
  'import ctypes, os',
  'libc = ctypes.CDLL(None, use_errno=True)',
  'r = libc.syscall({"x86_64": 110, "aarch64": 173}[os.uname().machine])',
  'print(ctypes.get_errno() if r == -1 else "ok")',
].join('\n');

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  assert.is(lines.length, 1, `expected one line on stderr, got: ${stderr}`);
  return lines[0]!;
}

test('a mistyped flag: one line naming it, exit 2, nothing started', async () => {
  const t = tempDir();
  try {
    const marker = join(t.path, 'marker');
    const r = await runWasmsup(['run', '--polcy', POLICY('mknod'), '--', 'touch', marker]);
    assert.is(r.code, 2);
    assert.match(oneLine(r.stderr), /unknown option --polcy/);
    assert.not.ok(existsSync(marker));
  } finally { t.cleanup(); }
});

test('a missing policy file: one line naming it, exit 2, nothing started', async () => {
  const t = tempDir();
  try {
    const marker = join(t.path, 'marker');
    const r = await runWasmsup(['run', '--policy', '/nonexistent/p.wasm', '--', 'touch', marker]);
    assert.is(r.code, 2);
    assert.match(oneLine(r.stderr), /\/nonexistent\/p\.wasm/);
    assert.not.ok(existsSync(marker));
  } finally { t.cleanup(); }
});

test('an invalid policy file: one line naming it and the reason, exit 2', async () => {
  const t = tempDir();
  try {
    const bad = join(t.path, 'bad.wasm');
    writeFileSync(bad, 'this is not wasm');
    const marker = join(t.path, 'marker');
    const r = await runWasmsup(['run', '--policy', bad, '--', 'touch', marker]);
    assert.is(r.code, 2);
    assert.match(oneLine(r.stderr), /bad\.wasm/);
    assert.not.ok(existsSync(marker));
  } finally { t.cleanup(); }
});

test('usage errors: unknown command, missing command, bad values', async () => {
  for (const [args, pattern] of [
    [['rnu'], /unknown command "rnu"/],
    [['run', '--policy', POLICY('mknod')], /missing the command/],
    [['run', '--fail-errno', 'EWHAT', '--', 'true'], /--fail-errno/],
    [['run', '--userns-range', '5', '--', 'true'], /--userns-range/],
    [['run', '--log-level', 'loud', '--', 'true'], /--log-level/],
    [['check'], /at least one/],
    [['agent', '--policy-memory', 'lots'], /agent: --policy-memory/],
    [['agent', '--max-trap', '3'], /unknown option --max-trap/],
  ] as const) {
    const r = await runWasmsup([...args]);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(oneLine(r.stderr), pattern);
  }
});

test('exit status is the workload\'s; 128+N when killed by signal N; 127 when it cannot be executed', async () => {
  if (!privileged('exit statuses')) return;
  assert.is((await runWasmsup(['run', '--', 'sh', '-c', 'exit 7'])).code, 7);
  assert.is((await runWasmsup(['run', '--policy', POLICY('mknod'), '--', 'sh', '-c', 'kill -KILL $$'])).code, 137);
  const missing = await runWasmsup(['run', '--', '/nonexistent/cmd']);
  assert.is(missing.code, 127);
  assert.match(missing.stderr, /\/nonexistent\/cmd/);
});

test('SIGTERM, SIGINT and SIGQUIT reach the workload', async () => {
  if (!privileged('signal forwarding')) return;
  for (const [signal, status] of [['SIGTERM', 143], ['SIGINT', 130], ['SIGQUIT', 131]] as const) {
    const started = Date.now();
    const r = await runWasmsup(['run', '--policy', POLICY('mknod'), '--', 'sleep', '30'], {
      onSpawn: (pid) => setTimeout(() => process.kill(pid, signal), 1500),
    });
    assert.is(r.code, status, `${signal}: ${r.stderr}`);
    assert.ok(Date.now() - started < 15000);
  }
});

test('the listener hand-off does not deadlock when the launcher\'s own calls are intercepted', async () => {
  if (!privileged('hand-off deadlock')) return;
  // The policy routes write, sendmsg, close, futex, execve, mmap, ... to the supervisor: the calls the
  // launcher makes after installing the filter (containers/crun#1002).
  const r = await runWasmsup(['run', '--policy', TEST_POLICY('continue-launcher-calls'), '--', 'sh', '-c', 'echo hello; cat /proc/self/status > /dev/null'], { timeoutMs: 20000 });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'hello\n');
});

test('an errno decision reaches the caller; a trapping policy fails the call closed and the supervisor goes on', async () => {
  if (!privileged('errno and trap decisions')) return;
  const denied = await runWasmsup(['run', '--policy', TEST_POLICY('getppid-errno'), '--', 'python3', '-c', PY_GETPPID]);
  assert.is(denied.stdout.trim(), '13'); // EACCES
  // --max-traps 0: never put the policy aside, however many getppid calls a python3 wrapper script makes first.
  const trap = await runWasmsup(['run', '--max-traps', '0', '--policy', TEST_POLICY('trap'), '--', 'python3', '-c', `${PY_GETPPID}\n${PY_GETPPID}`]);
  assert.is(trap.code, 0, trap.stderr);
  assert.equal(trap.stdout.trim().split('\n'), ['1', '1']); // EPERM, twice: the supervisor kept serving
  assert.match(trap.stderr, /trapped/);
  const custom = await runWasmsup(['run', '--fail-errno', 'EACCES', '--max-traps', '0', '--policy', TEST_POLICY('trap'), '--', 'python3', '-c', PY_GETPPID]);
  assert.is(custom.stdout.trim(), '13');
});

test('a daemonized grandchild stays supervised after the workload exits', async () => {
  if (!privileged('daemonized grandchild')) return;
  const t = tempDir();
  try {
    const out = join(t.path, 'out');
    const script = `(sleep 1; python3 -c '${PY_GETPPID.replace(/'/g, "'\\''")}' > ${out}) </dev/null >/dev/null 2>&1 & exit 0`;
    const r = await runWasmsup(['run', '--policy', TEST_POLICY('getppid-errno'), '--', 'sh', '-c', script]);
    assert.is(r.code, 0, r.stderr);
    // The supervisor returned only once the last process using the filter was gone, so the
    // grandchild has finished, and its getppid was answered by the policy.
    assert.is(readFileSync(out, 'utf8').trim(), '13');
  } finally { t.cleanup(); }
});

test('an unprivileged supervisor: no_new_privs, deny and return policies work, emulation fails with a clear message', async () => {
  if (!privileged('unprivileged supervisor')) return;
  const asNobody = ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups', '--'];
  const py = `${PY_GETPPID}\nprint([l for l in open("/proc/self/status") if l.startswith("NoNewPrivs")][0].split()[1])`;
  const denied = await runWasmsup(['run', '--policy', TEST_POLICY('getppid-errno'), '--', 'python3', '-c', py], { prefix: asNobody });
  assert.is(denied.code, 0, denied.stderr);
  assert.is(denied.stdout, '13\n1\n');
  const t = tempDir();
  try {
    chmodSync(t.path, 0o777);
    const node = join(t.path, 'null');
    const r = await runWasmsup(['run', '--userns', '--policy', POLICY('mknod'), '--', 'python3', '-c',
      `import os, stat\ntry:\n  os.mknod(${JSON.stringify(node)}, stat.S_IFCHR | 0o666, os.makedev(1, 3)); print("ok")\nexcept OSError as e: print(e.errno)`],
      { prefix: asNobody });
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, '1\n');
    assert.match(r.stderr, /mknod emulation needs a privileged supervisor/);
    assert.not.ok(existsSync(node));
  } finally { t.cleanup(); }
});

test.run();
