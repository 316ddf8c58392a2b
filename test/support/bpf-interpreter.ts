// A classic-BPF interpreter for seccomp filters, written for the tests from the kernel's rules
// (net/core/filter.c bpf_check_classic + check_load_and_stores, kernel/seccomp.c seccomp_check_filter,
// and the classic BPF run semantics). It deliberately shares no code or constants with src/filter/, so a
// misunderstanding there cannot be repeated here and go unnoticed.

const CLASS = (c: number): number => c & 0x07;
const LD = 0x00, LDX = 0x01, ST = 0x02, STX = 0x03, ALU = 0x04, JMP = 0x05, RET = 0x06, MISC = 0x07;
const W = 0x00, ABS = 0x20, IMM = 0x00, MEM = 0x60, LEN = 0x80;
const K = 0x00, X = 0x08, A = 0x10;
const ADD = 0x00, SUB = 0x10, MUL = 0x20, DIV = 0x30, OR = 0x40, AND = 0x50, LSH = 0x60, RSH = 0x70, NEG = 0x80, XOR = 0xa0;
const JA = 0x00, JEQ = 0x10, JGT = 0x20, JGE = 0x30, JSET = 0x40;
const TAX = 0x00, TXA = 0x80;

const MAXINSNS = 4096;
const MEMWORDS = 16;
const SECCOMP_DATA_SIZE = 64;

/** The codes seccomp_check_filter lets through (after its LD|W|LEN and LDX|W|LEN rewrites). */
const SECCOMP_ALLOWED = new Set<number>([
  LD | W | ABS, LD | W | LEN, LDX | W | LEN,
  RET | K, RET | A,
  ...[ADD, SUB, MUL, DIV, AND, OR, XOR, LSH, RSH].flatMap((op) => [ALU | op | K, ALU | op | X]),
  ALU | NEG,
  LD | IMM, LDX | IMM, MISC | TAX, MISC | TXA, LD | MEM, LDX | MEM, ST, STX,
  JMP | JA, ...[JEQ, JGE, JGT, JSET].flatMap((op) => [JMP | op | K, JMP | op | X]),
]);

export interface Insn { code: number; jt: number; jf: number; k: number }

export class FilterRejected extends Error {}

export function decode(program: Uint8Array): Insn[] {
  if (program.byteLength % 8 !== 0) throw new FilterRejected(`program length ${program.byteLength} is not a multiple of 8`);
  const view = new DataView(program.buffer, program.byteOffset, program.byteLength);
  const out: Insn[] = [];
  for (let o = 0; o < program.byteLength; o += 8) {
    out.push({ code: view.getUint16(o, true), jt: view.getUint8(o + 2), jf: view.getUint8(o + 3), k: view.getUint32(o + 4, true) });
  }
  return out;
}

/** Throws FilterRejected where the kernel would refuse the filter with EINVAL. */
export function checkSeccompFilter(insns: readonly Insn[]): void {
  const flen = insns.length;
  if (flen === 0 || flen > MAXINSNS) throw new FilterRejected(`length ${flen} is outside 1..${MAXINSNS}`);
  insns.forEach((f, pc) => {
    if (!SECCOMP_ALLOWED.has(f.code)) throw new FilterRejected(`pc ${pc}: code 0x${f.code.toString(16)} not allowed in seccomp`);
    switch (f.code) {
      case ALU | DIV | K:
        if (f.k === 0) throw new FilterRejected(`pc ${pc}: division by constant 0`);
        break;
      case ALU | LSH | K:
      case ALU | RSH | K:
        if (f.k >= 32) throw new FilterRejected(`pc ${pc}: shift by ${f.k}`);
        break;
      case LD | MEM: case LDX | MEM: case ST: case STX:
        if (f.k >= MEMWORDS) throw new FilterRejected(`pc ${pc}: scratch word ${f.k} out of range`);
        break;
      case JMP | JA:
        if (f.k >= flen - pc - 1) throw new FilterRejected(`pc ${pc}: ja ${f.k} jumps past the end`);
        break;
      case LD | W | ABS:
        if (f.k >= SECCOMP_DATA_SIZE || (f.k & 3) !== 0) throw new FilterRejected(`pc ${pc}: load at offset ${f.k} is out of seccomp_data or misaligned`);
        break;
      default:
        if (CLASS(f.code) === JMP && (pc + f.jt + 1 >= flen || pc + f.jf + 1 >= flen)) {
          throw new FilterRejected(`pc ${pc}: conditional jump (jt ${f.jt}, jf ${f.jf}) past the end`);
        }
    }
  });
  const last = insns[flen - 1]!.code;
  if (last !== (RET | K) && last !== (RET | A)) throw new FilterRejected('the last instruction is not a return');
  // check_load_and_stores: a scratch word may only be read on paths where it was written.
  const masks = new Array<number>(flen).fill(0xffff);
  let valid = 0;
  insns.forEach((f, pc) => {
    valid &= masks[pc]!;
    switch (f.code) {
      case ST: case STX: valid |= 1 << f.k; break;
      case LD | MEM: case LDX | MEM:
        if (!(valid & (1 << f.k))) throw new FilterRejected(`pc ${pc}: reads scratch word ${f.k} before any write`);
        break;
      case JMP | JA:
        masks[pc + 1 + f.k]! &= valid;
        valid = 0xffff;
        break;
      default:
        if (CLASS(f.code) === JMP) {
          masks[pc + 1 + f.jt]! &= valid;
          masks[pc + 1 + f.jf]! &= valid;
          valid = 0xffff;
        }
    }
  });
}

/** `struct seccomp_data` as the kernel fills it on a little-endian machine. */
export function seccompData(nr: number, arch: number, args: readonly bigint[], ip = 0n): Uint8Array {
  const data = new Uint8Array(SECCOMP_DATA_SIZE);
  const view = new DataView(data.buffer);
  view.setInt32(0, nr | 0, true);
  view.setUint32(4, arch >>> 0, true);
  view.setBigUint64(8, BigInt.asUintN(64, ip), true);
  for (let i = 0; i < 6; i++) view.setBigUint64(16 + 8 * i, BigInt.asUintN(64, args[i] ?? 0n), true);
  return data;
}

/** Runs a program that passed checkSeccompFilter on one seccomp_data; returns the filter's u32 result. */
export function run(insns: readonly Insn[], data: Uint8Array): number {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const mem = new Uint32Array(MEMWORDS);
  let a = 0, x = 0;
  for (let pc = 0; pc < insns.length; pc++) {
    const f = insns[pc]!;
    const src = (f.code & X) ? x : f.k;
    switch (CLASS(f.code)) {
      case LD:
        if (f.code === (LD | W | ABS)) a = view.getUint32(f.k, true);
        else if (f.code === (LD | IMM)) a = f.k;
        else if (f.code === (LD | MEM)) a = mem[f.k]!;
        else if (f.code === (LD | W | LEN)) a = SECCOMP_DATA_SIZE;
        break;
      case LDX:
        if (f.code === (LDX | IMM)) x = f.k;
        else if (f.code === (LDX | MEM)) x = mem[f.k]!;
        else if (f.code === (LDX | W | LEN)) x = SECCOMP_DATA_SIZE;
        break;
      case ST: mem[f.k] = a; break;
      case STX: mem[f.k] = x; break;
      case ALU:
        switch (f.code & 0xf0) {
          case ADD: a = (a + src) >>> 0; break;
          case SUB: a = (a - src) >>> 0; break;
          case MUL: a = Math.imul(a, src) >>> 0; break;
          // Division by a zero X makes the program return 0 (the kernel's classic-to-eBPF conversion).
          case DIV: if (src === 0) return 0; a = Math.floor(a / src) >>> 0; break;
          case OR: a = (a | src) >>> 0; break;
          case AND: a = (a & src) >>> 0; break;
          case XOR: a = (a ^ src) >>> 0; break;
          // Shifts by X >= 32 are undefined in C; x86 and arm64 JITs use the count modulo 32.
          case LSH: a = (a << (src & 31)) >>> 0; break;
          case RSH: a = a >>> (src & 31); break;
          case NEG: a = (-a) >>> 0; break;
        }
        break;
      case JMP: {
        if ((f.code & 0xf0) === JA) { pc += f.k; break; }
        let taken: boolean;
        switch (f.code & 0xf0) {
          case JEQ: taken = a === src; break;
          case JGT: taken = a > src; break;
          case JGE: taken = a >= src; break;
          default: taken = (a & src) !== 0; break; // JSET
        }
        pc += taken ? f.jt : f.jf;
        break;
      }
      case RET: return (f.code & A) ? a : f.k;
      case MISC: if ((f.code & 0xf8) === TAX) x = a; else if ((f.code & 0xf8) === TXA) a = x; break;
    }
  }
  throw new Error('ran off the end of the program (checkSeccompFilter should have refused it)');
}

/** Decodes and checks once; the returned function runs the filter on (nr, arch, args). */
export function loadSeccompFilter(program: Uint8Array): (nr: number, arch: number, args: readonly bigint[]) => number {
  const insns = decode(program);
  checkSeccompFilter(insns);
  return (nr, arch, args) => run(insns, seccompData(nr, arch, args));
}
