// The policy ABI's fixed parts (docs/policy-abi.md), shared by the loader, the instance and the builder.
// Its blocks' layouts are in src/layouts.ts, with the host's other shared layouts.
import type { FuncType } from './wasm-binary.js';

export const ABI_VERSION = 1;
export const POLICY_SECTION = 'wasmsup.policy';
export const IMPORT_MODULE = 'wasmsup';
export const NAME_PATTERN = /^[a-z0-9_.-]{1,64}$/;

/** Default and hard cap of a policy's memory: 256 pages of 64 KiB = 16 MiB. */
export const PAGE_BYTES = 65536;
export const DEFAULT_MAXIMUM_PAGES = 256;

/** The functions a policy may import from "wasmsup", with their signatures. */
export const ABI_IMPORTS: Readonly<Record<string, FuncType>> = {
  read_memory: { params: ['i64', 'i32', 'i32'], results: ['i32'] },
  read_string: { params: ['i64', 'i32', 'i32'], results: ['i32'] },
  caller_creds: { params: ['i32'], results: ['i32'] },
  fd_info: { params: ['i32', 'i32', 'i32', 'i32'], results: ['i32'] },
  log: { params: ['i32', 'i32', 'i32'], results: [] },
  abort: { params: ['i32', 'i32', 'i32', 'i32'], results: [] },
  // Added within abi 1 (docs/policy-abi.md, section 6): a module importing them is refused by an
  // older host at load, naming the import, so it never runs unconfigured there.
  config_read: { params: ['i32', 'i32'], results: ['i32'] },
  config_refuse: { params: ['i32', 'i32'], results: [] },
  identity: { params: ['i32', 'i32'], results: ['i32'] },
  // Added within abi 1: answers through the caller's out-pointers (docs/policy-abi.md, section 3).
  write_out: { params: ['i32', 'i32', 'i32', 'i32'], results: ['i32'] },
};

/** The optional export that receives the configuration, once per instance, before any decision. */
export const CONFIGURE_EXPORT = 'wasmsup_configure';
export const CONFIGURE_TYPE: FuncType = { params: ['i32'], results: ['i32'] };

/** Largest configuration accepted (a file, an annotation, a listenerMetadata item): 1 MiB. */
export const MAX_CONFIGURATION_BYTES = 1 << 20;
/** Longest reason a policy may give for refusing its configuration, in bytes. */
export const MAX_REFUSAL_BYTES = 1024;

/** The functions a policy must export, with their signatures (besides `memory`). */
export const ABI_FUNCTION_EXPORTS: Readonly<Record<string, FuncType>> = {
  wasmsup_notification: { params: [], results: ['i32'] },
  wasmsup_decide: { params: [], results: ['i32'] },
};

export function sameFuncType(a: FuncType, b: FuncType): boolean {
  return a.params.length === b.params.length && a.results.length === b.results.length
    && a.params.every((t, i) => t === b.params[i]) && a.results.every((t, i) => t === b.results[i]);
}

export function mib(pages: number): string {
  const value = (pages * PAGE_BYTES) / (1024 * 1024);
  return `${Number.isInteger(value) ? value : value.toFixed(2)} MiB`;
}
