// Attacks on the mknod emulation's path resolution (the exact path's privileged create step, and
// lookups done for a caller through /proc's magic links), written as a hostile workload would: root
// of a user namespace under the mknod policy, which allows it c 1:3 (docs/security.md, "mknod").
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, copyFileSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { runWasmsup, tempDir, POLICY, buildProbe } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { syscallProbe } from '../support/syscall-probe.js';

const NS_ROOT = 100000;
const MKNOD = POLICY('mknod');
// The race's bounds: whichever comes first.
const RACE_TRIES = 60000;
const RACE_SECONDS = 10;
const HELPER_ONLY = { ...process.env, WASMSUP_TEST_FAULTS: 'mknod-helper-only=1' };

/** A temporary directory owned by the namespace's root, as a container's rootfs would be. */
function nsOwnedDir() {
  const t = tempDir();
  chmodSync(t.path, 0o755);
  chownSync(t.path, NS_ROOT, NS_ROOT);
  return t;
}

function nsOwnedSubdir(parent: string, name: string): string {
  const dir = join(parent, name);
  mkdirSync(dir, 0o755);
  chownSync(dir, NS_ROOT, NS_ROOT);
  return dir;
}

/**
 * Two symlinks swapped by RENAME_EXCHANGE between a directory the namespace root may write and a
 * root-owned one of `protectedMode` it may not; the workload calls mknod through one of them.
 */
async function symlinkRace(protectedMode: number, env?: NodeJS.ProcessEnv) {
  const t = nsOwnedDir();
  try {
    const base = t.path;
    nsOwnedSubdir(base, 'w');
    const prot = join(base, 'p');
    mkdirSync(prot);
    chmodSync(prot, protectedMode);
    symlinkSync('w', join(base, 'l1'));
    symlinkSync('p', join(base, 'l2'));
    const r = await runWasmsup(['run', '--userns', '--policy', MKNOD, '--', buildProbe('mknod-resolve-probe'), 'race', base,
      String(RACE_TRIES), String(RACE_SECONDS)], { env, timeoutMs: (RACE_SECONDS + 30) * 1000 });
    assert.is(r.code, 0, r.stderr);
    const m = /^tries=(\d+) created=(\d+) won=(\d+) eacces=(\d+) eperm=(\d+) other=(\d+)$/.exec(r.stdout.trim());
    assert.ok(m, r.stdout);
    const [tries, created, won, eacces, eperm, other] = m!.slice(1).map(Number);
    console.log(`  0${protectedMode.toString(8)} protected directory: ${r.stdout.trim()}`);
    assert.is(readdirSync(prot).length, 0, 'nodes created in the protected directory');
    assert.is(won, 0);
    // Both ways were taken, so the race was really run: created through w, refused through p.
    assert.ok(created! > 0 && eacces! > 0, r.stdout);
    assert.is(eperm, 0);
    assert.is(other, 0);
    assert.ok(tries! > 0);
  } finally { t.cleanup(); }
}

test('RENAME_EXCHANGE symlink race: no node is ever created in a root-owned 0700 directory', async () => {
  if (!privileged('mknod symlink race 0700')) return;
  await symlinkRace(0o700);
});

test('RENAME_EXCHANGE symlink race: no node is ever created in a root-owned 0755 directory', async () => {
  if (!privileged('mknod symlink race 0755')) return;
  await symlinkRace(0o755);
});

/**
 * A workload chrooted inside its user namespace, with the host's /proc (same pid namespace) bound into
 * its root, aims mknod at a directory outside the chroot through /proc's magic links. Every lookup
 * done for a caller refuses magic links (ELOOP), whoever resolves it (the worker thread or the helper's
 * impersonator, whose /proc/self is not the caller).
 */
async function magicLinks(env?: NodeJS.ProcessEnv) {
  const t = nsOwnedDir();
  try {
    const outside = nsOwnedSubdir(t.path, 'outside');
    const root = nsOwnedSubdir(t.path, 'root');
    nsOwnedSubdir(root, 'proc');
    copyFileSync(buildProbe('mknod-resolve-probe'), join(root, 'probe'));
    chmodSync(join(root, 'probe'), 0o755);
    const FDS = 64;
    // The bind mount lives and dies with the workload's own mount namespace.
    const r = await runWasmsup(['run', '--userns', '--policy', MKNOD, '--', 'sh', '-c',
      `mount --rbind /proc ${root}/proc && exec chroot ${root} /probe magic ${outside} ${FDS}`], { env, cwd: outside });
    assert.is(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.is(lines.length, 3 + 2 * FDS, r.stdout);
    const results = new Map(lines.map((l) => {
      const m = /^(\S+) ret=(-?\d+) errno=(\S+)$/.exec(l);
      assert.ok(m, l);
      return [m![1]!, m![3]!] as const;
    }));
    assert.equal(readdirSync(outside), [], `created outside the chroot:\n${r.stdout}`);
    assert.is(results.get('self_root'), 'ELOOP');
    assert.is(results.get('thread_self_root'), 'ELOOP');
    assert.is(results.get('self_cwd'), 'ELOOP');
    // An fd the resolving process has is a magic link (ELOOP); one it has not does not exist.
    for (const [name, errno] of results) {
      if (name.startsWith('self_fd_')) assert.ok(errno === 'ELOOP' || errno === 'ENOENT', `${name}: ${errno}`);
    }
    assert.is(results.get('self_fd_0'), 'ELOOP');
  } finally { t.cleanup(); }
}

test('/proc magic links from a chroot: nothing is created outside it, ELOOP (worker thread first)', async () => {
  if (!privileged('mknod magic links')) return;
  await magicLinks();
});

test('/proc magic links from a chroot: nothing is created outside it, ELOOP (helper only)', async () => {
  if (!privileged('mknod magic links, helper only')) return;
  await magicLinks(HELPER_ONLY);
});

test('setxattr looks its path up the same way: a /proc magic link, which would be the helper\'s child, is ELOOP', async () => {
  if (!privileged('setxattr magic links')) return;
  const t = nsOwnedDir();
  try {
    const dir = nsOwnedSubdir(t.path, 'layer');
    const r = await runWasmsup(['run', '--userns', '--policy', POLICY('setxattr'), '--', syscallProbe(), 'setxattr',
      `/proc/self/root${dir}`, 'trusted.overlay.opaque', 'y']);
    assert.is(r.stdout.trim(), 'ret=-1 errno=ELOOP', r.stderr);
    const xattrs = execFileSync('python3', ['-c', 'import os, sys; print(os.listxattr(sys.argv[1]))', dir], { encoding: 'utf8' });
    assert.is(xattrs.trim(), '[]');
  } finally { t.cleanup(); }
});

test('RENAME_EXCHANGE symlink race, helper only: no node is ever created in a root-owned 0700 directory', async () => {
  if (!privileged('mknod symlink race 0700, helper only')) return;
  await symlinkRace(0o700, HELPER_ONLY);
});

test.run();
