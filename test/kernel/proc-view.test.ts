// The proc-view policy end to end with real tools (procps free, uptime, top; coreutils nproc; Python;
// a JVM when installed), in a workload placed in cgroups of its own with a memory limit, a cpu quota
// and a cpuset: what /proc and /sys show is the cgroup's machine, and agrees with sysinfo(2) (the
// sysinfo policy beside it). Without the policies the same tools show the host.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { runWasmsup, tempDir, POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { sections } from '../support/script-sections.js';

const LIMIT = 256 * 1024 * 1024;
const PYTHON = '/usr/bin/python3';
const V1 = '/sys/fs/cgroup';
const CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'cpuset'] as const;
const POLICIES = ['--policy', POLICY('proc-view'), '--policy', POLICY('sysinfo')];

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Whether this host has the v1 controllers the limits are set in (a hybrid host, as the test VM). */
function v1Controllers(): boolean {
  return CONTROLLERS.every((c) => existsSync(join(V1, c, 'cgroup.procs')));
}

interface Limits { cpus: string; quotaUs: number }

/** Cgroups NAME in the v1 memory, cpu, cpuacct and cpuset hierarchies with `limits`; a prefix that moves the supervisor (and so its workload) into all of them. */
function limitedCgroups(name: string, limits: Limits): { prefix: string[]; remove: () => void } {
  const dirs = CONTROLLERS.map((c) => join(V1, c, name));
  for (const d of dirs) mkdirSync(d);
  writeFileSync(join(V1, 'memory', name, 'memory.limit_in_bytes'), String(LIMIT));
  writeFileSync(join(V1, 'cpu', name, 'cpu.cfs_period_us'), '100000');
  writeFileSync(join(V1, 'cpu', name, 'cpu.cfs_quota_us'), String(limits.quotaUs));
  writeFileSync(join(V1, 'cpuset', name, 'cpuset.cpus'), limits.cpus);
  writeFileSync(join(V1, 'cpuset', name, 'cpuset.mems'), readFileSync(join(V1, 'cpuset', 'cpuset.mems'), 'utf8').trim());
  return {
    prefix: ['sh', '-c', 'for f in $0; do echo $$ > "$f"; done && exec "$@"', dirs.map((d) => join(d, 'cgroup.procs')).join(' ')],
    remove() {
      for (const d of dirs) {
        for (let i = 0; ; i++) {
          try { rmdirSync(d); break; } catch (e) {
            const code = (e as NodeJS.ErrnoException).code;
            if (code === 'ENOENT') break;
            if (code !== 'EBUSY' || i >= 200) throw e;
            sleepMs(10);
          }
        }
      }
    },
  };
}

const SCRIPT = [
  'echo "== meminfo"; cat /proc/meminfo',
  'echo "== free"; free -b',
  'echo "== uptime"; uptime',
  'echo "== proc-uptime"; cat /proc/uptime',
  'echo "== nproc"; nproc',
  'echo "== online"; cat /sys/devices/system/cpu/online',
  'echo "== cpuinfo"; grep -c ^processor /proc/cpuinfo',
  'echo "== stat"; grep ^cpu /proc/stat',
  'echo "== loadavg"; cat /proc/loadavg',
  'echo "== swaps"; cat /proc/swaps',
  'echo "== top"; top -bn1 | head -5',
  `echo "== python"; ${PYTHON} -c 'import os; print(os.cpu_count(), len(os.sched_getaffinity(0)), os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), open("/proc/meminfo").readline().split()[1])'`,
  `echo "== relative"; ${PYTHON} -c 'import os; d = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY); print(os.read(os.open("meminfo", os.O_RDONLY, dir_fd=d), 64).split()[1].decode()); print(open("/proc/self/../meminfo").readline().split()[1]); print(open("/proc//./meminfo").readline().split()[1])'`,
].join('; ');

const kb = (text: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(text)?.[1]);

test('without the policies: the host\'s memory and cpus', async () => {
  if (!privileged('proc-view baseline', v1Controllers() ? null : 'needs the v1 memory, cpu, cpuacct and cpuset controllers')) return;
  const cg = limitedCgroups(`wasmsup-procview-base-${process.pid}`, { cpus: '0', quotaUs: 50000 });
  try {
    const r = await runWasmsup(['run', '--', 'sh', '-c', SCRIPT], { prefix: cg.prefix });
    assert.is(r.code, 0, r.stderr);
    const s = sections(r.stdout);
    assert.is(kb(s.meminfo!, 'MemTotal') * 1024, totalmem());
    assert.ok(kb(s.meminfo!, 'MemTotal') * 1024 > LIMIT);
  } finally { cg.remove(); }
});

test('proc-view + sysinfo, memory limit, cpuset of one cpu: free, uptime, nproc, top, Python and /proc report the limits', async () => {
  if (!privileged('proc-view limits', v1Controllers() ? null : 'needs the v1 memory, cpu, cpuacct and cpuset controllers')) return;
  const cg = limitedCgroups(`wasmsup-procview-${process.pid}`, { cpus: '1', quotaUs: -1 });
  try {
    const r = await runWasmsup(['run', ...POLICIES, '--', 'sh', '-c', SCRIPT], { prefix: cg.prefix });
    assert.is(r.code, 0, r.stderr);
    const s = sections(r.stdout);
    // /proc/meminfo's MemTotal is the limit, as sysinfo's totalram is (Python's SC_PHYS_PAGES is
    // glibc's sysinfo), and MemFree/MemAvailable are within it.
    assert.is(kb(s.meminfo!, 'MemTotal') * 1024, LIMIT, s.meminfo);
    assert.ok(kb(s.meminfo!, 'MemFree') * 1024 < LIMIT && kb(s.meminfo!, 'MemAvailable') * 1024 <= LIMIT, s.meminfo);
    assert.is(kb(s.meminfo!, 'Buffers'), 0);
    const [cpuCount, affinity, physBytes, pyMemTotal] = s.python!.trim().split(' ').map(Number);
    assert.is(physBytes, LIMIT, s.python);
    assert.is(pyMemTotal! * 1024, LIMIT);
    // free: total is the limit, used sane (the cgroup's usage less its page cache: not 18 EB).
    const mem = /^Mem:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$/m.exec(s.free!);
    assert.ok(mem, s.free);
    const [total, used, free] = [Number(mem![1]), Number(mem![2]), Number(mem![3])];
    assert.is(total, LIMIT, s.free);
    assert.ok(used > 0 && used < LIMIT && free > 0 && free <= LIMIT, s.free);
    // uptime: since the workload started, seconds ago.
    assert.match(s.uptime!, / up 0 min, /);
    const [up, idle] = s['proc-uptime']!.trim().split(' ').map(Number);
    assert.ok(up! >= 0 && up! < 60 && idle! >= 0, s['proc-uptime']);
    // One cpu: the kernel's affinity (nproc, sched_getaffinity) and every view agree.
    assert.is(s.nproc!.trim(), '1');
    assert.is(s.online!.trim(), '0');
    assert.is(s.cpuinfo!.trim(), '1');
    assert.is(cpuCount, 1);
    assert.is(affinity, 1);
    const statCpus = s.stat!.trim().split('\n').map((l) => l.split(' ')[0]);
    assert.equal(statCpus, ['cpu', 'cpu0']);
    assert.match(s.loadavg!, /^\d+\.\d\d \d+\.\d\d \d+\.\d\d \d+\/\d+ \d+\n$/);
    assert.is(s.swaps!.split('\n')[0]!.split(/\s+/)[0], 'Filename');
    assert.match(s.top!, /MiB Mem :\s+256\.0 total/);
    assert.match(s.top!, /up 0 min/);
    // The same name through a dirfd of /proc, /proc/self/.., and //./
    assert.equal(s.relative!.trim().split('\n').map(Number), [LIMIT / 1024, LIMIT / 1024, LIMIT / 1024]);
  } finally { cg.remove(); }
});

test('proc-view, a cpu quota of one cpu over a cpuset of two: the views show one cpu (the kernel\'s affinity still two)', async () => {
  const twoCpus = readFileSync('/sys/devices/system/cpu/online', 'utf8').trim() === '0-1';
  if (!privileged('proc-view quota', !v1Controllers() ? 'needs the v1 controllers' : twoCpus ? null : 'needs exactly cpus 0-1 online')) return;
  const cg = limitedCgroups(`wasmsup-procview-quota-${process.pid}`, { cpus: '0-1', quotaUs: 100000 });
  try {
    const r = await runWasmsup(['run', ...POLICIES, '--', 'sh', '-c', SCRIPT], { prefix: cg.prefix });
    assert.is(r.code, 0, r.stderr);
    const s = sections(r.stdout);
    assert.is(s.online!.trim(), '0');
    assert.is(s.cpuinfo!.trim(), '1');
    assert.is(Number(s.python!.split(' ')[0]), 1, s.python); // os.cpu_count(): glibc reads .../cpu/online
    // sched_getaffinity is the kernel's: PROC_VIEW does not emulate it.
    assert.is(s.nproc!.trim(), '2');
  } finally { cg.remove(); }
});

test('a JVM without its own cgroup reading (-XX:-UseContainerSupport) sizes its default heap from the limit', async () => {
  const hasJava = existsSync('/usr/bin/java');
  if (!privileged('proc-view java', !v1Controllers() ? 'needs the v1 controllers' : hasJava ? null : 'needs a JVM (apt-get install default-jre-headless)')) return;
  const cg = limitedCgroups(`wasmsup-procview-java-${process.pid}`, { cpus: '0', quotaUs: -1 });
  try {
    const r = await runWasmsup(['run', ...POLICIES, '--', 'sh', '-c', 'java -XX:-UseContainerSupport -XX:+PrintFlagsFinal -version 2>/dev/null | grep -w MaxHeapSize'], { prefix: cg.prefix, timeoutMs: 90_000 });
    assert.is(r.code, 0, r.stderr);
    const heap = Number(/MaxHeapSize\s*=\s*(\d+)/.exec(r.stdout)?.[1]);
    // The JVM's default for a machine this small: half the memory it sees (glibc's sysinfo: the
    // sysinfo policy), not a quarter of the host's.
    assert.ok(heap > 0 && heap <= LIMIT / 2, r.stdout);
  } finally { cg.remove(); }
});

test('write access to a view is EACCES; O_CLOEXEC is the caller\'s; the fd is a sealed memfd, not procfs', async () => {
  if (!privileged('proc-view flags')) return;
  const py = [
    'import os, fcntl, errno',
    'for flags in (os.O_WRONLY, os.O_RDWR, os.O_RDONLY | os.O_TRUNC):',
    '    try: os.open("/proc/meminfo", flags); print("opened")',
    '    except OSError as e: print(errno.errorcode[e.errno])',
    // Python opens with O_CLOEXEC; the shell redirection below without.
    'a = os.open("/proc/meminfo", os.O_RDONLY)',
    'print(bool(fcntl.fcntl(a, fcntl.F_GETFD) & fcntl.FD_CLOEXEC))',
    'print(os.readlink("/proc/self/fd/%d" % a), fcntl.fcntl(a, fcntl.F_GET_SEALS) & 15, fcntl.fcntl(a, fcntl.F_GETFL) & 3)',
    'print(os.fstat(a).st_dev != os.stat("/proc/self").st_dev)',
  ].join('\n');
  const r = await runWasmsup(['run', '--policy', POLICY('proc-view'), '--', 'sh', '-c', `${PYTHON} -c '${py}' && exec 3</proc/meminfo && grep ^flags /proc/self/fdinfo/3`]);
  assert.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.slice(0, 6), ['EACCES', 'EACCES', 'EACCES', 'True', '/memfd:wasmsup-meminfo (deleted) 15 0', 'True']);
  // The shell's fd 3 (no O_CLOEXEC asked) survived exec into grep, read-only.
  const flags = parseInt(lines[6]!.split(/\s+/)[1]!, 8);
  assert.is(flags & 0o2000003, 0, lines[6]);
});

test('configuration: only the files named are served; a name it does not know is refused at start', async () => {
  if (!privileged('proc-view config')) return;
  const dir = tempDir();
  try {
    const config = join(dir.path, 'proc-view.json');
    writeFileSync(config, '{"files": ["/proc/uptime"]}');
    const r = await runWasmsup(['run', '--policy', POLICY('proc-view'), '--policy-config', config, '--', PYTHON, '-c',
      'import os; print(os.readlink("/proc/self/fd/%d" % os.open("/proc/uptime", 0))); print(os.readlink("/proc/self/fd/%d" % os.open("/proc/meminfo", 0)))']);
    assert.is(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n'), ['/memfd:wasmsup-uptime (deleted)', '/proc/meminfo']);
    writeFileSync(config, '{"files": ["/proc/vmstat"]}');
    const bad = await runWasmsup(['run', '--policy', POLICY('proc-view'), '--policy-config', config, '--', 'true']);
    assert.is(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /files\[0\]: "\/proc\/vmstat" is not one of/);
  } finally { dir.cleanup(); }
});

test.run();
