// Fuel metering (src/policy/meter.ts): metered modules are still valid and decide exactly as before,
// the decoder finds loops behind every kind of immediate (a byte 0x03 inside an immediate is not a
// loop), fuel is refilled for each decision, and a policy that never finishes is stopped.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPolicy } from '../../src/policy/build.js';
import { DECIDE_EXPORT, FUEL_EXPORT, MeterError, meterModule } from '../../src/policy/meter.js';
import { instantiatePolicy, type HostContext } from '../../src/policy/instance.js';
import { validatePolicyBytes } from '../../src/policy/load.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'wasmsup-policy-meter-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const inert: HostContext = { readMemory: () => -1, readString: () => -1, callerCreds: () => -1, log: () => {} };

// --- a tiny assembler for hand-made modules ------------------------------------------------------
type Bytes = number[];
const leb = (n: number): Bytes => { const o: Bytes = []; do { let b = n & 0x7f; n = Math.floor(n / 128); if (n) b |= 0x80; o.push(b); } while (n); return o; };
const str = (s: string): Bytes => [...leb(s.length), ...new TextEncoder().encode(s)];
const vec = (items: Bytes[]): Bytes => [...leb(items.length), ...items.flat()];
const section = (id: number, body: Bytes): Bytes => [id, ...leb(body.length), ...body];
const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/**
 * `count(n: i32) -> i32`: loops n times and returns n, passing on the way through every kind of
 * immediate whose bytes include 0x03 (the loop opcode). With `globals`, the module imports one
 * global and defines one, so the fuel global's index must come after both.
 */
function countingModule(globals: boolean): Uint8Array {
  const body: Bytes = [
    ...vec([[1, 0x7f]]), // one i32 local: the counter
    0x41, 0x03, 0x1a, // i32.const 3; drop
    0x42, 0x83, 0x86, 0x8c, 0x18, 0x1a, // i64.const (multi-byte LEB with 0x03 bits); drop
    0x44, 3, 3, 3, 3, 3, 3, 3, 0x40, 0x1a, // f64.const with 0x03 bytes; drop
    0x41, 0x00, 0x41, 0x03, 0x41, 0x03, 0xfc, 0x0b, 0x00, // memory.fill(0, 3, 3)
    0x41, 0x03, 0x41, 0x00, 0x41, 0x03, 0xfc, 0x0a, 0x00, 0x00, // memory.copy(3, 0, 3)
    0x43, 0x00, 0x00, 0x40, 0x40, 0xfc, 0x00, 0x1a, // i32.trunc_sat_f32_s(3.0); drop
    0x41, 0x03, 0x28, 0x02, 0x03, 0x1a, // i32.load align=2 offset=3; drop
    0x02, 0x40, // block
    0x41, 0x03, 0x0e, 0x02, 0x00, 0x00, 0x00, // br_table 0 0 0 on 3
    0x0b, // end
    0x02, 0x40, // block
    0x03, 0x40, // loop
    0x20, 0x01, 0x20, 0x00, 0x4e, 0x0d, 0x01, // local.get 1; local.get 0; i32.ge_s; br_if 1
    0x20, 0x01, 0x41, 0x01, 0x6a, 0x21, 0x01, // local.get 1; i32.const 1; i32.add; local.set 1
    0x0c, 0x00, // br 0
    0x0b, 0x0b, // end loop, end block
    0x20, 0x01, // local.get 1
    ...(globals ? [0x23, 0x01, 0x6a] : []), // + global 1 (the defined one, 0)
    0x0b,
  ];
  const out: Bytes = [...HEADER];
  out.push(...section(1, vec([[0x60, ...vec([[0x7f]]), ...vec([[0x7f]])]])));
  if (globals) out.push(...section(2, vec([[...str('env'), ...str('g'), 3, 0x7f, 0x00]])));
  out.push(...section(3, vec([[0]])));
  out.push(...section(5, vec([[1, 1, 1]])));
  if (globals) out.push(...section(6, vec([[0x7f, 0x00, 0x41, 0x00, 0x0b]])));
  out.push(...section(0, [...str('note'), 1, 2, 3]));
  if (globals) out.push(...section(7, vec([[...str('count'), 0, 0]])));
  out.push(...section(10, vec([[...leb(body.length), ...body]])));
  return new Uint8Array(out);
}

function instantiate(bytes: Uint8Array): WebAssembly.Exports {
  const module = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  return new WebAssembly.Instance(module, { env: { g: new WebAssembly.Global({ value: 'i32' }, 0) } }).exports;
}

test('a hand-made module with every tricky immediate: valid, one loop found, same results, stops without fuel', () => {
  for (const globals of [false, true]) {
    const original = countingModule(globals);
    assert.ok(WebAssembly.validate(original as Uint8Array<ArrayBuffer>), 'the test module itself is valid');
    const metered = meterModule(original, 1000);
    assert.is(metered.loops, 1, 'exactly one loop: 0x03 bytes in immediates are not loops');
    assert.is(metered.functions, 1);
    assert.is(metered.decideExport, null, 'no wasmsup_decide, no refuelling entry point');
    assert.ok(WebAssembly.validate(metered.bytes as Uint8Array<ArrayBuffer>), `metered module valid (globals: ${globals})`);
    const module = new WebAssembly.Module(metered.bytes as Uint8Array<ArrayBuffer>);
    assert.equal(WebAssembly.Module.customSections(module, 'note').map((b) => [...new Uint8Array(b)]), [[1, 2, 3]]);
    const exports = instantiate(metered.bytes);
    const fuel = exports[FUEL_EXPORT] as WebAssembly.Global;
    assert.is(fuel.value, 1000, 'starts with the start fuel');
    if (!globals) continue; // without an export section only the fuel global is exported
    const count = exports.count as (n: number) => number;
    fuel.value = 1000;
    assert.is(count(990), 990, 'within the budget: the same result');
    // 1 function entry + one check per loop header pass (n + 1 of them): 990 left 8.
    assert.is(fuel.value, 1000 - 1 - 991);
    fuel.value = 1000;
    assert.throws(() => count(5000), /unreachable/);
    assert.is(fuel.value, 0, 'stopped exactly when the fuel ran out');
    fuel.value = 100_000;
    assert.is(count(5000), 5000, 'refuelled, it runs again');
  }
});

test('every built policy, metered: valid, the same imports and exports plus the fuel global, custom sections kept', () => {
  let checked = 0;
  for (const sub of ['policies', 'test-policies', 'bench']) {
    const d = join(root, 'build', sub);
    if (!existsSync(d)) continue;
    for (const name of readdirSync(d).filter((n) => n.endsWith('.wasm'))) {
      const bytes = readFileSync(join(d, name));
      const original = new WebAssembly.Module(bytes);
      const metered = meterModule(bytes, 5000);
      assert.ok(metered.loops + metered.functions > 0, name);
      const module = new WebAssembly.Module(metered.bytes as Uint8Array<ArrayBuffer>);
      assert.equal(WebAssembly.Module.imports(module), WebAssembly.Module.imports(original), `${name}: imports`);
      assert.equal(WebAssembly.Module.exports(module), [
        ...WebAssembly.Module.exports(original), { name: FUEL_EXPORT, kind: 'global' }, { name: DECIDE_EXPORT, kind: 'function' },
      ], `${name}: exports`);
      assert.is(metered.decideExport, DECIDE_EXPORT);
      assert.equal(
        WebAssembly.Module.customSections(module, 'wasmsup.policy').map((b) => Buffer.from(b).toString()),
        WebAssembly.Module.customSections(original, 'wasmsup.policy').map((b) => Buffer.from(b).toString()),
        `${name}: policy section`);
      checked++;
    }
  }
  assert.ok(checked >= 5, `only ${checked} built policies found: run the policy build first`);
});

test('a policy with loops, bulk memory and a switch decides identically metered and not', async () => {
  const src = join(dir, 'busy.ts');
  writeFileSync(src, `import { Notification, Sys, intercept, fail, returnValue, noOpinion, continueCall } from "wasmsup";
const BUF = memory.data(256);
export function interest(): void { intercept(Sys.getppid); }
export function decide(): i32 {
  const a = Notification.arg(0);
  const n = <i32>(a & 0xff);
  memory.fill(BUF, <u8>(a >> 8), 256);
  store<u8>(BUF + 7, <u8>(a >> 16));
  memory.copy(BUF + 128, BUF, <usize>(n & 127));
  let h: u64 = 0xcbf29ce484222325;
  for (let i = 0; i < n; i++) h = (h ^ <u64>load<u8>(BUF + 128 + (i & 127))) * 0x100000001b3;
  switch (<i32>(h & 7)) {
    case 0: return fail(1 + <i32>((h >> 3) & 15));
    case 1: return continueCall();
    case 2: return noOpinion();
    default: return returnValue(<i64>h);
  }
}
`);
  const built = await buildPolicy(src, join(dir, 'busy.wasm'));
  const bytes = readFileSync(join(dir, 'busy.wasm'));
  assert.ok(built.metering !== null);
  const plain = instantiatePolicy(validatePolicyBytes(bytes, 'busy.wasm', { meter: false }), inert);
  const metered = instantiatePolicy(validatePolicyBytes(bytes, 'busy.wasm'), inert);
  let seed = 12345;
  const kinds = new Set<number>();
  for (let i = 0; i < 500; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const arg = BigInt(seed) * 0x10001n;
    const outcomes = [plain, metered].map((p) => {
      new DataView(p.notification.buffer, p.notification.byteOffset).setBigUint64(16 + 16 + 0, arg, true);
      const kind = p.decide();
      const w = new Int32Array(p.notification.buffer, p.notification.byteOffset, 32);
      return [kind, w[22], w[23]];
    });
    assert.equal(outcomes[1], outcomes[0], `argument ${arg}`);
    kinds.add(outcomes[0]![0]!);
  }
  assert.ok(kinds.size >= 3, 'the inputs reach several decisions');
});

test('a policy that never finishes is stopped every time, and fuel is refilled for each decision', async () => {
  const looping = instantiatePolicy(validatePolicyBytes(readFileSync(join(root, 'build', 'test-policies', 'loop.wasm')), 'loop.wasm', { fuel: 100_000 }), inert);
  for (let i = 0; i < 3; i++) {
    assert.throws(() => looping.decide());
    assert.ok(looping.outOfFuel());
  }
  const src = join(dir, 'bounded.ts');
  writeFileSync(src, `import { Sys, intercept, noOpinion } from "wasmsup";
let total: u32 = 0;
export function interest(): void { intercept(Sys.getppid); }
export function decide(): i32 { for (let i = 0; i < 1000; i++) total += <u32>i; return total == 7 ? 1 : noOpinion(); }
`);
  await buildPolicy(src, join(dir, 'bounded.wasm'));
  const bounded = instantiatePolicy(validatePolicyBytes(readFileSync(join(dir, 'bounded.wasm')), 'bounded.wasm', { fuel: 5000 }), inert);
  // 20 decisions of ~1000 iterations each: 20 times the budget in all, but never 5000 in one.
  for (let i = 0; i < 20; i++) assert.is(bounded.decide(), 0);
  assert.not.ok(bounded.outOfFuel());
});

test('refusals: the reserved export name, an opcode the decoder does not know, a bad budget', () => {
  const withFuelExport = new Uint8Array([...HEADER,
    ...section(6, vec([[0x7f, 0x00, 0x41, 0x00, 0x0b]])),
    ...section(7, vec([[...str(FUEL_EXPORT), 3, 0]]))]);
  assert.throws(() => meterModule(withFuelExport, 100), (e: Error) => e instanceof MeterError && /reserves/.test(e.message));
  const gcOpcode = new Uint8Array([...HEADER,
    ...section(1, vec([[0x60, 0, 0]])), ...section(3, vec([[0]])),
    ...section(10, vec([[4, 0, 0xfb, 0x00, 0x0b]]))]);
  assert.throws(() => meterModule(gcOpcode, 100), (e: Error) => e instanceof MeterError && /opcode 0xfb at byte/.test(e.message));
  assert.throws(() => meterModule(countingModule(false), 0), (e: Error) => e instanceof MeterError);
  const truncated = countingModule(true).slice(0, -3);
  assert.throws(() => meterModule(truncated, 100), (e: Error) => e instanceof MeterError);
});

test.run();
