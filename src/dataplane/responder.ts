// Answers the notification in hand, exactly once: the first answer stands, later ones are ignored, and
// the handler fails the call closed when nothing answered it (handler.ts). The answer goes out at once
// (SEND), or, in the blocking loop, waits for the loop's next receive, which sends it and blocks for
// the next notification in one native call (loops.ts). An emulation that answered the call itself
// (ADDFD with SEND, a CONTINUE) only says so.
//
// Answers are in the kernel's terms (struct seccomp_notif_resp): a value, or an error that is 0 or
// -errno. What the notification was answered stays readable until the next one, for the stats and the
// audit log. Nothing here allocates.
import { native } from '../native.js';
import { Notif, Resp, RESP_BYTES } from '../layouts.js';
import { Stat } from './stats.js';
import type { DataPlaneCalls, Listener } from './listener.js';

const ENOENT = native.errnoNumber('ENOENT');

export class Responder {
  /** struct seccomp_notif_resp for the notification in hand. */
  readonly response = new Uint8Array(RESP_BYTES);
  private readonly resp = new Int32Array(this.response.buffer);
  /** What the notification in hand was answered: its value (low, high) and error (0 or -errno). */
  valueLo = 0;
  valueHi = 0;
  error = 0;
  /** The notification in hand has its answer (sent, waiting in `response`, or given by an emulation). */
  answered = false;
  /** The answer in `response` waits to be sent (only while deferring). */
  pending = false;
  /** Answers may wait for the loop's next receive (the blocking loop sets this). */
  deferring = false;
  /**
   * The blocking loop's registered calls while it runs (loops.ts): answers are sent through them, and
   * the native side then counts each notification's latency; null in the polling loops.
   */
  calls: DataPlaneCalls | null = null;

  /**
   * `words`: the notification buffer (struct seccomp_notif as Uint32Array) the loop receives into.
   * `stats`: the shared counters (Stat.sendEnoent); `warn`: a log line.
   */
  constructor(
    private readonly listener: Listener,
    private readonly words: Uint32Array,
    private readonly stats: Int32Array,
    private readonly warn: (message: string) => void,
  ) {}

  /** A new notification is in `words`: nothing has answered it yet. */
  begin(): void {
    this.answered = false;
    this.valueLo = 0; this.valueHi = 0; this.error = 0;
  }

  /** Answers the notification in hand now, or, while deferring, leaves it to the loop's next receive. */
  answer(valueLo: number, valueHi: number, error: number, flags: number): void {
    if (!this.deferring) { this.respond(valueLo, valueHi, error, flags); return; }
    if (this.answered) return;
    this.fill(valueLo, valueHi, error, flags);
    this.pending = true;
  }

  /**
   * Answers the notification in hand now; false when the kernel no longer waits for it (ENOENT: the
   * caller was interrupted or is gone). An emulation's result goes this way, as it must know.
   */
  respond(valueLo: number, valueHi: number, error: number, flags: number): boolean {
    if (this.answered) return true;
    this.fill(valueLo, valueHi, error, flags);
    return this.sendNow();
  }

  /** An emulation answered the notification itself (ADDFD with SEND, or a CONTINUE). */
  answeredElsewhere(): void {
    this.answered = true;
  }

  /** Sends the answer waiting in `response`, if there is one (before control messages, or stopping). */
  flush(): void {
    if (!this.pending) return;
    this.sendNow();
  }

  /** For the blocking loop's sendReceive: true when `response` waits to be sent, which it now takes over. */
  takePending(): boolean {
    if (!this.pending) return false;
    this.pending = false;
    return true;
  }

  /**
   * A failed SEND: ENOENT (the caller was interrupted by a signal or is gone) is normal and counted.
   * Anything else is a bug worth a log line, but the loop goes on.
   */
  sendFailed(errno: number): void {
    if (errno === ENOENT) this.stats[Stat.sendEnoent] = this.stats[Stat.sendEnoent]! + 1;
    else this.warn(`answering notification failed: ioctl(SECCOMP_IOCTL_NOTIF_SEND): ${native.errnoName(errno)}`);
  }

  private fill(valueLo: number, valueHi: number, error: number, flags: number): void {
    const r = this.resp, w = this.words;
    // id is the first 8 bytes of the notification: two word copies.
    r[Resp.ID_LO] = w[Notif.ID_LO]!;
    r[Resp.ID_HI] = w[Notif.ID_HI]!;
    r[Resp.VAL_LO] = valueLo;
    r[Resp.VAL_HI] = valueHi;
    r[Resp.ERROR] = error;
    r[Resp.FLAGS] = flags;
    this.valueLo = valueLo; this.valueHi = valueHi; this.error = error;
    this.answered = true;
  }

  /** Sends `response`; false when the kernel no longer waits for it (ENOENT). */
  private sendNow(): boolean {
    this.pending = false;
    if (this.calls !== null) {
      const errno = this.calls.send();
      if (errno === 0) return true;
      this.sendFailed(errno);
      return errno !== ENOENT;
    }
    try {
      this.listener.send(this.response);
      return true;
    } catch (e) {
      const errno = (e as NodeJS.ErrnoException).errno;
      if (typeof errno !== 'number') { this.warn(`answering notification failed: ${(e as Error).message}`); return true; }
      this.sendFailed(errno);
      return errno !== ENOENT;
    }
  }
}
