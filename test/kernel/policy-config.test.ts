// Policy configuration against the kernel (docs/policies.md, docs/lifecycle.md): `run` with mknod.json
// allowlists beside mknod.wasm and with --policy-config, bad configuration as one line naming the file
// and the key (exit 2), a SIGHUP with a bad configuration keeping the previous allowlist serving,
// run --label as the policies' identity, and sysinfo's sources. The reader and refusals without a
// workload: test/unit/policy-config.test.ts; the agent's per-container configuration: test/e2e/oci-config.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, readFileSync, writeFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { runWasmsup, tempDir, POLICY, TEST_POLICY, buildProbe } from '../support/wasmsup.js';
import { privileged } from '../support/privileged.js';
import { createCgroup, memoryHierarchy } from '../support/cgroups.js';

const READER = TEST_POLICY('json-reader');
const MKNOD = POLICY('mknod');
const NS_ROOT = 100000;

/** A directory holding the mknod policy and, when given, its mknod.json. */
function mknodDirectory(config?: string) {
  const t = tempDir('wasmsup-config-');
  chmodSync(t.path, 0o755);
  chownSync(t.path, NS_ROOT, NS_ROOT);
  copyFileSync(MKNOD, join(t.path, 'mknod.wasm'));
  if (config !== undefined) writeFileSync(join(t.path, 'mknod.json'), config);
  return t;
}

const BAD_CONFIGS: [string, string | Buffer, RegExp][] = [
  ['unknown key', '{"devices": ["c 1:3"], "devicez": []}', /mknod\.json: policy mknod refused its configuration: unknown key "devicez" \(known keys: devices, allowBlock\)$/],
  ['wrong type', '{"devices": "c 1:3"}', /mknod\.json: policy mknod refused its configuration: devices: must be an array of "c MAJOR:MINOR" strings, not "c 1:3"$/],
  ['wrong type of allowBlock', '{"allowBlock": "yes"}', /mknod\.json: policy mknod refused its configuration: allowBlock: must be true or false, not "yes"$/],
  ['bad entry', '{"devices": ["c 1:3", "c 1:x"]}', /mknod\.json: policy mknod refused its configuration: devices\[1\]: "c 1:x" is not "c MAJOR:MINOR" or "b MAJOR:MINOR"$/],
  ['block device refused', '{"devices": ["c 1:3", "b 8:0"]}', /mknod\.json: policy mknod refused its configuration: devices\[1\]: "b 8:0" is a block device, refused unless "allowBlock": true$/],
  ['not JSON', 'devices = c 1:3\n', /mknod\.json: configuration is not JSON: /],
  ['10 MiB', Buffer.alloc(10 << 20, 0x20), /mknod\.json: configuration is 10485760 bytes, at most 1048576 are accepted$/],
];

test('bad configuration: `run` refuses to start, one line naming the file and the key, exit 2', async () => {
  if (!privileged('bad configurations')) return;
  for (const [what, text, expected] of BAD_CONFIGS) {
    const t = mknodDirectory();
    try {
      writeFileSync(join(t.path, 'mknod.json'), text);
      const r = await runWasmsup(['run', '--policies', t.path, '--', 'true']);
      assert.is(r.code, 2, `${what}: ${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.is(lines.length, 1, `${what}: ${r.stderr}`);
      assert.match(lines[0]!, /^wasmsup: \//, what);
      assert.match(lines[0]!, expected, what);
      // --policy FILE --policy-config FILE: the same line.
      const explicit = await runWasmsup(['run', '--policy', MKNOD, '--policy-config', join(t.path, 'mknod.json'), '--', 'true']);
      assert.is(explicit.code, 2, what);
      assert.match(explicit.stderr.trim(), expected, what);
    } finally { t.cleanup(); }
  }
  const missing = await runWasmsup(['run', '--policy', MKNOD, '--policy-config', '/nonexistent/mknod.json', '--', 'true']);
  assert.is(missing.code, 2);
  assert.is(missing.stderr.trim(), 'wasmsup: /nonexistent/mknod.json: cannot read configuration: no such file');
  const orphan = await runWasmsup(['run', '--policy-config', '/x.json', '--policy', MKNOD, '--', 'true']);
  assert.is(orphan.code, 2);
  assert.is(orphan.stderr.trim(), 'wasmsup: run: --policy-config FILE must follow the --policy FILE it configures');
});

test('run --label: the policies\' identity; a configuration from --policy-config reaches decide()', async () => {
  const t = tempDir('wasmsup-config-');
  try {
    writeFileSync(join(t.path, 'r.json'), '{"n": 42}');
    const r = await runWasmsup(['run', '--label', 'build 7', '--policy', READER, '--policy-config', join(t.path, 'r.json'), '--',
      'python3', '-c', 'import os; print(os.getppid())']);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, '42\n');
    assert.match(r.stderr, /identity \{"label":"build 7"\}/);
    const unlabelled = await runWasmsup(['run', '--policy', READER, '--', 'python3', '-c', 'import os; print(os.getppid())']);
    assert.is(unlabelled.stdout, '0\n', unlabelled.stderr);
    assert.match(unlabelled.stderr, /config none[\s\S]*identity \{\}/);
  } finally { t.cleanup(); }
});

/** Tries mknod of each `[name, "c"|"b", major, minor]` in `dir` as root of a user namespace; "name ok" or "name ERRNO". */
function mknodScript(dir: string, nodes: [string, string, number, number][]): string {
  return [
    'import os, stat',
    `d = ${JSON.stringify(dir)}`,
    ...nodes.map(([name, type, major, minor]) => [
      'try:',
      `  os.mknod(os.path.join(d, ${JSON.stringify(name)}), ${type === 'b' ? 'stat.S_IFBLK' : 'stat.S_IFCHR'} | 0o600, os.makedev(${major}, ${minor})); print(${JSON.stringify(name)}, "ok")`,
      `except OSError as e: print(${JSON.stringify(name)}, e.errno)`,
    ].join('\n')),
  ].join('\n');
}

const NODES: [string, string, number, number][] = [['null', 'c', 1, 3], ['zero', 'c', 1, 5], ['port', 'c', 1, 4], ['loop', 'b', 7, 0]];

test('run with mknod.json: the allowlist is the configuration\'s, replacing the default; block devices only when allowed', async () => {
  if (!privileged('mknod configuration')) return;
  const cases: [string | undefined, string][] = [
    [undefined, 'null ok\nzero ok\nport 1\nloop 1\n'],
    ['{"devices": ["c 1:5"]}', 'null 1\nzero ok\nport 1\nloop 1\n'],
    ['{"devices": ["c 1:4", "b 7:0"], "allowBlock": true}', 'null 1\nzero 1\nport ok\nloop ok\n'],
    ['{"devices": []}', 'null 1\nzero 1\nport 1\nloop 1\n'],
  ];
  for (const [config, expected] of cases) {
    const t = mknodDirectory(config);
    try {
      const r = await runWasmsup(['run', '--userns', '--policies', t.path, '--', 'python3', '-c', mknodScript(t.path, NODES)]);
      assert.is(r.code, 0, r.stderr);
      assert.is(r.stdout, expected, config);
      for (const line of expected.split('\n').filter((l) => l.endsWith(' ok'))) {
        const [name] = line.split(' ');
        const st = lstatSync(join(t.path, name!));
        assert.ok(name === 'loop' ? st.isBlockDevice() : st.isCharacterDevice(), name);
        assert.is(st.uid, NS_ROOT);
      }
    } finally { t.cleanup(); }
  }
  // --policy FILE --policy-config FILE: the same contract.
  const t = mknodDirectory();
  try {
    writeFileSync(join(t.path, 'only-zero.json'), '{"devices": ["c 1:5"]}');
    const r = await runWasmsup(['run', '--userns', '--policy', MKNOD, '--policy-config', join(t.path, 'only-zero.json'), '--',
      'python3', '-c', mknodScript(t.path, NODES)]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, 'null 1\nzero ok\nport 1\nloop 1\n');
  } finally { t.cleanup(); }
});

test('SIGHUP with a bad mknod.json: logged with file and key, the previous allowlist keeps serving; a good one is taken', async () => {
  if (!privileged('mknod configuration reload')) return;
  const t = mknodDirectory('{"devices": ["c 1:3"]}');
  try {
    const py = [
      'import os, stat, time, sys',
      `d = ${JSON.stringify(t.path)}`,
      'def step(n):',
      '  while not os.path.exists(os.path.join(d, "go%d" % n)): time.sleep(0.02)',
      'def try_(name, major, minor):',
      '  try:',
      '    os.mknod(os.path.join(d, name), stat.S_IFCHR | 0o600, os.makedev(major, minor)); print(name, "ok")',
      '  except OSError as e: print(name, e.errno)',
      '  sys.stdout.flush()',
      'try_("a-null", 1, 3); try_("a-zero", 1, 5)',
      'open(os.path.join(d, "ready1"), "w").close(); step(1)',
      'try_("b-null", 1, 3); try_("b-zero", 1, 5)',
      'open(os.path.join(d, "ready2"), "w").close(); step(2)',
      'try_("c-null", 1, 3); try_("c-zero", 1, 5)',
    ].join('\n');
    let pid = 0;
    const waitFile = async (name: string) => { for (let i = 0; i < 500 && !existsSync(join(t.path, name)); i++) await new Promise((r) => setTimeout(r, 20)); };
    const running = runWasmsup(['run', '--userns', '--policies', t.path, '--', 'python3', '-c', py], { onSpawn: (p) => { pid = p; } });
    await waitFile('ready1');
    writeFileSync(join(t.path, 'mknod.json'), '{"devices": ["c 1:5", "b 8:0"]}');
    process.kill(pid, 'SIGHUP');
    await new Promise((r) => setTimeout(r, 1500));
    writeFileSync(join(t.path, 'go1'), '');
    await waitFile('ready2');
    writeFileSync(join(t.path, 'mknod.json'), '{"devices": ["c 1:5"]}');
    process.kill(pid, 'SIGHUP');
    await new Promise((r) => setTimeout(r, 1500));
    writeFileSync(join(t.path, 'go2'), '');
    const r = await running;
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, 'a-null ok\na-zero 1\nb-null ok\nb-zero 1\nc-null 1\nc-zero ok\n');
    assert.match(r.stderr, /mknod\.json: policy mknod refused its configuration: devices\[1\]: "b 8:0" is a block device, refused unless "allowBlock": true/);
    assert.match(r.stderr, /reload 2: replaced mknod\.wasm/);
  } finally { t.cleanup(); }
});

test('sysinfo configured for the host\'s uptime, task count and memory, in a memory-limited cgroup', async () => {
  const mem = memoryHierarchy();
  if (!privileged('sysinfo configuration', mem === null ? 'needs a memory cgroup hierarchy' : null)) return;
  const cg = createCgroup(mem!.root, `wasmsup-sysinfo-config-${process.pid}`);
  const t = tempDir('wasmsup-config-');
  try {
    writeFileSync(join(cg.dir, mem!.version === 1 ? 'memory.limit_in_bytes' : 'memory.max'), String(256 << 20));
    const probe = buildProbe('sysinfo-probe');
    const script = `sleep 60 & a=$!; ${probe}; kill $a`;
    const parse = (out: string) => Object.fromEntries(out.trim().split('\n').map((l) => l.split('=')).map(([k, v]) => [k, Number(v)]));
    const config = join(t.path, 'sysinfo.json');
    writeFileSync(config, '{"uptime": "host", "memory": "host", "procs": "host"}');
    const hostBefore = Math.floor(Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]));
    const host = await runWasmsup(['run', '--userns', '--policy', POLICY('sysinfo'), '--policy-config', config, '--', 'sh', '-c', script], { prefix: cg.prefix });
    assert.is(host.code, 0, host.stderr);
    const h = parse(host.stdout);
    assert.ok(h.uptime! >= hostBefore, `uptime ${h.uptime} < host ${hostBefore}`);
    assert.ok(h.procs! > 3, `procs ${h.procs}`);
    assert.is(h.totalram, totalmem());
    // Memory alone from the cgroup: the limit, the workload's uptime and tasks.
    writeFileSync(config, '{"memory": "cgroup"}');
    const own = await runWasmsup(['run', '--userns', '--policy', POLICY('sysinfo'), '--policy-config', config, '--', 'sh', '-c', script], { prefix: cg.prefix });
    const o = parse(own.stdout);
    assert.is(o.totalram, 256 << 20, own.stdout);
    assert.is(o.procs, 3, own.stdout);
    assert.ok(o.uptime! < hostBefore);
  } finally { cg.remove(); t.cleanup(); }
});

test.run();
