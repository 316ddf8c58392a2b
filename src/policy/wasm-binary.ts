// A small reader for the parts of a WebAssembly binary that WebAssembly.Module.imports/exports do not
// describe: function signatures and memory limits. It reads only the type, import, function, memory
// and export sections, checks every length against the bytes it has, and reports malformed input as
// MalformedWasm (never a RangeError or a runaway loop), because policy files are untrusted input.

export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'funcref' | 'externref' | 'ref';

export interface FuncType { params: ValType[]; results: ValType[] }

export interface Limits { min: number; max: number | null; shared: boolean; is64: boolean }

export type ImportDesc =
  | { kind: 'function'; typeIndex: number }
  | { kind: 'table' }
  | { kind: 'memory'; limits: Limits }
  | { kind: 'global' }
  | { kind: 'tag' };

export interface WasmImport { module: string; name: string; desc: ImportDesc }

export interface WasmExport { name: string; kind: 'function' | 'table' | 'memory' | 'global' | 'tag'; index: number }

export interface WasmStructure {
  types: FuncType[];
  imports: WasmImport[];
  /** Type index of every function, imported ones first (the function index space). */
  functionTypes: number[];
  /** Every memory, imported ones first (the memory index space). */
  memories: { limits: Limits; imported: boolean }[];
  exports: WasmExport[];
}

export class MalformedWasm extends Error {}

const VALTYPES: Record<number, ValType> = {
  0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x7b: 'v128', 0x70: 'funcref', 0x6f: 'externref',
};
const EXPORT_KINDS = ['function', 'table', 'memory', 'global', 'tag'] as const;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export class Reader {
  constructor(private readonly bytes: Uint8Array, public pos: number, private readonly end: number) {}

  get done(): boolean { return this.pos >= this.end; }

  private fail(what: string): never {
    throw new MalformedWasm(`${what} at byte ${this.pos}`);
  }

  u8(what: string): number {
    if (this.pos >= this.end) this.fail(`truncated ${what}`);
    return this.bytes[this.pos++]!;
  }

  /** Unsigned LEB128 of at most 32 bits. */
  u32(what: string): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const byte = this.u8(what);
      if (shift === 28 && (byte & 0x70) !== 0) this.fail(`${what} does not fit 32 bits`);
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
    }
    this.fail(`${what} is longer than 5 bytes`);
  }

  /** Unsigned LEB128 of at most 64 bits, as a Number (exact up to 2^53; only compared, never used as an index). */
  u64(what: string): number {
    let result = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      const byte = this.u8(what);
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
    }
    this.fail(`${what} is longer than 10 bytes`);
  }

  /** Signed LEB128 of at most 33 bits (heap types); only skipped. */
  s33(what: string): void {
    for (let i = 0; i < 5; i++) if ((this.u8(what) & 0x80) === 0) return;
    this.fail(`${what} is longer than 5 bytes`);
  }

  skip(n: number, what: string): void {
    if (n > this.end - this.pos) this.fail(`truncated ${what}`);
    this.pos += n;
  }

  name(what: string): string {
    const length = this.u32(`${what} length`);
    if (length > this.end - this.pos) this.fail(`truncated ${what}`);
    const start = this.pos;
    this.pos += length;
    try {
      return utf8.decode(this.bytes.subarray(start, start + length));
    } catch {
      this.fail(`${what} is not UTF-8`);
    }
  }

  /** A vector count, bounded by the bytes left (each element takes at least one byte). */
  count(what: string): number {
    const n = this.u32(`${what} count`);
    if (n > this.end - this.pos) this.fail(`${what} count ${n} exceeds the section`);
    return n;
  }

  valType(what: string): ValType {
    const code = this.u8(what);
    const simple = VALTYPES[code];
    if (simple) return simple;
    if (code === 0x63 || code === 0x64) { this.s33(what); return 'ref'; }
    this.fail(`unknown ${what} 0x${code.toString(16)}`);
  }

  limits(what: string): Limits {
    const flags = this.u8(`${what} flags`);
    if (flags > 7) this.fail(`unknown ${what} flags 0x${flags.toString(16)}`);
    const is64 = (flags & 4) !== 0;
    const read = (w: string) => (is64 ? this.u64(w) : this.u32(w));
    const min = read(`${what} minimum`);
    const max = flags & 1 ? read(`${what} maximum`) : null;
    return { min, max, shared: (flags & 2) !== 0, is64 };
  }

  tableType(): void {
    this.valType('table element type');
    this.limits('table limits');
  }
}

/** Reads the structure of `bytes` (which must start with the wasm magic and version 1). */
export function readWasmStructure(bytes: Uint8Array): WasmStructure {
  const structure: WasmStructure = { types: [], imports: [], functionTypes: [], memories: [], exports: [] };
  const r = new Reader(bytes, 8, bytes.length);
  let lastId = 0;
  while (!r.done) {
    const id = r.u8('section id');
    const size = r.u32('section size');
    const start = r.pos;
    r.skip(size, `section ${id}`);
    const s = new Reader(bytes, start, start + size);
    // Non-custom sections come in a fixed order, at most once each (data count, 12, sits before code,
    // 10; tag, 13, between memory, 5, and global, 6).
    if (id !== 0) {
      const order = id === 12 ? 9.5 : id === 13 ? 5.5 : id;
      if (order <= lastId) throw new MalformedWasm(`section ${id} out of order at byte ${start}`);
      lastId = order;
    }
    switch (id) {
      case 1: readTypes(s, structure); break;
      case 2: readImports(s, structure); break;
      case 3: {
        const n = s.count('function');
        for (let i = 0; i < n; i++) structure.functionTypes.push(s.u32('function type index'));
        break;
      }
      case 5: {
        const n = s.count('memory');
        for (let i = 0; i < n; i++) structure.memories.push({ limits: s.limits('memory limits'), imported: false });
        break;
      }
      case 7: {
        const n = s.count('export');
        for (let i = 0; i < n; i++) {
          const name = s.name('export name');
          const kind = s.u8('export kind');
          if (kind >= EXPORT_KINDS.length) throw new MalformedWasm(`unknown export kind ${kind} at byte ${s.pos}`);
          structure.exports.push({ name, kind: EXPORT_KINDS[kind]!, index: s.u32('export index') });
        }
        break;
      }
      default:
        continue; // other sections are not needed; their size was checked above
    }
    if (!s.done) throw new MalformedWasm(`section ${id} has ${start + size - s.pos} bytes left over at byte ${s.pos}`);
  }
  for (const typeIndex of structure.functionTypes) {
    if (typeIndex >= structure.types.length) throw new MalformedWasm(`function type index ${typeIndex} out of range`);
  }
  return structure;
}

function readTypes(s: Reader, structure: WasmStructure): void {
  const n = s.count('type');
  for (let i = 0; i < n; i++) {
    const form = s.u8('type form');
    if (form !== 0x60) throw new MalformedWasm(`unsupported type form 0x${form.toString(16)} at byte ${s.pos - 1}`);
    const params: ValType[] = [];
    const paramCount = s.count('parameter');
    for (let p = 0; p < paramCount; p++) params.push(s.valType('parameter type'));
    const results: ValType[] = [];
    const resultCount = s.count('result');
    for (let p = 0; p < resultCount; p++) results.push(s.valType('result type'));
    structure.types.push({ params, results });
  }
}

function readImports(s: Reader, structure: WasmStructure): void {
  const n = s.count('import');
  for (let i = 0; i < n; i++) {
    const module = s.name('import module name');
    const name = s.name('import name');
    const kind = s.u8('import kind');
    let desc: ImportDesc;
    switch (kind) {
      case 0: {
        const typeIndex = s.u32('import type index');
        desc = { kind: 'function', typeIndex };
        structure.functionTypes.push(typeIndex);
        break;
      }
      case 1: s.tableType(); desc = { kind: 'table' }; break;
      case 2: {
        const limits = s.limits('memory limits');
        desc = { kind: 'memory', limits };
        structure.memories.push({ limits, imported: true });
        break;
      }
      case 3: s.valType('global type'); s.u8('global mutability'); desc = { kind: 'global' }; break;
      case 4: s.u8('tag attribute'); s.u32('tag type index'); desc = { kind: 'tag' }; break;
      default: throw new MalformedWasm(`unknown import kind ${kind} at byte ${s.pos - 1}`);
    }
    structure.imports.push({ module, name, desc });
  }
}

/** `(i32, i64) -> i32` */
export function formatFuncType(type: FuncType): string {
  const results = type.results.length === 1 ? type.results[0]! : `(${type.results.join(', ')})`;
  return `(${type.params.join(', ')}) -> ${results}`;
}
