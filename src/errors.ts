// The error classes more than one layer throws or recognises. A leaf module that imports nothing, so
// that what runs before the rest is loaded (the agent's early socket, src/oci/early.ts) can throw
// UsageError, and the CLI can recognise PolicyLoadError without loading the policy loader.

/** A failure before anything was started: the CLI prints it as one line and exits 2. */
export class UsageError extends Error {}

/** A policy module that cannot be loaded (unreadable, not valid for the ABI, cannot start). */
export class PolicyLoadError extends Error {
  readonly file: string;
  readonly reason: string;
  constructor(file: string, reason: string) {
    // One line, whatever the reason quotes (compiler messages, JSON errors).
    const oneLine = reason.replace(/\s*[\r\n]+\s*/g, ' ');
    super(`${file}: ${oneLine}`);
    this.name = 'PolicyLoadError';
    this.file = file;
    this.reason = oneLine;
  }
}

/**
 * Thrown when a data-plane thread could not be given back its own credentials, capabilities or root
 * after acting as a caller (native/impersonate.cc, native/bpf.cc): the thread must end, and with it
 * the data plane (the control plane then closes the listener).
 */
export class TaintedThreadError extends Error {}

/** The native shim's error code for a thread it could not restore. */
export const THREAD_TAINTED_CODE = 'EWASMSUP_THREAD_TAINTED';
