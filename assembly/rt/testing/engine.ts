// Test-only exports for assembly/rt (engine) (build: node tools/build.mjs rt-test:engine). Prefix every export.
//
// test/rt-engine.test.ts plays both the format parser and the host: it builds a ModelSpec from the TS
// parse (eng_spec_*), plans the engine (eng_plan), reads the listed needs from the model file into wasm
// memory (rt_need_*), finishes the load (eng_finish), then drives the forward pass.
export * from '../abi';
import { ModelSpec, TensorInfo } from '../spec';
import { TensorLoader } from '../tensors';
import { Engine } from '../engine';
import { clearNeeds } from '../io';
import { fromUtf8 } from '../abi';

let spec: ModelSpec = new ModelSpec();
let loader: TensorLoader | null = null;
let engine: Engine | null = null;
let sums: Array<Float64Array> = [];

/** Starts a new ModelSpec (and drops the engine). */
export function eng_spec_begin(): void {
  spec = new ModelSpec();
  spec.format = 'gguf';
  loader = null;
  engine = null;
}

export function eng_spec_config(dim: i32, hiddenDim: i32, nLayers: i32, nHeads: i32, nKvHeads: i32, headSize: i32, vocabSize: i32, seqLen: i32,
  normEps: f32, ropeBase: f32, ropeDim: i32, neox: bool, tied: bool, qkvBias: bool): void {
  const c = spec.config;
  c.dim = dim;
  c.hiddenDim = hiddenDim;
  c.nLayers = nLayers;
  c.nHeads = nHeads;
  c.nKvHeads = nKvHeads;
  c.headSize = headSize;
  c.vocabSize = vocabSize;
  c.seqLen = seqLen;
  c.normEps = normEps;
  c.ropeBase = ropeBase;
  c.ropeDim = ropeDim;
  c.ropeNeox = neox;
  c.tiedEmbeddings = tied;
  c.qkvBias = qkvBias;
}

/** One tensor of the table: UTF-8 name at (name, nameLen), GGML type, nDims dims (d0 = ne0), absolute offset, bytes. */
export function eng_spec_tensor(name: usize, nameLen: usize, type: i32, nDims: i32, d0: f64, d1: f64, offset: f64, bytes: f64): void {
  const t = new TensorInfo();
  t.name = fromUtf8(name, nameLen);
  t.type = type;
  t.dims = nDims == 1 ? [<i64>d0] : [<i64>d0, <i64>d1];
  t.offset = <u64>offset;
  t.bytes = <u64>bytes;
  spec.tensors.set(t.name, t);
  spec.tensorList.push(t);
}

/** Engine.plan on the spec, then loader.request(): 1, or 0 with the error set. */
export function eng_plan(contextLength: i32, selective: bool, maxBytes: f64, name: usize, nameLen: usize): i32 {
  const fileName = fromUtf8(name, nameLen);
  const ld = new TensorLoader(spec, null, fileName);
  const e = Engine.plan(spec, ld, contextLength, selective, maxBytes, fileName);
  if (e == null) return 0;
  ld.request();
  loader = ld;
  engine = e;
  return 1;
}

/** After the test copied every need's bytes: loader.finish(). */
export function eng_finish(): i32 {
  clearNeeds();
  const ld = loader;
  if (ld == null) return 0;
  return ld.finish() ? 1 : 0;
}

function eng(): Engine {
  const e = engine;
  if (e == null) return unreachable(); // test misuse only (no plan)
  return e;
}

export function eng_forward(ids: usize, n: i32): usize {
  return eng().forward(ids, n);
}

export function eng_forward_all(ids: usize, n: i32, out: usize): i32 {
  return eng().forwardAll(ids, n, out) ? 1 : 0;
}

/** Zeroes the observed sums (nLayers × n_ff f64) and the count. */
export function eng_observe_reset(): void {
  const e = eng();
  sums = [];
  for (let l = 0; l < e.config.nLayers; l++) sums.push(new Float64Array(e.config.hiddenDim));
  e.observedCount = 0;
}

export function eng_forward_observed(ids: usize, n: i32, fromPos: i32): usize {
  return eng().forwardObserved(ids, n, fromPos, sums);
}

/** Address of layer l's observed sums (n_ff f64). */
export function eng_observed_sums(l: i32): usize {
  return sums[l].dataStart;
}

export function eng_observed_count(): i32 {
  return eng().observedCount;
}

export function eng_reset(): void {
  eng().reset();
}

export function eng_rewind(pos: i32): i32 {
  return eng().rewind(pos) ? 1 : 0;
}

export function eng_pos(): i32 {
  return eng().pos;
}

export function eng_context_length(): i32 {
  return eng().contextLength;
}

export function eng_core_bytes(): f64 {
  return <f64>eng().coreBytes;
}

export function eng_bundled(): i32 {
  return eng().bundled ? 1 : 0;
}

export function eng_bundle_type(): i32 {
  return eng().bundleType;
}

export function eng_bundle_row_bytes(): i32 {
  return eng().bundleRowBytes;
}

export function eng_nff(): i32 {
  return eng().nFF;
}

/** setNeuronMask(l, the k i32 at ids), or (l, null) when k < 0. */
export function eng_set_neuron_mask(l: i32, ids: usize, k: i32): i32 {
  let a: Int32Array | null = null;
  if (k >= 0) {
    const arr = new Int32Array(k);
    for (let i = 0; i < k; i++) arr[i] = load<i32>(ids + (<usize>i << 2));
    a = arr;
  }
  return eng().setNeuronMask(l, a) ? 1 : 0;
}

export function eng_set_active_bundles(l: i32, ptr: usize, k: i32): i32 {
  return eng().setActiveBundles(l, ptr, k, false) ? 1 : 0;
}

export function eng_active_neurons(l: i32): i32 {
  return eng().activeNeurons(l);
}

/** Engine.free() (the engine stays, closed). */
export function eng_free(): void {
  eng().free();
}
