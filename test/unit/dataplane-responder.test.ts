// The responder (src/dataplane/responder.ts): one answer per notification, in the kernel's terms,
// sent at once or deferred to the loop's next receive; a refused SEND counted or logged. No kernel.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Responder } from '../../src/dataplane/responder.js';
import { Stat } from '../../src/dataplane/stats.js';
import { Notif } from '../../src/layouts.js';
import { FakeListener } from '../support/fake-listener.js';

function setup() {
  const listener = new FakeListener();
  const words = new Uint32Array(32);
  const stats = new Int32Array(32);
  const warnings: string[] = [];
  const responder = new Responder(listener, words, stats, (m) => warnings.push(m));
  /** A new notification with id `id` in the buffer, as a loop receives it. */
  const receive = (id: number) => { words.fill(0); words[Notif.ID_LO] = id; words[Notif.ID_HI] = 0x10; responder.begin(); };
  return { listener, words, stats, warnings, responder, receive };
}

test('an answer goes out at once with the notification\'s id, in the kernel\'s terms', () => {
  const { listener, responder, receive } = setup();
  receive(7);
  responder.answer(42, 1, 0, 0);
  receive(8);
  responder.answer(0, 0, -13, 0);
  receive(9);
  responder.answer(0, 0, 0, 1);
  assert.equal(listener.sent, [
    { id: 7, valueLo: 42, valueHi: 1, error: 0, flags: 0, by: 'send' },
    { id: 8, valueLo: 0, valueHi: 0, error: -13, flags: 0, by: 'send' },
    { id: 9, valueLo: 0, valueHi: 0, error: 0, flags: 1, by: 'send' },
  ]);
  const r = new Int32Array(responder.response.buffer);
  assert.is(r[1], 0x10, 'the id\'s high word too');
  assert.equal([responder.valueLo, responder.error, responder.answered], [0, 0, true]);
});

test('exactly once: the first answer stands, later ones send nothing', () => {
  const { listener, responder, receive } = setup();
  receive(1);
  assert.is(responder.answered, false);
  responder.answer(0, 0, -1, 0);
  responder.answer(5, 0, 0, 0);
  assert.is(responder.respond(6, 0, 0, 0), true);
  assert.is(listener.sent.length, 1);
  assert.equal([responder.valueLo, responder.error], [0, -1], 'what it was answered stays the first answer');
  receive(2);
  assert.equal([responder.answered, responder.valueLo, responder.error], [false, 0, 0], 'a new notification starts unanswered');
});

test('an emulation that answered itself: nothing more is sent', () => {
  const { listener, responder, receive } = setup();
  receive(3);
  responder.answeredElsewhere();
  assert.is(responder.answered, true);
  responder.answer(0, 0, -1, 0);
  responder.flush();
  assert.is(listener.sent.length, 0);
});

test('deferred: the answer waits until the loop takes it or it is flushed, once', () => {
  const { listener, responder, receive } = setup();
  responder.deferring = true;
  receive(4);
  responder.answer(9, 0, 0, 0);
  assert.equal([listener.sent.length, responder.pending, responder.answered], [0, true, true]);
  responder.flush();
  responder.flush();
  assert.equal(listener.sent.map((s) => [s.id, s.valueLo]), [[4, 9]]);
  assert.is(responder.takePending(), false, 'nothing left for dataPlaneSendReceive');

  receive(5);
  responder.answer(0, 0, -2, 0);
  assert.is(responder.takePending(), true, 'dataPlaneSendReceive takes it over');
  assert.is(responder.takePending(), false);
  responder.flush();
  assert.is(listener.sent.length, 1, 'taken over: not sent again by a flush');
  assert.is(new Int32Array(responder.response.buffer)[4], -2, 'the response the loop sends');
});

test('deferred: respond() still answers at once, as an emulation must know whether it arrived', () => {
  const { listener, responder, receive } = setup();
  responder.deferring = true;
  receive(6);
  assert.is(responder.respond(3, 0, 0, 0), true);
  assert.equal([listener.sent.length, responder.pending], [1, false]);
});

test('a refused SEND: ENOENT is counted and reported undelivered; any other errno is logged', () => {
  const { listener, stats, warnings, responder, receive } = setup();
  listener.sendErrors.push('ENOENT', 'EBADF');
  receive(1);
  assert.is(responder.respond(0, 0, 0, 0), false, 'the caller is gone');
  assert.is(stats[Stat.sendEnoent], 1);
  receive(2);
  assert.is(responder.respond(0, 0, 0, 0), true);
  assert.equal(warnings, ['answering notification failed: ioctl(SECCOMP_IOCTL_NOTIF_SEND): EBADF']);
  responder.sendFailed(2);
  assert.is(stats[Stat.sendEnoent], 2, 'dataPlaneSendReceive\'s SEND errno, counted the same way');
});

test.run();
