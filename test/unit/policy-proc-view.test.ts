// policies/proc-view.ts driven through the real ABI: which names the caller writes get which view
// (lexical folding, a dirfd of /proc, the cwd left alone), what write access gets, and the
// configuration. The caller's path and fds come from a fake host.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPolicy } from '../../src/policy/build.js';
import { instantiatePolicy, type HostContext, type PolicyInstance } from '../../src/policy/instance.js';
import type { PolicyInfo } from '../../src/policy/load.js';
import { portableId, syscallNumber } from '../../src/syscalls/tables.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'wasmsup-policy-proc-view-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const NO_OPINION = 0, ERRNO = 2, EMULATE = 4, PROC_VIEW = 9, EACCES = 13;
const AT_FDCWD = -100, PROC_FD = 7, ETC_FD = 8;
const O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0o100, O_CLOEXEC = 0o2000000, O_PATH = 0o10000000;
const PROC_MAGIC = 0x9fa0;

let callerPath = '';
let fdInfoCalls = 0;
const host: HostContext = {
  readMemory: () => -14,
  readString(_lo, _hi, dst, cap) {
    const bytes = new TextEncoder().encode(callerPath);
    if (bytes.length + 1 > cap) return -36;
    dst.set(bytes); dst[bytes.length] = 0;
    return bytes.length;
  },
  callerCreds: () => -38,
  fdInfo(fd, dst, path) {
    fdInfoCalls++;
    const dirs: Record<number, string> = { [PROC_FD]: '/proc', [ETC_FD]: '/etc' };
    const p = dirs[fd];
    if (p === undefined) return -9;
    const view = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
    dst.fill(0);
    view.setUint32(0, 0o040555, true);
    view.setUint32(60, fd === PROC_FD ? PROC_MAGIC : 0xef53, true);
    const bytes = new TextEncoder().encode(p);
    path.set(bytes);
    view.setInt32(64, bytes.length, true);
    view.setUint32(68, 1, true); // as the caller sees it from its root
    return 0;
  },
  log: () => {},
};

let info: PolicyInfo;
let policy: PolicyInstance;
test.before(async () => {
  info = await buildPolicy(join(root, 'policies', 'proc-view.ts'), join(dir, 'proc-view.wasm'));
  policy = instantiatePolicy(info, host);
});

/** openat(dirfd, path, flags) (or open(path, flags) when dirfd is null) as the data plane writes it; the decision and the block's words. */
function decide(path: string, flags = 0, dirfd: number | null = AT_FDCWD): { kind: number; primitive: number; view: number; flags: number; errno: number } {
  callerPath = path;
  const block = policy.notification;
  const view = new DataView(block.buffer, block.byteOffset, 128);
  block.fill(0);
  const syscall = dirfd === null ? 'open' : 'openat';
  view.setBigUint64(0, 1n, true);
  view.setUint32(8, 4242, true);
  view.setInt32(16, syscallNumber('x86_64', syscall)!, true);
  view.setUint32(20, 0xc000003e, true);
  const args = dirfd === null ? [0x7ffc0000n, BigInt(flags)] : [BigInt(dirfd >>> 0), 0x7ffc0000n, BigInt(flags)];
  args.forEach((a, i) => view.setBigUint64(32 + 8 * i, a, true));
  view.setInt32(80, portableId(syscall), true);
  const kind = policy.decide();
  const b = new DataView(policy.notification.buffer, policy.notification.byteOffset, 128);
  return { kind, primitive: b.getInt32(96, true), view: b.getUint32(100, true), flags: b.getUint32(104, true), errno: Number(b.getBigInt64(88, true)) };
}

test('each name gets its view, through open and openat, with the caller\'s flags', () => {
  const names = ['/proc/meminfo', '/proc/cpuinfo', '/proc/stat', '/proc/uptime', '/proc/loadavg', '/proc/swaps', '/sys/devices/system/cpu/online'];
  names.forEach((name, i) => {
    for (const dirfd of [null, AT_FDCWD]) {
      const d = decide(name, O_CLOEXEC, dirfd);
      assert.equal([d.kind, d.primitive, d.view, d.flags], [EMULATE, PROC_VIEW, i + 1, O_CLOEXEC], name);
    }
  });
});

test('names folded lexically match; a dirfd of /proc too; the cwd and other names do not', () => {
  for (const name of ['/proc/self/../meminfo', '/proc//./meminfo', '//proc/meminfo', '/proc/thread-self/../../proc/meminfo', '/../proc/meminfo']) {
    assert.is(decide(name).view, 1, name);
  }
  assert.is(decide('meminfo', 0, PROC_FD).view, 1);
  assert.is(decide('./meminfo', 0, PROC_FD).view, 1);
  for (const [name, dirfd] of [['meminfo', AT_FDCWD], ['meminfo', ETC_FD], ['meminfo', 99], ['/proc/meminfo/', AT_FDCWD], ['/proc/1/meminfo', AT_FDCWD],
    ['/proc/vmstat', AT_FDCWD], ['/etc/meminfo', AT_FDCWD], ['/proc/self/root/proc/meminfo', AT_FDCWD], ['/proc/meminfo2', AT_FDCWD]] as const) {
    assert.is(decide(name, 0, dirfd).kind, NO_OPINION, `${name} at ${dirfd}`);
  }
});

test('fd_info is asked only when the last component is one of the names', () => {
  fdInfoCalls = 0;
  decide('passwd', 0, ETC_FD);
  decide('group', 0, ETC_FD);
  assert.is(fdInfoCalls, 0);
  decide('stat', 0, ETC_FD);
  assert.is(fdInfoCalls, 1);
});

test('write access is EACCES; O_PATH goes to the kernel', () => {
  for (const flags of [O_WRONLY, O_RDWR, O_CREAT]) {
    const d = decide('/proc/meminfo', flags);
    assert.equal([d.kind, d.errno], [ERRNO, EACCES], `flags ${flags}`);
  }
  assert.is(decide('/proc/meminfo', O_PATH).kind, NO_OPINION);
});

test.run();
