// The fast path's switch to a caller (native/as_caller.h, as_caller_switch_egid): the gid side
// through setresgid(-1, gid, -1) and back, the uid side through setfsuid (read back) and capset of
// the lent capabilities. Against the real kernel: the step holds only the lent capabilities, also
// for a caller whose fsuid is 0 (no DAC override: someone else's 0700 directory stays shut), creates
// with the caller's fsuid and fsgid (also fsuid 0 with another fsgid), and every credential of the
// thread is back afterwards (real, effective, saved and fs ids, groups, capabilities, umask, root),
// after successes and refusals alike.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { native } from '../../src/native.js';
import { privileged } from '../support/privileged.js';
import { tempDir } from '../support/wasmsup.js';
import type { AsCallerCall } from '../support/as-caller-worker.js';
import { onWorker } from '../support/as-caller-run.js';

const NS_ROOT = 100000;
const S_IFCHR = 0o020000;
const DEV_NULL = (1 << 8) | 3;
const E = (name: string) => native.errnoNumber(name);

const call = (over: Partial<AsCallerCall> & Pick<AsCallerCall, 'path'>): AsCallerCall => ({
  root: '/', start: null, mode: S_IFCHR | 0o666, dev: DEV_NULL, fsuid: NS_ROOT, fsgid: NS_ROOT, umask: 0o022, groups: [],
  capEffLo: 0, ...over,
});

test('fsuid 0 with only CAP_MKNOD: no DAC override, the owner root; fsuid 100000 likewise; the thread is itself after each', async () => {
  if (!privileged('the as-caller switch')) return;
  const t = tempDir();
  try {
    const base = t.path;
    chmodSync(base, 0o755);
    // Someone else's 0700 directory: only CAP_DAC_OVERRIDE would let fsuid 0 in.
    mkdirSync(join(base, 'private'));
    chownSync(join(base, 'private'), 1234, 1234);
    chmodSync(join(base, 'private'), 0o700);
    // A directory root owns, writable by root alone.
    mkdirSync(join(base, 'roots'));
    chmodSync(join(base, 'roots'), 0o755);
    const report = await onWorker([
      call({ path: join(base, 'private', 'n'), fsuid: 0, fsgid: 0 }),
      call({ path: join(base, 'roots', 'n'), fsuid: 0, fsgid: 0, umask: 0o077 }),
      call({ path: join(base, 'roots', 'm'), fsuid: NS_ROOT, fsgid: NS_ROOT }),
      call({ path: join(base, 'private', 'm'), fsuid: 1234, fsgid: 1234, groups: [5, 6] }),
      call({ path: join(base, 'roots', 'g'), fsuid: 0, fsgid: NS_ROOT }),
    ]);
    assert.equal(report.results, [E('EACCES'), 0, E('EACCES'), 0, 0]);
    assert.not.ok(existsSync(join(base, 'private', 'n')));
    const asRoot = lstatSync(join(base, 'roots', 'n'));
    assert.ok(asRoot.isCharacterDevice());
    assert.is(asRoot.uid, 0);
    assert.is(asRoot.mode & 0o777, 0o600);
    const asOwner = lstatSync(join(base, 'private', 'm'));
    assert.is(asOwner.uid, 1234);
    assert.is(asOwner.gid, 1234);
    // fsuid 0 with another fsgid: the group is the caller's fsgid, not the thread's.
    assert.is(lstatSync(join(base, 'roots', 'g')).gid, NS_ROOT);
    // Ids (real, effective, saved, fs), groups, CapEff, umask, root: as before.
    assert.equal(report.after, report.before);
  } finally { t.cleanup(); }
});

test.run();
