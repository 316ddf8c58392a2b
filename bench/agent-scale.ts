// `npm run bench:scale [-- --counts 1,20,100] [-- --runs N]`: what a container costs one `wasmsup agent`
// (issue 16's table, last two lines): the agent's memory per served container and the latency of a
// new container's first intercepted call, with 1, 20 and 100 runc containers served at once.
//
// Each container runs `workload first-call 42` (bench/c/workload.c, linked statically into a shared
// read-only busybox rootfs): it times its very first getppid(), which getppid42.wasm answers 42, prints
// the nanoseconds and then waits to be killed, so every container stays served while memory is read.
// Per run and count K: a fresh agent; its proportional set size (PSS: shared pages split between the
// processes sharing them, so helpers forked from the agent are not counted twice) summed over the
// agent and every process it started, read idle and again with K containers served; the difference
// over K is the per-container cost. First-call latency: the first container's (the agent served none
// yet) and the median of the others' (the agent already served one: the issue's "≤ 5 ms" row).
// Root, runc and a static busybox are needed; a benchmark, never a test.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { summarize } from './measure.js';
// The tests' OCI plumbing (bundle layout, the agent's log, the runtime's leftover cgroups), reused
// rather than written twice.
import { AgentProcess, HOST_ID, ID_RANGE, findTool, ociConfig, removeContainerCgroups } from '../test/support/oci.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT = join(ROOT, 'build', 'bench');
const GETPPID42 = join(OUT, 'getppid42.wasm');
const BUSYBOX = '/bin/busybox';
const CONTAINER_TIMEOUT_MS = 60_000;

const { values } = parseArgs({ options: { counts: { type: 'string' }, runs: { type: 'string' } } });
const counts = (values.counts ?? '1,20,100').split(',').map(Number);
const runs = values.runs ? Number(values.runs) : 1;
if (counts.some((k) => !Number.isInteger(k) || k < 1 || k > 500) || !Number.isInteger(runs) || runs < 1) {
  console.error('bench:scale: --counts takes 1..500[,…], --runs a positive integer');
  process.exit(2);
}
if (process.getuid?.() !== 0) { console.error('bench:scale: run as root (runc, user namespaces)'); process.exit(2); }
const runc = findTool('runc');
if (!runc || !existsSync(BUSYBOX)) { console.error('bench:scale: needs runc and a static /bin/busybox'); process.exit(2); }
if (!existsSync(GETPPID42)) { console.error(`bench:scale: ${GETPPID42} is missing (npm run build:policies)`); process.exit(2); }

/** One read-only rootfs every container shares: busybox and the static workload, owned by the namespace's root. */
function makeRootfs(dir: string): string {
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'proc', 'dev', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'));
  execFileSync('gcc', ['-O2', '-Wall', '-Werror', '-static', '-pthread', '-o', join(rootfs, 'bin', 'workload'), join(ROOT, 'bench', 'c', 'workload.c')]);
  for (const f of ['busybox', 'workload']) chmodSync(join(rootfs, 'bin', f), 0o755);
  execFileSync('chown', ['-R', `${HOST_ID}:${HOST_ID}`, rootfs]);
  return rootfs;
}

function bundle(dir: string, rootfs: string, seccomp: unknown): string {
  mkdirSync(dir);
  const config = {
    ociVersion: '1.0.2',
    process: { terminal: false, user: { uid: 0, gid: 0 }, args: ['/bin/workload', 'first-call', '42'], env: ['PATH=/bin'], cwd: '/', noNewPrivileges: true },
    root: { path: rootfs, readonly: true },
    hostname: 'scale',
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
    linux: {
      uidMappings: [{ containerID: 0, hostID: HOST_ID, size: ID_RANGE }],
      gidMappings: [{ containerID: 0, hostID: HOST_ID, size: ID_RANGE }],
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'user' }],
      seccomp,
    },
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

/** `runc run -d` with the container's output in `outFile`; resolves with the ns its first call took. */
async function startContainer(state: string, bundleDir: string, id: string, outFile: string): Promise<number> {
  const out = openSync(outFile, 'w');
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(runc!, ['--root', state, 'run', '-d', '--bundle', bundleDir, id], { stdio: ['ignore', out, out] });
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`runc run ${id} did not return`)); }, CONTAINER_TIMEOUT_MS);
      child.on('error', reject);
      child.on('exit', (c) => { clearTimeout(timer); resolve(c); });
    });
    if (code !== 0) throw new Error(`runc run ${id} failed (${code}): ${readFileSync(outFile, 'utf8').trim()}`);
  } finally {
    closeSync(out);
  }
  const deadline = Date.now() + CONTAINER_TIMEOUT_MS;
  for (;;) {
    const text = readFileSync(outFile, 'utf8');
    const ns = Number(text.split('\n')[0]);
    if (text.includes('\n')) {
      if (!Number.isFinite(ns)) throw new Error(`container ${id}: ${text.trim()}`);
      return ns;
    }
    if (Date.now() > deadline) throw new Error(`container ${id} printed nothing in ${CONTAINER_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function removeContainer(state: string, id: string): void {
  spawnSync(runc!, ['--root', state, 'delete', '-f', id], { stdio: 'ignore' });
}

/** pid and every descendant of it (children by /proc/PID/stat's ppid). */
function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch { /* gone */ }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
  return tree;
}

/** Summed PSS (KiB) of the agent's process tree, its process count and the agent's thread count. */
function agentFootprint(agentPid: number): { pssKiB: number; processes: number; threads: number } {
  let pssKiB = 0;
  const tree = processTree(agentPid);
  for (const pid of tree) {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      if (m) pssKiB += Number(m[1]);
    } catch { /* gone */ }
  }
  const threads = Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${agentPid}/status`, 'utf8'))?.[1] ?? NaN);
  return { pssKiB, processes: tree.length, threads };
}

interface ScaleSample { count: number; firstMs: number; othersMedianMs: number; perContainerMiB: number; idleMiB: number; servedMiB: number; processes: number; threads: number }

async function measure(work: string, rootfs: string, k: number, run: number): Promise<ScaleSample> {
  const dir = mkdtempSync(join(work, `k${k}-`));
  const policies = join(dir, 'policies');
  mkdirSync(policies);
  copyFileSync(GETPPID42, join(policies, 'getppid42.wasm'));
  const socket = join(dir, 'agent.sock'), state = join(dir, 'runc-state');
  const seccomp = ociConfig(policies, socket);
  const agent = new AgentProcess(['--socket', socket, '--policies', policies]);
  const ids: string[] = [];
  try {
    const agentPid = await agent.ready();
    await new Promise((r) => setTimeout(r, 500)); // past the agent's own start-up allocations
    const idle = agentFootprint(agentPid);
    const firstCalls: number[] = [];
    for (let i = 0; i < k; i++) {
      const id = `wasmsup-scale-${process.pid}-${run}-${k}-${i}`;
      ids.push(id);
      firstCalls.push(await startContainer(state, bundle(join(dir, `b${i}`), rootfs, seccomp), id, join(dir, `out${i}`)) / 1e6);
    }
    await new Promise((r) => setTimeout(r, 500));
    const served = agentFootprint(agentPid);
    const others = firstCalls.slice(1);
    return {
      count: k,
      firstMs: firstCalls[0]!,
      othersMedianMs: others.length ? summarize(others).median : NaN,
      perContainerMiB: (served.pssKiB - idle.pssKiB) / k / 1024,
      idleMiB: idle.pssKiB / 1024,
      servedMiB: served.pssKiB / 1024,
      processes: served.processes,
      threads: served.threads,
    };
  } finally {
    for (const id of ids) removeContainer(state, id);
    for (const id of ids) await removeContainerCgroups(id);
    agent.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'wasmsup-bench-scale-'));
  chmodSync(work, 0o755); // the containers' root (host uid 100000) must reach the rootfs
  const results: ScaleSample[] = [];
  try {
    const rootfs = makeRootfs(work);
    for (let r = 0; r < runs; r++) {
      for (const k of counts) {
        process.stderr.write(`bench:scale: run ${r + 1}/${runs}, ${k} container(s)…\n`);
        results.push(await measure(work, rootfs, k, r));
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '—');
  console.log('| containers | PSS per container | agent PSS idle → served | processes | agent threads | first call, first container | first call, others (median) |');
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const k of counts) {
    const of = results.filter((s) => s.count === k);
    const med = (f: (s: ScaleSample) => number) => summarize(of.map(f)).median;
    console.log(`| ${k} | ${fmt(med((s) => s.perContainerMiB), 2)} MiB | ${fmt(med((s) => s.idleMiB))} → ${fmt(med((s) => s.servedMiB))} MiB | ${med((s) => s.processes)} | ${med((s) => s.threads)} | ${fmt(med((s) => s.firstMs), 2)} ms | ${fmt(med((s) => s.othersMedianMs), 2)} ms |`);
  }
  const json = join(OUT, 'scale.json');
  writeFileSync(json, JSON.stringify({ date: new Date().toISOString(), counts, runs, samples: results }, null, 2) + '\n');
  console.log(`\nwrote ${json}`);
}

main().catch((e) => { console.error(`bench:scale: ${(e as Error).message}`); process.exit(1); });
