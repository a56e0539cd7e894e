// The predictors an ifprune file carries (docs/format.md "Predictors"; TS oracles: src/pruning/learned.ts
// MlpPredictor, src/pruning/predictor-file.ts readCalibration):
//
//   ifprune.static              [n_ff, n_layers]   static ranking scores (mean |h| on calibration text)
//   ifprune.pred.E              [H, vocab]         learned predictor: token vectors
//   ifprune.pred.W1 / .b1       [2H, U] / [U]      head layer 1
//   ifprune.pred.W2 / .b2       [U, L·n_ff] / [L·n_ff]   head layer 2 (neuron scores)
//   ifprune.pred.codebook       [L·n_ff, C]        kind deepsets-mlp-codebook: C score vectors
//
// Each may be stored F32, F16 or Q8_0 and becomes f32 when read (TensorLoader). The learned predictor
// ("deepsets-mlp") reads only the prompt's token ids:
//   z = [mean_t E[id_t] ; mean over the last W tokens of E[id_t]]   (2H)   BOS excluded
//   u = relu(W1 z + b1)                                              (U)
//   s = W2 u + b2                                                    (L·n_ff) neuron scores
// With a codebook, s is then replaced by the entry c minimising |c|² − 2 z·c, z = s standardised per layer
// (mean 0, standard deviation with n − 1, at least 1e-6), or by entry route[c] when the file has
// ifprune.pred.codebook_route (routing by the loss, tools/train/route.py). The products run in the matvec_f32 kernel, the
// pooling and standardising in f64 stored to f32, |c|² in f64, as the TS predictor does after
// useKernels(): scores are bit-identical to it.
import { ModelSpec, IfpruneInfo, TensorInfo } from './spec';
import { fail } from './error';
import { TensorLoader } from './tensors';
import { GGML_F32, GGML_F16, GGML_Q8_0, typeName } from './quant';
import { fitsInMemory } from './plan';
import { matvec_f32 } from '../matvec';

export const PRED_KIND = 'deepsets-mlp';
export const PRED_KIND_CODEBOOK = 'deepsets-mlp-codebook';
export const PRED_CODEBOOK = 'ifprune.pred.codebook';
export const PRED_STATIC = 'ifprune.static';
export const PRED_E = 'ifprune.pred.E';
export const PRED_W1 = 'ifprune.pred.W1';
export const PRED_B1 = 'ifprune.pred.b1';
export const PRED_W2 = 'ifprune.pred.W2';
export const PRED_B2 = 'ifprune.pred.b2';

/** Tokens skipped at the start of the prompt (BOS). */
const BOS_SKIP = 1;

/**
 * Plans calibration tensor `name` holding n values (F32, F16 or Q8_0) as f32 through the loader.
 * Returns its address, or 0 with fail(): missing ('corrupt'), another type or count ('corrupt'), too big
 * for wasm memory ('out_of_memory').
 */
function planF32(spec: ModelSpec, loader: TensorLoader, fileName: string, name: string, n: i64): usize {
  if (!spec.tensors.has(name)) {
    fail('corrupt', fileName + ': predictor tensor ' + name + ' is missing; recalibrate the model with `ifprune calibrate`');
    return 0;
  }
  const t: TensorInfo = spec.tensors.get(name);
  if (!(t.type == GGML_F32 || t.type == GGML_F16 || t.type == GGML_Q8_0) || t.elements() != n) {
    fail('corrupt', fileName + ': tensor ' + name + ' should hold ' + n.toString() + ' F32, F16 or Q8_0 values; found ' + typeName(t.type) + ' [' + t.dims.join(',') + ']');
    return 0;
  }
  if (!fitsInMemory(<f64>n * 4 + <f64>t.bytes)) {
    fail('out_of_memory', fileName + ': tensor ' + name + ' (' + n.toString() + ' values) does not fit in wasm memory');
    return 0;
  }
  return loader.add(name, GGML_F32);
}

/** The learned 'deepsets-mlp' predictor. Its tensors are valid once the loader's finish() succeeded. */
export class Predictor {
  /** (vocab, H) f32 */ E: usize = 0;
  /** (U, 2H) f32 */ W1: usize = 0;
  /** (U) f32 */ b1: usize = 0;
  /** (L·n_ff, U) f32 */ W2: usize = 0;
  /** (L·n_ff) f32 */ b2: usize = 0;
  /** (max(2H, U)) f32: z, then u */ x: usize = 0;
  /** (max(U, L·n_ff)) f32: W1 z, then W2 u */ out: usize = 0;
  /** Codebook entries C (0: none), (C, L·n_ff) f32 entries, (C) f64 |c|² (set at the first predict),
   * (C) f32 products; the standardised scores go in `out`. */
  codebookSize: i32 = 0;
  codebook: usize = 0;
  codebookNorms: usize = 0;
  /** ifprune.pred.codebook_route (empty: each entry gives its own scores). */
  route: Array<i32> = [];
  private normsDone: bool = false;
  dots: usize = 0;

  constructor(public vocab: i32, public nLayers: i32, public nff: i32, public tokenDim: i32, public hidden: i32, public window: u32) {}

  /**
   * Plans its tensors (E, W1, b1, W2, b2 → f32) through loader.add; null WITHOUT fail when the file has
   * no predictor (info null or info.predictor null); null with fail() when damaged ('unsupported' kind,
   * 'corrupt' shape or missing tensor, 'out_of_memory').
   */
  static plan(spec: ModelSpec, info: IfpruneInfo | null, loader: TensorLoader, fileName: string): Predictor | null {
    if (info === null) return null;
    const pi = info.predictor;
    if (pi === null) return null;
    if (pi.kind != PRED_KIND && pi.kind != PRED_KIND_CODEBOOK) {
      fail('unsupported', fileName + ': predictor kind ' + pi.kind + ' is not one this ifprune reads (' + PRED_KIND + ', ' + PRED_KIND_CODEBOOK + ')');
      return null;
    }
    const c = spec.config;
    if (pi.tokenDim <= 0 || pi.hidden <= 0 || c.vocabSize <= 0 || c.nLayers <= 0 || c.hiddenDim <= 0) {
      fail('corrupt', fileName + ': predictor shape token_dim ' + pi.tokenDim.toString() + ', hidden ' + pi.hidden.toString() + ' for ' + c.nLayers.toString() + ' layers of ' + c.hiddenDim.toString() + ' neurons: expected positive sizes');
      return null;
    }
    const H = <i64>pi.tokenDim;
    const U = <i64>pi.hidden;
    const n = <i64>c.nLayers * <i64>c.hiddenDim;
    const p = new Predictor(c.vocabSize, c.nLayers, c.hiddenDim, pi.tokenDim, pi.hidden, <u32>pi.window);
    if ((p.E = planF32(spec, loader, fileName, PRED_E, <i64>c.vocabSize * H)) == 0) return null;
    if ((p.W1 = planF32(spec, loader, fileName, PRED_W1, U * 2 * H)) == 0) return null;
    if ((p.b1 = planF32(spec, loader, fileName, PRED_B1, U)) == 0) return null;
    if ((p.W2 = planF32(spec, loader, fileName, PRED_W2, n * U)) == 0) return null;
    if ((p.b2 = planF32(spec, loader, fileName, PRED_B2, n)) == 0) return null;
    const C = <i64>pi.codebook;
    if (C > 0) {
      if ((p.codebook = planF32(spec, loader, fileName, PRED_CODEBOOK, C * n)) == 0) return null;
      p.codebookSize = <i32>C;
      p.route = pi.route;
      p.codebookNorms = heap.alloc(<usize>C * 8);
      p.dots = heap.alloc(<usize>C * 4);
    }
    // sizes are bounded by the tensors just planned
    p.x = heap.alloc(<usize>max<i64>(2 * H, U) * 4);
    p.out = heap.alloc(<usize>max<i64>(U, n) * 4);
    return p;
  }

  /**
   * Per-layer n_ff scores from the prompt's ids (BOS included, as TS): (nLayers) × (n_ff) views of one
   * buffer. An id outside the vocabulary: fail('bad_option') and an empty array.
   */
  predict(ids: Array<i32>): Array<Float32Array> {
    const H = this.tokenDim;
    const U = this.hidden;
    const n = this.nLayers * this.nff;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!(id >= 0 && id < this.vocab)) {
        fail('bad_option', 'token id ' + id.toString() + " outside the predictor's vocabulary of " + this.vocab.toString());
        return new Array<Float32Array>(0);
      }
    }
    // z = [mean e ; mean of the last `window` e] (2H), in f64 stored to f32 as the TS Float32Array does
    const z = this.x;
    memory.fill(z, 0, <usize>(2 * H) * 4);
    const from = ids.length > BOS_SKIP ? BOS_SKIP : 0;
    const nt = ids.length - from;
    const lastFrom = <i32>max<i64>(0, <i64>nt - <i64>this.window);
    const wAll = 1.0 / <f64>nt;
    const wEnd = 1.0 / <f64>(nt - lastFrom);
    for (let t = 0; t < nt; t++) {
      const e = this.E + <usize>ids[from + t] * <usize>H * 4;
      for (let h = 0; h < H; h++) {
        const p = z + (<usize>h << 2);
        store<f32>(p, <f32>(<f64>load<f32>(p) + <f64>load<f32>(e + (<usize>h << 2)) * wAll));
      }
      if (t >= lastFrom) {
        for (let h = 0; h < H; h++) {
          const p = z + (<usize>(H + h) << 2);
          store<f32>(p, <f32>(<f64>load<f32>(p) + <f64>load<f32>(e + (<usize>h << 2)) * wEnd));
        }
      }
    }
    // u = relu(W1 z + b1) (U), written over z
    matvec_f32(this.out, this.W1, z, U, 2 * H);
    for (let i = 0; i < U; i++) {
      const v = load<f32>(this.out + (<usize>i << 2)) + load<f32>(this.b1 + (<usize>i << 2));
      store<f32>(this.x + (<usize>i << 2), v > 0 ? v : 0);
    }
    // s = W2 u + b2 (L·n_ff)
    matvec_f32(this.out, this.W2, this.x, n, U);
    const s = new Float32Array(n);
    for (let o = 0; o < n; o++) s[o] = load<f32>(this.out + (<usize>o << 2)) + load<f32>(this.b2 + (<usize>o << 2));
    if (!finiteScores(s, this.nff, 'learned predictor', 'its tensors (ifprune.pred.*) are damaged: calibrate the model again')) return new Array<Float32Array>(0);
    if (this.codebookSize > 0) this.snap(s);
    return layerViews(s, this.nLayers, this.nff);
  }

  /** s ← the codebook entry nearest to s standardised per layer (this file's header; TS
   * MlpPredictor.predict). Overwrites `out` (s is a copy of it by now). */
  private snap(s: Float32Array): void {
    const n = this.nLayers * this.nff;
    const C = this.codebookSize;
    const nff = this.nff;
    if (!this.normsDone) {
      for (let c = 0; c < C; c++) {
        let a: f64 = 0;
        const row = this.codebook + <usize>c * <usize>n * 4;
        for (let i = 0; i < n; i++) {
          const v = <f64>load<f32>(row + (<usize>i << 2));
          a += v * v;
        }
        store<f64>(this.codebookNorms + (<usize>c << 3), a);
      }
      this.normsDone = true;
    }
    for (let l = 0; l < this.nLayers; l++) {
      const o = l * nff;
      let mean: f64 = 0;
      for (let j = 0; j < nff; j++) mean += <f64>s[o + j];
      mean /= <f64>nff;
      let v: f64 = 0;
      for (let j = 0; j < nff; j++) {
        const d = <f64>s[o + j] - mean;
        v += d * d;
      }
      const sd = max<f64>(Math.sqrt(v / <f64>(nff - 1)), 1e-6);
      for (let j = 0; j < nff; j++) store<f32>(this.out + (<usize>(o + j) << 2), <f32>((<f64>s[o + j] - mean) / sd));
    }
    matvec_f32(this.dots, this.codebook, this.out, C, n);
    let best = 0;
    let bestD = Infinity;
    for (let c = 0; c < C; c++) {
      const d = load<f64>(this.codebookNorms + (<usize>c << 3)) - 2 * <f64>load<f32>(this.dots + (<usize>c << 2));
      if (d < bestD) {
        best = c;
        bestD = d;
      }
    }
    const e = this.route.length > 0 ? this.route[best] : best;
    memory.copy(s.dataStart, this.codebook + <usize>e * <usize>n * 4, <usize>n * 4);
  }
}

/** The static ranking (ifprune.static): instruction-independent per-layer scores. */
export class StaticRanking {
  /** (L, n_ff) f32, valid once the loader's finish() succeeded. */
  scoresAt: usize = 0;

  constructor(public nLayers: i32, public nff: i32) {}

  /** Plans ifprune.static → f32 through loader.add; null WITHOUT fail when the file has none (info null
   * or !info.hasStatic); null with fail() when damaged. */
  static plan(spec: ModelSpec, info: IfpruneInfo | null, loader: TensorLoader, fileName: string): StaticRanking | null {
    if (info === null || !info.hasStatic) return null;
    const c = spec.config;
    const r = new StaticRanking(c.nLayers, c.hiddenDim);
    if ((r.scoresAt = planF32(spec, loader, fileName, PRED_STATIC, <i64>c.nLayers * <i64>c.hiddenDim)) == 0) return null;
    return r;
  }

  /** (nLayers) × (n_ff) scores, a fresh copy. */
  scores(): Array<Float32Array> {
    const n = this.nLayers * this.nff;
    const s = new Float32Array(n);
    memory.copy(s.dataStart, this.scoresAt, <usize>n * 4);
    if (!finiteScores(s, this.nff, 'static ranking', 'ifprune.static is damaged: calibrate the model again')) return new Array<Float32Array>(0);
    return layerViews(s, this.nLayers, this.nff);
  }
}

/** Every score is a finite number, else fail('numeric'): a NaN would sort last and an infinity first,
 * so damaged predictor weights would silently choose other neurons rather than say so. */
function finiteScores(s: Float32Array, nff: i32, what: string, fix: string): bool {
  for (let o = 0; o < s.length; o++) {
    const x = s[o];
    if (x - x != 0) {
      return fail('numeric', 'the ' + what + ' gave neuron ' + (o % nff).toString() + ' of layer ' + (o / nff).toString() + ' a score of ' + x.toString() + '; ' + fix);
    }
  }
  return true;
}

/** (L·n_ff) → (L) views of n_ff. */
function layerViews(s: Float32Array, nLayers: i32, nff: i32): Array<Float32Array> {
  const out = new Array<Float32Array>(nLayers);
  for (let l = 0; l < nLayers; l++) out[l] = s.subarray(l * nff, (l + 1) * nff);
  return out;
}
