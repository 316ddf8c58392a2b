// The out-buffer table (src/dataplane/out-buffers.ts) and the stage write_out fills
// (src/dataplane/out-writes.ts): which argument is an out-buffer and how big the call declares it, per
// arch; what is refused (-EINVAL, -ENOSPC) and that a refusal stages nothing; the handler writing only
// on RETURN. Writing into a real caller is tested in test/kernel/write-out.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NOT_OUT_BUFFER, OutBufferTable } from '../../src/dataplane/out-buffers.js';
import { MAX_OUT_BYTES, MAX_OUT_WRITES, OutWrites } from '../../src/dataplane/out-writes.js';
import { NotificationHandler } from '../../src/dataplane/handler.js';
import { Responder } from '../../src/dataplane/responder.js';
import { NO_POLICY, type LoadedPolicy, type PolicySet, type Verdict } from '../../src/dataplane/policy-set.js';
import { Decision } from '../../src/dataplane/protocol.js';
import { newStatsBuffer, Stat, StatsWriter } from '../../src/dataplane/stats.js';
import { CallerSnapshot } from '../../src/caller/snapshot.js';
import { Notif, argLo } from '../../src/layouts.js';
import { AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, portableId } from '../../src/syscalls/tables.js';
import { FakeListener } from '../support/fake-listener.js';

const E = { ENOENT: 2, EINVAL: 22, ENOSPC: 28 } as const;

function call(name: string, arch = AUDIT_ARCH_X86_64, args: number[] = []): { portable: number; words: Uint32Array } {
  const words = new Uint32Array(32);
  words[Notif.ARCH] = arch;
  args.forEach((v, i) => { words[argLo(i)] = v >>> 0; words[argLo(i) + 1] = v < 0 ? 0xffffffff : Math.floor(v / 2 ** 32); });
  return { portable: portableId(name), words };
}

test('declared sizes: fixed structs per arch, size arguments, nothing else', () => {
  const t = new OutBufferTable();
  const size = (name: string, arg: number, arch = AUDIT_ARCH_X86_64, args: number[] = []) => {
    const c = call(name, arch, args);
    return t.declaredSize(c.portable, c.words, arg);
  };
  assert.is(size('uname', 0), 390);
  assert.is(size('uname', 0, AUDIT_ARCH_I386), 390);
  assert.is(size('sysinfo', 0), 112);
  assert.is(size('sysinfo', 0, AUDIT_ARCH_I386), 64);
  assert.is(size('statx', 4), 256);
  assert.is(size('getxattr', 2, AUDIT_ARCH_X86_64, [0, 0, 0, 300]), 300);
  assert.is(size('fgetxattr', 2, AUDIT_ARCH_X86_64, [3, 0, 0, 0]), 0, 'a size query declares nothing');
  assert.is(size('listxattr', 1, AUDIT_ARCH_X86_64, [0, 0, 77]), 77);
  assert.is(size('getcwd', 0, AUDIT_ARCH_X86_64, [0, 4096]), 4096);
  assert.is(size('getrandom', 0, AUDIT_ARCH_X86_64, [0, 2 ** 40]), 2 ** 32, 'a 64-bit size is capped, not wrapped');
  assert.is(size('readlink', 1, AUDIT_ARCH_X86_64, [0, 0, 100]), 100);
  assert.is(size('readlinkat', 2, AUDIT_ARCH_X86_64, [0, 0, 0, -1]), 0, 'readlink\'s bufsiz is an int: negative declares nothing');
  // Inputs, other arguments, calls without an out-buffer.
  assert.is(size('getxattr', 0, AUDIT_ARCH_X86_64, [0, 0, 0, 300]), NOT_OUT_BUFFER);
  assert.is(size('getxattr', 1, AUDIT_ARCH_X86_64, [0, 0, 0, 300]), NOT_OUT_BUFFER);
  assert.is(size('getxattr', 3, AUDIT_ARCH_X86_64, [0, 0, 0, 300]), NOT_OUT_BUFFER);
  assert.is(size('uname', 1), NOT_OUT_BUFFER);
  assert.is(size('setxattr', 2), NOT_OUT_BUFFER);
  assert.is(size('getppid', 0), NOT_OUT_BUFFER);
  assert.ok(OutBufferTable.names().includes('getrandom'));
});

test('staging: bounds are the declared size, a refusal stages nothing, the stage is bounded', () => {
  const w = new OutWrites(new OutBufferTable());
  const memory = new Uint8Array(MAX_OUT_BYTES + 16).fill(7);
  const { portable, words } = call('getxattr', AUDIT_ARCH_X86_64, [0, 0, 0x1000, 16]);
  assert.is(w.stage(portable, words, 2, 0, memory, 0, 17), -E.EINVAL);
  assert.is(w.stage(portable, words, 2, 16, memory, 0, 1), -E.EINVAL);
  assert.is(w.stage(portable, words, 2, -1, memory, 0, 1), -E.EINVAL);
  assert.is(w.stage(portable, words, 2, 2 ** 31 - 1, memory, 0, 2 ** 31 - 1), -E.EINVAL, 'no 32-bit wrap');
  assert.is(w.stage(portable, words, 1, 0, memory, 0, 1), -E.EINVAL);
  assert.is(w.stage(portable, words, 6, 0, memory, 0, 1), -E.EINVAL);
  assert.is(w.count, 0);
  assert.is(w.stage(portable, words, 2, 15, memory, 0, 1), 0);
  assert.is(w.stage(portable, words, 2, 0, memory, 0, 0), 0, 'an empty write is accepted and not staged');
  assert.is(w.count, 1);
  for (let i = 1; i < MAX_OUT_WRITES; i++) assert.is(w.stage(portable, words, 2, i, memory, 0, 1), 0);
  assert.is(w.stage(portable, words, 2, 0, memory, 0, 1), -E.ENOSPC);
  assert.is(w.count, MAX_OUT_WRITES);
  w.clear();
  assert.is(w.count, 0);
  const big = call('getrandom', AUDIT_ARCH_X86_64, [0x1000, MAX_OUT_BYTES * 2]);
  assert.is(w.stage(big.portable, big.words, 0, 0, memory, 0, MAX_OUT_BYTES), 0);
  assert.is(w.stage(big.portable, big.words, 0, MAX_OUT_BYTES, memory, 0, 1), -E.ENOSPC, `at most ${MAX_OUT_BYTES} bytes per decision`);
});

test('the handler writes only on RETURN, checks ID_VALID first, and never for a gone caller', () => {
  const listener = new FakeListener();
  const notif = new Uint8Array(128);
  const words = new Uint32Array(notif.buffer);
  const buffer = newStatsBuffer();
  const stats = new Int32Array(buffer);
  const responder = new Responder(listener, words, stats, () => {});
  const outWrites = new OutWrites(new OutBufferTable());
  const policy = { name: 'p', slot: 0, lastLogMs: -Infinity, suppressedLogs: 0 } as LoadedPolicy;
  let next: Verdict = { kind: NO_POLICY, policy: null, valueLo: 0, valueHi: 0, primitive: 0, reason: '', trapped: false, outOfFuel: false, skippedNow: false };
  const memory = new Uint8Array(16).fill(1);
  const policySet = {
    ask: () => {
      // The policy stages a write, as write_out would, then decides.
      const { portable } = call('uname');
      outWrites.stage(portable, words, 0, 0, memory, 0, 16);
      return next;
    },
  } as unknown as PolicySet;
  const handler = new NotificationHandler({
    notif, words, listener, responder, policySet, primitives: [], caller: new CallerSnapshot(), stats, statsWriter: new StatsWriter(buffer),
    audit: null, failErrno: 1, defaultAction: 'continue', workload: null, warn: () => {}, outWrites,
  });
  const serve = (id: number, v: Partial<Verdict>) => {
    next = { ...next, ...v, policy };
    words.fill(0);
    words[Notif.ID_LO] = id;
    words[Notif.TID] = process.pid;
    words[Notif.NR] = 63; // uname on x86_64
    words[Notif.ARCH] = AUDIT_ARCH_X86_64;
    handler.serveReceived();
  };
  // ERRNO and CONTINUE: the stage is dropped, nothing is written (a write to address 0 would be EFAULT).
  serve(1, { kind: Decision.ERRNO, valueLo: 13 });
  serve(2, { kind: Decision.CONTINUE });
  // RETURN for a caller that is gone: ENOENT, and the write is never tried.
  listener.valid = false;
  serve(3, { kind: Decision.RETURN, valueLo: 0 });
  assert.equal(listener.sent.map((r) => [r.id, r.error]), [[1, -13], [2, 0], [3, -E.ENOENT]]);
  assert.is(outWrites.count, 0, 'the stage is empty once answered');
  assert.is(stats[Stat.returned], 0);
});

test.run();
