// `npm run bench [-- --quick] [-- --runs N]`: the per-notification cost of wasmsup side by side with
// what else answers a syscall — no filter, a kernel-only filter, a minimal C supervisor, strace —
// plus mknod emulation, throughput by thread count, start-up and peak RSS. One small C workload
// (bench/c/workload.c) times N getppid() calls under each. Samples are interleaved (run 1 of every
// row, then run 2, …) so a noisy stretch of the machine spreads over all rows instead of one.
// Prints a table and writes build/bench/results.json and build/bench/latency.svg. Must run as root
// (the user-namespace and mknod rows); a benchmark, never a test.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { msUntilConnectable, peakRssMiB, runForNumbers, runForWallTime, summarize, type Sample, type Summary } from './measure.js';
import { printTable, writeSvg, type Row, type Target } from './report.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT = join(ROOT, 'build', 'bench');
const WASMSUP = [join(ROOT, 'bin', 'wasmsup')];
const GETPPID42 = join(OUT, 'getppid42.wasm');
const MKNOD_POLICY = join(ROOT, 'build', 'policies', 'mknod.wasm');
const PROC_VIEW_POLICY = join(ROOT, 'build', 'policies', 'proc-view.wasm');
const SYSINFO_POLICY = join(ROOT, 'build', 'policies', 'sysinfo.wasm');
/** The memory limit of the proc-view rows' cgroup, and the MemTotal line the view must show for it. */
const VIEW_LIMIT = 1024 * 1024 * 1024;
const VIEW_MEMTOTAL = `MemTotal:        ${VIEW_LIMIT / 1024} kB`;
const NS_ROOT = 100000;

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, runs: { type: 'string' } } });
const quick = Boolean(values.quick);
const runs = values.runs ? Number(values.runs) : quick ? 3 : 7;
if (!Number.isInteger(runs) || runs < 1) { console.error('bench: --runs must be a positive integer'); process.exit(2); }
// Calls per sample: enough for ~0.5 s of a supervised row; strace and the non-sync loop are ~10x slower.
const N = quick ? 20_000 : 100_000;
const N_FAST = N * 10;
const N_SLOW = N / 5;
const N_MKNOD = quick ? 2_000 : 10_000;
const N_OPEN = quick ? 1_000 : 5_000;
if (process.getuid?.() !== 0) { console.error('bench: run as root (user namespaces, mknod as root)'); process.exit(2); }

function compile(): { workload: string; mini: string; miniMknod: string } {
  mkdirSync(OUT, { recursive: true });
  const workload = join(OUT, 'workload'), mini = join(OUT, 'mini-supervisor');
  execFileSync('gcc', ['-O2', '-Wall', '-Werror', '-pthread', '-o', workload, join(ROOT, 'bench', 'c', 'workload.c')]);
  execFileSync('gcc', ['-O2', '-Wall', '-Werror', '-o', mini, join(ROOT, 'bench', 'c', 'mini-supervisor.c')]);
  const miniMknod = join(OUT, 'mini-mknod-emulator');
  execFileSync('gcc', ['-O2', '-Wall', '-Werror', '-o', miniMknod, join(ROOT, 'bench', 'c', 'mini-mknod-emulator.c')]);
  return { workload, mini, miniMknod };
}

/** Up to ten policy files for the RSS row: every built policy except those made to fail, repeated. */
function tenPolicies(): string[] {
  // getppid42.wasm first: the row counts on it (below), and the shipped policies alone fill ten.
  const found: string[] = [GETPPID42];
  for (const dir of ['build/policies', 'build/bench', 'build/test-policies']) {
    const full = join(ROOT, dir);
    if (!existsSync(full)) continue;
    for (const f of readdirSync(full).sort()) if (f.endsWith('.wasm') && f !== 'trap.wasm' && join(full, f) !== GETPPID42) found.push(join(full, f));
  }
  const ten = Array.from({ length: 10 }, (_, i) => found[i % found.length]!);
  // The RSS row counts on getppid42.wasm being among them (see the row).
  if (!ten.includes(GETPPID42)) throw new Error(`bench: ${GETPPID42} is not among the ten policies of the RSS row`);
  return ten;
}

interface Scenario {
  id: string;
  label: string;
  unit: 'ns/call' | 'ns/pair' | 'calls/s' | 'ms' | 'MiB';
  sample: () => Sample | Promise<Sample>;
  /** Use the second printed number (calls/s) instead of the first. */
  second?: boolean;
  /** Not part of the per-call table's ratio column (different unit or different workload). */
  group: 'latency' | 'mknod' | 'proc-view' | 'throughput' | 'startup' | 'rss';
}

function scenarios(workload: string, mini: string, miniMknod: string, dirs: BenchDirs & { viewPrefix: string[] }): Scenario[] {
  const getppid = (n: number, threads: number, expect: string) => [workload, 'getppid', String(n), String(threads), expect];
  const getpid = (n: number) => [workload, 'getpid', String(n), '1', 'any'];
  const wasmsup = (...args: string[]) => [...WASMSUP, 'run', ...args, '--'];
  const list: Scenario[] = [
    { id: 'a', label: '(a) no filter', unit: 'ns/call', group: 'latency', sample: () => runForNumbers(getppid(N_FAST, 1, 'any')) },
    { id: 'b', label: '(b) kernel-only filter (RET_ERRNO)', unit: 'ns/call', group: 'latency', sample: () => runForNumbers([mini, 'errno', '--', ...getppid(N_FAST, 1, '-1')]) },
    { id: 'c', label: '(c) minimal C supervisor', unit: 'ns/call', group: 'latency', sample: () => runForNumbers([mini, 'notify', '--', ...getppid(N_SLOW, 1, '42')]) },
    { id: 'c-sync', label: '(c) minimal C supervisor, SYNC_WAKE_UP', unit: 'ns/call', group: 'latency', sample: () => runForNumbers([mini, 'notify-sync', '--', ...getppid(N, 1, '42')]) },
    { id: 'd', label: '(d) strace -e inject=getppid:retval=42', unit: 'ns/call', group: 'latency', sample: () => runForNumbers(['strace', '-f', '-qq', '-o', '/dev/null', '-e', 'trace=getppid', '-e', 'inject=getppid:retval=42', ...getppid(N_SLOW, 1, '42')]) },
    { id: 'e', label: '(e) wasmsup, getppid42.wasm', unit: 'ns/call', group: 'latency', sample: () => runForNumbers([...wasmsup('--policy', GETPPID42), ...getppid(N, 1, '42')]) },
    { id: 'e-nosync', label: '(e) wasmsup --no-sync-wake-up', unit: 'ns/call', group: 'latency', sample: () => runForNumbers([...wasmsup('--no-sync-wake-up', '--policy', GETPPID42), ...getppid(N_SLOW, 1, '42')]) },
    // A call the filter lets through: getpid, which neither filter intercepts.
    { id: 'g-b', label: 'getpid, allowed by (b)\'s filter', unit: 'ns/call', group: 'latency', sample: () => runForNumbers([mini, 'errno', '--', ...getpid(N_FAST)]) },
    { id: 'g', label: 'getpid, not intercepted under wasmsup', unit: 'ns/call', group: 'latency', sample: () => runForNumbers([...wasmsup('--policy', GETPPID42), ...getpid(N_FAST)]) },
    { id: 'f-kernel', label: '(f) mknod+unlink, kernel, as root', unit: 'ns/pair', group: 'mknod', sample: () => runForNumbers([workload, 'mknod', dirs.kernel, String(N_MKNOD * 10)]) },
    { id: 'f-wasmsup', label: '(f) mknod+unlink, wasmsup --userns, mknod.wasm', unit: 'ns/pair', group: 'mknod', sample: () => runForNumbers([...wasmsup('--userns', '--policy', MKNOD_POLICY), workload, 'mknod', dirs.userns, String(N_MKNOD)]) },
    // The same emulation steps in C with no policy and no JavaScript: the floor of this design (bench/c/mini-mknod-emulator.c).
    { id: 'f-c', label: '(f) mknod+unlink, minimal C emulator, same steps', unit: 'ns/pair', group: 'mknod', sample: () => runForNumbers([miniMknod, '--', workload, 'mknod', dirs.userns, String(N_MKNOD)]) },
    // The same three on a tmpfs: the disk file system's own variance (journal, writeback by other
    // users of the machine) out of the comparison.
    { id: 'f-kernel-tmpfs', label: '(f) mknod+unlink, kernel, as root, tmpfs', unit: 'ns/pair', group: 'mknod', sample: () => runForNumbers([workload, 'mknod', dirs.kernelTmpfs, String(N_MKNOD * 10)]) },
    { id: 'f-wasmsup-tmpfs', label: '(f) mknod+unlink, wasmsup --userns, mknod.wasm, tmpfs', unit: 'ns/pair', group: 'mknod', sample: () => runForNumbers([...wasmsup('--userns', '--policy', MKNOD_POLICY), workload, 'mknod', dirs.usernsTmpfs, String(N_MKNOD)]) },
    { id: 'f-c-tmpfs', label: '(f) mknod+unlink, minimal C emulator, tmpfs', unit: 'ns/pair', group: 'mknod', sample: () => runForNumbers([miniMknod, '--', workload, 'mknod', dirs.usernsTmpfs, String(N_MKNOD)]) },
    // Both in a cgroup with a 1 GiB memory limit: the view is the limited one (MemTotal checked).
    { id: 'p-kernel', label: '(p) open+read+close /proc/meminfo, kernel', unit: 'ns/call', group: 'proc-view', sample: () => runForNumbers([...dirs.viewPrefix, workload, 'openread', '/proc/meminfo', String(N_OPEN * 5), 'MemTotal']) },
    { id: 'p-wasmsup', label: '(p) the same, wasmsup, proc-view.wasm (1 GiB cgroup)', unit: 'ns/call', group: 'proc-view', sample: () => runForNumbers([...dirs.viewPrefix, ...wasmsup('--policy', PROC_VIEW_POLICY), workload, 'openread', '/proc/meminfo', String(N_OPEN), VIEW_MEMTOTAL]) },
    // sysinfo(2) under the sysinfo policy (the workload's memory from the same cgroup, its uptime, its task count) against the kernel's.
    { id: 's-kernel', label: '(s) sysinfo, kernel', unit: 'ns/call', group: 'proc-view', sample: () => runForNumbers([...dirs.viewPrefix, workload, 'sysinfo', String(N_OPEN * 5)]) },
    { id: 's-wasmsup', label: '(s) sysinfo, wasmsup, sysinfo.wasm (1 GiB cgroup)', unit: 'ns/call', group: 'proc-view', sample: () => runForNumbers([...dirs.viewPrefix, ...wasmsup('--policy', SYSINFO_POLICY), workload, 'sysinfo', String(N_OPEN)]) },
  ];
  for (const threads of [1, 2, 8]) {
    list.push({ id: `t${threads}-c`, label: `throughput, ${threads} thread(s), C supervisor (sync)`, unit: 'calls/s', group: 'throughput', second: true, sample: () => runForNumbers([mini, 'notify-sync', '--', ...getppid(N / threads, threads, '42')]) });
    list.push({ id: `t${threads}-e`, label: `throughput, ${threads} thread(s), wasmsup`, unit: 'calls/s', group: 'throughput', second: true, sample: () => runForNumbers([...wasmsup('--policy', GETPPID42), ...getppid(N / threads, threads, '42')]) });
  }
  list.push(
    { id: 'startup-node', label: 'start-up: node -e 0', unit: 'ms', group: 'startup', sample: () => runForWallTime([process.execPath, '-e', '0']) },
    { id: 'startup-wasmsup', label: 'start-up: wasmsup run -- true', unit: 'ms', group: 'startup', sample: () => runForWallTime([...wasmsup(), 'true']) },
    // The data plane starts with the first intercepted call: with a policy but no such call, and
    // then with one (workload getppid 1 1: its 0.1 s warm-up included), what the first call pays.
    { id: 'startup-policy', label: 'start-up: wasmsup run --policy getppid42.wasm -- true', unit: 'ms', group: 'startup', sample: () => runForWallTime([...wasmsup('--policy', GETPPID42), 'true']) },
    { id: 'startup-first-call', label: 'start-up + first call: … -- workload getppid 1 1 42', unit: 'ms', group: 'startup', sample: () => runForWallTime([...wasmsup('--policy', GETPPID42), ...getppid(1, 1, '42')]) },
    { id: 'startup-first-call-c', label: 'the same workload alone', unit: 'ms', group: 'startup', sample: () => runForWallTime(getppid(1, 1, 'any')) },
    // What a runtime starting a container meanwhile sees: the agent listens before it loads its
    // policies (src/oci/early.ts), and connections wait in the backlog until they are in force.
    { id: 'agent-ready', label: 'agent: exec → connectable socket (shipped policies)', unit: 'ms', group: 'startup', sample: () => msUntilConnectable([...WASMSUP, 'agent', '--socket', dirs.agentSocket, '--policies', join(ROOT, 'build', 'policies')], dirs.agentSocket) },
    // `hold` makes a getppid first, which getppid42.wasm (one of the ten) answers: the data plane is
    // running when the RSS is read, not flattered by the lazy start.
    { id: 'rss', label: 'peak RSS, 10 policies loaded, data plane running', unit: 'MiB', group: 'rss', sample: () => peakRssMiB([...wasmsup(...tenPolicies().flatMap((p) => ['--policy', p])), workload, 'hold']) },
  );
  return list;
}

function machine() {
  const cpu = cpus();
  let spectreV2 = 'unknown';
  // Syscall entry cost, hence every row, depends on the mitigations the kernel runs with.
  try { spectreV2 = readFileSync('/sys/devices/system/cpu/vulnerabilities/spectre_v2', 'utf8').trim(); } catch { /* not exposed */ }
  return { kernel: release(), cpu: cpu[0]?.model ?? 'unknown', cores: cpu.length, node: process.version, spectreV2 };
}

/** A memory cgroup with a VIEW_LIMIT limit (v1 memory controller or cgroup2) and a prefix that starts a command in it. */
function makeViewCgroup(): { prefix: string[]; cleanup: () => void } {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' - '));
  const v1 = mounts.find(([, right]) => right?.startsWith('cgroup ') && right.split(' ')[2]?.split(',').includes('memory'));
  const v2 = mounts.find(([, right]) => right?.startsWith('cgroup2 '));
  const mountPoint = (v1 ?? v2)?.[0]?.split(' ')[4];
  if (!mountPoint) throw new Error('bench: the proc-view rows need a memory cgroup hierarchy');
  const dir = join(mountPoint, `wasmsup-bench-view-${process.pid}`);
  mkdirSync(dir);
  writeFileSync(join(dir, v1 ? 'memory.limit_in_bytes' : 'memory.max'), String(VIEW_LIMIT));
  return {
    prefix: ['sh', '-c', 'echo $$ > "$0" && exec "$@"', join(dir, 'cgroup.procs')],
    cleanup: () => {
      for (let i = 0; i < 200; i++) {
        try { rmdirSync(dir); return; } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EBUSY') throw e;
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
        }
      }
    },
  };
}

interface BenchDirs { kernel: string; userns: string; kernelTmpfs: string; usernsTmpfs: string; agentSocket: string; cleanup: () => void }

function makeDirs(): BenchDirs {
  const kernel = mkdtempSync(join(tmpdir(), 'wasmsup-bench-kernel-'));
  const userns = mkdtempSync(join(tmpdir(), 'wasmsup-bench-userns-'));
  const agent = mkdtempSync(join(tmpdir(), 'wasmsup-bench-agent-'));
  const tmpfs = mkdtempSync(join(tmpdir(), 'wasmsup-bench-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=755', 'wasmsup-bench', tmpfs]);
  const kernelTmpfs = join(tmpfs, 'kernel'), usernsTmpfs = join(tmpfs, 'userns');
  mkdirSync(kernelTmpfs);
  mkdirSync(usernsTmpfs);
  // Owned by the namespace's root, as a container's rootfs would be.
  for (const d of [userns, usernsTmpfs]) {
    chmodSync(d, 0o755);
    chownSync(d, NS_ROOT, NS_ROOT);
  }
  return {
    kernel, userns, kernelTmpfs, usernsTmpfs, agentSocket: join(agent, 'agent.sock'),
    cleanup: () => {
      execFileSync('umount', [tmpfs]);
      for (const d of [kernel, userns, agent, tmpfs]) rmSync(d, { recursive: true, force: true });
    },
  };
}

async function main(): Promise<void> {
  const { workload, mini, miniMknod } = compile();
  const dirs = makeDirs();
  const viewCgroup = makeViewCgroup();
  const list = scenarios(workload, mini, miniMknod, { ...dirs, viewPrefix: viewCgroup.prefix });
  const samples = new Map<string, number[]>(list.map((s) => [s.id, []]));
  const started = Date.now();
  try {
    for (let r = 0; r < runs; r++) {
      process.stderr.write(`bench: run ${r + 1}/${runs}…\n`);
      for (const s of list) {
        const sample = await s.sample();
        samples.get(s.id)!.push(s.second ? sample.second! : sample.value);
      }
    }
  } finally {
    dirs.cleanup();
    viewCgroup.cleanup();
  }
  const summaries = new Map<string, Summary>(list.map((s) => [s.id, summarize(samples.get(s.id)!)]));
  const med = (id: string) => summaries.get(id)!.median;
  // Each round ran every row once, back to back: a slow stretch of the shared machine weighs on the
  // rows of its round alike, so the median of each round's own figure is steadier than the figure of
  // the medians. Printed beside it; the verdict stays on the medians.
  const byRound = (f: (at: (id: string) => number) => number) =>
    summarize(Array.from({ length: runs }, (_, r) => f((id) => samples.get(id)![r]!))).median;
  const pairedRatio = (a: string, b: string) => byRound((at) => at(a) / at(b));
  const firstCallOver = (at: (id: string) => number) => at('startup-first-call') - at('startup-first-call-c') - at('startup-node');
  const rows: Row[] = list.map((s) => ({ id: s.id, label: s.label, unit: s.unit, group: s.group, ...summaries.get(s.id)! }));

  const targets: Target[] = [
    { name: '(e) / (c, SYNC_WAKE_UP)', value: med('e') / med('c-sync'), limit: 1.2, unit: '×', met: med('e') / med('c-sync') <= 1.2, paired: pairedRatio('e', 'c-sync') },
    // Issue 16: throughput at least 0.85 × the C supervisor's, at every thread count.
    ...[1, 2, 8].map((t) => ({
      name: `throughput, ${t} thread(s): wasmsup / C`, value: med(`t${t}-e`) / med(`t${t}-c`), limit: 0.85, unit: '× (at least)',
      met: med(`t${t}-e`) / med(`t${t}-c`) >= 0.85, paired: pairedRatio(`t${t}-e`, `t${t}-c`),
    })),
    { name: '(d) / (e)', value: med('d') / med('e'), limit: 10, unit: '× (at least)', met: med('d') / med('e') >= 10 },
    { name: 'non-intercepted / (b)', value: med('g') / med('g-b'), limit: 1.05, unit: '×', met: med('g') / med('g-b') <= 1.05 },
    { name: '(f) wasmsup / kernel', value: med('f-wasmsup') / med('f-kernel'), limit: 3, unit: '×', met: med('f-wasmsup') / med('f-kernel') <= 3 },
    { name: '(p) proc-view open / kernel open', value: med('p-wasmsup') / med('p-kernel'), limit: 10, unit: '×', met: med('p-wasmsup') / med('p-kernel') <= 10 },
    // Not a target of the issue: how close the design's floor (the same steps in C) comes to it.
    { name: '(f) minimal C emulator / kernel (the floor)', value: med('f-c') / med('f-kernel'), limit: 3, unit: '×', met: med('f-c') / med('f-kernel') <= 3, informational: true },
    { name: '(f) wasmsup / minimal C emulator', value: med('f-wasmsup') / med('f-c'), limit: 1, unit: '×', met: true, informational: true },
    { name: '(f) on tmpfs: wasmsup / minimal C emulator', value: med('f-wasmsup-tmpfs') / med('f-c-tmpfs'), limit: 1.25, unit: '×', met: med('f-wasmsup-tmpfs') / med('f-c-tmpfs') <= 1.25, paired: pairedRatio('f-wasmsup-tmpfs', 'f-c-tmpfs') },
    { name: '(s) sysinfo per call under the sysinfo policy', value: med('s-wasmsup') / 1000, limit: 20, unit: 'µs', met: med('s-wasmsup') <= 20_000 },
    { name: 'start-up − node -e 0', value: med('startup-wasmsup') - med('startup-node'), limit: 50, unit: 'ms', met: med('startup-wasmsup') - med('startup-node') <= 50 },
    // Issue 16: what `run` adds to a workload's first call, Node's own start aside.
    {
      name: 'run: start-up + first call − the workload alone − node -e 0', value: firstCallOver(med), limit: 60, unit: 'ms',
      met: firstCallOver(med) <= 60, paired: byRound(firstCallOver),
    },
    { name: 'peak RSS, 10 policies', value: med('rss'), limit: 80, unit: 'MiB', met: med('rss') <= 80 },
    { name: 'agent: exec → connectable socket', value: med('agent-ready'), limit: 50, unit: 'ms', met: med('agent-ready') <= 50 },
    // What of that is Node's own start (node -e 0 exits about when its bootstrap is done).
    { name: 'agent: exec → connectable socket − node -e 0', value: med('agent-ready') - med('startup-node'), limit: 50, unit: 'ms', met: true, informational: true },
  ];

  printTable(rows, med('c-sync'), targets);
  const results = {
    date: new Date().toISOString(),
    seconds: Math.round((Date.now() - started) / 1000),
    machine: machine(),
    params: { runs, quick, callsPerSample: { default: N, fast: N_FAST, slow: N_SLOW, mknod: N_MKNOD, open: N_OPEN } },
    baseline: 'c-sync',
    rows: rows.map((r) => ({ ...r, ratioToBaseline: r.group === 'latency' ? r.median / med('c-sync') : undefined })),
    targets,
  };
  const json = join(OUT, 'results.json');
  writeFileSync(json, JSON.stringify(results, null, 2) + '\n');
  const svg = join(OUT, 'latency.svg');
  writeSvg(svg, rows.filter((r) => r.group === 'latency'));
  console.log(`\nwrote ${json} and ${svg} (${results.seconds} s)`);
}

main().catch((e) => { console.error(`bench: ${(e as Error).message}`); process.exit(1); });
