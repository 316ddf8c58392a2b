// Loading a policy module: everything the host needs to know about it, learned without running it,
// and every reason to refuse it, each reported as one line naming the file.
import { readFileSync } from 'node:fs';
import { PolicyLoadError } from '../errors.js';
import { parseInterest } from '../filter/interest.js';
import type { SyscallInterest } from '../filter/types.js';
import {
  ABI_FUNCTION_EXPORTS, ABI_IMPORTS, ABI_VERSION, CONFIGURE_EXPORT, CONFIGURE_TYPE, DEFAULT_MAXIMUM_PAGES, IMPORT_MODULE, NAME_PATTERN,
  POLICY_SECTION, mib, sameFuncType,
} from './abi.js';
import { MalformedWasm, formatFuncType, readWasmStructure, type WasmStructure } from './wasm-binary.js';
import { FUEL_EXPORT, MeterError, meterModule } from './meter.js';

export interface MemoryLimits { initialPages: number; maximumPages: number | null; imported: boolean }

export interface PolicyInfo {
  file: string;
  name: string;
  abi: number;
  interest: SyscallInterest[];
  imports: { module: string; name: string; kind: string }[];
  exports: string[];
  memory: MemoryLimits;
  /** The module the host runs: the file's, with fuel metering injected unless loaded with `meter: false`. */
  module: WebAssembly.Module;
  /** Size of the module file in bytes. */
  bytes: number;
  /**
   * Fuel metering (src/policy/meter.ts), or null when not metered: the exported fuel global, the
   * refuelling entry point the host calls instead of wasmsup_decide, the fuel each decision gets,
   * and where it is charged.
   */
  metering: { fuelExport: string; decideExport: string; fuel: number; loops: number; functions: number } | null;
  /** Whether the module exports wasmsup_configure (it takes a configuration). */
  configurable?: boolean;
  /**
   * The configuration its instances are given (UTF-8 JSON, as operators write it), and where it came
   * from for messages (a file, an annotation); null: none. Applied when an instance is created.
   */
  configuration?: Uint8Array | null;
  configurationSource?: string | null;
  /** What `identity` answers (docs/policy-abi.md): whom the instance serves, as UTF-8 JSON; null: `{}`. */
  identity?: Uint8Array | null;
}

export interface LoadOptions {
  /** Largest memory maximum accepted, in 64 KiB pages (default 256 = 16 MiB). */
  maximumPages?: number;
  /**
   * Inject fuel metering (default true), so that a decision stops after `fuel` (default DEFAULT_FUEL)
   * loop iterations and function calls instead of running forever. The start code gets as much.
   */
  meter?: boolean;
  fuel?: number;
}

/** Default fuel per decision: loop iterations plus function calls, a few milliseconds of work at most. */
export const DEFAULT_FUEL = 5_000_000;

/** Reads and validates the policy module `file`; throws PolicyLoadError with the reason. */
export function loadPolicy(file: string, options: LoadOptions = {}): PolicyInfo {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory'
      : err.code === 'EACCES' ? 'permission denied' : err.message;
    throw new PolicyLoadError(file, `cannot read policy: ${why}${err.code ? ` (${err.code})` : ''}`);
  }
  return validatePolicyBytes(bytes, file, options);
}

/** Validates a policy module held in memory; `file` names it in errors and in the result. */
export function validatePolicyBytes(bytes: Uint8Array, file: string, options: LoadOptions = {}): PolicyInfo {
  const refuse = (reason: string): never => { throw new PolicyLoadError(file, reason); };
  const cap = options.maximumPages ?? DEFAULT_MAXIMUM_PAGES;

  if (bytes.length < 8) refuse(`not a WebAssembly module (${bytes.length} bytes, too short)`);
  if (bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    refuse('not a WebAssembly module (bad magic bytes)');
  }
  const version = bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24);
  if (version !== 1) refuse(`unsupported WebAssembly binary version ${version >>> 0}`);

  let module: WebAssembly.Module;
  try {
    // A SharedArrayBuffer-backed view is not a BufferSource in the DOM typings; V8 accepts both.
    module = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  } catch (e) {
    return refuse(`not a valid WebAssembly module: ${(e as Error).message.replace(/^WebAssembly\.Module\(\): /, '')}`);
  }

  let structure: WasmStructure;
  try {
    structure = readWasmStructure(bytes);
  } catch (e) {
    if (e instanceof MalformedWasm) return refuse(`malformed module: ${e.message}`);
    throw e;
  }

  checkImports(structure, refuse);
  const memory = checkMemory(structure, cap, refuse);
  const configurable = checkExports(structure, refuse);
  const { name, interest } = readPolicySection(module, refuse);

  let metering: PolicyInfo['metering'] = null;
  if (options.meter ?? true) {
    try {
      const fuel = options.fuel ?? DEFAULT_FUEL;
      const metered = meterModule(bytes, fuel);
      module = new WebAssembly.Module(metered.bytes as Uint8Array<ArrayBuffer>);
      metering = { fuelExport: FUEL_EXPORT, decideExport: metered.decideExport!, fuel, loops: metered.loops, functions: metered.functions };
    } catch (e) {
      if (e instanceof MeterError) refuse(e.message);
      refuse(`fuel metering produced an invalid module (a wasmsup bug): ${(e as Error).message}`);
    }
  }

  return {
    file,
    name,
    abi: ABI_VERSION,
    interest,
    imports: structure.imports.map((i) => ({ module: i.module, name: i.name, kind: i.desc.kind })),
    exports: structure.exports.map((e) => e.name),
    memory,
    module,
    bytes: bytes.length,
    metering,
    configurable,
    configuration: null,
    configurationSource: null,
    identity: null,
  };
}

type Refuse = (reason: string) => never;

function checkImports(structure: WasmStructure, refuse: Refuse): void {
  for (const imp of structure.imports) {
    const what = `import ${JSON.stringify(imp.module)}.${JSON.stringify(imp.name)}`;
    const expected = imp.module === IMPORT_MODULE && Object.hasOwn(ABI_IMPORTS, imp.name) ? ABI_IMPORTS[imp.name]! : null;
    if (!expected) refuse(`refused ${what}: a policy may import only the wasmsup ABI functions (${Object.keys(ABI_IMPORTS).join(', ')})`);
    if (imp.desc.kind !== 'function') refuse(`refused ${what}: it is a ${imp.desc.kind}, the ABI has a function of that name`);
    const actual = structure.types[imp.desc.typeIndex];
    if (!actual) return refuse(`malformed module: ${what} has type index ${imp.desc.typeIndex} out of range`);
    if (!sameFuncType(actual, expected)) {
      refuse(`refused ${what}: signature ${formatFuncType(actual)}, the ABI says ${formatFuncType(expected)}`);
    }
  }
}

function checkMemory(structure: WasmStructure, cap: number, refuse: Refuse): MemoryLimits {
  if (structure.memories.length === 0) refuse('the module has no memory');
  if (structure.memories.length > 1) refuse(`the module has ${structure.memories.length} memories, the ABI allows one`);
  const { limits, imported } = structure.memories[0]!;
  if (limits.is64) refuse('64-bit memory is not allowed');
  if (limits.shared) refuse('shared memory is not allowed');
  if (limits.max === null) {
    refuse(`memory has no maximum (build it with one, at most ${cap} pages = ${mib(cap)})`);
  }
  const max = limits.max!;
  if (max > cap) refuse(`memory maximum ${max} pages (${mib(max)}) is above the cap of ${cap} pages (${mib(cap)})`);
  if (limits.min > max) refuse(`memory minimum ${limits.min} pages is above its maximum ${max}`);
  return { initialPages: limits.min, maximumPages: max, imported };
}

/** Checks the ABI's exports; whether the optional configure entry point is there. */
function checkExports(structure: WasmStructure, refuse: Refuse): boolean {
  const byName = new Map(structure.exports.map((e) => [e.name, e]));
  const memory = byName.get('memory');
  if (!memory) refuse('missing export "memory"');
  if (memory!.kind !== 'memory') refuse(`export "memory" is a ${memory!.kind}, not a memory`);
  const configurable = byName.has(CONFIGURE_EXPORT);
  const expectedExports = configurable ? { ...ABI_FUNCTION_EXPORTS, [CONFIGURE_EXPORT]: CONFIGURE_TYPE } : ABI_FUNCTION_EXPORTS;
  for (const [name, expected] of Object.entries(expectedExports)) {
    const exp = byName.get(name);
    if (!exp) refuse(`missing export "${name}" ${formatFuncType(expected)}`);
    if (exp!.kind !== 'function') refuse(`export "${name}" is a ${exp!.kind}, not a function`);
    const typeIndex = structure.functionTypes[exp!.index];
    const actual = typeIndex === undefined ? undefined : structure.types[typeIndex];
    if (!actual) return refuse(`malformed module: export "${name}" names function ${exp!.index}, which does not exist`);
    if (!sameFuncType(actual, expected)) {
      refuse(`export "${name}" has signature ${formatFuncType(actual)}, the ABI says ${formatFuncType(expected)}`);
    }
  }
  return configurable;
}

const SECTION_KEYS = new Set(['abi', 'name', 'interest']);

function readPolicySection(module: WebAssembly.Module, refuse: Refuse): { name: string; interest: SyscallInterest[] } {
  const sections = WebAssembly.Module.customSections(module, POLICY_SECTION);
  if (sections.length === 0) refuse(`no "${POLICY_SECTION}" section (build the policy with "wasmsup build")`);
  if (sections.length > 1) refuse(`${sections.length} "${POLICY_SECTION}" sections, expected one`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(sections[0]!);
  } catch {
    return refuse(`"${POLICY_SECTION}" section is not UTF-8`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return refuse(`"${POLICY_SECTION}" section is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) refuse(`"${POLICY_SECTION}" section is not a JSON object`);
  const fields = doc as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((k) => !SECTION_KEYS.has(k));
  if (unknown.length) refuse(`"${POLICY_SECTION}": unknown field ${JSON.stringify(unknown[0])}`);
  if (fields.abi !== ABI_VERSION) {
    refuse(`"${POLICY_SECTION}": abi ${JSON.stringify(fields.abi) ?? 'missing'}, this host speaks abi ${ABI_VERSION}`);
  }
  const name = fields.name;
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    refuse(`"${POLICY_SECTION}": bad name ${JSON.stringify(name) ?? 'missing'} (must match [a-z0-9_.-]{1,64})`);
  }
  if (!('interest' in fields)) refuse(`"${POLICY_SECTION}": missing "interest"`);
  let interest: SyscallInterest[];
  try {
    interest = parseInterest(fields.interest, `"${POLICY_SECTION}"`);
  } catch (e) {
    return refuse((e as Error).message);
  }
  return { name: name as string, interest };
}
