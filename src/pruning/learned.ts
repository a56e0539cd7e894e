/**
 * The learned IFPruning predictor: reads only the prompt's token ids and scores every FFN neuron of
 * every layer; the top-k per layer are the neurons to load. It never needs FFN weights, so it is the
 * predictor that saves loading.
 *
 * Architecture (a "deep sets" encoder over the prompt, then a two-layer MLP head):
 *   e_t = E[id_t]                      a learned H-dim vector per vocabulary token (E initialised from
 *                                      the model's token embeddings through a random projection)
 *   z   = [mean_t e_t ; mean_{last W} e_t]   the whole prompt and its end (what comes next depends most
 *                                      on the last tokens), BOS excluded
 *   u   = relu(W1 z + b1)              (U)
 *   s   = W2 u + b2                    (nLayers · n_ff) neuron scores
 * Pooling embeddings of the tokens is what the FFN's first layer largely sees (x ≈ embedding at layer 0),
 * and learning E per token lets the pool carry bag-of-token statistics a pooled raw embedding loses.
 *
 * Training target: per example and layer, the oracle importance (mean |h| over the response positions),
 * as log(importance) standardised over the layer's neurons; loss = mean squared error. Ranking by the
 * predicted s then approximates ranking by the oracle. Adam, minibatches, a few epochs: minutes on a CPU.
 */
import { IfpruneError } from '../errors.ts';
import type { Kernels } from '../engine/kernels.ts';

export interface LearnedPredictor {
  /** Per-layer neuron scores from the prompt's token ids (BOS included). */
  predict(promptIds: number[]): Float32Array[];
  /** Moves the predictor's matrix products into the wasm kernels (optional). */
  useKernels?(K: Kernels): unknown;
}

export interface MlpShape {
  vocab: number;
  nLayers: number;
  nff: number;
  /** Token-vector width H. */
  tokenDim: number;
  /** Hidden width U of the head. */
  hidden: number;
  /** Tokens in the "end of prompt" pool. */
  window: number;
  /** Entries C of the score codebook (absent or 0: none; see MlpPredictor.predict). */
  codebook?: number;
}

export interface TrainExample {
  promptIds: number[];
  /** [layer] → n_ff oracle importance. */
  target: Float32Array[];
}

export interface TrainOptions {
  epochs?: number;
  batch?: number;
  lr?: number;
  seed?: number;
  onEpoch?: (epoch: number, loss: number) => void;
  /** Called every few batches with the fraction done (for a progress bar). */
  onProgress?: (fraction: number) => void;
}

/** Parameters as flat Float32Arrays (stored in the model file as F32 tensors). */
export interface MlpParams {
  E: Float32Array; // (vocab, H)
  W1: Float32Array; // (U, 2H)
  b1: Float32Array; // (U)
  W2: Float32Array; // (L·nff, U)
  b2: Float32Array; // (L·nff)
  codebook?: Float32Array; // (C, L·nff) when shape.codebook
  /** (C) when shape.codebook, optional: the nearest entry c gives the scores of entry route[c] (routing by the loss, tools/train/route.py). */
  route?: Uint32Array;
}

const BOS_SKIP = 1;

export class MlpPredictor implements LearnedPredictor {
  constructor(
    readonly shape: MlpShape,
    readonly p: MlpParams,
  ) {
    const { vocab, tokenDim: H, hidden: U, nLayers, nff, codebook: C = 0 } = shape;
    const want = { E: vocab * H, W1: U * 2 * H, b1: U, W2: nLayers * nff * U, b2: nLayers * nff, codebook: C * nLayers * nff };
    for (const [k, n] of Object.entries(want)) {
      const got = p[k as keyof MlpParams]?.length ?? 0;
      if (got !== n) throw new IfpruneError('corrupt', `learned predictor tensor ${k} has ${got} values, expected ${n}`);
    }
    if (p.route && (p.route.length !== C || p.route.some((e) => !(e < C)))) throw new IfpruneError('corrupt', `learned predictor codebook route should hold ${C} entry indices below ${C}`);
    this.codebookNorms = codebookNorms(p.codebook, C, nLayers * nff);
  }

  /** |c|² per codebook entry, f64. */
  private readonly codebookNorms: Float64Array;

  /** A fresh predictor: E = token embeddings (vocab, dim) · a random (dim, H) projection, scaled. */
  static init(shape: MlpShape, tokenEmbeddings: Float32Array, dim: number, seed = 1): MlpPredictor {
    const { vocab, tokenDim: H, hidden: U, nLayers, nff } = shape;
    const rnd = gaussian(seed);
    const proj = Float32Array.from({ length: dim * H }, () => rnd() / Math.sqrt(dim));
    const E = new Float32Array(vocab * H);
    // normalise each embedding row so E's rows have comparable scale
    for (let v = 0; v < vocab; v++) {
      let norm = 0;
      for (let i = 0; i < dim; i++) norm += tokenEmbeddings[v * dim + i]! ** 2;
      const f = 1 / Math.sqrt(norm / dim + 1e-12);
      for (let h = 0; h < H; h++) {
        let s = 0;
        for (let i = 0; i < dim; i++) s += tokenEmbeddings[v * dim + i]! * f * proj[i * H + h]!;
        E[v * H + h] = s;
      }
    }
    const W1 = Float32Array.from({ length: U * 2 * H }, () => rnd() * Math.sqrt(2 / (2 * H)));
    const W2 = Float32Array.from({ length: nLayers * nff * U }, () => rnd() * Math.sqrt(1 / U));
    return new MlpPredictor(shape, { E, W1, b1: new Float32Array(U), W2, b2: new Float32Array(nLayers * nff) });
  }

  /** z = [mean e ; mean of the last `window` e] (BOS excluded). */
  private pool(ids: number[], z: Float32Array): void {
    const { tokenDim: H, window, vocab } = this.shape;
    z.fill(0);
    const toks = ids.slice(ids.length > BOS_SKIP ? BOS_SKIP : 0);
    const lastFrom = Math.max(0, toks.length - window);
    toks.forEach((id, i) => {
      if (!(id >= 0 && id < vocab)) throw new IfpruneError('bad_option', `token id ${id} outside the predictor's vocabulary of ${vocab}`);
      const e = this.p.E.subarray(id * H, (id + 1) * H);
      const wAll = 1 / toks.length;
      for (let h = 0; h < H; h++) z[h] += e[h]! * wAll;
      if (i >= lastFrom) {
        const wEnd = 1 / (toks.length - lastFrom);
        for (let h = 0; h < H; h++) z[H + h] += e[h]! * wEnd;
      }
    });
  }

  /** u = relu(W1 z + b1); s = W2 u + b2, the products in wasm after useKernels, else in JS. */
  private forward(ids: number[], z: Float32Array, u: Float32Array, s: Float32Array): void {
    const { hidden: U, nLayers, nff, tokenDim: H } = this.shape;
    this.pool(ids, z);
    this.affine(u, 'W1', this.p.b1, z, U, 2 * H);
    for (let i = 0; i < U; i++) if (!(u[i]! > 0)) u[i] = 0;
    this.affine(s, 'W2', this.p.b2, u, nLayers * nff, U);
  }

  /** out (rows) = W x + b, W (rows, cols) one of the two head matrices or the codebook (b null: none). */
  private affine(out: Float32Array, W: 'W1' | 'W2' | 'codebook', b: Float32Array | null, x: Float32Array, rows: number, cols: number): void {
    const w = this.wasm;
    if (w) {
      w.K.f32(w.x, cols).set(x);
      w.K.fn.matvec_f32(w.out, w[W], w.x, rows, cols);
      out.set(w.K.f32(w.out, rows));
      if (b) for (let o = 0; o < rows; o++) out[o] += b[o]!;
      return;
    }
    const m = this.p[W]!;
    for (let o = 0; o < rows; o++) {
      let a = b ? b[o]! : 0;
      const row = o * cols;
      for (let i = 0; i < cols; i++) a += m[row + i]! * x[i]!;
      out[o] = a;
    }
  }


  /**
   * Per-layer scores. With a codebook, the network's scores s are then replaced by the codebook entry c
   * nearest to them: z = s standardised per layer (mean 0, standard deviation with n − 1, at least 1e-6;
   * f64 stored to f32), c minimising |c|² − 2 z·c (the product as the head's, |c|² in f64; the first of
   * equals); with a route, by entry route[c] instead. tools/train/ifp.py `snap` is the same computation.
   */
  predict(promptIds: number[]): Float32Array[] {
    const { hidden: U, nLayers, nff, tokenDim: H, codebook: C = 0 } = this.shape;
    const n = nLayers * nff;
    let s = new Float32Array(n);
    this.forward(promptIds, new Float32Array(2 * H), new Float32Array(U), s);
    if (C > 0) {
      const dots = new Float32Array(C);
      this.affine(dots, 'codebook', null, standardisePerLayer(s, nLayers, nff), C, n);
      let best = 0;
      let bestD = Infinity;
      for (let c = 0; c < C; c++) {
        const d = this.codebookNorms[c]! - 2 * dots[c]!;
        if (d < bestD) [best, bestD] = [c, d];
      }
      const e = this.p.route ? this.p.route[best]! : best;
      s = this.p.codebook!.slice(e * n, (e + 1) * n);
    }
    return Array.from({ length: nLayers }, (_, l) => s.subarray(l * nff, (l + 1) * nff));
  }

  /**
   * The same predictor for a file whose neurons are stored in another order: the score of row r of
   * layer l is this predictor's score of neuron perms[l][r] (the rows of W2 and b2 and the codebook's
   * columns move; nothing is recomputed, so stored values stay exact). Selections then differ only
   * where two scores tie at the k-th place (topK breaks ties by the lower row).
   */
  permuted(perms: ArrayLike<number>[]): MlpPredictor {
    const { hidden: U, nLayers, nff, codebook: C = 0 } = this.shape;
    if (perms.length !== nLayers || perms.some((p) => p.length !== nff)) {
      throw new IfpruneError('bad_option', `a neuron order needs ${nLayers} permutations of ${nff}; got ${perms.length} of ${perms.map((p) => p.length).join(', ')}`);
    }
    const n = nLayers * nff;
    const W2 = new Float32Array(n * U);
    const b2 = new Float32Array(n);
    const cb = C > 0 ? new Float32Array(C * n) : undefined;
    for (let l = 0; l < nLayers; l++) {
      for (let r = 0; r < nff; r++) {
        const from = l * nff + perms[l]![r]!;
        const to = l * nff + r;
        W2.set(this.p.W2.subarray(from * U, (from + 1) * U), to * U);
        b2[to] = this.p.b2[from]!;
        for (let c = 0; c < C; c++) cb![c * n + to] = this.p.codebook![c * n + from]!;
      }
    }
    return new MlpPredictor(this.shape, { ...this.p, W2, b2, ...(cb ? { codebook: cb } : {}) });
  }

  private wasm: { K: Kernels; W1: number; W2: number; codebook: number; x: number; out: number } | null = null;

  /**
   * Runs the two matrix products of predict() in the wasm kernels (matvec_f32) from now on: the
   * weights are copied into wasm memory once. About 10× faster than the JS loops for the head's
   * n_layers·n_ff × U product, which dominates the predictor's time. Call it after training: the
   * wasm copies of W1 and W2 are not updated by train().
   */
  useKernels(K: Kernels): this {
    const { hidden: U, nLayers, nff, tokenDim: H, codebook: C = 0 } = this.shape;
    const put = (a: Float32Array) => {
      const p = K.alloc(a.byteLength);
      K.f32(p, a.length).set(a);
      return p;
    };
    const n = nLayers * nff;
    this.wasm = {
      K,
      W1: put(this.p.W1),
      W2: put(this.p.W2),
      codebook: C > 0 ? put(this.p.codebook!) : 0,
      x: K.alloc(Math.max(2 * H, U, C > 0 ? n : 0) * 4),
      out: K.alloc(Math.max(U, n, C) * 4),
    };
    return this;
  }



  /** Fits the predictor to examples (in place). Returns the final epoch's mean loss. */
  train(examples: TrainExample[], opts: TrainOptions = {}): number {
    const { hidden: U, nLayers, nff, tokenDim: H } = this.shape;
    if (this.shape.codebook) throw new IfpruneError('bad_option', 'a predictor with a codebook is fitted by tools/train (export.py --codebook), not by train()');
    const epochs = opts.epochs ?? 8;
    const batch = opts.batch ?? 32;
    const lr = opts.lr ?? 2e-3;
    const n = nLayers * nff;
    const targets = examples.map((ex) => standardisedLog(ex.target));
    const params = Object.entries(this.p) as [keyof MlpParams, Float32Array][];
    const grads = Object.fromEntries(params.map(([k, v]) => [k, new Float32Array(v.length)])) as unknown as Required<MlpParams>;
    const adam = params.map(([, v]) => ({ m: new Float32Array(v.length), v: new Float32Array(v.length) }));
    const z = new Float32Array(2 * H);
    const u = new Float32Array(U);
    const s = new Float32Array(n);
    const ds = new Float32Array(n);
    const du = new Float32Array(U);
    const dz = new Float32Array(2 * H);
    let rndState = (opts.seed ?? 1) >>> 0;
    const rnd = () => ((rndState = (Math.imul(rndState, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    let step = 0;
    let lastLoss = NaN;
    const order = examples.map((_, i) => i);
    const touched = new Set<number>();
    const totalBatches = epochs * Math.ceil(examples.length / batch);
    for (let epoch = 0; epoch < epochs; epoch++) {
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      let lossSum = 0;
      for (let b0 = 0; b0 < order.length; b0 += batch) {
        const idx = order.slice(b0, b0 + batch);
        for (const [k] of params) grads[k].fill(0);
        touched.clear();
        for (const e of idx) {
          const ids = examples[e]!.promptIds;
          const y = targets[e]!;
          this.forward(ids, z, u, s);
          let loss = 0;
          for (let o = 0; o < n; o++) {
            const d = s[o]! - y[o]!;
            loss += d * d;
            ds[o] = (2 * d) / n / idx.length;
          }
          lossSum += loss / n;
          // head: W2, b2, du
          du.fill(0);
          for (let o = 0; o < n; o++) {
            const g = ds[o]!;
            grads.b2[o] += g;
            const row = o * U;
            for (let i = 0; i < U; i++) {
              grads.W2[row + i] += g * u[i]!;
              du[i] += g * this.p.W2[row + i]!;
            }
          }
          // relu, W1, b1, dz
          dz.fill(0);
          for (let i = 0; i < U; i++) {
            if (u[i]! <= 0) continue;
            const g = du[i]!;
            grads.b1[i] += g;
            const row = i * 2 * H;
            for (let j = 0; j < 2 * H; j++) {
              grads.W1[row + j] += g * z[j]!;
              dz[j] += g * this.p.W1[row + j]!;
            }
          }
          // pool → E rows
          const toks = ids.slice(ids.length > BOS_SKIP ? BOS_SKIP : 0);
          const lastFrom = Math.max(0, toks.length - this.shape.window);
          toks.forEach((id, t) => {
            touched.add(id);
            const wAll = 1 / toks.length;
            const wEnd = t >= lastFrom ? 1 / (toks.length - lastFrom) : 0;
            const gE = grads.E.subarray(id * H, (id + 1) * H);
            for (let h = 0; h < H; h++) gE[h] += dz[h]! * wAll + dz[H + h]! * wEnd;
          });
        }
        step++;
        const b1c = 1 - 0.9 ** step;
        const b2c = 1 - 0.999 ** step;
        params.forEach(([k, w], pi) => {
          const g = grads[k];
          const { m, v } = adam[pi]!;
          const update = (i: number) => {
            m[i] = 0.9 * m[i]! + 0.1 * g[i]!;
            v[i] = 0.999 * v[i]! + 0.001 * g[i]! * g[i]!;
            w[i] -= (lr * (m[i]! / b1c)) / (Math.sqrt(v[i]! / b2c) + 1e-8);
          };
          if (k === 'E') {
            // sparse update: only the rows of tokens in this batch (lazy Adam)
            for (const id of touched) for (let h = 0; h < H; h++) update(id * H + h);
          } else for (let i = 0; i < w.length; i++) update(i);
        });
        if (step % 8 === 0) opts.onProgress?.(step / totalBatches);
      }
      lastLoss = lossSum / examples.length;
      opts.onEpoch?.(epoch, lastLoss);
    }
    return lastLoss;
  }
}

/** s (L·n_ff) standardised per layer: mean 0, standard deviation (n − 1) 1 (at least 1e-6), in f64
 * stored to f32; assembly/rt/predictor.ts computes the same. */
export function standardisePerLayer(s: Float32Array, nLayers: number, nff: number): Float32Array {
  const z = new Float32Array(s.length);
  for (let l = 0; l < nLayers; l++) {
    const o = l * nff;
    let mean = 0;
    for (let j = 0; j < nff; j++) mean += s[o + j]!;
    mean /= nff;
    let v = 0;
    for (let j = 0; j < nff; j++) {
      const d = s[o + j]! - mean;
      v += d * d;
    }
    const sd = Math.max(Math.sqrt(v / (nff - 1)), 1e-6);
    for (let j = 0; j < nff; j++) z[o + j] = (s[o + j]! - mean) / sd;
  }
  return z;
}

/** |c|² of each of the C entries (n values each), f64 in index order. */
function codebookNorms(cb: Float32Array | undefined, C: number, n: number): Float64Array {
  const out = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let a = 0;
    for (let i = 0; i < n; i++) a += cb![c * n + i]! * cb![c * n + i]!;
    out[c] = a;
  }
  return out;
}

/** log(importance) standardised per layer (zero mean, unit variance over the layer's neurons), flat. */
export function standardisedLog(target: Float32Array[]): Float32Array {
  const nff = target[0]!.length;
  const out = new Float32Array(target.length * nff);
  target.forEach((t, l) => {
    let mean = 0;
    for (let j = 0; j < nff; j++) mean += out[l * nff + j] = Math.log(t[j]! + 1e-6);
    mean /= nff;
    let v = 0;
    for (let j = 0; j < nff; j++) v += (out[l * nff + j]! - mean) ** 2;
    const sd = Math.sqrt(v / nff) || 1;
    for (let j = 0; j < nff; j++) out[l * nff + j] = (out[l * nff + j]! - mean) / sd;
  });
  return out;
}

/** Standard normal draws (Box-Muller over an LCG), reproducible by seed. */
function gaussian(seed: number): () => number {
  let s = seed >>> 0 || 1;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}
