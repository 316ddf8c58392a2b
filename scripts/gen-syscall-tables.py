#!/usr/bin/env python3
"""Generate wasmsup's syscall tables from the kernel uapi headers of this machine.

Run by hand when the headers gain syscalls; the outputs are checked in:

  src/syscalls/portable-ids.txt   the portable syscall identity list (line number = portable id)
  src/syscalls/tables.ts          per-arch number <-> name tables and the per-notification lookup
  assembly/syscalls.ts            `Sys.<name>` portable ids and AUDIT_ARCH_* for policy authors

portable-ids.txt is APPEND-ONLY: compiled policies carry these ids (Sys.mknod is a constant baked into
the wasm), so an id must mean the same syscall forever. Existing lines are kept where they are, even
when a name no longer appears in the headers given; names not seen before are appended. The first run
writes the x86_64 names in number order, then the names only other arches have.

Usage: scripts/gen-syscall-tables.py [--x86-64 H] [--i386 H] [--x32 H] [--x86-unistd H]
                                     [--generic H] [--include-dir D] [--cpp CPP] [--root DIR] [--check]
"""

import argparse
import ast
import os
import re
import subprocess
import sys
import tempfile

ASM_DIR = '/usr/include/x86_64-linux-gnu/asm'

# AUDIT_ARCH_* = EM_* | __AUDIT_ARCH_64BIT (0x80000000, 64-bit ABIs) | __AUDIT_ARCH_LE (0x40000000),
# from linux/audit.h and linux/elf-em.h. They are kernel ABI and never change.
AUDIT_ARCH_64BIT = 0x80000000
AUDIT_ARCH_LE = 0x40000000
EM_386, EM_X86_64, EM_AARCH64 = 3, 62, 183
AUDIT_ARCH_I386 = EM_386 | AUDIT_ARCH_LE
AUDIT_ARCH_X86_64 = EM_X86_64 | AUDIT_ARCH_64BIT | AUDIT_ARCH_LE
AUDIT_ARCH_AARCH64 = EM_AARCH64 | AUDIT_ARCH_64BIT | AUDIT_ARCH_LE

# Used only when asm/unistd.h (which defines it) is not next to unistd_x32.h; it is x86 ABI.
X32_SYSCALL_BIT_DEFAULT = 0x40000000

# What arch/arm64/include/uapi/asm/unistd.h defines before including asm-generic/unistd.h, plus the word
# size so that the __NR3264_* numbers take their 64-bit names (fcntl, not fcntl64).
AARCH64_DEFINES = [
    '__ARCH_WANT_RENAMEAT',
    '__ARCH_WANT_NEW_STAT',
    '__ARCH_WANT_SET_GET_RLIMIT',
    '__ARCH_WANT_TIME32_SYSCALLS',
    '__ARCH_WANT_SYS_CLONE3',
    '__ARCH_WANT_MEMFD_SECRET',
]

# asm-generic/unistd.h defines these as __NR_* too, but they are not syscalls.
NOT_SYSCALLS = {'syscalls', 'arch_specific_syscall'}

ARCH_ORDER = ['x86_64', 'i386', 'x32', 'aarch64']

# AssemblyScript (TypeScript) reserved words a syscall name could collide with; such names get a
# trailing underscore in assembly/syscalls.ts (i386 has `break`).
AS_RESERVED = {
    'abstract', 'as', 'async', 'await', 'break', 'case', 'catch', 'class', 'const', 'constructor',
    'continue', 'debugger', 'declare', 'default', 'delete', 'do', 'else', 'enum', 'export', 'extends',
    'false', 'finally', 'for', 'from', 'function', 'get', 'if', 'implements', 'import', 'in',
    'instanceof', 'interface', 'is', 'keyof', 'let', 'module', 'namespace', 'new', 'null', 'of',
    'package', 'private', 'protected', 'public', 'readonly', 'return', 'set', 'static', 'super',
    'switch', 'this', 'throw', 'true', 'try', 'type', 'typeof', 'var', 'void', 'while', 'with', 'yield',
}

DEFINE_RE = re.compile(r'^\s*#\s*define\s+([A-Za-z_][A-Za-z0-9_]*)\s+(.+?)\s*$')


def fail(message):
    sys.exit(f'gen-syscall-tables: {message}')


def read_defines(lines):
    defines = {}
    for line in lines:
        m = DEFINE_RE.match(line)
        if m:
            defines[m.group(1)] = m.group(2)
    return defines


def evaluate(expr, defines, depth=0):
    """Integer value of a macro body made of literals, macro names, parentheses, + - | << (uapi style)."""
    if depth > 32:
        raise ValueError(f'macro recursion too deep in {expr!r}')
    expr = re.sub(r'\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]*\b', r'\1', expr)
    expr = re.sub(r'/\*.*?\*/', '', expr)

    def node_value(node):
        if isinstance(node, ast.Expression):
            return node_value(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in defines:
                raise ValueError(f'undefined macro {node.id}')
            return evaluate(defines[node.id], defines, depth + 1)
        if isinstance(node, ast.BinOp):
            left, right = node_value(node.left), node_value(node.right)
            ops = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
                   ast.BitOr: lambda a, b: a | b, ast.LShift: lambda a, b: a << b}
            for kind, fn in ops.items():
                if isinstance(node.op, kind):
                    return fn(left, right)
        raise ValueError(f'unsupported expression {expr!r}')

    return node_value(ast.parse(expr.strip(), mode='eval'))


def syscalls_from_defines(defines, where):
    table = {}
    for macro, body in defines.items():
        if not macro.startswith('__NR_'):
            continue
        name = macro[len('__NR_'):]
        if name in NOT_SYSCALLS:
            continue
        try:
            table[name] = evaluate(body, defines)
        except ValueError as e:
            fail(f'{where}: __NR_{name}: {e}')
    by_number = {}
    for name, nr in table.items():
        if nr in by_number:
            fail(f'{where}: syscall number {nr:#x} is both {by_number[nr]} and {name}')
        by_number[nr] = name
    if not table:
        fail(f'{where}: no __NR_* definitions found')
    return table


def read_file_lines(path):
    try:
        with open(path, encoding='utf-8') as f:
            return f.read().splitlines()
    except OSError as e:
        fail(f'{path}: {e.strerror}')


def read_x86(path, extra_defines=None):
    defines = dict(extra_defines or {})
    defines.update(read_defines(read_file_lines(path)))
    return syscalls_from_defines(defines, path)


def read_aarch64(generic_header, include_dir, cpp):
    # The generic header is written for the preprocessor (#ifdef __ARCH_WANT_*, __BITS_PER_LONG), so let
    # cpp evaluate it with arm64's configuration and read back every macro it ends up defining. It includes
    # <asm/bitsperlong.h>; we supply arm64's version of that (64-bit longs) so the host's own asm headers,
    # which would say 32 once -undef has removed __x86_64__, are never consulted.
    with tempfile.TemporaryDirectory() as tmp:
        os.mkdir(os.path.join(tmp, 'asm'))
        with open(os.path.join(tmp, 'asm', 'bitsperlong.h'), 'w') as f:
            f.write('#define __BITS_PER_LONG 64\n#include <asm-generic/bitsperlong.h>\n')
        wrapper_path = os.path.join(tmp, 'aarch64-unistd.h')
        with open(wrapper_path, 'w') as f:
            for d in AARCH64_DEFINES:
                f.write(f'#define {d}\n')
            f.write(f'#include "{os.path.abspath(generic_header)}"\n')
        cmd = [cpp, '-dM', '-undef', '-nostdinc', '-I', tmp, '-I', include_dir, wrapper_path]
        try:
            result = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as e:
            fail(f'cannot run {cpp}: {e.strerror}')
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ['(no output)'])[-1]
        fail(f'{cpp} failed on {generic_header}: {last}')
    return syscalls_from_defines(read_defines(result.stdout.splitlines()), generic_header)


def x32_bit(x86_unistd):
    if os.path.exists(x86_unistd):
        defines = read_defines(read_file_lines(x86_unistd))
        if '__X32_SYSCALL_BIT' in defines:
            return evaluate(defines['__X32_SYSCALL_BIT'], defines)
    return X32_SYSCALL_BIT_DEFAULT


def portable_names(existing_path, tables):
    names = []
    if os.path.exists(existing_path):
        for number, line in enumerate(read_file_lines(existing_path), 1):
            name = line.strip()
            if not re.fullmatch(r'[a-z_][a-z0-9_]*', name):
                fail(f'{existing_path}:{number}: not a syscall name: {line!r}')
            if name in names:
                fail(f'{existing_path}:{number}: {name} is already line {names.index(name) + 1}')
            names.append(name)
    seen = set(names)
    for arch in ARCH_ORDER:
        for name, _ in sorted(tables[arch].items(), key=lambda item: item[1]):
            if name not in seen:
                names.append(name)
                seen.add(name)
    if len(names) > 0xffff:
        fail('more than 65535 portable names: the Uint16Array tables would overflow')
    return names


def dense_table(table, base, ids):
    """Portable id per syscall number - base (0 where the arch has no syscall of that number)."""
    size = max(table.values()) - base + 1
    out = [0] * size
    for name, nr in table.items():
        out[nr - base] = ids[name]
    return out


def wrap_numbers(values, per_line=24, indent='  '):
    lines = []
    for i in range(0, len(values), per_line):
        chunk = ', '.join(str(v) for v in values[i:i + per_line])
        lines.append(f'{indent}{chunk}, // {i}')
    return '\n'.join(lines)


def render_tables_ts(names, tables, bit, sources):
    ids = {name: i + 1 for i, name in enumerate(names)}
    bases = {'x86_64': 0, 'i386': 0, 'x32': bit, 'aarch64': 0}
    dense = {arch: dense_table(tables[arch], bases[arch], ids) for arch in ARCH_ORDER}
    name_list = ',\n'.join(f"  '{n}'" for n in names)
    src_lines = '\n'.join(f'//   {arch}: {sources[arch]}' for arch in ARCH_ORDER)
    out = f'''// GENERATED by scripts/gen-syscall-tables.py from the kernel uapi headers; do not edit by hand.
// Regenerate with `python3 scripts/gen-syscall-tables.py` (see docs/filter.md). Sources:
{src_lines}
//
// Portable syscall ids: the id of a name is its line number in src/syscalls/portable-ids.txt. That file
// is APPEND-ONLY: compiled policies bake these ids in (`Sys.mknod` in assembly/syscalls.ts), so a line is
// never moved, renamed or removed, and new names are only ever appended. Id 0 means "unknown".
//
// Raw numbers differ per arch; the per-arch tables below map a raw number to a portable id. x32 shares
// AUDIT_ARCH_X86_64 with x86_64 and is told apart by __X32_SYSCALL_BIT (0x{bit:x}) in the number; its
// numbers here include that bit.
//
// Invented syscalls (docs/policy-abi.md, "Invented syscalls"): `invented_K` for K in 0..4095 is a number
// no kernel implements, the same raw number INVENTED_NR_BASE + K on x86_64, i386 and aarch64 (x32 callers
// use the x86_64 number, without the x32 bit), with portable id INVENTED_ID_BASE + K. Seccomp runs before
// the kernel looks the number up, so a policy can answer such a call; unanswered, the kernel says ENOSYS.

export type ArchName = 'x86_64' | 'i386' | 'x32' | 'aarch64';

export interface ArchInfo {{
  readonly name: ArchName;
  /** `seccomp_data.arch` for this ABI (x32 shares x86_64's). */
  readonly auditArch: number;
  /** Smallest syscall number of the ABI: x32 numbers carry __X32_SYSCALL_BIT. */
  readonly base: number;
}}

export const AUDIT_ARCH_X86_64 = 0x{AUDIT_ARCH_X86_64:08x};
export const AUDIT_ARCH_I386 = 0x{AUDIT_ARCH_I386:08x};
export const AUDIT_ARCH_AARCH64 = 0x{AUDIT_ARCH_AARCH64:08x};
export const X32_SYSCALL_BIT = 0x{bit:08x};

/** First raw number of the invented range: far above every ABI's real numbers, below the x32 bit. */
export const INVENTED_NR_BASE = 0x3ffff000;
/** Portable id of `invented_0`: above every id the Uint16Array tables below can hold. */
export const INVENTED_ID_BASE = 0x10000;
/** Invented numbers K = 0 .. INVENTED_COUNT-1. */
export const INVENTED_COUNT = 4096;
const INVENTED_NAME = /^invented_(0|[1-9][0-9]{{0,3}})$/;

/** K of an `invented_K` name, or -1. */
export function inventedIndex(name: string): number {{
  const m = INVENTED_NAME.exec(name);
  if (m === null) return -1;
  const k = Number(m[1]);
  return k < INVENTED_COUNT ? k : -1;
}}

export const ARCHES: Readonly<Record<ArchName, ArchInfo>> = {{
  x86_64: {{ name: 'x86_64', auditArch: AUDIT_ARCH_X86_64, base: 0 }},
  i386: {{ name: 'i386', auditArch: AUDIT_ARCH_I386, base: 0 }},
  x32: {{ name: 'x32', auditArch: AUDIT_ARCH_X86_64, base: X32_SYSCALL_BIT }},
  aarch64: {{ name: 'aarch64', auditArch: AUDIT_ARCH_AARCH64, base: 0 }},
}};

export const ARCH_NAMES: readonly ArchName[] = ['x86_64', 'i386', 'x32', 'aarch64'];

/** Index = portable id; index 0 is the "unknown" id. */
const PORTABLE_NAMES: readonly string[] = [
  '',
{name_list},
];

// Portable id by (syscall number - base), one typed array per ABI, so the per-notification lookup is
// two comparisons and an indexed load.
const X86_64_IDS = Uint16Array.from([
{wrap_numbers(dense['x86_64'])}
]);
const I386_IDS = Uint16Array.from([
{wrap_numbers(dense['i386'])}
]);
const X32_IDS = Uint16Array.from([ // number - X32_SYSCALL_BIT
{wrap_numbers(dense['x32'])}
]);
const AARCH64_IDS = Uint16Array.from([
{wrap_numbers(dense['aarch64'])}
]);

const IDS_BY_ARCH: Readonly<Record<ArchName, Uint16Array>> = {{
  x86_64: X86_64_IDS, i386: I386_IDS, x32: X32_IDS, aarch64: AARCH64_IDS,
}};

const idByName = new Map<string, number>(PORTABLE_NAMES.map((name, id) => [name, id]));
idByName.delete('');

let numberByName: Record<ArchName, Map<string, number>> | undefined;
function numbersByName(): Record<ArchName, Map<string, number>> {{
  if (numberByName) return numberByName;
  const built = {{}} as Record<ArchName, Map<string, number>>;
  for (const arch of ARCH_NAMES) {{
    const map = new Map<string, number>();
    const ids = IDS_BY_ARCH[arch];
    for (let i = 0; i < ids.length; i++) if (ids[i] !== 0) map.set(PORTABLE_NAMES[ids[i]!]!, ARCHES[arch].base + i);
    built[arch] = map;
  }}
  return (numberByName = built);
}}

/** The raw syscall number of `name` on `arch` (x32 numbers include the x32 bit), or undefined. */
export function syscallNumber(arch: ArchName, name: string): number | undefined {{
  const k = inventedIndex(name);
  if (k >= 0) return arch === 'x32' ? undefined : INVENTED_NR_BASE + k;
  return numbersByName()[arch].get(name);
}}

/** The name of raw syscall number `nr` on `arch`, or undefined. */
export function syscallName(arch: ArchName, nr: number): string | undefined {{
  if (arch !== 'x32' && nr >= INVENTED_NR_BASE && nr < INVENTED_NR_BASE + INVENTED_COUNT) return `invented_${{nr - INVENTED_NR_BASE}}`;
  const id = IDS_BY_ARCH[arch][nr - ARCHES[arch].base];
  return id ? PORTABLE_NAMES[id] : undefined;
}}

/** Portable id of a syscall name; 0 when the name is not in the portable list. */
export function portableId(name: string): number {{
  const k = inventedIndex(name);
  if (k >= 0) return INVENTED_ID_BASE + k;
  return idByName.get(name) ?? 0;
}}

/** Name of a portable id, or undefined for 0 and ids past the end of the list. */
export function portableName(id: number): string | undefined {{
  if (id >= INVENTED_ID_BASE && id < INVENTED_ID_BASE + INVENTED_COUNT) return `invented_${{id - INVENTED_ID_BASE}}`;
  return id > 0 && id < PORTABLE_NAMES.length ? PORTABLE_NAMES[id] : undefined;
}}

/** Number of portable ids from the list (the largest valid id below the invented range). */
export const PORTABLE_COUNT = PORTABLE_NAMES.length - 1;

/**
 * Portable id for a notification's (`seccomp_data.arch`, `seccomp_data.nr`); 0 when unknown. Called per
 * notification, so it allocates nothing. `nr` may be given signed (as the kernel's `int nr`) or unsigned.
 */
export function portableIdFor(auditArch: number, nr: number): number {{
  const n = nr >>> 0;
  let ids: Uint16Array;
  let index: number;
  switch (auditArch >>> 0) {{
    case AUDIT_ARCH_X86_64:
      if (n >= X32_SYSCALL_BIT) {{ ids = X32_IDS; index = n - X32_SYSCALL_BIT; }} else {{ ids = X86_64_IDS; index = n; }}
      break;
    case AUDIT_ARCH_I386: ids = I386_IDS; index = n; break;
    case AUDIT_ARCH_AARCH64: ids = AARCH64_IDS; index = n; break;
    default: return 0;
  }}
  if (index < ids.length) return ids[index]!;
  // Past the table: an invented number (never in the x32 range, whose numbers carry the x32 bit)?
  return n >= INVENTED_NR_BASE && n < INVENTED_NR_BASE + INVENTED_COUNT ? INVENTED_ID_BASE + (n - INVENTED_NR_BASE) : 0;
}}
'''
    return out


def as_identifier(name):
    return name + '_' if name in AS_RESERVED else name


def render_assembly(names):
    consts = '\n'.join(f'  export const {as_identifier(n)}: i32 = {i + 1};' for i, n in enumerate(names))
    return f'''// GENERATED by scripts/gen-syscall-tables.py; do not edit by hand.
// Portable syscall ids for policies: `Sys.mknod` is the value the host writes into the notification's
// `sys` field (docs/policy-abi.md, section 2) whatever the caller's arch, so one policy handles x86_64,
// x32, i386 and aarch64 callers alike. The ids are line numbers of src/syscalls/portable-ids.txt, which is
// append-only, so a compiled policy keeps working with later hosts. Names that are AssemblyScript reserved
// words carry a trailing underscore (`Sys.break_`).

export const AUDIT_ARCH_X86_64: u32 = 0x{AUDIT_ARCH_X86_64:08x};
export const AUDIT_ARCH_I386: u32 = 0x{AUDIT_ARCH_I386:08x};
export const AUDIT_ARCH_AARCH64: u32 = 0x{AUDIT_ARCH_AARCH64:08x};
/** x32 shares AUDIT_ARCH_X86_64; its raw syscall numbers carry this bit. */
export const X32_SYSCALL_BIT: i32 = 0x40000000;

export namespace Sys {{
{consts}
}}
'''


def write(path, text, check):
    old = None
    if os.path.exists(path):
        with open(path, encoding='utf-8') as f:
            old = f.read()
    if old == text:
        return False
    if check:
        print(f'{path} is out of date', file=sys.stderr)
        return True
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    print(f'wrote {path}')
    return True


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--x86-64', default=f'{ASM_DIR}/unistd_64.h', help='x86_64 unistd_64.h')
    p.add_argument('--i386', default=f'{ASM_DIR}/unistd_32.h', help='i386 unistd_32.h')
    p.add_argument('--x32', default=f'{ASM_DIR}/unistd_x32.h', help='x32 unistd_x32.h')
    p.add_argument('--x86-unistd', default=None, help='asm/unistd.h defining __X32_SYSCALL_BIT (default: next to --x32)')
    p.add_argument('--generic', default='/usr/include/asm-generic/unistd.h', help='asm-generic/unistd.h (aarch64)')
    p.add_argument('--include-dir', default='/usr/include', help='include dir for the cpp run on --generic')
    p.add_argument('--cpp', default='cpp', help='C preprocessor')
    p.add_argument('--root', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'), help='repository root')
    p.add_argument('--check', action='store_true', help='write nothing; exit 1 if an output would change')
    args = p.parse_args()

    bit = x32_bit(args.x86_unistd or os.path.join(os.path.dirname(args.x32), 'unistd.h'))
    tables = {
        'x86_64': read_x86(args.x86_64),
        'i386': read_x86(args.i386),
        'x32': read_x86(args.x32, {'__X32_SYSCALL_BIT': str(bit)}),
        'aarch64': read_aarch64(args.generic, args.include_dir, args.cpp),
    }
    for name, nr in tables['x32'].items():
        if nr < bit:
            fail(f'{args.x32}: __NR_{name} = {nr:#x} lacks __X32_SYSCALL_BIT')
    # The invented range (INVENTED_NR_BASE in tables.ts) must stay clear of every real number, and its
    # names must never be real syscall names.
    for arch in ARCH_ORDER:
        for name, nr in tables[arch].items():
            if arch != 'x32' and nr >= 0x3ffff000:
                fail(f'{arch}: __NR_{name} = {nr:#x} reaches the invented range 0x3ffff000..0x3fffffff')
            if name.startswith('invented_'):
                fail(f'{arch}: __NR_{name}: the invented_* names are reserved for invented syscalls')
    sources = {'x86_64': args.x86_64, 'i386': args.i386, 'x32': args.x32, 'aarch64': f'{args.generic} (cpp, arm64 __ARCH_WANT_*)'}

    root = os.path.abspath(args.root)
    ids_path = os.path.join(root, 'src/syscalls/portable-ids.txt')
    names = portable_names(ids_path, tables)
    changed = write(ids_path, ''.join(n + '\n' for n in names), args.check)
    changed |= write(os.path.join(root, 'src/syscalls/tables.ts'), render_tables_ts(names, tables, bit, sources), args.check)
    changed |= write(os.path.join(root, 'assembly/syscalls.ts'), render_assembly(names), args.check)
    counts = ', '.join(f'{arch} {len(tables[arch])}' for arch in ARCH_ORDER)
    print(f'{len(names)} portable names; {counts}')
    if args.check and changed:
        sys.exit(1)


if __name__ == '__main__':
    main()
