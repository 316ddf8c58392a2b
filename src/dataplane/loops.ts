// The data plane's two receive loops. Neither returns to the event loop between notifications; each
// hands every notification it receives to the handler, picks up control messages (reload, stop)
// between two notifications, and ends when no task uses the filter any more ('hangup') or when told
// to stop ('stopped'). They reach the kernel only through a Listener (listener.ts), so a unit test
// drives them with a fake one.
//
// - The polling loop waits in poll() for the listener or the wake eventfd the control plane writes
//   after posting a message: poll, RECV, decide, SEND per notification.
// - The blocking loop, where the thread can block in RECV itself (docs/performance.md): one syscall
//   fewer per notification, and the kernel's synchronous wake-up hands the CPU straight from the
//   caller to this thread. A decision's answer waits for the next receive, which sends it and blocks
//   for the next notification in one native call. Its calls take no arguments: the listener and the
//   buffers are registered for the thread once (DataPlaneCalls, listener.ts), and the native side
//   times each notification from receive to SEND into the latency histogram. The control plane sets
//   interrupt[INTERRUPT_ATTENTION] after posting a message and signals this thread
//   (native/interrupt.cc), so RECV returns EINTR; it re-signals until the flag is cleared, which covers
//   a signal that lands between the check below and the ioctl. It also signals now and then without a
//   message, so a kernel whose RECV would not return once the filter has no users left still lets the
//   loop notice the hang-up.
import { native } from '../native.js';
import { Stat } from './stats.js';
import { INTERRUPT_ATTENTION } from './protocol.js';
import { HUNG_UP, PENDING, WOKEN, type DataPlaneCalls, type Listener } from './listener.js';
import type { Responder } from './responder.js';

const ENOENT = native.errnoNumber('ENOENT'), EINTR = native.errnoNumber('EINTR');

export type LoopEnd = 'hangup' | 'stopped';

/** What a loop works with. */
export interface LoopParts {
  listener: Listener;
  /** The buffer notifications are received into (the handler's). */
  notif: Uint8Array;
  responder: Responder;
  /** Handles the notification just received into `notif`, answering it exactly once. */
  handler: { serveReceived(): void };
  /** Applies pending control messages; false when the data plane must stop. */
  control(): boolean;
  /** The shared counters (Stat.recvEnoent). */
  stats: Int32Array;
}

/** Waits in poll() for the listener and `wakeFd`. */
export function servePolling(p: LoopParts, wakeFd: number): LoopEnd {
  const { listener, notif, handler, stats } = p;
  for (;;) {
    const events = listener.poll(wakeFd, -1);
    if (events & WOKEN && !p.control()) return 'stopped';
    if (events & PENDING) {
      try {
        listener.recv(notif);
      } catch (e) {
        // ENOENT: the caller went away between poll and receive. Poll again rather than spin.
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') { stats[Stat.recvEnoent] = stats[Stat.recvEnoent]! + 1; continue; }
        throw e;
      }
      handler.serveReceived();
      continue;
    }
    if (events & HUNG_UP) return 'hangup'; // no task uses the filter any more
  }
}

/**
 * Blocks in RECV through `calls` (registered on this thread with p's listener and buffers),
 * interrupted through `interrupt` (protocol.ts). `deferAnswers`: answers wait for the next receive
 * (false sends each at once, for the faults that delay the SEND: test-faults.ts).
 */
export function serveBlocking(p: LoopParts, calls: DataPlaneCalls, interrupt: Int32Array, deferAnswers: boolean): LoopEnd {
  const { responder } = p;
  responder.deferring = deferAnswers;
  responder.calls = calls;
  try {
    return blockingLoop(p, calls, interrupt);
  } finally {
    responder.calls = null;
  }
}

function blockingLoop(p: LoopParts, calls: DataPlaneCalls, interrupt: Int32Array): LoopEnd {
  const { listener, responder, handler, stats } = p;
  for (;;) {
    // A plain read, not Atomics.load (a builtin call per notification): the flag is only ever polled
    // here, between two native calls, which V8 cannot move a typed-array read across, and the control
    // plane's interrupt signal makes the blocking RECV return EINTR, a trip through the kernel after
    // its store. The EINTR branch reads it again, and the signal is repeated until the flag is cleared,
    // so a store this read misses is seen on the next turn.
    if (interrupt[INTERRUPT_ATTENTION] !== 0) {
      // The notification in hand is answered by the set that decided it, before any reload or stop.
      responder.flush();
      Atomics.store(interrupt, INTERRUPT_ATTENTION, 0);
      if (!p.control()) return 'stopped';
    }
    let recvErrno: number;
    if (responder.takePending()) {
      const r = calls.sendReceive();
      if (r >>> 16 !== 0) responder.sendFailed(r >>> 16);
      recvErrno = r & 0xffff;
    } else {
      recvErrno = calls.receive();
    }
    if (recvErrno === 0) {
      handler.serveReceived();
    } else if (recvErrno === EINTR) {
      if (interrupt[INTERRUPT_ATTENTION] === 0 && (listener.poll(-1, 0) & (PENDING | HUNG_UP)) === HUNG_UP) return 'hangup';
    } else if (recvErrno === ENOENT) {
      // The caller went away before it was received, or no task uses the filter any more.
      if (listener.poll(-1, 0) & HUNG_UP) return 'hangup';
      stats[Stat.recvEnoent] = stats[Stat.recvEnoent]! + 1;
    } else {
      throw Object.assign(new Error(`ioctl(SECCOMP_IOCTL_NOTIF_RECV): ${native.errnoName(recvErrno)}`), { code: native.errnoName(recvErrno), errno: recvErrno });
    }
  }
}
