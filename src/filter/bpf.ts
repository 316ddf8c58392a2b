// Classic BPF as seccomp uses it: opcode constants (linux/bpf_common.h, linux/filter.h), the seccomp
// return values (linux/seccomp.h), `struct sock_filter` encoding and a disassembler.

// Instruction classes.
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_MISC = 0x07;

// Load sizes and modes.
export const BPF_W = 0x00;
export const BPF_H = 0x08;
export const BPF_B = 0x10;
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_IND = 0x40;
export const BPF_MEM = 0x60;
export const BPF_LEN = 0x80;
export const BPF_MSH = 0xa0;

// ALU operations.
export const BPF_ADD = 0x00;
export const BPF_SUB = 0x10;
export const BPF_MUL = 0x20;
export const BPF_DIV = 0x30;
export const BPF_OR = 0x40;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_RSH = 0x70;
export const BPF_NEG = 0x80;
export const BPF_MOD = 0x90;
export const BPF_XOR = 0xa0;

// Jumps.
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;

// Operand sources.
export const BPF_K = 0x00;
export const BPF_X = 0x08;
export const BPF_A = 0x10;

// BPF_MISC operations.
export const BPF_TAX = 0x00;
export const BPF_TXA = 0x80;

/** Scratch memory words (M[0..16)). */
export const BPF_MEMWORDS = 16;
/** The kernel refuses longer programs (BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;

export const BPF_CLASS = (code: number): number => code & 0x07;
export const BPF_SIZE = (code: number): number => code & 0x18;
export const BPF_MODE = (code: number): number => code & 0xe0;
export const BPF_OP = (code: number): number => code & 0xf0;
export const BPF_SRC = (code: number): number => code & 0x08;
export const BPF_RVAL = (code: number): number => code & 0x18;
export const BPF_MISCOP = (code: number): number => code & 0xf8;

// Seccomp filter return values. Only the high 16 bits (the action) decide; SECCOMP_RET_DATA carries the
// errno for ERRNO.
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_KILL_THREAD = 0x00000000;
export const SECCOMP_RET_TRAP = 0x00030000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_USER_NOTIF = 0x7fc00000;
export const SECCOMP_RET_TRACE = 0x7ff00000;
export const SECCOMP_RET_LOG = 0x7ffc0000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
export const SECCOMP_RET_DATA = 0x0000ffff;

/** `struct seccomp_data` offsets (little-endian hosts: the low word of an argument comes first). */
export const SECCOMP_DATA_NR = 0;
export const SECCOMP_DATA_ARCH = 4;
export const SECCOMP_DATA_IP = 8;
export const SECCOMP_DATA_ARGS = 16;
export const SECCOMP_DATA_SIZE = 64;
export const argLowOffset = (arg: number): number => SECCOMP_DATA_ARGS + 8 * arg;
export const argHighOffset = (arg: number): number => SECCOMP_DATA_ARGS + 8 * arg + 4;

/** One `struct sock_filter`. */
export interface SockFilter {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export function stmt(code: number, k: number): SockFilter {
  return { code, jt: 0, jf: 0, k: k >>> 0 };
}

export function jump(code: number, k: number, jt: number, jf: number): SockFilter {
  if (!Number.isInteger(jt) || !Number.isInteger(jf) || jt < 0 || jf < 0 || jt > 255 || jf > 255) {
    throw new RangeError(`BPF jump offsets must be 0..255, got jt=${jt} jf=${jf}`);
  }
  return { code, jt, jf, k: k >>> 0 };
}

export const SOCK_FILTER_SIZE = 8;

export function encodeProgram(insns: readonly SockFilter[]): Buffer {
  const out = Buffer.alloc(insns.length * SOCK_FILTER_SIZE);
  insns.forEach((insn, i) => {
    const o = i * SOCK_FILTER_SIZE;
    out.writeUInt16LE(insn.code, o);
    out.writeUInt8(insn.jt, o + 2);
    out.writeUInt8(insn.jf, o + 3);
    out.writeUInt32LE(insn.k >>> 0, o + 4);
  });
  return out;
}

export function decodeProgram(program: Uint8Array): SockFilter[] {
  if (program.byteLength % SOCK_FILTER_SIZE !== 0) {
    throw new RangeError(`a BPF program is a multiple of ${SOCK_FILTER_SIZE} bytes, got ${program.byteLength}`);
  }
  const view = new DataView(program.buffer, program.byteOffset, program.byteLength);
  const insns: SockFilter[] = [];
  for (let o = 0; o < program.byteLength; o += SOCK_FILTER_SIZE) {
    insns.push({ code: view.getUint16(o, true), jt: view.getUint8(o + 2), jf: view.getUint8(o + 3), k: view.getUint32(o + 4, true) });
  }
  return insns;
}

const hex = (n: number): string => '0x' + (n >>> 0).toString(16);

const SECCOMP_DATA_FIELDS: Record<number, string> = { 0: 'nr', 4: 'arch', 8: 'ip.lo', 12: 'ip.hi' };
function dataField(k: number): string {
  if (k in SECCOMP_DATA_FIELDS) return SECCOMP_DATA_FIELDS[k]!;
  if (k >= SECCOMP_DATA_ARGS && k < SECCOMP_DATA_SIZE && k % 4 === 0) {
    const arg = (k - SECCOMP_DATA_ARGS) >> 3;
    return `args[${arg}].${(k - SECCOMP_DATA_ARGS) % 8 === 0 ? 'lo' : 'hi'}`;
  }
  return `?${k}`;
}

const RET_NAMES: [number, string][] = [
  [SECCOMP_RET_KILL_PROCESS, 'KILL_PROCESS'], [SECCOMP_RET_KILL_THREAD, 'KILL_THREAD'],
  [SECCOMP_RET_TRAP, 'TRAP'], [SECCOMP_RET_ERRNO, 'ERRNO'], [SECCOMP_RET_USER_NOTIF, 'USER_NOTIF'],
  [SECCOMP_RET_TRACE, 'TRACE'], [SECCOMP_RET_LOG, 'LOG'], [SECCOMP_RET_ALLOW, 'ALLOW'],
];
function retValue(k: number): string {
  const action = (k & SECCOMP_RET_ACTION_FULL) >>> 0;
  const data = k & SECCOMP_RET_DATA;
  const name = RET_NAMES.find(([v]) => v === action)?.[1];
  if (!name) return hex(k);
  return data ? `${name}(${data})` : name;
}

const ALU_NAMES: Record<number, string> = {
  [BPF_ADD]: 'add', [BPF_SUB]: 'sub', [BPF_MUL]: 'mul', [BPF_DIV]: 'div', [BPF_OR]: 'or', [BPF_AND]: 'and',
  [BPF_LSH]: 'lsh', [BPF_RSH]: 'rsh', [BPF_NEG]: 'neg', [BPF_MOD]: 'mod', [BPF_XOR]: 'xor',
};
const JMP_NAMES: Record<number, string> = { [BPF_JEQ]: 'jeq', [BPF_JGT]: 'jgt', [BPF_JGE]: 'jge', [BPF_JSET]: 'jset' };

function describe(insn: SockFilter, pc: number): string {
  const { code, k } = insn;
  switch (BPF_CLASS(code)) {
    case BPF_LD:
    case BPF_LDX: {
      const reg = BPF_CLASS(code) === BPF_LD ? 'ld' : 'ldx';
      switch (BPF_MODE(code)) {
        case BPF_ABS: return BPF_SIZE(code) === BPF_W ? `${reg} [${k}] ${dataField(k)}` : `${reg} size ${BPF_SIZE(code)} [${k}]`;
        case BPF_IMM: return `${reg} #${hex(k)}`;
        case BPF_MEM: return `${reg} M[${k}]`;
        case BPF_LEN: return `${reg} #len`;
        default: return `${reg} mode ${hex(BPF_MODE(code))} k=${hex(k)}`;
      }
    }
    case BPF_ST: return `st M[${k}]`;
    case BPF_STX: return `stx M[${k}]`;
    case BPF_ALU: {
      const name = ALU_NAMES[BPF_OP(code)] ?? `alu${hex(BPF_OP(code))}`;
      if (BPF_OP(code) === BPF_NEG) return name;
      return BPF_SRC(code) === BPF_X ? `${name} x` : `${name} #${hex(k)}`;
    }
    case BPF_JMP: {
      if (BPF_OP(code) === BPF_JA) return `ja ${pc + 1 + k}`;
      const name = JMP_NAMES[BPF_OP(code)] ?? `jmp${hex(BPF_OP(code))}`;
      const operand = BPF_SRC(code) === BPF_X ? 'x' : `#${hex(k)}`;
      return `${name} ${operand}, ${pc + 1 + insn.jt}, ${pc + 1 + insn.jf}`;
    }
    case BPF_RET:
      if (BPF_RVAL(code) === BPF_A) return 'ret a';
      if (BPF_RVAL(code) === BPF_X) return 'ret x';
      return `ret ${retValue(k)}`;
    case BPF_MISC:
      if (BPF_MISCOP(code) === BPF_TAX) return 'tax';
      if (BPF_MISCOP(code) === BPF_TXA) return 'txa';
      return `misc ${hex(code)}`;
  }
  return `code ${hex(code)}`;
}

/**
 * One line per instruction, `pc: mnemonic`, jump targets as absolute instruction numbers; `notes[pc]`
 * (from CompiledFilter.notes) is appended as a comment when given.
 */
export function disassemble(program: Uint8Array, notes?: readonly (string | undefined)[]): string {
  const insns = decodeProgram(program);
  const width = String(Math.max(0, insns.length - 1)).length;
  return insns
    .map((insn, pc) => {
      const text = `${String(pc).padStart(width)}: ${describe(insn, pc)}`;
      const note = notes?.[pc];
      return note ? `${text.padEnd(width + 40)} ; ${note}` : text;
    })
    .join('\n');
}
