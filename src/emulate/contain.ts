// Containment: what the host does when a policy (decision CONTAIN) or the operator (--default-action)
// says the workload misbehaves — end every process of it (kill) or stop them all where they are
// (freeze), as kinvolk's seccompagent's kill-container and freeze-container do. Rare by nature, so it
// runs synchronously on the data-plane thread while the caller still waits for its answer, and reads
// /proc and cgroupfs freely.
//
// It only ever touches the workload: a cgroup is used only when it is the workload's own — neither
// the supervisor's nor an ancestor of it, and holding no process that is not the workload's at the
// moment of containment (a container run in a shared cgroup, e.g. crun --cgroup-manager=disabled,
// must not take its neighbours down). Otherwise the processes are signalled one by one, each through
// a pidfd checked to still be the process the scan saw.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { native } from '../native.js';
import { filteredDescendants, pidfdIfSame, startTicksOf, workloadProcesses, type WorkloadInfo } from '../caller/workload.js';

export type ContainAction = 'kill' | 'freeze';

const SIGKILL = osConstants.signals.SIGKILL, SIGSTOP = osConstants.signals.SIGSTOP;
/** Scans of /proc in the fallback: a workload forking as fast as it can runs out of running processes to fork from. */
const SIGNAL_ROUNDS = 16;
const FREEZE_WAIT_MS = 2000;
const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** How the workload will be contained: worked out before the call is answered (it reads /proc and cgroupfs). */
export interface ContainmentPlan {
  action: ContainAction;
  workload: WorkloadInfo | null;
  caller: PinnedCaller;
  /** The workload's own cgroups, or null; `why` says why there is none. */
  v2: string | null;
  freezer: string | null;
  why: string;
}

/**
 * Works out how to contain the workload, touching nothing. Slow (it scans /proc), so the data plane
 * calls it while the caller still waits for its answer, and carries it out before answering.
 */
export function planContainment(action: ContainAction, workload: WorkloadInfo | null, caller: PinnedCaller): ContainmentPlan {
  try {
    if (workload === null) return { action, workload, caller, v2: null, freezer: null, why: 'the workload is unknown' };
    return { action, workload, caller, ...ownCgroups(workload) };
  } catch (e) {
    return { action, workload, caller, v2: null, freezer: null, why: `its cgroups could not be read: ${(e as Error).message}` };
  }
}

/** Kills or freezes the workload as planned. Never throws: returns one line saying how, for the log. */
export function containWorkload(plan: ContainmentPlan): string {
  const { action, workload, caller } = plan;
  try {
    if (action === 'kill') {
      if (plan.v2 !== null && tryWrite(`${plan.v2}/cgroup.kill`, '1')) return `killed: cgroup.kill of ${plan.v2}`;
      if (plan.freezer !== null && killThroughFreezer(plan.freezer)) return `killed: every process of freezer cgroup ${plan.freezer}`;
    } else {
      // The v1 freezer first: on a hybrid host that is where the runtime pauses and resumes.
      if (plan.freezer !== null && freezeV1(plan.freezer)) return `frozen: freezer.state of ${plan.freezer} (runc resume / crun resume / podman unpause thaws it)`;
      if (plan.v2 !== null && tryWrite(`${plan.v2}/cgroup.freeze`, '1')) return `frozen: cgroup.freeze of ${plan.v2} (runc resume, or writing 0 there, thaws it)`;
    }
    if (workload === null) return `${signalCaller(action, caller)} (the workload is unknown: only the caller was reached)`;
    const reached = signalWorkload(action, workload, caller);
    return action === 'kill'
      ? `killed: ${reached} process(es), stopped one by one with SIGSTOP then SIGKILLed (${plan.why})`
      : `stopped: ${reached} process(es), one by one with SIGSTOP (${plan.why}); kill -CONT resumes them`;
  } catch (e) {
    return `containment failed: ${(e as Error).message}`;
  }
}

function tryWrite(file: string, text: string): boolean {
  try { writeFileSync(file, text); return true; } catch { return false; }
}

/** The workload's cgroups that containment may act on, and when there is none, why. */
function ownCgroups(w: WorkloadInfo): { v2: string | null; freezer: string | null; why: string } {
  const members = memberPids(w);
  const reasons: string[] = [];
  const own = (dir: string | null | undefined, supervisor: string | null | undefined, kind: string): string | null => {
    if (!dir) { reasons.push(`no ${kind} cgroup was recorded for it`); return null; }
    if (supervisor && (dir === supervisor || supervisor.startsWith(`${dir}/`))) { reasons.push(`its ${kind} cgroup holds wasmsup`); return null; }
    const stranger = pidsOfSubtree(dir).find((pid) => !members.has(pid));
    if (stranger !== undefined) { reasons.push(`its ${kind} cgroup ${dir} holds pid ${stranger}, not the workload's`); return null; }
    return dir;
  };
  const v2 = own(w.cgroup2Dir, w.supervisorCgroup2Dir, 'cgroup2');
  const freezer = own(w.freezerDir, w.supervisorFreezerDir, 'freezer');
  return { v2, freezer, why: reasons.join('; ') };
}

/** pids of every process in cgroup `dir` and its descendants. */
function pidsOfSubtree(dir: string): number[] {
  const pids: number[] = [];
  const walk = (d: string, depth: number) => {
    for (const line of readFileSync(`${d}/cgroup.procs`, 'utf8').split('\n')) if (line) pids.push(Number(line));
    if (depth > 64) return;
    for (const entry of readdirSync(d, { withFileTypes: true })) if (entry.isDirectory()) walk(`${d}/${entry.name}`, depth + 1);
  };
  walk(dir, 0);
  return pids;
}

/**
 * The workload's processes: workloadProcesses' (its user namespace, its first process's descendants),
 * the filtered processes below this one, and, when its first process has a pid namespace of its own, every process in that namespace (an
 * exec'd process of a container without a user namespace is not its init's descendant).
 */
function memberPids(w: WorkloadInfo): Set<number> {
  const members = new Set(workloadProcesses(w).map((p) => p.pid));
  // `run`'s adopted orphans (it is a child subreaper); nothing for the agent, whose children carry no filter.
  for (const pid of filteredDescendants()) members.add(pid);
  let pidns = 0;
  try { if (startTicksOf(w.pid) === w.startTicks) pidns = native.nsInode(w.pid, 'pid'); } catch { /* gone */ }
  if (pidns !== 0 && pidns !== native.nsInode(process.pid, 'pid')) {
    for (const name of readdirSync('/proc')) {
      const pid = Number(name);
      if (!Number.isInteger(pid) || pid <= 0 || members.has(pid)) continue;
      try { if (native.nsInode(pid, 'pid') === pidns) members.add(pid); } catch { /* gone */ }
    }
  }
  return members;
}

function freezeV1(dir: string): boolean {
  if (!tryWrite(`${dir}/freezer.state`, 'FROZEN')) return false;
  for (let waited = 0; waited < FREEZE_WAIT_MS; waited += 5) {
    if (readFileSync(`${dir}/freezer.state`, 'utf8').trim() === 'FROZEN') return true;
    sleep(5);
  }
  return true; // FREEZING: the kernel goes on freezing the tasks that were busy
}

/** Without cgroup.kill: freeze (so nothing forks meanwhile), SIGKILL each, thaw (so they die). */
function killThroughFreezer(dir: string): boolean {
  if (!freezeV1(dir)) return false;
  try {
    for (const pid of pidsOfSubtree(dir)) { try { process.kill(pid, SIGKILL); } catch { /* gone */ } }
  } finally {
    tryWrite(`${dir}/freezer.state`, 'THAWED');
  }
  return true;
}

/** The caller of the notification in hand, pinned by a pidfd of its thread (-1 when it could not be). */
export interface PinnedCaller { tid: number; pidfd: number }

/**
 * Pins the caller of the notification in hand before it is answered: a pidfd of its thread, kept only
 * when the notification was still pending after it was opened (`stillWaiting`: ID_VALID), so it names
 * the caller and not a task that reused its tid. The data plane closes it after containing.
 */
export function pinCaller(tid: number, stillWaiting: () => boolean): PinnedCaller {
  let pidfd = -1;
  try {
    // PIDFD_THREAD (Linux 6.9): the caller is known by its tid, which may not lead its group.
    pidfd = native.pidfdOpen(tid, native.constants.PIDFD_THREAD);
    if (stillWaiting()) return { tid, pidfd };
  } catch { /* gone */ }
  if (pidfd >= 0) native.close(pidfd);
  return { tid, pidfd: -1 };
}

function signalCaller(action: ContainAction, caller: PinnedCaller): string {
  if (caller.pidfd < 0) return 'the caller was gone';
  try {
    native.pidfdSendSignal(caller.pidfd, action === 'kill' ? SIGKILL : SIGSTOP);
    return `${action === 'kill' ? 'killed' : 'stopped'} the caller (tid ${caller.tid})`;
  } catch (e) {
    return `the caller could not be signalled: ${(e as Error).message}`;
  }
}

/** The workload's processes now, each with its start time (to recognise it behind a pidfd later). */
function scan(w: WorkloadInfo): [number, number][] {
  const out: [number, number][] = [];
  for (const pid of memberPids(w)) { try { out.push([pid, startTicksOf(pid)]); } catch { /* gone */ } }
  return out;
}

/**
 * Stops every process of the workload with SIGSTOP, scanning again until a scan finds none left
 * running (a stopped process forks no more, and keeps its children's parent links for the next
 * scan). Each is signalled through a pidfd opened after the scan and checked to name the process the
 * scan saw (same start time), so a pid reused meanwhile is never signalled. The pidfds are returned
 * open: a kill then reaches exactly the processes stopped.
 */
function stopWorkload(w: WorkloadInfo, caller: PinnedCaller): Map<number, number> {
  const held = new Map<number, number>();
  if (caller.pidfd >= 0) { try { native.pidfdSendSignal(caller.pidfd, SIGSTOP); } catch { /* gone */ } }
  for (let round = 0; round < SIGNAL_ROUNDS; round++) {
    let fresh = 0;
    for (const [pid, ticks] of scan(w)) {
      if (held.has(pid)) continue;
      const pidfd = pidfdIfSame(pid, ticks);
      if (pidfd < 0) continue;
      try {
        native.pidfdSendSignal(pidfd, SIGSTOP);
        held.set(pid, pidfd);
        fresh++;
      } catch {
        native.close(pidfd); // gone between the check and the signal
      }
    }
    if (fresh === 0) break;
  }
  return held;
}

/** Stops the workload, then (kill) SIGKILLs what was stopped; the number of processes reached besides the caller. */
function signalWorkload(action: ContainAction, w: WorkloadInfo, caller: PinnedCaller): number {
  const held = stopWorkload(w, caller);
  if (action === 'kill' && caller.pidfd >= 0) { try { native.pidfdSendSignal(caller.pidfd, SIGKILL); } catch { /* gone */ } }
  for (const pidfd of held.values()) {
    if (action === 'kill') { try { native.pidfdSendSignal(pidfd, SIGKILL); } catch { /* gone */ } }
    native.close(pidfd);
  }
  return held.size;
}
