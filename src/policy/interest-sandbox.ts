// Worker thread of `wasmsup build`: instantiates a freshly compiled policy with inert stand-ins for
// the host functions and calls its wasmsup_interest export once, to learn what the policy declared.
// It is a separate thread so that the builder can stop a policy whose start code or declaration never
// finishes. Protocol: workerData = { bytes }, one message back: { json } or { error }.
//
// As at run time (instance.ts), the policy's top-level code may not call host functions: its memory
// is not known until instantiation has finished.
import { parentPort, workerData } from 'node:worker_threads';

const ENOSYS = 38;
const { bytes } = workerData as { bytes: Uint8Array };
let memory: WebAssembly.Memory | null = null;

function started(what: string): WebAssembly.Memory {
  if (!memory) throw new Error(`the policy's top-level code called ${what}: host functions may be called only while deciding`);
  return memory;
}

function asString(mem: WebAssembly.Memory, ptr: number): string {
  const start = ptr >>> 0;
  if (start === 0) return 'null';
  const buffer = mem.buffer;
  if (start < 4 || start > buffer.byteLength) return `<bad string pointer ${start}>`;
  const byteLength = new DataView(buffer).getUint32(start - 4, true);
  if (byteLength > buffer.byteLength - start) return `<bad string length ${byteLength}>`;
  return new TextDecoder('utf-16le').decode(new Uint8Array(buffer, start, byteLength & ~1));
}

const imports = {
  wasmsup: {
    read_memory: () => { started('read_memory'); return -ENOSYS; },
    read_string: () => { started('read_string'); return -ENOSYS; },
    caller_creds: () => { started('caller_creds'); return -ENOSYS; },
    fd_info: () => { started('fd_info'); return -ENOSYS; },
    log: () => { started('log'); },
    config_read: () => { started('config_read'); return 0; },
    config_refuse: () => { started('config_refuse'); },
    identity: () => { started('identity'); return 0; },
    write_out: () => { started('write_out'); return -ENOSYS; },
    abort: (msg: number, file: number, line: number, col: number) => {
      if (!memory) throw new Error(`abort in the policy's top-level code${line ? ` at line ${line >>> 0}:${col >>> 0}` : ''}`);
      // A plain abort("...") in AssemblyScript passes no position (file null, line 0).
      const where = file === 0 ? '' : ` at ${asString(memory, file)}:${line >>> 0}:${col >>> 0}`;
      throw new Error(`abort: ${asString(memory, msg)}${where}`);
    },
  },
};

let phase = 'instantiating the policy failed';
try {
  const module = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  const instance = new WebAssembly.Instance(module, imports);
  memory = instance.exports.memory as WebAssembly.Memory;
  phase = 'the interest declaration failed';
  const declare = instance.exports.wasmsup_interest;
  if (typeof declare !== 'function') throw new Error('the module has no wasmsup_interest export');
  const json = asString(memory, (declare as () => number)());
  parentPort!.postMessage({ json });
} catch (e) {
  parentPort!.postMessage({ error: `${phase}: ${(e as Error).message}` });
}
