// inspect-open must see every call of the open family that can write a path: open, openat, openat2
// and creat(2) (which is open(path, O_CREAT|O_WRONLY|O_TRUNC, mode) under its own number, 85 on
// x86_64, 8 on i386). The attacker simply uses creat: before the fix the filter never sent it to the
// policy and the file under /etc/ was created. The workload runs as the host's root (no user
// namespace), so the kernel alone would let every one of these calls through.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, rmSync } from 'node:fs';
import { runWasmsup, POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { syscallProbe } from '../support/syscall-probe.js';

const O_WRONLY_CREAT_TRUNC = 0o1101;

test('creat (native and i386) of a path under /etc/ fails EROFS and creates nothing; open, openat, openat2 too', async () => {
  if (!privileged('inspect-open creat')) return;
  const p = syscallProbe();
  const target = (k: string) => `/etc/wasmsup-security-inspect-${process.pid}-${k}`;
  const calls: [string, string][] = [
    ['creat', `creat ${target('creat')} 0644`],
    ['open', `open ${target('open')} ${O_WRONLY_CREAT_TRUNC}`],
    ['openat', `openat ${target('openat')} ${O_WRONLY_CREAT_TRUNC}`],
    ['openat2', `openat2 ${target('openat2')} ${O_WRONLY_CREAT_TRUNC} 24 0 0`],
  ];
  if (process.arch === 'x64') {
    calls.push(['i386-creat', `--i386 creat ${target('i386-creat')} 0644`]);
    calls.push(['i386-open', `--i386 open ${target('i386-open')} ${O_WRONLY_CREAT_TRUNC}`]);
  }
  try {
    const script = calls.map(([, c]) => `${p} ${c} | cut -d' ' -f1-2`).join('; ');
    const r = await runWasmsup(['run', '--policy', POLICY('inspect-open'), '--', 'sh', '-c', script]);
    assert.is(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n'), calls.map(() => 'ret=-1 errno=EROFS'), r.stdout);
    for (const [k] of calls) assert.not.ok(existsSync(target(k)), `${target(k)} was created`);
  } finally {
    for (const [k] of calls) rmSync(target(k), { force: true });
  }
});

test('creat outside /etc/ still reaches the kernel (continued): the file is created', async () => {
  if (!privileged('inspect-open creat elsewhere')) return;
  const path = `/tmp/wasmsup-security-inspect-${process.pid}`;
  try {
    const r = await runWasmsup(['run', '--policy', POLICY('inspect-open'), '--', syscallProbe(), 'creat', path, '0600']);
    assert.is(r.code, 0, r.stderr);
    // write-only: the probe's read of it fails EBADF
    assert.is(r.stdout.trim(), 'ret=3 errno=0 cloexec=0 data=<EBADF>');
    assert.ok(existsSync(path));
  } finally { rmSync(path, { force: true }); }
});

test.run();
