/**
 * The Llama forward pass in plain TypeScript, one token at a time, over the reference kernels — the
 * oracle the wasm engine (src/engine/engine.ts) is tested against. It shares no code with the engine
 * beyond the ModelSpec and the reference kernels, and is written for clarity, not speed: it follows
 * llama2.c's run.c step by step (x = embedding; per layer attention and FFN with residuals; classifier).
 *
 * Numerics match the engine's: activations are f32; for Q8_0 / Q4_0 weights the activation vector is
 * quantized to Q8_0 first (as the kernels require), so both compute the same integer dot products.
 */
import type { ModelSpec, TensorRef } from '../formats/model-spec.ts';
import { QUANT, rowBytes } from '../formats/quant.ts';
import { readAt } from '../sources/read.ts';
import { matvecF32, matvecF16, matvecQ8_0Q8_0, matvecQ4_0Q8_0 } from './matvec.ts';
import { quantizeRowQ8_0, toF32 } from '../formats/quant-values.ts';
import { rmsnormF32, ropeF32, attentionF32, siluF32, mulF32, addF32 } from './ops.ts';
import { ffnSwigluMaskedF32, ffnSwigluMaskedQ8_0, ffnSwigluMaskedQ4_0 } from './ffn.ts';

interface Tensor {
  ref: TensorRef;
  bytes: Uint8Array;
}

/** A tensor's values as f32. */
function asF32(t: Tensor): Float32Array {
  return toF32(t.ref.type, t.bytes, t.ref.dims.reduce((a, b) => a * b, 1), undefined, `reference forward: tensor ${t.ref.name}`);
}

export class ReferenceForward {
  private readonly t = new Map<string, Tensor>();
  private readonly f32 = new Map<string, Float32Array>();
  private readonly kCache: Float32Array[] = [];
  /** Per layer: the FFN neurons in use (null = all). */
  private readonly masks: (Int32Array | null)[] = [];
  private readonly vCache: Float32Array[] = [];

  private constructor(readonly spec: ModelSpec) {
    const c = spec.config;
    const kvDim = c.nKvHeads * c.headSize;
    for (let l = 0; l < c.nLayers; l++) {
      this.kCache.push(new Float32Array(c.seqLen * kvDim));
      this.vCache.push(new Float32Array(c.seqLen * kvDim));
    }
  }

  static async load(spec: ModelSpec): Promise<ReferenceForward> {
    const r = new ReferenceForward(spec);
    for (const ref of spec.tensors.values()) r.t.set(ref.name, { ref, bytes: await readAt(spec.source, ref.offset, ref.bytes, ref.name) });
    return r;
  }

  /** A tensor's values as f32 (cached). */
  vec(name: string): Float32Array {
    let v = this.f32.get(name);
    if (!v) this.f32.set(name, (v = asF32(this.t.get(name)!)));
    return v;
  }

  /** out (rows) = W x, with x quantized to Q8_0 for quantized W. */
  private matvec(name: string, x: Float32Array): Float32Array {
    const w = this.t.get(name)!;
    const [cols, rows = 1] = w.ref.dims as [number, number?];
    const out = new Float32Array(rows);
    switch (w.ref.type) {
      case QUANT.F32:
      case QUANT.BF16:
        matvecF32(out, this.vec(name), x, rows, cols);
        break;
      case QUANT.F16:
        matvecF16(out, w.bytes, x, rows, cols);
        break;
      case QUANT.Q8_0:
        matvecQ8_0Q8_0(out, w.bytes, q8(x), rows, cols);
        break;
      case QUANT.Q4_0:
        matvecQ4_0Q8_0(out, w.bytes, q8(x), rows, cols);
        break;
      default:
        throw new Error(`reference forward: ${name} has unsupported type ${w.ref.type.name}`);
    }
    return out;
  }

  /** Restricts layer l's FFN to neurons `ids` (bundle rows / hidden units), or all with null. */
  setMask(l: number, ids: ArrayLike<number> | null): void {
    this.masks[l] = ids ? Int32Array.from(ids) : null;
  }

  /** The logits after token `id` at position `pos` (positions must come in order from 0). */
  forward(id: number, pos: number): Float32Array {
    const c = this.spec.config;
    const dim = c.dim;
    const kvDim = c.nKvHeads * c.headSize;
    // x = embedding row of id
    const embd = this.t.get('token_embd.weight')!;
    const rb = rowBytes(embd.ref.type, dim);
    const x = asF32({ ref: { ...embd.ref, dims: [dim] }, bytes: embd.bytes.subarray(id * rb, (id + 1) * rb) });
    const xb = new Float32Array(dim);
    for (let l = 0; l < c.nLayers; l++) {
      const b = `blk.${l}.`;
      rmsnormF32(xb, x, this.vec(b + 'attn_norm.weight'), dim, c.normEps);
      const q = this.matvec(b + 'attn_q.weight', xb);
      const k = this.matvec(b + 'attn_k.weight', xb);
      const v = this.matvec(b + 'attn_v.weight', xb);
      if (c.qkvBias) {
        addF32(q, this.vec(b + 'attn_q.bias'), q.length);
        addF32(k, this.vec(b + 'attn_k.bias'), kvDim);
        addF32(v, this.vec(b + 'attn_v.bias'), kvDim);
      }
      const neox = c.ropeStyle === 'neox';
      ropeF32(q, c.nHeads, c.headSize, c.ropeDim, pos, c.ropeBase, neox);
      ropeF32(k, c.nKvHeads, c.headSize, c.ropeDim, pos, c.ropeBase, neox);
      this.kCache[l]!.set(k, pos * kvDim);
      this.vCache[l]!.set(v, pos * kvDim);
      const att = new Float32Array(pos + 1);
      const attOut = new Float32Array(q.length);
      attentionF32(attOut, q, this.kCache[l]!, this.vCache[l]!, att, c.nHeads, c.nKvHeads, c.headSize, pos + 1);
      addF32(x, this.matvec(b + 'attn_output.weight', attOut), dim);

      rmsnormF32(xb, x, this.vec(b + 'ffn_norm.weight'), dim, c.normEps);
      const bundle = this.t.get(b + 'ffn_bundle');
      const mask = this.masks[l] ?? null;
      if (bundle) {
        const rows = bundle.ref.dims[1]!;
        const ids = mask ?? Int32Array.from({ length: rows }, (_, j) => j);
        if (bundle.ref.type === QUANT.F32 || bundle.ref.type === QUANT.F16) {
          const all = this.vec(b + 'ffn_bundle');
          const packed = new Float32Array(ids.length * 3 * dim);
          ids.forEach((r, i) => packed.set(all.subarray(r * 3 * dim, (r + 1) * 3 * dim), i * 3 * dim));
          ffnSwigluMaskedF32(x, packed, xb, ids.length, dim, 1);
        } else {
          const rb = rowBytes(bundle.ref.type, 3 * dim);
          const packed = new Uint8Array(ids.length * rb);
          ids.forEach((r, i) => packed.set(bundle.bytes.subarray(r * rb, (r + 1) * rb), i * rb));
          if (bundle.ref.type === QUANT.Q8_0) ffnSwigluMaskedQ8_0(x, packed, q8(xb), ids.length, dim, 1);
          else ffnSwigluMaskedQ4_0(x, packed, q8(xb), ids.length, dim, 1);
        }
      } else {
        const h1 = this.matvec(b + 'ffn_gate.weight', xb);
        const h3 = this.matvec(b + 'ffn_up.weight', xb);
        siluF32(h1, h1.length);
        mulF32(h1, h3, h1.length);
        if (mask) {
          const keep = new Uint8Array(h1.length);
          for (const j of mask) keep[j] = 1;
          for (let j = 0; j < h1.length; j++) if (!keep[j]) h1[j] = 0;
        }
        addF32(x, this.matvec(b + 'ffn_down.weight', h1), dim);
      }
    }
    rmsnormF32(xb, x, this.vec('output_norm.weight'), dim, c.normEps);
    return this.matvec(c.tiedEmbeddings ? 'token_embd.weight' : 'output.weight', xb);
  }
}

function q8(x: Float32Array): Uint8Array {
  const out = new Uint8Array(rowBytes(QUANT.Q8_0, x.length));
  quantizeRowQ8_0(out, x, x.length);
  return out;
}
