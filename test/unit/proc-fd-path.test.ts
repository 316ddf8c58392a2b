// procFdOf: which caller paths the xattr emulations start from the caller's own fd (GNU tar's
// /proc/self/fd/N/name), and which they leave alone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { procFdMatch, procFdOf } from '../../src/emulate/proc-fd-path.js';

function of(path: string): [number, string] {
  const bytes = Buffer.from(path);
  const fd = procFdOf(bytes, bytes.length);
  return [fd, fd >= 0 ? path.slice(procFdMatch.restOffset) : ''];
}

test('/proc/self/fd/N/REST and /proc/thread-self/fd/N/REST: N and REST', () => {
  assert.equal(of('/proc/self/fd/4/d'), [4, 'd']);
  assert.equal(of('/proc/thread-self/fd/12/a/b'), [12, 'a/b']);
  assert.equal(of('/proc/self/fd/0/x'), [0, 'x']);
  assert.equal(of('/proc/self/fd/2147483647/x'), [2147483647, 'x']);
});

test('anything else is not taken: the bare link, no rest, leading zeros, overflow, other pids, relative', () => {
  for (const p of ['/proc/self/fd/4', '/proc/self/fd/4/', '/proc/self/fd/04/x', '/proc/self/fd//x', '/proc/self/fd/x/y',
    '/proc/self/fd/2147483648/x', '/proc/1/fd/4/x', 'proc/self/fd/4/x', '//proc/self/fd/4/x', '/proc/self/fdx/4/x', '']) {
    assert.is(of(p)[0], -1, p);
  }
});

test.run();
