// The seccomp listener as the data plane's receive loops and responder use it: one method per ioctl
// or poll they make, so that a unit test can drive them with a fake (test/unit/dataplane-loops.test.ts)
// and the data plane with the real thing (docs/native-api.md for what each call does).
import { native } from '../native.js';

export interface Listener {
  /** SECCOMP_IOCTL_NOTIF_RECV into `notif`; throws as the shim does (ENOENT: the caller went away). */
  recv(notif: Uint8Array): void;
  /** One blocking RECV, not retried on EINTR: true = received, false = interrupted. Throws otherwise. */
  recvBlocking(notif: Uint8Array): boolean;
  /** SECCOMP_IOCTL_NOTIF_SEND of `response`; throws as the shim does (ENOENT: nobody waits for it). */
  send(response: Uint8Array): void;
  /** SEND `response`, then one blocking RECV into `notif`: (SEND errno) << 16 | (RECV errno); never throws for either. */
  sendRecv(response: Uint8Array, notif: Uint8Array): number;
  /** Bit 1: a notification is pending; 2: hung up; 4: `wakeFd` fired (drained). 0 on timeout. -1: no wakeFd. */
  poll(wakeFd: number, timeoutMs: number): number;
  /** SECCOMP_IOCTL_NOTIF_ID_VALID: the notification is still pending, so its tid is still its caller. */
  idValid(notif: Uint8Array): boolean;
}

/** pollListener bits. */
export const PENDING = 1, HUNG_UP = 2, WOKEN = 4;

/** The listener `fd` through the native shim. */
export function nativeListener(fd: number): Listener {
  return {
    recv: (notif) => native.notifRecv(fd, notif),
    recvBlocking: (notif) => native.notifRecvBlocking(fd, notif),
    send: (response) => native.notifSend(fd, response),
    sendRecv: (response, notif) => native.notifSendRecv(fd, response, notif),
    poll: (wakeFd, timeoutMs) => native.pollListener(fd, wakeFd, timeoutMs),
    idValid: (notif) => native.notifIdValid(fd, notif),
  };
}
