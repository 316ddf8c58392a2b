// Which loaded policies are asked about a notification. The kernel filter routes the union of all
// policies' interest, so a notification can match one policy's argument conditions and not another's;
// each policy is asked only when its own declared predicate holds. Evaluated per notification, so the
// predicate is compiled once into plain numbers (two 32-bit halves per 64-bit value, as the BPF does)
// and evaluating it allocates nothing.
import type { ArgCondition, CmpOp, SyscallInterest } from '../filter/types.js';
import { INVENTED_ID_BASE, portableId } from '../syscalls/tables.js';
import { argLo } from '../layouts.js';

interface HalfCondition { argLo: number; op: CmpOp; valueLo: number; valueHi: number; maskLo: number; maskHi: number }
type Groups = HalfCondition[][] | true;

function lo32(v: bigint): number { return Number(v & 0xffffffffn); }
function hi32(v: bigint): number { return Number((v >> 32n) & 0xffffffffn); }

function toHalves(c: ArgCondition): HalfCondition {
  const mask = c.mask ?? 0xffffffffffffffffn;
  return { argLo: argLo(c.arg), op: c.op, valueLo: lo32(c.value), valueHi: hi32(c.value), maskLo: lo32(mask), maskHi: hi32(mask) };
}

function holds(c: HalfCondition, words: Uint32Array): boolean {
  const lo = words[c.argLo]!, hi = words[c.argLo + 1]!;
  switch (c.op) {
    case 'eq': return hi === c.valueHi && lo === c.valueLo;
    case 'ne': return hi !== c.valueHi || lo !== c.valueLo;
    case 'masked_eq': return ((hi & c.maskHi) >>> 0) === c.valueHi && ((lo & c.maskLo) >>> 0) === c.valueLo;
    case 'lt': return hi < c.valueHi || (hi === c.valueHi && lo < c.valueLo);
    case 'le': return hi < c.valueHi || (hi === c.valueHi && lo <= c.valueLo);
    case 'gt': return hi > c.valueHi || (hi === c.valueHi && lo > c.valueLo);
    case 'ge': return hi > c.valueHi || (hi === c.valueHi && lo >= c.valueLo);
  }
}

export class InterestMatcher {
  // Indexed by portable syscall id; undefined = not interested. Invented syscalls (ids from
  // INVENTED_ID_BASE) have their own array, indexed from 0, so this one stays small and dense.
  private readonly byPortable: (Groups | undefined)[] = [];
  private readonly byInvented: (Groups | undefined)[] = [];

  constructor(interest: readonly SyscallInterest[]) {
    for (const entry of interest) {
      const id = portableId(entry.syscall);
      if (id === 0) continue;
      const table = id >= INVENTED_ID_BASE ? this.byInvented : this.byPortable;
      const index = id >= INVENTED_ID_BASE ? id - INVENTED_ID_BASE : id;
      const previous = table[index];
      if (previous === true) continue;
      if (!entry.when || entry.when.length === 0) { table[index] = true; continue; }
      const groups = entry.when.map((group) => group.map(toHalves));
      table[index] = previous ? previous.concat(groups) : groups;
    }
  }

  /** `words` is the notification (struct seccomp_notif) as a Uint32Array. */
  matches(portable: number, words: Uint32Array): boolean {
    const groups = portable >= INVENTED_ID_BASE ? this.byInvented[portable - INVENTED_ID_BASE] : this.byPortable[portable];
    if (groups === undefined) return false;
    if (groups === true) return true;
    for (let g = 0; g < groups.length; g++) {
      const group = groups[g]!;
      let all = true;
      for (let i = 0; i < group.length && all; i++) all = holds(group[i]!, words);
      if (all) return true;
    }
    return false;
  }
}
