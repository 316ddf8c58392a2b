// The data plane: one worker thread per listener running receive → decide → respond synchronously.
// The loop never yields to the event loop between notifications; control messages (reload, stop)
// are picked up synchronously with receiveMessageOnPort when the control plane writes the wake
// eventfd, which the loop polls together with the listener. So a notification's cost is a poll, two
// ioctls and the policy call, and nothing in the loop allocates on the common path.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { native } from '../native.js';
import { portableIdFor } from '../syscalls/tables.js';
import type { HostContext } from '../policy/instance.js';
import { PrivilegedHelper } from '../emulate/helper-client.js';
import { CallerCreds } from './caller.js';
import { Stat } from './stats.js';
import { PolicySet, FAIL_CLOSED, type Verdict } from './policy-set.js';
import { ANSWERED, createPrimitives, type EmulationContext } from './primitives.js';
import { Decision, type ControlMessage, type DataPlaneConfig, type WorkerMessage } from './protocol.js';

const config = workerData as DataPlaneConfig;
const port = parentPort!;
const post = (m: WorkerMessage) => port.postMessage(m);
const stats = new Int32Array(config.stats);
const count = (i: number) => Atomics.add(stats, i, 1);
const warned = new Set<string>();
const warn = (message: string) => post({ type: 'log', level: 'warn', message });
const warnOnce = (message: string) => { if (!warned.has(message)) { warned.add(message); warn(message); } };

const listenerFd = config.listenerFd;
const notif = new Uint8Array(128);
const words = new Uint32Array(notif.buffer);
const response = new Uint8Array(24);
const responseWords = new Int32Array(response.buffer);
const FLAG_CONTINUE = native.constants.SECCOMP_USER_NOTIF_FLAG_CONTINUE;
const TID = 2, NR = 4, ARCH = 5, PORTABLE = 20;

const callerCreds = new CallerCreds(config.workloadUsernsInode, config.supervisorUsernsInode);
const helper = config.helperFd >= 0 ? new PrivilegedHelper(config.helperFd) : null;
const primitives = createPrimitives({ helper, listenerFd, warn: warnOnce });

// Host functions of the policy ABI. They act on the notification being decided, and check after
// every read of the caller's state that the notification is still valid: otherwise the tid may
// already name another process and what was read must not be used.
const host: HostContext = {
  readMemory(addrLo, addrHi, dst, len) {
    try {
      const n = native.readMemory(words[TID]!, addrLo, addrHi, dst, len);
      return native.notifIdValid(listenerFd, notif) ? n : -2;
    } catch (e) { return -((e as NodeJS.ErrnoException).errno ?? 14); }
  },
  readString(addrLo, addrHi, dst, cap) {
    try {
      const n = native.readString(words[TID]!, addrLo, addrHi, dst, cap);
      return native.notifIdValid(listenerFd, notif) ? n : -2;
    } catch (e) { return -((e as NodeJS.ErrnoException).errno ?? 14); }
  },
  callerCreds(dst) {
    const r = callerCreds.fill(words[TID]!, dst);
    if (r !== 0) return r;
    return native.notifIdValid(listenerFd, notif) ? 0 : -2;
  },
  log(level, message) {
    post({ type: 'log', level: (['debug', 'info', 'warn', 'error'] as const)[level] ?? 'info', message });
  },
};

let policySet = new PolicySet(config.policies, host);

const emulation: EmulationContext = {
  listenerFd, notif, words, portable: 0, policy: null!, helper, warn: warnOnce,
};

function respond(valueLo: number, valueHi: number, errno: number, flags: number): void {
  // id is the first 8 bytes of the notification.
  for (let i = 0; i < 8; i++) response[i] = notif[i]!;
  responseWords[2] = valueLo;
  responseWords[3] = valueHi;
  responseWords[4] = errno === 0 ? 0 : -errno;
  responseWords[5] = flags;
  try {
    native.notifSend(listenerFd, response);
  } catch (e) {
    // The caller was interrupted by a signal or is gone: normal, counted. Anything else is a bug
    // worth a log line, but the loop goes on.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') count(Stat.sendEnoent);
    else warn(`answering notification failed: ${(e as Error).message}`);
  }
}

function failClosed(reason: string): void {
  count(Stat.failedClosed);
  warn(`${reason}; failing the call closed`);
  respond(0, 0, config.failErrno, 0);
}

function emulate(v: Verdict, portable: number): void {
  const impl = primitives[v.primitive];
  if (impl === undefined || !impl.syscalls.includes(portable)) {
    return failClosed(`policy ${v.policy!.name} asked for primitive ${v.primitive}, which does not apply to this call`);
  }
  emulation.portable = portable;
  emulation.policy = v.policy!;
  const result = impl.run(emulation);
  count(result >= 0 || result === ANSWERED ? Stat.emulated : Stat.emulationFailed);
  if (result === ANSWERED) return;
  if (result >= 0) respond(result, 0, 0, 0);
  else respond(0, 0, -result, 0);
}

/** Decides one received notification and answers it exactly once. */
function handle(): void {
  count(Stat.notifications);
  const portable = portableIdFor(words[ARCH]!, words[NR]! | 0);
  words[PORTABLE] = portable;
  const v = policySet.ask(notif, words, portable);
  switch (v.kind) {
    case Decision.CONTINUE: count(Stat.continued); return respond(0, 0, 0, FLAG_CONTINUE);
    case Decision.ERRNO: count(Stat.errno); return respond(0, 0, v.valueLo, 0);
    case Decision.RETURN: count(Stat.returned); return respond(v.valueLo, v.valueHi, 0, 0);
    case Decision.EMULATE: return emulate(v, portable);
    case FAIL_CLOSED:
      if (v.reason.includes('trapped')) count(Stat.traps);
      return failClosed(v.reason);
    default: count(Stat.noPolicy); return respond(0, 0, 0, FLAG_CONTINUE);
  }
}

/** Applies pending control messages; returns false when the worker must stop. */
function control(): boolean {
  for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
    const message = m.message as ControlMessage;
    if (message.type === 'stop') return false;
    if (message.type === 'reload') {
      // Instantiating happens here, between two notifications: the one before was answered by the
      // old set, the next one will be by the new set, and none sees a mixture.
      try {
        policySet = new PolicySet(message.policies, host);
        post({ type: 'reloaded', generation: message.generation });
      } catch (e) {
        post({ type: 'reload-failed', generation: message.generation, reason: (e as Error).message });
      }
    }
  }
  return true;
}

function serve(): 'hangup' | 'stopped' {
  if (config.syncWakeUp) {
    try { native.notifSetFlags(listenerFd, native.constants.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP); }
    catch (e) { post({ type: 'log', level: 'debug', message: `SYNC_WAKE_UP unavailable: ${(e as Error).message}` }); }
  }
  post({ type: 'ready' });
  for (;;) {
    const events = native.pollListener(listenerFd, config.wakeFd, -1);
    if (events & 4 && !control()) return 'stopped';
    if (events & 1) {
      try {
        native.notifRecv(listenerFd, notif);
      } catch (e) {
        // ENOENT: the caller went away between poll and receive. Poll again rather than spin.
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') { count(Stat.recvEnoent); continue; }
        throw e;
      }
      try {
        handle();
      } catch (e) {
        // An exception in the host itself: the call still gets exactly one answer.
        failClosed(`internal error while handling a notification: ${(e as Error).stack ?? e}`);
      }
      continue;
    }
    if (events & 2) return 'hangup'; // no task uses the filter any more
  }
}

post({ type: 'done', reason: serve() });
