// The generated syscall tables: known numbers per ABI, the allocation-free per-notification lookup agreeing
// with the name tables for every syscall of every ABI, portable ids pinned to portable-ids.txt (and to the
// AssemblyScript Sys namespace), and the generator's append-only rule.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ARCHES, ARCH_NAMES, AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, PORTABLE_COUNT, X32_SYSCALL_BIT,
  portableId, portableIdFor, portableName, syscallName, syscallNumber,
} from '../../src/syscalls/tables.js';

const root = fileURLToPath(new URL('../../..', import.meta.url)); // dist/test/unit/ -> repository root
const portableLines = readFileSync(join(root, 'src/syscalls/portable-ids.txt'), 'utf8').split('\n').filter((l) => l !== '');

test('well-known numbers per ABI', () => {
  assert.is(syscallNumber('x86_64', 'mknod'), 133);
  assert.is(syscallNumber('i386', 'mknod'), 14);
  assert.is(syscallNumber('x32', 'mknod'), X32_SYSCALL_BIT + 133);
  assert.is(syscallNumber('aarch64', 'mknod'), undefined);
  assert.is(syscallNumber('x86_64', 'mknodat'), 259);
  assert.is(syscallNumber('i386', 'mknodat'), 297);
  assert.is(syscallNumber('aarch64', 'mknodat'), 33);
  assert.is(syscallNumber('x32', 'read'), 0x40000000);
  assert.is(syscallNumber('x86_64', 'read'), 0);
  assert.is(syscallNumber('i386', 'read'), 3);
  assert.is(syscallNumber('aarch64', 'read'), 63);
  // x32 has its own entry points at 512+ for calls whose structs differ, and lacks the 64-bit ones.
  assert.is(syscallNumber('x32', 'rt_sigaction'), X32_SYSCALL_BIT + 512);
  assert.is(syscallName('x32', X32_SYSCALL_BIT + 13), undefined);
  assert.is(syscallName('x86_64', 13), 'rt_sigaction');
  // The asm-generic __NR3264_* names take their 64-bit spelling on aarch64.
  assert.is(syscallNumber('aarch64', 'fcntl'), 25);
  assert.is(syscallNumber('aarch64', 'newfstatat'), 79);
  assert.is(syscallNumber('aarch64', 'fstat'), 80);
  assert.is(syscallNumber('aarch64', 'mmap'), 222);
  assert.is(syscallNumber('aarch64', 'fadvise64'), 223);
  assert.is(syscallNumber('aarch64', 'fcntl64'), undefined);
  assert.is(syscallNumber('aarch64', 'renameat'), 38);
  assert.is(syscallNumber('aarch64', 'clone3'), 435);
  assert.is(syscallNumber('aarch64', 'memfd_secret'), 447);
  assert.is(syscallNumber('aarch64', 'getrlimit'), 163);
  assert.is(syscallNumber('aarch64', 'arch_specific_syscall'), undefined);
  assert.is(syscallNumber('i386', 'fcntl64'), 221);
  assert.is(syscallNumber('i386', '_llseek'), 140);
});

test('ARCHES: audit arch values', () => {
  assert.is(ARCHES.x86_64.auditArch, 0xc000003e);
  assert.is(ARCHES.i386.auditArch, 0x40000003);
  assert.is(ARCHES.aarch64.auditArch, 0xc00000b7);
  assert.is(ARCHES.x32.auditArch, 0xc000003e);
  assert.is(AUDIT_ARCH_X86_64, 0xc000003e);
  assert.is(AUDIT_ARCH_I386, 0x40000003);
  assert.is(AUDIT_ARCH_AARCH64, 0xc00000b7);
});

test('portableIdFor agrees with the name tables for every syscall of every ABI', () => {
  let checked = 0;
  for (const arch of ARCH_NAMES) {
    for (let id = 1; id <= PORTABLE_COUNT; id++) {
      const name = portableName(id)!;
      const nr = syscallNumber(arch, name);
      if (nr === undefined) continue;
      assert.is(syscallName(arch, nr), name, `${arch} ${nr}`);
      assert.is(portableIdFor(ARCHES[arch].auditArch, nr), id, `${arch} ${name}`);
      assert.is(portableIdFor(ARCHES[arch].auditArch, nr | 0), id, `${arch} ${name} as a signed int`);
      checked++;
    }
  }
  // x86_64 362, i386 440, x32 351, aarch64 306 with this machine's headers; never fewer.
  assert.ok(checked > 1400, `only ${checked} syscalls in the tables`);
});

test('portableIdFor: unknown arches and numbers are 0', () => {
  assert.is(portableIdFor(0x40000028 /* AUDIT_ARCH_ARM */, 14), 0);
  assert.is(portableIdFor(0, 0), 0);
  assert.is(portableIdFor(AUDIT_ARCH_X86_64, -1), 0);
  assert.is(portableIdFor(AUDIT_ARCH_X86_64, 100000), 0);
  assert.is(portableIdFor(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT + 13), 0); // x32 lacks the 64-bit rt_sigaction
  assert.is(portableIdFor(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT + 100000), 0);
  assert.is(portableIdFor(AUDIT_ARCH_I386, 0x7fffffff), 0);
  assert.is(portableIdFor(AUDIT_ARCH_AARCH64, 244), 0); // arch_specific_syscall is not a syscall
  assert.is(portableIdFor(AUDIT_ARCH_X86_64, 133), portableId('mknod'));
  assert.is(portableIdFor(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT + 133), portableId('mknod'));
  assert.is(portableIdFor(AUDIT_ARCH_I386, 14), portableId('mknod'));
  assert.is(portableIdFor(AUDIT_ARCH_AARCH64, 33), portableId('mknodat'));
});

test('portable ids are the line numbers of portable-ids.txt', () => {
  assert.is(PORTABLE_COUNT, portableLines.length);
  assert.is(new Set(portableLines).size, portableLines.length, 'duplicate names');
  portableLines.forEach((name, i) => {
    assert.is(portableId(name), i + 1, name);
    assert.is(portableName(i + 1), name);
  });
  // The first run wrote x86_64's names in number order: these ids are pinned forever.
  assert.is(portableId('read'), 1);
  assert.is(portableId('mknod'), 134);
  assert.is(portableId('mknodat'), 260);
  assert.is(portableId('no_such_syscall'), 0);
  assert.is(portableName(0), undefined);
  assert.is(portableName(PORTABLE_COUNT + 1), undefined);
});

test('assembly/syscalls.ts: Sys.* are the portable ids, reserved words suffixed', () => {
  const text = readFileSync(join(root, 'assembly/syscalls.ts'), 'utf8');
  const consts = [...text.matchAll(/export const ([A-Za-z_][A-Za-z0-9_]*): i32 = (\d+);/g)].map((m) => [m[1]!, Number(m[2])] as const);
  assert.is(consts.length, portableLines.length);
  for (const [ident, id] of consts) {
    const name = ident.endsWith('_') && portableId(ident) === 0 ? ident.slice(0, -1) : ident;
    assert.is(portableId(name), id, ident);
  }
  assert.match(text, /export const break_: i32 = \d+;/);
  assert.match(text, /export const AUDIT_ARCH_X86_64: u32 = 0xc000003e;/);
  assert.match(text, /export const AUDIT_ARCH_I386: u32 = 0x40000003;/);
  assert.match(text, /export const AUDIT_ARCH_AARCH64: u32 = 0xc00000b7;/);
});

const HEADERS = ['/usr/include/x86_64-linux-gnu/asm/unistd_64.h', '/usr/include/asm-generic/unistd.h'];
const haveHeaders = HEADERS.every((h) => existsSync(h));
const generator = join(root, 'scripts/gen-syscall-tables.py');

test('generator: the checked-in tables are what this machine\'s headers produce', () => {
  if (!haveHeaders) { console.log('  skip: generator check: no kernel uapi headers here'); return; }
  const r = spawnSync('python3', [generator, '--check'], { encoding: 'utf8' });
  assert.is(r.status, 0, `scripts/gen-syscall-tables.py --check failed (regenerate the tables):\n${r.stderr}${r.stdout}`);
});

test('generator: existing portable ids stay where they are, new names are appended', () => {
  if (!haveHeaders) { console.log('  skip: generator append-only: no kernel uapi headers here'); return; }
  const dir = mkdtempSync(join(tmpdir(), 'wasmsup-gen-'));
  try {
    mkdirSync(join(dir, 'src/syscalls'), { recursive: true });
    // An existing list in an order no header run would produce, with a name the headers no longer have.
    const seeded = ['mknodat', 'getppid', 'retired_syscall', 'read'];
    writeFileSync(join(dir, 'src/syscalls/portable-ids.txt'), seeded.join('\n') + '\n');
    const r = spawnSync('python3', [generator, '--root', dir], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    const out = readFileSync(join(dir, 'src/syscalls/portable-ids.txt'), 'utf8').trim().split('\n');
    assert.equal(out.slice(0, seeded.length), seeded);
    assert.is(new Set(out).size, out.length, 'a name was appended twice');
    assert.ok(out.includes('mknod') && out.includes('_llseek'));
    assert.is(out.length, portableLines.length + 1); // everything once, plus the retired name
    const ts = readFileSync(join(dir, 'src/syscalls/tables.ts'), 'utf8');
    assert.match(ts, /APPEND-ONLY/);
    assert.match(ts, /const PORTABLE_NAMES: readonly string\[\] = \[\n {2}'',\n {2}'mknodat',\n {2}'getppid',\n {2}'retired_syscall',/);

    const bad = spawnSync('python3', [generator, '--root', dir, '--x86-64', join(dir, 'missing.h')], { encoding: 'utf8' });
    assert.is(bad.status, 1);
    assert.match(bad.stderr, /gen-syscall-tables: .*missing\.h: No such file or directory/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
