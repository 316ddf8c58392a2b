// A scripted seccomp listener for the data plane's unit tests (src/dataplane/listener.ts): no kernel,
// no root. Each call takes the next step its script has for it; what was sent is recorded.
import { native } from '../../src/native.js';
import type { DataPlaneCalls, Listener } from '../../src/dataplane/listener.js';
import { Notif, Resp } from '../../src/layouts.js';

export const ENOENT = native.errnoNumber('ENOENT');
export const EINTR = native.errnoNumber('EINTR');

/** An error as the shim throws it. */
export function errnoError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`fake: ${code}`), { code, errno: native.errnoNumber(code) });
}

/** A received notification: the id (low word) and, optionally, the rest of its words. */
export interface FakeNotification { id: number; words?: Partial<Record<number, number>> }

/** What one call of a kind does: a notification to receive, an errno to throw, or a result. */
export type Step =
  | { receive: FakeNotification }
  | { throw: string }
  | { interrupted: true }
  | { events: number }
  | { sendRecv: { sendErrno?: number; recvErrno?: number; receive?: FakeNotification } }
  | { run: () => void };

export interface SentResponse { id: number; valueLo: number; valueHi: number; error: number; flags: number; by: 'send' | 'sendRecv' }

export class FakeListener implements Listener {
  readonly sent: SentResponse[] = [];
  readonly calls: string[] = [];
  /** What ID_VALID answers. */
  valid = true;
  /** Errors the next sends throw, in order. */
  readonly sendErrors: string[] = [];
  private readonly script: Record<'recv' | 'recvBlocking' | 'sendRecv' | 'poll', Step[]> = { recv: [], recvBlocking: [], sendRecv: [], poll: [] };

  /** Appends steps for calls of `kind`. A kind whose script ran out throws, failing the test. */
  on(kind: 'recv' | 'recvBlocking' | 'sendRecv' | 'poll', ...steps: Step[]): this {
    this.script[kind].push(...steps);
    return this;
  }

  /** Steps its script still has for calls of `kind`. */
  stepsLeft(kind: 'recv' | 'recvBlocking' | 'sendRecv' | 'poll'): number {
    return this.script[kind].length;
  }

  private next(kind: 'recv' | 'recvBlocking' | 'sendRecv' | 'poll'): Step {
    this.calls.push(kind);
    for (;;) {
      const step = this.script[kind].shift();
      if (step === undefined) throw new Error(`fake listener: no step left for ${kind} (calls: ${this.calls.join(' ')})`);
      if (!('run' in step)) return step;
      step.run();
    }
  }

  private static fill(notif: Uint8Array, n: FakeNotification): void {
    const w = new Uint32Array(notif.buffer, notif.byteOffset, 32);
    w.fill(0);
    w[Notif.ID_LO] = n.id;
    for (const [i, v] of Object.entries(n.words ?? {})) w[Number(i)] = v!;
  }

  private record(response: Uint8Array, by: SentResponse['by']): void {
    const r = new Int32Array(response.buffer, response.byteOffset, 6);
    this.sent.push({ id: r[Resp.ID_LO]!, valueLo: r[Resp.VAL_LO]!, valueHi: r[Resp.VAL_HI]!, error: r[Resp.ERROR]!, flags: r[Resp.FLAGS]!, by });
  }

  recv(notif: Uint8Array): void {
    const step = this.next('recv');
    if ('throw' in step) throw errnoError(step.throw);
    if (!('receive' in step)) throw new Error('fake listener: recv needs receive or throw');
    FakeListener.fill(notif, step.receive);
  }

  recvBlocking(notif: Uint8Array): boolean {
    const step = this.next('recvBlocking');
    if ('throw' in step) throw errnoError(step.throw);
    if ('interrupted' in step) return false;
    if (!('receive' in step)) throw new Error('fake listener: recvBlocking needs receive, interrupted or throw');
    FakeListener.fill(notif, step.receive);
    return true;
  }

  send(response: Uint8Array): void {
    this.calls.push('send');
    const error = this.sendErrors.shift();
    if (error !== undefined) throw errnoError(error);
    this.record(response, 'send');
  }

  sendRecv(response: Uint8Array, notif: Uint8Array): number {
    const step = this.next('sendRecv');
    if (!('sendRecv' in step)) throw new Error('fake listener: sendRecv needs a sendRecv step');
    const { sendErrno = 0, recvErrno = 0, receive } = step.sendRecv;
    if (sendErrno === 0) this.record(response, 'sendRecv');
    if (recvErrno === 0 && receive) FakeListener.fill(notif, receive);
    return (sendErrno << 16) | recvErrno;
  }

  /**
   * The blocking loop's registered calls over `notif` and `response` (as native.registerDataPlane
   * would make them): receive takes the 'recvBlocking' script, sendReceive the 'sendRecv' one, send
   * records as `send` does. `answered` counts the calls it gets.
   */
  registered(notif: Uint8Array, response: Uint8Array): DataPlaneCalls & { answeredCalls: number } {
    const calls = {
      answeredCalls: 0,
      receive: () => {
        try {
          return this.recvBlocking(notif) ? 0 : EINTR;
        } catch (e) {
          return (e as NodeJS.ErrnoException).errno!;
        }
      },
      sendReceive: () => this.sendRecv(response, notif),
      send: () => {
        try {
          this.send(response);
          return 0;
        } catch (e) {
          return (e as NodeJS.ErrnoException).errno!;
        }
      },
      answered: () => { calls.answeredCalls++; },
    };
    return calls;
  }

  poll(_wakeFd: number, _timeoutMs: number): number {
    const step = this.next('poll');
    if (!('events' in step)) throw new Error('fake listener: poll needs events');
    return step.events;
  }

  idValid(_notif: Uint8Array): boolean {
    return this.valid;
  }
}
