// The data-plane worker thread's entry (one per listener, started by control.ts): reads its
// workerData, builds the parts — the listener, the responder (responder.ts), the host functions
// (host-functions.ts), the policy set, the primitives, the handler (handler.ts) — runs the receive
// loop (loops.ts), and applies the control plane's messages between two notifications. Everything it
// wires up can be loaded and tested on its own; this file only connects them.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { native } from '../native.js';
import { NOTIF_BUFFER_BYTES } from '../layouts.js';
import { statusFiles } from '../caller/status-files.js';
import { CallerSnapshot } from '../caller/snapshot.js';
import { PrivilegedHelper } from '../emulate/helper-client.js';
import { CredsBlockWriter } from './creds-block.js';
import { FdInspector } from './fd-info.js';
import { HostFunctions } from './host-functions.js';
import { OutWrites } from './out-writes.js';
import { OutBufferTable } from './out-buffers.js';
import { Stat, StatsWriter } from './stats.js';
import { AuditWriter } from './audit.js';
import { PolicySet } from './policy-set.js';
import { createPrimitives } from './primitives.js';
import { INTERRUPT_TID, type ControlMessage, type DataPlaneConfig, type WorkerMessage } from './protocol.js';
import { nativeListener, type Listener } from './listener.js';
import { Responder } from './responder.js';
import { NotificationHandler } from './handler.js';
import { serveBlocking, servePolling, type LoopEnd, type LoopParts } from './loops.js';
import { delayedSend, parseTestFaults, throwEveryNth } from './test-faults.js';

const config = workerData as DataPlaneConfig;
const port = parentPort!;
const post = (m: WorkerMessage) => port.postMessage(m);
const warn = (message: string) => post({ type: 'log', level: 'warn', message });
const warned = new Set<string>();
const warnOnce = (message: string) => { if (!warned.has(message)) { warned.add(message); warn(message); } };

// Test-only (test-faults.ts): unset outside the reliability tests, and then nothing is wrapped.
const faults = parseTestFaults(process.env.WASMSUP_TEST_FAULTS);
if (faults) warn(`WASMSUP_TEST_FAULTS is set: injecting faults for testing (${process.env.WASMSUP_TEST_FAULTS})`);

const listenerFd = config.listenerFd;
const plainListener = nativeListener(listenerFd);
const listener: Listener = faults ? { ...plainListener, send: delayedSend(faults, plainListener.send) } : plainListener;
const notif = new Uint8Array(NOTIF_BUFFER_BYTES);
const words = new Uint32Array(notif.buffer);
const stats = new Int32Array(config.stats);
const statsWriter = new StatsWriter(config.stats);

const caller = new CallerSnapshot();
const credsBlock = new CredsBlockWriter(config.workloadUsernsInode, config.supervisorUsernsInode);
const outWrites = new OutWrites(new OutBufferTable());
const host = new HostFunctions(listener, notif, words, caller, credsBlock, new FdInspector(listenerFd),
  (level, message) => post({ type: 'log', level, message }), outWrites);
const newPolicySet = (policies: DataPlaneConfig['policies'], slots: number[] | undefined) =>
  new PolicySet(policies, host, { maxTraps: config.maxTraps, slots, stats: statsWriter });

const helper = config.helperFd >= 0 ? new PrivilegedHelper(config.helperFd, config.helperPidfd) : null;
const primitives = createPrimitives({
  helper, listenerFd, warn: warnOnce, faults, workloadUsernsInode: config.workloadUsernsInode, workload: config.workload ?? null,
  maxLend: config.maxLend,
});
const responder = new Responder(listener, words, stats, warn);
const handler = new NotificationHandler({
  notif, words, listener, responder, policySet: newPolicySet(config.policies, config.policySlots), primitives, caller,
  stats, statsWriter, audit: config.audit ? new AuditWriter(config.audit, statsWriter) : null,
  failErrno: config.failErrno, defaultAction: config.defaultAction ?? 'continue', workload: config.workload ?? null,
  warn, beforeHandle: faults ? throwEveryNth(faults) : null, outWrites,
});

/** Applies pending control messages; returns false when the worker must stop. */
function control(): boolean {
  for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
    const message = m.message as ControlMessage;
    if (message.type === 'stop') return false;
    if (message.type === 'reload') {
      // Instantiating happens here, between two notifications: the one before was answered by the
      // old set, the next one will be by the new set, and none sees a mixture.
      try {
        handler.policySet = newPolicySet(message.policies, message.slots);
        stats[Stat.reloads] = stats[Stat.reloads]! + 1;
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
    // With faults that delay the SEND (test-faults.ts), answers go out one by one through the delayed send.
    return serveBlocking(loop, interrupt, faults === null || faults.delaySendMs === 0);
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
  for (const primitive of primitives) primitive?.dispose?.();
  credsBlock.close();
}
post({ type: 'done', reason });
