// The workload's machine as its own cgroups make it: memory and swap, uptime, task count and load,
// cpus and cpu time. One computation for every door a workload asks through — sysinfo(2)
// (src/emulate/sysinfo.ts) and the generated /proc and /sys files (src/emulate/proc-views.ts) — so the
// same numbers come out of both. The figures follow lxcfs (lxc/lxcfs, src/proc_fuse.c,
// proc_cpuview.c, proc_loadavg.c) where it has an answer:
// - memory: the caller's memory cgroup. v1: hierarchical_memory_limit / _memsw_limit of memory.stat
//   (the smallest on the way up), usage_in_bytes, memsw.usage_in_bytes; cgroup2: the smallest
//   memory.max / memory.swap.max on the way up, memory.current, memory.swap.current; page cache,
//   active/inactive, dirty, mapped, shmem from memory.stat. Used only when the limit is below the
//   host's RAM (and swap likewise), as the kernel could never give more than it has;
// - uptime: since the workload's first process started (WorkloadInfo.startTicks);
// - cpus: the caller's cpuset (effective cpus), cut to ceil(quota / period) of the cpu controller
//   (cfs_quota_us/cfs_period_us or cpu.max, the smallest on the way up), at least one;
// - cpu time: the caller's cpuacct.stat (v1) or cpu.stat (cgroup2) user and system time, spread evenly
//   over the visible cpus; idle is what is left of the uptime on each;
// - tasks: pids.current of the workload's own cgroup when it has one (a container), else one scan of
//   /proc for the workload's processes, kept for TASKS_TTL_MS (see TaskCounter);
// - load: the kernel's exponential averages of the workload's runnable and uninterruptible tasks, one
//   sample per LOAD_INTERVAL_S, taken lazily when a figure is asked for (no thread, no timer).
// Every file is kept open and re-read with pread (src/caller/kept-files.ts): a sysinfo costs
// microseconds, not the milliseconds a walk of /proc takes.
import { readFileSync } from 'node:fs';
import { native } from '../native.js';
import { KeptFiles } from './kept-files.js';
import {
  CLOCK_TICKS_PER_SECOND, cgroupMounts, hostPath, workloadProcesses, type CgroupMount, type WorkloadInfo,
} from './workload.js';

/** A v1 limit at or above this is "no limit" (the kernel shows PAGE_COUNTER_MAX pages, ~2^63). */
const UNLIMITED = 2 ** 62;
/** How long a /proc scan's task count is reused when the workload shares a cgroup (run). */
export const TASKS_TTL_MS = 1000;
/**
 * How long a caller's cgroups (/proc/TID/cgroup, 12 µs to read) are reused: a task moves between
 * cgroups rarely, and a view a second late is what a cgroup move racing an open gives anyway.
 */
export const CGROUPS_TTL_MS = 1000;
/**
 * How long a cgroup's memory.stat is reused (by sysinfo and the views alike, so they still agree): it
 * costs 20 µs to generate on v1, more than the rest of a sysinfo answer, and its counters are the
 * kernel's batched per-cpu figures, themselves up to a second old (vm.stat_interval, memcg's stats
 * flush).
 */
export const MEMORY_STAT_TTL_MS = 250;
/**
 * How long the rest of the figures read per answer — the host's sysinfo(2), /proc/uptime, a memory
 * cgroup's limits and usage — are reused, by sysinfo and the views alike (so they still agree): reading
 * them costs ~20 µs an answer (each cgroup file 3–6 µs, /proc/uptime 10 µs on this VM), reusing them
 * ~0.2 µs. 10 ms is far inside the kernel's own batching: the free-page and memcg counters are per-cpu
 * deltas folded every second (vm.stat_interval) or at a threshold, memcg charges go in per-cpu batches
 * of 64 pages, so no workload can rely on a figure fresher than that. Uptime is not held still: it is
 * carried forward on the monotonic clock from the last read.
 */
export const FIGURES_TTL_MS = 10;
/** The kernel samples the load every 5 s (LOAD_FREQ). */
export const LOAD_INTERVAL_S = 5;
const LOAD_DECAY = [Math.exp(-LOAD_INTERVAL_S / 60), Math.exp(-LOAD_INTERVAL_S / 300), Math.exp(-LOAD_INTERVAL_S / 900)];
// native.sysinfo() slots.
const S = { loads: 1, totalram: 4, freeram: 5, sharedram: 6, bufferram: 7, totalswap: 8, freeswap: 9, procs: 10, totalhigh: 11, freehigh: 12, memUnit: 13 } as const;

/** A cgroup directory (host path) and its hierarchy's version. */
export interface CgroupDir {
  version: 1 | 2; dir: string;
  /** Where its hierarchy is mounted (walks up stop there), and whether dir is that root. */
  mount: string; root: boolean;
}

/** The caller's cgroups, as far as the figures need them. */
export interface CallerCgroups { memory: CgroupDir | null; cpuset: CgroupDir | null; cpu: CgroupDir | null; cpuacct: CgroupDir | null }

/** The host's sysinfo(2), in bytes. */
export interface HostFigures {
  totalram: number; freeram: number; sharedram: number; bufferram: number;
  totalswap: number; freeswap: number; totalhigh: number; freehigh: number; procs: number;
  /** Raw load averages (scaled by 1 << 16, as sysinfo gives them). */
  loads: [number, number, number];
}

/** Memory as the caller's cgroup makes it, in bytes. */
export interface MemoryFigures {
  /** RAM figures are the cgroup's (its limit is below the host's RAM); otherwise the rest is unused. */
  ramLimited: boolean;
  total: number; free: number; available: number; shared: number; cached: number;
  activeAnon: number; inactiveAnon: number; activeFile: number; inactiveFile: number;
  unevictable: number; dirty: number; writeback: number; mapped: number; anonHuge: number;
  /** Swap figures are the cgroup's (its swap limit is below the host's swap). */
  swapLimited: boolean;
  swapTotal: number; swapFree: number;
}

/** Cpus and cpu time as the caller's cgroups make them. */
export interface CpuFigures {
  /** The host cpus the caller is shown (its cpuset, cut to its quota), in order. */
  cpus: number[];
  /** Cpu time of the caller's cpu accounting cgroup, in clock ticks; null when it is the hierarchy's root (the host's own). */
  userTicks: number | null; systemTicks: number | null;
}

/** "0-3,8,10-11" → [0, 1, 2, 3, 8, 10, 11]. */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(',')) {
    if (part === '') continue;
    const dash = part.indexOf('-');
    const from = Number(dash < 0 ? part : part.slice(0, dash)), to = dash < 0 ? from : Number(part.slice(dash + 1));
    if (!Number.isInteger(from) || !Number.isInteger(to) || to < from || to - from > 65536) continue;
    for (let c = from; c <= to; c++) out.push(c);
  }
  return out;
}

/** A directory without its trailing slash ("/sys/fs/cgroup/cpu/" of the root cgroup → "/sys/fs/cgroup/cpu"). */
function withoutSlash<T extends string | null>(dir: T): T {
  return (dir !== null && dir.length > 1 && dir.endsWith('/') ? dir.slice(0, -1) : dir) as T;
}

/** The value of `key` in a "key value" per line file (memory.stat, cpu.stat), or null. */
export function statValue(text: string, key: string): number | null {
  let at = 0;
  for (;;) {
    at = text.indexOf(key, at);
    if (at < 0) return null;
    if ((at === 0 || text.charCodeAt(at - 1) === 10) && text.charCodeAt(at + key.length) === 32) {
      const end = text.indexOf('\n', at);
      const n = Number(text.slice(at + key.length + 1, end < 0 ? undefined : end));
      return Number.isFinite(n) ? n : null;
    }
    at += key.length;
  }
}

function numberOf(text: string | null): number | null {
  if (text === null) return null;
  const t = text.trim();
  if (t === 'max') return Infinity;
  const n = Number(t);
  return t !== '' && Number.isFinite(n) ? n : null;
}

/** The figures of one workload; one per data-plane worker. */
export class WorkloadFigures {
  private readonly files = new KeptFiles(96);
  /** /proc/TID/cgroup of callers: a separate set, so that many callers do not push out the cgroup files. */
  private readonly callerFiles = new KeptFiles(32);
  /** The cgroup mounts, read on first use (not at the worker's start, which every workload pays). */
  private mountsRead: CgroupMount[] | null = null;
  private readonly cgroupsByText = new Map<string, CallerCgroups>();
  /** Callers' cgroups as last read, and when (CGROUPS_TTL_MS). */
  private readonly cgroupsByTid = new Map<number, { cgroups: CallerCgroups; atMs: number }>();
  private readonly host = new Float64Array(14);
  /** The last hostFigures() and hostUptime() reads, and when (performance.now() ms; FIGURES_TTL_MS). */
  private hostRead: HostFigures | null = null;
  private hostReadAtMs = -Infinity;
  private uptimeRead: [number, number] = [0, 0];
  private uptimeReadAtMs = -Infinity;
  /** Memory figures by memory cgroup directory, for the host snapshot they were computed against. */
  private readonly memoryByDir = new Map<string, { figures: MemoryFigures; host: HostFigures; atMs: number }>();
  private readonly memoryStats = new Map<string, { text: string; atMs: number }>();
  private tasksCounter: TaskCounter | null = null;
  private readonly loads = [0, 0, 0];
  private loadSampledAt = -1;

  constructor(readonly workload: WorkloadInfo) {}

  private get mounts(): CgroupMount[] {
    return (this.mountsRead ??= cgroupMounts());
  }

  private get tasks(): TaskCounter {
    return (this.tasksCounter ??= new TaskCounter(this.workload, this.files));
  }

  /** Closes the files it keeps (the worker's end). */
  dispose(): void {
    this.files.close();
    this.callerFiles.close();
  }

  /** The host's own sysinfo(2), in bytes, at most FIGURES_TTL_MS old. Shared: callers must not change it. */
  hostFigures(): HostFigures {
    const now = performance.now();
    if (this.hostRead !== null && now - this.hostReadAtMs < FIGURES_TTL_MS) return this.hostRead;
    native.sysinfo(this.host);
    const h = this.host, unit = h[S.memUnit]! || 1;
    this.hostReadAtMs = now;
    return (this.hostRead = {
      totalram: h[S.totalram]! * unit, freeram: h[S.freeram]! * unit, sharedram: h[S.sharedram]! * unit,
      bufferram: h[S.bufferram]! * unit, totalswap: h[S.totalswap]! * unit, freeswap: h[S.freeswap]! * unit,
      totalhigh: h[S.totalhigh]! * unit, freehigh: h[S.freehigh]! * unit, procs: h[S.procs]!,
      loads: [h[S.loads]!, h[S.loads + 1]!, h[S.loads + 2]!],
    });
  }

  /**
   * The host's uptime and idle time in seconds (/proc/uptime). Read at most every FIGURES_TTL_MS; in
   * between, uptime is the last read carried forward on the monotonic clock (the two differ only by a
   * suspend inside those milliseconds), idle is the last read.
   */
  hostUptime(): [number, number] {
    const now = performance.now();
    if (now - this.uptimeReadAtMs >= FIGURES_TTL_MS) {
      const text = this.files.read('/proc/uptime') ?? '0 0';
      const space = text.indexOf(' ');
      this.uptimeRead = [Number(text.slice(0, space)), Number(text.slice(space + 1))];
      this.uptimeReadAtMs = now;
    }
    return [this.uptimeRead[0] + (now - this.uptimeReadAtMs) / 1000, this.uptimeRead[1]];
  }

  /** Seconds since the workload's first process started (fractional), never negative. */
  uptime(): number {
    return Math.max(0, this.hostUptime()[0] - this.workload.startTicks / CLOCK_TICKS_PER_SECOND);
  }

  /** The workload's tasks (threads, as sysinfo's procs counts them). */
  taskCount(): number {
    return this.tasks.count();
  }

  /**
   * The workload's load averages (as numbers of tasks, not scaled), and its runnable and total tasks
   * at the last sample. Sampled at most every LOAD_INTERVAL_S; intervals no one asked in are decayed
   * with the sample taken now, as if it had held since (the best a lazy sampler can do).
   */
  loadAverages(): { loads: [number, number, number]; running: number; total: number } {
    // Seconds on the monotonic clock: only the intervals between samples matter.
    const now = performance.now() / 1000;
    if (this.loadSampledAt < 0 || now - this.loadSampledAt >= LOAD_INTERVAL_S) {
      const intervals = this.loadSampledAt < 0 ? 1 : Math.min(1000, Math.floor((now - this.loadSampledAt) / LOAD_INTERVAL_S));
      const active = this.tasks.sampleActive();
      for (let i = 0; i < 3; i++) {
        const decay = LOAD_DECAY[i]! ** intervals;
        this.loads[i] = this.loads[i]! * decay + active * (1 - decay);
      }
      this.loadSampledAt = this.loadSampledAt < 0 ? now : this.loadSampledAt + intervals * LOAD_INTERVAL_S;
    }
    return { loads: [this.loads[0]!, this.loads[1]!, this.loads[2]!], running: this.tasks.lastActive, total: this.tasks.count() };
  }

  /** The cgroups of caller `tid`; null when it is gone. */
  cgroupsOf(tid: number): CallerCgroups | null {
    const now = Date.now();
    const known = this.cgroupsByTid.get(tid);
    if (known !== undefined && now - known.atMs < CGROUPS_TTL_MS) return known.cgroups;
    const text = this.callerFiles.read(`/proc/${tid}/cgroup`);
    if (text === null) return null;
    let found = this.cgroupsByText.get(text);
    if (found === undefined) {
      found = this.resolveCgroups(text);
      if (this.cgroupsByText.size >= 64) this.cgroupsByText.clear();
      this.cgroupsByText.set(text, found);
    }
    if (this.cgroupsByTid.size >= 256) this.cgroupsByTid.clear();
    this.cgroupsByTid.set(tid, { cgroups: found, atMs: now });
    return found;
  }

  /**
   * Memory of caller `tid` as its memory cgroup limits it; `host` from hostFigures(). A cgroup's
   * figures are computed once per host snapshot (FIGURES_TTL_MS) and shared: callers must not change them.
   */
  memory(tid: number, host: HostFigures): MemoryFigures {
    const cg = this.cgroupsOf(tid)?.memory;
    if (!cg || cg.root) return this.memoryOf(null, host);
    const now = performance.now();
    const known = this.memoryByDir.get(cg.dir);
    if (known !== undefined && known.host === host && now - known.atMs < FIGURES_TTL_MS) return known.figures;
    const figures = this.memoryOf(cg, host);
    if (this.memoryByDir.size >= 64) this.memoryByDir.clear();
    this.memoryByDir.set(cg.dir, { figures, host, atMs: now });
    return figures;
  }

  /** memory() computed now, from the files of memory cgroup `cg` (null: none, or the hierarchy's root). */
  private memoryOf(cg: CgroupDir | null, host: HostFigures): MemoryFigures {
    const m: MemoryFigures = {
      ramLimited: false, total: host.totalram, free: host.freeram, available: host.freeram, shared: host.sharedram,
      cached: 0, activeAnon: 0, inactiveAnon: 0, activeFile: 0, inactiveFile: 0, unevictable: 0, dirty: 0,
      writeback: 0, mapped: 0, anonHuge: 0,
      swapLimited: false, swapTotal: host.totalswap, swapFree: host.freeswap,
    };
    if (!cg || cg.root) return m;
    let stat = '';
    let ramLimit: number, ramUsage: number, swapLimit: number, swapUsage: number;
    const v1 = cg.version === 1, key = (k1: string, k2: string) => statValue(stat, v1 ? k1 : k2) ?? 0;
    if (v1) {
      // The smallest limit on the way up is what memory.stat's hierarchical_memory_limit shows; the
      // small limit files are read first (1 µs each) so that memory.stat (20 µs) is read only when
      // there is a limit to report.
      let limit = Infinity, memsw = Infinity;
      for (let dir = cg.dir, depth = 0; depth < 256; depth++) {
        const l = numberOf(this.files.read(`${dir}/memory.limit_in_bytes`));
        if (l === null) break;
        limit = Math.min(limit, l);
        // Without swap on the host there is no swap figure to narrow: the memsw files are not read.
        if (host.totalswap > 0) memsw = Math.min(memsw, numberOf(this.files.read(`${dir}/memory.memsw.limit_in_bytes`)) ?? Infinity);
        if (dir === cg.mount) break;
        dir = dir.slice(0, dir.lastIndexOf('/'));
      }
      ramLimit = limit >= UNLIMITED ? Infinity : limit;
      if (!(ramLimit < host.totalram) && !(memsw < UNLIMITED)) return m;
      stat = this.memoryStat(cg.dir);
      ramUsage = numberOf(this.files.read(`${cg.dir}/memory.usage_in_bytes`)) ?? 0;
      const memswUsage = host.totalswap > 0 ? numberOf(this.files.read(`${cg.dir}/memory.memsw.usage_in_bytes`)) : null;
      // memsw counts memory + swap: what swap may hold is the difference of the two limits.
      swapLimit = memsw >= UNLIMITED || ramLimit === Infinity ? Infinity : Math.max(0, memsw - ramLimit);
      swapUsage = memswUsage === null ? 0 : Math.max(0, memswUsage - ramUsage);
    } else {
      ramLimit = Infinity; swapLimit = Infinity;
      // A limit anywhere above applies too; walk up to the mount's root (which has no memory.max).
      for (let dir = cg.dir, depth = 0; depth < 256; depth++) {
        const max = numberOf(this.files.read(`${dir}/memory.max`));
        if (max === null) break;
        ramLimit = Math.min(ramLimit, max);
        swapLimit = Math.min(swapLimit, numberOf(this.files.read(`${dir}/memory.swap.max`)) ?? Infinity);
        if (dir === cg.mount) break;
        dir = dir.slice(0, dir.lastIndexOf('/'));
      }
      if (!(ramLimit < host.totalram) && !(swapLimit < host.totalswap)) return m;
      stat = this.memoryStat(cg.dir);
      ramUsage = numberOf(this.files.read(`${cg.dir}/memory.current`)) ?? 0;
      swapUsage = numberOf(this.files.read(`${cg.dir}/memory.swap.current`)) ?? 0;
    }
    if (ramLimit < host.totalram) {
      const cached = key('total_cache', 'file');
      m.ramLimited = true;
      m.total = ramLimit;
      m.free = Math.max(0, ramLimit - ramUsage);
      // As lxcfs: what is free plus the page cache, which the cgroup can reclaim.
      m.available = Math.min(ramLimit, m.free + cached);
      m.shared = Math.min(key('total_shmem', 'shmem'), ramLimit);
      m.cached = cached;
      m.activeAnon = key('total_active_anon', 'active_anon');
      m.inactiveAnon = key('total_inactive_anon', 'inactive_anon');
      m.activeFile = key('total_active_file', 'active_file');
      m.inactiveFile = key('total_inactive_file', 'inactive_file');
      m.unevictable = key('total_unevictable', 'unevictable');
      m.dirty = key('total_dirty', 'file_dirty');
      m.writeback = key('total_writeback', 'file_writeback');
      m.mapped = key('total_mapped_file', 'file_mapped');
      m.anonHuge = key('total_rss_huge', 'anon_thp');
    }
    if (swapLimit < host.totalswap) {
      m.swapLimited = true;
      m.swapTotal = swapLimit;
      m.swapFree = Math.max(0, swapLimit - swapUsage);
    }
    return m;
  }

  /** memory.stat of cgroup `dir`, reused for MEMORY_STAT_TTL_MS. */
  private memoryStat(dir: string): string {
    const now = Date.now();
    const known = this.memoryStats.get(dir);
    if (known !== undefined && now - known.atMs < MEMORY_STAT_TTL_MS) return known.text;
    const text = this.files.read(`${dir}/memory.stat`) ?? '';
    if (this.memoryStats.size >= 64) this.memoryStats.clear();
    this.memoryStats.set(dir, { text, atMs: now });
    return text;
  }

  /** Cpus and cpu time of caller `tid`. */
  cpu(tid: number): CpuFigures {
    const cgs = this.cgroupsOf(tid);
    const online = parseCpuList(this.files.read('/sys/devices/system/cpu/online') ?? '0');
    let cpus = online;
    const cpuset = cgs?.cpuset;
    if (cpuset) {
      const text = this.files.read(`${cpuset.dir}/${cpuset.version === 1 ? 'cpuset.effective_cpus' : 'cpuset.cpus.effective'}`);
      const set = text === null ? [] : parseCpuList(text);
      if (set.length > 0) cpus = set;
    }
    const quota = cgs?.cpu ? this.cpuQuota(cgs.cpu) : Infinity;
    if (quota < cpus.length) cpus = cpus.slice(0, Math.max(1, Math.ceil(quota)));
    let userTicks: number | null = null, systemTicks: number | null = null;
    const acct = cgs?.cpuacct;
    if (acct && !acct.root) {
      if (acct.version === 1) {
        const stat = this.files.read(`${acct.dir}/cpuacct.stat`) ?? '';
        userTicks = statValue(stat, 'user'); systemTicks = statValue(stat, 'system');
      } else {
        const stat = this.files.read(`${acct.dir}/cpu.stat`) ?? '';
        const perTick = 1e6 / CLOCK_TICKS_PER_SECOND;
        const user = statValue(stat, 'user_usec'), system = statValue(stat, 'system_usec');
        userTicks = user === null ? null : Math.floor(user / perTick);
        systemTicks = system === null ? null : Math.floor(system / perTick);
      }
    }
    return { cpus, userTicks, systemTicks };
  }

  /** quota / period of the cpu controller, the smallest on the way up; Infinity without a quota. */
  private cpuQuota(cg: CgroupDir): number {
    let best = Infinity;
    for (let dir = cg.dir, depth = 0; depth < 256; depth++) {
      if (cg.version === 1) {
        const quota = numberOf(this.files.read(`${dir}/cpu.cfs_quota_us`));
        const period = numberOf(this.files.read(`${dir}/cpu.cfs_period_us`));
        if (quota === null || period === null) break;
        if (quota > 0 && period > 0) best = Math.min(best, quota / period);
      } else {
        const text = this.files.read(`${dir}/cpu.max`);
        if (text === null) break;
        const [quota, period] = text.trim().split(' ');
        const q = Number(quota), p = Number(period);
        if (quota !== 'max' && q > 0 && p > 0) best = Math.min(best, q / p);
      }
      if (dir === cg.mount) break;
      dir = dir.slice(0, dir.lastIndexOf('/'));
    }
    return best;
  }

  private resolveCgroups(text: string): CallerCgroups {
    const out: CallerCgroups = { memory: null, cpuset: null, cpu: null, cpuacct: null };
    let unifiedPath: string | null = null;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const first = line.indexOf(':'), second = line.indexOf(':', first + 1);
      const path = line.slice(second + 1);
      if (line.slice(0, first) === '0') { unifiedPath = path; continue; }
      for (const controller of line.slice(first + 1, second).split(',')) {
        if (controller !== 'memory' && controller !== 'cpuset' && controller !== 'cpu' && controller !== 'cpuacct') continue;
        const mount = this.mounts.find((m) => m.fstype === 'cgroup' && m.superOptions.includes(controller));
        const dir = mount ? withoutSlash(hostPath(mount, path)) : null;
        const top = mount ? withoutSlash(mount.mountPoint) : '';
        if (dir !== null) out[controller] = { version: 1, dir, mount: top, root: dir === top };
      }
    }
    const mount2 = this.mounts.find((m) => m.fstype === 'cgroup2');
    const dir2 = mount2 && unifiedPath !== null ? withoutSlash(hostPath(mount2, unifiedPath)) : null;
    if (mount2 && dir2 !== null) {
      // A controller absent from v1 may be enabled in cgroup2 (a pure cgroup2 host).
      const top = withoutSlash(mount2.mountPoint);
      const v2: CgroupDir = { version: 2, dir: dir2, mount: top, root: dir2 === top };
      const has = (file: string) => this.files.read(`${dir2}/${file}`) !== null;
      if (!out.memory && (v2.root || has('memory.current'))) out.memory = v2;
      if (!out.cpuset && has('cpuset.cpus.effective')) out.cpuset = v2;
      if (!out.cpu && has('cpu.max')) out.cpu = v2;
      if (!out.cpuacct && has('cpu.stat')) out.cpuacct = v2;
    }
    return out;
  }
}

/**
 * The workload's task count. When the workload has a cgroup of its own — neither the supervisor's nor
 * one of its ancestors: a container's — its pids.current is exact and costs one pread. Otherwise (run,
 * whose workload shares the supervisor's cgroup) only a walk of /proc tells the workload's tasks apart
 * (2–5 ms), so its count is kept for TASKS_TTL_MS: sysinfo's procs is a snapshot anyway, and the
 * kernel's own load figures are 5 s old.
 */
class TaskCounter {
  private readonly pidsCurrent: string | null;
  private readonly ownTasksFile: string | null;
  private scannedAtMs = -Infinity;
  private scannedTasks = 0;
  private scannedActive = 0;
  lastActive = 0;

  constructor(private readonly workload: WorkloadInfo, private readonly files: KeptFiles) {
    const own = (dir: string | null | undefined, supervisor: string | null | undefined) =>
      dir && supervisor && dir !== supervisor && !supervisor.startsWith(dir + '/') ? dir : null;
    const v1 = own(workload.pidsDir, workload.supervisorPidsDir);
    const v2 = own(workload.cgroup2Dir, workload.supervisorCgroup2Dir);
    if (v1 && files.read(`${v1}/pids.current`) !== null) {
      this.pidsCurrent = `${v1}/pids.current`; this.ownTasksFile = `${v1}/tasks`;
    } else if (v2 && files.read(`${v2}/pids.current`) !== null) {
      this.pidsCurrent = `${v2}/pids.current`; this.ownTasksFile = `${v2}/cgroup.threads`;
    } else {
      this.pidsCurrent = null; this.ownTasksFile = null;
    }
  }

  count(): number {
    if (this.pidsCurrent !== null) {
      const n = numberOf(this.files.read(this.pidsCurrent));
      if (n !== null) return n;
    }
    if (Date.now() - this.scannedAtMs >= TASKS_TTL_MS) this.scan();
    return this.scannedTasks;
  }

  /** Runnable and uninterruptible tasks now (the load's sample). */
  sampleActive(): number {
    let active = 0;
    if (this.ownTasksFile !== null) {
      const list = this.files.read(this.ownTasksFile);
      if (list !== null) {
        for (const tid of list.split('\n')) {
          if (tid === '') continue;
          const stat = readSmall(`/proc/${tid}/stat`);
          const state = stat === null ? '' : stat.charAt(stat.lastIndexOf(')') + 2);
          if (state === 'R' || state === 'D') active++;
        }
        return (this.lastActive = active);
      }
    }
    this.scan();
    return (this.lastActive = this.scannedActive);
  }

  private scan(): void {
    let tasks = 0, active = 0;
    for (const p of workloadProcesses(this.workload)) {
      tasks += p.threads;
      if (p.state === 'R' || p.state === 'D') active++;
    }
    this.scannedTasks = tasks;
    this.scannedActive = active;
    this.scannedAtMs = Date.now();
  }
}

/** A file read once (a task's stat, for one load sample): null when the task is gone. */
function readSmall(path: string): string | null {
  try { return readFileSync(path, 'latin1'); } catch { return null; }
}
