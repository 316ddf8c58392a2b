// What the control plane and a data-plane thread that serves many listeners (multiplex-worker.ts)
// tell each other. Each listener has an id the control plane chose; its messages are those of a
// one-listener worker (protocol.ts: ControlMessage, WorkerMessage), addressed by that id.
import type { ControlMessage, WorkerMessage } from './protocol.js';
import type { ServedListenerConfig } from './served-listener.js';

export interface DataPlaneThreadConfig {
  /** eventfd the control plane writes after posting a message, to wake the thread's poll. */
  wakeFd: number;
  /** Socket to the thread's privileged helper, or -1 when the supervisor is unprivileged. */
  helperFd: number;
  /** pidfd of that helper (to kill it when it does not answer in time), or -1. */
  helperPidfd: number;
  supervisorUsernsInode: number;
  /** Ask the kernel for the synchronous wake-up on each listener (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP). */
  syncWakeUp: boolean;
}

/** Control plane → thread; always followed by a write to wakeFd. */
export type ThreadControlMessage =
  /** Serve this listener from now on; answered 'ready' (or 'done' 'failed' with a log line when it cannot be). */
  | { type: 'add'; id: number; listener: ServedListenerConfig }
  /** A message for one listener ('stop': stop serving it, the fd stays the control plane's). */
  | { type: 'to'; id: number; message: ControlMessage }
  /** A new helper, after the thread said 'helper-lost'; answered 'helper-replaced'. */
  | { type: 'helper'; socketFd: number; pidfd: number }
  /** End the thread. */
  | { type: 'stop-thread' };

/**
 * Thread → control plane: a listener's message, or (id 0) the thread's own: a log line; 'helper-lost'
 * (its helper was killed for giving no answer in time: it asks for a new one); 'helper-replaced' (it
 * uses the new one: the old one's fds can be closed).
 */
export type ThreadMessage = {
  id: number;
  message: WorkerMessage | { type: 'failed'; reason: string } | { type: 'helper-lost' } | { type: 'helper-replaced' };
};
