// The primitives table (src/dataplane/primitives.ts) and what its emulators refuse before they touch a
// caller: which calls each applies to, the contract's -errno, OPEN's operands read from a policy's
// block and memory. Whatever needs a caller, a listener or root is tested end to end elsewhere.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createPrimitives, openOperands, type EmulationContext } from '../../src/dataplane/primitives.js';
import type { LoadedPolicy } from '../../src/dataplane/policy-set.js';
import { Primitive } from '../../src/dataplane/protocol.js';
import { CallerSnapshot } from '../../src/caller/snapshot.js';
import { ANSWERED } from '../../src/emulate/contract.js';
import type { OpenRequest } from '../../src/emulate/open.js';
import { Notif, PolicyBlock, argLo } from '../../src/layouts.js';
import { portableId } from '../../src/syscalls/tables.js';
import { CALL_SHAPES } from '../../src/emulate/as-caller-calls.js';

const E = { EPERM: 1, E2BIG: 7, EINVAL: 22, EROFS: 30 } as const;

function setup() {
  const warnings: string[] = [];
  const table = createPrimitives({ helper: null, listenerFd: -1, warn: (m) => warnings.push(m), workload: null });
  const notif = new Uint8Array(128);
  const words = new Uint32Array(notif.buffer);
  words[Notif.TID] = process.pid;
  const memory = new WebAssembly.Memory({ initial: 1 });
  const blockWords = new Int32Array(PolicyBlock.WORDS);
  const policy = { name: 'p', blockWords, instance: { memory } } as unknown as LoadedPolicy;
  const ctx: EmulationContext = { notif, words, portable: 0, policy, caller: new CallerSnapshot() };
  const run = (primitive: number, syscall: string) => { ctx.portable = portableId(syscall); return table[primitive]!.run(ctx); };
  return { table, warnings, words, memory, blockWords, policy, run, dispose: () => { for (const p of table) p?.dispose?.(); } };
}

test('each primitive applies to its own calls only', () => {
  const { table, dispose } = setup();
  const applies = Object.fromEntries(Object.entries(Primitive).map(([name, id]) => [name, [...table[id]!.syscalls]]));
  assert.equal(applies, {
    MKNOD: [portableId('mknod'), portableId('mknodat')],
    SETXATTR: ['setxattr', 'lsetxattr', 'fsetxattr', 'removexattr', 'lremovexattr', 'fremovexattr'].map(portableId),
    OPEN: [portableId('open'), portableId('openat'), portableId('openat2')],
    BPF: [portableId('bpf')],
    SYSINFO: [portableId('sysinfo')],
    AS_CALLER: CALL_SHAPES.map((s) => portableId(s.name)),
    MOUNT: [portableId('mount'), portableId('umount2'), portableId('umount')],
    SCHED: [portableId('sched_setscheduler'), portableId('sched_setparam'), portableId('sched_setattr')],
    PROC_VIEW: [portableId('open'), portableId('openat'), portableId('openat2')],
    GETXATTR: ['getxattr', 'lgetxattr', 'fgetxattr', 'listxattr', 'llistxattr', 'flistxattr'].map(portableId),
  });
  assert.is(table[0], undefined);
  assert.is(table[11], undefined);
  dispose();
});

test('without what they need, emulators answer -EPERM and say why', () => {
  const { run, warnings, dispose } = setup();
  assert.is(run(Primitive.MKNOD, 'mknodat'), -E.EPERM);
  assert.is(run(Primitive.SETXATTR, 'setxattr'), -E.EPERM);
  assert.is(run(Primitive.SYSINFO, 'sysinfo'), -E.EPERM);
  assert.equal(warnings, [
    'mknod emulation needs a privileged supervisor (root in the initial user namespace); answering EPERM',
    'setxattr emulation needs a privileged supervisor (root in the initial user namespace); answering EPERM',
    'sysinfo emulation: the workload was not recorded at start; answering EPERM',
  ]);
  dispose();
});

test('SYSINFO: its operand is read from the policy\'s block; bits the host does not know are refused', () => {
  const { run, warnings, blockWords, dispose } = setup();
  blockWords[PolicyBlock.SYSINFO_FROM_HOST] = 8;
  assert.is(run(Primitive.SYSINFO, 'sysinfo'), -E.EPERM);
  assert.equal(warnings, ['sysinfo emulation: unknown source bits 0x8 in the policy\'s operand; answering EPERM']);
  dispose();
});

test('GETXATTR: names outside the policy\'s memory, a bad length or non-zero reserved bytes fail closed with a reason', () => {
  const { run, warnings, blockWords, dispose } = setup();
  blockWords[PolicyBlock.GETXATTR_NAMES_PTR] = 65536 - 4;
  blockWords[PolicyBlock.GETXATTR_NAMES_LEN] = 22;
  assert.is(run(Primitive.GETXATTR, 'getxattr'), -E.EPERM);
  blockWords[PolicyBlock.GETXATTR_NAMES_PTR] = 0;
  blockWords[PolicyBlock.GETXATTR_NAMES_LEN] = 256;
  assert.is(run(Primitive.GETXATTR, 'listxattr'), -E.EPERM);
  blockWords[PolicyBlock.GETXATTR_NAMES_LEN] = 22;
  blockWords[PolicyBlock.GETXATTR_RESERVED] = 1;
  assert.is(run(Primitive.GETXATTR, 'fgetxattr'), -E.EPERM);
  assert.equal(warnings, [
    "policy p: GETXATTR operands refused: names 65532+22 are outside the policy's memory; failing the call closed",
    'policy p: GETXATTR operands refused: names length 256 is not 1..255; failing the call closed',
    'policy p: GETXATTR operands refused: reserved bytes 108..128 are not zero; failing the call closed',
  ]);
  dispose();
});

test('PROC_VIEW: an unknown view, non-zero reserved bytes, or no recorded workload fail closed with a reason', () => {
  const { run, warnings, blockWords, dispose } = setup();
  blockWords[PolicyBlock.PROC_VIEW_ID] = 99;
  assert.is(run(Primitive.PROC_VIEW, 'openat'), -E.EPERM);
  blockWords[PolicyBlock.PROC_VIEW_ID] = 1;
  blockWords[PolicyBlock.PROC_VIEW_RESERVED] = 1;
  assert.is(run(Primitive.PROC_VIEW, 'openat'), -E.EPERM);
  blockWords[PolicyBlock.PROC_VIEW_RESERVED] = 0;
  assert.is(run(Primitive.PROC_VIEW, 'openat'), -E.EPERM);
  assert.equal(warnings, [
    'proc-view emulation: unknown view 99 in the policy\'s operand; answering EPERM',
    'policy p: PROC_VIEW operands refused: reserved bytes 108..128 are not zero; failing the call closed',
    'proc-view emulation: the workload was not recorded at start; answering EPERM',
  ]);
  dispose();
});

test('bpf: an attr larger than a page is E2BIG, before anything is read', () => {
  const { run, words, dispose } = setup();
  words[argLo(0)] = 5; // BPF_PROG_LOAD
  words[argLo(2)] = 8192;
  assert.is(run(Primitive.BPF, 'bpf'), -E.E2BIG);
  dispose();
});

/** Writes OPEN operands into the block and `path` into the policy's memory at 1024. */
function openCall(s: ReturnType<typeof setup>, path: string, flags = 0, resolve = 0) {
  const bytes = new TextEncoder().encode(path);
  new Uint8Array(s.memory.buffer, 1024, bytes.length).set(bytes);
  s.blockWords.fill(0);
  s.blockWords[PolicyBlock.OPEN_PATH_PTR] = 1024;
  s.blockWords[PolicyBlock.OPEN_PATH_LEN] = bytes.length;
  s.blockWords[PolicyBlock.OPEN_FLAGS] = flags;
  s.blockWords[PolicyBlock.OPEN_RESOLVE] = resolve;
}

test('OPEN: operands are read from the policy\'s block, the path a view of its memory', () => {
  const s = setup();
  openCall(s, '/etc/hostname', 0o4000, 0x04);
  const request: OpenRequest = { path: new Uint8Array(0), flags: 0, resolve: 0, policyName: '' };
  const r = openOperands(s.policy, request, () => assert.unreachable('no warning'));
  assert.is(r, request);
  assert.equal([new TextDecoder().decode(request.path), request.flags, request.resolve, request.policyName], ['/etc/hostname', 0o4000, 0x04, 'p']);
  assert.is(request.path.buffer, s.memory.buffer, 'not a copy');
  s.dispose();
});

test('OPEN: malformed operands fail the call closed, naming the policy and the reason', () => {
  const s = setup();
  const refused = (why: RegExp, prepare: () => void) => {
    openCall(s, '/etc/hostname');
    prepare();
    s.warnings.length = 0;
    assert.is(s.run(Primitive.OPEN, 'openat'), -E.EPERM);
    assert.equal(s.warnings.length, 1);
    assert.match(s.warnings[0]!, /^policy p: OPEN operands refused: /);
    assert.match(s.warnings[0]!, why);
    assert.match(s.warnings[0]!, /; failing the call closed$/);
  };
  refused(/reserved bytes 116\.\.128 are not zero/, () => { s.blockWords[31] = 1; });
  refused(/path length 0 is not 1\.\.4095/, () => { s.blockWords[PolicyBlock.OPEN_PATH_LEN] = 0; });
  refused(/path length 4096 is not 1\.\.4095/, () => { s.blockWords[PolicyBlock.OPEN_PATH_LEN] = 4096; });
  refused(/is outside the policy's memory/, () => { s.blockWords[PolicyBlock.OPEN_PATH_PTR] = 65536 - 4; });
  refused(/resolve flags 0x2 beyond/, () => { s.blockWords[PolicyBlock.OPEN_RESOLVE] = 0x02; });
  refused(/the path is not absolute/, () => openCall(s, 'etc/hostname'));
  refused(/the path holds a NUL byte/, () => openCall(s, '/etc\0/hostname'));
  s.dispose();
});

test('OPEN: what the host never opens for a caller is refused as the kernel would refuse it', () => {
  const s = setup();
  for (const flags of [1, 2, 0o100, 0o1000, 0o2000, 0o20000000]) {
    openCall(s, '/etc/hostname', flags);
    assert.is(s.run(Primitive.OPEN, 'openat'), -E.EROFS, `flags 0o${flags.toString(8)}`);
  }
  openCall(s, '/etc/hostname', 0o10000000); // O_PATH
  assert.is(s.run(Primitive.OPEN, 'openat'), -E.EINVAL);
  assert.equal(s.warnings, []);
  s.dispose();
});

test('results follow one contract: ANSWERED is neither a value nor an errno', () => {
  assert.ok(ANSWERED < -4095, 'below every -errno');
});

test.run();
