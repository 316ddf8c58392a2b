// policies/sched.ts driven through the real ABI: its configuration (what it accepts, what it refuses with
// which reason), that it allows nothing until configured, and the operands it hands the SCHED primitive;
// and the host's own ceiling and operand checks (src/emulate/sched.ts). End to end: test/kernel/sched.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPolicy } from '../../src/policy/build.js';
import { instantiatePolicy, type HostContext, type PolicyInstance } from '../../src/policy/instance.js';
import type { PolicyInfo } from '../../src/policy/load.js';
import { portableId, syscallNumber } from '../../src/syscalls/tables.js';
import { CALLER_IN_SUPERVISOR_USERNS, CALLER_IN_WORKLOAD_USERNS } from '../../src/layouts.js';
import { SCHED, SCHED_POLICY_BITS, exceedsCeiling, refusedCeiling } from '../../src/emulate/sched.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'wasmsup-policy-sched-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const CONTINUE = 1, EMULATE = 4, PRIMITIVE_SCHED = 8, CAP_SYS_NICE = 23;
const bit = (p: number) => 1 << p;

let info: PolicyInfo;
let caller = { caps: 1n << BigInt(CAP_SYS_NICE), flags: CALLER_IN_WORKLOAD_USERNS };
const host: HostContext = {
  readMemory: () => -14,
  readString: () => -14,
  callerCreds(dst: Uint8Array): number {
    const view = new DataView(dst.buffer, dst.byteOffset, 128);
    view.setBigUint64(64, caller.caps, true);
    view.setUint32(92, caller.flags, true);
    return 0;
  },
  log: () => {},
};

test.before(async () => {
  info = await buildPolicy(join(root, 'policies', 'sched.ts'), join(dir, 'sched.wasm'));
});

function configured(config: unknown): PolicyInstance {
  return instantiatePolicy({ ...info, configuration: config === undefined ? undefined : new TextEncoder().encode(JSON.stringify(config)) }, host);
}

function refusal(config: unknown): string {
  try { configured(config); } catch (e) { return (e as Error).message; }
  return 'accepted';
}

/** Asks the policy about sched_setscheduler(0, FIFO, ...): the decision and the three operands. */
function decide(policy: PolicyInstance): [number, number, number, number, number] {
  const block = policy.notification;
  const view = new DataView(block.buffer, block.byteOffset, 128);
  block.fill(0);
  view.setInt32(16, syscallNumber('x86_64', 'sched_setscheduler')!, true);
  view.setUint32(20, 0xc000003e, true);
  view.setInt32(80, portableId('sched_setscheduler'), true);
  const kind = policy.decide();
  const after = new DataView(policy.notification.buffer, policy.notification.byteOffset, 128);
  return [kind, after.getInt32(96, true), after.getUint32(100, true), after.getInt32(104, true), after.getInt32(108, true)];
}

test('interest: the three calls, every argument', () => {
  assert.equal(info.interest.map((i) => [i.syscall, i.when]), [['sched_setscheduler', undefined], ['sched_setparam', undefined], ['sched_setattr', undefined]]);
});

test('unconfigured, it allows nothing: every call goes back to the kernel', () => {
  assert.is(decide(configured(undefined))[0], CONTINUE);
});

test('configured: the workload\'s root gets the primitive with the configured ceiling', () => {
  const policy = configured({ policies: ['fifo', 'rr', 'other', 'batch', 'idle'], maxRtPriority: 50, minNice: -10 });
  assert.equal(decide(policy), [EMULATE, PRIMITIVE_SCHED, bit(SCHED.FIFO) | bit(SCHED.RR) | bit(SCHED.OTHER) | bit(SCHED.BATCH) | bit(SCHED.IDLE), 50, -10]);
  assert.equal(decide(configured({ policies: ['other', 'deadline'] })), [EMULATE, PRIMITIVE_SCHED, bit(SCHED.OTHER) | bit(SCHED.DEADLINE), 0, 0]);
  assert.equal(decide(configured({ policies: [] }))[0], CONTINUE, 'an empty list allows nothing');
});

test('who: only a caller with CAP_SYS_NICE in the workload\'s user namespace', () => {
  const policy = configured({ policies: ['fifo'], maxRtPriority: 10 });
  const cases: [typeof caller, number][] = [
    [{ caps: 1n << BigInt(CAP_SYS_NICE), flags: CALLER_IN_WORKLOAD_USERNS }, EMULATE],
    [{ caps: 0n, flags: CALLER_IN_WORKLOAD_USERNS }, CONTINUE],
    [{ caps: 1n << BigInt(CAP_SYS_NICE), flags: 0 }, CONTINUE],
    [{ caps: 1n << BigInt(CAP_SYS_NICE), flags: CALLER_IN_WORKLOAD_USERNS | CALLER_IN_SUPERVISOR_USERNS }, CONTINUE],
  ];
  for (const [who, expected] of cases) {
    caller = who;
    assert.is(decide(policy)[0], expected, JSON.stringify({ ...who, caps: String(who.caps) }));
  }
  caller = cases[0]![0];
});

test('configuration refused with one line naming the key', () => {
  const prefix = 'policy sched refused its configuration: ';
  const cases: [unknown, string][] = [
    [[], 'the configuration must be a JSON object, not []'],
    [{ policies: ['fifo'], maxRtPriority: 5, nice: 1 }, 'unknown key "nice" (known keys: policies, maxRtPriority, minNice)'],
    [{ maxRtPriority: 5 }, 'policies: required, e.g. ["fifo", "rr", "other", "batch", "idle"]'],
    [{ policies: 'fifo' }, 'policies: must be an array of policy names, not "fifo"'],
    [{ policies: ['fifo', 'iso'] }, 'policies[1]: "iso" is not one of other, batch, idle, fifo, rr, deadline'],
    [{ policies: ['rr'] }, 'maxRtPriority: required when fifo or rr is allowed'],
    [{ policies: ['rr'], maxRtPriority: 100 }, 'maxRtPriority: must be an integer from 1 to 99, not 100'],
    [{ policies: ['rr'], maxRtPriority: 0 }, 'maxRtPriority: must be an integer from 1 to 99, not 0'],
    [{ policies: ['rr'], maxRtPriority: 1.5 }, 'maxRtPriority: must be an integer from 1 to 99, not 1.5'],
    [{ policies: ['other'], minNice: -21 }, 'minNice: must be an integer from -20 to 19, not -21'],
    [{ policies: ['other'], minNice: '0' }, 'minNice: must be an integer from -20 to 19, not "0"'],
  ];
  for (const [config, why] of cases) assert.is(refusal(config), prefix + why, JSON.stringify(config));
  assert.is(refusal({ policies: ['other'], minNice: 19 }), 'accepted');
});

test('the host\'s own ceiling: policies, RT priority, nice; and malformed operands', () => {
  const c = { allowedPolicies: bit(SCHED.FIFO) | bit(SCHED.OTHER), maxRtPriority: 50, minNice: -10 };
  assert.is(exceedsCeiling(c, SCHED.FIFO, 50, null), null);
  assert.is(exceedsCeiling(c, SCHED.FIFO, 51, null), 'priority 51 is above 50');
  assert.is(exceedsCeiling(c, SCHED.FIFO, null, null), null, 'KEEP_PARAMS keeps the priority');
  assert.is(exceedsCeiling(c, SCHED.RR, 1, null), 'policy 2 is not allowed');
  assert.is(exceedsCeiling(c, SCHED.OTHER, 0, -10), null);
  assert.is(exceedsCeiling(c, SCHED.OTHER, 0, -11), 'nice -11 is below -10');
  assert.is(exceedsCeiling(c, SCHED.DEADLINE, 0, 0), 'policy 6 is not allowed', 'DEADLINE only when named');
  assert.is(refusedCeiling(c, 0), null);
  assert.is(refusedCeiling({ ...c, allowedPolicies: SCHED_POLICY_BITS | bit(4) }, 0), 'allowed policies 0x7f name a policy the host does not know');
  assert.is(refusedCeiling({ ...c, maxRtPriority: 100 }, 0), 'maximum RT priority 100 is not 0..99');
  assert.is(refusedCeiling({ ...c, minNice: 20 }, 0), 'minimum nice 20 is not -20..19');
  assert.is(refusedCeiling(c, 1), 'reserved bytes 112..128 are not zero');
});

test.run();
