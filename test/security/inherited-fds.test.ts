// Attack: the workload uses an fd it should never have had. Whoever starts the supervisor (a shell,
// a service manager, a CI runner) may leave fds open without O_CLOEXEC; they pass through Node into
// the launcher, and from there into the workload, which runs with less privilege (here: root of a
// user namespace mapped to unprivileged host ids). The workload looks for such an fd and writes
// through it into a file only host root may write.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { WASMSUP, ROOT, tempDir } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';

test('the workload inherits no fd of the supervisor\'s beyond stdin, stdout and stderr', async () => {
  if (!privileged('inherited fds')) return;
  const t = tempDir('wasmsup-sec-fds-');
  const secret = join(t.path, 'root-only');
  writeFileSync(secret, 'untouched\n');
  chmodSync(secret, 0o600);
  const fd = openSync(secret, 'a');
  try {
    // Every fd the workload has, and a write through each one above stderr.
    const script = 'import os\nfor n in sorted(int(x) for x in os.listdir("/proc/self/fd")):\n' +
      '    if n <= 2: continue\n    try:\n        os.write(n, b"pwned\\n"); print("wrote-through", n)\n' +
      '    except OSError: pass\n    print("fd", n)\nprint("done")\n';
    // As fd 200 of the supervisor: high enough that nothing the supervisor opens itself takes its place.
    const stdio: ('ignore' | 'pipe' | number)[] = ['ignore', 'pipe', 'pipe', ...Array<'ignore'>(197).fill('ignore'), fd];
    const child = spawn(WASMSUP, ['run', '--userns', '--', 'python3', '-c', script], { cwd: ROOT, stdio });
    let stdout = '', stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.is(code, 0, stderr);
    assert.match(stdout, /^done$/m, stdout);
    assert.not.match(stdout, /wrote-through/, `the workload wrote through an inherited fd:\n${stdout}`);
    assert.is(readFileSync(secret, 'utf8'), 'untouched\n');
    // Only the fd python itself opened to list the directory may show up.
    const listed = [...stdout.matchAll(/^fd (\d+)$/gm)].map((m) => Number(m[1]));
    assert.ok(!listed.includes(200), `fd 200 reached the workload: ${listed.join(', ')}`);
  } finally {
    closeSync(fd);
    t.cleanup();
  }
});

test.run();
