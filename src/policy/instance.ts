// The runtime side of the policy ABI: instantiates a loaded policy with the host functions of
// docs/policy-abi.md, section 3. Runs on the data-plane thread, once per notification the policy is
// asked about, so the import functions allocate nothing in the steady state: the views of the
// policy's memory they hand to the host are cached per address and re-made only after the memory grew.
import { CREDS_BYTES, FD_INFO_BYTES, NOTIFICATION_BYTES } from '../layouts.js';
import { CONFIGURE_EXPORT, MAX_REFUSAL_BYTES } from './abi.js';
import type { PolicyInfo } from './load.js';

export interface HostContext {
  /** Copies up to `len` bytes of the caller's memory into `dst[0..)`; bytes or -errno (already ID_VALID-checked). */
  readMemory(addrLo: number, addrHi: number, dst: Uint8Array, len: number): number;
  /** Copies a NUL-terminated string of at most `cap` bytes incl. the NUL into `dst[0..)`; its length or -errno. */
  readString(addrLo: number, addrHi: number, dst: Uint8Array, cap: number): number;
  /** Fills the 128-byte creds block `dst`; 0 or -errno. */
  callerCreds(dst: Uint8Array): number;
  /**
   * Fills the FD_INFO_BYTES block `dst` about the caller's fd `fd`, and up to `pathCap` bytes of its
   * path into `path[0..)`; 0 or -errno. Hosts without it (test doubles) make fd_info answer -ENOSYS.
   */
  fdInfo?(fd: number, dst: Uint8Array, path: Uint8Array, pathCap: number): number;
  log(level: number, message: string): void;
  /**
   * write_out: stages `len` bytes of the policy's `memory` from `from` for the caller's out-buffer in
   * argument `arg`, at `offset`; 0 or -errno. Hosts without it (the main thread's check, test doubles)
   * make write_out answer -ENOSYS.
   */
  writeOut?(arg: number, offset: number, memory: Uint8Array, from: number, len: number): number;
  /** A decision begins: what an earlier one staged with write_out is dropped. */
  beginDecision?(): void;
}

export interface PolicyInstance {
  info: PolicyInfo;
  /** The 128-byte notification block; the same object until the policy's memory grows. */
  readonly notification: Uint8Array;
  /** Calls wasmsup_decide with a full tank of fuel; the raw decision kind. Throws when the policy traps. */
  decide(): number;
  /** After decide() threw: whether it was stopped for running out of fuel (an endless or too long loop). */
  outOfFuel(): boolean;
  /** Fuel given to each decision (0 when the module is not metered). */
  readonly fuel: number;
  memory: WebAssembly.Memory;
}

const VIEW_CACHE_LIMIT = 64;
const MAX_ABORT_MESSAGE_CHARS = 2048;

class PolicyTrap extends Error {}

/** The policy did not accept its configuration; the message is one line, with the policy's own reason. */
export class ConfigurationRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigurationRefused';
  }
}

const NO_BYTES = new Uint8Array(0);
const EMPTY_IDENTITY = new TextEncoder().encode('{}');

class Instance implements PolicyInstance {
  readonly info: PolicyInfo;
  readonly memory!: WebAssembly.Memory;
  private readonly decideExport: () => number;
  private readonly fuelGlobal: WebAssembly.Global | null;
  readonly fuel: number;
  private readonly blockAddress: number;
  private buffer: ArrayBuffer;
  private block: Uint8Array;
  // Views from an address to the end of memory (reads) and of CREDS_BYTES (creds), by address.
  private readonly readViews = new Map<number, Uint8Array>();
  private readonly credsViews = new Map<number, Uint8Array>();
  private readonly fdInfoViews = new Map<number, Uint8Array>();
  // A 64-bit target address arrives as a BigInt; splitting it through this array allocates nothing.
  private readonly addr64 = new BigInt64Array(1);
  private readonly addr32 = new Uint32Array(this.addr64.buffer);
  private readonly utf8 = new TextDecoder('utf-8');
  private readonly utf16 = new TextDecoder('utf-16le');
  private readonly configuration: Uint8Array;
  private readonly identityBytes: Uint8Array;
  // Set only while wasmsup_configure runs: config_refuse is meaningless at any other time.
  private configuring = false;
  private refusal: string | null = null;
  // Set only while wasmsup_decide runs: write_out stages for the decision in hand, and there is none otherwise.
  private deciding = false;
  // The whole memory as bytes (write_out's source), re-made when the memory grew.
  private whole: Uint8Array | null = null;

  constructor(info: PolicyInfo, private readonly host: HostContext) {
    this.info = info;
    this.configuration = info.configuration ?? NO_BYTES;
    this.identityBytes = info.identity ?? EMPTY_IDENTITY;
    const imports = {
      wasmsup: {
        read_memory: (addr: bigint, dst: number, len: number) => this.readMemory(addr, dst, len),
        read_string: (addr: bigint, dst: number, cap: number) => this.readString(addr, dst, cap),
        caller_creds: (dst: number) => this.callerCreds(dst),
        fd_info: (fd: number, dst: number, path: number, cap: number) => this.fdInfo(fd, dst, path, cap),
        log: (level: number, ptr: number, len: number) => this.log(level, ptr, len),
        abort: (msg: number, file: number, line: number, col: number) => this.abort(msg, file, line, col),
        config_read: (dst: number, cap: number) => this.copyOut('config_read', this.configuration, dst, cap),
        config_refuse: (ptr: number, len: number) => this.configRefuse(ptr, len),
        identity: (dst: number, cap: number) => this.copyOut('identity', this.identityBytes, dst, cap),
        write_out: (arg: number, offset: number, src: number, len: number) => this.writeOut(arg, offset, src, len),
      },
    };
    let instance: WebAssembly.Instance;
    try {
      instance = new WebAssembly.Instance(info.module, imports);
    } catch (e) {
      throw new Error(`${info.file}: policy ${info.name} failed to start: ${(e as Error).message}`);
    }
    const exports = instance.exports;
    this.memory = exports.memory as WebAssembly.Memory;
    // A metered module refuels itself in its own entry point (src/policy/meter.ts).
    this.decideExport = (info.metering ? exports[info.metering.decideExport] : exports.wasmsup_decide) as () => number;
    this.fuelGlobal = info.metering ? exports[info.metering.fuelExport] as WebAssembly.Global : null;
    this.fuel = info.metering ? info.metering.fuel : 0;
    this.buffer = this.memory.buffer;
    const address = (exports.wasmsup_notification as () => number)() >>> 0;
    if (address + NOTIFICATION_BYTES > this.buffer.byteLength) {
      throw new Error(`${info.file}: policy ${info.name}: wasmsup_notification() = ${address}, outside its memory`);
    }
    this.blockAddress = address;
    this.block = new Uint8Array(this.buffer, address, NOTIFICATION_BYTES);
    this.configure(exports[CONFIGURE_EXPORT] as ((len: number) => number) | undefined);
  }

  /**
   * Once, before any decision: hands the policy its configuration (docs/policy-abi.md, 1.3). Runs
   * here, where instances are made, so that a decision never parses anything.
   */
  private configure(configureExport: ((len: number) => number) | undefined): void {
    const { info } = this;
    if (configureExport === undefined) {
      if (this.configuration.length > 0) {
        throw new ConfigurationRefused(`policy ${info.name} takes no configuration (it has no ${CONFIGURE_EXPORT} export)`);
      }
      return;
    }
    // Configuring gets a full tank of its own, whatever the start code left.
    if (this.fuelGlobal !== null) this.fuelGlobal.value = this.fuel;
    this.configuring = true;
    let result: number;
    try {
      result = configureExport(this.configuration.length);
    } catch (e) {
      const why = this.outOfFuel() ? `ran out of fuel (${this.fuel} loop iterations and calls)` : `trapped: ${(e as Error).message}`;
      throw new ConfigurationRefused(`policy ${info.name} ${why} while reading its configuration`);
    } finally {
      this.configuring = false;
    }
    if (result !== 0) {
      throw new ConfigurationRefused(`policy ${info.name} refused its configuration: ${this.refusal ?? `(no reason given; ${CONFIGURE_EXPORT} returned ${result})`}`);
    }
  }

  /** config_read and identity: copies up to `cap` bytes of `bytes` to `dst`; the whole length. */
  private copyOut(what: string, bytes: Uint8Array, dst: number, cap: number): number {
    const start = this.checkRange(what, dst, cap);
    new Uint8Array(this.buffer, start, Math.min(cap, bytes.length)).set(bytes.subarray(0, cap));
    return bytes.length;
  }

  private configRefuse(ptr: number, len: number): void {
    const start = this.checkRange('config_refuse', ptr, len);
    if (!this.configuring) throw new PolicyTrap('config_refuse called outside wasmsup_configure');
    const text = this.utf8.decode(new Uint8Array(this.buffer, start, Math.min(len, MAX_REFUSAL_BYTES)));
    this.refusal = text.replace(/\s*[\r\n]+\s*/g, ' ').trim() || null;
  }

  get notification(): Uint8Array {
    this.refresh();
    return this.block;
  }

  decide(): number {
    if (this.host.beginDecision !== undefined) this.host.beginDecision();
    this.deciding = true;
    try {
      return this.decideExport();
    } finally {
      this.deciding = false;
    }
  }

  outOfFuel(): boolean {
    return this.fuelGlobal !== null && this.fuelGlobal.value === 0;
  }

  /** Re-makes the views when memory.grow replaced the buffer. */
  private refresh(): void {
    const buffer = this.memory.buffer;
    if (buffer === this.buffer) return;
    this.buffer = buffer;
    this.block = new Uint8Array(buffer, this.blockAddress, NOTIFICATION_BYTES);
    this.whole = null;
    this.readViews.clear();
    this.credsViews.clear();
    this.fdInfoViews.clear();
  }

  /** Throws (traps the policy) unless [ptr, ptr+len) lies in the policy's memory. */
  private checkRange(what: string, ptr: number, len: number): number {
    this.checkStarted(what);
    this.refresh();
    const start = ptr >>> 0;
    if (len < 0 || start + len > this.buffer.byteLength) {
      throw new PolicyTrap(`${what}: range ${start}+${len} is outside the policy's memory (${this.buffer.byteLength} bytes)`);
    }
    return start;
  }

  // The policy's start function (its top-level code) runs inside new WebAssembly.Instance, before
  // its memory can be known here: host functions are for decisions only.
  private checkStarted(what: string): void {
    if (this.memory === undefined) {
      throw new PolicyTrap(`the policy's top-level code called ${what}: host functions may be called only while deciding`);
    }
  }

  private readView(start: number): Uint8Array {
    let view = this.readViews.get(start);
    if (view === undefined) {
      if (this.readViews.size >= VIEW_CACHE_LIMIT) this.readViews.clear();
      view = new Uint8Array(this.buffer, start);
      this.readViews.set(start, view);
    }
    return view;
  }

  private readMemory(addr: bigint, dst: number, len: number): number {
    const start = this.checkRange('read_memory', dst, len);
    this.addr64[0] = addr;
    return this.host.readMemory(this.addr32[0]!, this.addr32[1]!, this.readView(start), len) | 0;
  }

  private readString(addr: bigint, dst: number, cap: number): number {
    const start = this.checkRange('read_string', dst, cap);
    this.addr64[0] = addr;
    return this.host.readString(this.addr32[0]!, this.addr32[1]!, this.readView(start), cap) | 0;
  }

  private callerCreds(dst: number): number {
    const start = this.checkRange('caller_creds', dst, CREDS_BYTES);
    let view = this.credsViews.get(start);
    if (view === undefined) {
      if (this.credsViews.size >= VIEW_CACHE_LIMIT) this.credsViews.clear();
      view = new Uint8Array(this.buffer, start, CREDS_BYTES);
      this.credsViews.set(start, view);
    }
    return this.host.callerCreds(view) | 0;
  }

  private fdInfo(fd: number, dst: number, path: number, cap: number): number {
    const start = this.checkRange('fd_info', dst, FD_INFO_BYTES);
    const pathStart = this.checkRange('fd_info', path, cap);
    let view = this.fdInfoViews.get(start);
    if (view === undefined) {
      if (this.fdInfoViews.size >= VIEW_CACHE_LIMIT) this.fdInfoViews.clear();
      view = new Uint8Array(this.buffer, start, FD_INFO_BYTES);
      this.fdInfoViews.set(start, view);
    }
    if (this.host.fdInfo === undefined) return -38; // ENOSYS
    return this.host.fdInfo(fd | 0, view, this.readView(pathStart), cap) | 0;
  }

  private writeOut(arg: number, offset: number, src: number, len: number): number {
    const start = this.checkRange('write_out', src, len);
    if (!this.deciding) throw new PolicyTrap('write_out called outside wasmsup_decide: it answers the call being decided');
    if (this.host.writeOut === undefined) return -38; // ENOSYS
    if (this.whole === null) this.whole = new Uint8Array(this.buffer);
    return this.host.writeOut(arg | 0, offset | 0, this.whole, start, len) | 0;
  }

  private log(level: number, ptr: number, len: number): void {
    const start = this.checkRange('log', ptr, len);
    this.host.log(level, this.utf8.decode(new Uint8Array(this.buffer, start, len)));
  }

  private abort(msg: number, file: number, line: number, col: number): never {
    if (this.memory === undefined) {
      throw new PolicyTrap(`abort in the policy's top-level code${line ? ` at line ${line >>> 0}:${col >>> 0}` : ''}`);
    }
    // A plain abort("...") in AssemblyScript passes no position (file null, line 0).
    const where = file === 0 ? '' : ` at ${this.asString(file)}:${line >>> 0}:${col >>> 0}`;
    const message = `abort: ${this.asString(msg)}${where}`;
    this.host.log(3, `policy ${this.info.name}: ${message}`);
    throw new PolicyTrap(message);
  }

  /** Decodes an AssemblyScript String (UTF-16LE, byte length in the u32 before it) without trusting it. */
  private asString(ptr: number): string {
    const start = ptr >>> 0;
    if (start === 0) return 'null';
    this.refresh();
    if (start < 4 || start > this.buffer.byteLength) return `<bad string pointer ${start}>`;
    const byteLength = new DataView(this.buffer).getUint32(start - 4, true);
    const usable = Math.min(byteLength & ~1, this.buffer.byteLength - start, MAX_ABORT_MESSAGE_CHARS * 2);
    return this.utf16.decode(new Uint8Array(this.buffer, start, usable));
  }
}

/** Instantiates `info`'s module with the ABI's host functions backed by `host`; runs its start code. */
export function instantiatePolicy(info: PolicyInfo, host: HostContext): PolicyInstance {
  return new Instance(info, host);
}
