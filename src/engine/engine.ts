/**
 * The wasm engine: a Llama-family forward pass over weights held in wasm linear memory.
 *
 * Memory plan (one arena, src/engine/kernels.ts `Kernels.alloc`): weights (as stored in the file, except
 * norms, biases and BF16 matrices, which become f32), then the KV cache (nLayers × 2 × context × kvDim
 * f32), then the scratch buffers of one prefill tile of up to TILE tokens. Everything is allocated
 * before the first read, so no view into memory is invalidated by growth while a read is in flight.
 *
 * One forward step over T tokens at positions pos..pos+T-1 (T = 1 in decode, ≤ TILE in prefill):
 *   x  = embed(ids)                                              (T, dim)
 *   per layer:  xb = rmsnorm(x)
 *               q, k, v = xb·Wqᵀ, xb·Wkᵀ, xb·Wvᵀ (+ bias)       k, v written straight into the cache
 *               rope(q, k); per token: attention over positions 0..p (causal)
 *               x += attn·Woᵀ
 *               xb = rmsnorm(x)
 *               x += W2 (silu(xb·W1ᵀ) ⊙ xb·W3ᵀ)                 split FFN (standard GGUF tensors), or
 *               x += Σ_j silu(g_j·xb)(u_j·xb) d_j                 over the layer's active neuron bundles
 *   logits = rmsnorm(x_last) · Wclsᵀ
 * Matrices with T > 1 use the matmul kernels (each weight row read once per tile), T = 1 the matvec
 * kernels. For quantized weights the activation rows are quantized to Q8_0 once and shared by every
 * matrix that reads them (Q, K and V; gate and up).
 */
import { IfpruneError } from '../errors.ts';
import { DEFAULTS } from '../defaults.ts';
import { QUANT, rowBytes, type QuantType } from '../formats/quant.ts';
import type { ModelConfig, ModelSpec, TensorRef } from '../formats/model-spec.ts';
import { toF32 } from '../formats/quant-values.ts';
import type { Kernels, KernelName } from './kernels.ts';
import { MAX_REQUEST_BYTES, readRanges, type RangeSource } from '../sources/ranges.ts';

/** Bytes of tensors read per batch at load (progress granularity; staging memory for converted ones). */
const READ_BATCH_BYTES = 32 << 20;
/** Padding between tensors (GGUF alignment) is read through rather than split into requests. */
const READ_GAP_BYTES = 4096;

/** Tokens per prefill tile: bounds the scratch memory; the matmul kernels work in 4-token groups. */
export const TILE = 32;
/** Prefill's masked FFN over at least this many quantized bundles runs as two shares (assembly/rt/engine.ts,
 * 2 × PAR_MIN_ROWS of assembly/rt/parallel.ts). */
const FFN_SPLIT_MIN = 128;
/** Default KV-cache length when the caller does not choose one (the model's context if shorter). */
export const DEFAULT_CONTEXT = DEFAULTS.contextLength;

/** A matrix in wasm memory: rows × cols of `type`, row-major. */
export interface Weight {
  ptr: number;
  type: QuantType;
  rows: number;
  cols: number;
}

interface Layer {
  attnNorm: number;
  wq: Weight;
  wk: Weight;
  wv: Weight;
  wo: Weight;
  bq: number;
  bk: number;
  bv: number;
  ffnNorm: number;
  /** Split FFN: gate (hidden, dim), up (hidden, dim), down (dim, hidden). */
  w1?: Weight;
  w3?: Weight;
  w2?: Weight;
  /** Bundled FFN: all n_ff bundles [gate_j | up_j | down_j] as read from the file (0 when not loaded:
   * selective loading fills `active` instead), and the k active ones packed contiguously. */
  full?: Weight;
  active?: { ptr: number; k: number };
  /** Split FFN under a neuron mask: a 0/1 f32 vector of hiddenDim at maskPtr, or 0 for dense. */
  maskPtr: number;
  kCache: number;
  vCache: number;
}

const MATVEC: Record<string, KernelName> = { F32: 'matvec_f32', F16: 'matvec_f16', Q8_0: 'matvec_q8_0_q8_0', Q4_0: 'matvec_q4_0_q8_0' };
const MATMUL: Record<string, KernelName> = { F32: 'matmul_f32', F16: 'matmul_f16', Q8_0: 'matmul_q8_0_q8_0', Q4_0: 'matmul_q4_0_q8_0' };
const FFN: Record<string, KernelName> = { F32: 'ffn_swiglu_masked_f32', Q8_0: 'ffn_swiglu_masked_q8_0', Q4_0: 'ffn_swiglu_masked_q4_0' };
const DEQUANT: Record<string, KernelName> = { F16: 'dequantize_row_f16', Q8_0: 'dequantize_row_q8_0', Q4_0: 'dequantize_row_q4_0' };
const isQuantized = (t: QuantType) => t.blockElems > 1;

/**
 * Sees layer `layer`'s FFN activations h[t·n_ff + j] = silu(gate_j·x_t)·(up_j·x_t) for the T tokens of a
 * tile, for every neuron j in the file's order (before any mask), valid only during the call.
 */
export type FfnObserver = (layer: number, h: Float32Array, T: number) => void;

export interface EngineOptions {
  /** KV-cache length (default: the model's context, at most DEFAULT_CONTEXT). */
  contextLength?: number;
  signal?: AbortSignal;
  /** Called after each tensor is read: bytes done, bytes total. */
  onProgress?: (done: number, total: number) => void;
  /**
   * 'dense' (default): read every FFN weight. 'none': for an ifprune bundled file, read only the core
   * (embeddings, attention, norms, classifier); neuron bundles are loaded later for an instruction
   * (src/reference/neuron-loader.ts → setActiveBundles).
   */
  ffn?: 'dense' | 'none';
  /** Checks each tensor read against the file's chunk hashes (ifprune files). */
  verify?: (tensor: string, offsetInTensor: number, bytes: Uint8Array) => void;
  /** Refuse (before reading any weight) when the planned arena would exceed this many bytes. */
  maxBytes?: number;
}

export class Engine {
  readonly config: ModelConfig;
  readonly contextLength: number;
  /** Number of positions filled in the KV cache. */
  pos = 0;
  /** Bytes read from the source by load(). */
  readonly bytesLoaded: number;

  private readonly K: Kernels;
  private readonly layers: Layer[];
  private readonly embd: Weight;
  private readonly cls: Weight;
  private readonly outNorm: number;
  // scratch (TILE tokens)
  private readonly x: number;
  private readonly xb: number;
  private readonly xq: number;
  private readonly q: number;
  private readonly att: number;
  private readonly attOut: number;
  private readonly h1: number;
  private readonly h3: number;
  private readonly logits: number;
  private observeBuf?: { gu: number; h: Float32Array };
  private readonly packed: number[] = [];
  private readonly masks: number[] = [];

  private constructor(K: Kernels, config: ModelConfig, contextLength: number, bytesLoaded: number, parts: {
    layers: Layer[]; embd: Weight; cls: Weight; outNorm: number;
  }) {
    this.K = K;
    this.config = config;
    this.contextLength = contextLength;
    this.bytesLoaded = bytesLoaded;
    this.layers = parts.layers;
    this.embd = parts.embd;
    this.cls = parts.cls;
    this.outNorm = parts.outNorm;
    const c = config;
    const qDim = c.nHeads * c.headSize;
    const widest = Math.max(c.dim, c.hiddenDim, qDim);
    this.x = K.alloc(TILE * c.dim * 4);
    this.xb = K.alloc(TILE * Math.max(c.dim, qDim) * 4);
    this.xq = K.alloc(TILE * Math.max(widest * 4, rowBytes(QUANT.Q8_0, Math.ceil(widest / 32) * 32)));
    this.q = K.alloc(TILE * qDim * 4);
    this.attOut = K.alloc(TILE * qDim * 4);
    this.att = K.alloc(contextLength * 4);
    this.h1 = K.alloc(TILE * c.hiddenDim * 4);
    this.h3 = K.alloc(TILE * c.hiddenDim * 4);
    this.logits = K.alloc(c.vocabSize * 4);
  }

  /** Plans the arena, reads every tensor the forward pass needs into it, and returns a ready engine. */
  static async load(K: Kernels, spec: ModelSpec, opts: EngineOptions = {}): Promise<Engine> {
    const c = spec.config;
    const contextLength = opts.contextLength ?? Math.min(c.seqLen, DEFAULT_CONTEXT);
    if (!(Number.isInteger(contextLength) && contextLength >= 1)) {
      throw new IfpruneError('bad_option', `contextLength = ${contextLength}: expected a positive integer (the model's context is ${c.seqLen})`);
    }
    if (opts.ffn === 'none' && !spec.tensors.has('blk.0.ffn_bundle')) {
      throw new IfpruneError('bad_option', `${spec.source.name} stores its FFN as standard matrices; selective loading needs an ifprune bundled file: convert it with \`ifprune convert ${spec.source.name} -o model.gguf\``);
    }
    const loader = new TensorLoader(K, spec, opts.signal, opts.verify);
    const weight = (name: string): Weight => loader.matrix(name);
    const vector = (name: string): number => loader.vector(name);
    const embd = weight('token_embd.weight');
    const kvDim = c.nKvHeads * c.headSize;
    const layers: Layer[] = [];
    for (let l = 0; l < c.nLayers; l++) {
      const b = `blk.${l}.`;
      const layer: Layer = {
        attnNorm: vector(b + 'attn_norm.weight'),
        wq: weight(b + 'attn_q.weight'),
        wk: weight(b + 'attn_k.weight'),
        wv: weight(b + 'attn_v.weight'),
        wo: weight(b + 'attn_output.weight'),
        bq: c.qkvBias ? vector(b + 'attn_q.bias') : 0,
        bk: c.qkvBias ? vector(b + 'attn_k.bias') : 0,
        bv: c.qkvBias ? vector(b + 'attn_v.bias') : 0,
        ffnNorm: vector(b + 'ffn_norm.weight'),
        maskPtr: 0,
        kCache: K.alloc(contextLength * kvDim * 4),
        vCache: K.alloc(contextLength * kvDim * 4),
      };
      if (spec.tensors.has(b + 'ffn_bundle')) {
        const storeAs = (t: QuantType) => (t === QUANT.F16 || t === QUANT.BF16 ? QUANT.F32 : t);
        if (opts.ffn === 'none') {
          const t = spec.tensors.get(b + 'ffn_bundle')!;
          if (storeAs(t.type) !== t.type) {
            throw new IfpruneError('unsupported', `${spec.source.name}: selective loading needs bundles the masked kernel runs as stored (F32, Q8_0, Q4_0); this file's are ${t.type.name}: convert with --type q8_0, q4_0 or f32`);
          }
          layer.full = { ptr: 0, type: t.type, rows: t.dims[1]!, cols: t.dims[0]! };
        } else {
          const bw = loader.matrix(b + 'ffn_bundle', storeAs);
          layer.full = bw;
          layer.active = { ptr: bw.ptr, k: bw.rows };
        }
      } else {
        layer.w1 = weight(b + 'ffn_gate.weight');
        layer.w3 = weight(b + 'ffn_up.weight');
        layer.w2 = weight(b + 'ffn_down.weight');
      }
      layers.push(layer);
    }
    const outNorm = vector('output_norm.weight');
    const cls = c.tiedEmbeddings ? embd : weight('output.weight');
    const engine = new Engine(K, c, contextLength, loader.totalBytes, { layers, embd, cls, outNorm });
    const planned = K.mark();
    if (opts.maxBytes !== undefined && planned > opts.maxBytes) {
      const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
      const kv = c.nLayers * 2 * contextLength * kvDim * 4;
      throw new IfpruneError(
        'out_of_memory',
        `${spec.source.name}: the model's core needs ${mib(planned)} of wasm memory (weights ${mib(loader.totalBytes)}, KV cache for ${contextLength} positions ${mib(kv)}, scratch) ` +
          `but the memory budget is ${mib(opts.maxBytes)}; raise memoryBudget, lower contextLength, or use a smaller quantization (Q4_0)`,
      );
    }
    await loader.readAll(opts.onProgress);
    return engine;
  }

  /** Forgets the KV cache (the next forward starts at position 0). */
  reset(): void {
    this.pos = 0;
  }

  /** Keeps the first `pos` cached positions and forgets the rest (the next forward starts at pos). */
  rewind(pos: number): void {
    if (!(Number.isInteger(pos) && pos >= 0 && pos <= this.pos)) throw new IfpruneError('bad_option', `rewind(${pos}): expected an integer in [0, ${this.pos}]`);
    this.pos = pos;
  }

  /**
   * Runs `ids` at positions pos.. and returns the logits of the last one: a view into wasm memory,
   * valid until the next forward (the sampler may overwrite it).
   */
  forward(ids: readonly number[], signal?: AbortSignal): Float32Array {
    return this.run(ids, { signal });
  }

  /**
   * Runs `ids` and returns the logits of every one of them, (ids.length, vocabSize) row-major: what
   * perplexity evaluation needs. `observe` sees each layer's FFN activations (see FfnObserver).
   */
  forwardAll(ids: readonly number[], opts: { signal?: AbortSignal; observe?: FfnObserver } = {}): Float32Array {
    const all = new Float32Array(ids.length * this.config.vocabSize);
    this.run(ids, { ...opts, all });
    return all;
  }

  /** forward() with an FFN observer (and only the last logits). */
  forwardObserved(ids: readonly number[], observe: FfnObserver, signal?: AbortSignal): Float32Array {
    return this.run(ids, { signal, observe });
  }

  private run(ids: readonly number[], opts: { signal?: AbortSignal; observe?: FfnObserver; all?: Float32Array }): Float32Array {
    const signal = opts.signal;
    const c = this.config;
    if (ids.length === 0) throw new IfpruneError('bad_option', 'forward needs at least one token');
    if (this.pos + ids.length > this.contextLength) {
      throw new IfpruneError(
        'context_overflow',
        `${this.pos + ids.length} tokens do not fit the context of ${this.contextLength} (${this.pos} already used, ${ids.length} more); ` +
          `shorten the prompt or open the model with a larger contextLength (the model supports ${c.seqLen})`,
      );
    }
    for (const id of ids) {
      if (!(Number.isInteger(id) && id >= 0 && id < c.vocabSize)) throw new IfpruneError('bad_option', `token id ${id} is outside the vocabulary of ${c.vocabSize}`);
    }
    const unloaded = this.layers.findIndex((L) => L.full && !L.active);
    if (unloaded >= 0) {
      throw new IfpruneError('bad_option', `layer ${unloaded}'s FFN neurons are not loaded: the model was opened for selective loading; load neurons for an instruction first (model.instruct + model.load, or generate with a density)`);
    }
    for (let t0 = 0; t0 < ids.length; t0 += TILE) {
      if (signal?.aborted) throw new IfpruneError('aborted', 'generation was aborted');
      this.forwardTile(ids.slice(t0, t0 + TILE), opts.observe, opts.all ? (t, logits) => opts.all!.set(logits, (t0 + t) * c.vocabSize) : undefined);
    }
    return this.K.f32(this.logits, c.vocabSize);
  }

  private forwardTile(ids: number[], observe?: FfnObserver, eachLogits?: (t: number, logits: Float32Array) => void): void {
    const { K, config: c } = this;
    const R = K.raw;
    const T = ids.length;
    const dim = c.dim;
    const qDim = c.nHeads * c.headSize;
    const kvDim = c.nKvHeads * c.headSize;
    const neox = c.ropeStyle === 'neox' ? 1 : 0;

    // x = embedding rows
    for (let t = 0; t < T; t++) this.embed(ids[t]!, this.x + t * dim * 4);

    for (let l = 0; l < this.layers.length; l++) {
      const L = this.layers[l]!;
      for (let t = 0; t < T; t++) R.rmsnorm_f32(this.xb + t * dim * 4, this.x + t * dim * 4, L.attnNorm, dim, c.normEps);
      const kOut = L.kCache + this.pos * kvDim * 4;
      const vOut = L.vCache + this.pos * kvDim * 4;
      this.linear([[L.wq, this.q, L.bq], [L.wk, kOut, L.bk], [L.wv, vOut, L.bv]], this.xb, T);
      for (let t = 0; t < T; t++) {
        const p = this.pos + t;
        R.rope_f32(this.q + t * qDim * 4, c.nHeads, c.headSize, c.ropeDim, p, c.ropeBase, neox);
        R.rope_f32(kOut + t * kvDim * 4, c.nKvHeads, c.headSize, c.ropeDim, p, c.ropeBase, neox);
      }
      for (let t = 0; t < T; t++) {
        R.attention_f32(this.attOut + t * qDim * 4, this.q + t * qDim * 4, L.kCache, L.vCache, this.att, c.nHeads, c.nKvHeads, c.headSize, this.pos + t + 1);
      }
      this.linear([[L.wo, this.xb, 0]], this.attOut, T);
      R.add_f32(this.x, this.xb, T * dim);

      for (let t = 0; t < T; t++) R.rmsnorm_f32(this.xb + t * dim * 4, this.x + t * dim * 4, L.ffnNorm, dim, c.normEps);
      if (L.full) {
        const type = L.full.type;
        const xin = isQuantized(type) ? this.quantize(this.xb, dim, T) : this.xb;
        if (observe) this.observeBundles(l, L, T, observe);
        const k = L.active!.k;
        if (T > 1 && isQuantized(type) && k >= FFN_SPLIT_MIN) {
          // as assembly/rt/engine.ts: two shares summed apart, then added (the order its worker thread needs)
          const g = (k >> 5) << 4;
          K.f32(this.h1, T * dim).fill(0);
          K.callRaw(FFN[type.name]!, this.h1, L.active!.ptr + g * rowBytes(type, 3 * dim), xin, k - g, dim, T);
          K.callRaw(FFN[type.name]!, this.x, L.active!.ptr, xin, g, dim, T);
          R.add_f32(this.x, this.h1, T * dim);
        } else {
          K.callRaw(FFN[type.name]!, this.x, L.active!.ptr, xin, k, dim, T);
        }
      } else {
        const hid = c.hiddenDim;
        this.linear([[L.w1!, this.h1, 0], [L.w3!, this.h3, 0]], this.xb, T);
        R.silu_f32(this.h1, T * hid);
        R.mul_f32(this.h1, this.h3, T * hid);
        if (observe) observe(l, K.f32(this.h1, T * hid), T);
        if (L.maskPtr) for (let t = 0; t < T; t++) R.mul_f32(this.h1 + t * hid * 4, L.maskPtr, hid);
        this.linear([[L.w2!, this.xb, 0]], this.h1, T);
        R.add_f32(this.x, this.xb, T * dim);
      }
    }
    this.pos += T;

    for (let t = eachLogits ? 0 : T - 1; t < T; t++) {
      R.rmsnorm_f32(this.xb, this.x + t * dim * 4, this.outNorm, dim, c.normEps);
      this.linear([[this.cls, this.logits, 0]], this.xb, 1);
      eachLogits?.(t, K.f32(this.logits, c.vocabSize));
    }
  }

  /**
   * FFN activations h = silu(gate·x)·(up·x) of every neuron of a bundled layer, for an observer. The
   * bundle tensor read as a (3·n_ff, dim) matrix has gate_j at row 3j and up_j at row 3j + 1, so one
   * matmul gives them all (plus the unused down rows: 1.5× the gate/up work, paid only when observing).
   */
  private observeBundles(l: number, L: Layer, T: number, observe: FfnObserver): void {
    const { K, config: c } = this;
    const full = L.full!;
    const nff = full.rows;
    // Every bundle, in row order: the file's tensor (dense models) or an active set of all rows.
    const ptr = full.ptr || (L.active?.k === nff ? L.active.ptr : 0);
    if (!ptr) throw new IfpruneError('bad_option', `layer ${l}: observing FFN activations needs every neuron bundle active (load density 1 first)`);
    if (!this.observeBuf) this.observeBuf = { gu: K.alloc(TILE * 3 * nff * 4), h: new Float32Array(TILE * nff) };
    const { gu, h } = this.observeBuf;
    const w: Weight = { ptr, type: full.type, rows: 3 * nff, cols: c.dim };
    this.linear([[w, gu, 0]], this.xb, T);
    const o = K.f32(gu, T * 3 * nff);
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < nff; j++) {
        const g = o[t * 3 * nff + 3 * j]!;
        h[t * nff + j] = (g / (1 + Math.exp(-g))) * o[t * 3 * nff + 3 * j + 1]!;
      }
    }
    observe(l, h.subarray(0, T * nff), T);
  }

  // ---- neuron masks (pruning) ----------------------------------------------------------------

  /** Whether the layers' FFNs are bundled (ifprune layout: masks pack rows) or split (masks multiply). */
  get bundled(): boolean {
    return this.layers[0]?.full !== undefined;
  }

  /**
   * Restricts layer l's FFN to the neurons `ids` (sorted or not; each in [0, n_ff)), or back to all of
   * them with null. Exact: the result equals the FFN with every other neuron's activation zeroed.
   * Bundled layers pack the selected bundles contiguously (the masked kernel then runs k of them);
   * split layers multiply the activations by a 0/1 mask (no speed-up: for evaluation).
   */
  setNeuronMask(l: number, ids: ArrayLike<number> | null): void {
    const { K, config: c } = this;
    const L = this.layers[l];
    if (!L) throw new IfpruneError('bad_option', `layer ${l} does not exist (the model has ${c.nLayers})`);
    for (let i = 0; i < (ids?.length ?? 0); i++) {
      const j = ids![i]!;
      if (!(Number.isInteger(j) && j >= 0 && j < c.hiddenDim)) throw new IfpruneError('bad_option', `layer ${l}: neuron id ${j} is outside [0, ${c.hiddenDim})`);
    }
    if (L.full) {
      if (!L.full.ptr) throw new IfpruneError('bad_option', `layer ${l}: the model was opened for selective loading; choose neurons with the neuron loader instead`);
      if (!ids) return void (L.active = { ptr: L.full.ptr, k: L.full.rows });
      const rb = rowBytes(L.full.type, 3 * c.dim);
      if (!this.packed[l]) this.packed[l] = K.alloc(L.full.rows * rb);
      const dst = this.packed[l]!;
      const mem = K.u8(0, K.memory.buffer.byteLength);
      for (let i = 0; i < ids.length; i++) mem.copyWithin(dst + i * rb, L.full.ptr + ids[i]! * rb, L.full.ptr + (ids[i]! + 1) * rb);
      L.active = { ptr: dst, k: ids.length };
    } else {
      if (!ids) return void (L.maskPtr = 0);
      if (!this.masks[l]) this.masks[l] = K.alloc(c.hiddenDim * 4);
      const m = K.f32(this.masks[l]!, c.hiddenDim).fill(0);
      for (let i = 0; i < ids.length; i++) m[ids[i]!] = 1;
      L.maskPtr = this.masks[l]!;
    }
  }

  /** The wasm kernels and memory (the neuron loader writes bundles into it). */
  get kernels(): Kernels {
    return this.K;
  }

  /** Bundle type and row bytes of the bundled layers (null for split FFNs). */
  get bundleFormat(): { type: QuantType; rowBytes: number; rows: number } | null {
    const full = this.layers[0]?.full;
    return full ? { type: full.type, rowBytes: rowBytes(full.type, full.cols), rows: full.rows } : null;
  }

  /** Points layer l's masked FFN at k packed bundles at ptr (in wasm memory, bundle type and row size). */
  setActiveBundles(l: number, ptr: number, k: number): void {
    const L = this.layers[l];
    if (!L?.full) throw new IfpruneError('bad_option', `layer ${l} has no bundled FFN`);
    if (!(Number.isInteger(k) && k >= 0 && k <= L.full.rows)) throw new IfpruneError('bad_option', `layer ${l}: k = ${k} is not in [0, ${L.full.rows}]`);
    const end = ptr + k * rowBytes(L.full.type, L.full.cols);
    if (!(ptr >= 0 && end <= this.K.memory.buffer.byteLength)) throw new IfpruneError('out_of_bounds', `layer ${l}: bundles [${ptr}, ${end}) lie outside wasm memory`);
    L.active = { ptr, k };
  }

  /** Layer l's active neuron count (n_ff when dense). */
  activeNeurons(l: number): number {
    const L = this.layers[l]!;
    if (L.full) return L.active?.k ?? 0;
    if (!L.maskPtr) return this.config.hiddenDim;
    return this.K.f32(L.maskPtr, this.config.hiddenDim).reduce((s, v) => s + v, 0);
  }


  /** out_i (T, w.rows) = input (T, w.cols) · w_iᵀ (+ bias) for matrices sharing one input. */
  private linear(mats: [w: Weight, out: number, bias: number][], input: number, T: number): void {
    let xq = -1;
    for (const [w, out, bias] of mats) {
      let x = input;
      if (isQuantized(w.type)) {
        if (xq < 0) xq = this.quantize(input, w.cols, T);
        x = xq;
      }
      if (T === 1) this.K.callRaw(MATVEC[w.type.name]!, out, w.ptr, x, w.rows, w.cols);
      else this.K.callRaw(MATMUL[w.type.name]!, out, w.ptr, x, w.rows, w.cols, T);
      if (bias) for (let t = 0; t < T; t++) this.K.raw.add_f32(out + t * w.rows * 4, bias, w.rows);
    }
  }

  /** Quantizes T rows of n f32 at `input` to Q8_0 in the shared buffer; returns it. */
  private quantize(input: number, n: number, T: number): number {
    this.K.raw.quantize_row_q8_0(this.xq, input, n * T);
    return this.xq;
  }

  /** Writes the f32 embedding of token `id` at `out`. */
  private embed(id: number, out: number): void {
    const e = this.embd;
    const src = e.ptr + id * rowBytes(e.type, e.cols);
    if (e.type === QUANT.F32) this.K.u8(out, e.cols * 4).set(this.K.u8(src, e.cols * 4));
    else this.K.callRaw(DEQUANT[e.type.name]!, out, src, e.cols);
  }
}

/**
 * Plans where each tensor goes in the arena (alloc) and then reads them all. Tensors are read as stored,
 * except that vectors (norms, biases) and types without a kernel become f32 on the way in.
 */
/** A tensor to read: where it goes in wasm memory and the type it is kept as. */
interface ReadJob {
  t: TensorRef;
  ptr: number;
  to: QuantType;
}

class TensorLoader {
  private readonly jobs: ReadJob[] = [];
  constructor(
    private readonly K: Kernels,
    private readonly spec: ModelSpec,
    private readonly signal?: AbortSignal,
    private readonly verify?: (tensor: string, offsetInTensor: number, bytes: Uint8Array) => void,
  ) {}

  /** Bytes the planned tensors occupy in the source. */
  get totalBytes(): number {
    return this.jobs.reduce((s, j) => s + j.t.bytes, 0);
  }

  private tensor(name: string): TensorRef {
    const t = this.spec.tensors.get(name);
    if (!t) throw new IfpruneError('corrupt', `${this.spec.source.name}: tensor ${name} is missing`);
    return t;
  }

  /** A 2-D weight; `storeAs` maps the file's type to the type kept in memory (default: BF16 → F32). */
  matrix(name: string, storeAs: (t: QuantType) => QuantType = (t) => (t === QUANT.BF16 ? QUANT.F32 : t)): Weight {
    const t = this.tensor(name);
    const [cols, rows = 1] = t.dims;
    const to = storeAs(t.type);
    if (!MATVEC[to.name]) throw new IfpruneError('unsupported', `${this.spec.source.name}: tensor ${name} has type ${t.type.name}, which ifprune cannot multiply`);
    if (isQuantized(to) && cols! % to.blockElems !== 0) {
      throw new IfpruneError('corrupt', `${this.spec.source.name}: tensor ${name} is ${to.name} with rows of ${cols} weights, not a whole number of ${to.blockElems}-weight blocks`);
    }
    const ptr = this.K.alloc(rows * rowBytes(to, cols!));
    this.jobs.push({ t, ptr, to });
    return { ptr, type: to, rows, cols: cols! };
  }

  /** A 1-D f32 vector (norm weight, bias). */
  vector(name: string): number {
    const t = this.tensor(name);
    const n = t.dims.reduce((a, b) => a * b, 1);
    const ptr = this.K.alloc(n * 4);
    this.jobs.push({ t, ptr, to: QUANT.F32 });
    return ptr;
  }

  /**
   * Reads every planned tensor: tensors kept as stored go straight into their place in wasm memory,
   * others through a staging copy that is converted to f32. Reads go in batches of about
   * READ_BATCH_BYTES through readRanges, so neighbouring tensors (the core is contiguous in an
   * ifprune file) become few requests, several in flight; each tensor is verified before use.
   */
  async readAll(onProgress?: (done: number, total: number) => void): Promise<void> {
    const total = this.totalBytes;
    let done = 0;
    for (let i = 0; i < this.jobs.length; ) {
      if (this.signal?.aborted) throw new IfpruneError('aborted', 'loading was aborted');
      const batch: { job: ReadJob; bytes: Uint8Array }[] = [];
      for (let size = 0; i < this.jobs.length && (batch.length === 0 || size < READ_BATCH_BYTES); i++) {
        const job = this.jobs[i]!;
        batch.push({ job, bytes: job.t.type === job.to ? this.K.u8(job.ptr, job.t.bytes) : new Uint8Array(job.t.bytes) });
        size += job.t.bytes;
      }
      const ranges = batch.map(({ job, bytes }) => ({ offset: job.t.offset, length: job.t.bytes, target: bytes }));
      await readRanges(this.spec.source as RangeSource, ranges, { gapBytes: READ_GAP_BYTES, maxRequestBytes: MAX_REQUEST_BYTES }, this.signal);
      for (const { job, bytes } of batch) {
        this.verify?.(job.t.name, 0, bytes);
        if (job.t.type !== job.to) this.toF32(job.t, bytes, job.ptr);
        done += job.t.bytes;
      }
      onProgress?.(done, total);
    }
  }


  private toF32(t: TensorRef, bytes: Uint8Array, ptr: number): void {
    const n = t.dims.reduce((a, b) => a * b, 1);
    toF32(t.type, bytes, n, this.K.f32(ptr, n), `${this.spec.source.name}: tensor ${t.name}`);
  }
}
