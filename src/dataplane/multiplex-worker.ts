// The entry of a data-plane thread that serves many listeners (the OCI agent's; started by
// threads.ts): one V8 isolate and one privileged helper for all the containers assigned to it. Each
// container is a ServedListener (served-listener.ts) with its own policy instances, primitives and
// counters, added, reloaded and removed by the control plane's messages between two notifications;
// the receive loop (multiplex.ts) serves them round-robin. Compiled policy modules come with each
// container's configuration and share their code with every other instance of the same module.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { native } from '../native.js';
import type { LogLevel } from '../log.js';
import { statusFiles } from '../caller/status-files.js';
import { PrivilegedHelper } from '../emulate/helper-client.js';
import type { WorkerMessage } from './protocol.js';
import { ServedListener, type ThreadShared } from './served-listener.js';
import { ListenerRing, serveMultiplexed } from './multiplex.js';
import type { DataPlaneThreadConfig, ThreadControlMessage, ThreadMessage } from './thread-protocol.js';
import { parseTestFaults } from './test-faults.js';

const config = workerData as DataPlaneThreadConfig;
const port = parentPort!;
const post = (id: number, message: ThreadMessage['message']) => port.postMessage({ id, message } satisfies ThreadMessage);
const log = (id: number, level: LogLevel, message: string) => post(id, { type: 'log', level, message } satisfies WorkerMessage);

const faults = parseTestFaults(process.env.WASMSUP_TEST_FAULTS);
if (faults) log(0, 'warn', `WASMSUP_TEST_FAULTS is set: injecting faults for testing (${process.env.WASMSUP_TEST_FAULTS})`);
const shared: ThreadShared = {
  helper: config.helperFd >= 0 ? new PrivilegedHelper(config.helperFd, config.helperPidfd) : null,
  supervisorUsernsInode: config.supervisorUsernsInode,
  faults,
};

/** A served listener and the id the control plane knows it by. */
class Served extends ServedListener {
  constructor(readonly id: number, ...args: ConstructorParameters<typeof ServedListener>) { super(...args); }
}

const ring = new ListenerRing<Served>();
/** Its helper was killed for not answering in time, and a new one was asked for. */
let helperLost = false;
const byId = new Map<number, Served>();

function add(id: number, listenerConfig: ConstructorParameters<typeof ServedListener>[0]): void {
  let served: Served;
  try {
    served = new Served(id, listenerConfig, shared, (level, message) => log(id, level, message));
  } catch (e) {
    post(id, { type: 'failed', reason: `cannot instantiate its policies: ${(e as Error).message}` });
    return;
  }
  if (!ring.add(served)) {
    served.dispose();
    post(id, { type: 'failed', reason: 'its data-plane thread serves the most listeners it can' });
    return;
  }
  byId.set(id, served);
  if (config.syncWakeUp) {
    // The kernel honours it for a poll()ing reader too: the caller hands its CPU to this thread.
    try { native.notifSetFlags(served.listenerFd, native.constants.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP); }
    catch (e) { log(id, 'debug', `SYNC_WAKE_UP unavailable: ${(e as Error).message}`); }
  }
  post(id, { type: 'ready' });
}

/** Stops serving `served`; from then on its fd is only the control plane's. */
function forget(served: Served): void {
  ring.remove(served);
  byId.delete(served.id);
  served.dispose();
}

/** Applies pending control messages; false when the thread must end. */
function control(): boolean {
  for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
    const message = m.message as ThreadControlMessage;
    if (message.type === 'stop-thread') return false;
    if (message.type === 'helper') {
      shared.helper?.replace(message.socketFd, message.pidfd);
      helperLost = false;
      post(0, { type: 'helper-replaced' });
      continue;
    }
    if (message.type === 'add') { add(message.id, message.listener); continue; }
    const served = byId.get(message.id);
    if (served === undefined) continue; // already dropped: its 'done' is on its way
    const to = message.message;
    if (to.type === 'stop') {
      forget(served);
      post(served.id, { type: 'done', reason: 'stopped' });
    } else if (to.type === 'reload') {
      try {
        served.reload(to.policies, to.slots);
        post(served.id, { type: 'reloaded', generation: to.generation });
      } catch (e) {
        post(served.id, { type: 'reload-failed', generation: to.generation, reason: (e as Error).message });
      }
    }
  }
  return true;
}

try {
  serveMultiplexed({
    ring,
    poll: (count) => {
      // The helper serves every container of this thread: one killed (a request one container's
      // caller wedged) is replaced, so that the others' emulations do not fail from then on.
      if (!helperLost && shared.helper?.isWedged) { helperLost = true; post(0, { type: 'helper-lost' }); }
      return native.pollListeners(ring.fds, count, ring.events, config.wakeFd, -1);
    },
    control,
    dropped: (served, error) => {
      byId.delete(served.id);
      served.dispose();
      if (error === null) post(served.id, { type: 'done', reason: 'hangup' });
      else post(served.id, { type: 'failed', reason: error.message.split('\n')[0]! });
    },
  });
} finally {
  // Fds are the process's, not the thread's: kept ones would outlive this thread.
  statusFiles.close();
  for (const served of ring.list()) served.dispose();
  // The helper's socket and pidfd are the control plane's to close (threads.ts), once this thread is gone.
}
