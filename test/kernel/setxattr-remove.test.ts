// The setxattr policy's removexattr: the workload's root may remove what it may set
// (trusted.overlay.opaque), with the same checks as setxattr (docs/policies.md, "setxattr"); any
// other name is the kernel's.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { runWasmsup, tempDir, POLICY } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { NS_ROOT } from '../support/syscall-probe.js';

const SETXATTR = POLICY('setxattr');
const O = 'trusted.overlay.opaque';

function opaque(path: string): boolean {
  return execFileSync('python3', ['-c', `import os,sys\nprint("${O}" in os.listxattr(sys.argv[1], follow_symlinks=False))`, path],
    { encoding: 'utf8' }).trim() === 'True';
}

test('removexattr, lremovexattr, fremovexattr of trusted.overlay.opaque: removed where the caller could set it, the kernel\'s answer elsewhere', async () => {
  if (!privileged('setxattr policy removexattr')) return;
  const t = tempDir();
  try {
    chmodSync(t.path, 0o755);
    chownSync(t.path, NS_ROOT, NS_ROOT);
    for (const d of ['a', 'b', 'c', 'host-owned']) {
      mkdirSync(join(t.path, d));
      if (d !== 'host-owned') chownSync(join(t.path, d), NS_ROOT, NS_ROOT);
      execFileSync('python3', ['-c', `import os,sys\nos.setxattr(sys.argv[1], "${O}", b"y")`, join(t.path, d)]);
    }
    const py = [
      'import os',
      `d = ${JSON.stringify(t.path)}`,
      'def t(label, f):',
      '  try: f(); print(label, "ok")',
      '  except OSError as e: print(label, e.errno)',
      `O = ${JSON.stringify(O)}`,
      't("path", lambda: os.removexattr(d + "/a", O))',
      't("again", lambda: os.removexattr(d + "/a", O))',
      't("link", lambda: os.removexattr(d + "/c", O, follow_symlinks=False))',
      'fd = os.open(d + "/b", os.O_RDONLY)',
      't("fd", lambda: os.removexattr(fd, O))',
      't("host-owned", lambda: os.removexattr(d + "/host-owned", O))',
      't("other-trusted", lambda: os.removexattr(d + "/b", "trusted.overlay.redirect"))',
      't("missing", lambda: os.removexattr(d + "/nx", O))',
    ].join('\n');
    const without = await runWasmsup(['run', '--userns', '--', 'python3', '-c', py]);
    assert.is(without.code, 0, without.stderr);
    assert.is(without.stdout, 'path 1\nagain 1\nlink 1\nfd 1\nhost-owned 1\nother-trusted 1\nmissing 2\n');
    const r = await runWasmsup(['run', '--userns', '--policy', SETXATTR, '--', 'python3', '-c', py]);
    assert.is(r.code, 0, r.stderr);
    // ENODATA (61) once removed; EPERM for an inode the namespace does not map and for a name the host never sets.
    assert.is(r.stdout, 'path ok\nagain 61\nlink ok\nfd ok\nhost-owned 1\nother-trusted 1\nmissing 2\n');
    assert.equal(['a', 'b', 'c', 'host-owned'].map((d) => opaque(join(t.path, d))), [false, false, false, true]);
  } finally { t.cleanup(); }
});

test.run();
