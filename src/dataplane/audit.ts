// The audit log (--audit FILE): one JSON line per decision, written without ever making the data plane
// wait for the disk. The worker writes fixed-size records into a ring in shared memory (no allocation
// but the /proc/TID/comm read) and the control plane drains the ring to the file on a timer. When the
// ring is full the record is dropped and counted, never waited for.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { portableName } from '../syscalls/tables.js';
import { Notif } from '../layouts.js';
import { Outcome, OUTCOME_NAMES, Stat, type StatsWriter } from './stats.js';

/** Shared between one worker (writer) and the control plane (reader). Cloneable into workerData. */
export interface AuditRing {
  /** Int32 [written, consumed, dropped]: sequence numbers, wrapping at 2^32. */
  header: SharedArrayBuffer;
  records: SharedArrayBuffer;
  /** Records in the ring; a power of two. */
  capacity: number;
}

const RECORD_WORDS = 32; // 128 bytes
const WRITTEN = 0, CONSUMED = 1, DROPPED = 2;
// Word offsets in a record. Doubles at words 0 (time, ms since the epoch) and 2 (latency, ns).
const TID = 4, ARCH = 5, NR = 6, PORTABLE = 7, ARGS = 8, SLOT = 20, OUTCOME = 21, ERRNO = 22, VALUE_LO = 23, VALUE_HI = 24, COMM_LENGTH = 25;
const COMM_BYTE = 26 * 4;
const COMM_BYTES = 16;

export function newAuditRing(capacity = 4096): AuditRing {
  if (capacity < 1 || (capacity & (capacity - 1)) !== 0) throw new RangeError(`audit ring capacity ${capacity} is not a power of two`);
  return { header: new SharedArrayBuffer(16), records: new SharedArrayBuffer(capacity * RECORD_WORDS * 4), capacity };
}

/** The worker's side. */
export class AuditWriter {
  private readonly header: Int32Array;
  private readonly words: Int32Array;
  private readonly doubles: Float64Array;
  private readonly bytes: Uint8Array;
  private readonly comm = Buffer.alloc(COMM_BYTES);
  private commLength = 0;

  constructor(private readonly ring: AuditRing, private readonly stats: StatsWriter) {
    this.header = new Int32Array(ring.header);
    this.words = new Int32Array(ring.records);
    this.doubles = new Float64Array(ring.records);
    this.bytes = new Uint8Array(ring.records);
  }

  /**
   * Reads the caller's command name. Called before answering: afterwards the thread may be gone, or
   * its tid reused by another process.
   */
  readComm(tid: number): void {
    this.commLength = 0;
    let fd = -1;
    try {
      fd = openSync(`/proc/${tid}/comm`, 'r');
      const n = readSync(fd, this.comm, 0, COMM_BYTES, 0);
      this.commLength = n > 0 && this.comm[n - 1] === 0x0a ? n - 1 : n;
    } catch { /* gone: the record says "" */ } finally {
      if (fd >= 0) closeSync(fd);
    }
  }

  /** Appends one record, or counts it dropped when the control plane has not caught up. */
  write(notif: Uint32Array, portable: number, slot: number, outcome: number, errno: number, valueLo: number, valueHi: number,
    timeMs: number, latencyNs: number): void {
    const written = Atomics.load(this.header, WRITTEN);
    if (((written - Atomics.load(this.header, CONSUMED)) >>> 0) >= this.ring.capacity) {
      Atomics.add(this.header, DROPPED, 1);
      this.stats.count(Stat.auditDropped);
      return;
    }
    const base = (written & (this.ring.capacity - 1)) * RECORD_WORDS;
    const w = this.words;
    this.doubles[base >> 1] = timeMs;
    this.doubles[(base >> 1) + 1] = latencyNs;
    w[base + TID] = notif[Notif.TID]!;
    w[base + NR] = notif[Notif.NR]!;
    w[base + ARCH] = notif[Notif.ARCH]!;
    w[base + PORTABLE] = portable;
    for (let i = 0; i < 12; i++) w[base + ARGS + i] = notif[Notif.ARGS + i]!;
    w[base + SLOT] = slot;
    w[base + OUTCOME] = outcome;
    w[base + ERRNO] = errno;
    w[base + VALUE_LO] = valueLo;
    w[base + VALUE_HI] = valueHi;
    w[base + COMM_LENGTH] = this.commLength;
    const commAt = base * 4 + COMM_BYTE;
    for (let i = 0; i < this.commLength; i++) this.bytes[commAt + i] = this.comm[i]!;
    // Publishing the sequence number after the record makes the record visible whole.
    Atomics.store(this.header, WRITTEN, (written + 1) | 0);
    this.stats.count(Stat.audited);
  }
}

const DECISIONS: Record<keyof typeof Outcome, string> = {
  continued: 'continue', errno: 'errno', returned: 'return', emulated: 'emulate', failedClosed: 'fail-closed', noPolicy: 'no-policy',
};
const ERRNO_NAMES = new Map<number, string>(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));
const latin1 = new TextDecoder('latin1');

/** Fields every line of one ring carries besides the record's own. */
export type AuditContext = Readonly<Record<string, string>>;

/** The control plane's side: drains rings into the file. */
export class AuditLog {
  private readonly fd: number;
  private readonly sources: {
    ring: AuditRing; header: Int32Array; words: Int32Array; doubles: Float64Array; bytes: Uint8Array; names: () => readonly string[];
    context: AuditContext;
  }[] = [];
  private timer: NodeJS.Timeout | null = null;

  /** Opens (appends to) `file`; throws with the reason when it cannot. */
  constructor(readonly file: string, private readonly intervalMs = 200) {
    this.fd = openSync(file, 'a', 0o640);
  }

  /**
   * Starts draining `ring`; `policyNames()[slot]` names the policy of a record. `context` goes on each
   * of its lines, after the time (the agent: `{ container: ID }`).
   */
  attach(ring: AuditRing, policyNames: () => readonly string[], context: AuditContext = {}): void {
    this.sources.push({
      ring, header: new Int32Array(ring.header), words: new Int32Array(ring.records), doubles: new Float64Array(ring.records),
      bytes: new Uint8Array(ring.records), names: policyNames, context,
    });
    if (this.timer === null) {
      this.timer = setInterval(() => this.drain(), this.intervalMs);
      this.timer.unref();
    }
  }

  detach(ring: AuditRing): void {
    this.drain();
    const i = this.sources.findIndex((s) => s.ring === ring);
    if (i >= 0) this.sources.splice(i, 1);
  }

  /** Writes every record the workers published so far. */
  drain(): void {
    for (const s of this.sources) {
      const written = Atomics.load(s.header, WRITTEN);
      let consumed = Atomics.load(s.header, CONSUMED);
      if (consumed === written) continue;
      const lines: string[] = [];
      const names = s.names();
      while (consumed !== written) {
        const base = (consumed & (s.ring.capacity - 1)) * RECORD_WORDS;
        lines.push(formatRecord(s.words, s.doubles, s.bytes, base, names, s.context));
        consumed = (consumed + 1) | 0;
      }
      // Free the slots only after reading them.
      Atomics.store(s.header, CONSUMED, consumed);
      try {
        writeSync(this.fd, lines.join('\n') + '\n');
      } catch { /* a full disk loses audit lines, never a notification */ }
    }
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.drain();
    closeSync(this.fd);
  }
}

function hex(lo: number, hi: number): string {
  return hi === 0 ? `0x${(lo >>> 0).toString(16)}` : `0x${(hi >>> 0).toString(16)}${(lo >>> 0).toString(16).padStart(8, '0')}`;
}

function formatRecord(w: Int32Array, d: Float64Array, bytes: Uint8Array, base: number, names: readonly string[], context: AuditContext): string {
  const outcome = OUTCOME_NAMES[w[base + OUTCOME]!] ?? 'failedClosed';
  const slot = w[base + SLOT]!;
  const args: string[] = [];
  for (let i = 0; i < 6; i++) args.push(hex(w[base + ARGS + 2 * i]!, w[base + ARGS + 2 * i + 1]!));
  const commAt = base * 4 + COMM_BYTE;
  const line: Record<string, unknown> = {
    time: new Date(d[base >> 1]!).toISOString(),
    ...context,
    pid: w[base + TID]! >>> 0,
    comm: latin1.decode(bytes.subarray(commAt, commAt + w[base + COMM_LENGTH]!)),
    syscall: portableName(w[base + PORTABLE]!) ?? `nr ${w[base + NR]!} arch 0x${(w[base + ARCH]! >>> 0).toString(16)}`,
    args,
    policy: slot >= 0 ? names[slot] ?? null : null,
    decision: DECISIONS[outcome],
  };
  const errno = w[base + ERRNO]!;
  if (errno !== 0) line.errno = ERRNO_NAMES.get(errno) ?? errno;
  if (outcome === 'returned' || (outcome === 'emulated' && errno === 0)) {
    line.value = Number(BigInt.asIntN(64, (BigInt(w[base + VALUE_HI]! >>> 0) << 32n) | BigInt(w[base + VALUE_LO]! >>> 0)));
  }
  line.latency_us = Math.round(d[(base >> 1) + 1]! / 10) / 100;
  return JSON.stringify(line);
}
