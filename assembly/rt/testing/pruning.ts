// Test-only exports for assembly/rt (pruning) (build: node tools/build.mjs rt-test:pruning). Prefix every export with prn_.
// test/rt-pruning.test.ts builds the inputs here (scores, shared and neuron sets; a ModelSpec and its
// IfpruneInfo parsed from a file with prn_open, or built from what the TS readers found to alter them),
// runs the AS functions, and reads the results back.
export * from '../abi';
import { fromUtf8 } from '../abi';
import { ModelSpec, TensorInfo, IfpruneInfo, PredictorInfo, BundleInfo, TensorChunks } from '../spec';
import { TensorLoader } from '../tensors';
import { neuronsAt, topK, selectLayers, allNeurons } from '../select';
import { LoadPlan, planLoad } from '../plan';
import { Predictor, StaticRanking } from '../predictor';
import { NeuronCache } from '../neurons';
import { failed } from '../error';
import { parseModelHeader } from '../model-file';
import { readIfpruneInfo } from '../ifprune';
import { bundleBlockBytes } from '../quant';
import { bundle_copy } from '../../grouped';

// ---- inputs -----------------------------------------------------------------------------------------

let scores = new Array<Float32Array>();
let shared = new Array<Array<i32>>();
let sets = new Array<Int32Array>();
let result = new Array<Int32Array>();

export function prn_inputs_reset(): void {
  scores = [];
  shared = [];
  sets = [];
}
/** Appends a layer's n scores (f32 at p). */
export function prn_scores_add(p: usize, n: i32): void {
  const s = new Float32Array(n);
  memory.copy(s.dataStart, p, <usize>n * 4);
  scores.push(s);
}
/** Appends a layer's n always-on ids (i32 at p). */
export function prn_shared_add(p: usize, n: i32): void {
  const a = new Array<i32>(n);
  for (let i = 0; i < n; i++) a[i] = load<i32>(p + (<usize>i << 2));
  shared.push(a);
}
/** Appends a layer's n neuron ids (i32 at p). */
export function prn_sets_add(p: usize, n: i32): void {
  const s = new Int32Array(n);
  memory.copy(s.dataStart, p, <usize>n * 4);
  sets.push(s);
}

// ---- results: per layer id sets ---------------------------------------------------------------------

export function prn_result_layers(): i32 {
  return result.length;
}
export function prn_result_length(l: i32): i32 {
  return result[l].length;
}
/** Copies layer l's ids (i32) to dst. */
export function prn_result_copy(l: i32, dst: usize): void {
  memory.copy(dst, result[l].dataStart, <usize>result[l].length * 4);
}

// ---- select.ts --------------------------------------------------------------------------------------

export function prn_neurons_at(density: f64, nff: i32): i32 {
  return neuronsAt(density, nff);
}
/** topK over the first scores layer; excludeLen < 0: no mask. */
export function prn_top_k(k: i32, excludePtr: usize, excludeLen: i32): void {
  let exclude: Uint8Array | null = null;
  if (excludeLen >= 0) {
    const m = new Uint8Array(excludeLen);
    memory.copy(m.dataStart, excludePtr, <usize>excludeLen);
    exclude = m;
  }
  result = [topK(scores[0], k, exclude)];
}
export function prn_select_layers(k: i32): void {
  result = selectLayers(scores, k, shared);
}
export function prn_all_neurons(nLayers: i32, nff: i32): void {
  result = allNeurons(nLayers, nff);
}

// ---- a model's tensor table and ifprune info, as a parser would fill them ---------------------------

let spec = new ModelSpec();
let info: IfpruneInfo | null = null;
const FILE_NAME = 'test.gguf';

export function prn_spec_reset(vocab: i32, nLayers: i32, nff: i32): void {
  spec = new ModelSpec();
  spec.config.vocabSize = vocab;
  spec.config.nLayers = nLayers;
  spec.config.hiddenDim = nff;
}
/** A 2-D (d1 = 1: 1-D) tensor: GGUF dims [d0, d1]. */
export function prn_spec_tensor(name: usize, nameLen: i32, type: i32, d0: f64, d1: f64, offset: f64, bytes: f64): void {
  const t = new TensorInfo();
  t.name = fromUtf8(name, nameLen);
  t.type = type;
  t.dims = d1 == 1 ? [<i64>d0] : [<i64>d0, <i64>d1];
  t.offset = <u64>offset;
  t.bytes = <u64>bytes;
  spec.tensors.set(t.name, t);
  spec.tensorList.push(t);
}
/** present false: a plain GGUF (info null). */
export function prn_info_reset(present: bool): void {
  info = present ? new IfpruneInfo() : null;
}
export function prn_info_predictor(kind: usize, kindLen: i32, tokenDim: i32, hidden: i32, window: i32): void {
  const p = new PredictorInfo();
  p.kind = fromUtf8(kind, kindLen);
  p.tokenDim = tokenDim;
  p.hidden = hidden;
  p.window = window;
  info!.predictor = p;
}
export function prn_info_static(has: bool): void {
  info!.hasStatic = has;
}
export function prn_info_bundle(name: usize, nameLen: i32, type: i32, dim: i32, nFF: i32, rowBytes: i32, offset: f64, bytes: f64): void {
  const b = new BundleInfo();
  b.layer = info!.bundles.length;
  b.name = fromUtf8(name, nameLen);
  b.type = type;
  b.dim = dim;
  b.nFF = nFF;
  b.rowBytes = rowBytes;
  b.partBytes = rowBytes / 3;
  b.offset = <u64>offset;
  b.bytes = <u64>bytes;
  info!.bundles.push(b);
}
/** Tensor `name`'s chunk hashes: n u64 at hashes. */
export function prn_info_chunks(name: usize, nameLen: i32, offset: f64, bytes: f64, chunkBytes: u32, hashes: usize, n: i32): void {
  const c = new TensorChunks();
  c.tensor = fromUtf8(name, nameLen);
  c.offset = <u64>offset;
  c.bytes = <u64>bytes;
  c.chunkBytes = chunkBytes;
  for (let i = 0; i < n; i++) c.hashes.push(load<u64>(hashes + (<usize>i << 3)));
  info!.chunks.set(c.tensor, c);
}

/** End to end: parses the model header from the whole file at buf (len bytes) and reads its ifprune
 * info, as the runtime's open does; 1 when it has ifprune info, 0 a plain file, -1 failed. */
export function prn_open(buf: usize, len: i32): i32 {
  const parsed = parseModelHeader(buf, <usize>len, <u64>len, FILE_NAME);
  if (parsed === null) return -1;
  spec = parsed;
  info = readIfpruneInfo(parsed);
  if (info === null) return failed() ? -1 : 0;
  return 1;
}

// ---- predictor.ts -----------------------------------------------------------------------------------

let loader = new TensorLoader(spec, null, FILE_NAME);
let predictor: Predictor | null = null;
let ranking: StaticRanking | null = null;

/** Plans the calibration tensors and lists their needs: bit 1 a predictor, bit 2 a static ranking; -1 failed. */
export function prn_calibration_plan(): i32 {
  loader = new TensorLoader(spec, info, FILE_NAME);
  predictor = Predictor.plan(spec, info, loader, FILE_NAME);
  if (predictor === null && failed()) return -1;
  ranking = StaticRanking.plan(spec, info, loader, FILE_NAME);
  if (ranking === null && failed()) return -1;
  loader.request();
  return (predictor !== null ? 1 : 0) | (ranking !== null ? 2 : 0);
}
export function prn_calibration_finish(): bool {
  return loader.finish();
}

/** Scores for the n ids at p: a fresh (L·n_ff) f32 buffer (rt_free it), or 0 on failure. */
export function prn_predict(p: usize, n: i32): usize {
  const ids = new Array<i32>(n);
  for (let i = 0; i < n; i++) ids[i] = load<i32>(p + (<usize>i << 2));
  const s = predictor!.predict(ids);
  return s.length == 0 ? 0 : flat(s);
}
export function prn_static_scores(): usize {
  return flat(ranking!.scores());
}
/** The scores as the selection's input (for predict → selectLayers in one go). */
export function prn_predict_select(p: usize, n: i32, k: i32): void {
  const ids = new Array<i32>(n);
  for (let i = 0; i < n; i++) ids[i] = load<i32>(p + (<usize>i << 2));
  result = selectLayers(predictor!.predict(ids), k, shared);
}

function flat(s: Array<Float32Array>): usize {
  let n = 0;
  for (let l = 0; l < s.length; l++) n += s[l].length;
  const out = heap.alloc(<usize>max<i32>(n, 1) * 4);
  let at = out;
  for (let l = 0; l < s.length; l++) {
    memory.copy(at, s[l].dataStart, <usize>s[l].length * 4);
    at += <usize>s[l].length * 4;
  }
  return out;
}

// ---- plan.ts ----------------------------------------------------------------------------------------

let plan = new LoadPlan();
/** Plans loading the sets from the info's bundles; read the plan with the three getters. */
export function prn_plan_load(gapBytes: i32): void {
  plan = planLoad(info!.bundles, sets, gapBytes);
}
export function prn_plan_requests(): i32 {
  return plan.requests;
}
export function prn_plan_read_bytes(): f64 {
  return plan.readBytes;
}
export function prn_plan_selected_bytes(): f64 {
  return plan.selectedBytes;
}

// ---- neurons.ts -------------------------------------------------------------------------------------

let cache: NeuronCache | null = null;

export function prn_cache_new(budgetBytes: f64, gapBytes: i32): void {
  cache = new NeuronCache(info!, budgetBytes, gapBytes, FILE_NAME);
}
/** request(sets): needs listed (rt_need_*), or false. */
export function prn_cache_request(): bool {
  return cache!.request(sets);
}
export function prn_cache_finish(): bool {
  return cache!.finish();
}
export function prn_cache_capacity(l: i32): i32 {
  return cache!.capacity(l);
}
export function prn_cache_count(l: i32): i32 {
  return cache!.count(l);
}
/** Bundle i of layer l's packed set (grouped) copied out as a plain row to dst. */
export function prn_cache_row(l: i32, i: i32, dst: usize): void {
  const b = info!.bundles[l];
  bundle_copy(cache!.packed(l), cache!.count(l), i, dst, <usize>b.rowBytes, bundleBlockBytes(b.type), false);
}
export function prn_cache_memory(): f64 {
  return cache!.memoryBytes();
}
/** The last load's report: [rows, cacheHits, rowsRead, requests, bytesRead] (f64 each, written to dst);
 * totals instead when `totals`. */
export function prn_cache_report(dst: usize, totals: bool): void {
  const r = totals ? cache!.totals : cache!.report;
  store<f64>(dst, <f64>r.rows);
  store<f64>(dst, <f64>r.cacheHits, 8);
  store<f64>(dst, <f64>r.rowsRead, 16);
  store<f64>(dst, <f64>r.requests, 24);
  store<f64>(dst, r.bytesRead, 32);
}
