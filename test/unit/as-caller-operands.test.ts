// AS_CALLER's operands (src/dataplane/as-caller-operands.ts): read from a policy's notification block
// and memory, each checked; whatever is not acceptable fails the call closed (EPERM) with one log
// line. And --max-lend's parsing. What needs a caller is tested in test/kernel/as-caller.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  asCallerOperands, capabilityNames, DEFAULT_MAX_LEND, parseMaxLend, REPLACE_ARG0, REPLACE_PATH, REPLACE_PATH2,
} from '../../src/dataplane/as-caller-operands.js';
import { createPrimitives } from '../../src/dataplane/primitives.js';
import { Primitive } from '../../src/dataplane/protocol.js';
import { CALL_SHAPES, pointerArgs, replaceableArgs, type CallShape } from '../../src/emulate/as-caller-calls.js';
import { newAsCallerRequest } from '../../src/emulate/as-caller.js';
import type { LoadedPolicy } from '../../src/dataplane/policy-set.js';
import { CallerSnapshot } from '../../src/caller/snapshot.js';
import { Notif, PolicyBlock } from '../../src/layouts.js';
import { portableId } from '../../src/syscalls/tables.js';

const EPERM = 1;
const CAP_CHOWN = 0, CAP_MKNOD = 27, CAP_SYS_ADMIN = 21;
const shape = (name: string): CallShape => CALL_SHAPES.find((s) => s.name === name)!;

function setup() {
  const warnings: string[] = [];
  const memory = new WebAssembly.Memory({ initial: 1 });
  const blockWords = new Int32Array(PolicyBlock.WORDS);
  const policy = { name: 'p', blockWords, instance: { memory } } as unknown as LoadedPolicy;
  const bytes = new Uint8Array(memory.buffer);
  const view = new DataView(memory.buffer);
  const request = newAsCallerRequest();
  const decode = (name: string, maxLend = DEFAULT_MAX_LEND) => asCallerOperands(policy, shape(name), request, maxLend, (m) => warnings.push(m));
  /** A replacement block at 1024: path at 2048, path2 at 3072. */
  const block = (replace: number, path = '', path2 = '', args: bigint[] = []) => {
    blockWords[PolicyBlock.AS_CALLER_REPLACE] = replace;
    blockWords[PolicyBlock.AS_CALLER_BLOCK] = 1024;
    bytes.set(Buffer.from(path), 2048);
    bytes.set(Buffer.from(path2), 3072);
    view.setUint32(1024, 2048, true); view.setUint32(1028, path.length, true);
    view.setUint32(1032, 3072, true); view.setUint32(1036, path2.length, true);
    args.forEach((a, i) => view.setBigUint64(1040 + 8 * i, a, true));
  };
  return { warnings, blockWords, view, request, decode, block };
}

test('no operands: nothing lent, nothing replaced', () => {
  const { decode, warnings } = setup();
  const r = decode('mkdir');
  assert.ok(typeof r === 'object');
  assert.equal([r.lend, r.path, r.path2, r.argMask], [0, null, null, 0]);
  assert.equal(warnings, []);
});

test('lend: within --max-lend it is passed on; beyond it, or above capability 31, the call fails closed', () => {
  const { decode, blockWords, warnings } = setup();
  blockWords[PolicyBlock.AS_CALLER_LEND_LO] = 1 << CAP_MKNOD;
  assert.is((decode('mknod') as { lend: number }).lend, 1 << CAP_MKNOD);
  blockWords[PolicyBlock.AS_CALLER_LEND_LO] = (1 << CAP_MKNOD) | (1 << CAP_CHOWN);
  assert.is(decode('chown'), -EPERM);
  assert.is((decode('chown', (1 << CAP_MKNOD) | (1 << CAP_CHOWN)) as { lend: number }).lend, (1 << CAP_MKNOD) | (1 << CAP_CHOWN));
  blockWords[PolicyBlock.AS_CALLER_LEND_LO] = 0;
  blockWords[PolicyBlock.AS_CALLER_LEND_HI] = 1; // CAP_MAC_OVERRIDE (32)
  assert.is(decode('chown', 0xffffffff), -EPERM);
  assert.equal(warnings, [
    'policy p: AS_CALLER operands for chown refused: it lends chown beyond --max-lend (mknod); failing the call closed',
    'policy p: AS_CALLER operands for chown refused: capabilities 32..63 cannot be lent (high word 1); failing the call closed',
  ]);
});

test('a replaced path and integer argument are taken from the policy\'s memory', () => {
  const { decode, block } = setup();
  block(REPLACE_PATH | (REPLACE_ARG0 << 1), 'dir.sfx', '', [0n, 0o700n]);
  const r = decode('mkdir');
  assert.ok(typeof r === 'object');
  assert.is(Buffer.from(r.path!).toString(), 'dir.sfx');
  assert.is(r.path2, null);
  assert.is(r.argMask, 2);
  assert.is(r.args[2], 0o700);
  block(REPLACE_PATH | REPLACE_PATH2, 'old', 'new');
  const rn = decode('renameat2');
  assert.ok(typeof rn === 'object');
  assert.equal([Buffer.from(rn.path!).toString(), Buffer.from(rn.path2!).toString(), rn.argMask], ['old', 'new', 0]);
});

test('bad operands fail the call closed with one log line each', () => {
  const cases: [string, (s: ReturnType<typeof setup>) => void, string][] = [
    ['mkdir', (s) => { s.blockWords[PolicyBlock.AS_CALLER_RESERVED + 1] = 1; }, 'reserved bytes 116..128 are not zero'],
    ['mkdir', (s) => { s.blockWords[PolicyBlock.AS_CALLER_BLOCK] = 1024; }, 'a replacement block without anything replaced'],
    ['mkdir', (s) => { s.block(0x80); }, 'unknown replace bits 80'],
    ['mkdir', (s) => { s.block(REPLACE_PATH, 'x'); s.blockWords[PolicyBlock.AS_CALLER_BLOCK] = 65536 - 8; }, 'replacement block 65528 is not an 8-aligned block inside the policy\'s memory'],
    ['mkdir', (s) => { s.block(REPLACE_PATH, ''); }, 'path length 0 is not 1..4095'],
    ['mkdir', (s) => { s.block(REPLACE_PATH, 'a\0b'); }, 'path holds a NUL byte'],
    ['mkdir', (s) => { s.block(REPLACE_PATH, 'x'); s.view.setUint32(1024, 65535, true); s.view.setUint32(1028, 2, true); }, 'path 65535+2 is outside the policy\'s memory'],
    ['fchown', (s) => { s.block(REPLACE_PATH, 'x'); }, 'fchown has no path to replace'],
    ['mkdir', (s) => { s.block(REPLACE_PATH2, '', 'y'); }, 'mkdir has no second path to replace'],
    ['mkdir', (s) => { s.block(REPLACE_ARG0, '', '', [12345n]); }, 'argument 0 of mkdir is not a mode, dev, id or flags word (a pointer or fd is never replaced)'],
    ['mkdirat', (s) => { s.block(REPLACE_ARG0, '', '', [3n]); }, 'argument 0 of mkdirat is not a mode, dev, id or flags word (a pointer or fd is never replaced)'],
    ['setxattr', (s) => { s.block(REPLACE_ARG0 << 3, '', '', [0n, 0n, 0n, 1n]); }, 'argument 3 of setxattr is not a mode, dev, id or flags word (a pointer or fd is never replaced)'],
    ['chown', (s) => { s.block(REPLACE_ARG0 << 1, '', '', [0n, 0x1_0000_0000n]); }, 'argument 1: 100000000 does not fit the 32-bit argument'],
  ];
  for (const [call, arrange, why] of cases) {
    const s = setup();
    arrange(s);
    assert.is(s.decode(call), -EPERM, why);
    assert.equal(s.warnings, [`policy p: AS_CALLER operands for ${call} refused: ${why}; failing the call closed`]);
  }
});

test('pointer arguments are never replaceable; every covered call has its path where the kernel has it', () => {
  for (const s of CALL_SHAPES) {
    for (const p of pointerArgs(s)) assert.not.ok(replaceableArgs(s).includes(p), `${s.name} argument ${p}`);
    assert.ok(portableId(s.name) !== 0, s.name);
  }
  assert.equal(pointerArgs(shape('renameat2')), [1, 3]);
  assert.equal(replaceableArgs(shape('renameat2')), [4]);
  assert.equal(replaceableArgs(shape('fchownat')), [2, 3, 4]);
});

test('--max-lend: capability names (cap_ prefix and case ignored), none; an unknown name is a one-line error', () => {
  assert.is(parseMaxLend('mknod'), 1 << CAP_MKNOD);
  assert.is(parseMaxLend('CAP_CHOWN, fowner,mknod'), (1 << CAP_CHOWN) | (1 << 3) | (1 << CAP_MKNOD));
  assert.is(parseMaxLend('none'), 0);
  assert.is(parseMaxLend('sys_admin'), 1 << CAP_SYS_ADMIN);
  assert.is(capabilityNames(parseMaxLend('mknod,chown')), 'chown,mknod');
  assert.throws(() => parseMaxLend('mknod,bpf'), /"bpf" is not a capability a policy can lend/);
  assert.is(DEFAULT_MAX_LEND, 1 << CAP_MKNOD);
});

test('AS_CALLER through the primitives table: operands refused before anything else; no helper, EPERM said once', () => {
  const warnings: string[] = [];
  const table = createPrimitives({ helper: null, listenerFd: -1, warn: (m) => warnings.push(m), workload: null, maxLend: 0 });
  const notif = new Uint8Array(128);
  const words = new Uint32Array(notif.buffer);
  words[Notif.TID] = process.pid;
  const blockWords = new Int32Array(PolicyBlock.WORDS);
  const policy = { name: 'p', blockWords, instance: { memory: new WebAssembly.Memory({ initial: 1 }) } } as unknown as LoadedPolicy;
  const ctx = { notif, words, portable: portableId('mknod'), policy, caller: new CallerSnapshot() };
  blockWords[PolicyBlock.AS_CALLER_LEND_LO] = 1 << CAP_MKNOD;
  assert.is(table[Primitive.AS_CALLER]!.run(ctx), -EPERM); // --max-lend none
  blockWords[PolicyBlock.AS_CALLER_LEND_LO] = 0;
  assert.is(table[Primitive.AS_CALLER]!.run(ctx), -EPERM); // no helper
  // MKNOD lends CAP_MKNOD whatever --max-lend says, as it always could.
  assert.is(table[Primitive.MKNOD]!.run(ctx), -EPERM);
  assert.equal(warnings, [
    'policy p: AS_CALLER operands for mknod refused: it lends mknod beyond --max-lend (none); failing the call closed',
    'mknod as the caller needs a privileged supervisor (root in the initial user namespace); answering EPERM',
    'mknod as the caller needs a privileged supervisor (root in the initial user namespace); answering EPERM',
  ]);
});

test.run();
