// examples/runc-sample-agent.ts (runc's sample seccomp agent as a policy) without a kernel: the suffix it
// derives from each listenerMetadata, as Go's filepath.Base and the sample's "/" check give it; its
// decisions through the real ABI; and the agent's side: runc's plain metadata ("bar", "foo", …) selects,
// configures and contains nothing and reaches the policy's identity as it is. The same against runc:
// test/e2e/runc-sample-agent.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPolicy } from '../../src/policy/build.js';
import { instantiatePolicy, type HostContext, type PolicyInstance } from '../../src/policy/instance.js';
import { withConfiguration } from '../../src/policy/configuration.js';
import type { PolicyInfo } from '../../src/policy/load.js';
import { portableId, syscallNumber } from '../../src/syscalls/tables.js';
import { containerDefaultAction, requestedPolicies } from '../../src/oci/state.js';
import { containerConfiguration, containerIdentity } from '../../src/oci/container-config.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'wasmsup-runc-sample-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const ERRNO = 2, EMULATE = 4, PRIMITIVE_AS_CALLER = 6;
const ENOMEDIUM = 123, EFAULT = 14, ENAMETOOLONG = 36, ENOSYS = 38;
const encode = (s: string) => new TextEncoder().encode(s);

let info: PolicyInfo;
test.before(async () => {
  info = await buildPolicy(join(root, 'examples', 'runc-sample-agent.ts'), join(dir, 'runc-sample-agent.wasm'));
});

/** The agent's identity for a container with `metadata` (runc leaves an empty one out: ""). */
const agentIdentity = (metadata: string) => containerIdentity({ id: 'c1', metadata, annotations: {} }, []);

/** An instance serving a container whose listenerMetadata is `metadata`; the caller's path is `path` (or -errno). */
function instance(identity: Uint8Array, path: () => string | number, config: string | null = null): { policy: PolicyInstance; logs: string[] } {
  const logs: string[] = [];
  const host: HostContext = {
    readMemory: () => -EFAULT,
    readString(_lo, _hi, dst, cap) {
      const p = path();
      if (typeof p === 'number') return p;
      const bytes = encode(p);
      if (bytes.length + 1 > cap) return -ENAMETOOLONG;
      dst.set(bytes);
      dst[bytes.length] = 0;
      return bytes.length;
    },
    callerCreds: () => -ENOSYS,
    log: (_level, message) => logs.push(message),
  };
  const policy = instantiatePolicy(withConfiguration(info, config === null ? null : encode(config), 'test.json', identity), host);
  return { policy, logs };
}

/** What the policy logs its suffix as, for a container with `metadata`. */
function suffixFor(metadata: string): string {
  const { logs } = instance(agentIdentity(metadata), () => '/x');
  const line = logs.find((l) => l.startsWith('runc-sample-agent: mkdir(P) makes P-'));
  assert.ok(line, logs.join('\n'));
  return line!.slice('runc-sample-agent: mkdir(P) makes P-'.length);
}

/** Writes an x86_64 notification of `syscall` as the data plane does and asks the policy. */
function decide(policy: PolicyInstance, syscall: string, args: bigint[] = [0x7ffc0000n, 0o755n]): { kind: number; value: bigint; primitive: number } {
  const block = policy.notification;
  const view = new DataView(block.buffer, block.byteOffset, 128);
  block.fill(0);
  view.setBigUint64(0, 1n, true);
  view.setUint32(8, 4242, true);
  view.setInt32(16, syscallNumber('x86_64', syscall)!, true);
  view.setUint32(20, 0xc000003e, true);
  args.forEach((a, i) => view.setBigUint64(32 + 8 * i, a, true));
  view.setInt32(80, portableId(syscall), true);
  const kind = policy.decide();
  const after = new DataView(policy.notification.buffer, policy.notification.byteOffset, 128);
  return { kind, value: after.getBigInt64(88, true), primitive: after.getInt32(96, true) };
}

/**
 * The path an AS_CALLER decision replaces the call's first path with (operands at 100..128: the replace
 * bits at 108, the replacement block's address at 112; in it the path's address and length).
 */
function asCallerPath(policy: PolicyInstance): string {
  const block = new DataView(policy.notification.buffer, policy.notification.byteOffset, 128);
  assert.is(block.getUint32(108, true), 1, 'only the first path is replaced');
  assert.is(block.getBigUint64(100, true), 0n, 'no capability lent');
  const memory = new DataView(policy.memory.buffer);
  const replacement = block.getUint32(112, true);
  const ptr = memory.getUint32(replacement, true), len = memory.getUint32(replacement + 4, true);
  return new TextDecoder().decode(new Uint8Array(policy.memory.buffer, ptr, len));
}

test('interest: mkdir, chmod, fchmod, fchmodat, every call', () => {
  assert.equal(info.interest, [{ syscall: 'mkdir' }, { syscall: 'chmod' }, { syscall: 'fchmod' }, { syscall: 'fchmodat' }]);
});

test('suffix: Go\'s filepath.Base of listenerMetadata, "agent-generated-suffix" when that holds a "/"', () => {
  const cases: [string, string][] = [
    ['bar', 'bar'], ['foo', 'foo'], ['', '.'], ['/', 'agent-generated-suffix'], ['////', 'agent-generated-suffix'],
    ['a/b', 'b'], ['a/b/', 'b'], ['/../p', 'p'], ['..', '..'], ['../..', '..'], ['a//', 'a'], ['.', '.'],
    ['team=infra; x', 'team=infra; x'], ['dir/é日本', 'é日本'], [' /x ', 'x '],
  ];
  for (const [metadata, suffix] of cases) assert.is(suffixFor(metadata), suffix, JSON.stringify(metadata));
  // `wasmsup run` has no listenerMetadata: the sample's view of none, "".
  const run = instance(encode('{"label":"x"}'), () => '/x');
  assert.ok(run.logs.includes('runc-sample-agent: mkdir(P) makes P-.'), run.logs.join('\n'));
});

test('chmod, fchmod, fchmodat: ENOMEDIUM, whatever their arguments', () => {
  const { policy } = instance(agentIdentity('bar'), () => -EFAULT);
  for (const [syscall, args] of [['chmod', [0n, 0o777n]], ['fchmod', [3n, 0o600n]], ['fchmodat', [BigInt(-100 >>> 0), 0n, 0o777n]]] as const) {
    const d = decide(policy, syscall, [...args]);
    assert.equal([d.kind, d.value], [ERRNO, BigInt(ENOMEDIUM)], syscall);
  }
});

test('mkdir: the caller\'s path and "-SUFFIX", emulated as the caller; unreadable or too long: the kernel\'s errno', () => {
  let path: string | number = '/dev/shm/foo';
  const { policy } = instance(agentIdentity('bar'), () => path);
  const d = decide(policy, 'mkdir');
  assert.equal([d.kind, d.primitive], [EMULATE, PRIMITIVE_AS_CALLER]);
  assert.is(asCallerPath(policy), '/dev/shm/foo-bar');
  path = 'rel/dir';
  decide(policy, 'mkdir');
  assert.is(asCallerPath(policy), 'rel/dir-bar');
  path = -EFAULT;
  assert.equal(Object.values(decide(policy, 'mkdir')).slice(0, 2), [ERRNO, BigInt(EFAULT)]);
  // 4091 bytes + "-bar" is 4095, the longest path the kernel takes; one more is ENAMETOOLONG.
  path = '/' + 'x'.repeat(4090);
  assert.is(decide(policy, 'mkdir').kind, EMULATE);
  assert.is(asCallerPath(policy).length, 4095);
  path = '/' + 'x'.repeat(4091);
  assert.equal(Object.values(decide(policy, 'mkdir')).slice(0, 2), [ERRNO, BigInt(ENAMETOOLONG)]);
  path = '/' + 'x'.repeat(4095);
  assert.equal(Object.values(decide(policy, 'mkdir')).slice(0, 2), [ERRNO, BigInt(ENAMETOOLONG)]);
});

test('mkdir: a metadata holding a NUL fails every mkdir with ENOSYS, as the sample (Go refuses the path)', () => {
  const { policy } = instance(agentIdentity('a\u0000b'), () => '/dev/shm/foo');
  assert.equal(Object.values(decide(policy, 'mkdir')).slice(0, 2), [ERRNO, BigInt(ENOSYS)]);
});

test('configuration: none or {} is accepted, anything else refused in one line', () => {
  instance(agentIdentity('bar'), () => '/x', '{}');
  assert.throws(() => instance(agentIdentity('bar'), () => '/x', '{"suffix": "x"}'), /takes no configuration/);
  assert.throws(() => instance(agentIdentity('bar'), () => '/x', '[]'), /takes no configuration/);
});

test('agent: runc\'s plain listenerMetadata selects, configures and contains nothing, and reaches identity intact', () => {
  const policy = { ...info, file: join(dir, 'runc-sample-agent.wasm') };
  for (const metadata of ['bar', 'foo', '', '/', 'team/web', '../../etc/', 'policies', 'default-action', 'config.runc-sample-agent', 'a\u0000b', 'x y;z']) {
    const container = { id: 'c1', metadata, annotations: {} };
    assert.equal(requestedPolicies(container), { names: null, source: 'default (every policy)' }, metadata);
    assert.is(containerDefaultAction(container), null, metadata);
    assert.is(containerConfiguration(container, policy), null, metadata);
    assert.is(JSON.parse(new TextDecoder().decode(containerIdentity(container, []))).listenerMetadata, metadata);
  }
});

test.run();
