// The SYSINFO emulation primitive: sysinfo(2) answered for the workload, as LXD does for containers.
// The host computes every figure and writes the caller's struct sysinfo itself (the policy only chose
// this answer):
// - uptime: seconds since the workload's first process started (rounded up, as the kernel rounds);
// - procs: the workload's tasks (src/caller/workload.ts: its user namespace and the descendants of
//   its first process), cut to 16 bits as the kernel's field is;
// - totalram/freeram/sharedram/bufferram, totalswap/freeswap: from the caller's memory cgroup when it
//   has a limit (v1 memory controller: hierarchical_memory_limit and _memsw_limit, which include the
//   ancestors' limits; cgroup2: the smallest memory.max / memory.swap.max on the way up), never more
//   than the host has; the host's own figures otherwise;
// - loads, totalhigh, freehigh: the host's.
// Layouts: x86_64, x32 and aarch64 callers get the 64-bit struct (112 bytes, mem_unit 1, as the kernel
// gives 64-bit callers); i386 callers get struct compat_sysinfo (64 bytes), with the kernel's own
// scaling to mem_unit = page size when a figure does not fit 32 bits.
//
// Run by the supervisor thread directly, not the privileged helper: it needs no credential or namespace
// change, only /proc, the cgroup files and process_vm_writev, which root in the initial namespace has.
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { native } from '../native.js';
import { Notif, argLo } from '../layouts.js';
import { AUDIT_ARCH_I386 } from '../syscalls/tables.js';
import { CLOCK_TICKS_PER_SECOND, countWorkloadTasks, memoryCgroupOf, type WorkloadInfo } from '../caller/workload.js';

const E = { EPERM: 1, ENOENT: 2, EFAULT: 14 } as const;
const NATIVE_SIZE = 112, COMPAT_SIZE = 64;
const PAGE_SIZE = 4096;
// A v1 limit at or above this is "no limit" (the kernel shows PAGE_COUNTER_MAX pages, ~2^63).
const UNLIMITED = 2 ** 62;
// native.sysinfo() slots.
const S = { uptime: 0, loads: 1, totalram: 4, freeram: 5, sharedram: 6, bufferram: 7, totalswap: 8, freeswap: 9, procs: 10, totalhigh: 11, freehigh: 12, memUnit: 13 } as const;

/** Figures in bytes (memory) as the caller will see them. */
export interface SysinfoFigures {
  uptime: number; loads: [number, number, number];
  totalram: number; freeram: number; sharedram: number; bufferram: number;
  totalswap: number; freeswap: number; procs: number; totalhigh: number; freehigh: number;
}

function readNumber(path: string): number | null {
  try {
    const text = readFileSync(path, 'utf8').trim();
    if (text === 'max') return Infinity;
    const n = Number(text);
    return Number.isFinite(n) ? n : null;
  } catch { return null; }
}

function statField(stat: string, key: string): number | null {
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(stat);
  return m ? Number(m[1]) : null;
}

interface MemoryLimits { ramLimit: number; ramUsage: number; shmem: number; swapLimit: number; swapUsage: number }

/** The caller's memory cgroup limits; Infinity where there is none. */
function memoryLimits(tid: number): MemoryLimits | null {
  const cg = memoryCgroupOf(tid);
  if (cg === null) return null;
  if (cg.version === 1) {
    let stat: string;
    try { stat = readFileSync(`${cg.dir}/memory.stat`, 'utf8'); } catch { return null; }
    const limit = statField(stat, 'hierarchical_memory_limit') ?? Infinity;
    const memsw = statField(stat, 'hierarchical_memsw_limit') ?? Infinity;
    const usage = readNumber(`${cg.dir}/memory.usage_in_bytes`) ?? 0;
    const memswUsage = readNumber(`${cg.dir}/memory.memsw.usage_in_bytes`);
    const ramLimit = limit >= UNLIMITED ? Infinity : limit;
    // memsw counts memory + swap: what swap may hold is the difference of the two limits.
    const swapLimit = memsw >= UNLIMITED || ramLimit === Infinity ? Infinity : Math.max(0, memsw - ramLimit);
    return {
      ramLimit, ramUsage: usage, shmem: statField(stat, 'total_shmem') ?? statField(stat, 'shmem') ?? 0,
      swapLimit, swapUsage: memswUsage === null ? 0 : Math.max(0, memswUsage - usage),
    };
  }
  // cgroup2: a limit anywhere above applies too; walk up to the mount's root.
  let ramLimit = Infinity, swapLimit = Infinity;
  for (let dir = cg.dir, depth = 0; depth < 256; depth++) {
    const max = readNumber(`${dir}/memory.max`);
    if (max === null) break; // the root cgroup has no memory.max
    ramLimit = Math.min(ramLimit, max);
    swapLimit = Math.min(swapLimit, readNumber(`${dir}/memory.swap.max`) ?? Infinity);
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  let shmem = 0;
  try { shmem = statField(readFileSync(`${cg.dir}/memory.stat`, 'utf8'), 'shmem') ?? 0; } catch { /* none */ }
  return {
    ramLimit, ramUsage: readNumber(`${cg.dir}/memory.current`) ?? 0, shmem,
    swapLimit, swapUsage: readNumber(`${cg.dir}/memory.swap.current`) ?? 0,
  };
}

function hostUptimeSeconds(): number {
  // /proc/uptime has centiseconds; the kernel's sysinfo rounds partial seconds up.
  return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
}

/** The SYSINFO operand (docs/policy-abi.md, section 4): figures taken from the host, not the workload. */
export const SYSINFO_SOURCES = { HOST_UPTIME: 1, HOST_MEMORY: 2, HOST_PROCS: 4, ALL: 7 } as const;

export class SysinfoEmulator {
  private readonly host = new Float64Array(14);
  private readonly out = new Uint8Array(NATIVE_SIZE);
  private readonly view = new DataView(this.out.buffer);

  constructor(
    private readonly listenerFd: number,
    private readonly workload: WorkloadInfo | null,
    private readonly warn: (message: string) => void,
  ) {}

  /**
   * The figures for caller `tid` (exported for tests of the arithmetic); `sources` (SYSINFO_SOURCES
   * bits, the policy's operand) names those taken from the host instead of the workload.
   */
  figures(tid: number, sources = 0): SysinfoFigures {
    native.sysinfo(this.host);
    const h = this.host, unit = h[S.memUnit]! || 1;
    const w = this.workload!;
    const started = w.startTicks / CLOCK_TICKS_PER_SECOND;
    const f: SysinfoFigures = {
      uptime: Math.max(0, Math.ceil(hostUptimeSeconds() - (sources & SYSINFO_SOURCES.HOST_UPTIME ? 0 : started))),
      loads: [h[S.loads]!, h[S.loads + 1]!, h[S.loads + 2]!],
      totalram: h[S.totalram]! * unit, freeram: h[S.freeram]! * unit,
      sharedram: h[S.sharedram]! * unit, bufferram: h[S.bufferram]! * unit,
      totalswap: h[S.totalswap]! * unit, freeswap: h[S.freeswap]! * unit,
      procs: sources & SYSINFO_SOURCES.HOST_PROCS ? h[S.procs]! : countWorkloadTasks(w),
      totalhigh: h[S.totalhigh]! * unit, freehigh: h[S.freehigh]! * unit,
    };
    const limits = sources & SYSINFO_SOURCES.HOST_MEMORY ? null : memoryLimits(tid);
    if (limits && limits.ramLimit < f.totalram) {
      f.totalram = limits.ramLimit;
      f.freeram = Math.max(0, limits.ramLimit - limits.ramUsage);
      f.sharedram = Math.min(limits.shmem, limits.ramLimit);
      // The cgroup does not tell buffers apart: they are part of its usage.
      f.bufferram = 0;
    }
    if (limits && limits.swapLimit < f.totalswap) {
      f.totalswap = limits.swapLimit;
      f.freeswap = Math.max(0, limits.swapLimit - limits.swapUsage);
    }
    return f;
  }

  /**
   * Answers sysinfo(info) for the notification: 0, or -errno (contract.ts). `sources`: the figures
   * taken from the host (SYSINFO_SOURCES), the policy's operand.
   */
  emulate(notif: Uint8Array, words: Uint32Array, sources = 0): number {
    if ((sources & ~SYSINFO_SOURCES.ALL) !== 0) {
      // A later policy asking for a source this host does not know: failed closed, not guessed.
      this.warn(`sysinfo emulation: unknown source bits 0x${(sources >>> 0).toString(16)} in the policy's operand; answering EPERM`);
      return -E.EPERM;
    }
    if (this.workload === null) {
      this.warn('sysinfo emulation: the workload was not recorded at start; answering EPERM');
      return -E.EPERM;
    }
    const tid = words[Notif.TID]!, arch = words[Notif.ARCH]!;
    const addrLo = words[argLo(0)]!, addrHi = words[argLo(0) + 1]!;
    let f: SysinfoFigures;
    try {
      f = this.figures(tid, sources);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ENOENT' || err.code === 'ESRCH') return -E.ENOENT;
      this.warn(`sysinfo emulation for tid ${tid} failed: ${err.message}`);
      return -E.EPERM;
    }
    const size = arch === AUDIT_ARCH_I386 ? this.layoutCompat(f) : this.layoutNative(f);
    // The tid must still be the caller when its memory is written: ID_VALID right before the write.
    // (The caller sleeps in the kernel until answered; only SIGKILL can end it, and its tid cannot be
    // reused before it has been reaped.)
    if (!native.notifIdValid(this.listenerFd, notif)) return -E.ENOENT;
    let written: number;
    try {
      written = native.writeMemory(tid, addrLo, addrHi, this.out, size);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ESRCH') return -E.ENOENT;
      return err.code === 'EFAULT' ? -E.EFAULT : -(err.errno ?? E.EFAULT);
    }
    return written === size ? 0 : -E.EFAULT;
  }

  private layoutNative(f: SysinfoFigures): number {
    const v = this.view;
    this.out.fill(0);
    const u64 = (offset: number, value: number) => v.setBigUint64(offset, BigInt(Math.max(0, Math.min(Math.floor(value), Number.MAX_SAFE_INTEGER))), true);
    u64(0, f.uptime);
    u64(8, f.loads[0]); u64(16, f.loads[1]); u64(24, f.loads[2]);
    u64(32, f.totalram); u64(40, f.freeram); u64(48, f.sharedram); u64(56, f.bufferram);
    u64(64, f.totalswap); u64(72, f.freeswap);
    v.setUint16(80, f.procs & 0xffff, true);
    u64(88, f.totalhigh); u64(96, f.freehigh);
    v.setUint32(104, 1, true); // mem_unit: figures in bytes, as the kernel gives 64-bit callers
    return NATIVE_SIZE;
  }

  private layoutCompat(f: SysinfoFigures): number {
    const v = this.view;
    this.out.fill(0);
    // kernel/sys.c compat_sysinfo: when RAM or swap does not fit 32 bits, count in pages instead.
    const scale = f.totalram >= 2 ** 32 || f.totalswap >= 2 ** 32 ? PAGE_SIZE : 1;
    const u32 = (offset: number, value: number) => v.setUint32(offset, Math.floor(Math.max(0, value)) % 2 ** 32, true);
    const mem = (offset: number, bytes: number) => u32(offset, Math.floor(bytes / scale));
    v.setInt32(0, Math.min(f.uptime, 0x7fffffff), true);
    u32(4, f.loads[0]); u32(8, f.loads[1]); u32(12, f.loads[2]);
    mem(16, f.totalram); mem(20, f.freeram); mem(24, f.sharedram); mem(28, f.bufferram);
    mem(32, f.totalswap); mem(36, f.freeswap);
    v.setUint16(40, f.procs & 0xffff, true);
    mem(44, f.totalhigh); mem(48, f.freehigh);
    v.setUint32(52, scale, true);
    return COMPAT_SIZE;
  }
}
