// The notification handler (src/dataplane/handler.ts) with a scripted policy set, fake primitives and a
// scripted listener: what each decision is answered, how emulation results become answers (one
// contract: ≥ 0, -errno, ANSWERED), what fails closed, what is counted, and the caller snapshot the
// host functions fill reaching the emulation. No kernel, no root.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NotificationHandler } from '../../src/dataplane/handler.js';
import { Responder } from '../../src/dataplane/responder.js';
import { FAIL_CLOSED, NO_POLICY, type LoadedPolicy, type PolicySet, type Verdict } from '../../src/dataplane/policy-set.js';
import type { EmulationContext, PrimitiveImpl } from '../../src/dataplane/primitives.js';
import { Containment, Decision, type DefaultAction } from '../../src/dataplane/protocol.js';
import { newStatsBuffer, Stat, StatsWriter } from '../../src/dataplane/stats.js';
import { CallerSnapshot } from '../../src/caller/snapshot.js';
import { ANSWERED } from '../../src/emulate/contract.js';
import { TaintedThreadError } from '../../src/errors.js';
import { Notif, argLo } from '../../src/layouts.js';
import { AUDIT_ARCH_X86_64, portableId, syscallNumber } from '../../src/syscalls/tables.js';
import { FakeListener } from '../support/fake-listener.js';

const FAIL_ERRNO = 1, CONTINUE_FLAG = 1;
const policy = { name: 'p', slot: 0, lastLogMs: -Infinity, suppressedLogs: 0 } as LoadedPolicy;

function verdict(v: Partial<Verdict>): Verdict {
  return { kind: NO_POLICY, policy: null, valueLo: 0, valueHi: 0, primitive: 0, reason: '', trapped: false, outOfFuel: false, skippedNow: false, ...v };
}

function setup(primitiveRun: (c: EmulationContext) => number = () => 0, defaultAction: DefaultAction = 'continue') {
  const listener = new FakeListener();
  const notif = new Uint8Array(128);
  const words = new Uint32Array(notif.buffer);
  const buffer = newStatsBuffer();
  const stats = new Int32Array(buffer);
  const warnings: string[] = [];
  const responder = new Responder(listener, words, stats, (m) => warnings.push(m));
  let next: Verdict | (() => Verdict) = verdict({});
  const policySet = { ask: () => (typeof next === 'function' ? next() : next) } as unknown as PolicySet;
  const contexts: EmulationContext[] = [];
  const primitive: PrimitiveImpl = { name: 'fake', syscalls: [portableId('mknodat')], run: (c) => { contexts.push(c); return primitiveRun(c); } };
  const caller = new CallerSnapshot();
  let beforeHandle: (() => void) | null = null;
  const handler = new NotificationHandler({
    notif, words, listener, responder, policySet, primitives: [undefined, primitive], caller, stats, statsWriter: new StatsWriter(buffer),
    audit: null, failErrno: FAIL_ERRNO, defaultAction, workload: null, warn: (m) => warnings.push(m), beforeHandle: () => beforeHandle?.(),
  });
  /** Receives notification `id` (mknodat of this process's thread) and handles it as a loop would. */
  const serve = (id: number, v: Verdict | (() => Verdict), dev = 0x103) => {
    next = v;
    words.fill(0);
    words[Notif.ID_LO] = id;
    words[Notif.TID] = process.pid;
    words[Notif.NR] = syscallNumber('x86_64', 'mknodat')!;
    words[Notif.ARCH] = AUDIT_ARCH_X86_64;
    words[argLo(3)] = dev;
    handler.serveReceived();
  };
  return { listener, stats, warnings, serve, contexts, caller, words, setBeforeHandle: (f: (() => void) | null) => { beforeHandle = f; } };
}

test('decisions become answers in the kernel\'s terms, counted', () => {
  const s = setup();
  s.serve(1, verdict({ kind: Decision.CONTINUE, policy }));
  s.serve(2, verdict({ kind: Decision.ERRNO, policy, valueLo: 13 }));
  s.serve(3, verdict({ kind: Decision.RETURN, policy, valueLo: 5, valueHi: 1 }));
  s.serve(4, verdict({ kind: NO_POLICY }));
  assert.equal(s.listener.sent.map((r) => [r.id, r.valueLo, r.valueHi, r.error, r.flags]), [
    [1, 0, 0, 0, CONTINUE_FLAG], [2, 0, 0, -13, 0], [3, 5, 1, 0, 0], [4, 0, 0, 0, CONTINUE_FLAG],
  ]);
  assert.equal([s.stats[Stat.notifications], s.stats[Stat.continued], s.stats[Stat.errno], s.stats[Stat.returned], s.stats[Stat.noPolicy]], [4, 1, 1, 1, 1]);
  assert.is(s.words[Notif.PORTABLE], portableId('mknodat'), 'the portable id written for the policies');
});

test('--default-action fail: a call no policy decides fails with the configured errno', () => {
  const s = setup(undefined, 'fail');
  s.serve(1, verdict({ kind: NO_POLICY }));
  assert.equal(s.listener.sent.map((r) => [r.id, r.error, r.flags]), [[1, -FAIL_ERRNO, 0]]);
  assert.is(s.stats[Stat.noPolicy], 1);
});

test('CONTAIN: the call fails with the policy\'s errno, the containment is counted and logged', () => {
  const s = setup();
  // ID_VALID says the call is gone: the caller is not pinned, so nothing is signalled (it would be this process).
  s.listener.valid = false;
  s.serve(1, verdict({ kind: Decision.CONTAIN, policy, valueLo: 13, primitive: Containment.KILL }));
  assert.equal(s.listener.sent.map((r) => [r.id, r.error]), [[1, -13]]);
  assert.equal([s.stats[Stat.killed], s.stats[Stat.errno]], [1, 1]);
  assert.match(s.warnings[0]!, /^policy p asked to kill the workload \(mknodat by tid \d+\): the caller was gone/);
});

test('emulation results: a value, -errno as the error, ANSWERED left alone', () => {
  const results = [3, -17, ANSWERED];
  const s = setup(() => results.shift()!);
  const emulate = verdict({ kind: Decision.EMULATE, policy, primitive: 1 });
  s.serve(1, emulate);
  s.serve(2, emulate);
  s.serve(3, emulate);
  assert.equal(s.listener.sent.map((r) => [r.id, r.valueLo, r.error]), [[1, 3, 0], [2, 0, -17]]);
  assert.equal([s.stats[Stat.emulated], s.stats[Stat.emulationFailed]], [2, 1]);
});

test('the emulation sees the notification, the deciding policy and the caller snapshot', () => {
  const s = setup();
  s.serve(1, verdict({ kind: Decision.EMULATE, policy, primitive: 1 }));
  const c = s.contexts[0]!;
  assert.equal([c.words[Notif.ID_LO], c.portable, c.policy, c.caller], [1, portableId('mknodat'), policy, s.caller]);
});

test('a primitive that does not apply, or none at all: failed closed with the configured errno', () => {
  const s = setup();
  s.serve(1, verdict({ kind: Decision.EMULATE, policy, primitive: 9 }));
  assert.equal(s.listener.sent.map((r) => r.error), [-FAIL_ERRNO]);
  assert.match(s.warnings[0]!, /^policy p asked for primitive 9, which does not apply to this call; failing the call closed$/);
  assert.is(s.stats[Stat.failedClosed], 1);
});

test('a trap fails closed, counted; a policy put aside is logged whatever the rate limit', () => {
  const s = setup();
  const p = { ...policy } as LoadedPolicy;
  s.serve(1, verdict({ kind: FAIL_CLOSED, policy: p, trapped: true, reason: 'policy p trapped: x' }));
  s.serve(2, verdict({ kind: FAIL_CLOSED, policy: p, trapped: true, reason: 'policy p trapped: y' }));
  s.serve(3, verdict({ kind: FAIL_CLOSED, policy: p, trapped: true, outOfFuel: true, skippedNow: true, reason: 'policy p ran out of fuel' }));
  assert.equal(s.listener.sent.map((r) => r.error), [-FAIL_ERRNO, -FAIL_ERRNO, -FAIL_ERRNO]);
  assert.equal(s.warnings, ['policy p trapped: x; failing the call closed', 'policy p ran out of fuel; failing the call closed'],
    'the second trap within a second is held back');
  assert.equal([s.stats[Stat.traps], s.stats[Stat.fuelExhausted], s.stats[Stat.policiesSkipped], s.stats[Stat.failedClosed]], [3, 1, 1, 3]);
});

test('an exception in the host fails the call closed, once; a tainted thread ends the loop unanswered', () => {
  const s = setup(() => { throw new TaintedThreadError('could not restore'); });
  s.serve(1, () => { throw new Error('host bug'); });
  assert.equal(s.listener.sent.map((r) => [r.id, r.error]), [[1, -FAIL_ERRNO]]);
  assert.match(s.warnings[0]!, /^internal error while handling a notification: Error: host bug/);
  s.setBeforeHandle(() => { throw new Error('injected'); });
  s.serve(2, verdict({ kind: Decision.CONTINUE, policy }));
  s.setBeforeHandle(null);
  assert.equal(s.listener.sent.map((r) => [r.id, r.error]), [[1, -FAIL_ERRNO], [2, -FAIL_ERRNO]], 'not decided: failed closed');
  assert.throws(() => s.serve(3, verdict({ kind: Decision.EMULATE, policy, primitive: 1 })), (e: Error) => e instanceof TaintedThreadError);
  assert.is(s.listener.sent.length, 2);
});

test('an emulation whose answer was refused is replayed to the restarted call, not redone', () => {
  let runs = 0;
  const s = setup(() => { runs++; return 0; });
  const emulate = verdict({ kind: Decision.EMULATE, policy, primitive: 1 });
  s.listener.sendErrors.push('ENOENT');
  s.serve(1, emulate);
  s.serve(2, emulate); // the same call, re-issued after the signal handler
  assert.equal(runs, 1);
  assert.equal(s.listener.sent.map((r) => [r.id, r.valueLo, r.error]), [[2, 0, 0]]);
  assert.equal([s.stats[Stat.replayed], s.stats[Stat.sendEnoent]], [1, 1]);
  s.serve(3, emulate, 0x104); // another call: emulated
  assert.is(runs, 2);
});

test.run();
