// Matrix-vector (decode) and matrix-matrix (prefill) products. Weights are row-major (rows, cols),
// one row = cols/32 blocks for Q8_0/Q4_0, cols f16 or f32 otherwise. For quantized weights the
// activations are Q8_0 rows (quantize_row_q8_0), dotted with integer SIMD (see dot.ts).
import { QK, Q8_0_BLOCK_BYTES, Q4_0_BLOCK_BYTES, f16_to_f32 } from './common';
import { x_lanes, w_lanes_centered, row_dot_q, row_dot_f, hsum, f16x4_to_f32x4, dot4_q, touch_ahead, sum4_i32x4, scales4 } from './dot';

// ---------------------------------------------------------------------------------------------
// matvec: out (rows) f32 = W (rows, cols) · x (cols)

/** W: (rows, cols/32) Q8_0 blocks; x: (cols/32) Q8_0 blocks. */
export function matvec_q8_0_q8_0(out: usize, w: usize, x: usize, rows: i32, cols: i32): void {
  matvec_q(out, w, x, rows, cols, false);
}

/** W: (rows, cols/32) Q4_0 blocks; x: (cols/32) Q8_0 blocks. */
export function matvec_q4_0_q8_0(out: usize, w: usize, x: usize, rows: i32, cols: i32): void {
  matvec_q(out, w, x, rows, cols, true);
}

/** W: (rows, cols) f32; x: (cols) f32. */
export function matvec_f32(out: usize, w: usize, x: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) store<f32>(out + (<usize>r << 2), row_dot_f(w + <usize>r * (<usize>cols << 2), x, cols, false));
}

/** W: (rows, cols) f16; x: (cols) f32. */
export function matvec_f16(out: usize, w: usize, x: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) store<f32>(out + (<usize>r << 2), row_dot_f(w + <usize>r * (<usize>cols << 1), x, cols, true));
}

// @ts-ignore: decorator
@inline function matvec_q(out: usize, w: usize, x: usize, rows: i32, cols: i32, q4: bool): void {
  const nb = cols / QK;
  const rowBytes: usize = <usize>nb * (q4 ? Q4_0_BLOCK_BYTES : Q8_0_BLOCK_BYTES);
  let r = 0;
  if (ASC_FEATURE_SIMD) {
    // short rows: while dotting rows r..r+3, touch rows r+4..r+7 (dot4_q explains why)
    if (touch_ahead(rowBytes)) {
      for (; r + 8 <= rows; r += 4) {
        const wr = w + <usize>r * rowBytes;
        v128.store(out + (<usize>r << 2), dot4_q(wr, rowBytes, x, nb, q4, true, wr + 4 * rowBytes, 4));
      }
    }
    for (; r + 4 <= rows; r += 4) v128.store(out + (<usize>r << 2), dot4_q(w + <usize>r * rowBytes, rowBytes, x, nb, q4, false, 0, 0));
  }
  for (; r < rows; r++) store<f32>(out + (<usize>r << 2), row_dot_q(w + <usize>r * rowBytes, x, nb, q4));
}

// ---------------------------------------------------------------------------------------------
// matmul (prefill): out (T, rows) f32 = X (T, cols) · Wᵀ. Each weight row is read once per tile of
// 4 tokens and each widened weight block is reused for the 4 tokens.

/** W: (rows, cols/32) Q8_0 blocks; X: (T, cols/32) Q8_0 blocks. */
export function matmul_q8_0_q8_0(out: usize, w: usize, x: usize, rows: i32, cols: i32, T: i32): void {
  matmul_q(out, w, x, rows, cols, T, false);
}

/** W: (rows, cols/32) Q4_0 blocks; X: (T, cols/32) Q8_0 blocks. */
export function matmul_q4_0_q8_0(out: usize, w: usize, x: usize, rows: i32, cols: i32, T: i32): void {
  matmul_q(out, w, x, rows, cols, T, true);
}

/** W: (rows, cols) f32; X: (T, cols) f32. */
export function matmul_f32(out: usize, w: usize, x: usize, rows: i32, cols: i32, T: i32): void {
  matmul_f(out, w, x, rows, cols, T, false);
}

/** W: (rows, cols) f16; X: (T, cols) f32. */
export function matmul_f16(out: usize, w: usize, x: usize, rows: i32, cols: i32, T: i32): void {
  matmul_f(out, w, x, rows, cols, T, true);
}

/** Σ_j w_j·x_j of widened weights (w0..w3) and the activation block at px, as 4 i32 partial sums. */
// @ts-ignore: decorator
@inline function dot_x_block(px: usize, w0: v128, w1: v128, w2: v128, w3: v128): v128 {
  const s0 = i32x4.dot_i16x8_s(x_lanes(px, 0), w0);
  const s1 = i32x4.dot_i16x8_s(x_lanes(px, 1), w1);
  const s2 = i32x4.dot_i16x8_s(x_lanes(px, 2), w2);
  const s3 = i32x4.dot_i16x8_s(x_lanes(px, 3), w3);
  return i32x4.add(i32x4.add(s0, s1), i32x4.add(s2, s3));
}

// @ts-ignore: decorator
@inline function matmul_q(out: usize, w: usize, x: usize, rows: i32, cols: i32, T: i32, q4: bool): void {
  const nb = cols / QK;
  const wb: usize = q4 ? Q4_0_BLOCK_BYTES : Q8_0_BLOCK_BYTES;
  const rowBytes: usize = <usize>nb * wb;
  const xRowBytes: usize = <usize>nb * Q8_0_BLOCK_BYTES;
  const outStride: usize = <usize>rows << 2;
  for (let r = 0; r < rows; r++) {
    const wr = w + <usize>r * rowBytes;
    const o = out + (<usize>r << 2);
    let t = 0;
    if (ASC_FEATURE_SIMD) {
      // A tile of 4 tokens shares each widened weight block; their 4 block sums are reduced
      // together and scaled with one vector multiply (lane i = token t + i).
      for (; t + 4 <= T; t += 4) {
        let acc = f32x4.splat(0);
        let px0 = x + <usize>t * xRowBytes;
        let px1 = px0 + xRowBytes;
        let px2 = px1 + xRowBytes;
        let px3 = px2 + xRowBytes;
        let pw = wr;
        for (let b = 0; b < nb; b++) {
          const w0 = w_lanes_centered(pw, 0, q4);
          const w1 = w_lanes_centered(pw, 1, q4);
          const w2 = w_lanes_centered(pw, 2, q4);
          const w3 = w_lanes_centered(pw, 3, q4);
          const s = sum4_i32x4(dot_x_block(px0, w0, w1, w2, w3), dot_x_block(px1, w0, w1, w2, w3), dot_x_block(px2, w0, w1, w2, w3), dot_x_block(px3, w0, w1, w2, w3));
          const d = f32x4.mul(scales4(px0, px1, px2, px3), f32x4.splat(f16_to_f32(load<u16>(pw))));
          acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), d));
          px0 += Q8_0_BLOCK_BYTES;
          px1 += Q8_0_BLOCK_BYTES;
          px2 += Q8_0_BLOCK_BYTES;
          px3 += Q8_0_BLOCK_BYTES;
          pw += wb;
        }
        const ot = o + <usize>t * outStride;
        store<f32>(ot, f32x4.extract_lane(acc, 0));
        store<f32>(ot + outStride, f32x4.extract_lane(acc, 1));
        store<f32>(ot + 2 * outStride, f32x4.extract_lane(acc, 2));
        store<f32>(ot + 3 * outStride, f32x4.extract_lane(acc, 3));
      }
    }
    for (; t < T; t++) store<f32>(o + <usize>t * outStride, row_dot_q(wr, x + <usize>t * xRowBytes, nb, q4));
  }
}

/** 4 weights at element i of an f32 or f16 row, as f32x4. */
// @ts-ignore: decorator
@inline function load_w4(w: usize, i: i32, half: bool): v128 {
  if (half) return f16x4_to_f32x4(i32x4.extend_low_i16x8_u(v128.load64_zero(w + (<usize>i << 1))));
  return v128.load(w + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function matmul_f(out: usize, w: usize, x: usize, rows: i32, cols: i32, T: i32, half: bool): void {
  const rowBytes: usize = <usize>cols << (half ? 1 : 2);
  const xRowBytes: usize = <usize>cols << 2;
  const outStride: usize = <usize>rows << 2;
  for (let r = 0; r < rows; r++) {
    const wr = w + <usize>r * rowBytes;
    const o = out + (<usize>r << 2);
    let t = 0;
    if (ASC_FEATURE_SIMD) {
      if ((cols & 3) == 0) {
        for (; t + 4 <= T; t += 4) {
          let acc0 = f32x4.splat(0);
          let acc1 = f32x4.splat(0);
          let acc2 = f32x4.splat(0);
          let acc3 = f32x4.splat(0);
          const px = x + <usize>t * xRowBytes;
          for (let i = 0; i < cols; i += 4) {
            const wv = load_w4(wr, i, half);
            const p = px + (<usize>i << 2);
            acc0 = f32x4.add(acc0, f32x4.mul(wv, v128.load(p)));
            acc1 = f32x4.add(acc1, f32x4.mul(wv, v128.load(p + xRowBytes)));
            acc2 = f32x4.add(acc2, f32x4.mul(wv, v128.load(p + 2 * xRowBytes)));
            acc3 = f32x4.add(acc3, f32x4.mul(wv, v128.load(p + 3 * xRowBytes)));
          }
          const ot = o + <usize>t * outStride;
          store<f32>(ot, hsum(acc0));
          store<f32>(ot + outStride, hsum(acc1));
          store<f32>(ot + 2 * outStride, hsum(acc2));
          store<f32>(ot + 3 * outStride, hsum(acc3));
        }
      }
    }
    for (; t < T; t++) store<f32>(o + <usize>t * outStride, row_dot_f(wr, x + <usize>t * xRowBytes, cols, half));
  }
}
