// The text of the /proc and /sys files the PROC_VIEW primitive (src/emulate/proc-view.ts) hands a
// workload instead of the host's: the host's own file with the figures of the workload's machine
// (src/caller/workload-figures.ts) put in, laid out as the kernel lays it out. lxcfs does the same
// through FUSE (lxc/lxcfs, src/proc_fuse.c); the figures and what is zeroed follow it:
// - meminfo: MemTotal, MemFree, MemAvailable (free + page cache), Cached, Active/Inactive (anon, file),
//   Unevictable, Dirty, Writeback, AnonPages, Mapped, Shmem, AnonHugePages from the memory cgroup;
//   Buffers, SwapCached, Slab, SReclaimable, SUnreclaim, KReclaimable, ShmemHugePages, ShmemPmdMapped
//   0 (the cgroup does not tell them apart); SwapTotal/SwapFree from its swap limit. Only when the
//   limit is below the host's (otherwise the host's lines, as sysinfo then gives the host's figures);
// - cpuinfo: the blocks of the visible cpus, renumbered from 0;
// - stat: one line per visible cpu (cpu0..), user and system time of the cgroup spread over them,
//   idle the rest of the workload's uptime; the other lines (intr, ctxt, btime, ...) the host's —
//   btime too, which ps needs to date processes;
// - uptime: the workload's uptime, and the idle time of the visible cpus;
// - loadavg: the workload's load averages, runnable/total tasks, the host's last pid;
// - swaps: one "none virtual" line of the cgroup's swap limit (none when it is 0);
// - /sys/devices/system/cpu/online: 0-(N-1) for N visible cpus (glibc's sysconf(_SC_NPROCESSORS_ONLN)
//   reads it: Python's os.cpu_count(), OpenMP, ...).
import { CLOCK_TICKS_PER_SECOND } from '../caller/workload.js';
import { KeptFiles } from '../caller/kept-files.js';
import { FIGURES_TTL_MS, parseCpuList, type CpuFigures, type MemoryFigures, type WorkloadFigures } from '../caller/workload-figures.js';

/** The views, by the PROC_VIEW operand's number (docs/policy-abi.md, section 4). */
export const ProcView = { MEMINFO: 1, CPUINFO: 2, STAT: 3, UPTIME: 4, LOADAVG: 5, SWAPS: 6, CPU_ONLINE: 7 } as const;
export const PROC_VIEW_NAMES: readonly string[] = ['', 'meminfo', 'cpuinfo', 'stat', 'uptime', 'loadavg', 'swaps', 'cpu-online'];
/** How long the host's /proc/cpuinfo is reused: generating it asks every cpu for its clock (an IPI each). */
const CPUINFO_TTL_MS = 10_000;
/**
 * How long the host's /proc/meminfo is reused for the lines a limited workload is shown from the host
 * (Mlocked, Committed_AS, Vmalloc*, HugePages_*, ...): reading it costs 20 µs, a fifth of an open.
 */
const HOST_MEMINFO_TTL_MS = 1000;

const kib = (bytes: number) => Math.floor(Math.max(0, bytes) / 1024);
/** A meminfo line as the kernel prints it: "Key:" padded to 16 columns, the value to 8, " kB". */
const meminfoLine = (key: string, bytes: number) => `${(key + ':').padEnd(16)}${String(kib(bytes)).padStart(8)} kB`;

/** The figure a limited workload's meminfo shows for `key`, or undefined for the host's line. */
function meminfoValue(key: string, m: MemoryFigures): number | undefined {
  if (m.swapLimited) {
    if (key === 'SwapTotal') return m.swapTotal;
    if (key === 'SwapFree') return m.swapFree;
  }
  if (!m.ramLimited) return undefined;
  switch (key) {
    case 'MemTotal': return m.total;
    case 'MemFree': return m.free;
    case 'MemAvailable': return m.available;
    case 'Cached': return m.cached;
    case 'Active': return m.activeAnon + m.activeFile;
    case 'Inactive': return m.inactiveAnon + m.inactiveFile;
    case 'Active(anon)': return m.activeAnon;
    case 'Inactive(anon)': return m.inactiveAnon;
    case 'Active(file)': return m.activeFile;
    case 'Inactive(file)': return m.inactiveFile;
    case 'Unevictable': return m.unevictable;
    case 'Dirty': return m.dirty;
    case 'Writeback': return m.writeback;
    case 'AnonPages': return Math.max(0, m.activeAnon + m.inactiveAnon - m.shared);
    case 'Mapped': return m.mapped;
    case 'Shmem': return m.shared;
    case 'AnonHugePages': return m.anonHuge;
    case 'Buffers': case 'SwapCached': case 'KReclaimable': case 'Slab': case 'SReclaimable': case 'SUnreclaim':
    case 'ShmemHugePages': case 'ShmemPmdMapped':
      return 0;
    default: return undefined;
  }
}

export class ProcViews {
  private readonly files = new KeptFiles(8);
  private cpuinfo = '';
  private cpuinfoAtMs = -Infinity;
  private hostMeminfo = '';
  private hostMeminfoAtMs = -Infinity;
  /** The last limited meminfo and what it was made of: the same figures object and host text give the same view. */
  private lastMeminfo = { figures: null as MemoryFigures | null, hostAtMs: -Infinity, text: '' };
  private hostMeminfoLines: string[] = [];
  private hostMeminfoKeys: string[] = [];

  constructor(private readonly figures: WorkloadFigures) {}

  dispose(): void {
    this.files.close();
  }

  /** The text of `view` for caller `tid`. */
  render(view: number, tid: number): string {
    switch (view) {
      case ProcView.MEMINFO: return this.meminfo(tid);
      case ProcView.CPUINFO: return this.cpuinfoView(tid);
      case ProcView.STAT: return this.stat(tid);
      case ProcView.UPTIME: return this.uptime(tid);
      case ProcView.LOADAVG: return this.loadavg();
      case ProcView.SWAPS: return this.swaps(tid);
      case ProcView.CPU_ONLINE: return this.cpuOnline(tid);
      default: throw new RangeError(`unknown view ${view}`);
    }
  }

  private host(path: string): string {
    const text = this.files.read(path);
    if (text === null) throw new Error(`cannot read ${path}`);
    return text;
  }

  private meminfo(tid: number): string {
    const w = this.figures, m = w.memory(tid, w.hostFigures());
    const now = Date.now();
    if (!m.ramLimited && !m.swapLimited) {
      // The host's figures: its file, as fresh as the figures sysinfo gives (FIGURES_TTL_MS).
      if (now - this.hostMeminfoAtMs >= FIGURES_TTL_MS) this.setHostMeminfo(this.host('/proc/meminfo'), now);
      return this.hostMeminfo;
    }
    if (now - this.hostMeminfoAtMs >= HOST_MEMINFO_TTL_MS) this.setHostMeminfo(this.host('/proc/meminfo'), now);
    // WorkloadFigures hands out one figures object per cgroup and snapshot (FIGURES_TTL_MS): the same
    // object over the same host text is the same view, so the text is not assembled again.
    const last = this.lastMeminfo;
    if (last.figures === m && last.hostAtMs === this.hostMeminfoAtMs) return last.text;
    const lines = this.hostMeminfoLines, keys = this.hostMeminfoKeys;
    const out = new Array<string>(lines.length);
    for (let i = 0; i < lines.length; i++) {
      const value = meminfoValue(keys[i]!, m);
      out[i] = value === undefined ? lines[i]! : meminfoLine(keys[i]!, value);
    }
    last.figures = m;
    last.hostAtMs = this.hostMeminfoAtMs;
    last.text = out.join('\n');
    return last.text;
  }

  /** Keeps the host's meminfo, split into lines and their keys once (not per open). */
  private setHostMeminfo(text: string, now: number): void {
    this.hostMeminfo = text;
    this.hostMeminfoAtMs = now;
    this.hostMeminfoLines = text.split('\n');
    this.hostMeminfoKeys = this.hostMeminfoLines.map((l) => l.slice(0, Math.max(0, l.indexOf(':'))));
  }

  private hostCpuinfo(): string {
    const now = Date.now();
    if (now - this.cpuinfoAtMs >= CPUINFO_TTL_MS) {
      this.cpuinfo = this.host('/proc/cpuinfo');
      this.cpuinfoAtMs = now;
    }
    return this.cpuinfo;
  }

  private cpuinfoView(tid: number): string {
    const { cpus } = this.figures.cpu(tid);
    const byCpu = new Map<number, string>();
    const others: string[] = [];
    for (const block of this.hostCpuinfo().split('\n\n')) {
      const m = /^processor\s*:\s*(\d+)/.exec(block);
      if (m) byCpu.set(Number(m[1]), block);
      else if (block.trim() !== '') others.push(block);
    }
    const shown: string[] = [];
    cpus.forEach((cpu, index) => {
      const block = byCpu.get(cpu);
      if (block !== undefined) shown.push(block.replace(/^(processor\s*:\s*)\d+/, `$1${index}`));
    });
    return [...shown, ...others].join('\n\n') + '\n\n';
  }

  /** Per visible cpu: [user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice] in ticks. */
  private cpuTimes(cpu: CpuFigures, hostStat: string): number[][] {
    const n = cpu.cpus.length;
    if (cpu.userTicks !== null && cpu.systemTicks !== null) {
      const uptimeTicks = Math.floor(this.figures.uptime() * CLOCK_TICKS_PER_SECOND);
      const user = Math.floor(cpu.userTicks / n), system = Math.floor(cpu.systemTicks / n);
      const idle = Math.max(0, uptimeTicks - user - system);
      return cpu.cpus.map(() => [user, 0, system, idle, 0, 0, 0, 0, 0, 0]);
    }
    // The caller's cpu time is the host's (its accounting cgroup is the root): the host's lines of the visible cpus.
    const byCpu = new Map<number, number[]>();
    for (const line of hostStat.split('\n')) {
      const m = /^cpu(\d+) (.*)$/.exec(line);
      if (m) byCpu.set(Number(m[1]), m[2]!.split(' ').map(Number));
    }
    return cpu.cpus.map((c) => byCpu.get(c) ?? [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  }

  private stat(tid: number): string {
    const hostStat = this.host('/proc/stat');
    const times = this.cpuTimes(this.figures.cpu(tid), hostStat);
    const total = new Array<number>(10).fill(0);
    for (const t of times) for (let i = 0; i < 10; i++) total[i]! += t[i] ?? 0;
    const out = [`cpu  ${total.join(' ')}`, ...times.map((t, i) => `cpu${i} ${t.join(' ')}`)];
    for (const line of hostStat.split('\n')) if (line !== '' && !line.startsWith('cpu')) out.push(line);
    return out.join('\n') + '\n';
  }

  private uptime(tid: number): string {
    const w = this.figures;
    const cpu = w.cpu(tid);
    let idle: number;
    if (cpu.userTicks !== null) {
      idle = this.cpuTimes(cpu, '').reduce((sum, t) => sum + t[3]!, 0) / CLOCK_TICKS_PER_SECOND;
    } else {
      // The host's idle time, for the share of its cpus the caller sees.
      const online = this.host('/sys/devices/system/cpu/online');
      const hostCpus = Math.max(1, parseCpuList(online).length);
      idle = w.hostUptime()[1] * Math.min(1, cpu.cpus.length / hostCpus);
    }
    return `${w.uptime().toFixed(2)} ${idle.toFixed(2)}\n`;
  }

  private loadavg(): string {
    const { loads, running, total } = this.figures.loadAverages();
    const hostLoadavg = this.host('/proc/loadavg').trim();
    const lastPid = hostLoadavg.slice(hostLoadavg.lastIndexOf(' ') + 1);
    return `${loads.map((l) => l.toFixed(2)).join(' ')} ${running}/${total} ${lastPid}\n`;
  }

  private swaps(tid: number): string {
    const text = this.host('/proc/swaps');
    const w = this.figures, m = w.memory(tid, w.hostFigures());
    if (!m.swapLimited) return text;
    const header = text.slice(0, text.indexOf('\n') + 1);
    if (m.swapTotal <= 0) return header;
    return `${header}${'none'.padEnd(40)}virtual\t\t${kib(m.swapTotal)}\t\t${kib(m.swapTotal - m.swapFree)}\t\t0\n`;
  }

  private cpuOnline(tid: number): string {
    const n = this.figures.cpu(tid).cpus.length;
    return n <= 1 ? '0\n' : `0-${n - 1}\n`;
  }
}
