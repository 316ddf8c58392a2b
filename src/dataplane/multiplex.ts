// The receive loop of a data-plane thread that serves many listeners (the OCI agent's containers;
// multiplex-worker.ts): one poll() over every listener and the wake eventfd, then, round-robin, at most
// one notification from each listener that has one pending, each received, decided and answered at
// once (as servePolling does for one listener, loops.ts). Between two rounds it picks up control
// messages (a container added, reloaded, removed) and drops the listeners that hung up or failed.
//
// No container can starve the others: a notification's handling is bounded (a policy's fuel, the
// helper's time limit), a round takes one notification from each pending listener, and each round
// starts one listener further on, so a listener that always has one pending is served once per round
// like every other. A listener whose RECV fails with anything but ENOENT (the caller went away) is
// dropped alone; only an error that taints the thread itself (TaintedThreadError) ends the loop.
//
// It reaches the kernel only through each listener (listener.ts) and the `poll` it is given, so a
// unit test drives it with fakes (test/unit/dataplane-multiplex.test.ts).
import { TaintedThreadError } from '../errors.js';
import { Stat } from './stats.js';
import { HUNG_UP, PENDING, WOKEN, type Listener } from './listener.js';

/** pollListeners' bit for a listener fd that is not open (POLLNVAL). */
export const NOT_OPEN = 8;

/** The most listeners one thread serves (native pollListeners' bound). */
export const MAX_LISTENERS_PER_THREAD = 4096;

/** One listener as the loop sees it (a ServedListener has all of these). */
export interface Multiplexed {
  readonly listenerFd: number;
  readonly listener: Listener;
  /** The buffer its notifications are received into. */
  readonly notif: Uint8Array;
  /** Handles the notification just received into `notif`, answering it exactly once. */
  readonly handler: { serveReceived(): void };
  /** Its counters (Stat.recvEnoent). */
  readonly stats: Int32Array;
}

/**
 * The listeners a thread serves, in the order it polls them. Removing one during a round only marks
 * it; it leaves the arrays at the start of the next round, so the round's poll results stay aligned.
 */
export class ListenerRing<T extends Multiplexed> {
  private items: T[] = [];
  private removed = new Set<T>();
  /** fds[0..polled) as polled this round; events[i] what poll said of items[i]. */
  readonly fds = new Uint32Array(MAX_LISTENERS_PER_THREAD);
  readonly events = new Uint32Array(MAX_LISTENERS_PER_THREAD);

  get size(): number { return this.items.length - this.removed.size; }

  /** Adds `item` (served from the next round on); false when the thread serves its maximum already. */
  add(item: T): boolean {
    if (this.size >= MAX_LISTENERS_PER_THREAD || this.items.length >= MAX_LISTENERS_PER_THREAD) return false;
    this.items.push(item);
    return true;
  }

  /** Stops serving `item` (from this moment: the loop skips it); false when it was not served. */
  remove(item: T): boolean {
    if (!this.items.includes(item) || this.removed.has(item)) return false;
    this.removed.add(item);
    return true;
  }

  has(item: T): boolean { return this.items.includes(item) && !this.removed.has(item); }

  /** The listeners served now (a copy). */
  list(): T[] { return this.items.filter((i) => !this.removed.has(i)); }

  /** Before a round's poll: forgets the removed ones and lays out the fds; returns how many to poll. */
  compact(): number {
    if (this.removed.size) {
      this.items = this.items.filter((i) => !this.removed.has(i));
      this.removed.clear();
    }
    for (let i = 0; i < this.items.length; i++) this.fds[i] = this.items[i]!.listenerFd;
    return this.items.length;
  }

  at(i: number): T { return this.items[i]!; }

  isRemoved(item: T): boolean { return this.removed.has(item); }
}

export interface MultiplexParts<T extends Multiplexed> {
  ring: ListenerRing<T>;
  /**
   * Waits for any of ring.fds[0..count) or the wake eventfd: fills ring.events[0..count) with
   * pollListeners' bits (PENDING, HUNG_UP, NOT_OPEN) and returns WOKEN when the eventfd fired.
   */
  poll(count: number): number;
  /** Applies pending control messages (which may add or remove listeners); false when the thread must stop. */
  control(): boolean;
  /** `item` hung up (no task uses its filter any more) or failed (`error`); it has left the ring already. */
  dropped(item: T, error: Error | null): void;
}

/** Serves the ring until control() says stop. Throws only what taints the thread (TaintedThreadError) or a failed poll. */
export function serveMultiplexed<T extends Multiplexed>(p: MultiplexParts<T>): 'stopped' {
  const { ring } = p;
  let start = 0;
  for (;;) {
    const count = ring.compact();
    const woken = p.poll(count);
    if (woken & WOKEN && !p.control()) return 'stopped';
    if (count === 0) continue;
    start = start + 1 < count ? start + 1 : 0;
    for (let k = 0; k < count; k++) {
      const i = start + k < count ? start + k : start + k - count;
      const events = ring.events[i]!;
      if (events === 0) continue;
      const item = ring.at(i);
      if (ring.isRemoved(item)) continue; // removed during this round (a stop, or dropped)
      if (events & NOT_OPEN) {
        drop(p, item, Object.assign(new Error('poll: its listener fd is not open'), { code: 'EBADF' }));
      } else if (events & PENDING) {
        serveOne(p, item);
      } else if (events & HUNG_UP) {
        drop(p, item, null);
      }
    }
  }
}

function drop<T extends Multiplexed>(p: MultiplexParts<T>, item: T, error: Error | null): void {
  p.ring.remove(item);
  p.dropped(item, error);
}

/** RECV one notification from `item` and has it answered; a failure other than ENOENT drops `item` alone. */
function serveOne<T extends Multiplexed>(p: MultiplexParts<T>, item: T): void {
  try {
    item.listener.recv(item.notif);
  } catch (e) {
    // ENOENT: the caller went away between poll and receive (or, with POLLHUP, the last one did).
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') { item.stats[Stat.recvEnoent] = item.stats[Stat.recvEnoent]! + 1; return; }
    drop(p, item, e as Error);
    return;
  }
  try {
    item.handler.serveReceived();
  } catch (e) {
    // The handler answers every notification itself, whatever fails; what reaches here ends the
    // thread (TaintedThreadError) or means this listener's context is broken: it alone is dropped,
    // and its listener closed by the control plane (the kernel answers its calls ENOSYS).
    if (e instanceof TaintedThreadError) throw e;
    drop(p, item, e as Error);
  }
}
