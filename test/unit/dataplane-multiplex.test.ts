// The receive loop of a thread that serves many listeners (src/dataplane/multiplex.ts), driven by
// scripted listeners (test/support/fake-listener.ts): round-robin service, no listener starving the
// others, control messages between rounds, a listener that hangs up or errors dropped alone. The
// "poll" asks each fake listener's script in turn, as one poll() over all of them would answer.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ListenerRing, NOT_OPEN, serveMultiplexed, type Multiplexed } from '../../src/dataplane/multiplex.js';
import { HUNG_UP, PENDING, WOKEN } from '../../src/dataplane/listener.js';
import { Responder } from '../../src/dataplane/responder.js';
import { Stat } from '../../src/dataplane/stats.js';
import { Notif } from '../../src/layouts.js';
import { TaintedThreadError } from '../../src/errors.js';
import { FakeListener } from '../support/fake-listener.js';

/** A served listener whose handler answers each notification with its id + 1000 and records (name, id). */
class Fake implements Multiplexed {
  readonly listener = new FakeListener();
  readonly notif = new Uint8Array(128);
  readonly words = new Uint32Array(this.notif.buffer);
  readonly stats = new Int32Array(32);
  readonly responder = new Responder(this.listener, this.words, this.stats, (m) => { throw new Error(`unexpected warning: ${m}`); });
  onServe: (() => void) | null = null;
  readonly handler = {
    serveReceived: () => {
      this.responder.begin();
      this.log.push(`${this.name}${this.words[Notif.ID_LO]}`);
      this.onServe?.();
      this.responder.answer(this.words[Notif.ID_LO]! + 1000, 0, 0, 0);
    },
  };
  constructor(readonly name: string, readonly listenerFd: number, readonly log: string[]) {}

  /** Its next `n` polls say a notification is pending, and its next `n` receives get ids 1..n. */
  pending(n: number): this {
    for (let i = 1; i <= n; i++) this.listener.on('poll', { events: PENDING }).on('recv', { receive: { id: i } });
    return this;
  }
}

/** A loop over `fakes`: each round's poll takes one step of every fake's poll script (0 once it ran out), and `wake` for the eventfd. */
function loop(fakes: Fake[], opts: { wake?: number[]; control?: () => boolean; rounds?: number } = {}) {
  const ring = new ListenerRing<Fake>();
  for (const f of fakes) ring.add(f);
  const dropped: string[] = [];
  const wake = [...(opts.wake ?? [])];
  let rounds = 0;
  const limit = opts.rounds ?? 50;
  const parts = {
    ring,
    poll: (count: number) => {
      if (++rounds > limit) throw new Error('test: enough rounds');
      for (let i = 0; i < count; i++) {
        const f = ring.at(i);
        ring.events[i] = f.listener.stepsLeft('poll') ? f.listener.poll(-1, 0) : 0;
      }
      return wake.shift() ?? 0;
    },
    control: opts.control ?? (() => true),
    dropped: (f: Fake, e: Error | null) => { dropped.push(`${f.name}:${e === null ? 'hangup' : (e as NodeJS.ErrnoException).code ?? e.message}`); },
  };
  return { parts, ring, dropped, rounds: () => rounds };
}

test('round-robin: one notification per pending listener per round, each round starting one further on', () => {
  const log: string[] = [];
  const a = new Fake('a', 10, log).pending(3), b = new Fake('b', 11, log).pending(3), c = new Fake('c', 12, log).pending(3);
  const { parts } = loop([a, b, c], { rounds: 4 });
  assert.throws(() => serveMultiplexed(parts), /enough rounds/);
  assert.equal(log, ['b1', 'c1', 'a1', 'c2', 'a2', 'b2', 'a3', 'b3', 'c3']);
  for (const f of [a, b, c]) assert.equal(f.listener.sent.map((s) => [s.id, s.valueLo, s.by]), [[1, 1001, 'send'], [2, 1002, 'send'], [3, 1003, 'send']]);
});

test('no starvation: a listener that always has a notification pending gets one per round, like the others', () => {
  const log: string[] = [];
  const busy = new Fake('busy', 10, log).pending(20);
  const quiet = new Fake('quiet', 11, log);
  quiet.listener.on('poll', { events: 0 }, { events: PENDING }).on('recv', { receive: { id: 7 } });
  const { parts } = loop([busy, quiet], { rounds: 3 });
  assert.throws(() => serveMultiplexed(parts), /enough rounds/);
  // The quiet listener's one notification is served in the first round it is pending in, after at most one of busy's.
  assert.equal(log, ['busy1', 'busy2', 'quiet7', 'busy3']);
});

test('a listener whose receive fails is dropped alone; a vanished caller (ENOENT) is only counted', () => {
  const log: string[] = [];
  const a = new Fake('a', 10, log);
  a.listener.on('poll', { events: PENDING }, { events: PENDING }).on('recv', { throw: 'ENOENT' }, { throw: 'EBADF' });
  const b = new Fake('b', 11, log).pending(4);
  const { parts, ring, dropped } = loop([a, b], { rounds: 4 });
  assert.throws(() => serveMultiplexed(parts), /enough rounds/);
  assert.equal(dropped, ['a:EBADF']);
  assert.is(a.stats[Stat.recvEnoent], 1);
  assert.equal(log, ['b1', 'b2', 'b3', 'b4'], 'b is served throughout');
  assert.equal(ring.list().map((f) => f.name), ['b']);
});

test('a listener that hangs up, or whose fd is not open, is dropped alone; one with a notification pending is served first', () => {
  const log: string[] = [];
  const a = new Fake('a', 10, log);
  a.listener.on('poll', { events: PENDING | HUNG_UP }, { events: HUNG_UP }).on('recv', { receive: { id: 1 } });
  const b = new Fake('b', 11, log);
  b.listener.on('poll', { events: NOT_OPEN });
  const c = new Fake('c', 12, log).pending(3);
  const { parts, dropped, ring } = loop([a, b, c], { rounds: 3 });
  assert.throws(() => serveMultiplexed(parts), /enough rounds/);
  assert.equal(dropped.sort(), ['a:hangup', 'b:EBADF']);
  assert.equal(log.filter((l) => l.startsWith('a')), ['a1'], 'its last notification answered before the hang-up');
  assert.equal(log.filter((l) => l.startsWith('c')), ['c1', 'c2', 'c3']);
  assert.equal(ring.list().map((f) => f.name), ['c']);
});

test('a handler failure drops its listener alone; one that taints the thread ends the loop', () => {
  const log: string[] = [];
  const a = new Fake('a', 10, log).pending(1), b = new Fake('b', 11, log).pending(2);
  a.onServe = () => { throw new Error('broken context'); };
  const { parts, dropped } = loop([a, b], { rounds: 3 });
  assert.throws(() => serveMultiplexed(parts), /enough rounds/);
  assert.equal(dropped, ['a:broken context']);
  assert.equal(log, ['b1', 'a1', 'b2']);

  const c = new Fake('c', 12, log).pending(1);
  c.onServe = () => { throw new TaintedThreadError('cannot restore credentials'); };
  assert.throws(() => serveMultiplexed(loop([c]).parts), (e: unknown) => e instanceof TaintedThreadError);
});

test('control messages between rounds: listeners added and removed, and a stop ends the loop before the round', () => {
  const log: string[] = [];
  const a = new Fake('a', 10, log).pending(3);
  const b = new Fake('b', 11, log).pending(2);
  let ring!: ListenerRing<Fake>;
  let controls = 0;
  const l = loop([a], {
    wake: [0, WOKEN, 0, WOKEN],
    control: () => {
      controls++;
      if (controls === 1) { ring.add(b); ring.remove(a); return true; }
      return false;
    },
  });
  ring = l.ring;
  // While a's second notification is pending the control plane adds b and stops serving a.
  assert.is(serveMultiplexed(l.parts), 'stopped');
  assert.equal(log, ['a1', 'b1']);
  assert.is(controls, 2);
  assert.equal(a.listener.sent.map((s) => s.id), [1], 'a removed: its pending notification is left in the kernel for the next reader');
});

test('the ring refuses a listener beyond its maximum and forgets removed ones at the next round', () => {
  const ring = new ListenerRing<Fake>();
  const log: string[] = [];
  const f = new Fake('x', 3, log);
  assert.ok(ring.add(f));
  assert.ok(ring.has(f));
  assert.ok(ring.remove(f));
  assert.not.ok(ring.remove(f), 'removed once');
  assert.is(ring.size, 0);
  assert.is(ring.compact(), 0);
});

test.run();
