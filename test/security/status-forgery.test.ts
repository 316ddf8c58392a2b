// Attack: a caller forges lines of its own /proc/TID/status, which wasmsup reads for its credentials
// (readCreds/readCredsFd, native/proc_status.c). The only text of that file a task chooses is its
// name (prctl(PR_SET_NAME), or /proc/self/comm), printed on the first line, before Uid: and the rest.
// The parser takes each line the first time it appears, so a name that started a new "Uid:\t0 ..."
// line would be believed. The kernel escapes a newline in the name ("\n" as two characters), and this
// test holds both to it: an unprivileged task named to look like root reads as itself.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { native } from '../../src/native.js';
import { Creds, CREDS_WORDS } from '../../src/layouts.js';
import { privileged } from '../support/privileged.js';
import { eventually, killPid } from '../support/oci.js';

const NOBODY = 65534;

// Drops to nobody, then names itself so that its status would read as root's: a name holds 15 bytes,
// one whole forged line ("x", a newline, "Uid:" and four tab-separated zeros).
const FORGER = String.raw`
import ctypes, os, time
os.setgroups([]); os.setgid(${NOBODY}); os.setuid(${NOBODY})
libc = ctypes.CDLL(None)
libc.prctl(15, b"x\nUid:\t0\t0\t0\t0", 0, 0, 0)  # PR_SET_NAME
print("ready", flush=True)
time.sleep(60)
`;

test('a caller named "x\\nUid:\\t0…" is read as itself: its uid, gid, groups and capabilities', async () => {
  if (!privileged('status forgery')) return;
  const forger = spawn('python3', ['-c', FORGER], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  forger.stdout!.on('data', (d) => { out += d; });
  try {
    await eventually(() => /ready/.test(out), 'the forger did not start');
    const pid = forger.pid!;
    assert.match(readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')[0]!, /^Name:\tx\\nUid:/, 'the name is not the forged one');
    const words = new Uint32Array(CREDS_WORDS);
    native.readCreds(pid, words);
    const fd = native.openPath(`/proc/${pid}/status`, native.constants.O_RDONLY);
    const byFd = new Uint32Array(CREDS_WORDS);
    try { native.readCredsFd(fd, byFd); } finally { native.close(fd); }
    for (const [what, w] of [['readCreds', words], ['readCredsFd', byFd]] as const) {
      for (let i = 0; i < 4; i++) {
        assert.is(w[Creds.UID + i], NOBODY, `${what}: uid word ${i}`);
        assert.is(w[Creds.GID + i], NOBODY, `${what}: gid word ${i}`);
      }
      assert.is(w[Creds.NGROUPS], 0, `${what}: groups`);
      assert.is(w[Creds.CAP_EFF], 0, `${what}: effective capabilities (low)`);
      assert.is(w[Creds.CAP_EFF + 1], 0, `${what}: effective capabilities (high)`);
    }
  } finally {
    killPid(forger.pid);
  }
});

test.run();
