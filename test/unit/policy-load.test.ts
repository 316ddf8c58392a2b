// The policy loader: every refusal is one line naming the file and the reason, and no bytes, however
// hostile, make it throw anything but PolicyLoadError. Modules are assembled by hand here so that each
// one is wrong in exactly one way.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyLoadError } from '../../src/errors.js';
import { DEFAULT_FUEL, loadPolicy, validatePolicyBytes } from '../../src/policy/load.js';
import { checkReport } from '../../src/policy/check.js';
import { MalformedWasm, readWasmStructure } from '../../src/policy/wasm-binary.js';

// --- a minimal WebAssembly assembler -------------------------------------------------------------

const I32 = 0x7f, I64 = 0x7e;
type Bytes = number[];

function leb(n: number): Bytes {
  const out: Bytes = [];
  do { let b = n & 0x7f; n = Math.floor(n / 128); if (n > 0) b |= 0x80; out.push(b); } while (n > 0);
  return out;
}
const str = (s: string): Bytes => { const b = [...new TextEncoder().encode(s)]; return [...leb(b.length), ...b]; };
const vec = (items: Bytes[]): Bytes => [...leb(items.length), ...items.flat()];
const section = (id: number, body: Bytes): Bytes => [id, ...leb(body.length), ...body];

interface FuncSig { params: number[]; results: number[] }
interface ModuleSpec {
  imports?: { module: string; name: string; sig?: FuncSig; memory?: { min: number; max?: number } }[];
  /** Defined functions: signature; each body returns a constant of its result type (or nothing). */
  funcs?: FuncSig[];
  memory?: { min: number; max?: number; flags?: number } | null;
  exports?: { name: string; kind: 'func' | 'memory'; index: number }[];
  custom?: { name: string; payload: string | Uint8Array }[];
}

const ABI_IMPORT_SIGS: Record<string, FuncSig> = {
  read_memory: { params: [I64, I32, I32], results: [I32] },
  read_string: { params: [I64, I32, I32], results: [I32] },
  caller_creds: { params: [I32], results: [I32] },
  log: { params: [I32, I32, I32], results: [] },
  abort: { params: [I32, I32, I32, I32], results: [] },
};
const NULLARY_I32: FuncSig = { params: [], results: [I32] };
const GOOD_SECTION = JSON.stringify({
  abi: 1, name: 'handmade',
  interest: [{ syscall: 'mknod', when: [[{ arg: 1, op: 'masked_eq', mask: '0xf000', value: '0x2000' }]] }, { syscall: 'getppid' }],
});

function assemble(spec: ModuleSpec): Uint8Array {
  const types: FuncSig[] = [];
  const typeIndex = (sig: FuncSig) => {
    const key = JSON.stringify(sig);
    let i = types.findIndex((t) => JSON.stringify(t) === key);
    if (i < 0) { i = types.length; types.push(sig); }
    return i;
  };
  const importEntries = (spec.imports ?? []).map((imp) => imp.memory
    ? [...str(imp.module), ...str(imp.name), 2, ...(imp.memory.max === undefined ? [0, ...leb(imp.memory.min)] : [1, ...leb(imp.memory.min), ...leb(imp.memory.max)])]
    : [...str(imp.module), ...str(imp.name), 0, ...leb(typeIndex(imp.sig!))]);
  const funcs = spec.funcs ?? [];
  const funcEntries = funcs.map((f) => leb(typeIndex(f)));
  const bodies = funcs.map((f) => {
    const code = f.results[0] === I32 ? [0x41, 0x00] : f.results[0] === I64 ? [0x42, 0x00] : [];
    const body = [0x00, ...code, 0x0b];
    return [...leb(body.length), ...body];
  });
  const out: Bytes = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  out.push(...section(1, vec(types.map((t) => [0x60, ...vec(t.params.map((p) => [p])), ...vec(t.results.map((r) => [r]))]))));
  if (importEntries.length) out.push(...section(2, vec(importEntries)));
  if (funcEntries.length) out.push(...section(3, vec(funcEntries)));
  if (spec.memory) {
    const m = spec.memory;
    const flags = m.flags ?? (m.max === undefined ? 0 : 1);
    out.push(...section(5, vec([[flags, ...leb(m.min), ...(m.max === undefined ? [] : leb(m.max))]])));
  }
  if (spec.exports?.length) {
    out.push(...section(7, vec(spec.exports.map((e) => [...str(e.name), e.kind === 'func' ? 0 : 2, ...leb(e.index)]))));
  }
  if (bodies.length) out.push(...section(10, vec(bodies)));
  for (const c of spec.custom ?? []) {
    const payload = typeof c.payload === 'string' ? [...new TextEncoder().encode(c.payload)] : [...c.payload];
    out.push(...section(0, [...str(c.name), ...payload]));
  }
  return new Uint8Array(out);
}

/** A valid policy module: imports caller_creds and log, exports the ABI, declares GOOD_SECTION. */
function goodSpec(): ModuleSpec {
  return {
    imports: [
      { module: 'wasmsup', name: 'caller_creds', sig: ABI_IMPORT_SIGS.caller_creds },
      { module: 'wasmsup', name: 'log', sig: ABI_IMPORT_SIGS.log },
    ],
    funcs: [NULLARY_I32, NULLARY_I32],
    memory: { min: 1, max: 4 },
    exports: [
      { name: 'memory', kind: 'memory', index: 0 },
      { name: 'wasmsup_notification', kind: 'func', index: 2 },
      { name: 'wasmsup_decide', kind: 'func', index: 3 },
    ],
    custom: [{ name: 'wasmsup.policy', payload: GOOD_SECTION }],
  };
}

function refusal(bytes: Uint8Array, options = {}): string {
  try {
    validatePolicyBytes(bytes, 'p.wasm', options);
  } catch (e) {
    assert.instance(e, PolicyLoadError);
    const message = (e as PolicyLoadError).message;
    assert.not.match(message, /\n/, 'a refusal is one line');
    assert.is((e as PolicyLoadError).file, 'p.wasm');
    return message;
  }
  throw new assert.Assertion({ message: 'the module was accepted', generated: false, operator: 'refusal', expects: 'PolicyLoadError', actual: 'accepted' });
}

// --- tests -------------------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), 'wasmsup-policy-load-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('a valid hand-built module loads with everything the host needs', () => {
  const file = join(dir, 'good.wasm');
  const bytes = assemble(goodSpec());
  writeFileSync(file, bytes);
  const info = loadPolicy(file);
  assert.is(info.file, file);
  assert.is(info.name, 'handmade');
  assert.is(info.abi, 1);
  assert.equal(info.interest, [
    { syscall: 'mknod', when: [[{ arg: 1, op: 'masked_eq', mask: 0xf000n, value: 0x2000n }]] },
    { syscall: 'getppid' },
  ]);
  assert.equal(info.imports, [
    { module: 'wasmsup', name: 'caller_creds', kind: 'function' },
    { module: 'wasmsup', name: 'log', kind: 'function' },
  ]);
  assert.equal(info.exports, ['memory', 'wasmsup_notification', 'wasmsup_decide']);
  assert.equal(info.memory, { initialPages: 1, maximumPages: 4, imported: false });
  assert.is(info.bytes, bytes.length);
  assert.instance(info.module, WebAssembly.Module);
});

test('missing file', () => {
  const file = join(dir, 'nope.wasm');
  assert.throws(() => loadPolicy(file), (e: Error) => e instanceof PolicyLoadError
    && e.message === `${file}: cannot read policy: no such file (ENOENT)`);
  assert.throws(() => loadPolicy(dir), (e: Error) => e.message === `${dir}: cannot read policy: is a directory (EISDIR)`);
});

test('not a WebAssembly module', () => {
  assert.is(refusal(new TextEncoder().encode('#!/bin/sh\necho hi\n')), 'p.wasm: not a WebAssembly module (bad magic bytes)');
  assert.is(refusal(new Uint8Array([0, 0x61, 0x73])), 'p.wasm: not a WebAssembly module (3 bytes, too short)');
  assert.is(refusal(new Uint8Array([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0])), 'p.wasm: unsupported WebAssembly binary version 2');
});

test('truncated and corrupt sections are refused with the compiler\'s reason', () => {
  const good = assemble(goodSpec());
  const message = refusal(good.subarray(0, 20));
  assert.match(message, /^p\.wasm: not a valid WebAssembly module: .+/);
  const corrupt = Uint8Array.from(good);
  corrupt[9] = 0x7f; // the type section's size, now far past the end
  assert.match(refusal(corrupt), /^p\.wasm: not a valid WebAssembly module: /);
});

test('imports: only the ABI functions from "wasmsup", with the ABI signatures', () => {
  const withImport = (imp: NonNullable<ModuleSpec['imports']>[number]) => {
    const spec = goodSpec();
    spec.imports!.push(imp);
    spec.exports = spec.exports!.map((e) => (e.kind === 'func' ? { ...e, index: e.index + 1 } : e));
    return assemble(spec);
  };
  assert.is(refusal(withImport({ module: 'env', name: 'abort', sig: ABI_IMPORT_SIGS.abort })),
    'p.wasm: refused import "env"."abort": a policy may import only the wasmsup ABI functions (read_memory, read_string, caller_creds, fd_info, log, abort, config_read, config_refuse, identity, write_out)');
  assert.match(refusal(withImport({ module: 'wasi_snapshot_preview1', name: 'fd_write', sig: { params: [I32, I32, I32, I32], results: [I32] } })),
    /^p\.wasm: refused import "wasi_snapshot_preview1"\."fd_write": /);
  assert.match(refusal(withImport({ module: 'wasmsup', name: 'open_file', sig: NULLARY_I32 })),
    /^p\.wasm: refused import "wasmsup"\."open_file": /);
  assert.is(refusal(withImport({ module: 'wasmsup', name: 'read_memory', sig: { params: [I32, I32, I32], results: [I32] } })),
    'p.wasm: refused import "wasmsup"."read_memory": signature (i32, i32, i32) -> i32, the ABI says (i64, i32, i32) -> i32');
  assert.is(refusal(withImport({ module: 'wasmsup', name: 'log', sig: { params: [I32, I32], results: [] } })),
    'p.wasm: refused import "wasmsup"."log": signature (i32, i32) -> (), the ABI says (i32, i32, i32) -> ()');
});

test('an imported memory is refused', () => {
  const spec = goodSpec();
  spec.memory = null;
  spec.imports!.push({ module: 'env', name: 'memory', memory: { min: 1, max: 2 } });
  assert.match(refusal(assemble(spec)), /^p\.wasm: refused import "env"\."memory": /);
});

test('memory: a maximum is required, and at most the cap', () => {
  const withMemory = (memory: ModuleSpec['memory']) => { const spec = goodSpec(); spec.memory = memory; return assemble(spec); };
  assert.is(refusal(withMemory({ min: 1 })), 'p.wasm: memory has no maximum (build it with one, at most 256 pages = 16 MiB)');
  assert.is(refusal(withMemory({ min: 1, max: 257 })), 'p.wasm: memory maximum 257 pages (16.06 MiB) is above the cap of 256 pages (16 MiB)');
  assert.is(refusal(withMemory({ min: 1, max: 64 }), { maximumPages: 32 }), 'p.wasm: memory maximum 64 pages (4 MiB) is above the cap of 32 pages (2 MiB)');
  assert.is(validatePolicyBytes(withMemory({ min: 2, max: 512 }), 'p.wasm', { maximumPages: 512 }).memory.maximumPages, 512);
  assert.is(refusal(withMemory({ min: 1, max: 2, flags: 3 })), 'p.wasm: shared memory is not allowed');
  const noMemory = goodSpec();
  noMemory.memory = null;
  noMemory.exports = noMemory.exports!.filter((e) => e.kind !== 'memory');
  assert.is(refusal(assemble(noMemory)), 'p.wasm: the module has no memory');
});

test('exports: memory, wasmsup_notification and wasmsup_decide with the ABI types', () => {
  const withExports = (edit: (spec: ModuleSpec) => void) => { const spec = goodSpec(); edit(spec); return assemble(spec); };
  assert.is(refusal(withExports((s) => { s.exports = s.exports!.filter((e) => e.name !== 'wasmsup_decide'); })),
    'p.wasm: missing export "wasmsup_decide" () -> i32');
  assert.is(refusal(withExports((s) => { s.exports = s.exports!.filter((e) => e.name !== 'memory'); })),
    'p.wasm: missing export "memory"');
  assert.is(refusal(withExports((s) => { s.funcs![1] = { params: [], results: [I64] }; })),
    'p.wasm: export "wasmsup_decide" has signature () -> i64, the ABI says () -> i32');
  assert.is(refusal(withExports((s) => { s.funcs![0] = { params: [I32], results: [I32] }; })),
    'p.wasm: export "wasmsup_notification" has signature (i32) -> i32, the ABI says () -> i32');
  assert.is(refusal(withExports((s) => { s.exports!.find((e) => e.name === 'memory')!.name = 'mem'; s.exports!.push({ name: 'memory', kind: 'func', index: 2 }); })),
    'p.wasm: export "memory" is a function, not a memory');
});

test('the wasmsup.policy section: present once, JSON, abi 1, a good name, a valid interest', () => {
  const withSection = (...payloads: string[]) => {
    const spec = goodSpec();
    spec.custom = payloads.map((payload) => ({ name: 'wasmsup.policy', payload }));
    return assemble(spec);
  };
  const doc = (fields: object) => JSON.stringify({ abi: 1, name: 'x', interest: [{ syscall: 'getppid' }], ...fields });
  assert.is(refusal(withSection()), 'p.wasm: no "wasmsup.policy" section (build the policy with "wasmsup build")');
  assert.is(refusal(withSection(doc({}), doc({}))), 'p.wasm: 2 "wasmsup.policy" sections, expected one');
  assert.match(refusal(withSection('{"abi": 1, "name": ')), /^p\.wasm: "wasmsup\.policy" section is not valid JSON: /);
  assert.is(refusal(withSection('[1]')), 'p.wasm: "wasmsup.policy" section is not a JSON object');
  assert.is(refusal(withSection(doc({ abi: 2 }))), 'p.wasm: "wasmsup.policy": abi 2, this host speaks abi 1');
  assert.is(refusal(withSection(doc({ abi: undefined }))), 'p.wasm: "wasmsup.policy": abi missing, this host speaks abi 1');
  assert.is(refusal(withSection(doc({ name: 'Bad Name' }))), 'p.wasm: "wasmsup.policy": bad name "Bad Name" (must match [a-z0-9_.-]{1,64})');
  assert.is(refusal(withSection(doc({ name: 'x'.repeat(65) }))), `p.wasm: "wasmsup.policy": bad name "${'x'.repeat(65)}" (must match [a-z0-9_.-]{1,64})`);
  assert.is(refusal(withSection(doc({ extra: true }))), 'p.wasm: "wasmsup.policy": unknown field "extra"');
  assert.is(refusal(withSection(doc({ interest: undefined }))), 'p.wasm: "wasmsup.policy": missing "interest"');
  assert.match(refusal(withSection(doc({ interest: [{ syscall: 'no_such_call' }] }))),
    /^p\.wasm: "wasmsup\.policy": interest\[0\]\.syscall: unknown syscall "no_such_call"/);
  assert.match(refusal(withSection(doc({ interest: [{ syscall: 'mknod', when: [[{ arg: 1, op: 'eqq', value: '1' }]] }] }))),
    /^p\.wasm: "wasmsup\.policy": interest\[0\]\.when\[0\]\[0\]\.op: unknown operator "eqq"/);
  const spec = goodSpec();
  spec.custom = [{ name: 'wasmsup.policy', payload: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) }];
  assert.is(refusal(assemble(spec)), 'p.wasm: "wasmsup.policy" section is not UTF-8');
});

test('hostile bytes: mutations of a valid module only ever give PolicyLoadError', () => {
  const good = assemble(goodSpec());
  let seed = 12345;
  const random = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n; };
  for (let i = 0; i < 3000; i++) {
    let bytes: Uint8Array;
    switch (i % 3) {
      case 0: bytes = good.subarray(0, 8 + random(good.length - 8)); break;
      case 1: bytes = Uint8Array.from(good); for (let k = 0; k < 1 + random(4); k++) bytes[8 + random(good.length - 8)] = random(256); break;
      default: bytes = Uint8Array.from([...good.subarray(0, 8), ...Array.from({ length: random(64) }, () => random(256))]);
    }
    try {
      validatePolicyBytes(bytes, 'fuzz.wasm');
    } catch (e) {
      if (!(e instanceof PolicyLoadError)) throw new Error(`case ${i}: ${(e as Error).stack}`);
      assert.not.match(e.message, /\n/);
    }
  }
});

test('the binary reader alone (no compiler in front) reports malformed input as MalformedWasm', () => {
  const good = assemble(goodSpec());
  assert.is(readWasmStructure(good).exports.length, 3);
  let seed = 777;
  const random = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n; };
  let malformed = 0;
  for (let i = 0; i < 5000; i++) {
    const bytes = Uint8Array.from(good);
    for (let k = 0; k < 1 + random(3); k++) bytes[8 + random(good.length - 8)] = random(256);
    const cut = i % 2 ? bytes.subarray(0, 8 + random(bytes.length - 8)) : bytes;
    try { readWasmStructure(cut); } catch (e) {
      if (!(e instanceof MalformedWasm)) throw new Error(`case ${i}: ${(e as Error).stack}`);
      malformed++;
    }
  }
  assert.ok(malformed > 100, `only ${malformed} inputs were malformed: the mutations are too gentle to test anything`);
  // A LEB128 that does not end, a count larger than the section, a name running past the end.
  const isMalformed = (e: unknown) => e instanceof MalformedWasm;
  const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  assert.throws(() => readWasmStructure(new Uint8Array([...header, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01])), isMalformed);
  assert.throws(() => readWasmStructure(new Uint8Array([...header, 2, 2, 0xff, 0x01])), isMalformed);
  assert.throws(() => readWasmStructure(new Uint8Array([...header, 7, 3, 1, 0x7f, 0x41])), isMalformed);
});

test('checkReport: the interest in readable form, imports and memory; or the reason', () => {
  const file = join(dir, 'report.wasm');
  writeFileSync(file, assemble(goodSpec()));
  const report = checkReport(file);
  assert.ok(report.ok);
  assert.is(report.text, [
    `${file}: ok`,
    '  abi:      1',
    '  name:     handmade',
    '  interest: mknod when (arg1 & 0xf000) == 0x2000',
    '            getppid (every call)',
    '  imports:  wasmsup.caller_creds, wasmsup.log',
    '  exports:  memory, wasmsup_notification, wasmsup_decide',
    '  memory:   initial 1 page (64 KiB), maximum 4 pages (256 KiB)',
    `  limits:   memory cap 256 pages (16 MiB); fuel ${DEFAULT_FUEL} per decision, charged at 2 function entries and 0 loop headers`,
    `  size:     ${assemble(goodSpec()).length} bytes`,
  ].join('\n'));

  const spec = goodSpec();
  spec.imports!.push({ module: 'wasi_snapshot_preview1', name: 'fd_write', sig: { params: [I32, I32, I32, I32], results: [I32] } });
  spec.exports = spec.exports!.map((e) => (e.kind === 'func' ? { ...e, index: e.index + 1 } : e));
  const bad = join(dir, 'bad.wasm');
  writeFileSync(bad, assemble(spec));
  const refused = checkReport(bad);
  assert.not.ok(refused.ok);
  assert.match(refused.text, new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: refused: refused import "wasi_snapshot_preview1"\\."fd_write": `));
  assert.not.match(refused.text, /\n/);
});

test.run();
