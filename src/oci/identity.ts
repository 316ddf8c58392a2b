// Which process a listener the agent was handed belongs to, and which container: a container's first
// process, or a process `runc exec` / `crun exec` / `podman exec` started in it later — each of which
// comes with its own listener. An exec'd process is served like its container's first process: the
// same container (its init's start time and cgroups, as recorded when the first process arrived), its
// own user namespace.
//
// What may be trusted: the state comes from root (the socket is 0600) and is written by the runtime's
// own code, so the container id and the pids it names are what the runtime meant. What may not: that
// those pids still name those processes when the agent reads them (the exec'd process may already
// have exited and its pid been reused), and that 0 means anything (crun 1.8 sends 0 for an exec'd
// process). Hence every pid is read through a pidfd that must still name a live process after the
// reads, the listener's process must run under a seccomp filter, and an exec'd process must share
// its container's init's user and pid namespaces.
import { readFileSync } from 'node:fs';
import { native } from '../native.js';
import { describeWorkload, type WorkloadInfo } from '../caller/workload.js';
import type { ContainerState } from './state.js';

/** Inode of no namespace: a process whose user namespace is unknown is never "in the workload's". */
export const UNKNOWN_USERNS = -1;

export interface ProcessFacts {
  pid: number;
  startTicks: number;
  usernsInode: number;
  pidnsInode: number;
  /** Runs under a seccomp filter (mode 2), as the process a listener was made for must. */
  seccompFiltered: boolean;
  workload: WorkloadInfo;
}

/**
 * What /proc says of `pid`, proven to be about one process: a pidfd is taken first, and that process
 * must still be alive (if a zombie, its pid is still held) after the reads, so none of them can have
 * read a process that took the pid over. Throws (ESRCH, ENOENT) when it is gone.
 */
export function processFacts(pid: number): ProcessFacts {
  const pidfd = native.pidfdOpen(pid, 0);
  try {
    const usernsInode = native.nsInode(pid, 'user');
    const pidnsInode = native.nsInode(pid, 'pid');
    const seccompFiltered = /^Seccomp:\s*2$/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
    const workload = describeWorkload(pid, usernsInode);
    native.pidfdSendSignal(pidfd, 0);
    return { pid, startTicks: workload.startTicks, usernsInode, pidnsInode, seccompFiltered, workload };
  } finally {
    native.close(pidfd);
  }
}

export type FactsReader = (pid: number) => ProcessFacts;

/** How a listener is served. */
export interface ListenerIdentity {
  /** "init": the container's first process; "exec": one started in it later. */
  role: 'init' | 'exec';
  /** The listener's process, or (crun 1.8 exec) its container's init. */
  pid: number;
  /** The user namespace the listener's process is in; UNKNOWN_USERNS when nothing says. */
  usernsInode: number;
  /** The container: its init as recorded when it arrived (start time, cgroups), or null. */
  workload: WorkloadInfo | null;
  /** What could not be established, for the log; null when everything was. */
  note: string | null;
}

export class IdentityError extends Error {}

const sameNamespaces = (a: ProcessFacts, b: ProcessFacts) => a.usernsInode === b.usernsInode && a.pidnsInode === b.pidnsInode;

/**
 * The identity of the listener `state` came with. `recorded` are the workloads of the containers with
 * the same id this agent serves (their first processes, and exec'd processes, which carry the same
 * workload): the container's init, if it is still the process that was recorded. Throws an
 * IdentityError (the state is dropped) when the pids are inconsistent or the process is gone.
 */
export function resolveListener(state: Pick<ContainerState, 'id' | 'pid' | 'statePid' | 'status'>, recorded: readonly WorkloadInfo[],
  facts: FactsReader = processFacts): ListenerIdentity {
  const read = (pid: number, what: string): ProcessFacts => {
    try {
      return facts(pid);
    } catch (e) {
      throw new IdentityError(`${what} ${pid} is gone (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  };
  // The recorded inits still alive as the same process (start time), each read once.
  const inits: ProcessFacts[] = [];
  for (const w of recorded) {
    if (inits.some((i) => i.pid === w.pid)) continue;
    let f;
    try { f = facts(w.pid); } catch { continue; }
    if (f.startTicks === w.startTicks) inits.push({ ...f, workload: w });
  }

  const tryRead = (pid: number): ProcessFacts | undefined => { try { return facts(pid); } catch { return undefined; } };
  const distinct = inits.filter((f, i) => inits.findIndex((g) => sameNamespaces(f, g)) === i);
  const soleInit = (): ProcessFacts | undefined => (distinct.length === 1 ? distinct[0] : undefined);

  const listenerPid = state.pid > 0 ? state.pid : state.statePid;
  if (listenerPid === 0) {
    // crun 1.8 exec: no pid at all. The container's init as recorded here is the only identity there is.
    const init = soleInit();
    if (init) {
      return { role: 'exec', pid: init.pid, usernsInode: init.usernsInode, workload: init.workload, note: 'the runtime did not say which process (pid 0): served as its container\'s' };
    }
    return {
      role: 'exec', pid: 0, usernsInode: UNKNOWN_USERNS, workload: null,
      note: `the runtime did not say which process (pid 0) and ${distinct.length ? `${distinct.length} running containers have this id` : 'this agent does not serve its container'}: served without its container's user namespace and cgroups (what the policies grant only there is left to the kernel)`,
    };
  }

  let own: ProcessFacts;
  try {
    own = read(listenerPid, 'process');
  } catch (e) {
    // An exec'd command may be gone before the agent reads its state (`sh -c 'daemon &'`), while
    // children it left still use the listener: they are its container's, as the runtime said.
    const init = state.status === 'creating' ? undefined
      : state.statePid > 0 && state.statePid !== listenerPid ? inits.find((f) => f.pid === state.statePid) ?? tryRead(state.statePid)
        : soleInit();
    if (!init) throw e;
    return { role: 'exec', pid: init.pid, usernsInode: init.usernsInode, workload: init.workload, note: `${(e as Error).message}: served as its container's, for the children it may have left` };
  }
  // The kernel only makes a listener for a filter it installs; a process without one is not the
  // listener's (a reused pid, or a runtime that named the wrong process).
  if (!own.seccompFiltered) throw new IdentityError(`process ${listenerPid} has no seccomp filter, so the listener is not its`);

  if (state.statePid > 0 && state.statePid !== listenerPid) {
    // runc exec: "pid" the exec'd process, "state.pid" the container's init.
    const init = inits.find((f) => f.pid === state.statePid) ?? read(state.statePid, 'the container\'s init');
    if (!sameNamespaces(own, init)) throw new IdentityError(`process ${listenerPid} is not in the user and pid namespaces of its container's init ${state.statePid}`);
    return { role: 'exec', pid: listenerPid, usernsInode: own.usernsInode, workload: init.workload, note: null };
  }

  // "pid" alone: a container's first process, or (crun ≥ 1.9) an exec'd one, told apart by the status
  // and by whether this agent already serves a container of that id whose init is another process.
  const init = state.status === 'creating' ? undefined : inits.find((f) => f.pid !== listenerPid && sameNamespaces(f, own));
  if (init) return { role: 'exec', pid: listenerPid, usernsInode: own.usernsInode, workload: init.workload, note: null };
  if (state.status !== 'creating' && state.status !== '' && !inits.some((f) => f.pid === listenerPid)) {
    return { role: 'exec', pid: listenerPid, usernsInode: own.usernsInode, workload: own.workload, note: 'its container\'s init is not known to this agent: the container is described by this process' };
  }
  return { role: 'init', pid: listenerPid, usernsInode: own.usernsInode, workload: own.workload, note: null };
}
