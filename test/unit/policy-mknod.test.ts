// policies/mknod.ts, LXD's allowlist, driven through the real ABI: notifications written into the
// policy's block as the data plane does, credentials from a fake host, the raw decision checked.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPolicy } from '../../src/policy/build.js';
import { instantiatePolicy, type HostContext, type PolicyInstance } from '../../src/policy/instance.js';
import type { PolicyInfo } from '../../src/policy/load.js';
import { portableId, syscallNumber, type ArchName } from '../../src/syscalls/tables.js';
import { CALLER_IN_SUPERVISOR_USERNS as IN_SUPERVISOR_USERNS, CALLER_IN_WORKLOAD_USERNS as IN_WORKLOAD_USERNS } from '../../src/layouts.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'wasmsup-policy-mknod-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

// The policy asks for AS_CALLER lending CAP_MKNOD (27) and replaces nothing (docs/policy-abi.md §4).
const CONTINUE = 1, EMULATE = 4, PRIMITIVE_AS_CALLER = 6, LEND_CAP_MKNOD = 1 << 27;
const S_IFCHR = 0o020000, S_IFBLK = 0o060000, S_IFIFO = 0o010000, S_IFREG = 0o100000;
const CAP_MKNOD = 27, CAP_CHOWN = 0;
const AUDIT_ARCH: Record<ArchName, number> = { x86_64: 0xc000003e, i386: 0x40000003, x32: 0xc000003e, aarch64: 0xc00000b7 };

/** The kernel's new_encode_dev. */
function makedev(major: number, minor: number): number {
  return ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

interface Caller { capEffective: bigint; flags: number; fail?: number }
const workloadRoot: Caller = { capEffective: 1n << BigInt(CAP_MKNOD) | 1n << BigInt(CAP_CHOWN), flags: IN_WORKLOAD_USERNS };

function fakeHost(caller: () => Caller): HostContext & { credsCalls: number } {
  const host = {
    credsCalls: 0,
    readMemory: () => -14,
    readString: () => -14,
    callerCreds(dst: Uint8Array): number {
      host.credsCalls++;
      const c = caller();
      if (c.fail) return -c.fail;
      const view = new DataView(dst.buffer, dst.byteOffset, 128);
      for (let i = 0; i < 16; i++) view.setUint32(i * 4, 100000, true); // host ids
      for (let i = 8; i < 16; i++) view.setUint32(i * 4, 0, true); // root inside its namespace
      view.setBigUint64(64, c.capEffective, true);
      view.setBigUint64(72, c.capEffective, true);
      view.setBigUint64(80, 0n, true);
      view.setUint32(88, 0o022, true);
      view.setUint32(92, c.flags, true);
      view.setUint32(96, 0, true);
      return 0;
    },
    log: () => {},
  };
  return host;
}

let info: PolicyInfo;
let caller: Caller = workloadRoot;
let host: ReturnType<typeof fakeHost>;
let policy: PolicyInstance;

test.before(async () => {
  info = await buildPolicy(join(root, 'policies', 'mknod.ts'), join(dir, 'mknod.wasm'));
  host = fakeHost(() => caller);
  policy = instantiatePolicy(info, host);
});

let nextId = 1n;
/** Writes a notification as the data plane does (bytes 0..84, zero up to 128) and asks the policy. */
function decide(arch: ArchName, syscall: 'mknod' | 'mknodat', mode: number, dev: number, who: Caller = workloadRoot): number {
  caller = who;
  const block = policy.notification;
  const view = new DataView(block.buffer, block.byteOffset, 128);
  block.fill(0);
  view.setBigUint64(0, nextId++, true);
  view.setUint32(8, 4242, true);
  view.setInt32(16, syscallNumber(arch, syscall)!, true);
  view.setUint32(20, AUDIT_ARCH[arch], true);
  view.setBigUint64(24, 0x401000n, true);
  const args = syscall === 'mknod' ? [0x7ffc0000n, BigInt(mode), BigInt(dev)] : [BigInt(-100 >>> 0), 0x7ffc0000n, BigInt(mode), BigInt(dev)];
  args.forEach((a, i) => view.setBigUint64(32 + 8 * i, a, true));
  view.setInt32(80, portableId(syscall), true);
  return policy.decide();
}

function primitive(): number {
  const block = policy.notification;
  return new DataView(block.buffer, block.byteOffset, 128).getInt32(96, true);
}

/** AS_CALLER's operands: lend lo, lend hi, replace mask, replacement block. */
function operands(): number[] {
  const view = new DataView(policy.notification.buffer, policy.notification.byteOffset, 128);
  return [100, 104, 108, 112].map((at) => view.getUint32(at, true));
}

test('interest: only character and block devices of mknod (mode = arg1) and mknodat (mode = arg2), never the whiteout c 0:0 (dev = arg2, arg3)', () => {
  assert.equal(info.interest, [
    { syscall: 'mknod', when: [[{ arg: 1, op: 'masked_eq', mask: 0xf000n, value: 0x2000n }, { arg: 2, op: 'ne', value: 0n }], [{ arg: 1, op: 'masked_eq', mask: 0xf000n, value: 0x6000n }]] },
    { syscall: 'mknodat', when: [[{ arg: 2, op: 'masked_eq', mask: 0xf000n, value: 0x2000n }, { arg: 3, op: 'ne', value: 0n }], [{ arg: 2, op: 'masked_eq', mask: 0xf000n, value: 0x6000n }]] },
  ]);
});

test('the allowed character devices are emulated for the workload\'s root', () => {
  for (const [major, minor] of [[1, 3], [1, 5], [1, 7], [1, 8], [1, 9], [5, 0], [5, 1], [5, 2]] as const) {
    for (const syscall of ['mknod', 'mknodat'] as const) {
      assert.is(decide('x86_64', syscall, S_IFCHR | 0o666, makedev(major, minor)), EMULATE, `${syscall} c ${major}:${minor}`);
      assert.is(primitive(), PRIMITIVE_AS_CALLER);
      assert.equal(operands(), [LEND_CAP_MKNOD, 0, 0, 0]);
    }
  }
});

test('anything else goes back to the kernel', () => {
  const refused: [number, number, number][] = [
    [S_IFCHR, 1, 4], [S_IFCHR, 1, 1], [S_IFCHR, 1, 2], [S_IFCHR, 5, 3], [S_IFCHR, 4, 0], [S_IFCHR, 10, 200],
    [S_IFCHR, 0, 1], [S_IFCHR, 0, 0], [S_IFCHR, 1, 3 + 256], [S_IFCHR, 1 + 4096, 3], [S_IFBLK, 8, 0], [S_IFBLK, 1, 3], [S_IFBLK, 0, 0],
    [S_IFIFO, 0, 0], [S_IFREG, 0, 0],
  ];
  for (const [type, major, minor] of refused) {
    for (const syscall of ['mknod', 'mknodat'] as const) {
      assert.is(decide('x86_64', syscall, type | 0o600, makedev(major, minor)), CONTINUE, `${syscall} ${type.toString(8)} ${major}:${minor}`);
    }
  }
});

test('the dev argument is decoded as the kernel does: the upper 32 bits of the register are not part of it', () => {
  assert.is(decide('x86_64', 'mknod', S_IFCHR | 0o666, makedev(1, 3)), EMULATE);
  // Minor 3 with large-minor bits set is 1:(3 | 0x100) = not allowed.
  assert.is(decide('x86_64', 'mknod', S_IFCHR | 0o666, makedev(1, 0x103)), CONTINUE);
});

test('who may: only a caller with CAP_MKNOD in the workload\'s user namespace', () => {
  const dev = makedev(1, 3), mode = S_IFCHR | 0o666;
  assert.is(decide('x86_64', 'mknod', mode, dev, { ...workloadRoot, capEffective: 1n << BigInt(CAP_CHOWN) }), CONTINUE, 'no CAP_MKNOD');
  assert.is(decide('x86_64', 'mknod', mode, dev, { ...workloadRoot, capEffective: 0n }), CONTINUE, 'no capabilities');
  assert.is(decide('x86_64', 'mknod', mode, dev, { ...workloadRoot, flags: 0 }), CONTINUE, 'a nested user namespace');
  assert.is(decide('x86_64', 'mknod', mode, dev, { ...workloadRoot, flags: IN_SUPERVISOR_USERNS }), CONTINUE, 'the supervisor\'s (initial) user namespace');
  assert.is(decide('x86_64', 'mknod', mode, dev, { ...workloadRoot, flags: IN_SUPERVISOR_USERNS | IN_WORKLOAD_USERNS }), CONTINUE,
    'a workload in the initial namespace: the kernel decides');
  assert.is(decide('x86_64', 'mknod', mode, dev, { ...workloadRoot, fail: 2 }), CONTINUE, 'creds unreadable (call gone)');
  assert.is(decide('x86_64', 'mknod', mode, dev, workloadRoot), EMULATE);
});

test('credentials are fetched for each notification, never reused from the previous one', () => {
  const dev = makedev(5, 2), mode = S_IFCHR | 0o620;
  assert.is(decide('x86_64', 'mknodat', mode, dev, workloadRoot), EMULATE);
  assert.is(decide('x86_64', 'mknodat', mode, dev, { ...workloadRoot, capEffective: 0n }), CONTINUE);
  assert.is(decide('x86_64', 'mknodat', mode, dev, workloadRoot), EMULATE);
  const before = host.credsCalls;
  decide('x86_64', 'mknod', S_IFCHR, makedev(1, 3));
  assert.is(host.credsCalls - before, 1, 'one caller_creds per decision, however many fields are read');
  decide('x86_64', 'mknod', S_IFCHR, makedev(7, 7));
  assert.is(host.credsCalls - before, 1, 'no caller_creds for a device that is refused anyway');
});

test('i386 callers: other syscall numbers, same portable ids and argument positions', () => {
  assert.is(syscallNumber('i386', 'mknod'), 14);
  assert.is(decide('i386', 'mknod', S_IFCHR | 0o666, makedev(1, 5)), EMULATE);
  assert.is(decide('i386', 'mknodat', S_IFCHR | 0o666, makedev(1, 9)), EMULATE);
  assert.is(decide('i386', 'mknodat', S_IFCHR | 0o666, makedev(1, 4)), CONTINUE);
  assert.is(decide('i386', 'mknodat', S_IFBLK | 0o666, makedev(1, 3)), CONTINUE);
  assert.is(decide('i386', 'mknod', S_IFCHR | 0o666, makedev(1, 3), { ...workloadRoot, flags: 0 }), CONTINUE);
  assert.is(decide('aarch64', 'mknodat', S_IFCHR | 0o666, makedev(5, 1)), EMULATE);
});

test('deciding allocates nothing: 100,000 decisions leave the policy\'s memory as it was', () => {
  const bytes = policy.memory.buffer.byteLength;
  const block = policy.notification;
  for (let i = 0; i < 100_000; i++) {
    const mode = i % 3 === 0 ? S_IFBLK : S_IFCHR;
    const kind = decide(i % 2 ? 'x86_64' : 'i386', i % 4 < 2 ? 'mknod' : 'mknodat', mode | 0o666, makedev(1, 3 + (i % 7)));
    assert.ok(kind === EMULATE || kind === CONTINUE);
  }
  assert.is(policy.memory.buffer.byteLength, bytes);
  assert.ok(policy.notification === block, 'the notification view is still the same object');
});

test.run();
