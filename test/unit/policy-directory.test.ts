// The policy set of a supervisor (src/policy/directory.ts): --policy files first, then the directory's
// *.wasm in file-name order; a rescan reloads only what changed, keeps the previous version of a file
// that fails to load, and unloads what was removed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { PolicyDirectory, policyFileNames } from '../../src/policy/directory.js';
import { interestNotCovered } from '../../src/filter/interest.js';
import { tempDir, POLICY, TEST_POLICY } from '../support/wasmsup.js';

const names = (d: PolicyDirectory) => d.policies.map((p) => basename(p.file));

test('order: --policy files in command-line order, then the directory by file name; hidden and other files ignored', () => {
  const t = tempDir();
  try {
    const d = join(t.path, 'policies');
    mkdirSync(d);
    copyFileSync(TEST_POLICY('getppid-errno'), join(d, '50-deny.wasm'));
    copyFileSync(TEST_POLICY('getppid-return'), join(d, '10-return.wasm'));
    copyFileSync(TEST_POLICY('trap'), join(d, '.10-trap.wasm.tmp'));
    copyFileSync(TEST_POLICY('trap'), join(d, '.hidden.wasm'));
    writeFileSync(join(d, 'README'), 'not a policy');
    mkdirSync(join(d, 'sub.d'));
    const dir = new PolicyDirectory({ files: [POLICY('mknod')], directory: d });
    const scan = dir.load();
    assert.equal(scan.errors, []);
    assert.equal(names(dir), ['mknod.wasm', '10-return.wasm', '50-deny.wasm']);
    assert.equal(scan.added.map((f) => basename(f)), ['mknod.wasm', '10-return.wasm', '50-deny.wasm']);
    assert.ok(scan.changed);
    assert.equal(policyFileNames(['b.wasm', 'B.wasm', 'a.wasm', '_.wasm', '10.wasm', '9.wasm']), ['10.wasm', '9.wasm', 'B.wasm', '_.wasm', 'a.wasm', 'b.wasm']);
  } finally { t.cleanup(); }
});

test('rescan: unchanged files are kept as loaded, changed ones replaced, removed ones unloaded', () => {
  const t = tempDir();
  try {
    copyFileSync(TEST_POLICY('getppid-errno'), join(t.path, 'a.wasm'));
    copyFileSync(TEST_POLICY('trap'), join(t.path, 'b.wasm'));
    const dir = new PolicyDirectory({ directory: t.path });
    dir.load();
    const [a, b] = dir.policies;
    let scan = dir.rescan();
    assert.not.ok(scan.changed);
    assert.ok(dir.policies[0] === a && dir.policies[1] === b, 'the very same loaded modules');

    copyFileSync(TEST_POLICY('getppid-return'), join(t.path, 'b.wasm'));
    scan = dir.rescan();
    assert.ok(scan.changed);
    assert.equal(scan.replaced.map((f) => basename(f)), ['b.wasm']);
    assert.ok(dir.policies[0] === a);
    assert.is(dir.policies[1]!.name, 'getppid-return');

    rmSync(join(t.path, 'a.wasm'));
    scan = dir.rescan();
    assert.equal(scan.removed.map((f) => basename(f)), ['a.wasm']);
    assert.equal(names(dir), ['b.wasm']);
  } finally { t.cleanup(); }
});

test('a file that fails to load: refused with its reason; its previous version stays, a new one is not loaded', () => {
  const t = tempDir();
  try {
    copyFileSync(TEST_POLICY('getppid-errno'), join(t.path, 'a.wasm'));
    const dir = new PolicyDirectory({ directory: t.path });
    dir.load();
    const before = dir.policies[0];
    writeFileSync(join(t.path, 'a.wasm'), 'half-written');
    writeFileSync(join(t.path, 'c.wasm'), new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
    const scan = dir.rescan();
    assert.equal(scan.errors.map((e) => [basename(e.file), e.keptPrevious]), [['a.wasm', true], ['c.wasm', false]]);
    assert.match(scan.errors[0]!.reason, /not a WebAssembly module/);
    assert.match(scan.errors[1]!.reason, /missing export|no memory|no "wasmsup.policy"/);
    assert.not.ok(scan.changed);
    assert.ok(dir.policies.length === 1 && dir.policies[0] === before);

    // The start code must finish: a memory cap below the module's own maximum is refused too.
    const capped = new PolicyDirectory({ files: [TEST_POLICY('hungry')], load: { maximumPages: 64 } });
    const refused = capped.load();
    assert.match(refused.errors[0]!.reason, /memory maximum 256 pages \(16 MiB\) is above the cap of 64 pages \(4 MiB\)/);
    assert.equal(capped.policies, []);
  } finally { t.cleanup(); }
});

test('the directory itself unreadable: an error, and the policies loaded from it stay', () => {
  const t = tempDir();
  try {
    const d = join(t.path, 'p');
    mkdirSync(d);
    copyFileSync(TEST_POLICY('getppid-errno'), join(d, 'a.wasm'));
    const dir = new PolicyDirectory({ directory: d });
    dir.load();
    renameSync(d, join(t.path, 'moved'));
    const scan = dir.rescan();
    assert.match(scan.errors[0]!.reason, /cannot read the policy directory \(ENOENT\)/);
    assert.equal(names(dir), ['a.wasm']);
  } finally { t.cleanup(); }
});

test('interest beyond the installed filter', () => {
  const when = [[{ arg: 1, op: 'masked_eq' as const, mask: 0xf000n, value: 0x2000n }]];
  const installed = [{ syscall: 'mknod', when }, { syscall: 'getppid' }];
  assert.equal(interestNotCovered(installed, [{ syscall: 'getppid', when }, { syscall: 'mknod', when }]), []);
  assert.equal(interestNotCovered(installed, [{ syscall: 'mknodat' }, { syscall: 'mknod' }]), ['mknodat', 'mknod (beyond the conditions the filter routes)']);
});

test.run();
