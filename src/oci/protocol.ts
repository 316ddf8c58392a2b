// What the agent's control plane, its accept worker, and an agent handing over to its successor tell
// each other.
import type { LogLevel } from '../log.js';
import type { WorkloadInfo } from '../caller/workload.js';

export interface AcceptWorkerConfig {
  /** The listening socket (non-blocking). */
  socketFd: number;
  /** eventfd the control plane writes after posting "stop". */
  wakeFd: number;
  /** How long a connected client may take to send its whole state. */
  readTimeoutMs: number;
  /** Largest state accepted, in bytes. */
  maxBytes: number;
}

/** Accept worker → control plane. Ownership of `fds` passes with the message. */
export type AcceptWorkerMessage =
  | { type: 'state'; text: string; fds: number[] }
  | { type: 'log'; level: LogLevel; message: string }
  | { type: 'stopped' };

export { HANDOVER_ENV } from './options.js';
export const HANDOVER_VERSION = 1;

/** One container in a hand-over; its listener is inherited as fd `fd`. */
export interface HandedContainer {
  fd: number;
  id: string;
  /** The listener's process (0: the runtime did not say, and nothing here knows its container). */
  pid: number;
  /** Its container's first process, or one started in it later (`runc exec`); absent from older agents: "init". */
  role?: 'init' | 'exec';
  /** The user namespace of the listener's process; -1 when unknown. */
  usernsInode: number;
  /** As recorded when the container arrived (start time, cgroups), for the emulations that need it. */
  workload: WorkloadInfo | null;
  metadata: string;
  annotations: Record<string, string>;
}

/** JSON in HANDOVER_ENV. The successor answers "ready" on `confirmFd` once it serves everything. */
export interface Handover {
  version: number;
  confirmFd: number;
  socketFd: number;
  /** The socket file's identity, so only the agent that owns it removes it when it stops. */
  socketIno: number;
  containers: HandedContainer[];
}
