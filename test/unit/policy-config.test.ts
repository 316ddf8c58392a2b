// Policy configuration and identity without supervising anything (docs/policy-abi.md, sections 3 and 7;
// docs/policies.md): the SDK's JSON reader through a fixture policy, refusals in the policy's words, the
// directory's NAME.json on rescan, `wasmsup check --policy-config`, and what each shipped policy accepts.
// The same configurations against the kernel: test/kernel/policy-config.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { instantiatePolicy, type HostContext } from '../../src/policy/instance.js';
import { loadPolicy } from '../../src/policy/load.js';
import { withConfiguration, trialInstantiate } from '../../src/policy/configuration.js';
import { PolicyDirectory } from '../../src/policy/directory.js';
import { runWasmsup, tempDir, POLICY, TEST_POLICY } from '../support/wasmsup.js';

const READER = TEST_POLICY('json-reader');
const MKNOD = POLICY('mknod');
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

test('wasmsup check --policy-config: what the policy accepted, or why not', async () => {
  const t = tempDir('wasmsup-config-');
  writeFileSync(join(t.path, 'mknod.json'), '{"devices": ["c 1:5", "b 7:0"], "allowBlock": true}');
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

test.run();
