// A policy set (src/dataplane/policy-set.ts) asked about notifications as the data plane asks it: who
// is asked, in which order, what a decision becomes, how traps, fuel and bad decisions fail closed and
// put a policy aside, and what is counted. The test policies of build/test-policies; no kernel.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { loadPolicy, type LoadOptions } from '../../src/policy/load.js';
import type { HostContext } from '../../src/policy/instance.js';
import { FAIL_CLOSED, NO_POLICY, PolicySet } from '../../src/dataplane/policy-set.js';
import { Decision } from '../../src/dataplane/protocol.js';
import { newStatsBuffer, statsReport, StatsWriter } from '../../src/dataplane/stats.js';
import { AUDIT_ARCH_X86_64, portableId, syscallNumber } from '../../src/syscalls/tables.js';
import { Notif, argLo } from '../../src/layouts.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const policy = (name: string, options: LoadOptions = {}) => loadPolicy(`${root}build/test-policies/${name}.wasm`, options);

const host: HostContext = {
  readMemory: () => -14, readString: () => -14, callerCreds: () => -3, log: () => {},
};

/** A notification of `syscall` on x86_64 with args[0] = arg0, and its portable id at word 20, as the handler writes it. */
function notification(syscall: string, arg0 = 0) {
  const notif = new Uint8Array(128);
  const words = new Uint32Array(notif.buffer);
  words[Notif.ID_LO] = 77;
  words[Notif.TID] = 1234;
  words[Notif.NR] = syscallNumber('x86_64', syscall)!;
  words[Notif.ARCH] = AUDIT_ARCH_X86_64;
  words[argLo(0)] = arg0;
  const portable = portableId(syscall);
  words[Notif.PORTABLE] = portable;
  return { notif, words, portable };
}

function ask(set: PolicySet, syscall: string, arg0 = 0) {
  const n = notification(syscall, arg0);
  return set.ask(n.notif, n.words, n.portable);
}

test('the first answer other than no opinion wins, in the set\'s order', () => {
  const errno = policy('getppid-errno'), ret = policy('getppid-return');
  const v = ask(new PolicySet([errno, ret], host), 'getppid');
  assert.equal([v.kind, v.valueLo, v.policy?.name], [Decision.ERRNO, 13, errno.name]);
  const w = ask(new PolicySet([ret, errno], host), 'getppid');
  assert.equal([w.kind, w.valueLo, w.valueHi, w.policy?.name], [Decision.RETURN, 4242, 0, ret.name]);
});

test('a call no policy is interested in: nobody is asked', () => {
  const set = new PolicySet([policy('getppid-errno')], host);
  const v = ask(set, 'getpid');
  assert.equal([v.kind, v.policy], [NO_POLICY, null]);
});

test('the policy\'s block holds the notification and the portable id, and the verdict is one reused object', () => {
  const set = new PolicySet([policy('getppid-return')], host);
  const n = notification('getppid', 0xdead);
  const v = set.ask(n.notif, n.words, n.portable);
  const block = new Uint32Array(set.policies[0]!.block!.buffer, set.policies[0]!.block!.byteOffset, 32);
  assert.equal([...block.subarray(0, Notif.POLICY_WORDS)], [...n.words.subarray(0, Notif.POLICY_WORDS)]);
  assert.is(ask(set, 'getpid'), v, 'the same object, filled anew');
});

test('bad decisions fail closed with a reason; an unknown primitive is left to the data plane', () => {
  const set = new PolicySet([policy('hostile-decisions')], host);
  const unknown = ask(set, 'getppid', 0);
  assert.equal([unknown.kind, unknown.trapped], [FAIL_CLOSED, false]);
  assert.match(unknown.reason, /returned unknown decision 99/);
  assert.match(ask(set, 'getppid', 3).reason, /out-of-range errno 4096/);
  assert.match(ask(set, 'getppid', 2).reason, /out-of-range errno 0/);
  assert.match(ask(set, 'getppid', 12).reason, /asked to contain the workload with an out-of-range errno 0/);
  assert.match(ask(set, 'getppid', 13).reason, /asked to contain the workload with an out-of-range errno 0/, 'the errno is checked first');
  const emulate = ask(set, 'getppid', 5);
  assert.equal([emulate.kind, emulate.primitive], [Decision.EMULATE, 77]);
  const fine = ask(set, 'getppid', 100);
  assert.equal([fine.kind, fine.valueLo, fine.reason], [Decision.RETURN, 4242, '']);
});

test('traps fail closed; maxTraps in a row put the policy aside until a new set', () => {
  const stats = newStatsBuffer();
  const set = new PolicySet([policy('trap'), policy('getppid-return')], host, { maxTraps: 2, stats: new StatsWriter(stats) });
  const first = ask(set, 'getppid');
  assert.equal([first.kind, first.trapped, first.skippedNow], [FAIL_CLOSED, true, false]);
  assert.match(first.reason, /policy trap trapped: /);
  const second = ask(set, 'getppid');
  assert.equal([second.trapped, second.skippedNow], [true, true]);
  assert.match(second.reason, /2 traps in a row, so it is skipped until the next reload/);
  const third = ask(set, 'getppid');
  assert.equal([third.kind, third.valueLo, third.policy?.name], [Decision.RETURN, 4242, 'getppid-return'], 'the next policy answers');
  const byPolicy = statsReport(stats, ['trap', 'getppid-return']).byPolicy;
  assert.equal(byPolicy.trap, { asked: 2, failedClosed: 2, traps: 2, skipped: 1 });
  assert.equal(byPolicy['getppid-return'], { asked: 1, return: 1 });
});

test('a decision that never ends runs out of fuel and fails closed', () => {
  const set = new PolicySet([policy('loop', { fuel: 10_000 })], host);
  const v = ask(set, 'getppid');
  assert.equal([v.kind, v.trapped, v.outOfFuel], [FAIL_CLOSED, true, true]);
  assert.match(v.reason, /ran out of fuel \(10000 loop iterations and calls\)/);
});

test('stats slots: as given, the last one shared beyond the table', () => {
  const set = new PolicySet([policy('getppid-errno'), policy('getppid-return')], host, { slots: [5, 1000] });
  assert.equal(set.policies.map((p) => p.slot), [5, 63]);
});

test.run();
