// Fuel metering, injected into a policy module once at load. V8 cannot interrupt running wasm short of
// terminating its whole thread (the data plane), so a policy is made to stop itself: a mutable i32
// global, exported as FUEL_EXPORT, is checked and decremented at every function entry and every loop
// header; the host sets it before each decision, and when it reaches zero the next check executes
// `unreachable`. Code without loops or calls runs straight through and is bounded by its size, so
// these two places bound the running time of any decision.
//
// The rewrite adds one global and one export and re-encodes the code section; function, type,
// global and memory indices are unchanged, so everything else (custom sections included) is copied
// as is. Every instruction is decoded to find the loops, since an immediate byte can equal the loop
// opcode; an opcode this decoder does not know refuses the module rather than guessing its length.
import { MalformedWasm, Reader } from './wasm-binary.js';

export const FUEL_EXPORT = 'wasmsup_fuel';
/** The refuelling entry point the host calls instead of wasmsup_decide. */
export const DECIDE_EXPORT = 'wasmsup_metered_decide';

export interface MeteredModule {
  bytes: Uint8Array;
  /** Loop headers and function entries that charge fuel. */
  loops: number;
  functions: number;
  /** DECIDE_EXPORT when the module exports wasmsup_decide (and got the refuelling entry point). */
  decideExport: string | null;
}

export class MeterError extends Error {}

// Rank of each non-custom section in the module's required order (data count, 12, before code, 10;
// tag, 13, between memory, 5, and global, 6).
const RANK: Record<number, number> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 5.5, 6: 6, 7: 7, 8: 8, 9: 9, 12: 9.5, 10: 10, 11: 11 };
const TYPE_SECTION = 1, IMPORT_SECTION = 2, FUNCTION_SECTION = 3, GLOBAL_SECTION = 6, EXPORT_SECTION = 7, CODE_SECTION = 10;
const MAX_FUEL = 0x7fffffff;

interface Section { id: number; start: number; end: number }

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

function sleb32(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) { out.push(byte); return out; }
    out.push(byte | 0x80);
  }
}

function concat(parts: (Uint8Array | number[])[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function str(text: string): number[] {
  const b = [...new TextEncoder().encode(text)];
  return [...uleb(b.length), ...b];
}

function sectionBytes(id: number, content: Uint8Array | number[]): Uint8Array {
  return concat([[id], uleb(content.length), content]);
}

/**
 * The check charged at a function entry or loop header:
 *   global.get $fuel; i32.eqz; if; unreachable; end; global.get $fuel; i32.const 1; i32.sub; global.set $fuel
 * Check before decrement, so the global reads 0 exactly when the policy was stopped for lack of fuel.
 */
function fuelCheck(global: number): number[] {
  const g = uleb(global);
  return [0x23, ...g, 0x45, 0x04, 0x40, 0x00, 0x0b, 0x23, ...g, 0x41, 0x01, 0x6b, 0x24, ...g];
}

/**
 * Rewrites `bytes` (an already validated module) with fuel metering. `fuel` is both the global's
 * initial value (bounding start code) and what the refuelling entry point (DECIDE_EXPORT, added when
 * the module exports `wasmsup_decide`) puts in before calling it: refuelling inside wasm costs a
 * constant store, where setting the exported global from JavaScript costs about 30 ns per decision.
 */
export function meterModule(bytes: Uint8Array, fuel: number): MeteredModule {
  if (!Number.isInteger(fuel) || fuel < 1 || fuel > MAX_FUEL) {
    throw new MeterError(`fuel ${fuel} is not in 1..${MAX_FUEL}`);
  }
  try {
    return rewrite(bytes, fuel);
  } catch (e) {
    if (e instanceof MalformedWasm) throw new MeterError(`cannot meter the module: ${e.message}`);
    throw e;
  }
}

/** A section's content: its element count and the bytes of the elements after the count. */
function entries(bytes: Uint8Array, section: Section | undefined, what: string): { count: number; rest: Uint8Array; reader: Reader | null } {
  if (!section) return { count: 0, rest: new Uint8Array(0), reader: null };
  const r = new Reader(bytes, section.start, section.end);
  const count = r.count(what);
  return { count, rest: bytes.subarray(r.pos, section.end), reader: r };
}

function rewrite(bytes: Uint8Array, fuel: number): MeteredModule {
  const sections: Section[] = [];
  const top = new Reader(bytes, 8, bytes.length);
  while (!top.done) {
    const id = top.u8('section id');
    const size = top.u32('section size');
    const start = top.pos;
    top.skip(size, `section ${id}`);
    sections.push({ id, start, end: start + size });
  }
  const find = (id: number) => sections.find((s) => s.id === id);
  const imported = countImports(bytes, find(IMPORT_SECTION));
  const replaced = new Map<number, Uint8Array>();

  // The fuel global, appended (indices of existing globals are unchanged).
  const globals = entries(bytes, find(GLOBAL_SECTION), 'global');
  const fuelGlobal = imported.globals + globals.count;
  replaced.set(GLOBAL_SECTION, sectionBytes(GLOBAL_SECTION, concat([
    uleb(globals.count + 1), globals.rest, [0x7f, 0x01, 0x41, ...sleb32(fuel), 0x0b],
  ])));

  const exports = entries(bytes, find(EXPORT_SECTION), 'export');
  let decideIndex = -1;
  for (let i = 0; i < exports.count; i++) {
    const name = exports.reader!.name('export name');
    if (name === FUEL_EXPORT || name === DECIDE_EXPORT) throw new MeterError(`the module exports "${name}", a name the host reserves`);
    const kind = exports.reader!.u8('export kind');
    const index = exports.reader!.u32('export index');
    if (name === 'wasmsup_decide' && kind === 0) decideIndex = index;
  }

  const types = entries(bytes, find(TYPE_SECTION), 'type');
  const functions = entries(bytes, find(FUNCTION_SECTION), 'function');
  // The wrapper below calls wasmsup_decide with no arguments and returns its i32: only valid when that
  // is its type. The loader refuses any other signature anyway; a module V8 accepts must not come
  // out of here invalid.
  if (decideIndex >= 0 && !isDecideType(bytes, find(TYPE_SECTION), find(FUNCTION_SECTION), decideIndex - imported.functions)) {
    throw new MeterError('wasmsup_decide is not a function of this module of type () -> i32');
  }
  const code = entries(bytes, find(CODE_SECTION), 'function body');
  const check = fuelCheck(fuelGlobal);
  let loops = 0;
  const bodies: (Uint8Array | number[])[] = [];
  for (let i = 0; i < code.count; i++) {
    const r = code.reader!;
    const size = r.u32('function body size');
    const bodyStart = r.pos;
    r.skip(size, 'function body');
    const metered = meterBody(bytes, bodyStart, bodyStart + size, check);
    loops += metered.loops;
    bodies.push(uleb(metered.body.length), metered.body);
  }
  if (code.reader && !code.reader.done) throw new MalformedWasm(`code section has bytes left over at byte ${code.reader.pos}`);

  const newExports: (Uint8Array | number[])[] = [exports.rest, str(FUEL_EXPORT), [0x03], uleb(fuelGlobal)];
  let exportCount = exports.count + 1;
  let functionCount = functions.count, typeCount = types.count;
  const functionEntries: (Uint8Array | number[])[] = [functions.rest];
  const typeEntries: (Uint8Array | number[])[] = [types.rest];
  if (decideIndex >= 0) {
    // DECIDE_EXPORT: () -> i32 { fuel = FUEL; return wasmsup_decide() }, a new type, function and
    // export appended after the existing ones, so no index changes. It is not metered itself.
    typeEntries.push([0x60, 0x00, 0x01, 0x7f]);
    functionEntries.push(uleb(typeCount));
    const body = [0x00, 0x41, ...sleb32(fuel), 0x24, ...uleb(fuelGlobal), 0x10, ...uleb(decideIndex), 0x0b];
    bodies.push(uleb(body.length), body);
    newExports.push(str(DECIDE_EXPORT), [0x00], uleb(imported.functions + functionCount));
    typeCount++; functionCount++; exportCount++;
  }
  replaced.set(EXPORT_SECTION, sectionBytes(EXPORT_SECTION, concat([uleb(exportCount), ...newExports])));
  replaced.set(TYPE_SECTION, sectionBytes(TYPE_SECTION, concat([uleb(typeCount), ...typeEntries])));
  replaced.set(FUNCTION_SECTION, sectionBytes(FUNCTION_SECTION, concat([uleb(functionCount), ...functionEntries])));
  replaced.set(CODE_SECTION, sectionBytes(CODE_SECTION, concat([uleb(functionCount), ...bodies])));

  // Reassemble: the replaced sections in place, those the module lacked inserted where the order
  // requires; everything else, custom sections included, copied.
  const out: (Uint8Array | number[])[] = [bytes.subarray(0, 8)];
  const emitMissingBefore = (rank: number) => {
    for (const [id, content] of [...replaced].sort((a, b) => RANK[a[0]]! - RANK[b[0]]!)) {
      if (RANK[id]! < rank && !find(id)) { out.push(content); replaced.delete(id); }
    }
  };
  let headerStart = 8;
  for (const s of sections) {
    const original = bytes.subarray(headerStart, s.end);
    headerStart = s.end;
    if (s.id !== 0) emitMissingBefore(RANK[s.id] ?? Infinity);
    const content = replaced.get(s.id);
    if (s.id !== 0 && content) { out.push(content); replaced.delete(s.id); }
    else out.push(original);
  }
  emitMissingBefore(Infinity);
  return { bytes: concat(out), loops, functions: code.count, decideExport: decideIndex >= 0 ? DECIDE_EXPORT : null };
}

/** Whether local function `local` (index among the module's own functions) has type () -> i32. */
function isDecideType(bytes: Uint8Array, typeSection: Section | undefined, functionSection: Section | undefined, local: number): boolean {
  if (local < 0 || !typeSection || !functionSection) return false;
  const fr = new Reader(bytes, functionSection.start, functionSection.end);
  if (local >= fr.count('function')) return false;
  for (let i = 0; i < local; i++) fr.u32('function type index');
  const typeIndex = fr.u32('function type index');
  const tr = new Reader(bytes, typeSection.start, typeSection.end);
  const typeCount = tr.count('type');
  if (typeIndex >= typeCount) return false;
  for (let i = 0; ; i++) {
    if (tr.u8('type form') !== 0x60) return false;
    const params = tr.count('parameters');
    const paramTypes: number[] = [];
    for (let p = 0; p < params; p++) paramTypes.push(tr.u8('parameter type'));
    const results = tr.count('results');
    const resultTypes: number[] = [];
    for (let r = 0; r < results; r++) resultTypes.push(tr.u8('result type'));
    if (i === typeIndex) return params === 0 && results === 1 && resultTypes[0] === 0x7f;
  }
}

function countImports(bytes: Uint8Array, section: Section | undefined): { functions: number; globals: number } {
  const counts = { functions: 0, globals: 0 };
  if (!section) return counts;
  const r = new Reader(bytes, section.start, section.end);
  const n = r.count('import');
  for (let i = 0; i < n; i++) {
    r.name('import module name');
    r.name('import name');
    const kind = r.u8('import kind');
    switch (kind) {
      case 0: r.u32('import type index'); counts.functions++; break;
      case 1: r.tableType(); break;
      case 2: r.limits('memory limits'); break;
      case 3: r.valType('global type'); r.u8('global mutability'); counts.globals++; break;
      case 4: r.u8('tag attribute'); r.u32('tag type index'); break;
      default: throw new MalformedWasm(`unknown import kind ${kind} at byte ${r.pos - 1}`);
    }
  }
  return counts;
}

/** One function body with the check after its locals and after every loop's block type. */
function meterBody(bytes: Uint8Array, start: number, end: number, check: number[]): { body: Uint8Array; loops: number } {
  const r = new Reader(bytes, start, end);
  const groups = r.count('local group');
  for (let i = 0; i < groups; i++) { r.u32('local count'); r.valType('local type'); }
  const insertAt: number[] = [r.pos];
  let loops = 0;
  while (!r.done) {
    const at = r.pos;
    const op = r.u8('opcode');
    if (op === 0x03) { blockType(r); insertAt.push(r.pos); loops++; continue; }
    skipImmediates(r, op, at);
  }
  const parts: (Uint8Array | number[])[] = [];
  let from = start;
  for (const at of insertAt) { parts.push(bytes.subarray(from, at), check); from = at; }
  parts.push(bytes.subarray(from, end));
  return { body: concat(parts), loops };
}

function blockType(r: Reader): void {
  const first = r.u8('block type');
  if (first === 0x63 || first === 0x64) { r.s33('heap type'); return; }
  if ((first & 0x80) === 0) return; // 0x40, a value type, or a one-byte type index
  for (let i = 1; i < 5; i++) if ((r.u8('block type') & 0x80) === 0) return;
  throw new MalformedWasm(`block type longer than 5 bytes at byte ${r.pos}`);
}

function memarg(r: Reader): void {
  const align = r.u32('memarg alignment');
  if (align & 0x40) r.u32('memarg memory index'); // multi-memory
  r.u64('memarg offset');
}

function unknown(r: Reader, at: number, what: string): never {
  throw new MeterError(`cannot meter the module: ${what} at byte ${at} is not supported`);
}

function skipImmediates(r: Reader, op: number, at: number): void {
  if (op >= 0x45 && op <= 0xc4) return; // numeric instructions: no immediates
  if (op >= 0x28 && op <= 0x3e) return memarg(r);
  if (op >= 0x20 && op <= 0x26) { r.u32('index'); return; } // local.*, global.*, table.get/set
  switch (op) {
    case 0x00: case 0x01: case 0x05: case 0x0a: case 0x0b: case 0x0f: case 0x19: case 0x1a: case 0x1b:
    case 0xd1: case 0xd3: case 0xd4:
      return;
    case 0x02: case 0x04: case 0x06: return blockType(r);
    case 0x07: case 0x08: case 0x09: case 0x0c: case 0x0d: case 0x10: case 0x12: case 0x14: case 0x15:
    case 0x18: case 0xd2: case 0xd5: case 0xd6:
      r.u32('index'); return;
    case 0x0e: {
      const n = r.count('br_table label');
      for (let i = 0; i <= n; i++) r.u32('br_table label');
      return;
    }
    case 0x11: case 0x13: r.u32('type index'); r.u32('table index'); return;
    case 0x1c: {
      const n = r.count('select type');
      for (let i = 0; i < n; i++) r.valType('select type');
      return;
    }
    case 0x1f: {
      blockType(r);
      const n = r.count('catch clause');
      for (let i = 0; i < n; i++) {
        const kind = r.u8('catch kind');
        if (kind <= 1) r.u32('tag index');
        else if (kind > 3) unknown(r, at, `catch clause kind ${kind}`);
        r.u32('label');
      }
      return;
    }
    case 0x3f: case 0x40: r.u32('memory index'); return;
    case 0x41: r.s33('i32 constant'); return;
    case 0x42: for (let i = 0; i < 10; i++) if ((r.u8('i64 constant') & 0x80) === 0) return;
      throw new MalformedWasm(`i64 constant longer than 10 bytes at byte ${r.pos}`);
    case 0x43: r.skip(4, 'f32 constant'); return;
    case 0x44: r.skip(8, 'f64 constant'); return;
    case 0xd0: r.s33('heap type'); return;
    case 0xfc: return prefixedFC(r, at);
    case 0xfd: return prefixedSimd(r, at);
    case 0xfe: return prefixedAtomic(r, at);
    default: return unknown(r, at, `opcode 0x${op.toString(16)}`);
  }
}

// Saturating truncations, bulk memory and table instructions.
function prefixedFC(r: Reader, at: number): void {
  const sub = r.u32('0xfc opcode');
  if (sub <= 7) return;
  switch (sub) {
    case 8: case 10: case 12: case 14: r.u32('index'); r.u32('index'); return;
    case 9: case 11: case 13: case 15: case 16: case 17: r.u32('index'); return;
    default: return unknown(r, at, `opcode 0xfc ${sub}`);
  }
}

function prefixedSimd(r: Reader, at: number): void {
  const sub = r.u32('0xfd opcode');
  if (sub <= 11 || sub === 92 || sub === 93) return memarg(r);
  if (sub === 12 || sub === 13) { r.skip(16, 'v128 immediate'); return; }
  if (sub >= 21 && sub <= 34) { r.u8('lane index'); return; }
  if (sub >= 84 && sub <= 91) { memarg(r); r.u8('lane index'); return; }
  if (sub <= 0x113) return; // the rest of SIMD and relaxed SIMD take no immediates
  unknown(r, at, `opcode 0xfd ${sub}`);
}

function prefixedAtomic(r: Reader, at: number): void {
  const sub = r.u32('0xfe opcode');
  if (sub === 0x03) { r.u8('atomic.fence flags'); return; }
  if (sub <= 0x02 || (sub >= 0x10 && sub <= 0x4e)) return memarg(r);
  unknown(r, at, `opcode 0xfe ${sub}`);
}
