// The seccomp listener as the data plane's receive loops and responder use it: one method per ioctl
// or poll they make, so that a unit test can drive them with a fake (test/unit/dataplane-loops.test.ts)
// and the data plane with the real thing (docs/native-api.md for what each call does).
import { native } from '../native.js';
import { LATENCY_DOUBLES_BYTE, LATENCY_WORD } from './stats.js';

export interface Listener {
  /** SECCOMP_IOCTL_NOTIF_RECV into `notif`; throws as the shim does (ENOENT: the caller went away). */
  recv(notif: Uint8Array): void;
  /** SECCOMP_IOCTL_NOTIF_SEND of `response`; throws as the shim does (ENOENT: nobody waits for it). */
  send(response: Uint8Array): void;
  /** Bit 1: a notification is pending; 2: hung up; 4: `wakeFd` fired (drained). 0 on timeout. -1: no wakeFd. */
  poll(wakeFd: number, timeoutMs: number): number;
  /** SECCOMP_IOCTL_NOTIF_ID_VALID: the notification is still pending, so its tid is still its caller. */
  idValid(notif: Uint8Array): boolean;
}

/**
 * The blocking loop's per-notification calls, on the listener and buffers registered for its thread
 * once (native.registerDataPlane): no arguments, nothing thrown for the ioctls, errnos returned. They
 * also time each notification from its receive to its answer's SEND and count that in the stats'
 * latency histogram, exactly once (native/dataplane.cc).
 */
export interface DataPlaneCalls {
  /** One blocking RECV into the registered notification buffer: its errno (0 received, EINTR interrupted). */
  receive(): number;
  /** SEND the registered response, then receive(): (SEND errno) << 16 | (RECV errno). */
  sendReceive(): number;
  /** SEND the registered response now: its errno (ENOENT: nobody waits for it). */
  send(): number;
  /** The notification in hand was answered another way (ADDFD with SEND, CONTINUE by a helper): counts its latency. */
  answered(): void;
}

/** pollListener bits. */
export const PENDING = 1, HUNG_UP = 2, WOKEN = 4;

/** The listener `fd` through the native shim. */
export function nativeListener(fd: number): Listener {
  return {
    recv: (notif) => native.notifRecv(fd, notif),
    send: (response) => native.notifSend(fd, response),
    poll: (wakeFd, timeoutMs) => native.pollListener(fd, wakeFd, timeoutMs),
    idValid: (notif) => native.notifIdValid(fd, notif),
  };
}

/**
 * Registers `fd` and the buffers for the calling thread (replacing what it registered before) and
 * returns the calls that use them; native.unregisterDataPlane() releases them.
 */
export function registerDataPlane(fd: number, notif: Uint8Array, response: Uint8Array, stats: Int32Array): DataPlaneCalls {
  // The native calls return nothing and leave their result here: reading a registered word costs less
  // than having N-API create a number for every call. These small closures are inlined where called.
  const result = new Int32Array(1);
  native.registerDataPlane(fd, notif, response, stats, LATENCY_WORD, LATENCY_DOUBLES_BYTE, result);
  const { dataPlaneReceive, dataPlaneSendReceive, dataPlaneSend } = native;
  return {
    receive: () => { dataPlaneReceive(); return result[0]!; },
    sendReceive: () => { dataPlaneSendReceive(); return result[0]!; },
    send: () => { dataPlaneSend(); return result[0]!; },
    answered: native.dataPlaneAnswered,
  };
}
