// Compiles the union of the policies' interests into the classic-BPF seccomp filter the launcher
// installs. Calls nobody is interested in return SECCOMP_RET_ALLOW inside the kernel (no round trip);
// calls of interest whose declared argument predicate holds return SECCOMP_RET_USER_NOTIF. The predicate
// is compiled exactly (src/filter/predicate.ts is the definition; the tests hold this file to it).
// docs/filter.md explains the layout; the comments here say why each piece is shaped the way it is.
import {
  ARCH_NAMES, AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT,
  syscallName, syscallNumber, type ArchName,
} from '../syscalls/tables.js';
import {
  BPF_ABS, BPF_ALU, BPF_AND, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_K, BPF_LD, BPF_MAXINSNS, BPF_RET, BPF_W,
  SECCOMP_DATA_ARCH, SECCOMP_DATA_NR, SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_USER_NOTIF,
  argHighOffset, argLowOffset, encodeProgram, jump, stmt, type SockFilter,
} from './bpf.js';
import { mergeInterests } from './interest.js';
import type { ArgCondition, CmpOp, CompileOptions, CompiledFilter, SyscallInterest } from './types.js';

const U64_MAX = 0xffff_ffff_ffff_ffffn;
const OPS: readonly CmpOp[] = ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'masked_eq'];
/** Entries compared one by one at a leaf of the syscall-number search tree. */
const LEAF_SIZE = 8;
/** Instructions emitted after a shared return island is first used before a new island is started. */
const ISLAND_SPACING = 160;

// ---------------------------------------------------------------------------------------------------
// Assembler: straight-line code with forward labels. Classic BPF conditional jumps have 8-bit offsets
// (jt/jf <= 255) and no backward jumps; BPF_JA has a 32-bit offset. The assembler starts with every
// conditional jump short and, while some offset does not fit, turns that edge into a short hop to a
// BPF_JA trampoline placed right after the jump ("branch relaxation"). An edge only ever grows, so this
// terminates, and long programs stay correct whatever the layout above it chooses.

class Label {
  index = -1; // position in the item list once placed
  constructor(readonly name: string) {}
}

type Item =
  | { kind: 'insn'; insn: SockFilter; note?: string }
  | { kind: 'jcc'; code: number; k: number; jt: Label; jf: Label; note?: string; longT: boolean; longF: boolean }
  | { kind: 'label'; label: Label };

class Assembler {
  private readonly items: Item[] = [];
  private labelCount = 0;
  private emitted = 0;

  label(name: string): Label {
    return new Label(`${name}#${this.labelCount++}`);
  }

  place(label: Label): void {
    if (label.index >= 0) throw new Error(`internal: label ${label.name} placed twice`);
    label.index = this.items.length;
    this.items.push({ kind: 'label', label });
  }

  emit(insn: SockFilter, note?: string): void {
    this.items.push({ kind: 'insn', insn, note });
    this.emitted++;
  }

  jcc(op: number, k: number, jt: Label, jf: Label, note?: string): void {
    this.items.push({ kind: 'jcc', code: BPF_JMP | op | BPF_K, k: k >>> 0, jt, jf, note, longT: false, longF: false });
    this.emitted++;
  }

  /** Instructions emitted so far if every jump stays short (a lower bound, used for island spacing). */
  get roughLength(): number {
    return this.emitted;
  }

  assemble(): { insns: SockFilter[]; notes: (string | undefined)[] } {
    const size = (item: Item): number =>
      item.kind === 'label' ? 0 : item.kind === 'jcc' ? 1 + Number(item.longT) + Number(item.longF) : 1;
    const addr = new Array<number>(this.items.length + 1);
    const target = (label: Label, from: number): number => {
      if (label.index < 0) throw new Error(`internal: label ${label.name} never placed`);
      if (label.index <= from) throw new Error(`internal: backward jump to ${label.name}`);
      return addr[label.index]!;
    };
    for (let changed = true; changed;) {
      changed = false;
      let a = 0;
      this.items.forEach((item, i) => { addr[i] = a; a += size(item); });
      addr[this.items.length] = a;
      this.items.forEach((item, i) => {
        if (item.kind !== 'jcc') return;
        const next = addr[i]! + 1;
        if (!item.longT && target(item.jt, i) - next > 255) { item.longT = true; changed = true; }
        if (!item.longF && target(item.jf, i) - next > 255) { item.longF = true; changed = true; }
      });
    }
    const insns: SockFilter[] = [];
    const notes: (string | undefined)[] = [];
    this.items.forEach((item, i) => {
      const pc = addr[i]!;
      switch (item.kind) {
        case 'label': return;
        case 'insn': insns.push(item.insn); notes.push(item.note); return;
        case 'jcc': {
          const t = target(item.jt, i), f = target(item.jf, i);
          const jt = item.longT ? 0 : t - (pc + 1);
          const jf = item.longF ? Number(item.longT) : f - (pc + 1);
          insns.push(jump(item.code, item.k, jt, jf));
          notes.push(item.note);
          if (item.longT) { insns.push(stmt(BPF_JMP | BPF_JA, t - (pc + 2))); notes.push('trampoline: true branch is more than 255 instructions away'); }
          if (item.longF) {
            const at = pc + 1 + Number(item.longT);
            insns.push(stmt(BPF_JMP | BPF_JA, f - (at + 1)));
            notes.push('trampoline: false branch is more than 255 instructions away');
          }
        }
      }
    });
    return { insns, notes };
  }
}

// ---------------------------------------------------------------------------------------------------
// Interest -> per-syscall plans. Conditions that are constant (`ge 0`, `(a & 0xf) == 0x10`…) are folded
// here so the filter neither tests nor routes what can never (or always) match.

/** Whether a condition holds for every call, for none, or depends on the argument. */
type ConditionTruth = 'always' | 'never' | 'depends';

function conditionTruth(c: ArgCondition): ConditionTruth {
  switch (c.op) {
    case 'ge': return c.value === 0n ? 'always' : 'depends';
    case 'lt': return c.value === 0n ? 'never' : 'depends';
    case 'le': return c.value === U64_MAX ? 'always' : 'depends';
    case 'gt': return c.value === U64_MAX ? 'never' : 'depends';
    case 'masked_eq': {
      const mask = c.mask ?? U64_MAX;
      if ((c.value & ~mask) !== 0n) return 'never';
      return mask === 0n ? 'always' : 'depends';
    }
    default: return 'depends';
  }
}

function describeCondition(c: ArgCondition): string {
  const hex = (v: bigint): string => '0x' + v.toString(16);
  if (c.op === 'masked_eq') return `(arg${c.arg} & ${hex(c.mask ?? U64_MAX)}) == ${hex(c.value)}`;
  const sym = { eq: '==', ne: '!=', lt: '<', le: '<=', gt: '>', ge: '>=' }[c.op];
  return `arg${c.arg} ${sym} ${hex(c.value)}`;
}

function checkCondition(c: ArgCondition, where: string): void {
  if (!Number.isInteger(c.arg) || c.arg < 0 || c.arg > 5) throw new Error(`${where}: arg must be 0..5, got ${c.arg}`);
  if (!OPS.includes(c.op)) throw new Error(`${where}: unknown operator "${String(c.op)}"`);
  const u64 = (v: unknown): boolean => typeof v === 'bigint' && v >= 0n && v <= U64_MAX;
  if (!u64(c.value)) throw new Error(`${where}: value must be a bigint in 0..2^64-1`);
  if (c.op === 'masked_eq' ? c.mask !== undefined && !u64(c.mask) : c.mask !== undefined) {
    throw new Error(`${where}: mask must be a bigint in 0..2^64-1, and only given with masked_eq`);
  }
}

/** 'always' = every call; otherwise a non-empty OR of non-empty AND-groups of non-constant conditions. */
type Plan = 'always' | ArgCondition[][];

function planFor(entry: SyscallInterest, warnings: string[]): Plan | 'never' {
  if (!entry.when || entry.when.length === 0) return 'always';
  const groups: ArgCondition[][] = [];
  for (const [g, group] of entry.when.entries()) {
    const kept: ArgCondition[] = [];
    let never: ArgCondition | undefined;
    for (const [i, c] of group.entries()) {
      checkCondition(c, `${entry.syscall}: when[${g}][${i}]`);
      const truth = conditionTruth(c);
      if (truth === 'never') { never = c; break; }
      if (truth === 'depends') kept.push(c);
    }
    if (never) {
      warnings.push(`${entry.syscall}: condition group ${g} can never match (${describeCondition(never)} is always false)`);
      continue;
    }
    if (kept.length === 0) return 'always';
    groups.push(kept);
  }
  if (groups.length === 0) return 'never';
  return groups;
}

function planKey(plan: ArgCondition[][]): string {
  return JSON.stringify(plan.map((group) => group.map((c) => [c.arg, c.op, c.value.toString(16), (c.mask ?? U64_MAX).toString(16)])));
}

// ---------------------------------------------------------------------------------------------------
// Code generation.

const lo32 = (v: bigint): number => Number(v & 0xffff_ffffn);
const hi32 = (v: bigint): number => Number((v >> 32n) & 0xffff_ffffn);

class FilterCodegen {
  readonly asm = new Assembler();
  private readonly blocks = new Map<string, { label: Label; plan: ArgCondition[][]; emitted: boolean; names: Set<string> }>();
  // Shared `ret ALLOW` / `ret ACTION` instructions. A block ends in jumps to these rather than in its own
  // returns, which halves the size of a typical one-condition block; a new island is started every
  // ISLAND_SPACING instructions so that the 8-bit jumps to it stay short.
  private island = this.newIsland();

  /** For each block (by plan key), the entry emitted last that jumps to it; filled before emitting. */
  private readonly lastUse = new Map<string, Entry>();

  constructor(private readonly action: number) {}

  /** Call for every search tree, in emission order, before emitting any: trees emit entries in order. */
  willEmitTree(entries: readonly Entry[]): void {
    for (const e of entries) if (e.plan !== 'always' && e.plan !== 'allow') this.lastUse.set(planKey(e.plan), e);
  }

  private newIsland(): { allow: Label; action: Label; usedAllow: boolean; usedAction: boolean; firstUse: number } {
    return { allow: this.asm.label('allow'), action: this.asm.label('notify'), usedAllow: false, usedAction: false, firstUse: -1 };
  }

  retAllow(): Label {
    this.island.usedAllow = true;
    if (this.island.firstUse < 0) this.island.firstUse = this.asm.roughLength;
    return this.island.allow;
  }

  retAction(): Label {
    this.island.usedAction = true;
    if (this.island.firstUse < 0) this.island.firstUse = this.asm.roughLength;
    return this.island.action;
  }

  /** Emits the current island if due (or `force`). Only call where execution cannot fall through. */
  flushIsland(force: boolean): void {
    const island = this.island;
    if (island.firstUse < 0) return;
    if (!force && this.asm.roughLength - island.firstUse < ISLAND_SPACING) return;
    this.island = this.newIsland();
    if (island.usedAllow) { this.asm.place(island.allow); this.asm.emit(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), 'shared return: not of interest'); }
    if (island.usedAction) { this.asm.place(island.action); this.asm.emit(stmt(BPF_RET | BPF_K, this.action), 'shared return: of interest, ask the supervisor'); }
  }

  blockFor(name: string, plan: ArgCondition[][]): Label {
    const key = planKey(plan);
    let block = this.blocks.get(key);
    if (!block) this.blocks.set(key, (block = { label: this.asm.label(`block:${name}`), plan, emitted: false, names: new Set() }));
    block.names.add(name);
    return block.label;
  }

  private ld(offset: number, note?: string): void {
    this.asm.emit(stmt(BPF_LD | BPF_W | BPF_ABS, offset), note);
  }

  /**
   * One 64-bit unsigned comparison as comparisons of 32-bit halves (classic BPF registers are 32 bits;
   * seccomp_data.args[i] is two words, low word first on little-endian hosts). Ends by jumping to
   * `pass` or `fail` on every path. For the orderings: the high halves decide unless they are equal,
   * then the low halves do.
   */
  private condition(c: ArgCondition, pass: Label, fail: Label, note?: string): void {
    const a = this.asm;
    const hiOff = argHighOffset(c.arg), loOff = argLowOffset(c.arg);
    const vHi = hi32(c.value), vLo = lo32(c.value);
    const text = note ?? describeCondition(c);
    switch (c.op) {
      case 'eq': {
        const low = a.label('eq.lo');
        this.ld(hiOff, text);
        a.jcc(BPF_JEQ, vHi, low, fail);
        a.place(low);
        this.ld(loOff);
        a.jcc(BPF_JEQ, vLo, pass, fail);
        return;
      }
      case 'ne': {
        const low = a.label('ne.lo');
        this.ld(hiOff, text);
        a.jcc(BPF_JEQ, vHi, low, pass);
        a.place(low);
        this.ld(loOff);
        a.jcc(BPF_JEQ, vLo, fail, pass);
        return;
      }
      case 'gt':
      case 'ge': {
        // a > v  ⇔  hi(a) > hi(v)  ∨  (hi(a) == hi(v) ∧ lo(a) > lo(v));  ≥ likewise with lo(a) ≥ lo(v).
        const sameHigh = a.label('cmp.hi=='), low = a.label('cmp.lo');
        this.ld(hiOff, text);
        a.jcc(BPF_JGT, vHi, pass, sameHigh);
        a.place(sameHigh);
        a.jcc(BPF_JEQ, vHi, low, fail);
        a.place(low);
        this.ld(loOff);
        a.jcc(c.op === 'gt' ? BPF_JGT : BPF_JGE, vLo, pass, fail);
        return;
      }
      case 'lt':
      case 'le': {
        // a < v  ⇔  ¬(a ≥ v);  a ≤ v  ⇔  ¬(a > v): the same tests with the outcomes swapped.
        const sameHigh = a.label('cmp.hi=='), low = a.label('cmp.lo');
        this.ld(hiOff, text);
        a.jcc(BPF_JGT, vHi, fail, sameHigh);
        a.place(sameHigh);
        a.jcc(BPF_JEQ, vHi, low, pass);
        a.place(low);
        this.ld(loOff);
        a.jcc(c.op === 'lt' ? BPF_JGE : BPF_JGT, vLo, fail, pass);
        return;
      }
      case 'masked_eq': {
        // Each half: (half & mask half) == value half. A half whose mask is 0 is skipped: folding in
        // planFor already turned a nonzero value under a zero mask into "never".
        const mask = c.mask ?? U64_MAX;
        const halves = [
          { off: hiOff, m: hi32(mask), v: vHi },
          { off: loOff, m: lo32(mask), v: vLo },
        ].filter((h) => h.m !== 0);
        halves.forEach((h, i) => {
          const last = i === halves.length - 1;
          const next = last ? pass : a.label('masked.lo');
          this.ld(h.off, i === 0 ? text : undefined);
          if (h.m !== 0xffff_ffff) a.emit(stmt(BPF_ALU | BPF_AND | BPF_K, h.m));
          a.jcc(BPF_JEQ, h.v, next, fail);
          if (!last) a.place(next);
        });
        return;
      }
    }
  }

  /** A syscall's argument predicate: OR of AND-groups, each group falling through to the next on failure. */
  private emitBlock(key: string): void {
    const block = this.blocks.get(key)!;
    if (block.emitted) return;
    block.emitted = true;
    this.asm.place(block.label);
    block.plan.forEach((group, g) => {
      const lastGroup = g === block.plan.length - 1;
      const nextGroup = lastGroup ? this.retAllow() : this.asm.label('or');
      group.forEach((c, i) => {
        const lastCond = i === group.length - 1;
        const pass = lastCond ? this.retAction() : this.asm.label('and');
        const note = g === 0 && i === 0
          ? `${[...block.names].join(', ')}: ${describeCondition(c)}`
          : `${i === 0 ? 'or' : 'and'} ${describeCondition(c)}`;
        this.condition(c, pass, nextGroup, note);
        if (!lastCond) this.asm.place(pass);
      });
      if (!lastGroup) this.asm.place(nextGroup);
    });
    this.flushIsland(false);
  }

  /**
   * Binary search over the (unsigned, ascending) syscall numbers of one ABI, with A = nr. Internal nodes
   * split with one `jge`; leaves compare up to LEAF_SIZE numbers with `jeq`. Only ld/jeq/jge/ja/ret lie
   * on the way to "not of interest", which is what the kernel's seccomp action cache (5.11+) can
   * evaluate: it then proves those syscalls always ALLOW and skips the filter for them altogether.
   * A block follows the leaf of the last entry that jumps to it (jumps only go forward), so the jumps of
   * the last tree to use a block are mostly short; earlier trees reach it through trampolines.
   * `miss` is where a number of no interest goes (the shared ALLOW unless given).
   */
  searchTree(entries: readonly Entry[], what: string, miss?: Label): void {
    const a = this.asm;
    if (entries.length > LEAF_SIZE) {
      const mid = entries.length >> 1;
      const right = a.label('tree.right'), left = a.label('tree.left');
      a.jcc(BPF_JGE, entries[mid]!.nr, right, left, `${what}: nr >= ${hexNr(entries[mid]!.nr)}?`);
      a.place(left);
      this.searchTree(entries.slice(0, mid), what, miss);
      a.place(right);
      this.searchTree(entries.slice(mid), what, miss);
      return;
    }
    const pending: string[] = [];
    entries.forEach((e, i) => {
      let hit: Label;
      if (e.plan === 'always') hit = this.retAction();
      else if (e.plan === 'allow') hit = this.retAllow();
      else {
        hit = this.blockFor(e.name, e.plan);
        const key = planKey(e.plan);
        // BPF only jumps forward, so a block shared by several entries (one syscall on several ABIs, or
        // syscalls with identical conditions) goes after the leaf of the last entry that uses it.
        if (this.lastUse.get(key) === e) pending.push(key);
      }
      const last = i === entries.length - 1;
      const next = last ? (miss ?? this.retAllow()) : a.label('leaf.next');
      const why = e.plan === 'always' ? ' (every call)' : e.plan === 'allow' ? ' (not of interest on this ABI)' : '';
      a.jcc(BPF_JEQ, e.nr, hit, next, `${what} ${hexNr(e.nr)} = ${e.name}${why}`);
      if (!last) a.place(next);
    });
    for (const key of pending) this.emitBlock(key);
    this.flushIsland(false);
  }
}

const hexNr = (nr: number): string => (nr >= X32_SYSCALL_BIT ? '0x' + nr.toString(16) : String(nr));

// ---------------------------------------------------------------------------------------------------

interface Entry {
  nr: number;
  name: string;
  /** 'allow' only in the x32 exception tree: a number x32 does not route although x86_64 would. */
  plan: Plan | 'allow';
}

const HOST_ABIS: Record<CompileOptions['hostArch'], ArchName[]> = {
  x86_64: ['x86_64', 'x32', 'i386'],
  aarch64: ['aarch64'],
};

/** The `hostArch` for the machine Node runs on. */
export function currentHostArch(nodeArch: string = process.arch): CompileOptions['hostArch'] {
  if (nodeArch === 'x64') return 'x86_64';
  if (nodeArch === 'arm64') return 'aarch64';
  throw new Error(`wasmsup supports x86_64 and aarch64 hosts, not ${nodeArch}`);
}

/**
 * Compiles `interests` (merged per syscall first) into a seccomp filter for `opts.hostArch`. Throws on a
 * syscall name no ABI knows, on malformed conditions, and when the program would exceed the kernel's
 * 4096 instructions.
 */
export function compileFilter(interests: readonly SyscallInterest[], opts: CompileOptions): CompiledFilter {
  const hostAbis = Object.hasOwn(HOST_ABIS, opts.hostArch) ? HOST_ABIS[opts.hostArch] : undefined;
  if (!hostAbis) throw new Error(`compileFilter: hostArch must be "x86_64" or "aarch64", got ${JSON.stringify(opts.hostArch)}`);
  const action = opts.action ?? SECCOMP_RET_USER_NOTIF;
  if (!Number.isInteger(action) || action < 0 || action > 0xffff_ffff) throw new Error(`compileFilter: action must be a u32, got ${action}`);

  const warnings: string[] = [];
  const plans = new Map<string, Plan>();
  for (const entry of mergeInterests([interests])) {
    if (!ARCH_NAMES.some((arch) => syscallNumber(arch, entry.syscall) !== undefined)) {
      throw new Error(`compileFilter: unknown syscall "${entry.syscall}" (no x86_64, i386, x32 or aarch64 syscall has that name)`);
    }
    const plan = planFor(entry, warnings);
    if (plan === 'never') {
      warnings.push(`${entry.syscall}: no condition group can match; the syscall is not routed`);
      continue;
    }
    if (!hostAbis.some((arch) => syscallNumber(arch, entry.syscall) !== undefined)) {
      warnings.push(`${entry.syscall}: not a syscall on ${opts.hostArch} hosts (${hostAbis.join(', ')}); never routed here`);
    }
    plans.set(entry.syscall, plan);
  }

  // Per ABI: the routed numbers, ascending as the kernel compares them (unsigned 32-bit).
  const routed: Record<ArchName, number[]> = { x86_64: [], i386: [], x32: [], aarch64: [] };
  const entriesOf = (arch: ArchName): Entry[] => {
    const list: Entry[] = [];
    for (const [name, plan] of plans) {
      const nr = syscallNumber(arch, name);
      if (nr !== undefined) list.push({ nr, name, plan });
    }
    return list.sort((x, y) => x.nr - y.nr);
  };
  for (const arch of hostAbis) routed[arch] = entriesOf(arch).map((e) => e.nr);

  const gen = new FilterCodegen(action);
  const a = gen.asm;
  const ldArch = (): void => a.emit(stmt(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_ARCH), 'A = seccomp_data.arch: which ABI is calling decides what nr means');
  const kill = (): void => a.emit(stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    'an ABI we have no syscall table for: its numbers mean something else, so neither ALLOW (would bypass the policies) nor NOTIFY (wrong names)');

  if (opts.hostArch === 'x86_64') {
    const x86 = a.label('x86'), notX86 = a.label('not-x86'), i386 = a.label('i386'), other = a.label('other');
    ldArch();
    a.jcc(BPF_JEQ, AUDIT_ARCH_X86_64, x86, notX86, 'AUDIT_ARCH_X86_64: x86_64 or x32');
    a.place(notX86);
    a.jcc(BPF_JEQ, AUDIT_ARCH_I386, i386, other, 'AUDIT_ARCH_I386: 32-bit code (int 0x80 or a compat process)');
    a.place(other);
    kill();

    const native = entriesOf('x86_64'), x32 = entriesOf('x32'), i386Entries = entriesOf('i386');
    const exceptions = x32.length > 0 ? x32Exceptions(native, x32, plans) : undefined;
    if (exceptions) gen.willEmitTree(exceptions);
    gen.willEmitTree(native);
    gen.willEmitTree(i386Entries);

    a.place(x86);
    emitX86(gen, native, exceptions);
    a.place(i386);
    emitAbi(gen, i386Entries, 'i386');
  } else {
    const a64 = a.label('aarch64'), other = a.label('other');
    ldArch();
    a.jcc(BPF_JEQ, AUDIT_ARCH_AARCH64, a64, other, 'AUDIT_ARCH_AARCH64 (32-bit arm compat tasks have AUDIT_ARCH_ARM and are killed)');
    a.place(other);
    kill();
    const a64Entries = entriesOf('aarch64');
    gen.willEmitTree(a64Entries);
    a.place(a64);
    emitAbi(gen, a64Entries, 'aarch64');
  }
  gen.flushIsland(true);

  const { insns, notes } = a.assemble();
  if (insns.length > BPF_MAXINSNS) {
    const conditional = [...plans.values()].filter((p) => p !== 'always').length;
    throw new Error(
      `seccomp filter too long: ${insns.length} instructions, the kernel accepts at most ${BPF_MAXINSNS} ` +
      `(interest in ${plans.size} syscalls, ${conditional} with argument conditions); declare fewer syscalls or simpler conditions`,
    );
  }
  return { program: encodeProgram(insns), length: insns.length, routed, warnings, notes };
}

/** One ABI's section: A is loaded with nr, then the search tree (or a plain ALLOW when nothing is routed). */
function emitAbi(gen: FilterCodegen, entries: Entry[], what: string): void {
  const a = gen.asm;
  if (entries.length === 0) {
    a.emit(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), `${what}: nothing of interest`);
    return;
  }
  a.emit(stmt(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_NR), `${what}: A = seccomp_data.nr`);
  gen.searchTree(entries, what);
}

/**
 * AUDIT_ARCH_X86_64 carries two ABIs: x32 numbers have __X32_SYSCALL_BIT set. Most x32 syscalls are the
 * x86_64 syscall of the same number plus the bit, so rather than a second full tree the x32 path checks
 * only the numbers where the two ABIs differ for this interest (x32's own 512+ range, and x86_64
 * numbers x32 lacks), then clears the bit and joins the x86_64 tree. The differences are computed here
 * from the tables, not assumed.
 */
function x32Exceptions(native: Entry[], x32: Entry[], plans: Map<string, Plan>): Entry[] {
  const planKeyOf = (name: string | undefined): string | undefined => {
    if (name === undefined) return undefined;
    const plan = plans.get(name);
    return plan === undefined ? undefined : plan === 'always' ? 'always' : planKey(plan);
  };
  const lows = new Set<number>([...native.map((e) => e.nr), ...x32.map((e) => e.nr - X32_SYSCALL_BIT)]);
  const exceptions: Entry[] = [];
  for (const low of [...lows].sort((p, q) => p - q)) {
    const x32Name = syscallName('x32', low + X32_SYSCALL_BIT);
    if (planKeyOf(x32Name) === planKeyOf(syscallName('x86_64', low))) continue;
    const x32Plan = x32Name === undefined ? undefined : plans.get(x32Name);
    exceptions.push({
      nr: low + X32_SYSCALL_BIT,
      name: x32Name ?? `(x32 has no ${syscallName('x86_64', low)})`,
      plan: x32Plan ?? 'allow',
    });
  }
  return exceptions;
}

/** `exceptions` undefined: nothing is routed for x32 (see x32Exceptions). */
function emitX86(gen: FilterCodegen, native: Entry[], exceptions: Entry[] | undefined): void {
  const a = gen.asm;
  if (!exceptions) {
    // x32 numbers (all >= 0x40000000) never equal an x86_64 one, so the x86_64 tree alone already lets
    // them through.
    emitAbi(gen, native, 'x86_64');
    return;
  }
  const x32Label = a.label('x32'), x86_64 = a.label('x86_64'), join = a.label('x32.join');
  a.emit(stmt(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_NR), 'A = seccomp_data.nr');
  a.jcc(BPF_JGE, X32_SYSCALL_BIT, x32Label, x86_64, 'nr >= __X32_SYSCALL_BIT: an x32 syscall');
  a.place(x32Label);
  if (exceptions.length > 0) gen.searchTree(exceptions, 'x32', join);
  a.place(join);
  a.emit(stmt(BPF_ALU | BPF_AND | BPF_K, ~X32_SYSCALL_BIT >>> 0), 'x32: clear the bit; from here x32 means the same as x86_64');
  a.place(x86_64);
  if (native.length === 0) a.emit(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), 'x86_64: nothing of interest');
  else gen.searchTree(native, 'x86_64');
}
