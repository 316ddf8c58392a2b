// policies/mount.ts through the real ABI: its configuration (LXD's vocabulary, nothing allowed until
// configured, refusals in its words) and the decisions and operands it gives the host.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadPolicy, type PolicyInfo } from '../../src/policy/load.js';
import { withConfiguration } from '../../src/policy/configuration.js';
import { instantiatePolicy, type HostContext, type PolicyInstance } from '../../src/policy/instance.js';
import { portableId, syscallNumber } from '../../src/syscalls/tables.js';
import { CALLER_IN_SUPERVISOR_USERNS, CALLER_IN_WORKLOAD_USERNS } from '../../src/layouts.js';
import { POLICY } from '../support/wasmsup.js';

const CONTINUE = 1, ERRNO = 2, EMULATE = 4, PRIMITIVE_MOUNT = 7, ENOSYS = 38, CAP_SYS_ADMIN = 21;
const FSTYPE_AT = 0x7ffc0000n;
const encode = (s: string) => new TextEncoder().encode(s);

interface Caller { caps: bigint; flags: number }
const workloadRoot: Caller = { caps: 1n << BigInt(CAP_SYS_ADMIN), flags: CALLER_IN_WORKLOAD_USERNS };
let caller = workloadRoot;
/** The string the caller passes as the filesystem type (at FSTYPE_AT). */
let callerFstype = 'ext4';

const host: HostContext = {
  readMemory: () => -14,
  readString: (addrLo: number, addrHi: number, dst: Uint8Array, cap: number) => {
    if (addrLo !== Number(FSTYPE_AT) || addrHi !== 0) return -14;
    const bytes = encode(callerFstype);
    if (bytes.length + 1 > cap) return -36;
    dst.set(bytes);
    dst[bytes.length] = 0;
    return bytes.length;
  },
  callerCreds: (dst: Uint8Array) => {
    const view = new DataView(dst.buffer, dst.byteOffset, 128);
    view.setBigUint64(64, caller.caps, true);
    view.setBigUint64(72, caller.caps, true);
    view.setUint32(92, caller.flags, true);
    return 0;
  },
  log: () => {},
};

function configured(text: string | null): { policy: PolicyInstance | null; error: string | null; info: PolicyInfo } {
  const info = withConfiguration(loadPolicy(POLICY('mount')), text === null ? null : encode(text), 'mount.json', null);
  try {
    return { policy: instantiatePolicy(info, host), error: null, info };
  } catch (e) {
    return { policy: null, error: (e as Error).message, info };
  }
}

/** Asks `policy` about syscall with args; returns the decision and the block's words 24.. (primitive, operands). */
function decide(policy: PolicyInstance, syscall: string, args: bigint[], who: Caller = workloadRoot) {
  caller = who;
  const block = policy.notification;
  const view = new DataView(block.buffer, block.byteOffset, 128);
  block.fill(0);
  view.setBigUint64(0, 1n, true);
  view.setUint32(8, 4242, true);
  view.setInt32(16, syscallNumber('x86_64', syscall as never)!, true);
  view.setUint32(20, 0xc000003e, true);
  args.forEach((a, i) => view.setBigUint64(32 + 8 * i, a, true));
  view.setInt32(80, portableId(syscall), true);
  const decision = policy.decide();
  const fstypePtr = view.getUint32(100, true), fstypeLen = view.getUint32(104, true);
  const memory = new Uint8Array(policy.memory.buffer);
  return {
    decision, primitive: view.getInt32(96, true), errno: Number(view.getBigInt64(88, true)),
    fstype: new TextDecoder().decode(memory.subarray(fstypePtr, fstypePtr + fstypeLen)), options: view.getUint32(108, true),
    fuse: new TextDecoder().decode(memory.subarray(view.getUint32(112, true), view.getUint32(112, true) + view.getUint32(116, true))),
    reserved: [view.getUint32(120, true), view.getUint32(124, true)],
  };
}

const mount = (flags = 0n) => ['mount', [0x1000n, 0x2000n, FSTYPE_AT, flags, 0n]] as const;

test('configuration: LXD\'s keys are accepted; unknown keys, bad types, FUSE types and a FUSE map are refused in the policy\'s words', () => {
  assert.is(configured('{"allowed": ["ext4", "xfs"], "shift": true, "allowSuid": false, "allowDev": false, "fuse": {}}').error, null);
  const refused: [string, string][] = [
    ['[]', 'the configuration must be a JSON object, not []'],
    ['{"allow": ["ext4"]}', 'unknown key "allow" (known keys: allowed, shift, allowSuid, allowDev, fuse)'],
    ['{"allowed": "ext4"}', 'allowed: must be an array of filesystem types, not "ext4"'],
    ['{"allowed": ["EXT4"]}', 'allowed[0]: "EXT4" is not a filesystem type (1..31 of a-z 0-9 _, no FUSE type)'],
    ['{"allowed": ["ext4", "fuseblk"]}', 'allowed[1]: "fuseblk" is not a filesystem type (1..31 of a-z 0-9 _, no FUSE type)'],
    ['{"allowed": [""]}', 'allowed[0]: "" is not a filesystem type (1..31 of a-z 0-9 _, no FUSE type)'],
    ['{"allowed": ["ext4"], "shift": "yes"}', 'shift: must be true or false, not "yes"'],
    ['{"allowed": ["ext4"], "fuse": {"ext4": "fuse2fs"}}', 'fuse: "ext4" is also in allowed (a type is mounted either by the kernel or by a FUSE program)'],
    ['{"fuse": ["fuse2fs"]}', 'fuse: must be an object of "type": "program", not ["fuse2fs"]'],
    ['{"fuse": {"ext4": "/usr/bin/fuse2fs"}}', 'fuse: "ext4": "/usr/bin/fuse2fs" is not a program\'s file name (1..63 of A-Z a-z 0-9 . _ + -, no slash)'],
    ['{"fuse": {"ext4": ".."}}', 'fuse: "ext4": ".." is not a program\'s file name (1..63 of A-Z a-z 0-9 . _ + -, no slash)'],
    ['{"fuse": {"ext4": ""}}', 'fuse: "ext4": "" is not a program\'s file name (1..63 of A-Z a-z 0-9 . _ + -, no slash)'],
    ['{"fuse": {"Ext4": "fuse2fs"}}', 'fuse: "Ext4" is not a filesystem type (1..31 of a-z 0-9 _, no FUSE type)'],
  ];
  for (const [text, why] of refused) assert.is(configured(text).error, `policy mount refused its configuration: ${why}`, text);
});

test('nothing is allowed until configured: every call is the kernel\'s', () => {
  for (const text of [null, '{}', '{"shift": true}', '{"allowed": []}']) {
    const { policy } = configured(text);
    callerFstype = 'ext4';
    const [sys, args] = mount();
    assert.is(decide(policy!, sys, [...args]).decision, CONTINUE, String(text));
    assert.is(decide(policy!, 'umount2', [0x2000n, 0n]).decision, CONTINUE);
    assert.is(decide(policy!, 'fsopen', [FSTYPE_AT, 0n]).decision, CONTINUE);
  }
});

test('configured: an allowed type is emulated with the type as read and the configured options; the rest continues', () => {
  const { policy, info } = configured('{"allowed": ["ext4", "xfs"], "shift": true, "allowDev": true}');
  assert.equal(info.interest.map((i) => i.syscall), ['mount', 'umount2', 'umount', 'fsopen']);
  callerFstype = 'xfs';
  const [sys, args] = mount();
  const r = decide(policy!, sys, [...args]);
  assert.equal([r.decision, r.primitive, r.fstype, r.options, r.fuse, r.reserved], [EMULATE, PRIMITIVE_MOUNT, 'xfs', 1 | 4, '', [0, 0]]);
  for (const other of ['btrfs', 'tmpfs', 'ext', 'ext44', 'x'.repeat(40)]) {
    callerFstype = other;
    assert.is(decide(policy!, sys, [...args]).decision, CONTINUE, other);
  }
  callerFstype = 'ext4';
  assert.is(decide(policy!, 'mount', [0x1000n, 0x2000n, FSTYPE_AT, 4096n, 0n]).decision, CONTINUE, 'MS_BIND');
  assert.is(decide(policy!, 'mount', [0x1000n, 0x2000n, FSTYPE_AT, 32n, 0n]).decision, CONTINUE, 'MS_REMOUNT');
  assert.is(decide(policy!, 'mount', [0x1000n, 0x2000n, 0n, 0n, 0n]).decision, CONTINUE, 'no type');
  assert.is(decide(policy!, sys, [...args], { ...workloadRoot, caps: 0n }).decision, CONTINUE, 'no CAP_SYS_ADMIN');
  assert.is(decide(policy!, sys, [...args], { ...workloadRoot, flags: CALLER_IN_SUPERVISOR_USERNS | CALLER_IN_WORKLOAD_USERNS }).decision, CONTINUE,
    'the supervisor\'s user namespace');
  const f = decide(policy!, 'fsopen', [FSTYPE_AT, 0n]);
  assert.equal([f.decision, f.errno], [ERRNO, ENOSYS], 'fsopen of an allowed type: ENOSYS, mount(8) falls back to mount(2)');
  callerFstype = 'tmpfs';
  assert.is(decide(policy!, 'fsopen', [FSTYPE_AT, 0n]).decision, CONTINUE, 'fsopen of another type');
  const u = decide(policy!, 'umount2', [0x2000n, 0n]);
  assert.equal([u.decision, u.primitive], [EMULATE, PRIMITIVE_MOUNT]);
});

test('fuse: a type in the fuse map is emulated with its program as operand; fsopen of it is ENOSYS too', () => {
  const { policy } = configured('{"allowed": ["xfs"], "fuse": {"ext4": "fuse2fs", "ntfs": "ntfs-3g"}}');
  callerFstype = 'ext4';
  const [sys, args] = mount();
  const r = decide(policy!, sys, [...args]);
  assert.equal([r.decision, r.primitive, r.fstype, r.options, r.fuse], [EMULATE, PRIMITIVE_MOUNT, 'ext4', 0, 'fuse2fs']);
  callerFstype = 'ntfs';
  assert.is(decide(policy!, sys, [...args]).fuse, 'ntfs-3g');
  callerFstype = 'xfs';
  assert.is(decide(policy!, sys, [...args]).fuse, '');
  callerFstype = 'ext4';
  assert.is(decide(policy!, 'fsopen', [FSTYPE_AT, 0n]).errno, ENOSYS);
});

test.run();
