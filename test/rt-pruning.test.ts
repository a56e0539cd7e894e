/**
 * The wasm runtime's pruning part (assembly/rt/{select,plan,predictor,neurons}.ts, test build
 * build/rt-test-pruning.wasm) against the TypeScript oracles: neuron selection (src/pruning/select.ts),
 * load plans (src/pruning/plan.ts), the learned predictor and static ranking (src/pruning/learned.ts,
 * predictor-file.ts) on the committed ifp-demo model, and the neuron cache (src/reference/neuron-loader.ts
 * NeuronLoader) over sequences of random selections. Bad input ends in a fail() code, never a trap.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { Rt } from './rt-harness.ts';
import { rng, randomF32 } from './helpers.ts';
import { makeRandomModel } from '../tools/random-model.ts';
import { convert } from '../src/convert/convert.ts';
import { memorySink } from '../src/convert/sink.ts';
import { parseGGUF } from '../src/formats/gguf.ts';
import type { RangeSource } from '../src/sources/ranges.ts';
import { memorySource } from '../src/sources/memory.ts';
import { openModel } from '../src/formats/model.ts';
import { readIfpruneInfo, verifyTensorBytes, type IfpruneInfo } from '../src/formats/ifprune.ts';
import type { ModelSpec } from '../src/formats/model-spec.ts';
import { neuronsAt, topK, selectLayers } from '../src/pruning/select.ts';
import { planLoad, type BundleLayout } from '../src/pruning/plan.ts';
import { readCalibration, writeCalibratedModel, PRED } from '../src/pruning/predictor-file.ts';
import { MlpPredictor } from '../src/pruning/learned.ts';
import { NeuronLoader } from '../src/reference/neuron-loader.ts';
import type { Engine } from '../src/engine/engine.ts';
import { Kernels } from '../src/engine/kernels.ts';
import { loadKernels } from '../src/platform/node.ts';
import { createTokenizer } from '../src/tokenizer/index.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
// the test build is rebuilt when assembly/ changed (quietly: a test file must not write to stderr)
execFileSync(process.execPath, ['tools/build.mjs', 'rt-test:pruning'], { cwd: root, stdio: 'pipe' });
const rt = await Rt.create('build/rt-test-pruning.wasm');
const ex = rt.ex;

/** A bundled ifprune file and what the TS readers found in it. */
interface Fixture {
  name: string;
  bytes: Uint8Array;
  spec: ModelSpec;
  info: IfpruneInfo;
  layout: BundleLayout;
  nff: number;
  layers: number;
}
async function fixture(name: string, bytes: Uint8Array): Promise<Fixture> {
  const spec = await openModel(memorySource(bytes, name));
  const info = readIfpruneInfo({ metadata: spec.metadata, tensors: spec.tensors }, name)!;
  const layout = { offsets: info.bundles.map((b) => b.offset), rowBytes: info.bundles[0]!.rowBytes, rows: spec.config.hiddenDim };
  return { name, bytes, spec, info, layout, nff: spec.config.hiddenDim, layers: spec.config.nLayers };
}

const DEMO = fileURLToPath(new URL('../models/ifp-demo/', import.meta.url));
const demo = await fixture('ifp-demo', new Uint8Array(readFileSync(DEMO + 'ifp-demo.q8_0.gguf')));
const { bytes: demoBytes, spec: demoSpec, info: demoInfo, layout: demoLayout } = demo;
const NFF = demo.nff;
const LAYERS = demo.layers;
const kernels = await Kernels.create(await loadKernels('simd'));

/**
 * A random bundled model (tools/random-model.ts, converted to `type` bundles) calibrated with a fresh
 * predictor of hidden width U (U = 40 is not a whole number of Q8_0 blocks: W2 is stored F16), a random
 * static ranking and shared sets (src/pruning/predictor-file.ts writeCalibratedModel).
 */
const RANDOM_SHAPE = { dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 96, vocabSize: 320, seqLen: 128 };
async function randomFixture(type: 'f32' | 'q4_0', hidden: number, seed: number): Promise<Fixture> {
  const { dim, nLayers, hiddenDim: nff, vocabSize: vocab } = RANDOM_SHAPE;
  const model = await openModel(memorySource(await makeRandomModel({ ...RANDOM_SHAPE, type, tied: false, seed })));
  const converted = memorySink();
  await convert(model, converted, { type, layout: 'bundled', module: await loadKernels('simd') });
  const bytes = converted.bytes();
  const r = rng(seed + 1);
  const learned = MlpPredictor.init({ vocab, nLayers, nff, tokenDim: 24, hidden, window: 5 }, randomF32(r, vocab * dim), dim, seed);
  learned.p.b1.set(randomF32(r, hidden, 0.1));
  learned.p.b2.set(randomF32(r, nLayers * nff, 0.1));
  const cal = {
    learned,
    static: Array.from({ length: nLayers }, () => randomF32(r, nff)),
    shared: [Int32Array.of(0, 5, 9, 90), new Int32Array(0)],
  };
  const out = memorySink();
  await writeCalibratedModel(memorySource(bytes), await parseGGUF(memorySource(bytes)), cal, { examples: 0, heldoutRecall: 0 }, out);
  return fixture(`random ${type} U=${hidden}`, out.bytes());
}
const randomFixtures = [await randomFixture('f32', 40, 21), await randomFixture('q4_0', 32, 22)];

/** Largest |AS - TS| / max(1, |TS|) of a score against the TS predictor's plain-JS path (f64 sums instead
 * of the kernel's f32 ones; measured 8.1e-7 on the demo prompts). Against the kernel path: bit-identical. */
const MAX_PREDICT_ERR_VS_JS = 2e-6;

// --- moving inputs and results ----------------------------------------------------------------------

function call<T>(fn: (p: number) => T, data: Uint8Array | Float32Array | Int32Array | BigUint64Array): T {
  const p = rt.put(data as Uint8Array);
  try {
    return fn(p);
  } finally {
    ex.rt_free(p);
  }
}
function withString<T>(s: string, fn: (p: number, n: number) => T): T {
  const [p, n] = rt.putString(s);
  try {
    return fn(p, n);
  } finally {
    ex.rt_free(p);
  }
}

function setInputs(o: { scores?: ArrayLike<number>[]; shared?: ArrayLike<number>[]; sets?: ArrayLike<number>[] }): void {
  ex.prn_inputs_reset();
  for (const s of o.scores ?? []) call((p) => ex.prn_scores_add(p, s.length), Float32Array.from(s));
  for (const s of o.shared ?? []) call((p) => ex.prn_shared_add(p, s.length), Int32Array.from(s));
  for (const s of o.sets ?? []) call((p) => ex.prn_sets_add(p, s.length), Int32Array.from(s));
}

function results(): number[][] {
  const out: number[][] = [];
  for (let l = 0; l < ex.prn_result_layers(); l++) {
    const n = ex.prn_result_length(l);
    const p = ex.rt_alloc(Math.max(4, n * 4)) >>> 0;
    ex.prn_result_copy(l, p);
    out.push(Array.from(rt.i32(p, n)));
    ex.rt_free(p);
  }
  return out;
}

/** The runtime's error code (and clears it); '' when none. */
function takeError(): string {
  const code = rt.errorCode();
  ex.rt_clear_error();
  return code;
}

/** Plays host: copies the needed byte ranges of `file` into wasm memory (`damage` may alter them). */
function serveNeeds(file: Uint8Array, damage?: (offset: number, bytes: Uint8Array) => void): { reads: number; bytes: number } {
  const n = ex.rt_need_count();
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    assert.is(ex.rt_need_file(i), 0, 'needs read the model file');
    const offset = ex.rt_need_offset(i);
    const length = ex.rt_need_length(i) >>> 0;
    const data = file.slice(offset, offset + length);
    damage?.(offset, data);
    rt.u8.set(data, ex.rt_need_dest(i) >>> 0);
    bytes += length;
  }
  ex.rt_clear_needs();
  return { reads: n, bytes };
}

/** Builds the AS ModelSpec tensor table and IfpruneInfo from what the TS readers found, optionally
 * damaged (the end-to-end tests use openFile instead). */
function loadSpec(spec: ModelSpec, info: IfpruneInfo | null, opts: { drop?: string; kind?: string; retype?: [string, number]; redim?: [string, number[]]; uncalibrated?: boolean } = {}): void {
  const c = spec.config;
  ex.prn_spec_reset(c.vocabSize, c.nLayers, c.hiddenDim);
  for (const [name, t] of spec.tensors) {
    if (name === opts.drop) continue;
    const type = opts.retype?.[0] === name ? opts.retype[1] : t.type.id;
    const dims = opts.redim?.[0] === name ? opts.redim[1] : t.dims;
    withString(name, (p, n) => ex.prn_spec_tensor(p, n, type, dims[0]!, dims[1] ?? 1, t.offset, t.bytes));
  }
  ex.prn_info_reset(info !== null);
  if (!info) return;
  const meta = spec.metadata;
  if (meta[PRED.kind] !== undefined && !opts.uncalibrated) {
    withString(opts.kind ?? String(meta[PRED.kind]), (p, n) => ex.prn_info_predictor(p, n, Number(meta[PRED.tokenDim]), Number(meta[PRED.hidden]), Number(meta[PRED.window])));
  }
  ex.prn_info_static(spec.tensors.has(PRED.static) && !opts.uncalibrated);
  for (const b of info.bundles) withString(b.name, (p, n) => ex.prn_info_bundle(p, n, b.type.id, b.dim, b.nFF, b.rowBytes, b.offset, b.bytes));
  for (const [name, c] of info.chunks) {
    call((h) => withString(name, (p, n) => ex.prn_info_chunks(p, n, c.offset, c.bytes, c.chunkBytes, h, c.hashes.length)), c.hashes);
  }
}

/** End to end: the AS header parser and ifprune reader over the whole file (prn_open); its result. */
function openFile(bytes: Uint8Array): number {
  return call((p) => ex.prn_open(p, bytes.length), bytes);
}
const openDemo = () => assert.is(openFile(demoBytes), 1, rt.error());

const lcg = (seed: number) => rng(seed);
function randomSets(r: () => number, nLayers: number, nff: number, k: number): Int32Array[] {
  return Array.from({ length: nLayers }, () => {
    const ids = Array.from({ length: nff }, (_, j) => j);
    for (let i = nff - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [ids[i], ids[j]] = [ids[j]!, ids[i]!];
    }
    return Int32Array.from(ids.slice(0, k)).sort();
  });
}

// --- neuronsAt -----------------------------------------------------------------------------------------

const nAt = suite('neuronsAt');

nAt('equals the TS count for densities and widths, halves rounded up', () => {
  for (const nff of [1, 2, 5, 7, 96, 768, 1536]) {
    for (const d of [0, 1e-9, 0.001, 0.1, 0.125, 0.25, 1 / 3, 0.5, 0.7, 0.9999, 1]) assert.is(ex.prn_neurons_at(d, nff), neuronsAt(d, nff), `density ${d}, nff ${nff}`);
  }
  assert.is(ex.prn_neurons_at(0.5, 5), 3);
});

nAt('a density outside [0, 1] is bad_option', () => {
  for (const d of [-0.1, 1.5, NaN, Infinity]) {
    assert.is(ex.prn_neurons_at(d, 96), -1);
    assert.is(takeError(), 'bad_option', `density ${d}`);
  }
});
nAt.run();

// --- topK ----------------------------------------------------------------------------------------------

const top = suite('topK');

top('equals the TS ids (ties: lower id first) for k = 0, 1, half, all, more than all', () => {
  const r = lcg(1);
  for (const n of [1, 2, 3, 7, 33, 100, 768]) {
    for (let rep = 0; rep < 4; rep++) {
      // few distinct values, so ties are common; negative zero as well as zero
      const scores = Float32Array.from({ length: n }, () => (rep % 2 ? Math.floor(r() * 5) - 2 : r() * 2 - 1));
      if (n > 2) scores[1] = -0;
      for (const k of [0, 1, n >> 1, n, n + 3]) {
        setInputs({ scores: [scores] });
        ex.prn_top_k(k, 0, -1);
        assert.equal(results()[0], Array.from(topK(scores, k)), `n ${n} k ${k}`);
      }
    }
  }
});

top('leaves out excluded ids; a mask shorter than the scores excludes nothing past its end', () => {
  const r = lcg(2);
  for (const n of [5, 64, 300]) {
    const scores = Float32Array.from({ length: n }, () => Math.floor(r() * 7));
    for (const maskLen of [0, n >> 1, n]) {
      const mask = Uint8Array.from({ length: maskLen }, () => (r() < 0.3 ? 1 : 0));
      for (const k of [0, 1, n >> 2, n]) {
        setInputs({ scores: [scores] });
        call((p) => ex.prn_top_k(k, p, maskLen), mask);
        assert.equal(results()[0], Array.from(topK(scores, k, mask)), `n ${n} mask ${maskLen} k ${k}`);
      }
    }
  }
});
top('NaN scores do not trap and come after every number (TS gives them no defined place)', () => {
  const scores = Float32Array.of(0.5, NaN, -1, NaN, 2);
  setInputs({ scores: [scores] });
  ex.prn_top_k(3, 0, -1);
  assert.equal(results()[0], [0, 2, 4]);
  ex.prn_top_k(4, 0, -1);
  assert.equal(results()[0], [0, 1, 2, 4]);
});
top.run();

// --- selectLayers, allNeurons --------------------------------------------------------------------------

const sel = suite('selectLayers');

sel('equals the TS sets with no, some, and more-than-k shared neurons', () => {
  const r = lcg(3);
  const nff = 96;
  const scores = Array.from({ length: 3 }, () => Float32Array.from({ length: nff }, () => Math.floor(r() * 10)));
  const someShared = [Int32Array.of(1, 5, 40), new Int32Array(0), Int32Array.from({ length: 30 }, (_, i) => i * 3)];
  for (const shared of [[], someShared, someShared.slice(0, 1)]) {
    for (const k of [0, 1, 3, 10, 48, nff]) {
      setInputs({ scores, shared });
      ex.prn_select_layers(k);
      const want = selectLayers(scores, k, shared.length ? shared : undefined).map((s) => Array.from(s));
      assert.equal(results(), want, `shared ${shared.length} layers, k ${k}`);
    }
  }
});

sel('allNeurons: every id of every layer', () => {
  ex.prn_all_neurons(3, 5);
  assert.equal(results(), [0, 1, 2].map(() => [0, 1, 2, 3, 4]));
  ex.prn_all_neurons(0, 5);
  assert.equal(results(), []);
});
sel.run();

// --- planLoad --------------------------------------------------------------------------------------------

const plan = suite('planLoad');

function asPlan(gap: number): { requests: number; readBytes: number; selectedBytes: number } {
  ex.prn_plan_load(gap);
  return { requests: ex.prn_plan_requests(), readBytes: ex.prn_plan_read_bytes(), selectedBytes: ex.prn_plan_selected_bytes() };
}

plan('equals the TS requests and bytes for random sets and gaps on the demo layout', () => {
  openDemo();
  const r = lcg(4);
  for (const k of [0, 1, 7, 77, 192, 500, NFF]) {
    const sets = randomSets(r, LAYERS, NFF, k);
    setInputs({ sets });
    for (const gap of [0, 1, 611, 612, 1224, 5000, 1 << 20]) {
      const want = planLoad(demoLayout, sets, gap);
      assert.equal(asPlan(gap), { requests: want.requests, readBytes: want.readBytes, selectedBytes: want.selectedBytes }, `k ${k} gap ${gap}`);
    }
  }
});

plan('runs longer than MAX_REQUEST_BYTES split over several requests as in TS', () => {
  const rowBytes = 3 << 20;
  const layout: BundleLayout = { offsets: [1000, 1000 + 20 * rowBytes], rowBytes, rows: 20 };
  ex.prn_info_reset(true);
  for (const [l, o] of layout.offsets.entries()) withString(`blk.${l}.ffn_bundle`, (p, n) => ex.prn_info_bundle(p, n, 0, rowBytes / 12, 20, rowBytes, o, 20 * rowBytes));
  const sets = [Int32Array.from({ length: 20 }, (_, j) => j), Int32Array.of(0, 1, 2, 5, 6, 19)];
  setInputs({ sets });
  for (const gap of [0, rowBytes, 3 * rowBytes]) {
    const want = planLoad(layout, sets, gap);
    assert.ok(want.requests > 8, 'the case splits');
    assert.equal(asPlan(gap), { requests: want.requests, readBytes: want.readBytes, selectedBytes: want.selectedBytes }, `gap ${gap}`);
  }
});
plan.run();

// --- Predictor, StaticRanking ---------------------------------------------------------------------------

const pred = suite('Predictor');
const demoCal = await readCalibration(demoSpec, demoInfo);
const tsLearned = demoCal.learned as MlpPredictor;
const tsKernels = new MlpPredictor(tsLearned.shape, tsLearned.p).useKernels(kernels);

/** Plans and reads (from `file`) the calibration tensors of the spec loaded with openFile or loadSpec:
 * the plan()'s bits, or -1. */
function loadCalibration(file = demoBytes): number {
  const bits = ex.prn_calibration_plan();
  if (bits < 0) {
    ex.rt_clear_needs();
    return bits;
  }
  serveNeeds(file);
  assert.ok(ex.prn_calibration_finish(), rt.error());
  return bits;
}

function asPredict(ids: number[], scores = LAYERS * NFF): Float32Array | null {
  const p = call((q) => ex.prn_predict(q, ids.length), Int32Array.from(ids)) >>> 0;
  if (p === 0) return null;
  const s = rt.f32(p, scores);
  ex.rt_free(p);
  return s;
}
const flat = (a: Float32Array[]) => {
  const out = new Float32Array(a.reduce((n, s) => n + s.length, 0));
  let at = 0;
  for (const s of a) out.set(s, (at += s.length) - s.length);
  return out;
};

const tok = createTokenizer(demoSpec.tokenizer!);
const prompts: number[][] = [[], [tok.bosId], [tok.bosId, 17], [5]];
for (const domain of ['english', 'german', 'python', 'javascript', 'arithmetic', 'manpages']) {
  const lines = readFileSync(`${DEMO}eval-sample/${domain}.jsonl`, 'utf8').trim().split('\n');
  for (const line of lines) prompts.push(tok.encode((JSON.parse(line) as { prompt: string }).prompt));
}
{
  const r = lcg(5);
  for (const n of [2, 3, 16, 17, 18, 33, 255]) prompts.push(Array.from({ length: n }, () => Math.floor(r() * demoSpec.config.vocabSize)));
}

pred('scores on the ifp-demo predictor (parsed, planned, read and verified in wasm) are bit-identical to the TS predictor with kernels, for every prompt', () => {
  openDemo();
  assert.is(loadCalibration(), 3, 'a predictor and a static ranking');
  for (const ids of prompts) {
    const got = asPredict(ids)!;
    assert.ok(got, rt.error());
    const want = flat(tsKernels.predict(ids));
    assert.equal(new Uint32Array(got.buffer), new Uint32Array(want.buffer), `${ids.length} ids`);
    const js = flat(tsLearned.predict(ids));
    for (let i = 0; i < js.length; i++) {
      const err = Math.abs(got[i]! - js[i]!) / Math.max(1, Math.abs(js[i]!));
      if (!(err <= MAX_PREDICT_ERR_VS_JS)) assert.unreachable(`score ${i}: ${got[i]} vs JS ${js[i]}`);
    }
  }
});

pred('random models (H 24, U 40 with W2 stored F16, U 32 with W2 Q8_0, window 5): scores, static ranking and selection bit-identical', async () => {
  for (const f of randomFixtures) {
    assert.is(openFile(f.bytes), 1, rt.error());
    assert.is(loadCalibration(f.bytes), 3, f.name);
    const cal = await readCalibration(f.spec, f.info);
    const learned = cal.learned as MlpPredictor;
    assert.is(f.spec.tensors.get(PRED.W2)!.type.name, learned.shape.hidden % 32 ? 'F16' : 'Q8_0', `${f.name}: W2 type`);
    const ts = new MlpPredictor(learned.shape, learned.p).useKernels(kernels);
    const r = lcg(6);
    for (const n of [0, 1, 2, 4, 6, 7, 50]) {
      const ids = Array.from({ length: n }, () => Math.floor(r() * f.spec.config.vocabSize));
      const got = asPredict(ids, f.layers * f.nff)!;
      assert.ok(got, rt.error());
      assert.equal(new Uint32Array(got.buffer), new Uint32Array(flat(ts.predict(ids)).buffer), `${f.name}: ${n} ids`);
      setInputs({ shared: cal.shared });
      call((p) => ex.prn_predict_select(p, ids.length, 10), Int32Array.from(ids));
      assert.equal(results(), selectLayers(ts.predict(ids), 10, cal.shared).map((s) => Array.from(s)), `${f.name}: selection`);
    }
    const p = ex.prn_static_scores() >>> 0;
    assert.equal(Array.from(rt.f32(p, f.layers * f.nff)), Array.from(flat(cal.static!)), `${f.name}: static`);
    ex.rt_free(p);
  }
});

pred('predict → selectLayers with the file\'s shared sets equals the TS selection', () => {
  openDemo();
  loadCalibration();
  const shared = demoCal.shared ?? [];
  setInputs({ shared });
  for (const ids of prompts.slice(4, 20)) {
    for (const d of [0.05, 0.25, 0.5]) {
      const k = neuronsAt(d, NFF);
      call((p) => ex.prn_predict_select(p, ids.length, k), Int32Array.from(ids));
      assert.equal(results(), selectLayers(tsKernels.predict(ids), k, demoCal.shared).map((s) => Array.from(s)), `density ${d}`);
    }
  }
});

pred('StaticRanking: the file\'s static scores, exactly', () => {
  openDemo();
  assert.is(loadCalibration(), 3);
  const p = ex.prn_static_scores() >>> 0;
  assert.equal(Array.from(rt.f32(p, LAYERS * NFF)), Array.from(flat(demoCal.static!)));
  ex.rt_free(p);
});

pred('a token id outside the vocabulary is bad_option, no scores', () => {
  for (const bad of [demoSpec.config.vocabSize, -1, 1 << 30]) {
    assert.is(asPredict([tok.bosId, 3, bad]), null);
    assert.is(takeError(), 'bad_option', `id ${bad}`);
  }
});

pred('no predictor (plain GGUF, or an ifprune file without calibration) plans nothing and fails nothing', () => {
  assert.is(openFile(new Uint8Array(readFileSync(fileURLToPath(new URL('../models/stories260K/stories260K.gguf', import.meta.url))))), 0, rt.error());
  assert.is(ex.prn_calibration_plan(), 0);
  assert.is(rt.error(), '');
  assert.is(ex.rt_need_count(), 0);
  loadSpec(demoSpec, demoInfo, { uncalibrated: true });
  assert.is(ex.prn_calibration_plan(), 0);
  assert.is(rt.error(), '');
  assert.is(ex.rt_need_count(), 0);
});

pred('a damaged predictor description fails with its code, never traps', () => {
  const cases: [string, Parameters<typeof loadSpec>[2], string][] = [
    ['missing W2', { drop: PRED.W2 }, 'corrupt'],
    ['missing static tensor', { drop: PRED.static }, 'corrupt'],
    ['unknown kind', { kind: 'transformer' }, 'unsupported'],
    ['E stored as Q4_0', { retype: [PRED.E, 2] }, 'corrupt'],
    ['W1 of the wrong shape', { redim: [PRED.W1, [256, 255]] }, 'corrupt'],
    ['b2 with 2^40 values', { redim: [PRED.b2, [2 ** 20, 2 ** 20]] }, 'corrupt'],
  ];
  for (const [what, opts, code] of cases) {
    loadSpec(demoSpec, demoInfo, opts);
    assert.is(ex.prn_calibration_plan(), -1, what);
    assert.is(takeError(), code, what);
    ex.rt_clear_needs();
  }
});
pred.run();

// --- NeuronCache -----------------------------------------------------------------------------------------

const cache = suite('NeuronCache');

/** The TS loader over a fixture's file, on a stand-in engine (the loader only packs and hands over
 * bundles); `source` replaces the file (damage tests). */
function tsLoader(f: Fixture, opts: { memoryBudget?: number; gapBytes?: number }, source: RangeSource = memorySource(f.bytes)): NeuronLoader {
  const engine = { bundleFormat: { type: f.info.bundles[0]!.type, rowBytes: f.layout.rowBytes, rows: f.nff }, kernels, setActiveBundles() {} } as unknown as Engine;
  return new NeuronLoader(engine, source, f.layout, { ...opts, verify: (l, off, b) => verifyTensorBytes(f.info, f.info.bundles[l]!.name, off, b) });
}

function asReport(totals = false) {
  const p = ex.rt_alloc(40) >>> 0;
  ex.prn_cache_report(p, totals);
  const [rows, cacheHits, rowsRead, requests, bytesRead] = new Float64Array(ex.memory.buffer.slice(p, p + 40));
  ex.rt_free(p);
  return { rows, cacheHits, rowsRead, requests, bytesRead };
}
const tsReport = (r: { rows: number; cacheHits: number; rowsRead: number; requests: number; bytesRead: number }) =>
  ({ rows: r.rows, cacheHits: r.cacheHits, rowsRead: r.rowsRead, requests: r.requests, bytesRead: r.bytesRead });

/** One load through the AS cache: request, play host, finish. */
function asLoad(f: Fixture, sets: ArrayLike<number>[], damage?: (offset: number, bytes: Uint8Array) => void): { ok: boolean; served: { reads: number; bytes: number } } {
  setInputs({ sets });
  if (!ex.prn_cache_request()) return { ok: false, served: { reads: 0, bytes: 0 } };
  const served = serveNeeds(f.bytes, damage);
  return { ok: ex.prn_cache_finish(), served };
}

/** Each layer's packed set holds the file's bundle rows of the selection, ascending (read back through
 * the grouped layout, assembly/grouped.ts). */
function assertPacked(f: Fixture, sets: ArrayLike<number>[], label: string): void {
  const rb = f.layout.rowBytes;
  const row = ex.rt_alloc(rb) >>> 0;
  sets.forEach((s, l) => {
    const ids = Int32Array.from(s).sort();
    assert.is(ex.prn_cache_count(l), ids.length, `${label}: layer ${l} count`);
    ids.forEach((r, i) => {
      ex.prn_cache_row(l, i, row);
      const want = f.bytes.subarray(f.layout.offsets[l]! + r * rb, f.layout.offsets[l]! + (r + 1) * rb);
      if (Buffer.compare(rt.bytes(row, rb), want) !== 0) assert.unreachable(`${label}: layer ${l} packed row ${i} is not bundle row ${r}`);
    });
  });
  ex.rt_free(row);
}

/** Selections that overlap the previous ones, repeat, grow and shrink. */
function selectionSequence(f: Fixture, seed: number, maxK: number): Int32Array[][] {
  const r = lcg(seed);
  const seq: Int32Array[][] = [];
  for (let i = 0; i < 14; i++) {
    if (i > 0 && r() < 0.2) seq.push(seq[i - 1]!);
    else if (i > 0 && r() < 0.3) seq.push(seq[i - 1]!.map((s) => Int32Array.from(new Set([...s.slice(0, s.length >> 1), ...randomSets(r, 1, f.nff, s.length >> 1)[0]!])).sort()));
    else seq.push(randomSets(r, f.layers, f.nff, Math.floor(r() * (maxK + 1))));
  }
  seq.push(randomSets(r, f.layers, f.nff, maxK), randomSets(r, f.layers, f.nff, 0));
  return seq;
}

const CACHE_CASES: [fixture: Fixture, name: string, budgetRows: number, maxK: number, gap: number][] = [
  [demo, 'unlimited, gap 0', 0, NFF, 0],
  [demo, 'unlimited, gap 3 rows', 0, 400, 3 * 612],
  [demo, 'a budget of 200 bundles per layer, gap 0', 200, 200, 0],
  [demo, 'a budget of 64 bundles per layer, gap 1000 bytes', 64, 64, 1000],
  ...randomFixtures.map((f): [Fixture, string, number, number, number] => [f, 'a budget of 50 bundles per layer, gap 2 rows', 50, 50, 2 * f.layout.rowBytes]),
];
for (const [f, name, budgetRows, maxK, gap] of CACHE_CASES) {
  cache(`${f.name}, ${name}: rows, hits, rows read, requests and bytes equal NeuronLoader's; packed rows are the file's`, async () => {
    assert.is(openFile(f.bytes), 1, rt.error());
    // (+ 100: a budget that is not a whole number of rows)
    const budget = budgetRows && budgetRows * 2 * f.layout.rowBytes * f.layers + 100;
    ex.prn_cache_new(budget, gap);
    const ts = tsLoader(f, { memoryBudget: budget || undefined, gapBytes: gap });
    for (const l of [0, f.layers - 1]) assert.is(ex.prn_cache_capacity(l), ts.capacity);
    for (const [i, sets] of selectionSequence(f, budget + gap + maxK, maxK).entries()) {
      const want = await ts.load(sets);
      const got = asLoad(f, sets);
      assert.ok(got.ok, rt.error());
      assert.equal(asReport(), tsReport(want), `load ${i}`);
      assert.is(got.served.reads, want.requests, `load ${i}: host reads`);
      assert.is(got.served.bytes, want.bytesRead, `load ${i}: host bytes`);
      assertPacked(f, sets, `load ${i}`);
    }
    assert.equal(asReport(true), ts.totals);
    assert.is(ex.prn_cache_memory(), 2 * f.layers * ts.capacity * f.layout.rowBytes);
  });
}

cache('a selection over the budget is out_of_memory, as in TS, and the cache goes on unchanged', async () => {
  openDemo();
  const budget = 40 * 2 * 612 * 4;
  ex.prn_cache_new(budget, 0);
  const ts = tsLoader(demo, { memoryBudget: budget, gapBytes: 0 });
  const A = randomSets(lcg(7), LAYERS, NFF, 30);
  await ts.load(A);
  assert.ok(asLoad(demo, A).ok);
  const over = randomSets(lcg(8), LAYERS, NFF, 41);
  const e = await ts.load(over).catch((x: Error & { code: string }) => x);
  assert.is((e as { code: string }).code, 'out_of_memory');
  assert.not.ok(asLoad(demo, over).ok);
  const msg = rt.error();
  assert.is(takeError(), 'out_of_memory');
  assert.ok(msg.includes((e as Error).message), `${msg} vs ${(e as Error).message}`);
  assert.is(ex.rt_need_count(), 0, 'no needs listed');
  const want = await ts.load(A);
  assert.ok(asLoad(demo, A).ok);
  assert.equal(asReport(), tsReport(want));
  assertPacked(demo, A, 'after the refusal');
});

cache('malformed sets are bad_option (as TS), and finish without a request is bad_option', async () => {
  openDemo();
  ex.prn_cache_new(0, 0);
  const ts = tsLoader(demo, {});
  const ok = randomSets(lcg(9), LAYERS, NFF, 5);
  const bad: [string, Int32Array[]][] = [
    ['too few layers', ok.slice(1)],
    ['a duplicate id', [Int32Array.of(3, 3), ...ok.slice(1)]],
    ['id = n_ff', [Int32Array.of(1, NFF), ...ok.slice(1)]],
    ['a negative id', [Int32Array.of(-1, 2), ...ok.slice(1)]],
  ];
  for (const [what, sets] of bad) {
    const e = await ts.load(sets).catch((x: Error & { code: string }) => x);
    assert.is((e as { code: string }).code, 'bad_option', `TS: ${what}`);
    assert.not.ok(asLoad(demo, sets).ok, what);
    assert.is(takeError(), 'bad_option', what);
  }
  assert.not.ok(ex.prn_cache_finish());
  assert.is(takeError(), 'bad_option');
});

cache('a flipped byte in a row read: hash_mismatch naming the tensor; the rows from it on are not cached, as in TS', async () => {
  openDemo();
  ex.prn_cache_new(0, 0);
  const l = 2;
  const rowAt = demoInfo.bundles[l]!.offset + 17 * demoLayout.rowBytes;
  const damaged = demoBytes.slice();
  damaged[rowAt + 5]! ^= 0x40;
  let file: Uint8Array = damaged;
  const ts = tsLoader(demo, {}, { async readInto(offset: number, target: Uint8Array) { target.set(file.subarray(offset, offset + target.length)); } });
  const sets = Array.from({ length: LAYERS }, (_, i) => (i === l ? Int32Array.of(16, 17, 18, 40) : Int32Array.of(1, 2)));
  const e = await ts.load(sets).catch((x: Error & { code: string }) => x);
  assert.is((e as { code: string }).code, 'hash_mismatch');
  const bad = asLoad(demo, sets, (offset, bytes) => {
    if (offset <= rowAt + 5 && rowAt + 5 < offset + bytes.length) bytes[rowAt + 5 - offset]! ^= 0x40;
  });
  assert.not.ok(bad.ok);
  const msg = rt.error();
  assert.is(takeError(), 'hash_mismatch');
  assert.match(msg, `blk.${l}.ffn_bundle`);
  file = demoBytes;
  const want = await ts.load(sets);
  assert.ok(asLoad(demo, sets).ok, rt.error());
  assert.equal(asReport(), tsReport(want));
  assert.is(want.rowsRead, 5, 'row 17 and the rows verified after it: 18, 40 and layer 3\'s two');
  assertPacked(demo, sets, 'after the mismatch');
});
cache.run();
