// The /proc/TID/status parser behind readCreds/readCredsFd (native/proc_status.c), fed through
// readCredsFd on a plain file: every readable real status file of this machine against a plain
// reference reading of the same text, then odd files (missing, repeated and partial lines, long
// group lists, no final newline, a file larger than the parser's stack buffer).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { native } from '../../src/native.js';
import { Creds, CREDS_WORDS, CREDS_WORDS_ALL_GROUPS } from '../../src/layouts.js';

const dir = mkdtempSync(join(tmpdir(), 'wasmsup-status-'));
let files = 0;

/** readCredsFd of `text` written to a file: the words, or the error's code. */
function parse(text: string | Buffer, words = CREDS_WORDS): Uint32Array | string {
  const path = join(dir, `status-${files++}`);
  writeFileSync(path, text);
  const fd = openSync(path, 'r');
  try {
    const out = new Uint32Array(words).fill(0xdeadbeef);
    native.readCredsFd(fd, out);
    return out;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  } finally {
    closeSync(fd);
  }
}

/** Equal words, or a one-line failure at the first difference (uvu's diff of long arrays is slow). */
function same(actual: Uint32Array | string, expected: Uint32Array, what: string, words = expected.length): void {
  assert.type(actual, 'object', `${what}: ${actual}`);
  const a = actual as Uint32Array;
  for (let i = 0; i < words; i++) if (a[i] !== expected[i]) assert.unreachable(`${what}: word ${i} is ${a[i]}, expected ${expected[i]}`);
}

/** Digits of `base` from the start of `s` after blanks, as many numbers as follow each other. */
function numbers(value: string, base: number, bits = 32): bigint[] {
  const digits = base === 16 ? /^[0-9a-fA-F]+/ : base === 8 ? /^[0-7]+/ : /^[0-9]+/;
  const prefix = base === 16 ? '0x' : base === 8 ? '0o' : '';
  const out: bigint[] = [];
  let rest = value;
  for (;;) {
    rest = rest.replace(/^[ \t]+/, '');
    const m = digits.exec(rest);
    if (m === null) return out;
    out.push(BigInt.asUintN(bits, BigInt(prefix + m[0])));
    rest = rest.slice(m[0].length);
  }
}

/** The reference: each wanted line where it first appears, its numbers as above. */
function reference(text: string, words = CREDS_WORDS): Uint32Array {
  const out = new Uint32Array(words);
  out[Creds.UMASK] = 0xffffffff;
  const seen = new Set<string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon), value = line.slice(colon + 1);
    if (seen.has(key)) continue;
    seen.add(key);
    const put = (at: number, list: bigint[], count: number) => { for (let i = 0; i < Math.min(count, list.length); i++) out[at + i] = Number(list[i]!); };
    const cap = (at: number) => { const v = numbers(value, 16, 64)[0] ?? 0n; out[at] = Number(v & 0xffffffffn); out[at + 1] = Number(v >> 32n); };
    switch (key) {
      case 'Uid': put(Creds.UID, numbers(value, 10), 4); break;
      case 'Gid': put(Creds.GID, numbers(value, 10), 4); break;
      case 'Umask': put(Creds.UMASK, numbers(value, 8), 1); break;
      case 'Tgid': put(Creds.TGID, numbers(value, 10), 1); break;
      case 'CapInh': cap(Creds.CAP_INH); break;
      case 'CapPrm': cap(Creds.CAP_PRM); break;
      case 'CapEff': cap(Creds.CAP_EFF); break;
      case 'CapBnd': cap(Creds.CAP_BND); break;
      case 'NoNewPrivs': put(Creds.NO_NEW_PRIVS, numbers(value, 10), 1); break;
      case 'Groups': {
        const groups = numbers(value, 10);
        out[Creds.NGROUPS] = groups.length;
        put(Creds.GROUPS, groups, words - Creds.GROUPS);
        break;
      }
    }
  }
  return out;
}

const STATUS = [
  'Name:\tsh', 'Umask:\t0022', 'State:\tS (sleeping)', 'Tgid:\t4242', 'Ngid:\t0', 'Pid:\t4242', 'PPid:\t1',
  'TracerPid:\t0', 'Uid:\t1000\t1001\t1002\t1003', 'Gid:\t100\t101\t102\t103', 'FDSize:\t64', 'Groups:\t4 24 27 ',
  'NStgid:\t4242', 'VmRSS:\t    1024 kB', 'SigQ:\t0/63432', 'SigCgt:\t0000000000010002', 'CapInh:\t0000000000000000',
  'CapPrm:\t000001ffffffffff', 'CapEff:\t000001fffffeffff', 'CapBnd:\t000001ffffffffff', 'CapAmb:\t0000000000000000',
  'NoNewPrivs:\t1', 'Seccomp:\t2', 'voluntary_ctxt_switches:\t10', '',
].join('\n');

test('every readable /proc/PID/status and /proc/PID/task/TID/status of this machine reads as the reference reads it', () => {
  let checked = 0;
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    for (const path of [`/proc/${pid}/status`, `/proc/${pid}/task/${pid}/status`]) {
      let text: string;
      try { text = readFileSync(path, 'latin1'); } catch { continue; }
      if (text === '') continue;
      same(parse(Buffer.from(text, 'latin1')), reference(text), path);
      checked++;
    }
  }
  assert.ok(checked >= 2, `only ${checked} status files read`);
});

test('a typical file: each field where the layout says', () => {
  const w = parse(STATUS) as Uint32Array;
  assert.equal([...w.subarray(Creds.UID, Creds.UID + 4)], [1000, 1001, 1002, 1003]);
  assert.equal([...w.subarray(Creds.GID, Creds.GID + 4)], [100, 101, 102, 103]);
  assert.is(w[Creds.UMASK], 0o022);
  assert.is(w[Creds.TGID], 4242);
  assert.equal([...w.subarray(Creds.CAP_PRM, Creds.CAP_PRM + 2)], [0xffffffff, 0x1ff]);
  assert.equal([...w.subarray(Creds.CAP_EFF, Creds.CAP_EFF + 2)], [0xfffeffff, 0x1ff]);
  assert.is(w[Creds.NO_NEW_PRIVS], 1);
  assert.is(w[Creds.NGROUPS], 3);
  assert.equal([...w.subarray(Creds.GROUPS, Creds.GROUPS + 4)], [4, 24, 27, 0]);
  assert.equal([...w.subarray(Creds.USERNS_INODE, Creds.USERNS_INODE + 2)], [0, 0]);
  same(w, reference(STATUS), 'STATUS');
});

test('odd files read as the reference reads them: missing, partial, repeated and look-alike lines, no final newline', () => {
  const cases = [
    'Name:\tx\n',                                   // nothing wanted: zeroes, umask 0xffffffff
    'Uid:\t5\t6\n',                                 // fewer numbers than words
    'Uid:\n',
    'Groups:\n',
    'Groups:\t\t \n',
    'Uid:\t1 2 3 4\nUid:\t9 9 9 9\n',               // repeated: the first one
    'Uidx:\t7 7 7 7\nUid \t8 8 8 8\nuid:\t9\n',     // look-alikes are other lines
    'Uid:\t1\t2\t3\t4',                             // no final newline
    'Umask:\t0777\nTgid:\t2147483647\nNoNewPrivs:\t0',
    'Uid:\t4294967295 4294967296 99999999999 0\n',  // kept modulo 2^32
    'CapEff:\tffffffffffffffff\nCapInh:\t\nCapBnd:\tzz\n',
    '\n\n:\n\0\0\nGid:\t3 3 3 3\n',
    STATUS.replace('NoNewPrivs:\t1\n', ''),          // no early end: read to the last line
  ];
  for (const text of cases) same(parse(text), reference(text), JSON.stringify(text));
});

test('groups beyond the buffer are counted, not written; a buffer of every group holds them all, past the stack buffer', () => {
  const groups = Array.from({ length: 5000 }, (_, i) => 100000 + i);
  const text = STATUS.replace('Groups:\t4 24 27 ', `Groups:\t${groups.join(' ')} `);
  assert.ok(text.length > 16384);
  const small = parse(text) as Uint32Array;
  assert.is(small[Creds.NGROUPS], 5000);
  same(small, reference(text), 'CREDS_WORDS');
  const all = parse(text, CREDS_WORDS_ALL_GROUPS) as Uint32Array;
  // The words past the last group are left as they were.
  same(all, reference(text, CREDS_WORDS_ALL_GROUPS), 'CREDS_WORDS_ALL_GROUPS', Creds.GROUPS + 5000);
  assert.is(all[Creds.TGID], 4242);
});

test('an empty file is a task that exited (ESRCH); a short buffer is refused', () => {
  assert.is(parse(''), 'ESRCH');
  const fd = openSync('/proc/self/status', 'r');
  try {
    assert.throws(() => native.readCredsFd(fd, new Uint32Array(CREDS_WORDS - 1)), /CREDS_WORDS/);
    assert.throws(() => native.readCredsFd(fd, new Int32Array(CREDS_WORDS) as unknown as Uint32Array), /Uint32Array/);
  } finally { closeSync(fd); }
});

test('with usernsOf, the user namespace inode lands in Creds.USERNS_INODE (lo, hi)', () => {
  const fd = openSync(`/proc/${process.pid}/status`, 'r');
  try {
    const out = new Uint32Array(CREDS_WORDS);
    native.readCredsFd(fd, out, process.pid);
    assert.is(out[Creds.USERNS_INODE]! + out[Creds.USERNS_INODE + 1]! * 2 ** 32, native.nsInode(process.pid, 'user'));
    assert.is(out[Creds.TGID], process.pid);
  } finally { closeSync(fd); }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
