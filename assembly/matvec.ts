// Matrix-vector (decode) and matrix-matrix (prefill) products. Weights are row-major (rows, cols),
// one row = cols/32 blocks for Q8_0/Q4_0, cols f16 or f32 otherwise. For quantized weights the
// activations are Q8_0 rows (quantize_row_q8_0), dotted with integer SIMD (see dot.ts).
import { QK, Q8_0_BLOCK_BYTES, Q4_0_BLOCK_BYTES, f16_to_f32 } from './common';
import { x_lanes, q4_centered, row_dot_q, row_dot_f, hsum, f16x4_to_f32x4, dot4_q, touch_ahead, sum4_i32x4, scales4, tile2x4_dot, tile_acc_b } from './dot';

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
// matmul (prefill): out (T, rows) f32 = X (T, cols) · Wᵀ. Quantized weights: 2-row × 4-token register
// tiles (tile2x4_q), each widened weight block reused by 4 tokens and each widened activation block
// by 2 rows; float weights: each weight row read once per tile of 4 tokens.

/** W: (rows, cols/32) Q8_0 blocks; X: (T, cols/32) Q8_0 blocks. */
export function matmul_q8_0_q8_0(out: usize, w: usize, x: usize, rows: i32, cols: i32, T: i32): void {
  matmul_q(out, w, x, rows, cols, T, false, <usize>rows << 2);
}

/** W: (rows, cols/32) Q4_0 blocks; X: (T, cols/32) Q8_0 blocks. */
export function matmul_q4_0_q8_0(out: usize, w: usize, x: usize, rows: i32, cols: i32, T: i32): void {
  matmul_q(out, w, x, rows, cols, T, true, <usize>rows << 2);
}

/** Rows r0..r1 - 1 of matmul_q8_0_q8_0 over all `rows` (out (T, rows)): one thread's share of a matmul,
 * the same values as the whole when r0 is a multiple of 4 (a row's arithmetic depends on its place in a
 * group of 4 rows). */
export function matmul_rows_q8_0_q8_0(out: usize, w: usize, x: usize, rows: i32, cols: i32, T: i32, r0: i32, r1: i32): void {
  const rowBytes = <usize>(cols / QK) * Q8_0_BLOCK_BYTES;
  matmul_q(out + (<usize>r0 << 2), w + <usize>r0 * rowBytes, x, r1 - r0, cols, T, false, <usize>rows << 2);
}

/** Rows r0..r1 - 1 of matmul_q4_0_q8_0 over all `rows` (out (T, rows)): as matmul_rows_q8_0_q8_0. */
export function matmul_rows_q4_0_q8_0(out: usize, w: usize, x: usize, rows: i32, cols: i32, T: i32, r0: i32, r1: i32): void {
  const rowBytes = <usize>(cols / QK) * Q4_0_BLOCK_BYTES;
  matmul_q(out + (<usize>r0 << 2), w + <usize>r0 * rowBytes, x, r1 - r0, cols, T, true, <usize>rows << 2);
}

/** W: (rows, cols) f32; X: (T, cols) f32. */
export function matmul_f32(out: usize, w: usize, x: usize, rows: i32, cols: i32, T: i32): void {
  matmul_f(out, w, x, rows, cols, T, false);
}

/** W: (rows, cols) f16; X: (T, cols) f32. */
export function matmul_f16(out: usize, w: usize, x: usize, rows: i32, cols: i32, T: i32): void {
  matmul_f(out, w, x, rows, cols, T, true);
}

// @ts-ignore: decorator
@inline function matmul_q(out: usize, w: usize, x: usize, rows: i32, cols: i32, T: i32, q4: bool, outStride: usize): void {
  const nb = cols / QK;
  const rowBytes: usize = <usize>nb * (q4 ? Q4_0_BLOCK_BYTES : Q8_0_BLOCK_BYTES);
  const xRowBytes: usize = <usize>nb * Q8_0_BLOCK_BYTES;
  let r = 0;
  if (ASC_FEATURE_SIMD) {
    // Groups of 4 rows: tiles of 4 tokens as two 2×4 register tiles, then each leftover token
    // (T mod 4) as a matvec over the 4 rows (dot4_q), while the rows are in cache.
    for (; r + 4 <= rows; r += 4) {
      const wr = w + <usize>r * rowBytes;
      const o = out + (<usize>r << 2);
      let t = 0;
      for (; t + 4 <= T; t += 4) {
        const px = x + <usize>t * xRowBytes;
        const ot = o + <usize>t * outStride;
        tile2x4_q(ot, outStride, wr, wr + rowBytes, true, px, xRowBytes, nb, q4);
        tile2x4_q(ot + 8, outStride, wr + 2 * rowBytes, wr + 3 * rowBytes, true, px, xRowBytes, nb, q4);
      }
      for (; t < T; t++) v128.store(o + <usize>t * outStride, dot4_q(wr, rowBytes, x + <usize>t * xRowBytes, nb, q4, false, 0, 0));
    }
    // 1 to 3 rows left: pairs, then a last row as a pair with itself (only its own sums stored)
    for (; r < rows; r += 2) {
      const wr = w + <usize>r * rowBytes;
      const pair = r + 2 <= rows;
      const o = out + (<usize>r << 2);
      let t = 0;
      for (; t + 4 <= T; t += 4) tile2x4_q(o + <usize>t * outStride, outStride, wr, pair ? wr + rowBytes : wr, pair, x + <usize>t * xRowBytes, xRowBytes, nb, q4);
      for (; t < T; t++) {
        const px = x + <usize>t * xRowBytes;
        store<f32>(o + <usize>t * outStride, row_dot_q(wr, px, nb, q4));
        if (pair) store<f32>(o + <usize>t * outStride, row_dot_q(wr + rowBytes, px, nb, q4), 4);
      }
    }
  } else {
    for (; r < rows; r++) {
      for (let t = 0; t < T; t++) store<f32>(out + <usize>t * outStride + (<usize>r << 2), row_dot_q(w + <usize>r * rowBytes, x + <usize>t * xRowBytes, nb, q4));
    }
  }
}

/**
 * A 2-row × 4-token register tile of the matmul (dot.ts tile2x4_dot): rows a, b × tokens 0..3, stored at
 * o + t·outStride (row a) and o + 4 + t·outStride (row b, if storeB).
 */
// @ts-ignore: decorator
@inline function tile2x4_q(o: usize, outStride: usize, pa: usize, pb: usize, storeB: bool, px: usize, xStride: usize, nb: i32, q4: bool): void {
  const accA = tile2x4_dot(pa, pb, px, xStride, nb, q4, q4 ? Q4_0_BLOCK_BYTES : Q8_0_BLOCK_BYTES);
  const accB = tile_acc_b();
  store<f32>(o, f32x4.extract_lane(accA, 0));
  store<f32>(o + outStride, f32x4.extract_lane(accA, 1));
  store<f32>(o + 2 * outStride, f32x4.extract_lane(accA, 2));
  store<f32>(o + 3 * outStride, f32x4.extract_lane(accA, 3));
  if (storeB) {
    store<f32>(o, f32x4.extract_lane(accB, 0), 4);
    store<f32>(o + outStride, f32x4.extract_lane(accB, 1), 4);
    store<f32>(o + 2 * outStride, f32x4.extract_lane(accB, 2), 4);
    store<f32>(o + 3 * outStride, f32x4.extract_lane(accB, 3), 4);
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
