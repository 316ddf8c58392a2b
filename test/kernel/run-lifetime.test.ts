// `wasmsup run`'s lifetime once the command exited (README, `wasmsup run --help`): what the command
// leaves running stays supervised, wasmsup says how many processes it waits for, a signal ends them
// (passed on, then SIGKILL after a grace period, or at once on a second signal), --kill-on-exit ends
// them with the command; the exit status is always the command's. Processes are found as this
// process's adopted orphans (wasmsup is a child subreaper) or in the workload's user namespace.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, WASMSUP, runWasmsup, tempDir } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { eventually } from '../support/oci.js';

/** True once `pid` is gone or a zombie (its parent has not reaped it yet). */
function ended(pid: number): boolean {
  try { return /\nState:\s+Z/.test(readFileSync(`/proc/${pid}/status`, 'utf8')); } catch { return true; }
}

/** True once `pid` runs sleep with SIGINT ignored (what a script's background job is). */
function ignoresSigint(pid: number): boolean {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const ignored = BigInt(`0x${/\nSigIgn:\s+([0-9a-f]+)/.exec(status)![1]}`);
    return /^Name:\s+sleep$/m.test(status) && (ignored & 2n) !== 0n; // bit 1: SIGINT (2)
  } catch { return false; }
}

/** `wasmsup run ARGS` in the background, its stderr collected, for signalling by pid. */
function start(args: string[]) {
  const child = spawn(WASMSUP, ['run', ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  const out = { stderr: '' };
  child.stderr!.on('data', (d) => { out.stderr += d; });
  const exit = new Promise<{ code: number | null }>((resolve) => child.on('close', (code) => resolve({ code })));
  return { child, out, exit };
}

for (const userns of [false, true]) {
  const flag = userns ? ['--userns'] : [];
  const label = userns ? ' (--userns)' : '';

  test(`a background job outlives the command: one notice, SIGTERM passed on ends it and wasmsup${label}`, async () => {
    if (!privileged('run lifetime')) return;
    const t = tempDir();
    chmodSync(t.path, 0o777); // the workload's root in its user namespace writes the pid file
    try {
      const pidFile = join(t.path, 'pid');
      const r = start([...flag, '--', 'sh', '-c', `sleep 60 & echo $! > ${pidFile}; exit 0`]);
      try {
        await eventually(() => /the command exited \(status 0\); 1 process\(es\) it started still run, supervised: waiting for them to exit/.test(r.out.stderr), `notice; stderr: ${r.out.stderr}`);
        const sleeper = Number(readFileSync(pidFile, 'utf8'));
        assert.not.ok(ended(sleeper));
        r.child.kill('SIGTERM');
        const { code } = await r.exit;
        assert.is(code, 0, r.out.stderr); // the command's status
        assert.not.match(r.out.stderr, /still running 3 s after/); // ended by the signal itself
        assert.match(r.out.stderr, /SIGTERM after the command exited: SIGTERM to 1 remaining process\(es\)/);
        assert.ok(ended(sleeper));
      } finally { if (r.child.exitCode === null) r.child.kill('SIGKILL'); }
    } finally { t.cleanup(); }
  });
}

test('Ctrl-C when the job ignores SIGINT (a script\'s background job does): killed after the grace period', async () => {
  if (!privileged('run lifetime')) return;
  const t = tempDir();
  try {
    const pidFile = join(t.path, 'pid');
    const r = start(['--', 'sh', '-c', `sleep 60 & echo $! > ${pidFile}; exit 0`]);
    try {
      await eventually(() => /still run, supervised/.test(r.out.stderr), `notice; stderr: ${r.out.stderr}`);
      const sleeper = Number(readFileSync(pidFile, 'utf8'));
      // The shell can exit before its forked job has set SIGINT aside and exec'd sleep (a loaded
      // machine seldom runs the child first): Ctrl-C only once the job is the one that ignores it.
      await eventually(() => ignoresSigint(sleeper), `pid ${sleeper} never became a sleep ignoring SIGINT`);
      r.child.kill('SIGINT');
      const { code } = await r.exit;
      assert.is(code, 0, r.out.stderr);
      assert.match(r.out.stderr, /SIGINT after the command exited: SIGINT to 1 remaining process\(es\)/);
      assert.match(r.out.stderr, /still running 3 s after SIGINT: SIGKILL to 1 remaining process\(es\)/, r.out.stderr);
      assert.ok(ended(sleeper));
    } finally { if (r.child.exitCode === null) r.child.kill('SIGKILL'); }
  } finally { t.cleanup(); }
});

test('--kill-on-exit: what the command left running (a daemonized grandchild too) ends with it; its status is kept', async () => {
  if (!privileged('run lifetime')) return;
  const t = tempDir();
  try {
    const pidFile = join(t.path, 'pid');
    const script = `sleep 60 & (setsid sleep 61 & echo $! >> ${pidFile}) & echo $! >> ${pidFile}; sleep 0.3; exit 3`;
    const r = await runWasmsup(['run', '--kill-on-exit', '--', 'sh', '-c', script]);
    assert.is(r.code, 3, r.stderr);
    assert.match(r.stderr, /--kill-on-exit: SIGKILL to [2-9] remaining process\(es\)/);
    for (const pid of readFileSync(pidFile, 'utf8').trim().split('\n').map(Number)) assert.ok(ended(pid), `pid ${pid} still runs`);
  } finally { t.cleanup(); }
});

test('a command that leaves nothing behind: no notice', async () => {
  const r = await runWasmsup(['run', '--', 'sh', '-c', 'sleep 0.1 & wait; exit 0']);
  assert.is(r.code, 0, r.stderr);
  assert.not.match(r.stderr, /still run/);
});

test.run();
