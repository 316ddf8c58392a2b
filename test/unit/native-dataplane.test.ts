// The blocking data plane's registered calls (native/dataplane.cc) without a kernel listener: bad
// registrations get a one-line error, calls on a thread that registered nothing throw one line, and
// on an fd that is no listener the ioctls' errnos come back as numbers (never thrown), the receive
// buffer zeroed and no latency counted. The real listener's path: test/kernel/lifecycle.test.ts (stats,
// audit) and the run tests.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, openSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { ADDON_PATH, native } from '../../src/native.js';
import { registerDataPlane } from '../../src/dataplane/listener.js';
import { LATENCY_DOUBLES_BYTE, LATENCY_WORD, newStatsBuffer, statsReport } from '../../src/dataplane/stats.js';

const oneLine = (kind: typeof TypeError | typeof RangeError | typeof Error, pattern: RegExp) => (e: Error) =>
  e instanceof kind && pattern.test(e.message) && !e.message.includes('\n');

test('calls before any registration throw one line', () => {
  native.unregisterDataPlane();
  for (const call of [native.dataPlaneReceive, native.dataPlaneSendReceive, native.dataPlaneSend, native.dataPlaneAnswered]) {
    assert.throws(() => call(), oneLine(Error, /no data plane is registered on this thread/));
  }
});

test('registerDataPlane: bad arguments get a one-line error and register nothing', () => {
  const notif = new Uint8Array(128), resp = new Uint8Array(24), stats = new Int32Array(newStatsBuffer()), result = new Int32Array(1);
  const reg = (...a: unknown[]) => () => (native.registerDataPlane as (...x: unknown[]) => void)(...a);
  assert.throws(reg('3', notif, resp, stats, LATENCY_WORD, LATENCY_DOUBLES_BYTE, result), oneLine(TypeError, /registerDataPlane.*listenerFd/));
  assert.throws(reg(-1, notif, resp, stats, LATENCY_WORD, LATENCY_DOUBLES_BYTE, result), oneLine(RangeError, /listenerFd/));
  assert.throws(reg(0, new Uint8Array(80), resp, stats, LATENCY_WORD, LATENCY_DOUBLES_BYTE, result), oneLine(RangeError, /notif/));
  assert.throws(reg(0, notif, new Uint8Array(23), stats, LATENCY_WORD, LATENCY_DOUBLES_BYTE, result), oneLine(RangeError, /response/));
  assert.throws(reg(0, notif, resp, {}, LATENCY_WORD, LATENCY_DOUBLES_BYTE, result), oneLine(TypeError, /stats/));
  assert.throws(reg(0, notif, resp, stats, stats.length, LATENCY_DOUBLES_BYTE, result), oneLine(RangeError, /latencyWord/));
  assert.throws(reg(0, notif, resp, stats, LATENCY_WORD, LATENCY_DOUBLES_BYTE + 4, result), oneLine(RangeError, /latencyDoublesByte/));
  assert.throws(reg(0, notif, resp, stats, LATENCY_WORD, stats.byteLength, result), oneLine(RangeError, /latencyDoublesByte/));
  assert.throws(reg(0, notif, resp, new Int32Array(stats.buffer, 4), LATENCY_WORD, LATENCY_DOUBLES_BYTE, result), oneLine(RangeError, /aligned/));
  assert.throws(reg(0, notif, resp, stats, LATENCY_WORD, LATENCY_DOUBLES_BYTE), oneLine(TypeError, /registerDataPlane.*result/));
  assert.throws(reg(0, notif, resp, stats, LATENCY_WORD, LATENCY_DOUBLES_BYTE, new Int32Array(0)), oneLine(RangeError, /result/));
  assert.throws(reg(0, notif, resp, stats, LATENCY_WORD, LATENCY_DOUBLES_BYTE, new Uint8Array(8).subarray(1, 5)), oneLine(RangeError, /result/));
  assert.throws(() => native.dataPlaneReceive(), oneLine(Error, /no data plane is registered/));
});

test('on an fd that is no listener: errnos as numbers, the buffer zeroed, nothing counted; unregistering ends it', () => {
  const fd = openSync('/dev/null', 'r');
  try {
    const buffer = newStatsBuffer();
    const notif = new Uint8Array(128).fill(7), resp = new Uint8Array(24);
    const calls = registerDataPlane(fd, notif, resp, new Int32Array(buffer));
    const ENOTTY = native.errnoNumber('ENOTTY');
    assert.is(calls.receive(), ENOTTY);
    assert.ok(notif.subarray(0, 80).every((b) => b === 0), 'struct zeroed');
    assert.is(new Float64Array(notif.buffer, native.constants.NOTIF_BYTE_RECEIVED_NS, 1)[0], 0, 'no receive time');
    assert.is(notif[80], 7, 'the host\'s portable id word is left alone');
    assert.is(calls.sendReceive(), (ENOTTY << 16) | ENOTTY);
    assert.is(calls.send(), ENOTTY);
    calls.answered();
    assert.is(statsReport(buffer, []).latency.count, 0, 'nothing was received, so nothing is timed');
    native.unregisterDataPlane();
    assert.throws(() => calls.send(), oneLine(Error, /no data plane is registered/));
  } finally {
    native.unregisterDataPlane();
    closeSync(fd);
  }
});

test('a registration is its thread\'s own: another thread sees none, and registers and unregisters its own', async () => {
  const fd = openSync('/dev/null', 'r');
  try {
    const calls = registerDataPlane(fd, new Uint8Array(128), new Uint8Array(24), new Int32Array(newStatsBuffer()));
    // The worker loads the addon into its own environment, as a data-plane worker does.
    const worker = new Worker(`
      const { parentPort, workerData: { addon, fd } } = require('node:worker_threads');
      const native = require(addon);
      const seen = [];
      try { native.dataPlaneReceive(); seen.push('no error'); } catch (e) { seen.push(e.message); }
      const result = new Int32Array(1);
      const stats = new Int32Array(new SharedArrayBuffer(1 << 16));
      native.registerDataPlane(fd, new Uint8Array(128), new Uint8Array(24), stats, 0, 8192, result);
      native.dataPlaneReceive();
      seen.push(result[0]);
      native.unregisterDataPlane();
      parentPort.postMessage(seen);
    `, { eval: true, workerData: { addon: ADDON_PATH, fd } });
    const [seen] = await once(worker, 'message') as [unknown[]];
    await once(worker, 'exit');
    assert.match(String(seen[0]), /no data plane is registered on this thread/);
    assert.is(seen[1], native.errnoNumber('ENOTTY'));
    // The worker's unregistering left this thread's registration alone.
    assert.is(calls.receive(), native.errnoNumber('ENOTTY'));
  } finally {
    native.unregisterDataPlane();
    closeSync(fd);
  }
});

test.run();
