// The data plane: one worker thread per listener running receive → decide → respond synchronously.
// The loop never yields to the event loop between notifications (the worker's event loop only runs
// when the loop has ended), so a notification's latency is a poll, two ioctls and the policy call.
// Nothing in the loop allocates on the common path: the notification, the response and every
// policy's notification block are fixed buffers, and the answers are plain numbers.
import { parentPort, workerData } from 'node:worker_threads';
import { native } from '../native.js';
import { portableIdFor, portableId } from '../syscalls/tables.js';
import { instantiatePolicy, type HostContext, type PolicyInstance } from '../policy/instance.js';
import type { PolicyInfo } from '../policy/load.js';
import { PrivilegedHelper } from '../emulate/helper-client.js';
import { MknodEmulator } from '../emulate/mknod.js';
import { InterestMatcher } from './dispatch.js';
import { CallerCreds } from './caller.js';
import { Stat } from './stats.js';
import { Decision, Primitive, type DataPlaneConfig, type WorkerMessage } from './protocol.js';

const config = workerData as DataPlaneConfig;
const port = parentPort!;
const post = (m: WorkerMessage) => port.postMessage(m);
const warn = (msg: string) => post({ type: 'log', level: 'warn', message: msg });
const stats = new Int32Array(config.stats);
const count = (i: number) => Atomics.add(stats, i, 1);

const notif = new Uint8Array(128);
const notifWords = new Uint32Array(notif.buffer);
const response = new Uint8Array(24);
const responseWords = new Int32Array(response.buffer);
const FLAG_CONTINUE = native.constants.SECCOMP_USER_NOTIF_FLAG_CONTINUE;
const SYS_MKNOD = portableId('mknod');
const SYS_MKNODAT = portableId('mknodat');

const listenerFd = config.listenerFd;
const callerCreds = new CallerCreds(config.workloadUsernsInode, config.supervisorUsernsInode);
const helper = config.helperFd >= 0 ? new PrivilegedHelper(config.helperFd) : null;
const mknod = new MknodEmulator(helper, listenerFd, warnOnce());

function warnOnce(): (message: string) => void {
  const seen = new Set<string>();
  return (message) => { if (!seen.has(message)) { seen.add(message); warn(message); } };
}

// Host functions of the policy ABI. They act on the notification being decided (notif), and check
// after every read of the caller's state that the notification is still valid: otherwise the tid may
// already name another process and what was read must not be used.
const host: HostContext = {
  readMemory(addrLo, addrHi, dst, len) {
    try {
      const n = native.readMemory(notifWords[2]!, addrLo, addrHi, dst, len);
      return native.notifIdValid(listenerFd, notif) ? n : -2;
    } catch (e) { return -((e as NodeJS.ErrnoException).errno ?? 14); }
  },
  readString(addrLo, addrHi, dst, cap) {
    try {
      const n = native.readString(notifWords[2]!, addrLo, addrHi, dst, cap);
      return native.notifIdValid(listenerFd, notif) ? n : -2;
    } catch (e) { return -((e as NodeJS.ErrnoException).errno ?? 14); }
  },
  callerCreds(dst) {
    const r = callerCreds.fill(notifWords[2]!, dst);
    if (r !== 0) return r;
    return native.notifIdValid(listenerFd, notif) ? 0 : -2;
  },
  log(level, message) {
    post({ type: 'log', level: (['debug', 'info', 'warn', 'error'] as const)[level] ?? 'info', message });
  },
};

interface LoadedPolicy {
  name: string;
  matcher: InterestMatcher;
  instance: PolicyInstance;
  // Views of the policy's notification block, re-made only when its memory grew (new buffer).
  block: Uint8Array | null;
  blockWords: Int32Array;
}
const policies: LoadedPolicy[] = config.policies.map((info: PolicyInfo) => ({
  name: info.name,
  matcher: new InterestMatcher(info.interest),
  instance: instantiatePolicy(info, host),
  block: null,
  blockWords: new Int32Array(0),
}));

function blockOf(policy: LoadedPolicy): Uint8Array {
  const block = policy.instance.notification;
  if (block !== policy.block) {
    policy.block = block;
    policy.blockWords = new Int32Array(block.buffer, block.byteOffset, 32);
  }
  return block;
}

function respond(error: number, flags: number): void {
  // id is the first 8 bytes of the notification; val was written by the caller of respond.
  for (let i = 0; i < 8; i++) response[i] = notif[i]!;
  responseWords[4] = error === 0 ? 0 : -error;
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

function setValue(lo: number, hi: number): void {
  responseWords[2] = lo; responseWords[3] = hi;
}

function failClosed(): void {
  count(Stat.failedClosed);
  setValue(0, 0);
  respond(config.failErrno, 0);
}

/** Asks the interested policies in order; answers exactly once. */
function handle(): void {
  count(Stat.notifications);
  const portable = portableIdFor(notifWords[5]!, notifWords[4]! | 0);
  notifWords[20] = portable;
  setValue(0, 0);
  for (let p = 0; p < policies.length; p++) {
    const policy = policies[p]!;
    if (!policy.matcher.matches(portable, notifWords)) continue;
    const block = blockOf(policy);
    for (let i = 0; i < 84; i++) block[i] = notif[i]!;
    for (let i = 84; i < 128; i++) block[i] = 0;
    let kind: number;
    try {
      kind = policy.instance.decide();
    } catch (e) {
      count(Stat.traps);
      warn(`policy ${policy.name} trapped: ${(e as Error).message}; failing the call closed`);
      return failClosed();
    }
    // decide() may have grown the policy's memory, detaching the old views.
    blockOf(policy);
    const blockWords = policy.blockWords;
    switch (kind) {
      case Decision.NO_OPINION:
        continue;
      case Decision.CONTINUE:
        count(Stat.continued);
        return respond(0, FLAG_CONTINUE);
      case Decision.ERRNO: {
        const errno = blockWords[22]!;
        if (blockWords[23] !== 0 || errno < 1 || errno > 4095) {
          warn(`policy ${policy.name} returned an out-of-range errno ${errno}; failing the call closed`);
          return failClosed();
        }
        count(Stat.errno);
        return respond(errno, 0);
      }
      case Decision.RETURN:
        count(Stat.returned);
        setValue(blockWords[22]!, blockWords[23]!);
        return respond(0, 0);
      case Decision.EMULATE:
        return emulate(policy.name, blockWords[24]!, portable);
      default:
        warn(`policy ${policy.name} returned unknown decision ${kind}; failing the call closed`);
        return failClosed();
    }
  }
  count(Stat.noPolicy);
  respond(0, FLAG_CONTINUE);
}

function emulate(policyName: string, primitive: number, portable: number): void {
  if (primitive === Primitive.MKNOD && (portable === SYS_MKNOD || portable === SYS_MKNODAT)) {
    const errno = mknod.emulate(notif, notifWords, portable === SYS_MKNODAT);
    count(errno === 0 ? Stat.emulated : Stat.emulationFailed);
    setValue(0, 0);
    return respond(errno, 0);
  }
  warn(`policy ${policyName} asked for primitive ${primitive}, which does not apply to this syscall; failing the call closed`);
  failClosed();
}

function serve(): void {
  if (config.syncWakeUp) {
    try { native.notifSetFlags(listenerFd, native.constants.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP); }
    catch (e) { post({ type: 'log', level: 'debug', message: `SYNC_WAKE_UP unavailable: ${(e as Error).message}` }); }
  }
  post({ type: 'ready' });
  for (;;) {
    const events = native.pollListener(listenerFd, config.wakeFd, -1);
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
        warn(`internal error while handling a notification: ${(e as Error).stack ?? e}`);
        failClosed();
      }
      continue;
    }
    if (events & 2) break; // no task uses the filter any more
    if (events & 4) break; // the control plane asked us to stop
  }
  post({ type: 'done' });
}

serve();
