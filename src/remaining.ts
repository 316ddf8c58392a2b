// What a `run` command leaves behind. wasmsup serves the filter for as long as any task uses it, so a
// command that exits with daemons or background jobs still running keeps wasmsup (and its answers)
// alive. To say so, and to end them on Ctrl-C or --kill-on-exit, it must find them: wasmsup makes itself
// a child subreaper before it starts the command, so the command's orphans become its children instead
// of init's, and every process below wasmsup that carries a seccomp filter is the workload's (the
// helpers wasmsup starts carry none). With --userns, every process of the workload's user namespace
// is too. Adopted orphans are wasmsup's to reap: libuv only waits for the children Node spawned, and an
// unreaped zombie would keep the filter, and so wasmsup, alive.
import { constants as osConstants } from 'node:os';
import { native } from './native.js';
import { filteredDescendants, ownChildren, pidfdIfSame, procEntry, scanProc, startTicksOf, type WorkloadInfo } from './caller/workload.js';

/**
 * The workload's processes still running after its command exited (zombies excluded): those below
 * this process with a seccomp filter, and those in the workload's own user namespace.
 */
export function remainingProcesses(w: WorkloadInfo | null): number[] {
  const all = scanProc();
  const below = filteredDescendants(all);
  const ownUserns = w !== null && w.usernsInode !== w.supervisorUsernsInode;
  const out: number[] = [];
  for (const p of all.values()) {
    if (p.zombie || p.pid === process.pid) continue;
    let member = below.has(p.pid);
    if (!member && ownUserns) { try { member = native.nsInode(p.pid, 'user') === w!.usernsInode; } catch { /* gone */ } }
    if (member) out.push(p.pid);
  }
  return out;
}

/**
 * Reaps the zombies among this process's children that Node did not spawn (`spawned`): adopted orphans.
 * Runs on every SIGCHLD: it reads this process's children lists (ownChildren), not all of /proc, where
 * the kernel has them.
 */
export function reapAdopted(spawned: ReadonlySet<number>): void {
  const children = ownChildren();
  const candidates = children === null ? scanProc().values() : children.map(procEntry);
  for (const p of candidates) {
    if (p === null || p.ppid !== process.pid || !p.zombie || !p.filtered || spawned.has(p.pid)) continue;
    try { native.reapChild(p.pid); } catch { /* not ours after all */ }
  }
}

/**
 * Sends `signal` to each of `pids` through a pidfd checked to still name the process seen (same start
 * time), so a pid reused meanwhile is never signalled. With SIGKILL each is stopped first, then killed,
 * so none forks meanwhile. Returns the pids reached.
 */
export function signalProcesses(pids: number[], signal: NodeJS.Signals): number[] {
  const held: number[] = [], reached: number[] = [];
  const number = osConstants.signals[signal];
  const first = signal === 'SIGKILL' ? osConstants.signals.SIGSTOP : number;
  for (const pid of pids) {
    let pidfd: number;
    try { pidfd = pidfdIfSame(pid, startTicksOf(pid)); } catch { continue; /* gone */ }
    if (pidfd < 0) continue;
    try {
      native.pidfdSendSignal(pidfd, first);
      held.push(pidfd);
      reached.push(pid);
    } catch {
      native.close(pidfd); // gone between the check and the signal
    }
  }
  for (const pidfd of held) {
    if (first !== number) { try { native.pidfdSendSignal(pidfd, number); } catch { /* gone */ } }
    native.close(pidfd);
  }
  return reached;
}
