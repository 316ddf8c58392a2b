// native.pollListeners (native/fds.cc), the one poll() of a data-plane thread that serves many
// listeners (src/dataplane/multiplex.ts): per fd what pollListener says of one, a closed fd reported
// for itself alone, the wake eventfd drained. Pipes stand for listeners: poll reports them alike
// (readable = a notification pending, POLLHUP = no task uses the filter any more).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeSync } from 'node:fs';
import { native } from '../../src/native.js';

test('pollListeners: readable, hung up, not open, and the wake eventfd, each reported for its own fd', () => {
  const [quietR, quietW] = native.pipe();
  const [readyR, readyW] = native.pipe();
  const [hungR, hungW] = native.pipe();
  const [closedR, closedW] = native.pipe();
  const wake = native.eventfd();
  const open = [quietR, quietW, readyR, readyW, hungR, closedW, wake];
  try {
    writeSync(readyW, 'x');
    native.eventfdWrite(wake, 1);
    native.close(hungW);
    native.close(closedR);
    const fds = new Uint32Array([quietR, readyR, hungR, closedR]);
    const events = new Uint32Array(4).fill(99);
    assert.is(native.pollListeners(fds, 4, events, wake, 1000), 4, 'the eventfd fired');
    assert.equal([...events], [0, 1, 2, 8]);
    // Drained: with a zero timeout only the readable pipe is left.
    events.fill(99);
    assert.is(native.pollListeners(fds, 2, events, wake, 0), 0);
    assert.equal([...events.subarray(0, 2)], [0, 1]);
    // Without a wake fd, and nothing ready: 0 after the timeout.
    assert.is(native.pollListeners(new Uint32Array([quietR]), 1, events, -1, 10), 0);
    assert.is(events[0], 0);
  } finally {
    for (const fd of open) native.close(fd);
  }
});

test('pollListeners: a count beyond its arrays or its bound is a RangeError, never a read past them', () => {
  assert.throws(() => native.pollListeners(new Uint32Array(2), 2, new Uint32Array(1), -1, 0), (e: Error) => e instanceof RangeError);
  assert.throws(() => native.pollListeners(new Uint32Array(5000), 5000, new Uint32Array(5000), -1, 0), (e: Error) => e instanceof RangeError);
  assert.throws(() => native.pollListeners(new Uint32Array(1), 1, new Uint8Array(4) as never, -1, 0), (e: Error) => e instanceof TypeError);
});

test.run();
