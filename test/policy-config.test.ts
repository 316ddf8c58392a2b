// Policy configuration and identity (docs/policy-abi.md, sections 3 and 7; docs/policies.md): the SDK's
// JSON reader through a fixture policy, where configuration comes from (NAME.json beside NAME.wasm,
// --policy-config), bad configuration as one line naming the file and the key, a SIGHUP with a bad
// configuration keeping the previous set, `wasmsup check --policy-config`, and the mknod allowlist
// taken from configuration against the real kernel.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { instantiatePolicy, type HostContext } from '../src/policy/instance.js';
import { loadPolicy } from '../src/policy/load.js';
import { withConfiguration, trialInstantiate } from '../src/policy/configuration.js';
import { PolicyDirectory } from '../src/policy/directory.js';
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { runWasmsup, tempDir, POLICY, TEST_POLICY, buildProbe } from './support/wasmsup.js';
import { privileged } from './support/privileged.js';
import { createCgroup, memoryHierarchy } from './support/cgroups.js';

const READER = TEST_POLICY('json-reader');
const MKNOD = POLICY('mknod');
const NS_ROOT = 100000;
const encode = (s: string) => new TextEncoder().encode(s);

/** What the fixture policy logs when configured with `text` (bytes as given, not checked by the host). */
function configureReader(text: string | null, identity?: string): { lines: string[]; error: string | null } {
  const lines: string[] = [];
  const host: HostContext = { readMemory: () => -1, readString: () => -1, callerCreds: () => -1, log: (_l, m) => lines.push(m) };
  const info = withConfiguration(loadPolicy(READER), text === null ? null : encode(text), 'test.json', identity ? encode(identity) : null);
  try {
    instantiatePolicy(info, host);
    return { lines, error: null };
  } catch (e) {
    return { lines, error: (e as Error).message };
  }
}

test('SDK JSON reader: documents read back as JSON.stringify writes them', () => {
  const docs = [
    '{}', '[]', 'true', 'null', '0', '-12', '1234567890123', '"x"',
    '{"a": [1, 2, {"b": null}], "c": {"d": []}, "e": false}',
    ' [ "tab\\there", "quote\\"", "back\\\\slash", "nl\\n", "u\\u0041\\u00e9\\u20ac", "ctl\\u0001" ] ',
    '{"é": "日本語", "emoji": "\\ud83d\\ude00 😀"}',
    '[[[[[[[[[[1]]]]]]]]]]',
  ];
  for (const doc of docs) {
    const { lines, error } = configureReader(doc);
    assert.is(error, null, doc);
    assert.is(lines[0], `config ${JSON.stringify(JSON.parse(doc))}`, doc);
  }
  // Non-integers are given back as written; integers beyond 18 digits are not integers to the reader.
  assert.is(configureReader('[1.5, -2e3, 1234567890123456789]').lines[0], 'config [num:1.5,num:-2e3,num:1234567890123456789]');
  // 18 digits are exact (beyond what a JavaScript number holds).
  assert.is(configureReader('[123456789012345678, -999999999999999999]').lines[0], 'config [123456789012345678,-999999999999999999]');
});

test('SDK JSON reader: get, unknownKey, count, stringIs, copyString; the last of repeated keys wins', () => {
  const { lines, error } = configureReader('{"s": "abc", "list": [1, [2, 3], {}], "x": 1, "n": 7, "n": 9}');
  assert.is(error, null);
  assert.is(lines[1], 'query unknown="x" count=5 s-is-abc=yes s-bytes=3 list-count=3 missing=-1');
  const escaped = configureReader('{"s": "a\\u0062c"}');
  assert.is(escaped.lines[1], 'query unknown=- count=1 s-is-abc=yes s-bytes=3 list-count=- missing=-1');
  const utf8 = configureReader('{"s": "abé"}');
  assert.is(utf8.lines[1], 'query unknown=- count=1 s-is-abc=no s-bytes=4 list-count=- missing=-1');
});

test('SDK JSON reader: malformed text is refused with the byte where it went wrong', () => {
  const cases: [string, string][] = [
    ['{"a": }', 'unexpected character at byte 6'],
    ['{"a": 1,}', 'expected a string key at byte 8'],
    ['[1 2]', "expected ',' or ']' at byte 3"],
    ['"open', 'unterminated string at byte 5'],
    ['{"a": 01}', "expected ',' or '}' at byte 7"],
    ['[1] x', 'text after the value at byte 4'],
    ['"\\x"', 'bad escape at byte 1'],
    ['[' .repeat(65) + ']'.repeat(65), 'nested too deep at byte 64'],
    ['tru', 'unexpected character at byte 0'],
  ];
  for (const [doc, why] of cases) {
    const { error } = configureReader(doc);
    assert.is(error, `policy json-reader refused its configuration: not JSON: ${why}`, doc);
  }
});

test('configure: refusal in the policy\'s words; none given; identity; a policy without configure given one', () => {
  assert.is(configureReader('{"refuse": "devices[2]: no\\nsecond line"}').error, 'policy json-reader refused its configuration: devices[2]: no second line');
  const none = configureReader(null);
  assert.equal(none.lines, ['config none', 'identity {}']);
  const id = configureReader(null, '{"container":"c1","annotations":{"k":"v"}}');
  assert.is(id.lines[1], 'identity {"container":"c1","annotations":{"k":"v"}}');
  // A policy with no wasmsup_configure cannot honour a configuration: refused, naming where it came from.
  const plain = withConfiguration(loadPolicy(TEST_POLICY('getppid-errno')), encode('{}'), '/etc/x/getppid-errno.json');
  assert.throws(() => trialInstantiate(plain), (e: Error) => e.message === '/etc/x/getppid-errno.json: policy getppid-errno takes no configuration (it has no wasmsup_configure export)');
});

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

test('wasmsup check --policy-config: what the policy accepted, or why not', async () => {
  const t = mknodDirectory('{"devices": ["c 1:5", "b 7:0"], "allowBlock": true}');
  try {
    const ok = await runWasmsup(['check', '--policy-config', join(t.path, 'mknod.json'), MKNOD]);
    assert.is(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^  config:   takes a configuration \(wasmsup_configure\)$/m);
    assert.match(ok.stdout, new RegExp(`^  accepted: ${join(t.path, 'mknod.json')}: \\{"devices":\\["c 1:5","b 7:0"\\],"allowBlock":true\\}\\n            mknod: 2 device\\(s\\) allowed, block devices allowed$`, 'm'));
    writeFileSync(join(t.path, 'mknod.json'), '{"devices": ["b 7:0"]}');
    const bad = await runWasmsup(['check', '--policy-config', join(t.path, 'mknod.json'), MKNOD]);
    assert.is(bad.code, 1);
    assert.is(bad.stdout, `${join(t.path, 'mknod.json')}: refused: policy mknod refused its configuration: devices[0]: "b 7:0" is a block device, refused unless "allowBlock": true\n`);
    const two = await runWasmsup(['check', '--policy-config', join(t.path, 'mknod.json'), MKNOD, READER]);
    assert.is(two.code, 2);
    assert.is(two.stderr.trim(), 'wasmsup: check: --policy-config checks one .wasm file with it');
  } finally { t.cleanup(); }
});

test('directory rescan: NAME.json changes are reloads; a bad one keeps the previous configuration', () => {
  const t = tempDir('wasmsup-config-');
  try {
    copyFileSync(READER, join(t.path, 'reader.wasm'));
    const dir = new PolicyDirectory({ directory: t.path });
    const first = dir.load();
    assert.is(first.errors.length, 0);
    assert.is(first.policies[0]!.configuration, null);
    writeFileSync(join(t.path, 'reader.json'), '{"n": 1}');
    const second = dir.rescan();
    assert.equal(second.replaced, [join(t.path, 'reader.wasm')]);
    assert.is(new TextDecoder().decode(second.policies[0]!.configuration!), '{"n": 1}');
    assert.is(second.policies[0]!.configurationSource, join(t.path, 'reader.json'));
    writeFileSync(join(t.path, 'reader.json'), '{"refuse": "n: not today"}');
    const third = dir.rescan();
    assert.equal(third.errors, [{ file: join(t.path, 'reader.json'), reason: 'policy json-reader refused its configuration: n: not today', keptPrevious: true }]);
    assert.is(third.policies[0], second.policies[0]);
    assert.not.ok(third.changed);
    const same = dir.rescan();
    assert.is(same.errors.length, 1);
  } finally { t.cleanup(); }
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

test('the other shipped policies: their configurations accepted, bad ones refused naming the key', async () => {
  const t = tempDir('wasmsup-config-');
  try {
    const check = async (policy: string, config: string) => {
      const file = join(t.path, `${policy}.json`);
      writeFileSync(file, config);
      const r = await runWasmsup(['check', '--policy-config', file, POLICY(policy)]);
      return r.code === 0 ? r.stdout.trim().split('\n').pop()!.trim() : r.stdout.trim().replace(`${file}: refused: `, '');
    };
    assert.is(await check('open-proxy', '{"views": ["/etc/a"], "redirects": {"/etc/b": "/srv/c", "/etc/d": "/srv/e"}}'), 'open-proxy: 1 view(s), 2 redirect(s)');
    assert.is(await check('open-proxy', '{"views": ["etc/a"]}'), 'policy open-proxy refused its configuration: views[0]: "etc/a" is not an absolute path');
    assert.is(await check('open-proxy', '{"redirects": {"/etc/b": 3}}'), 'policy open-proxy refused its configuration: redirects./etc/b: must be a string, not 3');
    assert.is(await check('open-proxy', '{"view": []}'), 'policy open-proxy refused its configuration: unknown key "view" (known keys: views, redirects)');
    assert.is(await check('setxattr', '{"xattrs": {}}'), 'setxattr: 0 xattr(s) emulated');
    assert.is(await check('setxattr', '{"xattrs": {"trusted.overlay.redirect": "y"}}'),
      'policy setxattr refused its configuration: xattrs.trusted.overlay.redirect: "y" is not one the host sets (it sets only trusted.overlay.opaque = "y")');
    assert.is(await check('bpf-devices', '{"maxInstructions": 64, "attach": false}'), 'bpf-devices: at most 64 instructions, attach refused');
    assert.is(await check('bpf-devices', '{"maxInstructions": 5000}'), 'policy bpf-devices refused its configuration: maxInstructions: must be a whole number from 1 to 4096, not 5000');
    assert.is(await check('bpf-devices', '{"maxInstructions": 1.5}'), 'policy bpf-devices refused its configuration: maxInstructions: must be a whole number from 1 to 4096, not 1.5');
    assert.is(await check('sysinfo', '{"uptime": "host", "memory": "cgroup"}'), 'sysinfo: uptime from the host, memory from the cgroup, procs from the workload');
    assert.is(await check('sysinfo', '{"procs": "container"}'), 'policy sysinfo refused its configuration: procs: must be "workload" or "host", not "container"');
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
