// The runtime side of the ABI (src/policy/instance.ts) and the SDK paths it serves: target memory
// reads with 64-bit addresses, bounds checks that trap, creds failures, logging, abort messages,
// decisions' value and primitive, and the notification view across memory growth.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPolicy } from '../../src/policy/build.js';
import { instantiatePolicy, type HostContext } from '../../src/policy/instance.js';
import type { PolicyInfo } from '../../src/policy/load.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'wasmsup-policy-instance-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function build(name: string, body: string): Promise<PolicyInfo> {
  const src = join(dir, `${name}.ts`);
  writeFileSync(src, `import {
  Creds, Errno, Notification, Sys, arg, bytesEqual, continueCall, emulate, fail, intercept, log, noOpinion,
  readBytes, readString, readU32, returnValue, Primitive,
} from "wasmsup";
export function interest(): void { intercept(Sys.openat); }
${body}
`);
  return buildPolicy(src, join(dir, `${name}.wasm`));
}

interface Recorded { reads: [number, number, number][]; logs: [number, string][] }
function fakeHost(overrides: Partial<HostContext> = {}): HostContext & Recorded {
  const reads: [number, number, number][] = [];
  const logs: [number, string][] = [];
  return {
    reads, logs,
    readMemory: (lo, hi, dst, len) => { reads.push([lo, hi, len]); dst.fill(0xab, 0, len); return len; },
    readString: (lo, hi, dst, cap) => {
      reads.push([lo, hi, cap]);
      const text = new TextEncoder().encode('/dev/null\0');
      if (text.length > cap) return -36;
      dst.set(text);
      return text.length - 1;
    },
    callerCreds: () => -3,
    log: (level, message) => { logs.push([level, message]); },
    ...overrides,
  };
}

function block(view: Uint8Array): DataView {
  return new DataView(view.buffer, view.byteOffset, 128);
}

test('target memory: 64-bit addresses reach the host as exact halves, data lands in the policy\'s buffer', async () => {
  const info = await build('paths', `
const PATH = memory.data(4096);
export function decide(): i32 {
  const n = readString(Notification.arg(1), PATH, 4096);
  if (n < 0) return fail(-n);
  return bytesEqual(PATH, n, "/dev/null") ? fail(Errno.ENOENT) : continueCall();
}`);
  const host = fakeHost();
  const policy = instantiatePolicy(info, host);
  block(policy.notification).setBigUint64(32 + 8, 0xfedcba98_76543210n, true);
  assert.is(policy.decide(), 2);
  assert.is(block(policy.notification).getBigInt64(88, true), 2n);
  assert.equal(host.reads, [[0x76543210, 0xfedcba98, 4096]]);

  const failing = instantiatePolicy(info, fakeHost({ readString: () => -14 }));
  assert.is(failing.decide(), 2);
  assert.is(block(failing.notification).getBigInt64(88, true), 14n, 'the -errno came through');
});

test('readU32 and the value/primitive of decisions', async () => {
  const info = await build('values', `
export function decide(): i32 {
  const which = Notification.arg(0);
  if (which == 0) return returnValue(readU32(Notification.arg(1)));
  if (which == 1) return returnValue(-5);
  if (which == 2) return emulate(Primitive.MKNOD);
  return noOpinion();
}`);
  const host = fakeHost();
  const policy = instantiatePolicy(info, host);
  const b = block(policy.notification);
  b.setBigUint64(32, 0n, true);
  b.setBigUint64(40, 0x1000n, true);
  assert.is(policy.decide(), 3);
  assert.is(b.getBigInt64(88, true), 0xababababn);
  assert.equal(host.reads, [[0x1000, 0, 4]]);
  b.setBigUint64(32, 1n, true);
  assert.is(policy.decide(), 3);
  assert.is(b.getBigInt64(88, true), -5n);
  b.setBigUint64(32, 2n, true);
  assert.is(policy.decide(), 4);
  assert.is(b.getInt32(96, true), 1);
  b.setBigUint64(32, 3n, true);
  assert.is(policy.decide(), 0);
});

test('a range outside the policy\'s memory traps instead of reaching the host', async () => {
  const info = await build('outside', `
export function decide(): i32 {
  return readBytes(0x1000, <usize>(memory.size() << 16) - 8, 64) >= 0 ? continueCall() : noOpinion();
}`);
  const host = fakeHost();
  const policy = instantiatePolicy(info, host);
  assert.throws(() => policy.decide(), /read_memory: range \d+\+64 is outside the policy's memory/);
  assert.equal(host.reads, []);
});

test('creds that cannot be read: Creds.load() says so, an accessor traps (fails closed)', async () => {
  const info = await build('creds', `
export function decide(): i32 {
  if (Notification.arg(0) == 0) return Creds.load() == -Errno.ESRCH ? fail(Errno.ESRCH) : continueCall();
  return Creds.uid == 0 ? continueCall() : noOpinion();
}`);
  const host = fakeHost();
  const policy = instantiatePolicy(info, host);
  assert.is(policy.decide(), 2);
  block(policy.notification).setBigUint64(32, 1n, true);
  assert.throws(() => policy.decide(), (e: Error) => e.message === 'abort: Creds: caller_creds failed (the caller is gone?)');
  assert.equal(host.logs, [[3, 'policy creds: abort: Creds: caller_creds failed (the caller is gone?)']]);
});

test('log: UTF-8 text and level reach the host', async () => {
  const info = await build('logging', `
export function decide(): i32 { log(2, "caf\\u00e9 \\u2713 \\ud83d\\ude00"); return noOpinion(); }`);
  const host = fakeHost();
  instantiatePolicy(info, host).decide();
  assert.equal(host.logs, [[2, 'café ✓ 😀']]);
});

test('abort: "abort: MSG at FILE:LINE:COL", logged and thrown', async () => {
  const info = await build('asserting', `
export function decide(): i32 { assert(Notification.arg(0) == 1, "arg0 must be 1"); return noOpinion(); }`);
  const host = fakeHost();
  const policy = instantiatePolicy(info, host);
  assert.throws(() => policy.decide(), (e: Error) => /^abort: arg0 must be 1 at .*asserting\.ts:\d+:\d+$/.test(e.message));
  assert.is(host.logs.length, 1);
  block(policy.notification).setBigUint64(32, 1n, true);
  assert.is(policy.decide(), 0, 'the instance goes on after a trap');
});

test('unreachable traps; a module whose start function traps does not instantiate', async () => {
  const unreachable = await build('unreachable', 'export function decide(): i32 { unreachable(); return 0; }');
  assert.throws(() => instantiatePolicy(unreachable, fakeHost()).decide(), /unreachable/);

  // Hand-assembled: the ABI exports plus a start function that is `unreachable` (wasmsup build would
  // refuse to build it, since it runs the start function too).
  const name = (t: string) => [t.length, ...new TextEncoder().encode(t)];
  const section = (id: number, body: number[]) => [id, body.length, ...body];
  const bytes = new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [2, 0x60, 0, 1, 0x7f, 0x60, 0, 0]),
    ...section(3, [3, 0, 0, 1]),
    ...section(5, [1, 1, 1, 1]),
    ...section(7, [3, ...name('memory'), 2, 0, ...name('wasmsup_notification'), 0, 0, ...name('wasmsup_decide'), 0, 1]),
    ...section(8, [2]),
    ...section(10, [3, 4, 0, 0x41, 0, 0x0b, 4, 0, 0x41, 1, 0x0b, 3, 0, 0x00, 0x0b]),
  ]);
  const info = { file: 'start.wasm', name: 'start', module: new WebAssembly.Module(bytes) } as PolicyInfo;
  assert.throws(() => instantiatePolicy(info, fakeHost()), (e: Error) => /^start\.wasm: policy start failed to start: .*unreachable/.test(e.message));
});

test('every SDK path used per call allocates nothing: 100,000 decisions, memory unchanged', async () => {
  for (const optimize of [true, false]) {
    const info = await buildPolicy(join(root, 'test', 'fixtures', 'policies', 'sdk-surface.ts'), join(dir, 'sdk-surface.wasm'), { optimize });
    const host = fakeHost({ callerCreds: (dst) => { dst.fill(1); return 0; } });
    const policy = instantiatePolicy(info, host);
    const bytes = policy.memory.buffer.byteLength;
    const b = block(policy.notification);
    const seen = new Set<number>();
    for (let i = 0; i < 100_000; i++) {
      b.setBigUint64(32, BigInt(i), true);
      b.setUint32(20, i % 2 ? 0xc000003e : 0x40000003, true);
      seen.add(policy.decide());
      if (i === 0) { host.logs.length = 0; host.reads.length = 0; }
    }
    assert.is(policy.memory.buffer.byteLength, bytes, `optimize: ${optimize}`);
    assert.equal([...seen].sort(), [0, 1, 2, 3, 4]);
    assert.is(host.logs.length, 5 * 99_999);
  }
});

test('write_out: the policy\'s bytes reach the host with the call\'s argument and offset, only while deciding', async () => {
  const src = join(dir, 'writer.ts');
  writeFileSync(src, `import { Sys, intercept, returnValue, writeOut, Json } from "wasmsup";
const BUF = memory.data<u8>([1, 2, 3, 4]);
export function interest(): void { intercept(Sys.uname); }
export function configure(config: Json | null): bool { return config === null || writeOut(0, 0, BUF, 4) == 0; }
export function decide(): i32 {
  const r = writeOut(0, 2, BUF + 1, 3);
  if (r != 0) return returnValue(r);
  writeOut(0, 0, 0xffff0000, 4);
  return returnValue(0);
}`);
  const info = await buildPolicy(src, join(dir, 'writer.wasm'));
  const staged: [number, number, number[]][] = [];
  let began = 0;
  const host = fakeHost({
    beginDecision: () => { began++; },
    writeOut: (arg, offset, memory, from, len) => { staged.push([arg, offset, [...memory.subarray(from, from + len)]]); return 0; },
  });
  const policy = instantiatePolicy(info, host);
  assert.throws(() => policy.decide(), /write_out: range 4294901760\+4 is outside the policy's memory/);
  assert.equal(staged, [[0, 2, [2, 3, 4]]]);
  assert.is(began, 1, 'each decision begins with an empty stage');
  const noWriter = instantiatePolicy(info, fakeHost());
  assert.is(noWriter.decide(), 3);
  assert.is(block(noWriter.notification).getBigInt64(88, true), -38n, 'a host without write_out answers -ENOSYS');
  assert.throws(() => instantiatePolicy({ ...info, configuration: new TextEncoder().encode('{}') }, host),
    /write_out called outside wasmsup_decide/);
});

test('the notification view is re-made when the policy\'s memory grows, at the same address', async () => {
  const info = await build('growing', `
let kept: ArrayBuffer | null = null;
export function decide(): i32 {
  kept = new ArrayBuffer(<i32>Notification.arg(0));
  return returnValue(<i64>Notification.pid);
}`);
  const policy = instantiatePolicy(info, fakeHost());
  const first = policy.notification;
  const address = first.byteOffset;
  const before = policy.memory.buffer.byteLength;
  block(first).setUint32(8, 77, true);
  block(first).setBigUint64(32, 200_000n, true);
  assert.is(policy.decide(), 3);
  assert.ok(policy.memory.buffer.byteLength > before, 'the memory grew');
  const second = policy.notification;
  assert.ok(second !== first);
  assert.is(first.byteLength, 0, 'the old view was detached by the growth');
  assert.is(second.byteOffset, address);
  assert.is(block(second).getBigInt64(88, true), 77n);
  assert.ok(policy.notification === second, 'stable while the memory does not grow');
});

test('growing past the memory maximum traps (fails closed) instead of taking more', async () => {
  const src = join(dir, 'hungry.ts');
  writeFileSync(src, `import { Sys, intercept, noOpinion } from "wasmsup";
let kept: ArrayBuffer[] = [];
export function interest(): void { intercept(Sys.getppid); }
export function decide(): i32 { kept.push(new ArrayBuffer(1 << 20)); return noOpinion(); }
`);
  const info = await buildPolicy(src, join(dir, 'hungry.wasm'), { maximumMemoryPages: 8 });
  const policy = instantiatePolicy(info, fakeHost());
  assert.throws(() => { for (let i = 0; i < 16; i++) policy.decide(); });
  assert.ok(policy.memory.buffer.byteLength <= 8 * 65536);
});

test.run();
