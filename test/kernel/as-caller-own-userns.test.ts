// AS_CALLER's exact way for a caller in the helper's own user namespace whose root has a /proc of
// another pid namespace — a container without a user namespace, runc spec's default. The helper's
// child used to ask "/proc/self/ns/user" after entering that root, found no /proc/self there, took the
// caller's namespace for another one and failed setns() into its own (EINVAL): the caller got EPERM
// where its own CAP_DAC_OVERRIDE lets it through. Driven with examples/runc-sample-agent.ts (mkdir
// of a path makes PATH-SUFFIX as the caller; under `run` the suffix is ".", as the sample gives an
// empty listenerMetadata).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, copyFileSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runWasmsup, tempDir } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';

test('root of the initial user namespace, chrooted with its own pid namespace\'s /proc: mkdir in another owner\'s 0755 directory', async () => {
  if (!privileged('as-caller in the helper\'s own user namespace')) return;
  const tmp = tempDir('wasmsup-as-caller-own-userns-');
  try {
    const policy = join(tmp.path, 'runc-sample-agent.wasm');
    const built = await runWasmsup(['build', 'examples/runc-sample-agent.ts', '-o', policy], { timeoutMs: 120000 });
    assert.is(built.code, 0, built.stderr);
    const root = join(tmp.path, 'root');
    for (const d of ['bin', 'proc', 'owned']) mkdirSync(join(root, d), { recursive: true });
    copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
    chmodSync(join(root, 'bin', 'busybox'), 0o755);
    // Only CAP_DAC_OVERRIDE lets root write here: the worker's fast way (no capabilities of the
    // caller's) is refused, so the helper's exact way answers.
    chownSync(join(root, 'owned'), 100000, 100000);
    chmodSync(join(root, 'owned'), 0o755);
    const r = await runWasmsup(['run', '--policy', policy, '--', 'unshare', '--mount', '--pid', '--fork', 'sh', '-c',
      `mount -t proc proc ${root}/proc && umask 022 && chroot ${root} /bin/busybox mkdir /owned/x`], { timeoutMs: 60000 });
    assert.is(r.code, 0, r.stderr);
    assert.not.match(r.stderr, /cannot take on the caller's credentials/);
    const st = statSync(join(root, 'owned', 'x-.'));
    assert.equal([st.isDirectory(), st.uid, st.gid, (st.mode & 0o7777).toString(8)], [true, 0, 0, '755']);
  } finally {
    tmp.cleanup();
  }
});

test.run();
