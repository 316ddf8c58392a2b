// Fuzz target: the filter compiler and the data plane's dispatch against the declared predicate
// (docs/reliability.md, item 6). For random interests (real names of every ABI, names that exist on
// only some, invented_K names) and random calls (arch: the host's ABIs, foreign and garbage; nr: the
// interest's own numbers, other ABIs' numbers, the invented range and its edges, the x32 bit, fully
// random 32-bit values; args steered to hit or just miss a condition group), three answers must agree:
//   - the compiled BPF, run by the independent interpreter of test/support/bpf-interpreter.ts (which
//     also applies the kernel's load-time checks), returns USER_NOTIF / ALLOW / KILL_PROCESS;
//   - matchesInterest, the declared predicate (src/filter/predicate.ts);
//   - InterestMatcher (src/dataplane/dispatch.ts) on the portable id the worker computes, which decides
//     which policy is asked once the notification arrives.
// Runs for WASMSUP_FUZZ_SECONDS (default 8) with WASMSUP_FUZZ_SEED (printed) reproducing the run.
// test/unit/filter.test.ts holds the fixed-count version and the hand-written cases.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compileFilter } from '../../src/filter/compile.js';
import { SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_USER_NOTIF } from '../../src/filter/bpf.js';
import { matchesInterest } from '../../src/filter/predicate.js';
import type { ArgCondition, CmpOp, SyscallInterest } from '../../src/filter/types.js';
import { InterestMatcher } from '../../src/dataplane/dispatch.js';
import {
  ARCHES, AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, INVENTED_COUNT, INVENTED_NR_BASE, PORTABLE_COUNT, X32_SYSCALL_BIT,
  portableIdFor, portableName, syscallNumber, type ArchName,
} from '../../src/syscalls/tables.js';
import { loadSeccompFilter } from '../support/bpf-interpreter.js';
import { SeededRandom, fuzzSeconds } from '../support/seeded-random.js';
import { steerArgument } from '../support/steer-argument.js';

type Host = 'x86_64' | 'aarch64';
const SECONDS = fuzzSeconds(8);
const rng = SeededRandom.fromEnv('WASMSUP_FUZZ_SEED');
console.log(`fuzz-filter: seed ${rng.seed} (rerun with WASMSUP_FUZZ_SEED=${rng.seed}), ${SECONDS} s`);

const U64_MAX = 0xffff_ffff_ffff_ffffn;
const EDGES = [0n, 1n, 0xffff_ffffn, 0x1_0000_0000n, 1n << 63n, (1n << 63n) - 1n, U64_MAX, 0xf000n, 0x2000n];
const OPS: CmpOp[] = ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'masked_eq'];
const TRICKY = ['mknod', 'mknodat', 'getppid', 'rt_sigaction', 'ioctl', 'execve', '_sysctl', 'waitpid', 'socketcall', 'fcntl64',
  'mmap2', 'newfstatat', 'fstatat64', 'clone3', 'preadv2', 'uselib', 'vserver'];
const AUDIT_ARCH_ARM = 0x40000028;

const value = (): bigint => {
  const r = rng.below(8);
  return r < 3 ? rng.pick(EDGES) : r < 5 ? BigInt(rng.below(0x10000)) : r < 6 ? BigInt(rng.u32()) << 32n : rng.u64();
};

function condition(): ArgCondition {
  const op = rng.pick(OPS);
  const arg = rng.below(6);
  if (op !== 'masked_eq') return { arg, op, value: value() };
  const mask = rng.chance(0.3) ? rng.pick([0xf000n, 0xffff_ffffn, U64_MAX, 1n << 63n, 0n]) : rng.u64() & (rng.chance(0.5) ? 0xffff_ffffn : U64_MAX);
  return { arg, op, value: rng.chance(0.85) ? value() & mask : value(), mask };
}

const invented = () => `invented_${rng.chance(0.5) ? rng.pick([0, 1, INVENTED_COUNT - 1]) : rng.below(INVENTED_COUNT)}`;

function interest(): SyscallInterest[] {
  const list: SyscallInterest[] = [];
  for (let n = 1 + rng.below(rng.chance(0.2) ? 30 : 6); n > 0; n--) {
    const r = rng.below(10);
    const syscall = r < 3 ? invented() : r < 6 ? rng.pick(TRICKY) : portableName(1 + rng.below(PORTABLE_COUNT))!;
    if (rng.chance(0.3)) { list.push({ syscall }); continue; }
    list.push({ syscall, when: Array.from({ length: 1 + rng.below(3) }, () => Array.from({ length: 1 + rng.below(3) }, condition)) });
  }
  return list;
}

const steer = (c: ArgCondition, miss: boolean): bigint => steerArgument(rng, c, miss);

function abiOf(host: Host, arch: number, nr: number): ArchName | undefined {
  if (host === 'x86_64') {
    if (arch === AUDIT_ARCH_X86_64) return (nr >>> 0) >= X32_SYSCALL_BIT ? 'x32' : 'x86_64';
    return arch === AUDIT_ARCH_I386 ? 'i386' : undefined;
  }
  return arch === AUDIT_ARCH_AARCH64 ? 'aarch64' : undefined;
}

function number(host: Host, abi: ArchName | undefined, entry: SyscallInterest): number {
  const abis: ArchName[] = host === 'x86_64' ? ['x86_64', 'x32', 'i386'] : ['aarch64'];
  const r = rng.below(20);
  const own = abi ? syscallNumber(abi, entry.syscall) : undefined;
  if (r < 10 && own !== undefined) return own;
  if (r < 12) return syscallNumber(rng.pick(abis), entry.syscall) ?? rng.below(600);
  if (r < 15) { // the invented range, its edges, and the same with high bits
    const nr = INVENTED_NR_BASE + rng.pick([-1, 0, 1, rng.below(INVENTED_COUNT), INVENTED_COUNT - 1, INVENTED_COUNT]);
    return (rng.chance(0.25) ? nr | rng.pick([X32_SYSCALL_BIT, 0x80000000]) : nr) | 0;
  }
  if (r < 17) return rng.u32() | 0;
  return abi === 'x32' ? X32_SYSCALL_BIT + rng.below(600) : rng.below(600);
}

test(`filter fuzz (${SECONDS} s): BPF result, declared predicate and data-plane dispatch agree`, () => {
  const tally = { cases: 0, filters: 0, notify: 0, allow: 0, kill: 0, invented: 0 };
  const words = new Uint32Array(32);
  const deadline = performance.now() + SECONDS * 1000;
  while (performance.now() < deadline) {
    const host: Host = rng.chance(0.75) ? 'x86_64' : 'aarch64';
    const interests = interest();
    const filter = compileFilter(interests, { hostArch: host });
    const run = loadSeccompFilter(filter.program);
    const matcher = new InterestMatcher(interests);
    tally.filters++;
    const hostAbis: ArchName[] = host === 'x86_64' ? ['x86_64', 'x32', 'i386'] : ['aarch64'];
    for (let i = 0; i < 100; i++) {
      let abi: ArchName | undefined = rng.pick(hostAbis);
      let arch = ARCHES[abi].auditArch;
      if (rng.chance(0.08)) { abi = undefined; arch = rng.pick([AUDIT_ARCH_ARM, rng.u32(), host === 'x86_64' ? AUDIT_ARCH_AARCH64 : AUDIT_ARCH_X86_64]); }
      const entry = rng.pick(interests);
      const nr = number(host, abi, entry);
      const args = Array.from({ length: 6 }, value);
      if (entry.when && rng.chance(0.8)) {
        const group = rng.pick(entry.when);
        const miss = rng.chance(0.4) ? rng.below(group.length) : -1;
        group.forEach((c, ci) => { args[c.arg] = steer(c, ci === miss); });
      }
      const callAbi = abiOf(host, arch, nr);
      const declared = callAbi ? matchesInterest(interests, callAbi, nr, args) : false;
      const want = callAbi ? (declared ? SECCOMP_RET_USER_NOTIF : SECCOMP_RET_ALLOW) : SECCOMP_RET_KILL_PROCESS;
      const got = run(nr, arch, args);
      const show = () => `seed ${rng.seed}, host ${host}, arch 0x${(arch >>> 0).toString(16)}, nr 0x${(nr >>> 0).toString(16)}, args [${args.map((a) => '0x' + a.toString(16))}], ` +
        `interest ${JSON.stringify(interests, (_, v) => (typeof v === 'bigint' ? '0x' + v.toString(16) : v))}`;
      if (got !== want) assert.unreachable(`BPF says 0x${got.toString(16)}, the predicate 0x${want.toString(16)}: ${show()}`);
      if (callAbi) {
        words[4] = nr >>> 0; words[5] = arch >>> 0;
        for (let a = 0; a < 6; a++) { words[8 + 2 * a] = Number(args[a]! & 0xffffffffn); words[9 + 2 * a] = Number(args[a]! >> 32n); }
        const dispatched = matcher.matches(portableIdFor(arch, nr), words);
        if (dispatched !== declared) assert.unreachable(`dispatch says ${dispatched}, the predicate ${declared}: ${show()}`);
      }
      tally.cases++;
      if (nr >>> 0 >= INVENTED_NR_BASE && nr >>> 0 < INVENTED_NR_BASE + INVENTED_COUNT && got === SECCOMP_RET_USER_NOTIF) tally.invented++;
      if (got === SECCOMP_RET_USER_NOTIF) tally.notify++; else if (got === SECCOMP_RET_ALLOW) tally.allow++; else tally.kill++;
    }
  }
  console.log(`  ${tally.cases} cases over ${tally.filters} filters (${Math.round(tally.cases / SECONDS)} cases/s): ` +
    `${tally.notify} notify (${tally.invented} invented), ${tally.allow} allow, ${tally.kill} kill`);
  assert.ok(tally.cases >= 5000, `only ${tally.cases} cases`);
  assert.ok(tally.notify > tally.cases * 0.1 && tally.allow > tally.cases * 0.2 && tally.kill > tally.cases * 0.02, JSON.stringify(tally));
  assert.ok(tally.invented > 0, 'no invented syscall was routed');
});

test.run();
