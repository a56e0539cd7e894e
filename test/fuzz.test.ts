/**
 * tools/fuzz.ts in CI: a seeded campaign over every target (GGUF, ifprune bundled with and without a
 * predictor, llama2.c + tokenizer.bin, safetensors + config.json, calibration / eval JSONL), each case
 * through open, load at density 0.5 and 8 generated tokens in a watched worker, must end without a
 * failure; every input a bug was found with (test/fixtures/fuzz/<name>/: the files and case.json with the
 * expected code) must end in that code.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { TARGETS, KNOWN_CODES, classify, loadInput, makeCase, runCampaign, runInput, type Outcome } from '../tools/fuzz.ts';
import { IfpruneError } from '../src/errors.ts';

/** Cases of the CI campaign (all targets in turn) and its seed; the long run is in docs/reliability.md. */
const CI_CASES = 2000;
const CI_SEED = 12;
/** CPU time per case, as the fuzzer's default (its watchdog reads the worker's CPU time, so two test files
 * at once on a shared machine do not turn slow cases into hangs); a replayed fixture gets this much wall
 * time in its child (some of them used to hang). */
const CI_TIMEOUT_MS = 5000;
const REPLAY_WALL_MS = 60_000;

const FIXTURES = fileURLToPath(new URL('./fixtures/fuzz/', import.meta.url));
const FUZZ = fileURLToPath(new URL('../tools/fuzz.ts', import.meta.url));

// ---------------------------------------------------------------------------------------------------

const cases = suite('makeCase');

cases('a case is a pure function of (seed, id): the same bytes twice, other bytes for another id', async () => {
  for (const id of [1, 2, 3, 4, 5, 17, 999]) {
    const a = await makeCase(7, id);
    const b = await makeCase(7, id);
    assert.equal(a, b, `case ${id}`);
    assert.is(a.target, TARGETS[id % TARGETS.length]);
  }
  const x = await makeCase(7, 6);
  const y = await makeCase(7, 11);
  assert.is(x.target, y.target);
  assert.not.equal([x.model, x.mutations], [y.model, y.mutations]);
});

cases('the mutations reach every part of a GGUF: counts, lengths, types, tensor offsets and shapes, arrays, NaN/Inf weights with hashes recomputed', async () => {
  const seen = new Set<string>();
  for (let id = 0; id < 600; id++) {
    const c = await makeCase(3, id, id % 2 ? 'gguf-bundled' : 'gguf');
    for (const m of c.mutations) {
      for (const [kind, re] of [
        ['count', /count = /], ['length', /length = /], ['value type', / type = \d/], ['tensor offset', /offset = \d+ \(data/], ['tensor dims', /dim \d = |dims swapped/],
        ['tensor type', /\.weight type = |ffn_bundle type = /], ['scores', /tokenizer\.ggml\.scores: /], ['tokens', /tokenizer\.ggml\.tokens: /],
        ['chunk hashes', /ifprune\.chunk_hashes\./], ['NaN/Inf with hashes', /(NaN|Infinity|f16 0x7[ce]00).*hashes recomputed/], ['truncate', /truncate to/],
      ] as const) if (re.test(m)) seen.add(kind);
    }
  }
  assert.equal([...seen].sort(), ['NaN/Inf with hashes', 'chunk hashes', 'count', 'length', 'scores', 'tensor dims', 'tensor offset', 'tensor type', 'tokens', 'truncate', 'value type'].sort());
});

cases.run();

// ---------------------------------------------------------------------------------------------------

const judge = suite('classify, runInput, runCampaign: what counts as a failure');

judge('an IfpruneError with a known code is an answer; a trap, an internal abort, an unknown code or another exception is a failure', () => {
  assert.equal(classify(new IfpruneError('corrupt', 'tensor x overlaps y')), { result: 'corrupt', message: 'tensor x overlaps y' });
  assert.is(classify(new WebAssembly.RuntimeError('memory access out of bounds')).failure, 'trap');
  assert.is(classify(new IfpruneError('corrupt', 'the wasm runtime stopped on an internal check (Index out of range at ~lib/array.ts:1:1); please report this')).failure, 'trap');
  assert.is(classify(new IfpruneError('weird' as 'corrupt', 'x')).failure, 'unknown_code');
  assert.is(classify(new TypeError("Cannot read properties of null (reading 'x')")).failure, 'exception');
});

judge('a clean case generates tokens; the same case over a memory bound below its wasm memory is a memory failure', async () => {
  const input = await makeCase(1, 0); // case 0 of every campaign runs its seed unmutated
  assert.equal(input.mutations, []);
  const ok = await runInput(input);
  assert.is(ok.result, 'ok', ok.message);
  assert.ok(ok.tokens! > 0 && ok.wasmBytes > 0);
  const tight = await runInput(input, 0, () => ok.wasmBytes - 1);
  assert.is(tight.failure, 'memory');
  assert.match(tight.message!, /outcome was ok/);
});

judge("NaN/Inf written into a tensor every forward pass reads in full (norms, attention, classifier) must end in 'numeric'; tokens are a nan_text failure", async () => {
  let checked = 0;
  for (let id = 1; checked < 6 && id < 3000; id++) {
    const input = await makeCase(21, id, id % 2 ? 'gguf' : 'gguf-bundled');
    if (!input.expect) continue;
    assert.equal(input.mutations.length, 1);
    assert.match(input.mutations[0]!, / in (blk\.\d+\.(attn|ffn)_\w+\.(weight|bias)|output(_norm)?\.weight), hashes recomputed$/);
    const o = await runInput(input, id);
    assert.is(o.failure, undefined, `case ${id}: ${input.mutations[0]}: ${o.result}: ${o.message}`);
    if (o.result !== 'numeric') assert.ok(['context_overflow', 'bad_option', 'unsupported', 'out_of_memory'].includes(o.result), `case ${id}: ${o.result}`); // refused before generating
    checked++;
  }
  assert.is(checked, 6);
  const clean = await makeCase(1, 0);
  const ok = await runInput({ ...clean, expect: 'numeric' });
  assert.is(ok.failure, 'nan_text');
});

judge('a case without an outcome in time is a hang (its worker killed, then confirmed alone), and its input is saved', async () => {
  const out = mkdtempSync(join(tmpdir(), 'ifprune-fuzz-test-'));
  try {
    const s = await runCampaign({ cases: 1, seed: 1, timeoutMs: 1, out });
    assert.is(s.hangs, 1);
    assert.is(s.failures[0]!.outcome.failure, 'hang');
    assert.equal(s.stalls, []);
    const { input } = loadInput(s.failures[0]!.saved);
    const made = await makeCase(1, 0);
    assert.equal([input.target, input.seed, input.mutations, input.model], [made.target, made.seed, made.mutations, made.model]);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

judge.run();

// ---------------------------------------------------------------------------------------------------

const regression = suite('regressions (test/fixtures/fuzz)');

const fixtures = readdirSync(FIXTURES).sort();

regression('the committed inputs are there, each small', () => {
  assert.ok(fixtures.length >= 3, `${fixtures.length} fixtures`);
});

for (const name of fixtures) {
  regression(`${name}: ends in its expected code`, () => {
    // in a child with a time limit, as the fuzzer runs cases: some of these inputs used to hang
    const dir = join(FIXTURES, name);
    const { meta } = loadInput(dir);
    const p = spawnSync(process.execPath, ['--import', 'tsx', FUZZ, '--replay', dir], { encoding: 'utf8', timeout: REPLAY_WALL_MS });
    assert.is(p.signal, null, `${name}: no outcome within ${REPLAY_WALL_MS} ms`);
    const o = (JSON.parse(p.stdout) as { outcome: Outcome }).outcome;
    assert.is(o.failure, undefined, `${name}: ${o.result}: ${o.message}`);
    assert.is(o.result, meta.expect, `${name}: ${o.message}`);
    if (typeof meta.maxMessageChars === 'number') assert.ok(o.message!.length <= meta.maxMessageChars, `${name}: a ${o.message!.length}-character message`);
    assert.is(p.status, 0);
  });
}

regression.run();

// ---------------------------------------------------------------------------------------------------

const campaign = suite('runCampaign');

campaign(`${CI_CASES} cases over every target end in tokens or an IfpruneError with a known code, in time and within the memory bound`, async () => {
  const out = mkdtempSync(join(tmpdir(), 'ifprune-fuzz-test-'));
  try {
    const s = await runCampaign({ cases: CI_CASES, seed: CI_SEED, timeoutMs: CI_TIMEOUT_MS, out });
    const failures = s.failures.map((f) => `case ${f.id} (${f.target}; ${f.mutations.join('; ')}): ${f.outcome.result}: ${f.outcome.message} (input in ${f.saved})`);
    assert.equal(failures, [], failures.join('\n'));
    assert.is(s.cases, CI_CASES);
    for (const t of TARGETS) {
      const counts = s.byTarget[t]!;
      // every target both reaches generation and is refused, for several reasons
      assert.ok(counts.ok! > 0, `${t}: no case generated tokens (${JSON.stringify(counts)})`);
      assert.ok(Object.keys(counts).length >= 3, `${t}: ${JSON.stringify(counts)}`);
    }
    for (const r of Object.keys(s.outcomes)) assert.ok(r === 'ok' || (KNOWN_CODES as readonly string[]).includes(r), r);
    assert.ok(s.peakRssBytes > 0 && s.slowest !== null);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

campaign.run();
