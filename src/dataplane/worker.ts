// The entry of a data-plane worker thread that serves one listener (`wasmsup run`, started by
// control.ts): reads its workerData, builds the listener's serving context (served-listener.ts: the
// responder, host functions, policy set, primitives, handler), runs the receive loop (loops.ts) — the
// blocking one where it can, for the lowest latency — and applies the control plane's messages between
// two notifications. The OCI agent's threads, which serve many listeners each, are
// multiplex-worker.ts. This file only connects parts that can be loaded and tested on their own.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { native } from '../native.js';
import { statusFiles } from '../caller/status-files.js';
import { PrivilegedHelper } from '../emulate/helper-client.js';
import { INTERRUPT_TID, type ControlMessage, type DataPlaneConfig, type WorkerMessage } from './protocol.js';
import { ServedListener } from './served-listener.js';
import { serveBlocking, servePolling, type LoopEnd, type LoopParts } from './loops.js';
import { registerDataPlane } from './listener.js';
import { delayedSend, parseTestFaults } from './test-faults.js';

const config = workerData as DataPlaneConfig;
const port = parentPort!;
const post = (m: WorkerMessage) => port.postMessage(m);
const warn = (message: string) => post({ type: 'log', level: 'warn', message });

// Test-only (test-faults.ts): unset outside the reliability tests, and then nothing is wrapped.
const faults = parseTestFaults(process.env.WASMSUP_TEST_FAULTS);
if (faults) warn(`WASMSUP_TEST_FAULTS is set: injecting faults for testing (${process.env.WASMSUP_TEST_FAULTS})`);

const listenerFd = config.listenerFd;
const helper = config.helperFd >= 0 ? new PrivilegedHelper(config.helperFd, config.helperPidfd) : null;
const served = new ServedListener(config, { helper, supervisorUsernsInode: config.supervisorUsernsInode, faults },
  (level, message) => post({ type: 'log', level, message }));
const { listener, notif, responder, handler, stats } = served;

/** Applies pending control messages; returns false when the worker must stop. */
function control(): boolean {
  for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
    const message = m.message as ControlMessage;
    if (message.type === 'stop') return false;
    if (message.type === 'reload') {
      // Instantiating happens here, between two notifications: the one before was answered by the
      // old set, the next one will be by the new set, and none sees a mixture.
      try {
        served.reload(message.policies, message.slots);
        post({ type: 'reloaded', generation: message.generation });
      } catch (e) {
        post({ type: 'reload-failed', generation: message.generation, reason: (e as Error).message });
      }
    }
  }
  return true;
}

const loop: LoopParts = { listener, notif, responder, handler, control, stats };
const interrupt = config.interrupt ? new Int32Array(config.interrupt) : null;

function serve(): LoopEnd {
  let syncWakeUp = false;
  if (config.syncWakeUp) {
    try { native.notifSetFlags(listenerFd, native.constants.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP); syncWakeUp = true; }
    catch (e) { post({ type: 'log', level: 'debug', message: `SYNC_WAKE_UP unavailable: ${(e as Error).message}` }); }
  }
  // Blocking in RECV pays only with the synchronous wake-up (without it the woken thread migrates
  // anyway), and needs the interrupt signal to be ours.
  if (syncWakeUp && interrupt !== null) {
    try {
      Atomics.store(interrupt, INTERRUPT_TID, native.prepareInterrupt());
    } catch (e) {
      post({ type: 'log', level: 'debug', message: `blocking receive unavailable, polling: ${(e as Error).message}` });
    }
  }
  post({ type: 'ready' });
  if (interrupt !== null && Atomics.load(interrupt, INTERRUPT_TID) > 0) {
    // The listener and buffers are registered for this thread once; the loop's calls then take none.
    const calls = registerDataPlane(listenerFd, notif, responder.response, stats);
    // With faults that delay the SEND (test-faults.ts), answers go out one by one through the delayed send.
    if (faults !== null) calls.send = delayedSend(faults, calls.send);
    return serveBlocking(loop, calls, interrupt, faults === null || faults.delaySendMs === 0);
  }
  return servePolling(loop, config.wakeFd);
}

let reason: LoopEnd;
try {
  reason = serve();
} finally {
  // Fds are the process's, not the thread's: kept ones would outlive this worker (an OCI agent ends
  // one per container).
  statusFiles.close();
  served.dispose();
  native.unregisterDataPlane();
}
post({ type: 'done', reason });
