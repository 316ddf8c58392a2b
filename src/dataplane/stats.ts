// Counters shared between the data-plane worker (writer) and the control plane (reader, e.g. on
// SIGUSR1), in a SharedArrayBuffer so that counting costs one Atomics.add and no message.
export const Stat = {
  notifications: 0,
  continued: 1,
  errno: 2,
  returned: 3,
  emulated: 4,
  emulationFailed: 5,
  traps: 6,
  failedClosed: 7,
  recvEnoent: 8,
  sendEnoent: 9,
  noPolicy: 10,
} as const;
export const STAT_NAMES = Object.keys(Stat) as (keyof typeof Stat)[];

export function newStatsBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(4 * 16);
}

export function readStats(buffer: SharedArrayBuffer): Record<keyof typeof Stat, number> {
  const words = new Int32Array(buffer);
  const out = {} as Record<keyof typeof Stat, number>;
  for (const name of STAT_NAMES) out[name] = Atomics.load(words, Stat[name]);
  return out;
}
