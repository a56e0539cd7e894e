/**
 * Predictors in the model file (docs/format.md, "Predictors"): what `ifprune calibrate` writes and
 * `open` reads.
 *
 *   ifprune.static              F32 [n_ff, n_layers]   static ranking scores (mean |h| on calibration text)
 *   ifprune.pred.E              F16 [H, vocab]         learned predictor: token vectors
 *   ifprune.pred.W1 / .b1       F16 [2H, U] / F32 [U]  head layer 1
 *   ifprune.pred.W2 / .b2       Q8_0 [U, L·n_ff] / F32 [L·n_ff]  head layer 2 (neuron scores); F16
 *                               when U is not a whole number of 32-weight blocks
 * The big matrices are stored compactly (the predictor is read at open, before any FFN neuron) and
 * become f32 when read; F32 is read too.
 *   ifprune.pred.codebook       F32 [L·n_ff, C]        kind deepsets-mlp-codebook only: C score vectors; the scores
 *                               become the one nearest the network's (MlpPredictor.predict). Unrounded: their
 *                               values are the scores top-k ranks, and F16 would tie many of them at the
 *                               k-th place (then the row order, not training, would pick)
 *   ifprune.shared.N            UINT32 array           always-on neuron rows of layer N (may be empty)
 *   ifprune.pred.kind           "deepsets-mlp" or "deepsets-mlp-codebook"; ifprune.pred.{token_dim, hidden,
 *                               window, examples} UINT32; ifprune.pred.codebook_size UINT32 (the codebook kind);
 *                               ifprune.pred.codebook_route ARRAY[UINT32] (optional, C entry indices: the entry
 *                               nearest the network's scores, c, gives the scores of entry route[c]);
 *   ifprune.pred.heldout_recall FLOAT32 (recall of the oracle top-25% on held-out calibration examples)
 * Neuron indices are bundle rows of this file (after any reordering). The tensors sit between the core
 * and the FFN bundles, so the core plus predictor is one contiguous range; each has chunk hashes.
 */
import { IfpruneError } from '../errors.ts';
import type { ByteSource } from '../sources/types.ts';
import { readAt } from '../sources/read.ts';
import { QUANT, rowBytes, type QuantType } from '../formats/quant.ts';
import { quantizeRowF16, quantizeRowQ8_0, toF32 } from '../formats/quant-values.ts';
import { GGUFValueType as T, type GGUFFile } from '../formats/gguf.ts';
import { encodeGGUFHeader, type GGUFKVInput, type GGUFTensorDesc } from '../formats/gguf-write.ts';
import type { ModelSpec } from '../formats/model-spec.ts';
import { IFPRUNE_KEYS, chooseChunkBytes, isBundleName, verifyTensorBytes, type IfpruneInfo } from '../formats/ifprune.ts';
import { xxh64Words } from '../formats/xxh64.ts';
import type { ConvertSink } from '../convert/sink.ts';
import { invertPermutation } from '../convert/reorder.ts';
import { MlpPredictor, type MlpParams } from './learned.ts';
import type { Calibration } from './eval.ts';

export const PRED = {
  static: 'ifprune.static',
  E: 'ifprune.pred.E',
  W1: 'ifprune.pred.W1',
  b1: 'ifprune.pred.b1',
  W2: 'ifprune.pred.W2',
  b2: 'ifprune.pred.b2',
  codebook: 'ifprune.pred.codebook',
  codebookSize: 'ifprune.pred.codebook_size',
  codebookRoute: 'ifprune.pred.codebook_route',
  kind: 'ifprune.pred.kind',
  tokenDim: 'ifprune.pred.token_dim',
  hidden: 'ifprune.pred.hidden',
  window: 'ifprune.pred.window',
  examples: 'ifprune.pred.examples',
  heldoutRecall: 'ifprune.pred.heldout_recall',
  shared: (l: number) => `ifprune.shared.${l}`,
} as const;
export const PRED_KIND = 'deepsets-mlp';
/** deepsets-mlp whose scores snap to a codebook (a reader that does not know it refuses the file rather
 * than run the network without it). */
export const PRED_KIND_CODEBOOK = 'deepsets-mlp-codebook';

/** Types the predictor tensors may be stored in. */
const STORED_TYPES: QuantType[] = [QUANT.F32, QUANT.F16, QUANT.Q8_0];

function fromF32(type: QuantType, data: Float32Array): Uint8Array {
  if (type === QUANT.F32) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(rowBytes(type, data.length));
  if (type === QUANT.F16) quantizeRowF16(out, data, data.length);
  else quantizeRowQ8_0(out, data, data.length);
  return out;
}

const isPredKey = (k: string) => k.startsWith('ifprune.pred.') || k.startsWith('ifprune.shared.') || k === PRED.static;
const isPredTensor = (name: string) => name === PRED.static || name.startsWith('ifprune.pred.');

/** ifprune.pred.codebook_route: C entry indices, each in [0, C). */
function codebookRoute(v: unknown, C: number, name: string): Uint32Array {
  const numeric = (ArrayBuffer.isView(v) && !(v instanceof DataView)) || (Array.isArray(v) && v.every((x) => typeof x === 'number' || typeof x === 'bigint'));
  const ids = numeric ? Array.from(v as ArrayLike<number | bigint>, (x) => Math.trunc(Number(x))) : [];
  if (!numeric || ids.length !== C) {
    throw new IfpruneError('corrupt', `${name}: ${PRED.codebookRoute} should be a UINT32 array of ${C} codebook entry indices; found ${numeric ? `${ids.length} values` : typeof v}`);
  }
  if (ids.some((j) => !(j >= 0 && j < C))) throw new IfpruneError('corrupt', `${name}: ${PRED.codebookRoute} holds an entry index outside [0, ${C})`);
  return Uint32Array.from(ids);
}

/**
 * `cal` for a file whose neurons are stored in another order (row r of layer l holds neuron
 * perms[l][r], as `ifprune.perm.l` records): the static ranking, the always-on ids and the learned
 * predictor move with their neurons, so every policy selects the same neurons (ties at the k-th score
 * aside: topK breaks them by the lower row).
 */
export function permuteCalibration(cal: Calibration, perms: ArrayLike<number>[]): Calibration {
  if (cal.learned && !(cal.learned instanceof MlpPredictor)) throw new IfpruneError('unsupported', 'only the deepsets-mlp predictor can be permuted');
  const inv = perms.map((p) => invertPermutation(p));
  return {
    ...(cal.static ? { static: cal.static.map((s, l) => Float32Array.from(perms[l]!, (j) => s[j]!)) } : {}),
    ...(cal.shared ? { shared: cal.shared.map((ids, l) => Int32Array.from(ids, (j) => inv[l]![j]!).sort()) } : {}),
    ...(cal.learned ? { learned: (cal.learned as MlpPredictor).permuted(perms) } : {}),
  };
}

export interface CalibrationMeta {
  examples: number;
  heldoutRecall: number;
}

/** Reads the calibration a model file carries (empty when it has none), verifying chunk hashes. */
export async function readCalibration(spec: ModelSpec, info: IfpruneInfo | null, signal?: AbortSignal): Promise<Calibration> {
  const c = spec.config;
  const meta = spec.metadata;
  const f32 = async (name: string, n: number): Promise<Float32Array | undefined> => {
    const t = spec.tensors.get(name);
    if (!t) return undefined;
    const elems = t.dims.reduce((a, b) => a * b, 1);
    if (!STORED_TYPES.includes(t.type) || elems !== n) {
      throw new IfpruneError('corrupt', `${spec.source.name}: tensor ${name} should hold ${n} F32, F16 or Q8_0 values; found ${t.type.name} [${t.dims}]`);
    }
    const bytes = await readAt(spec.source, t.offset, t.bytes, name, signal);
    if (info) verifyTensorBytes(info, name, 0, bytes);
    return toF32(t.type, bytes, n, undefined, `${spec.source.name}: tensor ${name}`);
  };
  const out: Calibration = {};
  const st = await f32(PRED.static, c.nLayers * c.hiddenDim);
  if (st) out.static = Array.from({ length: c.nLayers }, (_, l) => st.subarray(l * c.hiddenDim, (l + 1) * c.hiddenDim));
  const shared = Array.from({ length: c.nLayers }, (_, l) => meta[PRED.shared(l)]);
  if (shared.some((s) => s !== undefined)) {
    out.shared = shared.map((s, l) => {
      const ids = Int32Array.from((s ?? []) as ArrayLike<number>);
      if (ids.some((j) => !(j >= 0 && j < c.hiddenDim))) throw new IfpruneError('corrupt', `${spec.source.name}: ${PRED.shared(l)} holds a neuron id outside [0, ${c.hiddenDim})`);
      return ids.sort();
    });
  }
  if (meta[PRED.kind] !== undefined) {
    const kind = meta[PRED.kind];
    if (kind !== PRED_KIND && kind !== PRED_KIND_CODEBOOK) {
      throw new IfpruneError('unsupported', `${spec.source.name}: predictor kind ${String(kind)} is not one this ifprune reads (${PRED_KIND}, ${PRED_KIND_CODEBOOK})`);
    }
    const num = (k: string) => Number(meta[k] as number | bigint);
    const C = kind === PRED_KIND_CODEBOOK ? num(PRED.codebookSize) : 0;
    if (kind === PRED_KIND_CODEBOOK && !(Number.isInteger(C) && C >= 1)) throw new IfpruneError('corrupt', `${spec.source.name}: ${PRED.codebookSize} should be a positive count; found ${String(meta[PRED.codebookSize])}`);
    const shape = { vocab: c.vocabSize, nLayers: c.nLayers, nff: c.hiddenDim, tokenDim: num(PRED.tokenDim), hidden: num(PRED.hidden), window: num(PRED.window), ...(C ? { codebook: C } : {}) };
    const H = shape.tokenDim;
    const U = shape.hidden;
    const n = c.nLayers * c.hiddenDim;
    const p = {
      E: await f32(PRED.E, c.vocabSize * H),
      W1: await f32(PRED.W1, U * 2 * H),
      b1: await f32(PRED.b1, U),
      W2: await f32(PRED.W2, n * U),
      b2: await f32(PRED.b2, n),
      ...(C ? { codebook: await f32(PRED.codebook, C * n) } : {}),
      ...(C && meta[PRED.codebookRoute] !== undefined ? { route: codebookRoute(meta[PRED.codebookRoute], C, spec.source.name) } : {}),
    };
    for (const [k, v] of Object.entries(p)) if (!v) throw new IfpruneError('corrupt', `${spec.source.name}: predictor tensor ifprune.pred.${k} is missing`);
    out.learned = new MlpPredictor(shape, p as MlpParams);
  }
  return out;
}

/**
 * Writes a copy of an ifprune file with `cal` as its calibration: every tensor is copied byte for byte
 * (old calibration replaced), the predictor tensors go before the FFN bundles, and every new tensor gets
 * chunk hashes. Streams: one tensor (at most 4 MiB) at a time.
 */
export async function writeCalibratedModel(src: ByteSource, file: GGUFFile, cal: Calibration, meta: CalibrationMeta, sink: ConvertSink, signal?: AbortSignal): Promise<number> {
  const kvs: GGUFKVInput[] = [];
  for (const [key, value] of Object.entries(file.metadata)) {
    if (isPredKey(key)) continue;
    const m = /^ifprune\.chunk_(bytes|hashes)\.(.*)$/.exec(key);
    if (m && isPredTensor(m[2]!)) continue;
    kvs.push({ key, type: file.kvTypes[key]!, value });
  }
  type Out = GGUFTensorDesc & ({ copyFrom: number; bytes: number } | { data: Uint8Array });
  const fresh: Out[] = [];
  const add = (name: string, dims: number[], data: Float32Array, type: QuantType = QUANT.F32) => {
    if (type.blockElems > 1 && dims[0]! % type.blockElems !== 0) type = QUANT.F16;
    fresh.push({ name, type, dims, data: fromF32(type, data) });
  };
  const addF32 = (name: string, dims: number[], data: Float32Array) => add(name, dims, data);
  const nLayers = file.tensors.filter((t) => isBundleName(t.name)).length;
  if (cal.static) {
    const nff = cal.static[0]!.length;
    const all = new Float32Array(nLayers * nff);
    cal.static.forEach((s, l) => all.set(s, l * nff));
    addF32(PRED.static, [nff, nLayers], all);
  }
  if (cal.learned) {
    const m = cal.learned as MlpPredictor;
    const { tokenDim: H, hidden: U, vocab, nLayers: L, nff, window } = m.shape;
    add(PRED.E, [H, vocab], m.p.E, QUANT.F16);
    add(PRED.W1, [2 * H, U], m.p.W1, QUANT.F16);
    addF32(PRED.b1, [U], m.p.b1);
    add(PRED.W2, [U, L * nff], m.p.W2, QUANT.Q8_0);
    addF32(PRED.b2, [L * nff], m.p.b2);
    const C = m.shape.codebook ?? 0;
    if (C > 0) {
      addF32(PRED.codebook, [L * nff, C], m.p.codebook!);
      kvs.push({ key: PRED.codebookSize, type: T.UINT32, value: C });
      const route = m.p.route;
      if (route && route.some((e, c) => e !== c)) kvs.push({ key: PRED.codebookRoute, type: { type: T.ARRAY, itemType: T.UINT32 }, value: Uint32Array.from(route) });
    }
    kvs.push({ key: PRED.kind, type: T.STRING, value: C > 0 ? PRED_KIND_CODEBOOK : PRED_KIND });
    kvs.push({ key: PRED.tokenDim, type: T.UINT32, value: H });
    kvs.push({ key: PRED.hidden, type: T.UINT32, value: U });
    kvs.push({ key: PRED.window, type: T.UINT32, value: window });
  }
  kvs.push({ key: PRED.examples, type: T.UINT32, value: meta.examples });
  kvs.push({ key: PRED.heldoutRecall, type: T.FLOAT32, value: meta.heldoutRecall });
  cal.shared?.forEach((ids, l) => kvs.push({ key: PRED.shared(l), type: { type: T.ARRAY, itemType: T.UINT32 }, value: Uint32Array.from(ids) }));
  for (const t of fresh) {
    const data = (t as { data: Uint8Array }).data;
    const chunk = chooseChunkBytes({ name: t.name, type: t.type, dims: t.dims });
    const n = Math.ceil(data.length / chunk);
    const words = new Uint32Array(2 * n);
    for (let i = 0; i < n; i++) xxh64Words(data.subarray(i * chunk, Math.min((i + 1) * chunk, data.length)), words, 2 * i);
    const hashes = new BigUint64Array(words.buffer);
    kvs.push({ key: IFPRUNE_KEYS.chunkBytes(t.name), type: T.UINT64, value: BigInt(chunk) });
    kvs.push({ key: IFPRUNE_KEYS.chunkHashes(t.name), type: { type: T.ARRAY, itemType: T.UINT64 }, value: hashes });
  }
  // Tensor order: existing non-FFN, the predictor, then the FFN bundles (and anything after them).
  const old: Out[] = file.tensors.filter((t) => !isPredTensor(t.name)).map((t) => ({ name: t.name, type: t.type, dims: t.dims, copyFrom: t.offset, bytes: t.bytes }));
  const firstFfn = old.findIndex((t) => isBundleName(t.name) || /^blk\.\d+\.ffn_(gate|up|down)\./.test(t.name));
  const at = firstFfn < 0 ? old.length : firstFfn;
  const tensors = [...old.slice(0, at), ...fresh, ...old.slice(at)];
  const layout = encodeGGUFHeader(kvs, tensors, file.alignment);
  await sink.write(0, layout.header);
  const STEP = 4 << 20;
  for (const [i, t] of tensors.entries()) {
    const dst = layout.tensorOffsets[i]!;
    if ('data' in t) {
      await sink.write(dst, t.data);
      continue;
    }
    for (let o = 0; o < t.bytes; o += STEP) {
      const part = await readAt(src, t.copyFrom + o, Math.min(STEP, t.bytes - o), t.name, signal);
      await sink.write(dst + o, part);
    }
  }
  return layout.totalBytes;
}
