// `wasmsup build`: AssemblyScript policies from any directory become modules the loader accepts, with
// the declared interest in the `wasmsup.policy` section; every failure is a clear one-line error.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyBuildError, appendCustomSection, buildPolicy } from '../../src/policy/build.js';
import { loadPolicy } from '../../src/policy/load.js';

const dir = mkdtempSync(join(tmpdir(), 'wasmsup-policy-build-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function source(name: string, text: string): string {
  const file = join(dir, name);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
  return file;
}

function sectionOf(file: string): unknown {
  const module = new WebAssembly.Module(readFileSync(file));
  const sections = WebAssembly.Module.customSections(module, 'wasmsup.policy');
  assert.is(sections.length, 1);
  return JSON.parse(new TextDecoder().decode(sections[0]));
}

async function buildError(src: string, opts = {}): Promise<PolicyBuildError> {
  try {
    await buildPolicy(src, join(dir, 'out', 'never.wasm'), { diagnostics: () => {}, ...opts });
  } catch (e) {
    assert.instance(e, PolicyBuildError);
    assert.not.match((e as Error).message, /\n/, 'the error is one line');
    return e as PolicyBuildError;
  }
  throw new Error(`${src} built, but should not have`);
}

const GETPPID = `import { Errno, Sys, fail, intercept } from "wasmsup";
export function interest(): void { intercept(Sys.getppid); }
export function decide(): i32 { return fail(Errno.EACCES); }
`;

test('builds a policy from another directory: relative paths, its own modules, "wasmsup" is always this SDK', async () => {
  const project = join(dir, 'elsewhere');
  source('elsewhere/policies/pick.ts', `import { Sys, arg, intercept } from "wasmsup";
import { answer } from "./helpers";
export function interest(): void {
  intercept(Sys.getppid);
  intercept(Sys.kill).when(arg(1).eq(9)).and(arg(0).gt(1));
}
export function decide(): i32 { return answer(); }
`);
  source('elsewhere/policies/helpers.ts', 'import { returnValue } from "wasmsup";\nexport function answer(): i32 { return returnValue(7); }\n');
  // A stray package of the same name next to the policy must not be picked up instead of the SDK.
  source('elsewhere/node_modules/wasmsup/index.ts', 'this is not AssemblyScript');
  const cwd = process.cwd();
  process.chdir(project);
  let info;
  try {
    info = await buildPolicy('policies/pick.ts', 'out/pick.wasm');
  } finally {
    process.chdir(cwd);
  }
  const out = join(project, 'out', 'pick.wasm');
  assert.ok(existsSync(out));
  assert.is(info.name, 'pick');
  assert.is(info.file, 'out/pick.wasm');
  assert.equal(sectionOf(out), {
    abi: 1,
    name: 'pick',
    interest: [
      { syscall: 'getppid' },
      { syscall: 'kill', when: [[{ arg: 1, op: 'eq', value: '0x9' }, { arg: 0, op: 'gt', value: '0x1' }]] },
    ],
  });
  // Everything the module imports is the ABI's: AssemblyScript's abort went to "wasmsup"."abort".
  assert.ok(info.imports.every((i) => i.module === 'wasmsup'), JSON.stringify(info.imports));
  assert.equal(info.memory, { initialPages: info.memory.initialPages, maximumPages: 256, imported: false });
  assert.equal(loadPolicy(out).interest, info.interest);
});

test('the declaration can say every op of the ABI, AND-groups ORed, u64 values; one syscall declared twice is merged', async () => {
  const src = source('ops.ts', `import { Sys, arg, intercept, S_IFMT, S_IFCHR, noOpinion } from "wasmsup";
export function interest(): void {
  intercept(Sys.ioctl)
    .when(arg(0).eq(3)).and(arg(1).ne(0x5401)).and(arg(2).lt(10)).and(arg(3).le(11)).and(arg(4).gt(12)).and(arg(5).ge(13))
    .or(arg(1).masked(0xffffffff00000000).eq(0xdead000000000000))
    .or(arg(2).eq(0xffffffffffffffff));
  intercept(Sys.mknod).when(arg(1).masked(S_IFMT).eq(S_IFCHR));
  intercept(Sys.mknod).when(arg(2).eq(0));
  intercept(Sys.getpid).when(arg(0).eq(1));
  intercept(Sys.getpid);
}
export function decide(): i32 { return noOpinion(); }
`);
  const out = join(dir, 'out', 'ops.wasm');
  const info = await buildPolicy(src, out);
  assert.equal(sectionOf(out), {
    abi: 1,
    name: 'ops',
    interest: [
      {
        syscall: 'ioctl',
        when: [
          [
            { arg: 0, op: 'eq', value: '0x3' }, { arg: 1, op: 'ne', value: '0x5401' }, { arg: 2, op: 'lt', value: '0xa' },
            { arg: 3, op: 'le', value: '0xb' }, { arg: 4, op: 'gt', value: '0xc' }, { arg: 5, op: 'ge', value: '0xd' },
          ],
          [{ arg: 1, op: 'masked_eq', mask: '0xffffffff00000000', value: '0xdead000000000000' }],
          [{ arg: 2, op: 'eq', value: '0xffffffffffffffff' }],
        ],
      },
      { syscall: 'mknod', when: [[{ arg: 1, op: 'masked_eq', mask: '0xf000', value: '0x2000' }], [{ arg: 2, op: 'eq', value: '0x0' }]] },
      { syscall: 'getpid' },
    ],
  });
  assert.is(info.interest[0]!.when![2]![0]!.value, 0xffffffffffffffffn);
});

test('options: name, memory maximum, unoptimised build', async () => {
  const src = source('opts.ts', GETPPID);
  const info = await buildPolicy(src, join(dir, 'out', 'opts.wasm'), { name: 'renamed', maximumMemoryPages: 16, optimize: false });
  assert.is(info.name, 'renamed');
  assert.is(info.memory.maximumPages, 16);
  assert.is((sectionOf(join(dir, 'out', 'opts.wasm')) as { name: string }).name, 'renamed');
  const big = await buildPolicy(src, join(dir, 'out', 'big.wasm'), { maximumMemoryPages: 1024 });
  assert.is(big.memory.maximumPages, 1024);
  assert.is((await buildError(src, { maximumMemoryPages: 0 })).message, `wasmsup build: ${src}: maximum memory 0 pages is not in 1..65536`);
});

test('compile errors: the asc diagnostics, then one summary line', async () => {
  const src = source('broken.ts', `import { intercept, Sys } from "wasmsup";
export function interest(): void { intercept(Sys.getppid); }
export function decide(): i32 { return notDefinedAnywhere; }
`);
  let diagnostics = '';
  const e = await buildError(src, { diagnostics: (t: string) => { diagnostics += t; } });
  assert.is(e.message, `wasmsup build: ${src}: 1 error`);
  assert.match(diagnostics, /ERROR TS2304: Cannot find name 'notDefinedAnywhere'/);
  assert.match(diagnostics, /broken\.ts\(3,/);
  assert.is(e.diagnostics, diagnostics);

  const noDecide = source('nodecide.ts', 'import { intercept, Sys } from "wasmsup";\nexport function interest(): void { intercept(Sys.getppid); }\n');
  let text = '';
  const missing = await buildError(noDecide, { diagnostics: (t: string) => { text += t; } });
  assert.match(missing.message, new RegExp(`^wasmsup build: .*nodecide\\.ts: [1-9][0-9]* errors?$`));
  assert.match(text, /decide/);
});

test('imports outside the ABI are refused at build, with what to do instead', async () => {
  const src = source('random.ts', `import { intercept, Sys, returnValue } from "wasmsup";
export function interest(): void { intercept(Sys.getppid); }
export function decide(): i32 { return returnValue(<i64>(Math.random() * 10)); }
`);
  assert.is((await buildError(src)).message,
    `wasmsup build: ${src}: refused import "env"."seed": Math.random needs a seed from the host, which the ABI does not provide`);
});

test('the interest declaration: SDK misuse, no interest, a declaration that never ends', async () => {
  const badArg = source('badarg.ts', `import { intercept, arg, Sys, noOpinion } from "wasmsup";
export function interest(): void { intercept(Sys.kill).when(arg(6).eq(1)); }
export function decide(): i32 { return noOpinion(); }
`);
  assert.match((await buildError(badArg)).message,
    /: the interest declaration failed: abort: arg\(index\): index must be 0\.\.5$/);

  const impossible = source('impossible.ts', `import { intercept, arg, Sys, noOpinion } from "wasmsup";
export function interest(): void { intercept(Sys.kill).when(arg(1).masked(0xf).eq(0x10)); }
export function decide(): i32 { return noOpinion(); }
`);
  assert.match((await buildError(impossible)).message, /value has bits outside mask, so it can never match/);

  const early = source('early.ts', `import { Creds, intercept, Sys, noOpinion } from "wasmsup";
const atStart = Creds.load();
export function interest(): void { intercept(Sys.getppid); }
export function decide(): i32 { return atStart == 0 ? noOpinion() : noOpinion(); }
`);
  assert.is((await buildError(early)).message, `wasmsup build: ${early}: instantiating the policy failed: `
    + 'the policy\'s top-level code called caller_creds: host functions may be called only while deciding');

  const none = source('none.ts', 'import { noOpinion } from "wasmsup";\nexport function interest(): void {}\nexport function decide(): i32 { return noOpinion(); }\n');
  assert.is((await buildError(none)).message, `wasmsup build: ${none}: the policy declares no interest: call intercept() in interest()`);

  const forever = source('forever.ts', `import { intercept, Sys, noOpinion } from "wasmsup";
let spins: i32 = 0;
export function interest(): void { while (spins >= 0) { spins = (spins + 1) & 0xffff; } intercept(Sys.getppid); }
export function decide(): i32 { return noOpinion(); }
`);
  const started = Date.now();
  assert.is((await buildError(forever, { declarationTimeoutMs: 300 })).message,
    `wasmsup build: ${forever}: the interest declaration did not finish within 300 ms`);
  assert.ok(Date.now() - started < 5000);
});

test('bad sources: missing, not .ts, a name the ABI does not allow', async () => {
  const missing = join(dir, 'missing.ts');
  assert.is((await buildError(missing)).message, `wasmsup build: ${missing}: cannot read: ENOENT`);
  const js = source('policy.js', GETPPID);
  assert.is((await buildError(js)).message, `wasmsup build: ${js}: the policy source must be a .ts file`);
  const upper = source('Upper Case.ts', GETPPID);
  assert.is((await buildError(upper)).message,
    `wasmsup build: ${upper}: policy name "Upper Case" must match [a-z0-9_.-]{1,64} (rename the file or pass a name)`);
  assert.is((await buildPolicy(upper, join(dir, 'out', 'upper.wasm'), { name: 'upper' })).name, 'upper');
});

test('appendCustomSection writes id 0, LEB128 size, name and payload (multi-byte sizes too)', () => {
  const empty = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  for (const size of [0, 5, 127, 128, 16383, 16384, 70000]) {
    const payload = new Uint8Array(size).map((_, i) => i * 7);
    const module = new WebAssembly.Module(appendCustomSection(empty, 'wasmsup.policy', payload) as Uint8Array<ArrayBuffer>);
    const [section] = WebAssembly.Module.customSections(module, 'wasmsup.policy');
    assert.equal(new Uint8Array(section!), payload, `payload of ${size} bytes`);
  }
});

test.run();
