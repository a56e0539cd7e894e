// The forward pass: a Llama-family model over weights held in wasm memory. The AssemblyScript port of
// src/engine/engine.ts (which stays as the test oracle): the same kernels called in the same order on
// the same operands, so the logits are bit-identical to the TS Engine's.
//
// Memory plan (heap.alloc, 16-byte aligned; everything planned, checked against the budget and the
// address space, and allocated before the first read):
//   1. every tensor the forward pass reads, through the TensorLoader: as stored in the file (F32, F16,
//      Q8_0, Q4_0), except norms, biases, BF16 matrices and F16/BF16 neuron bundles, which become f32
//      (no kernel multiplies BF16, and the masked FFN has no F16 variant);
//   2. the KV cache: per layer, k and v of (contextLength, kvDim) f32;
//   3. scratch for one prefill tile of up to TILE tokens, and the logits (vocabSize) f32.
// Later, lazily: the packed bundles / 0-1 masks of setNeuronMask, the observer's gate/up rows (and its plain
// copy of a grouped set).
//
// One forward step over T tokens at positions pos..pos+T-1 (T = 1 in decode, ≤ TILE in prefill):
//   x  = embed(ids)                                              (T, dim)
//   per layer:  xb = rmsnorm(x)
//               q, k, v = xb·Wqᵀ, xb·Wkᵀ, xb·Wvᵀ (+ bias)       k, v written straight into the cache
//               rope(q, k); per token: attention over positions 0..p (causal)
//               x += attn·Woᵀ
//               xb = rmsnorm(x)
//               x += W2 (silu(xb·W1ᵀ) ⊙ xb·W3ᵀ)                 split FFN (standard GGUF tensors), or
//               x += Σ_j silu(g_j·xb)(u_j·xb) d_j                 over the layer's active neuron bundles
//   logits = rmsnorm(x_last) · Wclsᵀ
// Matrices use the matmul kernels when T > 1 and the matvec kernels when T = 1. For quantized weights
// the activation rows are quantized to Q8_0 once and shared by every matrix that reads them.
import { ModelConfig, ModelSpec, TensorInfo } from './spec';
import { fail } from './error';
import { TensorLoader, toF32 } from './tensors';
import { GGML_F32, GGML_F16, GGML_BF16, GGML_Q8_0, GGML_Q4_0, typeName, blockElems, rowBytes, bundleBlockBytes } from './quant';
import { quantize_row_q8_0 } from '../quant';
import { matvec_f32, matvec_f16, matvec_q8_0_q8_0, matvec_q4_0_q8_0, matmul_f32, matmul_f16, matmul_q8_0_q8_0, matmul_q4_0_q8_0, matmul_rows_q8_0_q8_0, matmul_rows_q4_0_q8_0 } from '../matvec';
import { ffn_swiglu_masked_f32, ffn_swiglu_masked_q8_0, ffn_swiglu_masked_q4_0, ffn_swiglu_grouped_q8_0, ffn_swiglu_grouped_q4_0 } from '../ffn';
import { bundle_copy } from '../grouped';
import { parallel, parStart, parWait, PAR_MATMUL, PAR_FFN, PAR_FFN_GROUPED, PAR_MIN_ROWS } from './parallel';
import { rmsnorm_f32, rope_f32, attention_f32, silu_f32, add_f32, mul_f32 } from '../ops';

/** Tokens per prefill tile: bounds the scratch memory; the matmul kernels work in 4-token groups. */
export const TILE: i32 = 32;
/** Default KV-cache length when the caller does not choose one (the model's context if shorter). */
export const DEFAULT_CONTEXT: i32 = 2048;

/** Largest single heap.alloc the runtime makes: the TLSF allocator aborts above 1 GiB (BLOCK_MAXSIZE). */
const MAX_BLOCK_BYTES: i64 = (1 << 30) - 64;
/** wasm32 linear memory ends at 4 GiB; the core leaves 64 MiB of it to the rest of the runtime. */
const ADDRESS_SPACE_BYTES: i64 = (1 << 32) - (64 << 20);

/** A tensor in wasm memory: rows × cols of GGML type `type`, row-major (a vector: rows = 1). ptr is 0
 * until Engine.plan allocates it, and stays 0 for bundles left in the file (selective opening). */
export class Weight {
  ptr: usize = 0;
  constructor(public type: i32, public rows: i32, public cols: i32) {}
}

class Layer {
  /** Split FFN: gate (hidden, dim), up (hidden, dim), down (dim, hidden); null when bundled. */
  w1: Weight | null = null;
  w3: Weight | null = null;
  w2: Weight | null = null;
  /** Bundled FFN: all n_ff bundles [gate_j | up_j | down_j], (n_ff, 3·dim), as read from the file
   * (ptr 0 when opened selectively), and the activeK ones packed contiguously at activePtr
   * (activeK = -1: none loaded yet): plain rows (the file's tensor), or a set in the grouped layout
   * (activeGrouped: the sets the neuron loader and setNeuronMask write, see assembly/grouped.ts). */
  full: Weight | null = null;
  activePtr: usize = 0;
  activeK: i32 = -1;
  activeGrouped: bool = false;
  /** Whether full's tensor (a dense opening) has been regrouped in place (Engine.groupFullTensors). */
  fullGrouped: bool = false;
  /** Split FFN under a neuron mask: a 0/1 f32 vector of hiddenDim at maskPtr, or 0 for dense. */
  maskPtr: usize = 0;
  /** setNeuronMask's buffers (allocated on first use): packed bundles (n_ff rows), the 0/1 mask. */
  packed: usize = 0;
  mask: usize = 0;
  /** (contextLength, kvDim) f32 each. */
  kCache: usize = 0;
  vCache: usize = 0;
  constructor(
    public attnNorm: Weight, // (dim) f32
    public wq: Weight, // (qDim, dim)
    public wk: Weight, // (kvDim, dim)
    public wv: Weight, // (kvDim, dim)
    public wo: Weight, // (dim, qDim)
    public bq: Weight | null, // (qDim) f32, qkvBias only
    public bk: Weight | null, // (kvDim) f32
    public bv: Weight | null, // (kvDim) f32
    public ffnNorm: Weight, // (dim) f32
  ) {}
}

/**
 * The tensors of the core, checked and sized before anything is allocated: each one's name, the type
 * it is kept as, and the Weight that receives its address. Sums the bytes for the memory budget.
 */
class CorePlan {
  names: Array<string> = [];
  kept: Array<i32> = [];
  weights: Array<Weight> = [];
  /** Bytes in the file, bytes kept in wasm memory, and the largest single block (kept or staging). */
  fileBytes: i64 = 0;
  keptBytes: i64 = 0;
  stagingBytes: i64 = 0;
  largest: i64 = 0;
  largestName: string = '';

  constructor(public spec: ModelSpec, public fileName: string) {}

  /** The tensor `name`, checked to have GGUF dims `dims` (ne0 first), a type ifprune reads (multiplies,
   * for a matrix) and the bytes its type implies. */
  tensor(name: string, dims: Array<i64>, matrix: bool): TensorInfo | null {
    const c = this.spec.config;
    if (!this.spec.tensors.has(name)) {
      fail('corrupt', this.fileName + ': tensor ' + name + ' is missing (expected shape [' + dims.join(',') + '], ne0 first)');
      return null;
    }
    const t = this.spec.tensors.get(name);
    let same = t.dims.length == dims.length;
    for (let i = 0; same && i < dims.length; i++) same = t.dims[i] == dims[i];
    if (!same) {
      fail('corrupt', this.fileName + ': tensor ' + name + ' has shape [' + t.dims.join(',') + '], expected [' + dims.join(',') + '] (ne0 first) for dim ' +
        c.dim.toString() + ', hiddenDim ' + c.hiddenDim.toString() + ', ' + c.nHeads.toString() + ' heads, ' + c.nKvHeads.toString() + ' kv heads, vocab ' + c.vocabSize.toString());
      return null;
    }
    const be = blockElems(t.type);
    if (be == 0) {
      // (every known type is multiplied as stored, or as f32 for BF16)
      fail('unsupported', this.fileName + ': tensor ' + name + ' has type ' + typeName(t.type) +
        (matrix ? ', which ifprune cannot multiply' : '; ifprune reads F32, F16, BF16, Q8_0 and Q4_0') + '. Re-quantize the model to one of these.');
      return null;
    }
    if (dims[0] % be != 0) {
      fail('corrupt', this.fileName + ': tensor ' + name + ' is ' + typeName(t.type) + ' with rows of ' + dims[0].toString() + ' weights, not a whole number of ' + be.toString() + '-weight blocks');
      return null;
    }
    const rows: i64 = dims.length > 1 ? dims[1] : 1;
    const want = rows * rowBytes(t.type, dims[0]);
    if (<i64>t.bytes != want) {
      fail('corrupt', this.fileName + ': tensor ' + name + ' holds ' + t.bytes.toString() + ' bytes; ' + typeName(t.type) + ' [' + dims.join(',') + '] takes ' + want.toString());
      return null;
    }
    return t;
  }

  private add(name: string, t: TensorInfo, to: i32, w: Weight): Weight {
    const kept: i64 = to == t.type ? <i64>t.bytes : t.elements() * 4;
    const staging: i64 = to == t.type ? 0 : <i64>t.bytes;
    this.names.push(name);
    this.kept.push(to);
    this.weights.push(w);
    this.fileBytes += <i64>t.bytes;
    this.keptBytes += kept;
    this.stagingBytes += staging;
    if (max(kept, staging) > this.largest) {
      this.largest = max(kept, staging);
      this.largestName = name;
    }
    return w;
  }

  /** A (rows, cols) weight matrix; BF16 is kept as f32, and F16 too when `f16ToF32` (neuron bundles). */
  matrix(name: string, cols: i32, rows: i32, f16ToF32: bool = false): Weight | null {
    const t = this.tensor(name, [<i64>cols, <i64>rows], true);
    if (t == null) return null;
    const to = t.type == GGML_BF16 || (f16ToF32 && t.type == GGML_F16) ? GGML_F32 : t.type;
    return this.add(name, t, to, new Weight(to, rows, cols));
  }

  /** A vector of n f32 (norm weight, bias), converted from any readable type. */
  vector(name: string, n: i32): Weight | null {
    const t = this.tensor(name, [<i64>n], false);
    if (t == null) return null;
    return this.add(name, t, GGML_F32, new Weight(GGML_F32, 1, n));
  }
}

/** Checks what the forward pass relies on (kernel shapes, divisors), as checkModelSpec does. */
function checkConfig(c: ModelConfig, fileName: string): bool {
  const where = fileName + ': ';
  if (c.dim <= 0 || c.hiddenDim <= 0 || c.nLayers <= 0 || c.nHeads <= 0 || c.nKvHeads <= 0 || c.headSize <= 0 || c.vocabSize <= 0 || c.seqLen <= 0 || c.ropeDim <= 0) {
    return fail('corrupt', where + 'dim ' + c.dim.toString() + ', hiddenDim ' + c.hiddenDim.toString() + ', nLayers ' + c.nLayers.toString() + ', nHeads ' + c.nHeads.toString() +
      ', nKvHeads ' + c.nKvHeads.toString() + ', headSize ' + c.headSize.toString() + ', vocabSize ' + c.vocabSize.toString() + ', seqLen ' + c.seqLen.toString() +
      ', ropeDim ' + c.ropeDim.toString() + ': each must be a positive integer');
  }
  if (<i64>c.nHeads * c.headSize != <i64>c.dim) return fail('corrupt', where + 'dim ' + c.dim.toString() + ' is not nHeads ' + c.nHeads.toString() + ' x headSize ' + c.headSize.toString());
  if (c.nHeads % c.nKvHeads != 0) return fail('corrupt', where + 'nHeads ' + c.nHeads.toString() + ' is not a multiple of nKvHeads ' + c.nKvHeads.toString());
  if (c.ropeDim % 2 != 0 || c.ropeDim > c.headSize) return fail('corrupt', where + 'rope dimension ' + c.ropeDim.toString() + ' must be even and at most headSize ' + c.headSize.toString());
  if (!(c.normEps > 0 && c.normEps < 1)) return fail('corrupt', where + 'RMSNorm epsilon ' + c.normEps.toString() + ' is not in (0, 1)');
  if (!(c.ropeBase > 1 && isFinite(c.ropeBase))) return fail('corrupt', where + 'RoPE base ' + c.ropeBase.toString() + ' must be a finite number > 1');
  return true;
}

/** Index of the first NaN or ±Infinity among n f32 at p, or -1. */
function firstNonFinite(p: usize, n: i32): i32 {
  for (let i = 0; i < n; i++) {
    const x = load<f32>(p + (<usize>i << 2));
    if (x - x != 0) return i;
  }
  return -1;
}

function nonFiniteName(x: f32): string {
  return isNaN(x) ? 'NaN' : x > 0 ? '+Infinity' : '-Infinity';
}

/** b bytes in MiB with one decimal, as JS (b / 2 ** 20).toFixed(1). */
function mib(b: f64): string {
  const tenths = <i64>Math.floor(b / <f64>(1 << 20) * 10 + 0.5);
  return (tenths / 10).toString() + '.' + (tenths % 10).toString() + ' MiB';
}

/** out (rows) = W (rows, cols) · x, or out (T, rows) = X (T, cols) · Wᵀ; x is Q8_0 for Q8_0/Q4_0 weights. */
function matmul(w: Weight, out: usize, x: usize, T: i32): void {
  const t = w.type;
  if (T == 1) {
    if (t == GGML_Q8_0) matvec_q8_0_q8_0(out, w.ptr, x, w.rows, w.cols);
    else if (t == GGML_Q4_0) matvec_q4_0_q8_0(out, w.ptr, x, w.rows, w.cols);
    else if (t == GGML_F16) matvec_f16(out, w.ptr, x, w.rows, w.cols);
    else matvec_f32(out, w.ptr, x, w.rows, w.cols);
  } else {
    if (t == GGML_Q8_0) matmul_q8_0_q8_0(out, w.ptr, x, w.rows, w.cols, T);
    else if (t == GGML_Q4_0) matmul_q4_0_q8_0(out, w.ptr, x, w.rows, w.cols, T);
    else if (t == GGML_F16) matmul_f16(out, w.ptr, x, w.rows, w.cols, T);
    else matmul_f32(out, w.ptr, x, w.rows, w.cols, T);
  }
}

/** out (T, dim) += Σ_j silu(gate_j·x_t)·(up_j·x_t)·down_j over k bundles of type t at `bundles`, plain rows
 * or a grouped set (F32 sets are plain either way). */
function ffnMasked(t: i32, grouped: bool, out: usize, bundles: usize, x: usize, k: i32, dim: i32, T: i32): void {
  if (t == GGML_Q8_0) {
    if (grouped) ffn_swiglu_grouped_q8_0(out, bundles, x, k, dim, T);
    else ffn_swiglu_masked_q8_0(out, bundles, x, k, dim, T);
  } else if (t == GGML_Q4_0) {
    if (grouped) ffn_swiglu_grouped_q4_0(out, bundles, x, k, dim, T);
    else ffn_swiglu_masked_q4_0(out, bundles, x, k, dim, T);
  } else {
    ffn_swiglu_masked_f32(out, bundles, x, k, dim, T);
  }
}

function isQuantized(t: i32): bool {
  return blockElems(t) > 1;
}

export class Engine {
  config: ModelConfig;
  contextLength: i32;
  /** Number of positions filled in the KV cache. */
  pos: i32 = 0;
  /** Bytes of wasm memory the core took (weights as kept + KV cache + scratch). */
  coreBytes: u64 = 0;
  /** Bytes of the file the core's tensors occupy. */
  fileBytes: u64 = 0;
  /** Whether the layers' FFNs are bundled (ifprune layout: masks pack rows) or split (masks multiply). */
  bundled: bool = false;
  /** Bundled layers: the bundle type, bytes of one bundle row, neurons per layer (-1, 0, 0 when split). */
  bundleType: i32 = -1;
  bundleRowBytes: i32 = 0;
  nFF: i32 = 0;
  /** Positions forwardObserved has added to its sums (p >= fromPos); the caller resets it with the sums. */
  observedCount: i32 = 0;

  private layers: Array<Layer>;
  private embd: Weight; // (vocab, dim)
  private cls: Weight; // (vocab, dim), token_embd when tied
  private outNorm: Weight; // (dim) f32
  // scratch (TILE tokens)
  private x: usize = 0; // (TILE, dim) the residual stream
  private xb: usize = 0; // (TILE, max(dim, qDim)) normed input / matmul output
  private xq: usize = 0; // (TILE, widest) Q8_0 copy of the current matmul input
  private q: usize = 0; // (TILE, qDim)
  private attOut: usize = 0; // (TILE, qDim)
  private att: usize = 0; // (contextLength) attention scores
  private h1: usize = 0; // (TILE, hiddenDim)
  private h3: usize = 0; // (TILE, hiddenDim)
  private logits: usize = 0; // (vocab)
  private gu: usize = 0; // (TILE, 3·n_ff) the observer's bundle rows (allocated on first use)
  private plainRows: usize = 0; // (n_ff, 3·dim) the observer's plain copy of a grouped set (first use)
  private groupTmp: usize = 0; // (16, 3·dim) one group's plain rows while regrouping; one row for setNeuronMask
  private regrouped: bool = false; // groupFullTensors has run (the file's tensors never change after it)
  private parOut: usize = 0; // (TILE, dim) f32: the worker's share of a masked FFN (threads build, first use)
  // the input the next linear() calls read, and whether xq already holds its Q8_0 copy
  private input: usize = 0;
  private inputQuantized: bool = false;

  private constructor(config: ModelConfig, contextLength: i32, layers: Array<Layer>, embd: Weight, cls: Weight, outNorm: Weight) {
    this.config = config;
    this.contextLength = contextLength;
    this.layers = layers;
    this.embd = embd;
    this.cls = cls;
    this.outNorm = outNorm;
  }

  /**
   * Plans the core: checks and sizes every tensor the forward pass reads, refuses a core over maxBytes
   * (> 0) or the address space, then adds the tensors to `loader` (addresses fixed now, bytes read by
   * the host after loader.request(), converted by loader.finish()) and allocates the KV cache and the
   * scratch. selective: an ifprune bundled file opened without its FFN bundles (setActiveBundles fills
   * them). contextLength 0 = min(seqLen, DEFAULT_CONTEXT). null with fail() on bad input.
   */
  static plan(spec: ModelSpec, loader: TensorLoader, contextLength: i32, selective: bool, maxBytes: f64, fileName: string): Engine | null {
    const c = spec.config;
    if (!checkConfig(c, fileName)) return null;
    const ctx = contextLength == 0 ? min(c.seqLen, DEFAULT_CONTEXT) : contextLength;
    if (ctx < 1) {
      fail('bad_option', 'contextLength = ' + contextLength.toString() + ": expected a positive integer (the model's context is " + c.seqLen.toString() + ')');
      return null;
    }
    if (selective && !spec.tensors.has('blk.0.ffn_bundle')) {
      fail('bad_option', fileName + ' stores its FFN as standard matrices; selective loading needs an ifprune bundled file: convert it with `ifprune convert ' + fileName + ' -o model.gguf`');
      return null;
    }
    const qDim = c.nHeads * c.headSize;
    const kvDim = c.nKvHeads * c.headSize;
    const p = new CorePlan(spec, fileName);

    // ---- the tensors: checked and sized, nothing allocated yet
    const embd = p.matrix('token_embd.weight', c.dim, c.vocabSize);
    if (embd == null) return null;
    const layers = new Array<Layer>();
    for (let l = 0; l < c.nLayers; l++) {
      const b = 'blk.' + l.toString() + '.';
      const attnNorm = p.vector(b + 'attn_norm.weight', c.dim);
      if (attnNorm == null) return null;
      const wq = p.matrix(b + 'attn_q.weight', c.dim, qDim);
      if (wq == null) return null;
      const wk = p.matrix(b + 'attn_k.weight', c.dim, kvDim);
      if (wk == null) return null;
      const wv = p.matrix(b + 'attn_v.weight', c.dim, kvDim);
      if (wv == null) return null;
      const wo = p.matrix(b + 'attn_output.weight', qDim, c.dim);
      if (wo == null) return null;
      let bq: Weight | null = null, bk: Weight | null = null, bv: Weight | null = null;
      if (c.qkvBias) {
        if ((bq = p.vector(b + 'attn_q.bias', qDim)) == null) return null;
        if ((bk = p.vector(b + 'attn_k.bias', kvDim)) == null) return null;
        if ((bv = p.vector(b + 'attn_v.bias', kvDim)) == null) return null;
      }
      const ffnNorm = p.vector(b + 'ffn_norm.weight', c.dim);
      if (ffnNorm == null) return null;
      const L = new Layer(attnNorm, wq, wk, wv, wo, bq, bk, bv, ffnNorm);
      const bundle = b + 'ffn_bundle';
      if (spec.tensors.has(bundle)) {
        if (selective) {
          // Checked like a planned tensor, but left in the file: the neuron cache reads its rows.
          const t = p.tensor(bundle, [<i64>(3 * c.dim), <i64>c.hiddenDim], true);
          if (t == null) return null;
          if (t.type != GGML_F32 && t.type != GGML_Q8_0 && t.type != GGML_Q4_0) {
            fail('unsupported', fileName + ": selective loading needs bundles the masked kernel runs as stored (F32, Q8_0, Q4_0); this file's are " + typeName(t.type) + ': convert with --type q8_0, q4_0 or f32');
            return null;
          }
          L.full = new Weight(t.type, c.hiddenDim, 3 * c.dim);
        } else {
          const full = p.matrix(bundle, 3 * c.dim, c.hiddenDim, true);
          if (full == null) return null;
          L.full = full;
          L.activeK = full.rows;
        }
      } else {
        if ((L.w1 = p.matrix(b + 'ffn_gate.weight', c.dim, c.hiddenDim)) == null) return null;
        if ((L.w3 = p.matrix(b + 'ffn_up.weight', c.dim, c.hiddenDim)) == null) return null;
        if ((L.w2 = p.matrix(b + 'ffn_down.weight', c.hiddenDim, c.dim)) == null) return null;
      }
      layers.push(L);
    }
    const outNorm = p.vector('output_norm.weight', c.dim);
    if (outNorm == null) return null;
    let cls: Weight | null = embd;
    if (!c.tiedEmbeddings && (cls = p.matrix('output.weight', c.dim, c.vocabSize)) == null) return null;

    // ---- sizes: weights, KV cache, scratch (as src/engine/engine.ts allocates them)
    const widest = max(max(c.dim, c.hiddenDim), qDim);
    const kvBytes: i64 = <i64>ctx * kvDim * 4; // one layer's k (or v)
    const scratch: Array<i64> = [
      <i64>TILE * c.dim * 4, // x
      <i64>TILE * max(c.dim, qDim) * 4, // xb
      <i64>TILE * max<i64>(<i64>widest * 4, rowBytes(GGML_Q8_0, (<i64>widest + 31) / 32 * 32)), // xq
      <i64>TILE * qDim * 4, // q
      <i64>TILE * qDim * 4, // attOut
      <i64>ctx * 4, // att
      <i64>TILE * c.hiddenDim * 4, // h1
      <i64>TILE * c.hiddenDim * 4, // h3
      <i64>c.vocabSize * 4, // logits
    ];
    let scratchBytes: i64 = 0;
    let largest = max(p.largest, kvBytes);
    for (let i = 0; i < scratch.length; i++) {
      scratchBytes += scratch[i];
      largest = max(largest, scratch[i]);
    }
    const kvTotal: i64 = <i64>c.nLayers * 2 * kvBytes;
    const core: i64 = p.keptBytes + kvTotal + scratchBytes;
    const what = ": the model's core needs " + mib(<f64>core) + ' of wasm memory (weights ' + mib(<f64>p.fileBytes) + ', KV cache for ' + ctx.toString() + ' positions ' + mib(<f64>kvTotal) + ', scratch)';
    if (maxBytes > 0 && <f64>core > maxBytes) {
      fail('out_of_memory', fileName + what + ' but the memory budget is ' + mib(maxBytes) + '; raise memoryBudget, lower contextLength, or use a smaller quantization (Q4_0)');
      return null;
    }
    if ((<i64>memory.size() << 16) + core + p.stagingBytes > ADDRESS_SPACE_BYTES || largest > MAX_BLOCK_BYTES) {
      fail('out_of_memory', fileName + what + (largest > MAX_BLOCK_BYTES ? ' with a block of ' + mib(<f64>largest) + ' (over the 1 GiB a wasm allocation may take)' : ', beyond the 4 GiB a wasm module can address') +
        '; lower contextLength, or use a smaller model or quantization (Q4_0)');
      return null;
    }

    // ---- allocation: tensors (through the loader), KV cache, scratch
    for (let i = 0; i < p.weights.length; i++) {
      const ptr = loader.add(p.names[i], p.kept[i]);
      if (ptr == 0) return null;
      p.weights[i].ptr = ptr;
    }
    for (let l = 0; l < layers.length; l++) {
      layers[l].kCache = heap.alloc(<usize>kvBytes);
      layers[l].vCache = heap.alloc(<usize>kvBytes);
      const full = layers[l].full;
      if (full != null && full.ptr != 0) layers[l].activePtr = full.ptr;
    }
    const e = new Engine(c, ctx, layers, embd, cls == null ? embd : cls, outNorm);
    e.x = heap.alloc(<usize>scratch[0]);
    e.xb = heap.alloc(<usize>scratch[1]);
    e.xq = heap.alloc(<usize>scratch[2]);
    e.q = heap.alloc(<usize>scratch[3]);
    e.attOut = heap.alloc(<usize>scratch[4]);
    e.att = heap.alloc(<usize>scratch[5]);
    e.h1 = heap.alloc(<usize>scratch[6]);
    e.h3 = heap.alloc(<usize>scratch[7]);
    e.logits = heap.alloc(<usize>scratch[8]);
    e.coreBytes = <u64>core;
    e.fileBytes = <u64>p.fileBytes;
    const full0 = layers[0].full;
    if (full0 != null) {
      e.bundled = true;
      e.bundleType = full0.type;
      e.bundleRowBytes = <i32>rowBytes(full0.type, full0.cols);
      e.nFF = full0.rows;
    }
    return e;
  }

  /** Releases every buffer the engine allocated (weights, KV cache, scratch, masks), after the loader
   * finished; forward then fails ('the model is closed'). For a session that reopens the model. */
  free(): void {
    const weights: Array<Weight | null> = [this.embd, this.cls !== this.embd ? this.cls : null, this.outNorm];
    const bufs: Array<usize> = [this.x, this.xb, this.xq, this.q, this.attOut, this.att, this.h1, this.h3, this.logits, this.gu, this.plainRows, this.groupTmp, this.parOut];
    for (let l = 0; l < this.layers.length; l++) {
      const L = this.layers[l];
      const lw: Array<Weight | null> = [L.attnNorm, L.wq, L.wk, L.wv, L.wo, L.bq, L.bk, L.bv, L.ffnNorm, L.w1, L.w3, L.w2, L.full];
      for (let i = 0; i < lw.length; i++) weights.push(lw[i]);
      const lb: Array<usize> = [L.kCache, L.vCache, L.packed, L.mask];
      for (let i = 0; i < lb.length; i++) bufs.push(lb[i]);
    }
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i];
      if (w != null) bufs.push(w.ptr);
    }
    for (let i = 0; i < bufs.length; i++) if (bufs[i] != 0) heap.free(bufs[i]);
    this.layers = [];
    this.pos = 0;
  }

  /** Forgets the KV cache (the next forward starts at position 0). */
  reset(): void {
    this.pos = 0;
  }

  /** Keeps the first `pos` cached positions and forgets the rest (the next forward starts at pos). */
  rewind(pos: i32): bool {
    if (pos < 0 || pos > this.pos) return fail('bad_option', 'rewind(' + pos.toString() + '): expected an integer in [0, ' + this.pos.toString() + ']');
    this.pos = pos;
    return true;
  }

  /** Runs n token ids (i32 at `ids`) at positions pos..; returns the address of the last one's
   * (vocabSize) f32 logits, valid until the next forward, or 0 with fail(). */
  forward(ids: usize, n: i32): usize {
    return this.run(ids, n, 0, false, 0, null) && this.finiteLogits() ? this.logits : 0;
  }

  /** The last forward's logits are all finite, else fail('numeric'): a NaN or ±∞ logit (damaged weights,
   * an overflowed activation) would otherwise be sampled into text. One pass over vocabSize f32, against
   * the classifier's vocabSize × dim. */
  private finiteLogits(): bool {
    const i = firstNonFinite(this.logits, this.config.vocabSize);
    if (i < 0) return true;
    return fail('numeric', 'the model produced a ' + nonFiniteName(load<f32>(this.logits + (<usize>i << 2))) + ' logit (first at token ' + i.toString() + '); the weights are corrupt or an activation overflowed');
  }

  /** Runs n token ids and writes every one's logits to out, (n, vocabSize) f32 (perplexity). */
  forwardAll(ids: usize, n: i32, out: usize): bool {
    return this.run(ids, n, out, false, 0, null);
  }

  /**
   * forward(), also adding |h_j| of every FFN neuron j (file order, before any mask) at each position
   * p >= fromPos to sums[l][j] and counting those positions in observedCount: the sums of
   * src/pruning/activations.ts NeuronImportance over the window [fromPos, ∞), h = silu(gate·x)·(up·x).
   * sums: nLayers arrays of n_ff f64 (the caller zeroes them and observedCount).
   */
  forwardObserved(ids: usize, n: i32, fromPos: i32, sums: Array<Float64Array>): usize {
    const c = this.config;
    if (sums.length < c.nLayers) {
      fail('bad_option', 'forwardObserved: ' + sums.length.toString() + ' sum arrays for ' + c.nLayers.toString() + ' layers');
      return 0;
    }
    for (let l = 0; l < c.nLayers; l++) {
      if (sums[l].length < c.hiddenDim) {
        fail('bad_option', 'forwardObserved: layer ' + l.toString() + "'s sums hold " + sums[l].length.toString() + ' values for ' + c.hiddenDim.toString() + ' neurons');
        return 0;
      }
      const full = this.layers[l].full;
      if (full != null && full.ptr == 0 && this.layers[l].activeK != full.rows) {
        fail('bad_option', 'layer ' + l.toString() + ': observing FFN activations needs every neuron bundle active (load density 1 first)');
        return 0;
      }
    }
    return this.run(ids, n, 0, true, fromPos, sums) && this.finiteLogits() ? this.logits : 0;
  }

  private run(ids: usize, n: i32, all: usize, observe: bool, fromPos: i32, sums: Array<Float64Array> | null): bool {
    const c = this.config;
    if (this.layers.length == 0) return fail('bad_option', 'the model is closed');
    if (n <= 0) return fail('bad_option', 'forward needs at least one token');
    if (<i64>this.pos + n > <i64>this.contextLength) {
      return fail('context_overflow', (this.pos + n).toString() + ' tokens do not fit the context of ' + this.contextLength.toString() + ' (' + this.pos.toString() + ' already used, ' + n.toString() +
        ' more); shorten the prompt or open the model with a larger contextLength (the model supports ' + c.seqLen.toString() + ')');
    }
    for (let i = 0; i < n; i++) {
      const id = load<i32>(ids + (<usize>i << 2));
      if (id < 0 || id >= c.vocabSize) return fail('bad_option', 'token id ' + id.toString() + ' is outside the vocabulary of ' + c.vocabSize.toString());
    }
    for (let l = 0; l < this.layers.length; l++) {
      const L = this.layers[l];
      if (L.full != null && L.activeK < 0) {
        return fail('bad_option', 'layer ' + l.toString() + "'s FFN neurons are not loaded: the model was opened for selective loading; load neurons for an instruction first (model.instruct + model.load, or generate with a density)");
      }
    }
    if (!this.regrouped) this.groupFullTensors();
    for (let t0 = 0; t0 < n; t0 += TILE) {
      if (!this.forwardTile(ids + (<usize>t0 << 2), min(TILE, n - t0), all == 0 ? 0 : all + <usize>t0 * (<usize>c.vocabSize << 2), observe, fromPos, sums)) return false;
    }
    return true;
  }

  /**
   * T ≤ TILE tokens at positions pos..pos+T-1 through every layer and the classifier; all != 0: every
   * token's logits go to all (T, vocab). false with fail() when an FFN input is not finite.
   */
  private forwardTile(ids: usize, T: i32, all: usize, observe: bool, fromPos: i32, sums: Array<Float64Array> | null): bool {
    const c = this.config;
    const dim = c.dim;
    const qDim = c.nHeads * c.headSize;
    const kvDim = c.nKvHeads * c.headSize;
    const hid = c.hiddenDim;
    const neox: i32 = c.ropeNeox ? 1 : 0;
    const rowX = <usize>dim << 2; // bytes of one token's x
    const rowQ = <usize>qDim << 2;
    const rowKV = <usize>kvDim << 2;

    // x = embedding rows                                            (T, dim)
    for (let t = 0; t < T; t++) this.embed(load<i32>(ids + (<usize>t << 2)), this.x + <usize>t * rowX);

    for (let l = 0; l < this.layers.length; l++) {
      const L = this.layers[l];
      // ---- attention
      for (let t = 0; t < T; t++) rmsnorm_f32(this.xb + <usize>t * rowX, this.x + <usize>t * rowX, L.attnNorm.ptr, dim, c.normEps);
      const kOut = L.kCache + <usize>this.pos * rowKV; // (T, kvDim) rows of the cache
      const vOut = L.vCache + <usize>this.pos * rowKV;
      this.setInput(this.xb);
      this.linear(L.wq, this.q, L.bq, T); // (T, qDim)
      this.linear(L.wk, kOut, L.bk, T); // (T, kvDim)
      this.linear(L.wv, vOut, L.bv, T); // (T, kvDim)
      for (let t = 0; t < T; t++) {
        const p = this.pos + t;
        rope_f32(this.q + <usize>t * rowQ, c.nHeads, c.headSize, c.ropeDim, p, c.ropeBase, neox);
        rope_f32(kOut + <usize>t * rowKV, c.nKvHeads, c.headSize, c.ropeDim, p, c.ropeBase, neox);
      }
      for (let t = 0; t < T; t++) {
        attention_f32(this.attOut + <usize>t * rowQ, this.q + <usize>t * rowQ, L.kCache, L.vCache, this.att, c.nHeads, c.nKvHeads, c.headSize, this.pos + t + 1);
      }
      this.setInput(this.attOut);
      this.linear(L.wo, this.xb, null, T); // (T, dim)
      add_f32(this.x, this.xb, T * dim);

      // ---- FFN
      for (let t = 0; t < T; t++) rmsnorm_f32(this.xb + <usize>t * rowX, this.x + <usize>t * rowX, L.ffnNorm.ptr, dim, c.normEps);
      const full = L.full;
      if (full != null) {
        // x += Σ_j silu(gate_j·xb)·(up_j·xb)·down_j over the active bundles
        // The masked FFN quantizes its input and skips blocks whose values are not finite, so a NaN or
        // infinite input would vanish (and the text turn to garbage) instead of reaching the logits.
        const bad = firstNonFinite(this.xb, T * dim);
        if (bad >= 0) {
          return fail('numeric', 'layer ' + l.toString() + ': the FFN input holds a ' + nonFiniteName(load<f32>(this.xb + (<usize>bad << 2))) + ' (token ' + (bad / dim).toString() +
            ' of the step, element ' + (bad % dim).toString() + '); the weights are corrupt (blk.' + l.toString() + '.ffn_norm.weight or an earlier layer) or an activation overflowed');
        }
        let xin = this.xb;
        if (isQuantized(full.type)) {
          quantize_row_q8_0(this.xq, this.xb, dim * T);
          xin = this.xq;
        }
        if (observe && sums != null) this.observeBundles(l, full, T, fromPos, sums);
        const k = L.activeK;
        if (T > 1 && isQuantized(full.type) && k >= 2 * PAR_MIN_ROWS) {
          // Two shares, whole groups each: bundles [g, k) summed into parOut (by the worker, when there is
          // one) while [0, g) go into x, then parOut is added. The same order with or without a worker, so
          // threads: 2 gives the tokens of threads: 1.
          const g = (k >> 5) << 4;
          const rest = L.activePtr + <usize>g * <usize>this.bundleRowBytes;
          if (this.parOut == 0) this.parOut = heap.alloc(<usize>TILE * <usize>dim * 4);
          if (parallel()) {
            parStart(L.activeGrouped ? PAR_FFN_GROUPED : PAR_FFN, full.type, this.parOut, rest, xin, k - g, dim, T, 0, 0);
          } else {
            memory.fill(this.parOut, 0, <usize>T * <usize>dim * 4);
            ffnMasked(full.type, L.activeGrouped, this.parOut, rest, xin, k - g, dim, T);
          }
          ffnMasked(full.type, L.activeGrouped, this.x, L.activePtr, xin, g, dim, T);
          if (parallel()) parWait();
          add_f32(this.x, this.parOut, T * dim);
        } else {
          ffnMasked(full.type, L.activeGrouped, this.x, L.activePtr, xin, k, dim, T);
        }
      } else {
        // PyTorch: x += w2(F.silu(w1(x)) * w3(x))
        const w1 = L.w1, w3 = L.w3, w2 = L.w2;
        if (w1 == null || w3 == null || w2 == null) continue; // (plan sets all three for a split layer)
        this.setInput(this.xb);
        this.linear(w1, this.h1, null, T); // (T, hid)
        this.linear(w3, this.h3, null, T); // (T, hid)
        silu_f32(this.h1, T * hid);
        mul_f32(this.h1, this.h3, T * hid);
        if (observe && sums != null) {
          const s = sums[l];
          for (let t = 0; t < T; t++) {
            if (this.pos + t < fromPos) continue;
            const h = this.h1 + <usize>t * (<usize>hid << 2);
            for (let j = 0; j < hid; j++) unchecked(s[j] += Math.abs(<f64>load<f32>(h + (<usize>j << 2))));
          }
        }
        if (L.maskPtr != 0) for (let t = 0; t < T; t++) mul_f32(this.h1 + <usize>t * (<usize>hid << 2), L.maskPtr, hid);
        this.setInput(this.h1);
        this.linear(w2, this.xb, null, T); // (T, dim)
        add_f32(this.x, this.xb, T * dim);
      }
    }
    if (observe) for (let t = 0; t < T; t++) if (this.pos + t >= fromPos) this.observedCount++;
    this.pos += T;

    // ---- classifier: logits = rmsnorm(x_t) · Wclsᵀ                 (vocab)
    for (let t = all != 0 ? 0 : T - 1; t < T; t++) {
      rmsnorm_f32(this.xb, this.x + <usize>t * rowX, this.outNorm.ptr, dim, c.normEps);
      this.setInput(this.xb);
      this.linear(this.cls, this.logits, null, 1);
      if (all != 0) memory.copy(all + <usize>t * (<usize>c.vocabSize << 2), this.logits, <usize>c.vocabSize << 2);
    }
    return true;
  }

  /**
   * |h| sums of every neuron of a bundled layer: the bundle tensor read as a (3·n_ff, dim) matrix has
   * gate_j at row 3j and up_j at row 3j + 1, so one matmul gives them all (plus the unused down rows:
   * 1.5× the gate/up work, paid only when observing). h is computed in f64 and rounded to f32, as the
   * TS engine stores it in a Float32Array.
   */
  private observeBundles(l: i32, full: Weight, T: i32, fromPos: i32, sums: Array<Float64Array>): void {
    const nff = full.rows;
    // Every bundle, in row order: the file's tensor (dense opening) or an active set of all rows
    // (forwardObserved checked activeK), as plain rows: a grouped set is copied out to them first.
    const L = this.layers[l];
    let ptr = full.ptr != 0 ? full.ptr : L.activePtr;
    if (full.ptr != 0 ? L.fullGrouped : L.activeGrouped) {
      const rb = <usize>rowBytes(full.type, full.cols);
      if (this.plainRows == 0) this.plainRows = heap.alloc(<usize>nff * rb);
      for (let i = 0; i < nff; i++) bundle_copy(ptr, nff, i, this.plainRows + <usize>i * rb, rb, bundleBlockBytes(full.type), false);
      ptr = this.plainRows;
    }
    if (this.gu == 0) this.gu = heap.alloc(<usize>TILE * 3 * <usize>nff * 4);
    const w = new Weight(full.type, 3 * nff, this.config.dim); // (3·n_ff, dim)
    w.ptr = ptr;
    this.setInput(this.xb);
    this.linear(w, this.gu, null, T);
    const s = sums[l];
    for (let t = 0; t < T; t++) {
      if (this.pos + t < fromPos) continue;
      const o = this.gu + <usize>t * 3 * <usize>nff * 4; // token t's (3·n_ff) outputs
      for (let j = 0; j < nff; j++) {
        const g = <f64>load<f32>(o + <usize>(3 * j) * 4);
        const h = <f32>((g / (1 + Math.exp(-g))) * <f64>load<f32>(o + <usize>(3 * j + 1) * 4));
        unchecked(s[j] += Math.abs(<f64>h));
      }
    }
  }

  // ---- neuron masks (pruning) -----------------------------------------------------------------

  /**
   * Restricts layer l's FFN to the neurons `ids` (each in [0, n_ff), at most n_ff of them), or back to
   * all with null. Exact: the result equals the FFN with every other neuron's activation zeroed.
   * Bundled layers pack the selected bundles contiguously (the masked kernel then runs k of them);
   * split layers multiply the activations by a 0/1 mask (no speed-up: for evaluation).
   */
  setNeuronMask(l: i32, ids: Int32Array | null): bool {
    const c = this.config;
    if (l < 0 || l >= this.layers.length) return fail('bad_option', 'layer ' + l.toString() + ' does not exist (the model has ' + c.nLayers.toString() + ')');
    const L = this.layers[l];
    if (ids != null) {
      for (let i = 0; i < ids.length; i++) {
        const j = ids[i];
        if (j < 0 || j >= c.hiddenDim) return fail('bad_option', 'layer ' + l.toString() + ': neuron id ' + j.toString() + ' is outside [0, ' + c.hiddenDim.toString() + ')');
      }
    }
    const full = L.full;
    if (full != null) {
      if (full.ptr == 0) return fail('bad_option', 'layer ' + l.toString() + ': the model was opened for selective loading; choose neurons with the neuron loader instead');
      if (ids == null) {
        L.activePtr = full.ptr;
        L.activeK = full.rows;
        L.activeGrouped = L.fullGrouped;
        return true;
      }
      if (ids.length > full.rows) return fail('bad_option', 'layer ' + l.toString() + ': ' + ids.length.toString() + ' neuron ids for ' + full.rows.toString() + ' neurons');
      const rb = <usize>rowBytes(full.type, full.cols);
      const wb = bundleBlockBytes(full.type);
      if (L.packed == 0) L.packed = heap.alloc(<usize>full.rows * rb);
      for (let i = 0; i < ids.length; i++) {
        let row = full.ptr + <usize>ids[i] * rb;
        if (L.fullGrouped) {
          row = this.groupScratch(rb);
          bundle_copy(full.ptr, full.rows, ids[i], row, rb, wb, false);
        }
        bundle_copy(L.packed, ids.length, i, row, rb, wb, true);
      }
      L.activePtr = L.packed;
      L.activeK = ids.length;
      L.activeGrouped = true;
    } else {
      if (ids == null) {
        L.maskPtr = 0;
        return true;
      }
      const bytes = <usize>c.hiddenDim << 2;
      if (L.mask == 0) L.mask = heap.alloc(bytes);
      memory.fill(L.mask, 0, bytes);
      for (let i = 0; i < ids.length; i++) store<f32>(L.mask + (<usize>ids[i] << 2), 1);
      L.maskPtr = L.mask;
    }
    return true;
  }

  /**
   * Regroups each layer's own tensor of bundles (a dense opening of a bundled file) in place, once, before
   * the first forward pass (the loader has filled and verified it by then): the grouped kernel then runs
   * density 1 too, at parity with the standard layout instead of ~0.75× (docs/performance.md). Group g
   * occupies the same bytes in both layouts, so one group's rows are copied out and placed back; the
   * last n_ff mod 16 rows stay as they are. setNeuronMask and the observer read rows back through the
   * layout.
   */
  private groupFullTensors(): void {
    this.regrouped = true;
    for (let l = 0; l < this.layers.length; l++) {
      const L = this.layers[l];
      const full = L.full;
      if (full == null || full.ptr == 0) continue;
      const wb = bundleBlockBytes(full.type);
      if (wb == 0) continue; // F32 sets stay plain
      L.fullGrouped = true;
      const rb = <usize>rowBytes(full.type, full.cols);
      const tmp = this.groupScratch(16 * rb);
      for (let g = 0; g + 16 <= full.rows; g += 16) {
        memory.copy(tmp, full.ptr + <usize>g * rb, 16 * rb);
        for (let r = 0; r < 16; r++) bundle_copy(full.ptr, full.rows, g + r, tmp + <usize>r * rb, rb, wb, true);
      }
      if (L.activePtr == full.ptr) L.activeGrouped = true;
    }
  }

  /** groupTmp, at least bytes long (bundle rows of one layer type: every layer's rows are the same size,
   * so it is allocated once at 16 rows). */
  private groupScratch(bytes: usize): usize {
    if (this.groupTmp == 0) this.groupTmp = heap.alloc(max<usize>(bytes, 16 * <usize>this.bundleRowBytes));
    return this.groupTmp;
  }

  /** Points layer l's masked FFN at k bundles at ptr (bundle type and row size, in wasm memory): plain rows,
   * or a set in the grouped layout (grouped: the neuron loader's, see assembly/grouped.ts). */
  setActiveBundles(l: i32, ptr: usize, k: i32, grouped: bool): bool {
    const full = l >= 0 && l < this.layers.length ? this.layers[l].full : null;
    if (full == null) return fail('bad_option', 'layer ' + l.toString() + ' has no bundled FFN');
    if (k < 0 || k > full.rows) return fail('bad_option', 'layer ' + l.toString() + ': k = ' + k.toString() + ' is not in [0, ' + full.rows.toString() + ']');
    const end: u64 = <u64>ptr + <u64>k * <u64>rowBytes(full.type, full.cols);
    if (end > (<u64>memory.size() << 16)) return fail('out_of_bounds', 'layer ' + l.toString() + ': bundles [' + ptr.toString() + ', ' + end.toString() + ') lie outside wasm memory');
    this.layers[l].activePtr = ptr;
    this.layers[l].activeK = k;
    this.layers[l].activeGrouped = grouped;
    return true;
  }

  /** Layer l's active neuron count (n_ff when dense; 0 when no bundles are loaded); -1 with fail() for
   * a layer that does not exist. */
  activeNeurons(l: i32): i32 {
    if (l < 0 || l >= this.layers.length) {
      fail('bad_option', 'layer ' + l.toString() + ' does not exist (the model has ' + this.config.nLayers.toString() + ')');
      return -1;
    }
    const L = this.layers[l];
    if (L.full != null) return max(L.activeK, 0);
    if (L.maskPtr == 0) return this.config.hiddenDim;
    let n: f32 = 0;
    for (let j = 0; j < this.config.hiddenDim; j++) n += load<f32>(L.maskPtr + (<usize>j << 2));
    return <i32>n;
  }

  // ---- helpers ----------------------------------------------------------------------------------

  /** The f32 rows the next linear() calls read (their Q8_0 copy is made once, by the first that needs it). */
  private setInput(x: usize): void {
    this.input = x;
    this.inputQuantized = false;
  }

  /** out (T, w.rows) = input (T, w.cols) · wᵀ (+ bias). */
  private linear(w: Weight, out: usize, bias: Weight | null, T: i32): void {
    let x = this.input;
    if (isQuantized(w.type)) {
      if (!this.inputQuantized) {
        quantize_row_q8_0(this.xq, this.input, w.cols * T);
        this.inputQuantized = true;
      }
      x = this.xq;
    }
    if (parallel() && T > 1 && isQuantized(w.type) && w.rows >= 2 * PAR_MIN_ROWS) {
      // the worker computes rows [split, rows) while this thread computes [0, split): exactly one matmul
      const split = (w.rows >> 1) & ~3;
      parStart(PAR_MATMUL, w.type, out, w.ptr, x, w.rows, w.cols, T, split, w.rows);
      if (w.type == GGML_Q8_0) matmul_rows_q8_0_q8_0(out, w.ptr, x, w.rows, w.cols, T, 0, split);
      else matmul_rows_q4_0_q8_0(out, w.ptr, x, w.rows, w.cols, T, 0, split);
      parWait();
    } else {
      matmul(w, out, x, T);
    }
    if (bias != null) for (let t = 0; t < T; t++) add_f32(out + <usize>t * (<usize>w.rows << 2), bias.ptr, w.rows);
  }

  /** Writes the f32 embedding of token `id` at `out` (dim). */
  private embed(id: i32, out: usize): void {
    const e = this.embd;
    toF32(e.type, e.ptr + <usize>id * <usize>rowBytes(e.type, e.cols), out, e.cols);
  }
}
