// Masked SwiGLU FFN over packed neuron bundles (DESIGN §2, §3).
//
//   bundles: k rows, row j = [gate_j | up_j | down_j], each part a row of dim weights of the bundle
//            type (f32, or dim/32 Q8_0 / Q4_0 blocks); down_j is column j of ffn_down.
//   x:       (T, dim) activations: f32 rows for f32 bundles, Q8_0 rows for quantized bundles.
//   out:     (T, dim) f32, accumulated:  out_t += Σ_j silu(gate_j·x_t) · (up_j·x_t) · down_j
// PyTorch: out += w2(F.silu(w1(x)) * w3(x)) restricted to the k selected neurons.
// Density changes only k, the loop count. Tokens are processed in tiles of 4 so each bundle is
// read (and each down block dequantized) once per tile.
import { QK, Q8_0_BLOCK_BYTES, Q4_0_BLOCK_BYTES, f16_to_f32 } from './common';
import { row_dot_q, row_dot_f, x_lanes, q4_centered, dot4_q } from './dot';

const KIND_F32: i32 = 0;
const KIND_Q8_0: i32 = 1;
const KIND_Q4_0: i32 = 2;

/** bundles: k × 3 × dim f32; x: (T, dim) f32. */
export function ffn_swiglu_masked_f32(out: usize, bundles: usize, x: usize, k: i32, dim: i32, T: i32): void {
  ffn_swiglu(out, bundles, x, k, dim, T, KIND_F32);
}

/** bundles: k × 3 × (dim/32) Q8_0 blocks; x: (T, dim/32) Q8_0 blocks. */
export function ffn_swiglu_masked_q8_0(out: usize, bundles: usize, x: usize, k: i32, dim: i32, T: i32): void {
  ffn_swiglu(out, bundles, x, k, dim, T, KIND_Q8_0);
}

/** bundles: k × 3 × (dim/32) Q4_0 blocks; x: (T, dim/32) Q8_0 blocks. */
export function ffn_swiglu_masked_q4_0(out: usize, bundles: usize, x: usize, k: i32, dim: i32, T: i32): void {
  ffn_swiglu(out, bundles, x, k, dim, T, KIND_Q4_0);
}

// @ts-ignore: decorator
@inline function part_dot(w: usize, x: usize, dim: i32, kind: i32): f32 {
  if (kind == KIND_F32) return row_dot_f(w, x, dim, false);
  return row_dot_q(w, x, dim / QK, kind == KIND_Q4_0);
}

// @ts-ignore: decorator
@inline function silu(g: f32): f32 {
  return g / (<f32>1.0 + Mathf.exp(-g));
}

// @ts-ignore: decorator
@inline function ffn_swiglu(out: usize, bundles: usize, x: usize, k: i32, dim: i32, T: i32, kind: i32): void {
  const partBytes: usize =
    kind == KIND_F32 ? <usize>dim << 2 : <usize>(dim / QK) * (kind == KIND_Q4_0 ? Q4_0_BLOCK_BYTES : Q8_0_BLOCK_BYTES);
  const xRowBytes: usize = kind == KIND_F32 ? <usize>dim << 2 : <usize>(dim / QK) * Q8_0_BLOCK_BYTES;
  const outRowBytes: usize = <usize>dim << 2;
  for (let t0 = 0; t0 < T; t0 += 4) {
    const nt = min(4, T - t0);
    const xt = x + <usize>t0 * xRowBytes;
    const ot = out + <usize>t0 * outRowBytes;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      if (kind != KIND_F32) {
        // 4 neurons at a time: their gate rows (and up rows) are dotted together with dot4_q.
        const q4 = kind == KIND_Q4_0;
        const nb = dim / QK;
        const bundleBytes: usize = 3 * partBytes;
        // short bundles: while computing bundles j..j+3, touch bundles j+4..j+7 (see dot4_q). Measured:
        // touching wins at dim 576 Q8_0 (1836-byte bundles, 1.2-1.4× from DRAM) and loses at dim 896
        // Q8_0 (2856 bytes, 0.86×), hence a lower bound than the matvec's.
        if (bundleBytes < 2048) {
          for (; j + 8 <= k; j += 4) ffn_bundles4(ot, bundles + <usize>j * bundleBytes, partBytes, xt, xRowBytes, nb, nt, outRowBytes, q4, true);
        }
        for (; j + 4 <= k; j += 4) ffn_bundles4(ot, bundles + <usize>j * bundleBytes, partBytes, xt, xRowBytes, nb, nt, outRowBytes, q4, false);
      }
    }
    for (; j < k; j++) {
      const gate = bundles + <usize>j * 3 * partBytes;
      const up = gate + partBytes;
      const down = up + partBytes;
      // h_t = silu(gate·x_t) · (up·x_t) for the tile's tokens
      const h0 = silu(part_dot(gate, xt, dim, kind)) * part_dot(up, xt, dim, kind);
      let h1: f32 = 0, h2: f32 = 0, h3: f32 = 0;
      if (nt > 1) h1 = silu(part_dot(gate, xt + xRowBytes, dim, kind)) * part_dot(up, xt + xRowBytes, dim, kind);
      if (nt > 2) h2 = silu(part_dot(gate, xt + 2 * xRowBytes, dim, kind)) * part_dot(up, xt + 2 * xRowBytes, dim, kind);
      if (nt > 3) h3 = silu(part_dot(gate, xt + 3 * xRowBytes, dim, kind)) * part_dot(up, xt + 3 * xRowBytes, dim, kind);
      // out_t += h_t · down
      if (kind == KIND_F32) axpy_f32(ot, down, dim, nt, outRowBytes, h0, h1, h2, h3);
      else axpy_q(ot, down, dim, nt, outRowBytes, h0, h1, h2, h3, kind == KIND_Q4_0);
    }
  }
}

/** out_t += Σ_j silu(gate_j·x_t)·(up_j·x_t)·down_j for the 4 quantized bundles at gate (t < nt). With
 * touch, the next 4 bundles (12 parts, contiguous after these) are touched during the gate and up
 * dot products of the first token, 6 parts' worth each. */
// @ts-ignore: decorator
@inline function ffn_bundles4(ot: usize, gate: usize, partBytes: usize, xt: usize, xRowBytes: usize, nb: i32, nt: i32, outRowBytes: usize, q4: bool, touch: bool): void {
  const bundleBytes: usize = 3 * partBytes;
  const up = gate + partBytes;
  const next = gate + 4 * bundleBytes;
  const h0 = swiglu4(dot4_q(gate, bundleBytes, xt, nb, q4, touch, next, 6), dot4_q(up, bundleBytes, xt, nb, q4, touch, next + 6 * partBytes, 6));
  let h1 = f32x4.splat(0), h2 = f32x4.splat(0), h3 = f32x4.splat(0);
  if (nt > 1) h1 = swiglu4(dot4_q(gate, bundleBytes, xt + xRowBytes, nb, q4, false, 0, 0), dot4_q(up, bundleBytes, xt + xRowBytes, nb, q4, false, 0, 0));
  if (nt > 2) h2 = swiglu4(dot4_q(gate, bundleBytes, xt + 2 * xRowBytes, nb, q4, false, 0, 0), dot4_q(up, bundleBytes, xt + 2 * xRowBytes, nb, q4, false, 0, 0));
  if (nt > 3) h3 = swiglu4(dot4_q(gate, bundleBytes, xt + 3 * xRowBytes, nb, q4, false, 0, 0), dot4_q(up, bundleBytes, xt + 3 * xRowBytes, nb, q4, false, 0, 0));
  const down = up + partBytes;
  const dim = nb * QK;
  axpy_q(ot, down, dim, nt, outRowBytes, f32x4.extract_lane(h0, 0), f32x4.extract_lane(h1, 0), f32x4.extract_lane(h2, 0), f32x4.extract_lane(h3, 0), q4);
  axpy_q(ot, down + bundleBytes, dim, nt, outRowBytes, f32x4.extract_lane(h0, 1), f32x4.extract_lane(h1, 1), f32x4.extract_lane(h2, 1), f32x4.extract_lane(h3, 1), q4);
  axpy_q(ot, down + 2 * bundleBytes, dim, nt, outRowBytes, f32x4.extract_lane(h0, 2), f32x4.extract_lane(h1, 2), f32x4.extract_lane(h2, 2), f32x4.extract_lane(h3, 2), q4);
  axpy_q(ot, down + 3 * bundleBytes, dim, nt, outRowBytes, f32x4.extract_lane(h0, 3), f32x4.extract_lane(h1, 3), f32x4.extract_lane(h2, 3), f32x4.extract_lane(h3, 3), q4);
}

/** silu(g) · u lane-wise. */
// @ts-ignore: decorator
@inline function swiglu4(g: v128, u: v128): v128 {
  let s = f32x4.splat(silu(f32x4.extract_lane(g, 0)));
  s = f32x4.replace_lane(s, 1, silu(f32x4.extract_lane(g, 1)));
  s = f32x4.replace_lane(s, 2, silu(f32x4.extract_lane(g, 2)));
  s = f32x4.replace_lane(s, 3, silu(f32x4.extract_lane(g, 3)));
  return f32x4.mul(s, u);
}

/** out_t (dim) += h_t · w (dim f32) for t < nt. */
// @ts-ignore: decorator
@inline function axpy_f32(out: usize, w: usize, dim: i32, nt: i32, stride: usize, h0: f32, h1: f32, h2: f32, h3: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const v0 = f32x4.splat(h0), v1 = f32x4.splat(h1), v2 = f32x4.splat(h2), v3 = f32x4.splat(h3);
    for (; i + 4 <= dim; i += 4) {
      const wv = v128.load(w + (<usize>i << 2));
      const o = out + (<usize>i << 2);
      v128.store(o, f32x4.add(v128.load(o), f32x4.mul(v0, wv)));
      if (nt > 1) v128.store(o + stride, f32x4.add(v128.load(o + stride), f32x4.mul(v1, wv)));
      if (nt > 2) v128.store(o + 2 * stride, f32x4.add(v128.load(o + 2 * stride), f32x4.mul(v2, wv)));
      if (nt > 3) v128.store(o + 3 * stride, f32x4.add(v128.load(o + 3 * stride), f32x4.mul(v3, wv)));
    }
  }
  for (; i < dim; i++) {
    const wv = load<f32>(w + (<usize>i << 2));
    const o = out + (<usize>i << 2);
    store<f32>(o, load<f32>(o) + h0 * wv);
    if (nt > 1) store<f32>(o + stride, load<f32>(o + stride) + h1 * wv);
    if (nt > 2) store<f32>(o + 2 * stride, load<f32>(o + 2 * stride) + h2 * wv);
    if (nt > 3) store<f32>(o + 3 * stride, load<f32>(o + 3 * stride) + h3 * wv);
  }
}

/** out (32 f32 at o) += s · (8 f32x4 of a dequantized block) */
// @ts-ignore: decorator
@inline function axpy_block(o: usize, s: v128, f0: v128, f1: v128, f2: v128, f3: v128, f4: v128, f5: v128, f6: v128, f7: v128): void {
  v128.store(o, f32x4.add(v128.load(o), f32x4.mul(s, f0)));
  v128.store(o, f32x4.add(v128.load(o, 16), f32x4.mul(s, f1)), 16);
  v128.store(o, f32x4.add(v128.load(o, 32), f32x4.mul(s, f2)), 32);
  v128.store(o, f32x4.add(v128.load(o, 48), f32x4.mul(s, f3)), 48);
  v128.store(o, f32x4.add(v128.load(o, 64), f32x4.mul(s, f4)), 64);
  v128.store(o, f32x4.add(v128.load(o, 80), f32x4.mul(s, f5)), 80);
  v128.store(o, f32x4.add(v128.load(o, 96), f32x4.mul(s, f6)), 96);
  v128.store(o, f32x4.add(v128.load(o, 112), f32x4.mul(s, f7)), 112);
}

/** out_t (dim) += h_t · dequant(w) for a Q8_0 / Q4_0 row w, t < nt. */
// @ts-ignore: decorator
@inline function axpy_q(out: usize, w: usize, dim: i32, nt: i32, stride: usize, h0: f32, h1: f32, h2: f32, h3: f32, q4: bool): void {
  const nb = dim / QK;
  const wb: usize = q4 ? Q4_0_BLOCK_BYTES : Q8_0_BLOCK_BYTES;
  for (let b = 0; b < nb; b++) {
    const pw = w + <usize>b * wb;
    const d = f16_to_f32(load<u16>(pw));
    const o = out + ((<usize>b) << 7);
    if (ASC_FEATURE_SIMD) {
      // the 32 weights as 4 i16x8 (Q4_0: q - 8, from one 16-byte load)
      let a0: v128, a1: v128, b0: v128, b1: v128;
      if (q4) {
        const lo = q4_centered(pw, false);
        const hi = q4_centered(pw, true);
        a0 = i16x8.extend_low_i8x16_s(lo);
        a1 = i16x8.extend_high_i8x16_s(lo);
        b0 = i16x8.extend_low_i8x16_s(hi);
        b1 = i16x8.extend_high_i8x16_s(hi);
      } else {
        a0 = x_lanes(pw, 0);
        a1 = x_lanes(pw, 1);
        b0 = x_lanes(pw, 2);
        b1 = x_lanes(pw, 3);
      }
      const f0 = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(a0));
      const f1 = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(a0));
      const f2 = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(a1));
      const f3 = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(a1));
      const f4 = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(b0));
      const f5 = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(b0));
      const f6 = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(b1));
      const f7 = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(b1));
      axpy_block(o, f32x4.splat(h0 * d), f0, f1, f2, f3, f4, f5, f6, f7);
      if (nt > 1) axpy_block(o + stride, f32x4.splat(h1 * d), f0, f1, f2, f3, f4, f5, f6, f7);
      if (nt > 2) axpy_block(o + 2 * stride, f32x4.splat(h2 * d), f0, f1, f2, f3, f4, f5, f6, f7);
      if (nt > 3) axpy_block(o + 3 * stride, f32x4.splat(h3 * d), f0, f1, f2, f3, f4, f5, f6, f7);
    } else {
      const s0 = h0 * d, s1 = h1 * d, s2 = h2 * d, s3 = h3 * d;
      for (let i = 0; i < QK; i++) {
        let q: f32;
        if (q4) {
          const byte = <i32>load<u8>(pw + 2 + (i & 15));
          q = <f32>((i < 16 ? byte & 0x0f : byte >> 4) - 8);
        } else {
          q = <f32>load<i8>(pw + 2 + i);
        }
        const oi = o + (<usize>i << 2);
        store<f32>(oi, load<f32>(oi) + s0 * q);
        if (nt > 1) store<f32>(oi + stride, load<f32>(oi + stride) + s1 * q);
        if (nt > 2) store<f32>(oi + 2 * stride, load<f32>(oi + 2 * stride) + s2 * q);
        if (nt > 3) store<f32>(oi + 3 * stride, load<f32>(oi + 3 * stride) + s3 * q);
      }
    }
  }
}
