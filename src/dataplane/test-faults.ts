// TEST-ONLY fault injection for the reliability tests (docs/reliability.md). The data-plane worker
// reads WASMSUP_TEST_FAULTS once when it starts; when it is unset (always, outside the tests) nothing
// here is installed and the loop runs its ordinary functions. When set, the worker logs a warning, so
// a supervisor never runs with faults silently. Comma-separated KEY=VALUE:
//   throw-every=N               an exception in the host's JS on every Nth notification (before deciding)
//   delay-send-ms=MS            sleep before each answer (SEND), widening the window in which a signal,
//                               a kill or an exiting thread meets a call that is still pending
//   delay-after-path-read-ms=MS sleep in the mknod emulation between reading the path from the caller and
//                               acting on it (a rewriting thread, a dying caller)
//   mknod-helper-only=1         every mknod emulation takes the helper's exact path, never the worker
//                               thread's fast path (so the tests cover both)

export interface TestFaults {
  throwEvery: number;
  delaySendMs: number;
  delayAfterPathReadMs: number;
  mknodHelperOnly: number;
}

const KEYS: Record<string, keyof TestFaults> = {
  'throw-every': 'throwEvery',
  'delay-send-ms': 'delaySendMs',
  'delay-after-path-read-ms': 'delayAfterPathReadMs',
  'mknod-helper-only': 'mknodHelperOnly',
};

/** Parses WASMSUP_TEST_FAULTS; null when unset or empty. Throws a one-line error on a bad value. */
export function parseTestFaults(text: string | undefined): TestFaults | null {
  if (text === undefined || text.trim() === '') return null;
  const faults: TestFaults = { throwEvery: 0, delaySendMs: 0, delayAfterPathReadMs: 0, mknodHelperOnly: 0 };
  for (const item of text.split(',')) {
    const [key, value] = item.split('=').map((s) => s.trim());
    const field = KEYS[key ?? ''];
    if (field === undefined || value === undefined || !/^\d+$/.test(value)) {
      throw new Error(`WASMSUP_TEST_FAULTS: "${item}" is not one of ${Object.keys(KEYS).map((k) => `${k}=N`).join(', ')}`);
    }
    faults[field] = Number(value);
  }
  return faults;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Blocks the data-plane thread, as a slow emulation would. */
export function sleepMs(ms: number): void {
  if (ms > 0) Atomics.wait(sleeper, 0, 0, ms);
}

/** `send` delayed by the configured time. */
export function delayedSend<A extends unknown[], R>(faults: TestFaults, send: (...a: A) => R): (...a: A) => R {
  if (faults.delaySendMs === 0) return send;
  return (...a: A) => { sleepMs(faults.delaySendMs); return send(...a); };
}

/** What throws on every Nth notification before it is handled, as a bug in the host would; null when not asked for. */
export function throwEveryNth(faults: TestFaults): (() => void) | null {
  if (faults.throwEvery === 0) return null;
  let n = 0;
  return () => {
    if (++n % faults.throwEvery === 0) throw new Error(`injected fault (WASMSUP_TEST_FAULTS throw-every=${faults.throwEvery}) at notification ${n}`);
  };
}
