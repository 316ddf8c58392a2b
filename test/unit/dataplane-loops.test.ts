// The receive loops (src/dataplane/loops.ts) driven by a scripted listener: what they receive, when
// they answer, pick up control messages, count, stop and notice a hang-up. No kernel, no root.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { serveBlocking, servePolling, type LoopParts } from '../../src/dataplane/loops.js';
import { HUNG_UP, PENDING, WOKEN } from '../../src/dataplane/listener.js';
import { Responder } from '../../src/dataplane/responder.js';
import { INTERRUPT_ATTENTION, INTERRUPT_WORDS } from '../../src/dataplane/protocol.js';
import { Stat } from '../../src/dataplane/stats.js';
import { Notif } from '../../src/layouts.js';
import { EINTR, ENOENT, FakeListener } from '../support/fake-listener.js';

/** A loop over `listener` whose handler answers each notification with its id + 1000 as the value. */
function parts(listener: FakeListener, control: () => boolean = () => true) {
  const notif = new Uint8Array(128);
  const words = new Uint32Array(notif.buffer);
  const stats = new Int32Array(32);
  const responder = new Responder(listener, words, stats, (m) => { throw new Error(`unexpected warning: ${m}`); });
  const handled: number[] = [];
  const controls: number[] = [];
  const handler = {
    onServe: null as (() => void) | null,
    serveReceived() {
      responder.begin();
      handled.push(words[Notif.ID_LO]!);
      responder.answer(words[Notif.ID_LO]! + 1000, 0, 0, 0);
      this.onServe?.();
    },
  };
  const p: LoopParts = { listener, notif, responder, handler, stats, control: () => { controls.push(handled.length); return control(); } };
  return { p, handled, controls, stats, handler, responder };
}

test('polling: receives, answers at once, takes control messages, counts a vanished caller, ends on hang-up', () => {
  const listener = new FakeListener()
    .on('poll', { events: PENDING }, { events: WOKEN }, { events: PENDING }, { events: PENDING | WOKEN }, { events: HUNG_UP })
    .on('recv', { receive: { id: 1 } }, { throw: 'ENOENT' }, { receive: { id: 2 } });
  const { p, handled, controls, stats } = parts(listener);
  assert.is(servePolling(p, 99), 'hangup');
  assert.equal(handled, [1, 2]);
  assert.equal(controls, [1, 1], 'control messages between notifications, before the one pending with them');
  assert.is(stats[Stat.recvEnoent], 1);
  assert.equal(listener.sent.map((s) => [s.id, s.valueLo, s.by]), [[1, 1001, 'send'], [2, 1002, 'send']]);
});

test('polling: a stop ends the loop before the notification pending with it is received', () => {
  const listener = new FakeListener().on('poll', { events: PENDING | WOKEN });
  const { p, handled } = parts(listener, () => false);
  assert.is(servePolling(p, 99), 'stopped');
  assert.equal(handled, []);
  assert.equal(listener.calls, ['poll']);
});

test('polling: an error other than ENOENT ends the loop (the worker, and the listener with it)', () => {
  const listener = new FakeListener().on('poll', { events: PENDING }).on('recv', { throw: 'EBADF' });
  const { p } = parts(listener);
  assert.throws(() => servePolling(p, 99), /EBADF/);
});

test('blocking: each answer goes out with the next receive, in one call', () => {
  const interrupt = new Int32Array(INTERRUPT_WORDS);
  const listener = new FakeListener()
    .on('recvBlocking', { receive: { id: 1 } })
    .on('sendRecv', { sendRecv: { receive: { id: 2 } } }, { sendRecv: { receive: { id: 3 } } }, { sendRecv: { recvErrno: ENOENT } })
    .on('poll', { events: HUNG_UP });
  const { p, handled } = parts(listener);
  assert.is(serveBlocking(p, listener.registered(p.notif, p.responder.response), interrupt, true), 'hangup');
  assert.equal(handled, [1, 2, 3]);
  assert.equal(listener.sent.map((s) => [s.id, s.valueLo, s.by]), [[1, 1001, 'sendRecv'], [2, 1002, 'sendRecv'], [3, 1003, 'sendRecv']]);
  assert.equal(listener.calls, ['recvBlocking', 'sendRecv', 'sendRecv', 'sendRecv', 'poll']);
});

test('blocking: control messages come after the answer in hand is flushed; a stop ends the loop', () => {
  const interrupt = new Int32Array(INTERRUPT_WORDS);
  const listener = new FakeListener().on('recvBlocking', { receive: { id: 5 } });
  const { p, handled, handler, controls } = parts(listener, () => false);
  // The control plane posts a stop while notification 5 is being decided.
  handler.onServe = () => Atomics.store(interrupt, INTERRUPT_ATTENTION, 1);
  assert.is(serveBlocking(p, listener.registered(p.notif, p.responder.response), interrupt, true), 'stopped');
  assert.equal(handled, [5]);
  assert.equal(controls, [1]);
  assert.equal(listener.sent.map((s) => [s.id, s.by]), [[5, 'send']], 'answered by the set that decided it, before stopping');
  assert.is(Atomics.load(interrupt, INTERRUPT_ATTENTION), 0, 'attention taken');
});

test('blocking: an interrupted RECV checks for messages, then for a hang-up', () => {
  const interrupt = new Int32Array(INTERRUPT_WORDS);
  const listener = new FakeListener()
    .on('recvBlocking',
      { interrupted: true }, // a periodic signal, nothing pending: poll says nothing happened
      { run: () => Atomics.store(interrupt, INTERRUPT_ATTENTION, 1) }, { interrupted: true }, // a message: no poll
      { interrupted: true }) // then the filter has no users any more
    .on('poll', { events: 0 }, { events: HUNG_UP });
  let reloads = 0;
  const { p, controls } = parts(listener, () => { reloads++; return true; });
  assert.is(serveBlocking(p, listener.registered(p.notif, p.responder.response), interrupt, true), 'hangup');
  assert.equal([reloads, controls.length], [1, 1]);
  assert.equal(listener.calls, ['recvBlocking', 'poll', 'recvBlocking', 'recvBlocking', 'poll']);
});

test('blocking: a caller gone before it was received is counted; a refused SEND too', () => {
  const interrupt = new Int32Array(INTERRUPT_WORDS);
  const listener = new FakeListener()
    .on('recvBlocking', { throw: 'ENOENT' }, { receive: { id: 1 } })
    .on('sendRecv', { sendRecv: { sendErrno: ENOENT, recvErrno: EINTR } })
    .on('poll', { events: 0 }, { events: 0 }, { events: HUNG_UP })
    .on('recvBlocking', { throw: 'ENOENT' });
  const { p, stats } = parts(listener);
  assert.is(serveBlocking(p, listener.registered(p.notif, p.responder.response), interrupt, true), 'hangup');
  assert.is(stats[Stat.recvEnoent], 1);
  assert.is(stats[Stat.sendEnoent], 1);
});

test('blocking without deferring (delayed SEND faults): answers go out one by one', () => {
  const interrupt = new Int32Array(INTERRUPT_WORDS);
  const listener = new FakeListener()
    .on('recvBlocking', { receive: { id: 1 } }, { receive: { id: 2 } }, { throw: 'ENOENT' })
    .on('poll', { events: HUNG_UP });
  const { p } = parts(listener);
  assert.is(serveBlocking(p, listener.registered(p.notif, p.responder.response), interrupt, false), 'hangup');
  assert.equal(listener.sent.map((s) => [s.id, s.by]), [[1, 'send'], [2, 'send']]);
  assert.not.ok(listener.calls.includes('sendRecv'));
});

test('blocking: the responder sends through the registered calls only while the loop runs', () => {
  const interrupt = new Int32Array(INTERRUPT_WORDS);
  const listener = new FakeListener().on('recvBlocking', { receive: { id: 1 } }, { throw: 'ENOENT' }).on('poll', { events: HUNG_UP });
  const { p, responder } = parts(listener);
  let during: unknown = null;
  const calls = listener.registered(p.notif, responder.response);
  p.handler.serveReceived = () => { during = responder.calls; responder.begin(); responder.respond(7, 0, 0, 0); };
  assert.is(serveBlocking(p, calls, interrupt, true), 'hangup');
  assert.is(during, calls);
  assert.is(responder.calls, null);
  assert.equal(listener.sent.map((s) => [s.id, s.valueLo, s.by]), [[1, 7, 'send']]);
});

test('blocking: a RECV errno the loop does not expect ends it', () => {
  const interrupt = new Int32Array(INTERRUPT_WORDS);
  const listener = new FakeListener().on('recvBlocking', { receive: { id: 1 } }).on('sendRecv', { sendRecv: { recvErrno: 9 } });
  const { p } = parts(listener);
  assert.throws(() => serveBlocking(p, listener.registered(p.notif, p.responder.response), interrupt, true), /SECCOMP_IOCTL_NOTIF_RECV/);
});

test.run();
