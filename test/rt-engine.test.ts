/**
 * The AssemblyScript forward pass (assembly/rt/engine.ts, test build build/rt-test-engine.wasm) against
 * its oracle, the TypeScript Engine (src/engine/engine.ts), on the committed models and on random ones:
 * both call the same kernels in the same order, so logits must be equal bit for bit.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { makeRandomModel, type RandomModelOptions } from '../tools/random-model.ts';
import { memorySource } from '../src/sources/memory.ts';
import { openModel } from '../src/formats/model.ts';
import { convert } from '../src/convert/convert.ts';
import { memorySink } from '../src/convert/sink.ts';
import type { ModelSpec, TensorRef } from '../src/formats/model-spec.ts';
import { Kernels } from '../src/engine/kernels.ts';
import { Engine, TILE } from '../src/engine/engine.ts';
import { NeuronImportance } from '../src/pruning/activations.ts';
import { loadKernels } from '../src/platform/node.ts';
import { Rt } from './rt-harness.ts';
import { assertThrowsCode, rng } from './helpers.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const MODELS = ROOT + 'models/';
/** This part's test build (node tools/build.mjs rt-test:engine; npm run build makes it). */
const WASM = 'build/rt-test-engine.wasm';
/** Prompt lengths for prefill: one token, under one tile, just over one tile, over two tiles. */
const PROMPT_LENGTHS = [1, 5, TILE + 1, 2 * TILE + 6];
const DECODE_STEPS = 6;
const CONTEXT = 128;

// --- fixtures --------------------------------------------------------------------------------------

const SHAPE_A = { dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 96, vocabSize: 320, seqLen: CONTEXT }; // GQA 2:1, llama
const SHAPE_B = { dim: 96, nLayers: 3, nHeads: 3, nKvHeads: 1, hiddenDim: 160, vocabSize: 301, seqLen: CONTEXT }; // MQA, odd heads
type WeightType = RandomModelOptions['type'];

interface Fixture {
  label: string;
  bytes: () => Promise<Uint8Array>;
}

const randomModel = (opts: RandomModelOptions) => () => makeRandomModel(opts);
/** An ifprune bundled copy of a random model (the FFN as n_ff rows [gate_j | up_j | down_j]). */
const bundledModel = (opts: RandomModelOptions, type: WeightType) => async () => {
  const sink = memorySink();
  await convert(await openModel(memorySource(await makeRandomModel(opts))), sink, { type, layout: 'bundled', module: await loadKernels('simd') });
  return sink.bytes();
};
const file = (path: string) => async () => new Uint8Array(readFileSync(MODELS + path));

const FIXTURES: Fixture[] = [];
for (const type of ['f32', 'f16', 'q8_0', 'q4_0'] as const) {
  FIXTURES.push({ label: `random ${type} llama tied GQA`, bytes: randomModel({ ...SHAPE_A, type, tied: true, seed: 11 }) });
  FIXTURES.push({ label: `random ${type} qwen2 untied MQA (bias, neox)`, bytes: randomModel({ ...SHAPE_B, type, tied: false, qkvBias: true, seed: 12 }) });
  FIXTURES.push({ label: `random ${type} bundled`, bytes: bundledModel({ ...SHAPE_A, type, tied: false, seed: 13 }, type) });
}
FIXTURES.push({ label: 'random q4_0 qwen2 bundled', bytes: bundledModel({ ...SHAPE_B, type: 'q4_0', tied: false, qkvBias: true, seed: 14 }, 'q4_0') });
FIXTURES.push({ label: 'stories260K.gguf', bytes: file('stories260K/stories260K.gguf') });
FIXTURES.push({ label: 'ifp-demo.q8_0.gguf', bytes: file('ifp-demo/ifp-demo.q8_0.gguf') });

const kernels = await loadKernels('simd');

// --- the two engines ------------------------------------------------------------------------------

interface PlanOptions {
  contextLength?: number;
  selective?: boolean;
  maxBytes?: number;
  /** Edits the tensor table handed to the AS engine (bad-input cases). */
  tensors?: (t: TensorRef[]) => TensorRef[];
  config?: Partial<ModelSpec['config']>;
}

/**
 * Plans the AS engine on `spec` (given tensor by tensor, as the AS parser would) and plays the host:
 * copies every listed need from the file into wasm memory, then finishes the load. false: the error is
 * in rt.errorCode() / rt.error().
 */
function planAs(rt: Rt, spec: ModelSpec, bytes: Uint8Array, o: PlanOptions = {}): boolean {
  const x = rt.ex;
  const c = { ...spec.config, ...o.config };
  x.rt_clear_error();
  x.eng_spec_begin();
  x.eng_spec_config(c.dim, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, c.headSize, c.vocabSize, c.seqLen, c.normEps, c.ropeBase, c.ropeDim,
    c.ropeStyle === 'neox' ? 1 : 0, c.tiedEmbeddings ? 1 : 0, c.qkvBias ? 1 : 0);
  let table = [...spec.tensors.values()];
  if (o.tensors) table = o.tensors(table);
  for (const t of table) {
    const [p, n] = rt.putString(t.name);
    x.eng_spec_tensor(p, n, t.type.id, t.dims.length, t.dims[0]!, t.dims[1] ?? 1, t.offset, t.bytes);
    x.rt_free(p);
  }
  const [np, nn] = rt.putString('model.gguf');
  const ok = x.eng_plan(o.contextLength ?? 0, o.selective ? 1 : 0, o.maxBytes ?? 0, np, nn);
  x.rt_free(np);
  if (!ok) return false;
  for (let i = 0; i < x.rt_need_count(); i++) {
    const off = x.rt_need_offset(i);
    rt.u8.set(bytes.subarray(off, off + x.rt_need_length(i)), x.rt_need_dest(i) >>> 0);
  }
  return x.eng_finish() === 1;
}

interface Pair {
  spec: ModelSpec;
  bytes: Uint8Array;
  ts: Engine;
  rt: Rt;
  vocab: number;
}

async function openPair(f: Fixture, opts: { selective?: boolean; contextLength?: number } = {}): Promise<Pair> {
  const bytes = await f.bytes();
  const spec = await openModel(memorySource(bytes));
  const contextLength = opts.contextLength ?? Math.min(CONTEXT, spec.config.seqLen);
  const ts = await Engine.load(await Kernels.create(kernels), spec, { contextLength, ffn: opts.selective ? 'none' : 'dense' });
  const rt = await Rt.create(WASM);
  assert.ok(planAs(rt, spec, bytes, { contextLength, selective: opts.selective }), `${f.label}: AS plan/load failed: ${rt.error()}`);
  return { spec, bytes, ts, rt, vocab: spec.config.vocabSize };
}

/** Runs ids through the AS engine; returns a copy of the last logits. */
function asForward(P: Pair, ids: number[]): Float32Array {
  const p = P.rt.put(Int32Array.from(ids));
  const out = P.rt.ex.eng_forward(p, ids.length) >>> 0;
  P.rt.ex.rt_free(p);
  assert.ok(out !== 0, `AS forward failed: ${P.rt.error()}`);
  return P.rt.f32(out, P.vocab);
}

/** Requires equal bits (NaNs included); reports how many differ and the first. */
function assertSameBits(got: Float32Array, want: Float32Array, label: string): void {
  assert.is(got.length, want.length, `${label}: length`);
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const b = new Uint32Array(want.buffer, want.byteOffset, want.length);
  let diff = 0;
  let first = -1;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      diff++;
      if (first < 0) first = i;
    }
  }
  if (diff) assert.unreachable(`${label}: ${diff} of ${a.length} values differ; first [${first}]: got ${got[first]}, want ${want[first]}`);
}

const argmax = (a: Float32Array) => a.reduce((b, v, i) => (v > a[b]! ? i : b), 0);
const randomIds = (seed: number, n: number, vocab: number) => {
  const r = rng(seed);
  return Array.from({ length: n }, () => Math.floor(r() * vocab));
};
/** k distinct neurons of n, sorted. */
const randomSet = (r: () => number, n: number, k: number) =>
  Int32Array.from(Array.from({ length: n }, (_, j) => j).sort(() => r() - 0.5).slice(0, k)).sort();

// --- forward ---------------------------------------------------------------------------------------

const forward = suite('Engine.forward');
for (const f of FIXTURES) {
  forward(`${f.label}: prefill of ${PROMPT_LENGTHS.join(', ')} tokens then ${DECODE_STEPS} greedy steps: logits equal the TS engine's bits`, async () => {
    const P = await openPair(f);
    for (const n of PROMPT_LENGTHS) {
      const ids = randomIds(n, n, P.vocab);
      P.ts.reset();
      P.rt.ex.eng_reset();
      let want = Float32Array.from(P.ts.forward(ids));
      assertSameBits(asForward(P, ids), want, `prefill ${n}`);
      for (let step = 0; step < DECODE_STEPS && n === PROMPT_LENGTHS[PROMPT_LENGTHS.length - 1]; step++) {
        const next = argmax(want);
        want = Float32Array.from(P.ts.forward([next]));
        assertSameBits(asForward(P, [next]), want, `decode step ${step}`);
      }
      assert.is(P.rt.ex.eng_pos(), P.ts.pos);
    }
  });
}

forward('rewind keeps the first positions: decoding after rewind equals the TS engine', async () => {
  const P = await openPair(FIXTURES[4]!);
  const ids = randomIds(3, 40, P.vocab);
  P.ts.forward(ids);
  asForward(P, ids);
  P.ts.rewind(17);
  assert.is(P.rt.ex.eng_rewind(17), 1);
  assertSameBits(asForward(P, [5, 6, 7]), Float32Array.from(P.ts.forward([5, 6, 7])), 'after rewind(17)');
  assert.is(P.rt.ex.eng_rewind(21), 0, 'rewind past pos');
  assert.is(P.rt.errorCode(), 'bad_option');
});
forward('free releases the core: planning the model again reuses the memory; forward afterwards fails', async () => {
  const bytes = await FIXTURES[6]!.bytes();
  const spec = await openModel(memorySource(bytes));
  const rt = await Rt.create(WASM);
  const sizes: number[] = [];
  for (let i = 0; i < 4; i++) {
    assert.ok(planAs(rt, spec, bytes, { contextLength: 64 }), rt.error());
    asForward({ spec, bytes, rt, vocab: spec.config.vocabSize } as Pair, [1, 2, 3]);
    rt.ex.eng_free();
    sizes.push(rt.ex.memory.buffer.byteLength);
  }
  assert.is(sizes[3], sizes[1], `memory after each cycle: ${sizes}`);
  assert.is(rt.ex.eng_forward(rt.put(Int32Array.from([1])), 1), 0);
  assert.is(rt.errorCode(), 'bad_option');
});
forward.run();

// --- forwardAll ------------------------------------------------------------------------------------

const forwardAll = suite('Engine.forwardAll');
for (const f of [FIXTURES[1]!, FIXTURES[8]!, FIXTURES[FIXTURES.length - 1]!]) {
  forwardAll(`${f.label}: every row of a ${TILE + 8}-token run equals the TS engine's`, async () => {
    const P = await openPair(f);
    const ids = randomIds(7, TILE + 8, P.vocab);
    const want = P.ts.forwardAll(ids);
    const ip = P.rt.put(Int32Array.from(ids));
    const out = P.rt.ex.rt_alloc(want.length * 4) >>> 0;
    assert.is(P.rt.ex.eng_forward_all(ip, ids.length, out), 1, P.rt.error());
    assertSameBits(P.rt.f32(out, want.length), want, 'all rows');
  });
}
forwardAll.run();

// --- forwardObserved -------------------------------------------------------------------------------

const observed = suite('Engine.forwardObserved');
/** The AS sums of layer l (n_ff f64). */
const asSums = (rt: Rt, l: number, n: number) => new Float64Array(rt.ex.memory.buffer.slice(rt.ex.eng_observed_sums(l) >>> 0, (rt.ex.eng_observed_sums(l) >>> 0) + n * 8));
for (const f of [FIXTURES[0]!, FIXTURES[7]!, FIXTURES[8]!, FIXTURES[11]!, FIXTURES[FIXTURES.length - 1]!]) {
  observed(`${f.label}: |h| sums from position 1 over a prefill and two decode steps equal NeuronImportance's`, async () => {
    const P = await openPair(f);
    const c = P.spec.config;
    const imp = new NeuronImportance(c.nLayers, c.hiddenDim, [[1, Infinity]]);
    P.ts.reset();
    P.rt.ex.eng_reset();
    P.rt.ex.eng_observe_reset();
    for (const ids of [randomIds(9, TILE + 5, P.vocab), [3], [4]]) {
      const want = Float32Array.from(P.ts.forwardObserved(ids, imp.observe));
      const ip = P.rt.put(Int32Array.from(ids));
      const out = P.rt.ex.eng_forward_observed(ip, ids.length, 1) >>> 0;
      assert.ok(out !== 0, P.rt.error());
      assertSameBits(P.rt.f32(out, P.vocab), want, 'logits');
    }
    assert.is(P.rt.ex.eng_observed_count(), imp.counts[0]);
    for (let l = 0; l < c.nLayers; l++) assert.equal(Array.from(asSums(P.rt, l, c.hiddenDim)), Array.from(imp.sums[0]![l]!), `layer ${l} sums`);
  });
}
observed.run();

// --- setNeuronMask ---------------------------------------------------------------------------------

const mask = suite('Engine.setNeuronMask');
for (const f of [FIXTURES[2]!, FIXTURES[6]!, FIXTURES[5]!, FIXTURES[8]!, FIXTURES[9]!, FIXTURES[12]!]) {
  mask(`${f.label}: random neuron sets (k = 0, 1, 24, all, then null) give the TS engine's logits`, async () => {
    const P = await openPair(f);
    const c = P.spec.config;
    const r = rng(21);
    const ids = randomIds(5, TILE + 3, P.vocab);
    for (const k of [0, 1, 24, c.hiddenDim, -1]) {
      for (let l = 0; l < c.nLayers; l++) {
        const set = k < 0 ? null : randomSet(r, c.hiddenDim, k);
        P.ts.setNeuronMask(l, set);
        const p = P.rt.put(set ?? new Int32Array(0));
        assert.is(P.rt.ex.eng_set_neuron_mask(l, p, set ? set.length : -1), 1, P.rt.error());
        assert.is(P.rt.ex.eng_active_neurons(l), P.ts.activeNeurons(l), `layer ${l} active neurons`);
      }
      P.ts.reset();
      P.rt.ex.eng_reset();
      assertSameBits(asForward(P, ids), Float32Array.from(P.ts.forward(ids)), `k = ${k}`);
    }
  });
}
mask('rejects a layer or neuron id out of range with bad_option', async () => {
  const P = await openPair(FIXTURES[2]!);
  for (const [l, set] of [[2, [0]], [-1, [0]], [0, [96]], [0, [-1]]] as const) {
    P.rt.ex.rt_clear_error();
    assert.is(P.rt.ex.eng_set_neuron_mask(l, P.rt.put(Int32Array.from(set)), set.length), 0);
    assert.is(P.rt.errorCode(), 'bad_option', `layer ${l} ids ${set}`);
    await assertThrowsCode(() => P.ts.setNeuronMask(l, set), 'bad_option');
  }
});
mask.run();

// --- setActiveBundles ------------------------------------------------------------------------------

const active = suite('Engine.setActiveBundles');
for (const f of [FIXTURES[2]!, FIXTURES[8]!, FIXTURES[11]!, FIXTURES[12]!, FIXTURES[FIXTURES.length - 1]!]) {
  active(`${f.label}: opened selectively, bundles copied from the file (k = 0, 1, 24, all) give the TS engine's logits`, async () => {
    const P = await openPair(f, { selective: true });
    const c = P.spec.config;
    const x = P.rt.ex;
    assert.is(x.eng_bundled(), 1);
    assert.is(x.eng_nff(), c.hiddenDim);
    assert.is(x.eng_bundle_type(), P.ts.bundleFormat!.type.id);
    assert.is(x.eng_bundle_row_bytes(), P.ts.bundleFormat!.rowBytes);
    const ids = randomIds(6, TILE + 3, P.vocab);
    x.rt_clear_error();
    assert.is(x.eng_forward(P.rt.put(Int32Array.from(ids)), ids.length), 0, 'forward before any bundle is loaded');
    assert.is(P.rt.errorCode(), 'bad_option');
    await assertThrowsCode(() => P.ts.forward(ids), 'bad_option');
    const r = rng(33);
    const K = P.ts.kernels;
    for (const k of [0, 1, 24, c.hiddenDim]) {
      for (let l = 0; l < c.nLayers; l++) {
        const t = P.spec.tensors.get(`blk.${l}.ffn_bundle`)!;
        const rb = t.bytes / c.hiddenDim;
        const set = randomSet(r, c.hiddenDim, k);
        const rows = new Uint8Array(k * rb);
        set.forEach((j, i) => rows.set(P.bytes.subarray(t.offset + j * rb, t.offset + (j + 1) * rb), i * rb));
        const tp = K.alloc(rows.length);
        K.u8(tp, rows.length).set(rows);
        P.ts.setActiveBundles(l, tp, k);
        assert.is(x.eng_set_active_bundles(l, P.rt.put(rows), k), 1, P.rt.error());
        assert.is(x.eng_active_neurons(l), k);
      }
      P.ts.reset();
      x.eng_reset();
      assertSameBits(asForward(P, ids), Float32Array.from(P.ts.forward(ids)), `k = ${k}`);
    }
  });
}
active('rejects k out of range, bundles outside memory and layers without bundles', async () => {
  const P = await openPair(FIXTURES[8]!, { selective: true });
  const x = P.rt.ex;
  const cases: [l: number, ptr: number, k: number, code: string][] = [
    [0, 16, 97, 'bad_option'],
    [0, 16, -1, 'bad_option'],
    [2, 16, 1, 'bad_option'],
    [0, x.memory.buffer.byteLength - 8, 1, 'out_of_bounds'],
  ];
  for (const [l, ptr, k, code] of cases) {
    x.rt_clear_error();
    assert.is(x.eng_set_active_bundles(l, ptr, k), 0, `${l} ${ptr} ${k}`);
    assert.is(P.rt.errorCode(), code);
  }
  x.rt_clear_error();
  x.eng_observe_reset();
  assert.is(x.eng_forward_observed(P.rt.put(Int32Array.from([1, 2])), 2, 0), 0, 'observing without every bundle');
  assert.is(P.rt.errorCode(), 'bad_option');
  x.rt_clear_error();
  assert.is(x.eng_set_neuron_mask(0, 0, -1), 0, 'setNeuronMask on a selective file');
  assert.is(P.rt.errorCode(), 'bad_option');
});
active.run();

// --- bad input -------------------------------------------------------------------------------------

const errors = suite('Engine.plan and forward on bad input');
/** Plans the TS and the AS engine with the same damage; both must fail with `code` (TS null: AS only). */
async function bothFail(f: Fixture, o: PlanOptions & { ts?: (spec: ModelSpec) => void; tsSelective?: boolean }, code: string, tsCode: string | null = code) {
  const bytes = await f.bytes();
  const spec = await openModel(memorySource(bytes));
  const rt = await Rt.create(WASM);
  assert.is(planAs(rt, spec, bytes, o), false, 'AS plan should fail');
  assert.is(rt.errorCode(), code, rt.error());
  assert.ok(rt.error().length > code.length + 20, `a message: ${rt.error()}`);
  if (tsCode) {
    o.ts?.(spec);
    const K = await Kernels.create(kernels);
    await assertThrowsCode(() => Engine.load(K, spec, { ffn: o.tsSelective ? 'none' : 'dense', maxBytes: o.maxBytes, contextLength: o.contextLength }), tsCode);
  }
  return rt.error();
}

errors('a missing tensor: corrupt, as TS', async () => {
  const drop = 'blk.1.attn_v.weight';
  const msg = await bothFail(FIXTURES[4]!, { tensors: (t) => t.filter((x) => x.name !== drop), ts: (s) => s.tensors.delete(drop) }, 'corrupt');
  assert.match(msg, drop);
});
errors('a tensor of the wrong shape or byte count: corrupt (the TS parser refuses it earlier)', async () => {
  await bothFail(FIXTURES[4]!, { tensors: (t) => t.map((x) => (x.name === 'blk.0.ffn_up.weight' ? { ...x, dims: [64, 95] } : x)) }, 'corrupt', null);
  await bothFail(FIXTURES[4]!, { tensors: (t) => t.map((x) => (x.name === 'output_norm.weight' ? { ...x, bytes: 8 } : x)) }, 'corrupt', null);
});
errors('an unsupported tensor type: unsupported', async () => {
  await bothFail(FIXTURES[4]!, { tensors: (t) => t.map((x) => (x.name === 'blk.0.attn_q.weight' ? { ...x, type: { ...x.type, id: 12 } } : x)) }, 'unsupported', null);
});
errors('a config that does not add up: corrupt, never a trap', async () => {
  await bothFail(FIXTURES[0]!, { config: { nKvHeads: 3 } }, 'corrupt', null);
  await bothFail(FIXTURES[0]!, { config: { nHeads: 0 } }, 'corrupt', null);
  await bothFail(FIXTURES[0]!, { config: { ropeDim: 17 } }, 'corrupt', null);
});
errors('huge counts fail before allocating: a 2^30-token vocabulary and a 2^30-position context', async () => {
  const huge = 2 ** 30;
  const big = (t: TensorRef[]) => t.map((x) => (x.name === 'token_embd.weight' ? { ...x, dims: [64, huge], bytes: 64 * 4 * huge } : x));
  await bothFail(FIXTURES[0]!, { config: { vocabSize: huge }, tensors: big }, 'out_of_memory', null);
  await bothFail(FIXTURES[0]!, { contextLength: huge }, 'out_of_memory', null);
});
errors('a core over the memory budget: out_of_memory before any read, as TS', async () => {
  const msg = await bothFail(FIXTURES[4]!, { maxBytes: 100_000, contextLength: 64 }, 'out_of_memory');
  assert.match(msg, 'memory budget is 0.1 MiB');
  // the exact core fits
  const bytes = await FIXTURES[4]!.bytes();
  const spec = await openModel(memorySource(bytes));
  const rt = await Rt.create(WASM);
  assert.ok(planAs(rt, spec, bytes, { contextLength: 64 }), rt.error());
  const core = rt.ex.eng_core_bytes();
  const rt2 = await Rt.create(WASM);
  assert.ok(planAs(rt2, spec, bytes, { contextLength: 64, maxBytes: core }), rt2.error());
  assert.is(planAs(rt2, spec, bytes, { contextLength: 64, maxBytes: core - 1 }), false);
});
errors('selective opening of a file without bundles: bad_option, as TS', async () => {
  await bothFail(FIXTURES[4]!, { selective: true, tsSelective: true }, 'bad_option');
});
errors('selective opening of F16 bundles: unsupported, as TS', async () => {
  await bothFail(FIXTURES[5]!, { selective: true, tsSelective: true }, 'unsupported');
});
errors('a negative contextLength: bad_option, as TS', async () => {
  await bothFail(FIXTURES[4]!, { contextLength: -3 }, 'bad_option');
});
errors('forward past the context, token ids outside the vocabulary, no tokens: codes as TS, state kept', async () => {
  const P = await openPair(FIXTURES[4]!, { contextLength: 40 });
  const x = P.rt.ex;
  const cases: [ids: number[], code: string][] = [
    [randomIds(1, 41, P.vocab), 'context_overflow'],
    [[1, -1], 'bad_option'],
    [[P.vocab], 'bad_option'],
    [[], 'bad_option'],
  ];
  for (const [ids, code] of cases) {
    x.rt_clear_error();
    assert.is(x.eng_forward(P.rt.put(Int32Array.from(ids)), ids.length), 0, `${ids.length} ids`);
    assert.is(P.rt.errorCode(), code, P.rt.error());
    await assertThrowsCode(() => P.ts.forward(ids), code);
  }
  assert.is(x.eng_pos(), 0);
  asForward(P, randomIds(2, 39, P.vocab));
  x.rt_clear_error();
  assert.is(x.eng_forward(P.rt.put(Int32Array.from([1, 2])), 2), 0);
  assert.is(P.rt.errorCode(), 'context_overflow');
  assert.match(P.rt.error(), '41 tokens do not fit the context of 40 (39 already used, 2 more)');
});
errors.run();
