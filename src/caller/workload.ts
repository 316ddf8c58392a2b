// What the host records about a workload when it starts, for the emulations that answer "as the
// workload's own machine would" (sysinfo) or must stay inside what belongs to it (bpf device programs):
// its first process, when that started, and the cgroups it started in. Recorded once by the control
// plane right after the launch (a plain object: it travels to the data-plane worker as workerData),
// and read by the emulations through the helpers below.
import { readFileSync, readdirSync } from 'node:fs';
import { native } from '../native.js';

export interface WorkloadInfo {
  /** The workload's first process (the launcher, which execs the command). */
  pid: number;
  /** Its start time in clock ticks after boot (/proc/PID/stat field 22): uptime base, and proof it is still the same process. */
  startTicks: number;
  /** Its user namespace; the supervisor's own when the workload has none. */
  usernsInode: number;
  /** The supervisor's user namespace: a workload in it has no user namespace of its own. */
  supervisorUsernsInode: number;
  /**
   * The cgroup2 directory (host path) the first process was in at start: the root of "the workload's
   * cgroup subtree" (docs/policies.md, bpf-devices). null when no cgroup2 hierarchy is mounted.
   */
  cgroup2Dir: string | null;
  /** The supervisor's own cgroup2 directory, which the workload must never restrict. */
  supervisorCgroup2Dir: string | null;
  /**
   * The v1 freezer directory (host path) the first process was in at start, and the supervisor's own,
   * or null/absent without a v1 freezer hierarchy. On a hybrid host the runtimes pause a container
   * there (`runc pause`), so containment freezes it there too (src/emulate/contain.ts).
   */
  freezerDir?: string | null;
  supervisorFreezerDir?: string | null;
  /**
   * The v1 pids controller directory (host path) the first process was in at start, and the
   * supervisor's own, or null/absent without one: a workload in a pids cgroup of its own is counted
   * by its pids.current (src/caller/workload-figures.ts).
   */
  pidsDir?: string | null;
  supervisorPidsDir?: string | null;
}

/** USER_HZ: the unit of /proc/PID/stat times, 100 on every Linux ABI (the kernel converts to it). */
export const CLOCK_TICKS_PER_SECOND = 100;

export interface CgroupMount { mountPoint: string; root: string; fstype: string; superOptions: string[] }

// mountinfo escapes space, tab, newline and backslash as \ooo.
const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** The cgroup and cgroup2 mounts the supervisor sees. */
export function cgroupMounts(): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const left = line.slice(0, dash).split(' '), right = line.slice(dash + 3).split(' ');
    const fstype = right[0]!;
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    mounts.push({ root: unescape(left[3]!), mountPoint: unescape(left[4]!), fstype, superOptions: (right[2] ?? '').split(',') });
  }
  return mounts;
}

/** Host path of cgroup `path` (as /proc/PID/cgroup shows it) in `mount`, or null when the mount does not show it. */
export function hostPath(mount: CgroupMount, path: string): string | null {
  const root = mount.root === '/' ? '' : mount.root;
  if (path !== root && !path.startsWith(root + '/')) return null;
  const rest = path.slice(root.length);
  return mount.mountPoint === '/' ? rest || '/' : mount.mountPoint + rest;
}

/** The lines of /proc/PID/cgroup as hierarchy-id, controllers, path. */
function cgroupLines(pid: number | 'self'): { controllers: string[]; path: string; unified: boolean }[] {
  return readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').filter(Boolean).map((line) => {
    const first = line.indexOf(':'), second = line.indexOf(':', first + 1);
    const hierarchy = line.slice(0, first);
    return { controllers: line.slice(first + 1, second).split(','), path: line.slice(second + 1), unified: hierarchy === '0' };
  });
}

/** Host path of the cgroup2 directory of `pid`, or null. */
export function cgroup2DirOf(pid: number | 'self', mounts = cgroupMounts()): string | null {
  const mount = mounts.find((m) => m.fstype === 'cgroup2');
  const line = cgroupLines(pid).find((l) => l.unified);
  return mount && line ? hostPath(mount, line.path) : null;
}

/** Host path of `pid`'s directory in the v1 hierarchy that has `controller`, or null. */
export function v1CgroupDirOf(pid: number | 'self', controller: string, mounts = cgroupMounts()): string | null {
  const mount = mounts.find((m) => m.fstype === 'cgroup' && m.superOptions.includes(controller));
  const line = cgroupLines(pid).find((l) => !l.unified && l.controllers.includes(controller));
  return mount && line ? hostPath(mount, line.path) : null;
}

/** Where `pid`'s memory limits are: the v1 memory controller directory, else the cgroup2 directory when it has memory files. */
export function memoryCgroupOf(pid: number): { version: 1 | 2; dir: string } | null {
  const mounts = cgroupMounts();
  const lines = cgroupLines(pid);
  const v1Mount = mounts.find((m) => m.fstype === 'cgroup' && m.superOptions.includes('memory'));
  const v1Line = lines.find((l) => !l.unified && l.controllers.includes('memory'));
  if (v1Mount && v1Line) {
    const dir = hostPath(v1Mount, v1Line.path);
    if (dir) return { version: 1, dir };
  }
  const dir = cgroup2DirOf(pid, mounts);
  if (dir === null) return null;
  try {
    readFileSync(`${dir}/memory.current`);
    return { version: 2, dir };
  } catch {
    return null;
  }
}

/** Field 22 (starttime) of /proc/PID/stat; the comm field may contain spaces and parentheses. */
export function startTicksOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[19]);
}

/**
 * A pidfd of process `pid`, only while it is still the process a scan saw start at `ticks`: a pid reused
 * since is never reached through it. -1 when the process is gone or another one.
 */
export function pidfdIfSame(pid: number, ticks: number): number {
  let pidfd = -1;
  try {
    pidfd = native.pidfdOpen(pid);
    if (startTicksOf(pid) === ticks) return pidfd;
  } catch { /* gone */ }
  if (pidfd >= 0) native.close(pidfd);
  return -1;
}

/** Records the workload whose first process is `pid`, right after it was started. */
export function describeWorkload(pid: number, usernsInode: number): WorkloadInfo {
  const mounts = cgroupMounts();
  return {
    pid,
    startTicks: startTicksOf(pid),
    usernsInode,
    supervisorUsernsInode: native.nsInode(process.pid, 'user'),
    cgroup2Dir: cgroup2DirOf(pid, mounts),
    supervisorCgroup2Dir: cgroup2DirOf('self', mounts),
    freezerDir: v1CgroupDirOf(pid, 'freezer', mounts),
    supervisorFreezerDir: v1CgroupDirOf('self', 'freezer', mounts),
    pidsDir: v1CgroupDirOf(pid, 'pids', mounts),
    supervisorPidsDir: v1CgroupDirOf('self', 'pids', mounts),
  };
}

export interface ProcEntry { pid: number; ppid: number; filtered: boolean; zombie: boolean }

/** Process `pid`'s parent, whether it carries a seccomp filter, and whether it is a zombie; null when gone. */
export function procEntry(pid: number): ProcEntry | null {
  let status: string;
  try { status = readFileSync(`/proc/${pid}/status`, 'utf8'); } catch { return null; }
  return {
    pid,
    ppid: Number(/\nPPid:\s+(\d+)/.exec(status)?.[1] ?? 0),
    filtered: /\nSeccomp:\s+2/.test(status),
    zombie: /\nState:\s+Z/.test(status),
  };
}

/** Every process's parent, whether it carries a seccomp filter, and whether it is a zombie. */
export function scanProc(): Map<number, ProcEntry> {
  const all = new Map<number, ProcEntry>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const entry = procEntry(pid);
    if (entry !== null) all.set(pid, entry);
  }
  return all;
}

/**
 * This process's children (those of every one of its threads: /proc/self/task/TID/children), or null
 * when the kernel does not have that file (CONFIG_PROC_CHILDREN). Reads a file per thread of this
 * process instead of one per process of the host, as scanProc does. The kernel documents the file as
 * unreliable while the children change; what it can miss is a child removed from the list while it is
 * read (reaped or reparented) and one added meanwhile. Neither loses a zombie here: a zombie stays on
 * its parent's list until it is reaped, and only this process's main thread reaps (libuv and
 * reapAdopted both run there), so none is removed while the main thread reads.
 */
export function ownChildren(): number[] | null {
  let tasks: string[];
  try { tasks = readdirSync('/proc/self/task'); } catch { return null; }
  const out: number[] = [];
  for (const tid of tasks) {
    let text: string;
    try {
      text = readFileSync(`/proc/self/task/${tid}/children`, 'latin1');
    } catch {
      // The main thread's file missing: no such file on this kernel (or unreadable): the caller walks /proc.
      if (tid === String(process.pid)) return null;
      continue; // another thread ended meanwhile
    }
    for (const word of text.split(' ')) if (word !== '') out.push(Number(word));
  }
  return out;
}

/**
 * The processes below this one that carry a seccomp filter. For `run`, a child subreaper whose helpers
 * carry none, these are the workload's, including what the command left behind (src/remaining.ts).
 */
export function filteredDescendants(all: Map<number, ProcEntry> = scanProc()): Set<number> {
  const below = new Map<number, boolean>([[process.pid, true]]);
  const isBelow = (pid: number, depth: number): boolean => {
    const known = below.get(pid);
    if (known !== undefined) return known;
    const ppid = all.get(pid)?.ppid ?? 0;
    const result = ppid > 0 && depth < 4096 && isBelow(ppid, depth + 1);
    below.set(pid, result);
    return result;
  };
  const out = new Set<number>();
  for (const p of all.values()) if (p.pid !== process.pid && p.filtered && isBelow(p.pid, 0)) out.add(p.pid);
  return out;
}

/** A process of the workload as one scan of /proc saw it. */
export interface WorkloadProcess { pid: number; threads: number; state: string }

/**
 * The workload's processes: every process in the workload's user namespace (when it has its own) and
 * every descendant of its first process (while that is still the same process). Reads all of /proc:
 * for rare calls only (sysinfo, containment).
 */
export function workloadProcesses(w: WorkloadInfo): WorkloadProcess[] {
  const ownUserns = w.usernsInode !== w.supervisorUsernsInode;
  const parent = new Map<number, number>();
  const seen = new Map<number, WorkloadProcess>();
  const members = new Set<number>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      parent.set(pid, Number(/\nPPid:\s+(\d+)/.exec(status)?.[1] ?? 0));
      seen.set(pid, {
        pid, threads: Number(/\nThreads:\s+(\d+)/.exec(status)?.[1] ?? 1),
        state: /\nState:\s+(\S)/.exec(status)?.[1] ?? '?',
      });
      if (ownUserns && native.nsInode(pid, 'user') === w.usernsInode) members.add(pid);
    } catch {
      // Gone while we looked: not a process any more.
      seen.delete(pid);
    }
  }
  let firstAlive = false;
  try { firstAlive = startTicksOf(w.pid) === w.startTicks; } catch { /* gone */ }
  if (firstAlive) {
    const isDescendant = new Map<number, boolean>([[w.pid, true]]);
    const walk = (pid: number, depth: number): boolean => {
      const known = isDescendant.get(pid);
      if (known !== undefined) return known;
      const ppid = parent.get(pid);
      const result = ppid !== undefined && ppid > 0 && depth < 4096 && walk(ppid, depth + 1);
      isDescendant.set(pid, result);
      return result;
    };
    for (const pid of parent.keys()) if (walk(pid, 0)) members.add(pid);
  }
  const processes: WorkloadProcess[] = [];
  for (const pid of members) { const p = seen.get(pid); if (p) processes.push(p); }
  return processes;
}

/** The number of the workload's tasks (threads, as sysinfo's `procs` counts them). */
export function countWorkloadTasks(w: WorkloadInfo): number {
  let tasks = 0;
  for (const p of workloadProcesses(w)) tasks += p.threads;
  return tasks;
}
