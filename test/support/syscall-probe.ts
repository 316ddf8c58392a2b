// The syscall probe (test/probe/syscall-probe.c), built statically once per test process, and a bare
// chroot directory holding it, for tests whose policies resolve paths inside the caller's root.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './wasmsup.js';

let probePath: string | null = null;

export function syscallProbe(): string {
  if (probePath && existsSync(probePath)) return probePath;
  const dir = join(ROOT, 'build', 'test-bin');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, 'syscall-probe');
  execFileSync('gcc', ['-O1', '-Wall', '-static', '-o', out, join(ROOT, 'test', 'probe', 'syscall-probe.c')]);
  probePath = out;
  return out;
}

/** Copies the probe to ROOTFS/probe, so `chroot ROOTFS /probe ...` runs it. */
export function installProbe(rootfs: string): void {
  copyFileSync(syscallProbe(), join(rootfs, 'probe'));
  chmodSync(join(rootfs, 'probe'), 0o755);
}

/** Host uid/gid of the user namespace's root (`--userns` maps 0 → 100000). */
export const NS_ROOT = 100000;
