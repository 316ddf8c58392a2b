// Emulations that were performed but whose answer the kernel refused (SEND → ENOENT), remembered so
// that a restarted call does not perform them a second time.
//
// When a signal interrupts a thread waiting for its notification's answer, the kernel withdraws the
// notification; with SA_RESTART the thread runs its handler and re-issues the very same syscall, which
// reaches us as a new notification. If we had already emulated the first one (a node created), doing
// it again would give the restarted call a visible second effect, EEXIST in mknod's case. So a
// successful emulation whose answer could not be delivered is remembered per thread, and the next
// notification of that thread gets the remembered result instead of a second emulation when it is the
// same call: same arch, syscall number, instruction pointer and six arguments (the kernel restores
// all of them when it restarts), from the same thread (its start time, so a reused tid never matches),
// within a few seconds. Any other notification of that thread drops the entry: a restart is the
// thread's next intercepted call. With --wait-killable none of this is needed once a call was
// received, as only a fatal signal can withdraw it (docs/reliability.md).
//
// A call failed by containment (a freeze, src/emulate/contain.ts) is remembered the same way, with
// its errno and no time limit: freezing withdraws the pending call, and the frozen thread re-issues
// it whenever the operator thaws it, which must not freeze the workload a second time.
import { readFileSync } from 'node:fs';

/** replay() found nothing to replay (results are ≥ 0 values or -errno, never this). */
export const NOT_REPLAYED = -0x80000000;

// struct seccomp_notif as Uint32Array: tid at 2, then seccomp_data from 4 (nr, arch, ip, args) to 20.
const TID = 2, DATA_FROM = 4, DATA_TO = 20;
/** A restart follows its signal handler; a longer gap is a new call, however alike. */
const REPLAY_WINDOW_MS = 5000;
/** Entries of threads that died before restarting are dropped oldest first beyond this. */
const MAX_ENTRIES = 1024;

interface Entry { data: Uint32Array; result: number; startTime: string; at: number; windowMs: number }

/** The thread's start time (field 22 of /proc/TID/stat), which tells a reused tid apart; '' if gone. */
function threadStartTime(tid: number): string {
  try {
    const stat = readFileSync(`/proc/${tid}/stat`, 'latin1');
    // The command name (field 2) may contain spaces and parentheses: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

export class UndeliveredEmulations {
  private readonly byTid = new Map<number, Entry>();

  get size(): number { return this.byTid.size; }

  /**
   * Remembers that the notification in `words` was decided with `result` (a value ≥ 0, or -errno)
   * but not answered; a re-issue within `windowMs` gets it.
   */
  remember(words: Uint32Array, result: number, windowMs = REPLAY_WINDOW_MS): void {
    const tid = words[TID]!;
    const startTime = threadStartTime(tid);
    if (startTime === '') return; // the thread is gone: nothing will be re-issued
    if (this.byTid.size >= MAX_ENTRIES && !this.byTid.has(tid)) {
      this.byTid.delete(this.byTid.keys().next().value!);
    }
    this.byTid.set(tid, { data: words.slice(DATA_FROM, DATA_TO), result, startTime, at: performance.now(), windowMs });
  }

  /**
   * For a new notification: the remembered result when it re-issues the thread's undelivered
   * emulation, else NOT_REPLAYED. Either way the thread's entry is consumed.
   */
  replay(words: Uint32Array): number {
    if (this.byTid.size === 0) return NOT_REPLAYED; // the common path: one comparison, no allocation
    const tid = words[TID]!;
    const entry = this.byTid.get(tid);
    if (entry === undefined) return NOT_REPLAYED;
    this.byTid.delete(tid);
    if (performance.now() - entry.at > entry.windowMs) return NOT_REPLAYED;
    for (let i = DATA_FROM; i < DATA_TO; i++) if (words[i] !== entry.data[i - DATA_FROM]) return NOT_REPLAYED;
    if (threadStartTime(tid) !== entry.startTime) return NOT_REPLAYED;
    return entry.result;
  }
}
