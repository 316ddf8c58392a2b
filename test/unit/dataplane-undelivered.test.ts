// Undelivered emulations (src/dataplane/undelivered.ts): a restarted call gets the result of the
// emulation whose answer the kernel refused, once, and only when it is the very same call of the same
// thread, soon after. Uses this process's own thread as the caller: no kernel notification, no root.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NOT_REPLAYED, UndeliveredEmulations } from '../../src/dataplane/undelivered.js';
import { Notif, argLo } from '../../src/layouts.js';

/** A notification of thread `tid`: mknodat-like numbers, args as given. */
function notification(tid: number, id: number, args: number[] = [0xffffff9c, 0x1000, 0x2180, 0x103]): Uint32Array {
  const w = new Uint32Array(32);
  w[Notif.ID_LO] = id;
  w[Notif.TID] = tid;
  w[Notif.NR] = 259;
  w[Notif.ARCH] = 0xc000003e;
  w[Notif.IP_LO] = 0x401000;
  args.forEach((a, i) => { w[argLo(i)] = a; });
  return w;
}

const self = process.pid; // the main thread's tid: alive, with a /proc/TID/stat

test('nothing remembered: nothing replayed, on the common path', () => {
  const u = new UndeliveredEmulations();
  assert.is(u.replay(notification(self, 1)), NOT_REPLAYED);
  assert.is(u.size, 0);
});

test('the same call re-issued by the same thread gets the result, once', () => {
  const u = new UndeliveredEmulations();
  u.remember(notification(self, 1), 0);
  assert.is(u.size, 1);
  assert.is(u.replay(notification(self, 2)), 0, 'a new notification id: the kernel re-issued the call');
  assert.is(u.size, 0);
  assert.is(u.replay(notification(self, 3)), NOT_REPLAYED, 'consumed: a third identical call is a new call');
});

test('another call of that thread drops the entry; another thread\'s call leaves it', () => {
  const u = new UndeliveredEmulations();
  u.remember(notification(self, 1), 7);
  assert.is(u.replay(notification(self + 1_000_000, 2)), NOT_REPLAYED);
  assert.is(u.size, 1, 'not that thread\'s');
  assert.is(u.replay(notification(self, 3, [0xffffff9c, 0x1000, 0x2180, 0x104])), NOT_REPLAYED, 'another dev');
  assert.is(u.size, 0, 'the thread\'s next intercepted call was not a restart: dropped');
});

test('a thread that is gone is not remembered', () => {
  const u = new UndeliveredEmulations();
  u.remember(notification(0x3ffffff0, 1), 0);
  assert.is(u.size, 0);
});

test('a restart comes within seconds; a later identical call is a new one', () => {
  const u = new UndeliveredEmulations();
  const now = performance.now.bind(performance);
  let shift = 0;
  Object.defineProperty(performance, 'now', { value: () => now() + shift, configurable: true, writable: true });
  try {
    u.remember(notification(self, 1), 0);
    shift = 6000;
    assert.is(u.replay(notification(self, 2)), NOT_REPLAYED);
    assert.is(u.size, 0);
  } finally {
    delete (performance as unknown as Record<string, unknown>).now;
  }
  assert.ok(performance.now() > 0, 'performance.now restored');
});

test.run();
