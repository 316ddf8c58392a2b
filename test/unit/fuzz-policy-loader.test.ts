// Fuzz target: the policy loader against malformed and mutated .wasm (docs/reliability.md, item 5).
// Seeds are the checked-in corpus test/fuzz/corpus/*.wasm (valid policies and hand-made malformed
// modules, see its README); each case stacks 1–4 mutations (bit flips, interesting bytes, truncation,
// deleted/duplicated/inserted ranges, splices of two seeds, section-level edits: sizes, order,
// duplicates, the policy JSON). Properties, per case:
//   - validatePolicyBytes returns a policy or throws PolicyLoadError with a one-line reason, nothing else;
//   - readWasmStructure (the binary reader) returns or throws MalformedWasm;
//   - meterModule returns or throws MeterError/MalformedWasm, and what it returns for a module V8
//     accepts is itself a module V8 accepts (the loader would otherwise call it a wasmsup bug);
//   - an accepted policy instantiates or fails with an Error, and its decide() under fuel returns or traps.
// WASMSUP_FUZZ_SEED reproduces a run; WASMSUP_FUZZ_CASES sets the number of cases (default 10,000).
// A failing input is written to build/fuzz-failures/ to be added to the corpus once fixed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PolicyLoadError, validatePolicyBytes, type PolicyInfo } from '../../src/policy/load.js';
import { MalformedWasm, readWasmStructure } from '../../src/policy/wasm-binary.js';
import { MeterError, meterModule } from '../../src/policy/meter.js';
import { instantiatePolicy, type HostContext } from '../../src/policy/instance.js';
import { ROOT } from '../support/wasmsup.js';
import { SeededRandom } from '../support/seeded-random.js';

const CORPUS = join(ROOT, 'test', 'fuzz', 'corpus');
const CASES = Number(process.env.WASMSUP_FUZZ_CASES ?? 10_000);
const rng = SeededRandom.fromEnv('WASMSUP_FUZZ_SEED');
console.log(`fuzz-policy-loader: seed ${rng.seed} (rerun with WASMSUP_FUZZ_SEED=${rng.seed}), ${CASES} cases`);

const seeds = readdirSync(CORPUS).filter((f) => f.endsWith('.wasm')).sort().map((f) => ({ name: f, bytes: new Uint8Array(readFileSync(join(CORPUS, f))) }));
const validSeeds = seeds.filter((s) => s.name.startsWith('valid-'));
const INTERESTING = [0x00, 0x01, 0x02, 0x7f, 0x80, 0xff, 0x40, 0x60, 0x0b, 0x03, 0x0d, 0x41, 0x7e, 0x70];
const JSON_VARIANTS = [
  '{"abi":1,"name":"x","interest":[{"syscall":"no_such_call"}]}',
  '{"abi":1,"name":"x","interest":[{"syscall":"mknod","when":[[{"arg":9,"op":"eq","value":"1"}]]}]}',
  '{"abi":1,"name":"x","interest":[{"syscall":"mknod","when":[[{"arg":1,"op":"masked_eq","mask":"0x1ffffffffffffffff","value":"1"}]]}]}',
  '{"abi":1,"name":"x","interest":' + '['.repeat(5000) + ']'.repeat(5000) + '}',
  '{"abi":1,"name":"' + 'n'.repeat(100) + '","interest":[]}',
  '{"abi":2,"name":"x","interest":[]}',
  '{"abi":1,"name":"x","interest":[],"extra":1}',
  '{"__proto__":{"abi":1},"name":"x","interest":[]}',
  '[]', 'null', '"\\ud800"', '{"abi":1e400,"name":"x","interest":[]}',
];
const inert: HostContext = { readMemory: () => -14, readString: () => -14, callerCreds: () => -1, log: () => {} };

function leb(n: number): number[] {
  const out: number[] = [];
  do { let b = n & 0x7f; n = Math.floor(n / 128); if (n) b |= 0x80; out.push(b); } while (n);
  return out;
}

/** Top-level sections of a module, where they parse; [] when they do not. */
function sections(b: Uint8Array): { start: number; bodyStart: number; end: number; id: number }[] {
  const out = [];
  let p = 8;
  while (p < b.length) {
    const start = p, id = b[p++]!;
    let size = 0, shift = 0, byte: number;
    do { byte = b[p++] ?? 0; size += (byte & 0x7f) * 2 ** shift; shift += 7; } while (byte & 0x80 && shift < 35);
    if (p + size > b.length) break;
    out.push({ start, bodyStart: p, end: p + size, id });
    p += size;
  }
  return out;
}

const concat = (...parts: ArrayLike<number>[]) => Uint8Array.from(parts.flatMap((p) => Array.from(p)));

function mutate(input: Uint8Array): { bytes: Uint8Array; how: string[] } {
  let b = input;
  const how: string[] = [];
  for (let m = rng.chance(0.7) ? 1 : 2 + rng.below(3); m > 0; m--) {
    // The header is mostly left alone: a broken magic number only tests the first check.
    const at = b.length > 8 && rng.chance(0.97) ? 8 + rng.below(b.length - 8) : b.length ? rng.below(b.length) : 0;
    const len = 1 + rng.below(rng.chance(0.8) ? 8 : 256);
    const secs = sections(b);
    switch (rng.below(12)) {
      case 0: if (b.length) { b = b.slice(); b[at]! ^= 1 << rng.below(8); how.push(`flip@${at}`); } break;
      case 1: if (b.length) { b = b.slice(); b[at] = rng.pick(INTERESTING); how.push(`set@${at}`); } break;
      case 2: b = b.slice(0, at); how.push(`truncate@${at}`); break;
      case 3: b = concat(b.subarray(0, at), b.subarray(at + len)); how.push(`delete@${at}+${len}`); break;
      case 4: b = concat(b.subarray(0, at), b.subarray(at, at + len), b.subarray(at)); how.push(`dup@${at}+${len}`); break;
      case 5: b = concat(b.subarray(0, at), Array.from({ length: len }, () => rng.below(256)), b.subarray(at)); how.push(`insert@${at}+${len}`); break;
      case 6: {
        const other = rng.pick(seeds).bytes;
        b = concat(b.subarray(0, at), other.subarray(rng.below(other.length + 1)));
        how.push(`splice@${at}`);
        break;
      }
      case 7: if (secs.length) { // rewrite a section's size
        const s = rng.pick(secs);
        const size = rng.pick([0, 1, s.end - s.bodyStart + 1, s.end - s.bodyStart - 1, 0xffffffff, rng.u32()]) >>> 0;
        const enc = rng.chance(0.3) ? [...leb(size).map((x) => x | 0x80), 0x00] : leb(size); // overlong sometimes
        b = concat(b.subarray(0, s.start + 1), enc, b.subarray(s.bodyStart));
        how.push(`size(${s.id})=${size}`);
      } break;
      case 8: if (secs.length >= 2) { // swap two sections
        const [x, y] = [rng.pick(secs), rng.pick(secs)].sort((p, q) => p.start - q.start);
        if (x!.start !== y!.start) {
          b = concat(b.subarray(0, x!.start), b.subarray(y!.start, y!.end), b.subarray(x!.end, y!.start), b.subarray(x!.start, x!.end), b.subarray(y!.end));
          how.push(`swap(${x!.id},${y!.id})`);
        }
      } break;
      case 9: if (secs.length) { const s = rng.pick(secs); b = concat(b.subarray(0, s.end), b.subarray(s.start, s.end), b.subarray(s.end)); how.push(`dupsec(${s.id})`); } break;
      case 10: if (secs.length) { const s = rng.pick(secs); b = concat(b.subarray(0, s.start), b.subarray(s.end)); how.push(`dropsec(${s.id})`); } break;
      case 11: { // replace (or add) the policy section's JSON
        const name = [...new TextEncoder().encode('wasmsup.policy')];
        const json = [...new TextEncoder().encode(rng.pick(JSON_VARIANTS))];
        const body = [...leb(name.length), ...name, ...json];
        const custom = [0, ...leb(body.length), ...body];
        const old = secs.find((s) => s.id === 0 && new TextDecoder().decode(b.subarray(s.bodyStart + 1, s.bodyStart + 15)) === 'wasmsup.policy');
        b = old ? concat(b.subarray(0, old.start), custom, b.subarray(old.end)) : concat(b, custom);
        how.push('policy-json');
        break;
      }
    }
  }
  return { bytes: b, how };
}

function save(bytes: Uint8Array, label: string): string {
  const dir = join(ROOT, 'build', 'fuzz-failures');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `loader-${rng.seed}-${label}.wasm`);
  writeFileSync(file, bytes);
  return file;
}

test(`policy loader: ${CASES} mutated modules, each accepted or refused with one line; reader and meter never throw anything else`, () => {
  assert.ok(seeds.length >= 10, 'the corpus is missing');
  const reasons = new Map<string, number>();
  let accepted = 0, decided = 0, slowestMs = 0;
  const started = performance.now();
  for (let i = 0; i < CASES; i++) {
    // Mostly the valid seeds: their mutants get past V8 into the loader's own checks.
    const seed = rng.chance(0.7) ? rng.pick(validSeeds) : rng.pick(seeds);
    const { bytes, how } = mutate(seed.bytes);
    const where = () => `case ${i} (seed ${rng.seed}, from ${seed.name}, ${how.join(' ')}), input saved as ${save(bytes, String(i))}`;
    const t0 = performance.now();
    let info: PolicyInfo | null = null;
    try {
      info = validatePolicyBytes(bytes, 'fuzz.wasm', { fuel: 10_000 });
      accepted++;
    } catch (e) {
      if (!(e instanceof PolicyLoadError)) assert.unreachable(`loader threw ${(e as Error)?.stack ?? e} on ${where()}`);
      const reason = (e as PolicyLoadError).reason;
      if (reason.includes('\n') || reason.length === 0) assert.unreachable(`reason is not one line: ${JSON.stringify(reason)} on ${where()}`);
      if (reason.includes('wasmsup bug')) assert.unreachable(`${reason} on ${where()}`);
      const kind = reason.replace(/[0-9]+/g, 'N').replace(/".*?"/g, '"…"').slice(0, 60);
      reasons.set(kind, (reasons.get(kind) ?? 0) + 1);
    }
    if (bytes.length >= 8) {
      try { readWasmStructure(bytes); } catch (e) {
        if (!(e instanceof MalformedWasm)) assert.unreachable(`readWasmStructure threw ${(e as Error)?.stack ?? e} on ${where()}`);
      }
      let metered: Uint8Array | null = null;
      try { metered = meterModule(bytes, 1000).bytes; } catch (e) {
        if (!(e instanceof MeterError) && !(e instanceof MalformedWasm)) assert.unreachable(`meterModule threw ${(e as Error)?.stack ?? e} on ${where()}`);
      }
      if (metered && WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>) && !WebAssembly.validate(metered as Uint8Array<ArrayBuffer>)) {
        assert.unreachable(`meterModule turned a valid module into an invalid one on ${where()}`);
      }
    }
    if (info) {
      try {
        const instance = instantiatePolicy(info, inert);
        try { instance.decide(); decided++; } catch (e) { if (!(e instanceof Error)) throw e; }
      } catch (e) {
        if (!(e instanceof Error)) assert.unreachable(`instantiating threw a non-Error ${String(e)} on ${where()}`);
      }
    }
    slowestMs = Math.max(slowestMs, performance.now() - t0);
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`  ${CASES} cases in ${seconds.toFixed(1)} s (${Math.round(CASES / seconds)} cases/s), slowest ${slowestMs.toFixed(1)} ms; ${accepted} accepted (${decided} decided), ${CASES - accepted} refused`);
  console.log('  most frequent refusals: ' + [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, n]) => `${n}× ${k}`).join(' | '));
  // The mutations must reach past V8's validation into the loader's own checks, and sometimes through.
  assert.ok(accepted > CASES / 100, `only ${accepted} accepted`);
  assert.ok([...reasons.keys()].filter((k) => !k.startsWith('not a valid WebAssembly')).length >= 8, 'too few kinds of refusal');
});

test('every corpus seed: the loader\'s verdict is stable (valid-* accepted, the rest refused)', () => {
  for (const s of seeds) {
    let ok = true;
    try { validatePolicyBytes(s.bytes, s.name); } catch (e) { assert.instance(e, PolicyLoadError); ok = false; }
    assert.is(ok, s.name.startsWith('valid-'), s.name);
  }
});

test.run();
