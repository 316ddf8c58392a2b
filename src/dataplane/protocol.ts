// What the control plane and a data-plane worker tell each other, and the ABI's decision numbers.
import type { PolicyInfo } from '../policy/load.js';
import type { LogLevel } from '../log.js';
import type { WorkloadInfo } from '../caller/workload.js';
import type { AuditRing } from './audit.js';

export interface DataPlaneConfig {
  listenerFd: number;
  /** eventfd the control plane writes after posting a control message, to wake the worker's poll. */
  wakeFd: number;
  /** Socket to the privileged helper, or -1 when the supervisor is unprivileged. */
  helperFd: number;
  /** pidfd of that helper (to kill it when it does not answer in time), or -1. */
  helperPidfd: number;
  policies: PolicyInfo[];
  workloadUsernsInode: number;
  supervisorUsernsInode: number;
  /** errno for calls failed closed (a trapping policy, a bad decision). */
  failErrno: number;
  syncWakeUp: boolean;
  stats: SharedArrayBuffer;
  /** The workload as recorded at start, for the emulations that need it (BPF, SYSINFO); null when unknown. */
  workload?: WorkloadInfo | null;
  /** Stats slot of each policy (parallel to `policies`), assigned by the control plane by name. */
  policySlots?: number[];
  /** Traps in a row before a policy is skipped (docs/lifecycle.md); fuel is set when loading. */
  maxTraps?: number;
  /**
   * Int32Array words [INTERRUPT_ATTENTION, INTERRUPT_TID]: the control plane sets ATTENTION after
   * posting a message; the worker publishes its tid when it blocks in RECV and must be signalled
   * (0 while it polls the wake eventfd instead).
   */
  interrupt?: SharedArrayBuffer;
  /** Where the worker writes audit records (--audit), or null. */
  audit?: AuditRing | null;
  /** What a call no policy decides gets (--default-action); 'continue' when absent. */
  defaultAction?: DefaultAction;
  /** --max-lend: the capabilities (bits 0..31) an AS_CALLER decision may lend; DEFAULT_MAX_LEND when absent. */
  maxLend?: number;
}

/**
 * --default-action: what happens to a call routed to wasmsup that no policy decides. `continue` lets
 * the kernel run it (as without wasmsup), `fail` fails it with --fail-errno, `kill` and `freeze`
 * fail it and contain the workload (src/emulate/contain.ts), as kinvolk's seccompagent's
 * DEFAULT_ACTION=kill-container / freeze-container.
 */
export const DEFAULT_ACTIONS = ['continue', 'fail', 'kill', 'freeze'] as const;
export type DefaultAction = (typeof DEFAULT_ACTIONS)[number];

/** The listener a data plane serves, and the workload it belongs to. */
export interface ListenerAttachment {
  listenerFd: number;
  workloadUsernsInode: number;
  workload?: WorkloadInfo | null;
}

export const INTERRUPT_ATTENTION = 0, INTERRUPT_TID = 1, INTERRUPT_WORDS = 2;

/** Control plane → worker; always followed by a write to wakeFd and by setting INTERRUPT_ATTENTION. */
export type ControlMessage =
  | { type: 'reload'; generation: number; policies: PolicyInfo[]; slots?: number[] }
  | { type: 'stop' };

/** Worker → control plane. */
export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'done'; reason: 'hangup' | 'stopped' }
  | { type: 'reloaded'; generation: number }
  | { type: 'reload-failed'; generation: number; reason: string }
  | { type: 'log'; level: LogLevel; message: string };

// docs/policy-abi.md, section 4.
export const Decision = { NO_OPINION: 0, CONTINUE: 1, ERRNO: 2, RETURN: 3, EMULATE: 4, CONTAIN: 5 } as const;
/** What a CONTAIN decision asks for, in the block's `primitive` word. */
export const Containment = { KILL: 1, FREEZE: 2 } as const;
export const Primitive = { MKNOD: 1, SETXATTR: 2, OPEN: 3, BPF: 4, SYSINFO: 5, AS_CALLER: 6, MOUNT: 7, SCHED: 8, PROC_VIEW: 9, GETXATTR: 10 } as const;
