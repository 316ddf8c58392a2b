// The SYSINFO emulation primitive: sysinfo(2) answered for the workload, as LXD does for containers.
// The host computes every figure and writes the caller's struct sysinfo itself (the policy only chose
// this answer):
// - uptime: seconds since the workload's first process started (rounded up, as the kernel rounds);
// - procs: the workload's tasks (its own cgroup's pids.current, or its user namespace and the
//   descendants of its first process), cut to 16 bits as the kernel's field is;
// - loads: the workload's load averages (its runnable and uninterruptible tasks, sampled every 5 s);
// - totalram/freeram/sharedram/bufferram, totalswap/freeswap: from the caller's memory cgroup when it
//   has a limit (v1 memory controller: hierarchical_memory_limit and _memsw_limit, which include the
//   ancestors' limits; cgroup2: the smallest memory.max / memory.swap.max on the way up), never more
//   than the host has; the host's own figures otherwise;
// - totalhigh, freehigh: the host's.
// Layouts: x86_64, x32 and aarch64 callers get the 64-bit struct (112 bytes, mem_unit 1, as the kernel
// gives 64-bit callers); i386 callers get struct compat_sysinfo (64 bytes), with the kernel's own
// scaling to mem_unit = page size when a figure does not fit 32 bits.
//
// The figures are WorkloadFigures' (src/caller/workload-figures.ts), the same ones the generated
// /proc files show (src/emulate/proc-views.ts): free(1) and sysinfo(2) agree.
//
// Run by the supervisor thread directly, not the privileged helper: it needs no credential or namespace
// change, only /proc, the cgroup files and process_vm_writev, which root in the initial namespace has.
import { native } from '../native.js';
import { Notif, argLo } from '../layouts.js';
import { AUDIT_ARCH_I386 } from '../syscalls/tables.js';
import type { WorkloadFigures } from '../caller/workload-figures.js';

const E = { EPERM: 1, ENOENT: 2, EFAULT: 14 } as const;
const NATIVE_SIZE = 112, COMPAT_SIZE = 64;
const PAGE_SIZE = 4096;

/** Figures in bytes (memory) as the caller will see them. */
export interface SysinfoFigures {
  uptime: number; loads: [number, number, number];
  totalram: number; freeram: number; sharedram: number; bufferram: number;
  totalswap: number; freeswap: number; procs: number; totalhigh: number; freehigh: number;
}

/** Load averages as sysinfo gives them: fixed point, scaled by 1 << SI_LOAD_SHIFT (16). */
function scaledLoads(loads: [number, number, number]): [number, number, number] {
  return [Math.round(loads[0] * 65536), Math.round(loads[1] * 65536), Math.round(loads[2] * 65536)];
}

/** The SYSINFO operand (docs/policy-abi.md, section 4): figures taken from the host, not the workload. */
export const SYSINFO_SOURCES = { HOST_UPTIME: 1, HOST_MEMORY: 2, HOST_PROCS: 4, ALL: 7 } as const;

export class SysinfoEmulator {
  private readonly out = new Uint8Array(NATIVE_SIZE);
  private readonly view = new DataView(this.out.buffer);

  constructor(
    private readonly listenerFd: number,
    /** The workload's figures; null when the workload was not recorded at start. */
    private readonly workload: WorkloadFigures | null,
    private readonly warn: (message: string) => void,
  ) {}

  /**
   * The figures for caller `tid` (exported for tests of the arithmetic); `sources` (SYSINFO_SOURCES
   * bits, the policy's operand) names those taken from the host instead of the workload.
   */
  figures(tid: number, sources = 0): SysinfoFigures {
    const w = this.workload!;
    const h = w.hostFigures();
    // The kernel's sysinfo rounds partial seconds up.
    const uptime = sources & SYSINFO_SOURCES.HOST_UPTIME ? w.hostUptime()[0] : w.uptime();
    const f: SysinfoFigures = {
      uptime: Math.max(0, Math.ceil(uptime)),
      loads: sources & SYSINFO_SOURCES.HOST_PROCS ? h.loads : scaledLoads(w.loadAverages().loads),
      totalram: h.totalram, freeram: h.freeram, sharedram: h.sharedram, bufferram: h.bufferram,
      totalswap: h.totalswap, freeswap: h.freeswap,
      procs: sources & SYSINFO_SOURCES.HOST_PROCS ? h.procs : w.taskCount(),
      totalhigh: h.totalhigh, freehigh: h.freehigh,
    };
    if (sources & SYSINFO_SOURCES.HOST_MEMORY) return f;
    const m = w.memory(tid, h);
    if (m.ramLimited) {
      f.totalram = m.total;
      f.freeram = m.free;
      f.sharedram = m.shared;
      // The cgroup does not tell buffers apart: they are part of its usage.
      f.bufferram = 0;
    }
    if (m.swapLimited) {
      f.totalswap = m.swapTotal;
      f.freeswap = m.swapFree;
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
    // Two 32-bit halves rather than setBigUint64: a BigInt per field costs more than the rest of the layout.
    const u64 = (offset: number, value: number) => {
      const n = Math.max(0, Math.min(Math.floor(value), Number.MAX_SAFE_INTEGER));
      v.setUint32(offset, n % 2 ** 32, true);
      v.setUint32(offset + 4, Math.floor(n / 2 ** 32), true);
    };
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
