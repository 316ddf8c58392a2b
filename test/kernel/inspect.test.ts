// Deep argument inspection: the SDK's size-versioned readers of struct open_how and struct clone_args
// against a simulated caller memory (every size rule of copy_struct_from_user), and the shipped
// inspect-open policy against the real kernel, x86_64 and i386.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPolicy } from '../../src/policy/build.js';
import { instantiatePolicy, type HostContext } from '../../src/policy/instance.js';
import { runWasmsup, POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { syscallProbe } from '../support/syscall-probe.js';

const dir = mkdtempSync(join(tmpdir(), 'wasmsup-inspect-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

// A caller whose memory is one mapped range [BASE, BASE + caller.length).
const BASE = 0x7f0000001000;
const caller = new Uint8Array(8192);
const host: HostContext = {
  readMemory(lo, hi, dst, len) {
    const offset = hi * 2 ** 32 + lo - BASE;
    if (offset < 0 || offset >= caller.length) return -14;
    const n = Math.min(len, caller.length - offset);
    dst.set(caller.subarray(offset, offset + n));
    return n;
  },
  readString: () => -14,
  callerCreds: () => -3,
  log: () => {},
};

/** A policy answering openat2 with its OpenHow and clone3 with its CloneArgs, read by the SDK. */
async function readerPolicy() {
  const src = join(dir, 'readers.ts');
  writeFileSync(src, `import { CloneArgs, Notification, OpenHow, Sys, fail, intercept, returnValue } from "wasmsup";
export function interest(): void { intercept(Sys.openat2); intercept(Sys.clone3); }
export function decide(): i32 {
  if (Notification.sys == Sys.openat2) {
    const r = OpenHow.read(Notification.arg(2), Notification.arg(3));
    if (r < 0) return fail(-r);
    return returnValue(<i64>(OpenHow.flags ^ (OpenHow.mode << 24) ^ (OpenHow.resolve << 40)));
  }
  const r = CloneArgs.read(Notification.arg(0), Notification.arg(1));
  if (r < 0) return fail(-r);
  return returnValue(<i64>(CloneArgs.flags ^ (CloneArgs.exitSignal << 40) ^ (CloneArgs.cgroup << 48)));
}
`);
  const policy = instantiatePolicy(await buildPolicy(src, join(dir, 'readers.wasm')), host);
  const b = () => new DataView(policy.notification.buffer, policy.notification.byteOffset, 128);
  return (sys: number, args: number[]): string => {
    const v = b();
    v.setInt32(80, sys, true);
    args.forEach((a, i) => v.setBigUint64(32 + 8 * i, BigInt(a), true));
    const kind = policy.decide();
    const value = b().getBigInt64(88, true);
    return kind === 2 ? `errno ${value}` : `value 0x${value.toString(16)}`;
  };
}

const SYS_OPENAT2 = 349, SYS_CLONE3 = 347;
const le64 = (at: number, value: bigint) => new DataView(caller.buffer).setBigUint64(at, value, true);

test('OpenHow: every size rule of the kernel\'s extensible structs', async () => {
  const ask = await readerPolicy();
  caller.fill(0);
  le64(0, 0x42n); le64(8, 0o644n); le64(16, 0x10n); // flags, mode, resolve at BASE
  const openat2 = (addr: number, size: number) => ask(SYS_OPENAT2, [0, 0, addr, size]);
  assert.is(openat2(BASE, 24), 'value 0x' + (0x42n ^ (0o644n << 24n) ^ (0x10n << 40n)).toString(16));
  assert.is(openat2(BASE, 16), 'errno 22', 'smaller than OPEN_HOW_SIZE_VER0: EINVAL');
  assert.is(openat2(BASE, 4097), 'errno 7', 'larger than a page: E2BIG');
  assert.is(openat2(BASE, 4096), ask(SYS_OPENAT2, [0, 0, BASE, 24]), 'larger, zero tail: accepted');
  caller[100] = 1;
  assert.is(openat2(BASE, 4096), 'errno 7', 'larger, non-zero tail: E2BIG');
  assert.is(openat2(BASE, 100), ask(SYS_OPENAT2, [0, 0, BASE, 24]), 'the tail stops at size');
  assert.is(openat2(BASE + caller.length - 16, 24), 'errno 14', 'struct runs off the mapping: EFAULT');
  assert.is(openat2(BASE + caller.length - 24, 48), 'errno 14', 'tail runs off the mapping: EFAULT');
  assert.is(openat2(0x1000, 24), 'errno 14');
});

test('CloneArgs: version 0 (64 bytes) reads set_tid and cgroup as zero; version 2 reads cgroup', async () => {
  const ask = await readerPolicy();
  caller.fill(0);
  le64(0, 0x10000000n); le64(32, 17n); le64(80, 5n); // flags, exit_signal, cgroup
  const expect = (cgroup: bigint) => 'value 0x' + (0x10000000n ^ (17n << 40n) ^ (cgroup << 48n)).toString(16);
  assert.is(ask(SYS_CLONE3, [BASE, 64]), expect(0n), 'cgroup is past a version-0 struct: zero');
  assert.is(ask(SYS_CLONE3, [BASE, 88]), expect(5n));
  assert.is(ask(SYS_CLONE3, [BASE, 63]), 'errno 22');
  caller[90] = 9;
  assert.is(ask(SYS_CLONE3, [BASE, 96]), 'errno 7', 'a field this SDK does not know is set: E2BIG');
});

const O_RDWR = 2, O_CREAT_WRONLY = 0o101, CLONE_NEWUSER = 0x10000000;

test('inspect-open policy: /etc writes EROFS (open, openat, openat2), CLONE_NEWUSER EPERM (clone3, clone)', async () => {
  if (!privileged('inspect-open')) return;
  const p = syscallProbe();
  const calls = [
    'open /etc/hostname 0', `open /etc/wasmsup-inspect-x ${O_CREAT_WRONLY}`, `openat /etc/hostname ${O_RDWR}`,
    `openat2 /etc/hostname ${O_RDWR} 24 0 0`, `openat2 /etc/hostname ${O_RDWR} 64 0 0`, 'openat2 /etc/hostname 0 64 0 0',
    'openat2 /etc/hostname 0 64 0 7', 'clone3 0 64 0', `clone3 ${CLONE_NEWUSER} 88 0`, `clone ${CLONE_NEWUSER}`,
  ];
  const script = calls.map((c) => `${p} ${c} | cut -d' ' -f1-2`).join('; ');
  const without = await runWasmsup(['run', '--userns', '--', 'sh', '-c', script]);
  const r = await runWasmsup(['run', '--userns', '--policy', POLICY('inspect-open'), '--', 'sh', '-c', script]);
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n'), [
    'ret=3 errno=0', 'ret=-1 errno=EROFS', 'ret=-1 errno=EROFS',
    'ret=-1 errno=EROFS', 'ret=-1 errno=EROFS', 'ret=3 errno=0',
    'ret=-1 errno=E2BIG', 'ret=0 errno=0', 'ret=-1 errno=EPERM', 'ret=-1 errno=EPERM',
  ]);
  // The kernel alone: EACCES for the host's /etc (root is unmapped), nested user namespaces allowed.
  assert.equal(without.stdout.trim().split('\n'), [
    'ret=3 errno=0', 'ret=-1 errno=EACCES', 'ret=-1 errno=EACCES',
    'ret=-1 errno=EACCES', 'ret=-1 errno=EACCES', 'ret=3 errno=0',
    'ret=-1 errno=E2BIG', 'ret=0 errno=0', 'ret=0 errno=0', 'ret=0 errno=0',
  ]);
});

test('inspect-open policy, i386 callers: open and openat2 (struct in low memory) through int 0x80', async () => {
  if (process.arch !== 'x64') { console.log('  skip: i386 compat: x86_64 hosts only'); return; }
  if (!privileged('inspect-open i386')) return;
  const p = syscallProbe();
  const r = await runWasmsup(['run', '--userns', '--policy', POLICY('inspect-open'), '--', 'sh', '-c',
    `${p} --i386 open /etc/x ${O_CREAT_WRONLY}; ${p} --i386 openat2 /etc/hostname ${O_RDWR} 24 0 0; ${p} --i386 openat2 /etc/hostname 0 24 0 0 | cut -d' ' -f1-2`]);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'ret=-1 errno=EROFS\nret=-1 errno=EROFS\nret=3 errno=0\n');
});

test.run();
