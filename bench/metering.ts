// What fuel metering costs per decision (docs/lifecycle.md): decide() timed on the same policy loaded
// with and without metering, in alternating rounds, after warm-up. Policies: a trivial one (getppid →
// 42), the shipped mknod policy on its common path (an allowed char device: creds read, EMULATE), and a
// loop-heavy one (about 1000 loop iterations per decision). Run: node dist/bench/metering.js
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPolicy } from '../src/policy/build.js';
import { instantiatePolicy, type HostContext, type PolicyInstance } from '../src/policy/instance.js';
import { validatePolicyBytes } from '../src/policy/load.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'wasmsup-bench-metering-'));

const host: HostContext = {
  readMemory: () => -14,
  readString: () => -14,
  callerCreds(dst) {
    const view = new DataView(dst.buffer, dst.byteOffset, 128);
    for (let i = 0; i < 8; i++) view.setUint32(i * 4, 100000, true);
    for (let i = 8; i < 16; i++) view.setUint32(i * 4, 0, true);
    view.setBigUint64(64, 1n << 27n, true); // CAP_MKNOD
    view.setBigUint64(72, 1n << 27n, true);
    view.setUint32(88, 0o022, true);
    view.setUint32(92, 1, true); // in the workload's user namespace
    return 0;
  },
  log: () => {},
};

/** Fills the notification block as the data plane does. */
function setNotification(p: PolicyInstance, nr: number, args: bigint[]): void {
  const block = p.notification;
  const view = new DataView(block.buffer, block.byteOffset, 128);
  block.fill(0);
  view.setUint32(8, 4242, true);
  view.setInt32(16, nr, true);
  view.setUint32(20, 0xc000003e, true); // x86_64
  args.forEach((a, i) => view.setBigUint64(32 + 8 * i, a, true));
}

function time(p: PolicyInstance, n: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) p.decide();
  return Number(process.hrtime.bigint() - start) / n;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

async function measure(name: string, file: string, nr: number, args: bigint[], portable: number, perRound: number): Promise<void> {
  const bytes = readFileSync(file);
  const plain = instantiatePolicy(validatePolicyBytes(bytes, file, { meter: false }), host);
  const metered = instantiatePolicy(validatePolicyBytes(bytes, file), host);
  for (const p of [plain, metered]) {
    setNotification(p, nr, args);
    new DataView(p.notification.buffer, p.notification.byteOffset).setUint32(80, portable, true);
  }
  const a = plain.decide(), b = metered.decide();
  if (a !== b) throw new Error(`${name}: decisions differ (${a} vs ${b})`);
  time(plain, perRound); time(metered, perRound); // warm-up: both tiers compiled
  const plainNs: number[] = [], meteredNs: number[] = [];
  for (let round = 0; round < 21; round++) {
    plainNs.push(time(plain, perRound));
    meteredNs.push(time(metered, perRound));
  }
  // The minimum is the least disturbed by other processes on a shared machine; the median for reference.
  const row = (label: string, p: number, m: number) =>
    `${label} plain ${p.toFixed(1).padStart(7)} ns  metered ${m.toFixed(1).padStart(7)} ns  ${m >= p ? '+' : ''}${(m - p).toFixed(1)} ns (${((m / p - 1) * 100).toFixed(1)} %)`;
  console.log(`${name.padEnd(28)} ${row('min', Math.min(...plainNs), Math.min(...meteredNs))}   ${row('median', median(plainNs), median(meteredNs))}`);
}

try {
  const loopSrc = join(dir, 'loopy.ts');
  writeFileSync(loopSrc, `import { Notification, Sys, intercept, fail, noOpinion } from "wasmsup";
const BUF = memory.data(1024);
export function interest(): void { intercept(Sys.getppid); }
export function decide(): i32 {
  let h: u32 = <u32>Notification.arg(0);
  for (let i = 0; i < 1000; i++) { h = (h ^ load<u8>(BUF + (i & 1023))) * 16777619; store<u8>(BUF + (i & 1023), <u8>h); }
  return h == 1 ? fail(1) : noOpinion();
}
`);
  await buildPolicy(loopSrc, join(dir, 'loopy.wasm'), { diagnostics: () => {} });
  const { portableId } = await import('../src/syscalls/tables.js');
  console.log(`node ${process.version}, ${process.arch}; 21 alternating rounds per policy`);
  await measure('getppid42 (trivial)', join(root, 'build', 'bench', 'getppid42.wasm'), 110, [], portableId('getppid'), 200_000);
  await measure('mknod (char 1:3 → EMULATE)', join(root, 'build', 'policies', 'mknod.wasm'), 133,
    [0x7ffc0000n, BigInt(0o020666), BigInt((1 << 8) | 3)], portableId('mknod'), 100_000);
  await measure('loop-heavy (1000 iterations)', join(dir, 'loopy.wasm'), 110, [7n], portableId('getppid'), 5_000);
  // How long a policy that never finishes runs before the default fuel stops it.
  const { DEFAULT_FUEL } = await import('../src/policy/load.js');
  const loopFile = join(root, 'build', 'test-policies', 'loop.wasm');
  const looping = instantiatePolicy(validatePolicyBytes(readFileSync(loopFile), loopFile), host);
  const stopped: number[] = [];
  for (let i = 0; i < 11; i++) {
    const start = process.hrtime.bigint();
    try { looping.decide(); } catch { /* stopped, as expected */ }
    if (!looping.outOfFuel()) throw new Error('loop.wasm was not stopped by fuel');
    stopped.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  console.log(`endless loop (loop.wasm)     stopped after ${median(stopped).toFixed(2)} ms (median of 11) with the default fuel ${DEFAULT_FUEL}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
