// Attack: a workload wedges its own supervisor. The impersonator the privileged helper keeps for a
// caller identity (native/helper.c) runs with the caller's ids in the caller's user namespace, so
// the caller can see it in /proc (a shared pid namespace) and SIGSTOP it. The workload does exactly
// that between two emulated mknod calls that take the helper's exact path (a namespace root creating
// in a 0755 directory of another namespace uid: the worker's fast path, without CAP_DAC_OVERRIDE, is
// refused, test/mknod.test.ts). `wasmsup run` must still finish, the wedged call must get an errno,
// and the next call must be served by a fresh impersonator.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runWasmsup, tempDir, POLICY, type Result } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';

const NS_ROOT = 100000;

/** Kills a process the workload named, if it is still a wasmsup-helper (checked by its pid only). */
function killIfHelper(pid: number): void {
  try {
    if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'wasmsup-helper') return;
    process.kill(pid, 'SIGKILL');
  } catch { /* gone */ }
}

const WORKLOAD = String.raw`
import os, signal, stat, sys
d = sys.argv[1]
def mknod(name):
    try:
        os.mknod(os.path.join(d, name), stat.S_IFCHR | 0o666, os.makedev(1, 3)); return "0"
    except OSError as e:
        return str(e.errno)
print("first", mknod("first"), flush=True)
victims = []
for p in os.listdir("/proc"):
    if not p.isdigit() or int(p) == os.getpid(): continue
    try:
        # Its uid line, read as this namespace sees it: ours (the impersonator took on our ids).
        uids = [l for l in open("/proc/%s/status" % p) if l.startswith("Uid:")][0].split()[1:]
        if open("/proc/%s/comm" % p).read().strip() == "wasmsup-helper" and uids == ["0"] * 4:
            victims.append(int(p))
    except OSError:
        pass
print("victims", " ".join(map(str, victims)), flush=True)
for v in victims: os.kill(v, signal.SIGSTOP)
print("second", mknod("second"), flush=True)
print("victims-alive", sum(1 for v in victims if os.path.exists("/proc/%d" % v) and open("/proc/%d/stat" % v).read().split(") ")[1][0] != "Z"), flush=True)
print("third", mknod("third"), flush=True)
`;

test('a workload SIGSTOPs its impersonator mid-call: the call fails with an errno, the run finishes, the next call is served', async () => {
  if (!privileged('wedged impersonator')) return;
  const t = tempDir();
  // The namespace root's rootfs-like directory, and in it a 0755 directory of namespace uid 1000.
  chmodSync(t.path, 0o755);
  chownSync(t.path, NS_ROOT, NS_ROOT);
  const other = join(t.path, 'other');
  mkdirSync(other);
  chmodSync(other, 0o755);
  chownSync(other, NS_ROOT + 1000, NS_ROOT + 1000);
  let r: Result | null = null;
  let failure: Error | null = null;
  try {
    r = await runWasmsup(['run', '--userns', '--policy', POLICY('mknod'), '--', 'python3', '-c', WORKLOAD, other], { timeoutMs: 30000 });
  } catch (e) {
    failure = e as Error;
  } finally {
    const text = r?.stdout ?? failure?.message ?? '';
    for (const pid of /^victims ([\d ]*)$/m.exec(text)?.[1]?.split(' ').filter(Boolean).map(Number) ?? []) killIfHelper(pid);
  }
  try {
    if (failure) throw failure;
    const out = r!.stdout;
    assert.is(r!.code, 0, r!.stderr);
    assert.match(out, /^first 0$/m, out);
    assert.match(out, /^victims \d+/m, `the workload found no impersonator to stop:\n${out}`);
    const second = /^second (\d+)$/m.exec(out)?.[1];
    assert.ok(second !== undefined && second !== '0', `the wedged call must fail with an errno:\n${out}`);
    assert.not.ok(existsSync(join(other, 'second')));
    assert.match(out, /^victims-alive 0$/m, `the wedged impersonator must be killed:\n${out}`);
    assert.match(out, /^third 0$/m, `the next call must be served by a new impersonator:\n${out}\n${r!.stderr}`);
    assert.ok(existsSync(join(other, 'third')));
  } finally { t.cleanup(); }
});

test.run();
