// The policy lifecycle end to end (docs/lifecycle.md): a policy directory reloaded on SIGHUP under
// load, --intercept for policies dropped in later, a looping, a trapping and a memory-hungry policy,
// the audit log, SIGUSR1 stats and `wasmsup check`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, execFileSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { runWasmsup, tempDir, ROOT, WASMSUP, TEST_POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';

// The interpreter itself, not a wrapper script (pyenv's shims are bash, which calls getppid at start).
const PYTHON = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => existsSync(p)) ?? 'python3';

/** A python3 workload that calls getppid through syscall(2) once per line read on stdin ("go"), printing the errno or "ok". */
const PY_GETPPID_ON_DEMAND = [
  'import ctypes, os, sys',
  'libc = ctypes.CDLL(None, use_errno=True)',
  'nr = {"x86_64": 110, "aarch64": 173}[os.uname().machine]',
  'def call():',
  '    r = libc.syscall(nr)',
  '    return str(ctypes.get_errno()) if r == -1 else "ok"',
  'n = int(sys.argv[1])',
  'print(",".join(call() for _ in range(n)), flush=True)',
  'for line in sys.stdin:',
  '    print(",".join(call() for _ in range(int(line))), flush=True)',
].join('\n');

/** A supervisor whose output can be waited for while it runs, fed through stdin. */
class Supervised {
  readonly child: ChildProcessWithoutNullStreams;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly listeners = new Set<() => void>();

  constructor(args: string[]) {
    this.child = spawn(WASMSUP, [...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (d) => { this.stdout += d; this.notify(); });
    this.child.stderr.on('data', (d) => { this.stderr += d; this.notify(); });
    this.exited = new Promise((resolve) => this.child.on('close', (code) => { this.notify(); resolve(code); }));
  }

  private notify(): void {
    for (const l of this.listeners) l();
  }

  /** Resolves once `predicate` holds for the output so far; rejects after timeoutMs. */
  waitFor(what: string, predicate: () => boolean, timeoutMs = 20000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate()) return;
        this.listeners.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        this.child.kill('SIGKILL');
        reject(new Error(`waiting for ${what}: timed out\nstdout: ${this.stdout}\nstderr: ${this.stderr}`));
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  stdoutLines(): string[] {
    return this.stdout.split('\n').filter(Boolean);
  }

  count(re: RegExp, text = this.stderr): number {
    return (text.match(new RegExp(re.source, 'g')) ?? []).length;
  }

  /** Sends SIGHUP and waits for the reload's log line. */
  async reload(): Promise<void> {
    const before = this.count(/reload \d+:/);
    process.kill(this.child.pid!, 'SIGHUP');
    await this.waitFor(`reload ${before + 1}`, () => this.count(/reload \d+:/) > before);
  }

  /** Has the workload make `n` more calls and returns their answers. */
  async calls(n: number): Promise<string[]> {
    const before = this.stdoutLines().length;
    this.child.stdin.write(`${n}\n`);
    await this.waitFor(`${n} calls`, () => this.stdoutLines().length > before);
    return this.stdoutLines()[before]!.split(',');
  }

  async finish(): Promise<number | null> {
    this.child.stdin.end();
    return this.exited;
  }
}

function jsonLines(stderr: string): Record<string, unknown>[] {
  return stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Replaces `to` atomically, as an operator should (write elsewhere, rename over). */
function install(from: string, to: string): void {
  copyFileSync(from, `${to}.tmp`);
  renameSync(`${to}.tmp`, to);
}

let threadsProbe: string | null = null;
function getppidThreads(): string {
  if (threadsProbe) return threadsProbe;
  const dir = join(ROOT, 'build', 'test-bin');
  mkdirSync(dir, { recursive: true });
  threadsProbe = join(dir, 'getppid-threads');
  execFileSync('gcc', ['-O1', '-Wall', '-static', '-pthread', '-o', threadsProbe, join(ROOT, 'test', 'probe', 'getppid-threads.c')]);
  return threadsProbe;
}

test('reload under load: 4 threads, 100 reloads, every call answered once by one consistent policy set', async () => {
  if (!privileged('reload under load')) return;
  const t = tempDir();
  try {
    const dir = join(t.path, 'policies');
    mkdirSync(dir);
    const policy = join(dir, '50-getppid.wasm');
    install(TEST_POLICY('getppid-errno'), policy);
    const stop = join(t.path, 'stop');
    const s = new Supervised(['run', '--policies', dir, '--log-format', 'json', '--log-level', 'debug', '--', getppidThreads(), '4', stop]);
    await s.waitFor('the workload to start', () => s.stdout.includes('started'));
    for (let i = 1; i <= 100; i++) {
      install(TEST_POLICY(i % 2 ? 'getppid-return' : 'getppid-errno'), policy);
      await s.reload();
    }
    writeFileSync(stop, '');
    assert.is(await s.exited, 0, s.stderr);
    const m = /calls (\d+) return (\d+) eacces (\d+) other (\d+)/.exec(s.stdout);
    assert.ok(m, s.stdout);
    const [calls, returned, eacces, other] = m!.slice(1).map(Number) as [number, number, number, number];
    assert.is(other, 0, `unexpected answers: ${s.stdout}`);
    assert.is(returned + eacces, calls);
    assert.ok(returned > 0 && eacces > 0, 'both versions answered');
    const logs = jsonLines(s.stderr);
    const reloads = logs.filter((l) => /^reload \d+: replaced 50-getppid\.wasm/.test(String(l.msg)));
    assert.is(reloads.length, 100, 'every SIGHUP swapped the file\'s new version in');
    assert.not.ok(logs.some((l) => l.level === 'error' || l.level === 'warn'), s.stderr);
    // The supervisor's own count: as many notifications as the threads made calls, none failed closed.
    const final = logs.find((l) => l.msg === 'workload finished')!;
    assert.is(final.notifications, calls);
    assert.is((final.errno as number) + (final.returned as number), calls);
    assert.is(final.reloads, 100);
    assert.is(final.failedClosed, 0);
  } finally { t.cleanup(); }
});

test('--intercept: a policy dropped into an empty directory later serves the running workload; without it, a warning', async () => {
  if (!privileged('--intercept')) return;
  const t = tempDir();
  try {
    for (const intercept of [true, false]) {
      const dir = join(t.path, `p-${intercept}`);
      mkdirSync(dir);
      const s = new Supervised(['run', ...(intercept ? ['--intercept', 'mknod,getppid'] : []), '--policies', dir, '--', PYTHON, '-c', PY_GETPPID_ON_DEMAND, '1']);
      await s.waitFor('the first call', () => s.stdoutLines().length === 1);
      assert.equal(s.stdoutLines(), ['ok'], 'no policy yet: the call continues');
      install(TEST_POLICY('getppid-errno'), join(dir, 'deny.wasm'));
      await s.reload();
      if (intercept) {
        assert.equal(await s.calls(2), ['13', '13'], 'the new policy decides');
        assert.not.match(s.stderr, /does not route/);
      } else {
        assert.equal(await s.calls(1), ['ok'], 'the filter cannot be widened');
        assert.match(s.stderr, /filter does not route getppid: policies see those calls only in workloads started from now on/);
      }
      assert.is(await s.finish(), 0, s.stderr);
    }
  } finally { t.cleanup(); }
});

test('a looping policy is stopped: the call fails closed, the supervisor keeps serving', async () => {
  if (!privileged('looping policy')) return;
  const r = await runWasmsup(['run', '--policy', TEST_POLICY('loop'), '--policy-fuel', '2000000', '--', PYTHON, '-c', PY_GETPPID_ON_DEMAND, '3'], { timeoutMs: 20000 });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout.trim(), '1,1,1');
  assert.match(r.stderr, /policy loop ran out of fuel \(2000000 loop iterations and calls\) and was stopped; failing the call closed/);
  const custom = await runWasmsup(['run', '--fail-errno', 'EIO', '--max-traps', '0', '--policy', TEST_POLICY('loop'), '--', PYTHON, '-c', PY_GETPPID_ON_DEMAND, '7']);
  assert.is(custom.stdout.trim(), '5,5,5,5,5,5,5', custom.stderr);
  // Logged at most once a second per policy: seven failures, fewer lines.
  assert.ok((custom.stderr.match(/ran out of fuel/g) ?? []).length < 7, custom.stderr);
});

test('a trapping policy is skipped after --max-traps in a row until the next reload; SIGUSR1 shows it all', async () => {
  if (!privileged('trap skipping')) return;
  const t = tempDir();
  try {
    copyFileSync(TEST_POLICY('trap'), join(t.path, '10-trap.wasm'));
    copyFileSync(TEST_POLICY('getppid-errno'), join(t.path, '20-deny.wasm'));
    const s = new Supervised(['run', '--policies', t.path, '--max-traps', '3', '--log-format', 'json', '--', PYTHON, '-c', PY_GETPPID_ON_DEMAND, '5']);
    await s.waitFor('the first calls', () => s.stdoutLines().length === 1);
    // EPERM three times (failed closed), then the next policy in file-name order answers.
    assert.equal(s.stdoutLines()[0]!.split(','), ['1', '1', '1', '13', '13']);
    await s.reload();
    assert.equal(await s.calls(2), ['1', '1'], 'a reload gives it another chance');

    const before = jsonLines(s.stderr).length;
    process.kill(s.child.pid!, 'SIGUSR1');
    await s.waitFor('stats', () => jsonLines(s.stderr).slice(before).some((l) => l.msg === 'stats'));
    const stats = jsonLines(s.stderr).find((l) => l.msg === 'stats') as unknown as {
      totals: Record<string, number>; byPolicy: Record<string, Record<string, number>>;
      bySyscall: Record<string, Record<string, number>>; latency: { count: number; p50Us: number; p99Us: number; maxUs: number };
    };
    assert.is(stats.totals.notifications, 7);
    assert.is(stats.totals.traps, 5);
    assert.is(stats.totals.policiesSkipped, 1);
    assert.is(stats.totals.reloads, 1);
    assert.equal(stats.byPolicy.trap, { asked: 5, failedClosed: 5, traps: 5, skipped: 2 });
    assert.equal(stats.byPolicy['getppid-errno'], { asked: 2, errno: 2 });
    assert.equal(stats.bySyscall.getppid, { errno: 2, failedClosed: 5 });
    assert.is(stats.latency.count, 7);
    assert.ok(stats.latency.p50Us > 0 && stats.latency.p50Us <= stats.latency.p99Us && stats.latency.p99Us <= stats.latency.maxUs, JSON.stringify(stats.latency));
    assert.is(await s.finish(), 0, s.stderr);
  } finally { t.cleanup(); }
});

test('SIGUSR1: each notification\'s latency is counted once, emulations answered by ADDFD with SEND included', async () => {
  if (!privileged('latency accounting')) return;
  // proc-view answers the opens of /proc/meminfo itself (ADDFD with SEND: native dataPlaneAnswered),
  // getppid-errno's answers ride the next receive (dataPlaneSendReceive), the other opens continue.
  const script = `for _ in range(3): open("/proc/meminfo").read()\n${PY_GETPPID_ON_DEMAND}`;
  const s = new Supervised(['run', '--log-format', 'json', '--policy', join(ROOT, 'build', 'policies', 'proc-view.wasm'),
    '--policy', TEST_POLICY('getppid-errno'), '--', PYTHON, '-c', script, '4']);
  await s.waitFor('the first calls', () => s.stdoutLines().length === 1);
  assert.equal(s.stdoutLines()[0]!.split(','), ['13', '13', '13', '13']);
  const before = jsonLines(s.stderr).length;
  process.kill(s.child.pid!, 'SIGUSR1');
  await s.waitFor('stats', () => jsonLines(s.stderr).slice(before).some((l) => l.msg === 'stats'));
  const stats = jsonLines(s.stderr).slice(before).find((l) => l.msg === 'stats') as unknown as {
    totals: Record<string, number>; bySyscall: Record<string, Record<string, number>>; latency: { count: number };
  };
  assert.ok(stats.totals.emulated! >= 3, JSON.stringify(stats.totals));
  assert.is(stats.bySyscall.getppid?.errno, 4);
  assert.is(stats.latency.count, stats.totals.notifications, JSON.stringify(stats));
  s.child.stdin.end();
  assert.is(await s.exited, 0, s.stderr);
});

test('a memory-hungry policy stays within its memory: then it traps, fails closed, and is skipped', async () => {
  if (!privileged('memory-hungry policy')) return;
  const r = await runWasmsup(['run', '--policy', TEST_POLICY('hungry'), '--', PYTHON, '-c', PY_GETPPID_ON_DEMAND, '25']);
  assert.is(r.code, 0, r.stderr);
  const answers = r.stdout.trim();
  // 1 MiB more per decision within 16 MiB: a dozen or so answers, then five traps, then no policy.
  assert.match(answers, /^(13,){10,16}(1,){5}(ok,)*ok$/);
  assert.match(r.stderr, /policy hungry trapped/);
  assert.match(r.stderr, /5 traps in a row, so it is skipped until the next reload/);
  const capped = await runWasmsup(['run', '--policy-memory', '4', '--policy', TEST_POLICY('hungry'), '--', 'true']);
  assert.is(capped.code, 2);
  assert.match(capped.stderr, /hungry\.wasm: memory maximum 256 pages \(16 MiB\) is above the cap of 64 pages \(4 MiB\)/);
});

test('--audit: one JSON line per decision', async () => {
  if (!privileged('audit log')) return;
  const t = tempDir();
  try {
    const audit = join(t.path, 'audit.jsonl');
    const r = await runWasmsup(['run', '--audit', audit, '--policy', TEST_POLICY('getppid-errno'), '--', PYTHON, '-c', PY_GETPPID_ON_DEMAND, '3']);
    assert.is(r.code, 0, r.stderr);
    const lines = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.is(lines.length, 3);
    for (const l of lines) {
      assert.is(l.syscall, 'getppid');
      assert.match(String(l.comm), /^python3/);
      assert.is(l.policy, 'getppid-errno');
      assert.is(l.decision, 'errno');
      assert.is(l.errno, 'EACCES');
      assert.ok(typeof l.pid === 'number' && (l.pid as number) > 1);
      assert.ok(typeof l.latency_us === 'number' && (l.latency_us as number) > 0);
      assert.ok(Math.abs(Date.parse(l.time as string) - Date.now()) < 60_000);
      assert.is((l.args as string[]).length, 6);
    }
    const unwritable = await runWasmsup(['run', '--audit', join(t.path, 'no', 'such', 'dir', 'a.jsonl'), '--', 'true']);
    assert.is(unwritable.code, 2);
    assert.match(unwritable.stderr, /--audit .*a\.jsonl: cannot open for appending \(ENOENT\)/);
  } finally { t.cleanup(); }
});

test('wasmsup check: valid or the reason for each file, limits; non-zero status when any is invalid', async () => {
  const t = tempDir();
  try {
    const bad = join(t.path, 'bad.wasm');
    writeFileSync(bad, 'nope');
    const r = await runWasmsup(['check', TEST_POLICY('loop'), bad]);
    assert.is(r.code, 1);
    assert.match(r.stdout, /loop\.wasm: ok\n {2}abi: {6}1\n {2}name: {5}loop\n {2}interest: getppid \(every call\)/);
    assert.match(r.stdout, /limits: {3}memory cap 256 pages \(16 MiB\); fuel \d+ per decision, charged at \d+ function entries and [1-9]\d* loop headers/);
    assert.match(r.stdout, /bad\.wasm: refused: not a WebAssembly module/);
    const capped = await runWasmsup(['check', '--policy-memory', '4', TEST_POLICY('hungry')]);
    assert.is(capped.code, 1);
    assert.match(capped.stdout, /above the cap of 64 pages \(4 MiB\)/);
    assert.is((await runWasmsup(['check', TEST_POLICY('getppid-errno')])).code, 0);
    assert.ok(existsSync(TEST_POLICY('hungry')));
  } finally { t.cleanup(); }
});

test('usage errors of the lifecycle flags: one line naming the flag, exit 2', async () => {
  for (const [args, pattern] of [
    [['run', '--intercept', 'mknod,nosuchcall', '--', 'true'], /--intercept: "nosuchcall" is not a syscall name/],
    [['run', '--policy-fuel', '10', '--', 'true'], /--policy-fuel: "10" is not a whole number from 1000/],
    [['run', '--policy-memory', 'lots', '--', 'true'], /--policy-memory: "lots"/],
    [['run', '--max-traps', '-1', '--', 'true'], /--max-traps/],
    [['run', '--policies', '/nonexistent/dir', '--', 'true'], /\/nonexistent\/dir: cannot read the policy directory \(ENOENT\)/],
  ] as const) {
    const r = await runWasmsup([...args]);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.is(lines.length, 1, r.stderr);
    assert.match(lines[0]!, pattern);
  }
});

test.run();
