// What the control plane and a data-plane worker tell each other, and the ABI's decision numbers.
import type { PolicyInfo } from '../policy/load.js';
import type { LogLevel } from '../log.js';

export interface DataPlaneConfig {
  listenerFd: number;
  /** eventfd the control plane writes after posting a control message, to wake the worker's poll. */
  wakeFd: number;
  /** Socket to the privileged helper, or -1 when the supervisor is unprivileged. */
  helperFd: number;
  policies: PolicyInfo[];
  workloadUsernsInode: number;
  supervisorUsernsInode: number;
  /** errno for calls failed closed (a trapping policy, a bad decision). */
  failErrno: number;
  syncWakeUp: boolean;
  stats: SharedArrayBuffer;
}

/** Control plane → worker; always followed by a write to wakeFd. */
export type ControlMessage =
  | { type: 'reload'; generation: number; policies: PolicyInfo[] }
  | { type: 'stop' };

/** Worker → control plane. */
export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'done'; reason: 'hangup' | 'stopped' }
  | { type: 'reloaded'; generation: number }
  | { type: 'reload-failed'; generation: number; reason: string }
  | { type: 'log'; level: LogLevel; message: string };

// docs/policy-abi.md, section 4.
export const Decision = { NO_OPINION: 0, CONTINUE: 1, ERRNO: 2, RETURN: 3, EMULATE: 4 } as const;
export const Primitive = { MKNOD: 1 } as const;
