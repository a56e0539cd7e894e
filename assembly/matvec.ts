// Matrix-vector (decode) and matrix-matrix (prefill) products. Weights are row-major (rows, cols),
// one row = cols/32 blocks for Q8_0/Q4_0, cols f16 or f32 otherwise. For quantized weights the
// activations are Q8_0 rows (quantize_row_q8_0), dotted with integer SIMD (see dot.ts).
import { QK, Q8_0_BLOCK_BYTES, Q4_0_BLOCK_BYTES, f16_to_f32 } from './common';
import { x_lanes, q4_centered, row_dot_q, row_dot_f, hsum, f16x4_to_f32x4, dot4_q, touch_ahead, sum4_i32x4, scales4 } from './dot';

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

// @ts-ignore: decorator
@inline function matmul_q(out: usize, w: usize, x: usize, rows: i32, cols: i32, T: i32, q4: bool): void {
  const nb = cols / QK;
  const rowBytes: usize = <usize>nb * (q4 ? Q4_0_BLOCK_BYTES : Q8_0_BLOCK_BYTES);
  const xRowBytes: usize = <usize>nb * Q8_0_BLOCK_BYTES;
  const outStride: usize = <usize>rows << 2;
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

/** acc + Σ w·x of 8 int16 pairs (4 i32 partial sums). */
// @ts-ignore: decorator
@inline function mac(acc: v128, w: v128, x: v128): v128 {
  return i32x4.add(acc, i32x4.dot_i16x8_s(w, x));
}

/** Widened weight lanes e (elements 8e..8e+7) of the block at p; for Q4_0 from c, the block's centered
 * low (e < 2) or high (e ≥ 2) nibbles (q4_centered), so each 16-byte load is centered once. */
// @ts-ignore: decorator
@inline function w_lanes_from(p: usize, e: i32, q4: bool, c: v128): v128 {
  if (!q4) return x_lanes(p, e);
  return (e & 1) == 0 ? i16x8.extend_low_i8x16_s(c) : i16x8.extend_high_i8x16_s(c);
}

/**
 * A 2-row × 4-token register tile of the matmul: rows a, b (weights at pa, pb) × tokens 0..3 (Q8_0
 * activation rows at px, px + xStride, ...), stored at o + t·outStride (row a) and o + 4 + t·outStride
 * (row b, if storeB). Per block, each widened weight vector is used by 4 tokens and each widened
 * activation vector by both rows: 8 i32x4 sums (a0..a3, b0..b3), reduced once per block with two
 * transpose-adds and scaled by d_w[row]·d_x[t0..t3] in one f32x4 multiply per row.
 */
// @ts-ignore: decorator
@inline function tile2x4_q(o: usize, outStride: usize, pa: usize, pb: usize, storeB: bool, px: usize, xStride: usize, nb: i32, q4: bool): void {
  const wb: usize = q4 ? Q4_0_BLOCK_BYTES : Q8_0_BLOCK_BYTES;
  let px0 = px;
  let px1 = px0 + xStride;
  let px2 = px1 + xStride;
  let px3 = px2 + xStride;
  let accA = f32x4.splat(0);
  let accB = f32x4.splat(0);
  for (let blk = 0; blk < nb; blk++) {
    let ca = v128.splat<i32>(0);
    let cb = v128.splat<i32>(0);
    if (q4) {
      ca = q4_centered(pa, false);
      cb = q4_centered(pb, false);
    }
    // e = 0 (elements 0..7)
    let wa = w_lanes_from(pa, 0, q4, ca);
    let wb_ = w_lanes_from(pb, 0, q4, cb);
    let xv = x_lanes(px0, 0);
    let a0 = i32x4.dot_i16x8_s(wa, xv);
    let b0 = i32x4.dot_i16x8_s(wb_, xv);
    xv = x_lanes(px1, 0);
    let a1 = i32x4.dot_i16x8_s(wa, xv);
    let b1 = i32x4.dot_i16x8_s(wb_, xv);
    xv = x_lanes(px2, 0);
    let a2 = i32x4.dot_i16x8_s(wa, xv);
    let b2 = i32x4.dot_i16x8_s(wb_, xv);
    xv = x_lanes(px3, 0);
    let a3 = i32x4.dot_i16x8_s(wa, xv);
    let b3 = i32x4.dot_i16x8_s(wb_, xv);
    // e = 1 (elements 8..15)
    wa = w_lanes_from(pa, 1, q4, ca);
    wb_ = w_lanes_from(pb, 1, q4, cb);
    xv = x_lanes(px0, 1);
    a0 = mac(a0, wa, xv);
    b0 = mac(b0, wb_, xv);
    xv = x_lanes(px1, 1);
    a1 = mac(a1, wa, xv);
    b1 = mac(b1, wb_, xv);
    xv = x_lanes(px2, 1);
    a2 = mac(a2, wa, xv);
    b2 = mac(b2, wb_, xv);
    xv = x_lanes(px3, 1);
    a3 = mac(a3, wa, xv);
    b3 = mac(b3, wb_, xv);
    if (q4) {
      ca = q4_centered(pa, true);
      cb = q4_centered(pb, true);
    }
    // e = 2 (elements 16..23)
    wa = w_lanes_from(pa, 2, q4, ca);
    wb_ = w_lanes_from(pb, 2, q4, cb);
    xv = x_lanes(px0, 2);
    a0 = mac(a0, wa, xv);
    b0 = mac(b0, wb_, xv);
    xv = x_lanes(px1, 2);
    a1 = mac(a1, wa, xv);
    b1 = mac(b1, wb_, xv);
    xv = x_lanes(px2, 2);
    a2 = mac(a2, wa, xv);
    b2 = mac(b2, wb_, xv);
    xv = x_lanes(px3, 2);
    a3 = mac(a3, wa, xv);
    b3 = mac(b3, wb_, xv);
    // e = 3 (elements 24..31)
    wa = w_lanes_from(pa, 3, q4, ca);
    wb_ = w_lanes_from(pb, 3, q4, cb);
    xv = x_lanes(px0, 3);
    a0 = mac(a0, wa, xv);
    b0 = mac(b0, wb_, xv);
    xv = x_lanes(px1, 3);
    a1 = mac(a1, wa, xv);
    b1 = mac(b1, wb_, xv);
    xv = x_lanes(px2, 3);
    a2 = mac(a2, wa, xv);
    b2 = mac(b2, wb_, xv);
    xv = x_lanes(px3, 3);
    a3 = mac(a3, wa, xv);
    b3 = mac(b3, wb_, xv);
    // lane t = token t; scales d_w[row]·d_x[t]
    const dx = scales4(px0, px1, px2, px3);
    const da = f32x4.mul(dx, f32x4.splat(f16_to_f32(load<u16>(pa))));
    const db = f32x4.mul(dx, f32x4.splat(f16_to_f32(load<u16>(pb))));
    accA = f32x4.add(accA, f32x4.mul(f32x4.convert_i32x4_s(sum4_i32x4(a0, a1, a2, a3)), da));
    accB = f32x4.add(accB, f32x4.mul(f32x4.convert_i32x4_s(sum4_i32x4(b0, b1, b2, b3)), db));
    px0 += Q8_0_BLOCK_BYTES;
    px1 += Q8_0_BLOCK_BYTES;
    px2 += Q8_0_BLOCK_BYTES;
    px3 += Q8_0_BLOCK_BYTES;
    pa += wb;
    pb += wb;
  }
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
