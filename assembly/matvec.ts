// Matrix-vector (decode) and matrix-matrix (prefill) products. Weights are row-major (rows, cols),
// one row = cols/32 blocks for Q8_0/Q4_0, cols f16 or f32 otherwise. For quantized weights the
// activations are Q8_0 rows (quantize_row_q8_0), dotted with integer SIMD (see dot.ts).
import { QK, Q8_0_BLOCK_BYTES, Q4_0_BLOCK_BYTES, f16_to_f32 } from './common';
import { dot_block, x_lanes, x_sum8, w_lanes_centered, row_dot_q, row_dot_f, hsum, f16x4_to_f32x4 } from './dot';

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

/** [Σ s0, Σ s1, Σ s2, Σ s3]: the lane sums of four i32x4, by a 4×4 transpose-add. */
// @ts-ignore: decorator
@inline function sum4_i32x4(s0: v128, s1: v128, s2: v128, s3: v128): v128 {
  const u = i32x4.add(v128.shuffle<i32>(s0, s1, 0, 1, 4, 5), v128.shuffle<i32>(s0, s1, 2, 3, 6, 7));
  const v = i32x4.add(v128.shuffle<i32>(s2, s3, 0, 1, 4, 5), v128.shuffle<i32>(s2, s3, 2, 3, 6, 7));
  return i32x4.add(v128.shuffle<i32>(u, v, 0, 2, 4, 6), v128.shuffle<i32>(u, v, 1, 3, 5, 7));
}

/** The fp16 scales of four blocks as f32x4 (exact, lane-wise f16_to_f32). */
// @ts-ignore: decorator
@inline function scales4(p0: usize, p1: usize, p2: usize, p3: usize): v128 {
  let h = i32x4.splat(<i32>load<u16>(p0));
  h = i32x4.replace_lane(h, 1, <i32>load<u16>(p1));
  h = i32x4.replace_lane(h, 2, <i32>load<u16>(p2));
  h = i32x4.replace_lane(h, 3, <i32>load<u16>(p3));
  return f16x4_to_f32x4(h);
}

// @ts-ignore: decorator
@inline function matvec_q(out: usize, w: usize, x: usize, rows: i32, cols: i32, q4: bool): void {
  const nb = cols / QK;
  const rowBytes: usize = <usize>nb * (q4 ? Q4_0_BLOCK_BYTES : Q8_0_BLOCK_BYTES);
  const wb: usize = q4 ? Q4_0_BLOCK_BYTES : Q8_0_BLOCK_BYTES;
  let r = 0;
  if (ASC_FEATURE_SIMD) {
    // 4 rows at a time: they share the widened activation block, and their 4 block sums are
    // reduced together and scaled with one vector multiply (lane i = row r + i).
    for (; r + 4 <= rows; r += 4) {
      let p0 = w + <usize>r * rowBytes;
      let p1 = p0 + rowBytes;
      let p2 = p1 + rowBytes;
      let p3 = p2 + rowBytes;
      let acc = f32x4.splat(0);
      let px = x;
      for (let b = 0; b < nb; b++) {
        const x0 = x_lanes(px, 0);
        const x1 = x_lanes(px, 1);
        const x2 = x_lanes(px, 2);
        const x3 = x_lanes(px, 3);
        let t = sum4_i32x4(dot_block(p0, q4, x0, x1, x2, x3), dot_block(p1, q4, x0, x1, x2, x3), dot_block(p2, q4, x0, x1, x2, x3), dot_block(p3, q4, x0, x1, x2, x3));
        if (q4) {
          // Σ (q - 8)·x = Σ q·x - 8·Σ x, with 8·Σ x computed once for the 4 rows
          const sx = x_sum8(x0, x1, x2, x3);
          t = i32x4.sub(t, i32x4.splat(i32x4.extract_lane(sx, 0) + i32x4.extract_lane(sx, 1) + i32x4.extract_lane(sx, 2) + i32x4.extract_lane(sx, 3)));
        }
        const d = f32x4.mul(scales4(p0, p1, p2, p3), f32x4.splat(f16_to_f32(load<u16>(px))));
        acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(t), d));
        px += Q8_0_BLOCK_BYTES;
        p0 += wb;
        p1 += wb;
        p2 += wb;
        p3 += wb;
      }
      v128.store(out + (<usize>r << 2), acc);
    }
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

/** acc + (Σ q_w·q_x)·d_w·d_x for one token's activation block px against widened weights. */
// @ts-ignore: decorator
@inline function acc_token(acc: v128, px: usize, w0: v128, w1: v128, w2: v128, w3: v128, dw: f32): v128 {
  const s0 = i32x4.dot_i16x8_s(x_lanes(px, 0), w0);
  const s1 = i32x4.dot_i16x8_s(x_lanes(px, 1), w1);
  const s2 = i32x4.dot_i16x8_s(x_lanes(px, 2), w2);
  const s3 = i32x4.dot_i16x8_s(x_lanes(px, 3), w3);
  const s = i32x4.add(i32x4.add(s0, s1), i32x4.add(s2, s3));
  return f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.splat(dw * f16_to_f32(load<u16>(px)))));
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
      for (; t + 4 <= T; t += 4) {
        let acc0 = f32x4.splat(0);
        let acc1 = f32x4.splat(0);
        let acc2 = f32x4.splat(0);
        let acc3 = f32x4.splat(0);
        let px = x + <usize>t * xRowBytes;
        let pw = wr;
        for (let b = 0; b < nb; b++) {
          const w0 = w_lanes_centered(pw, 0, q4);
          const w1 = w_lanes_centered(pw, 1, q4);
          const w2 = w_lanes_centered(pw, 2, q4);
          const w3 = w_lanes_centered(pw, 3, q4);
          const dw = f16_to_f32(load<u16>(pw));
          acc0 = acc_token(acc0, px, w0, w1, w2, w3, dw);
          acc1 = acc_token(acc1, px + xRowBytes, w0, w1, w2, w3, dw);
          acc2 = acc_token(acc2, px + 2 * xRowBytes, w0, w1, w2, w3, dw);
          acc3 = acc_token(acc3, px + 3 * xRowBytes, w0, w1, w2, w3, dw);
          px += Q8_0_BLOCK_BYTES;
          pw += wb;
        }
        const ot = o + <usize>t * outStride;
        store<f32>(ot, hsum(acc0));
        store<f32>(ot + outStride, hsum(acc1));
        store<f32>(ot + 2 * outStride, hsum(acc2));
        store<f32>(ot + 3 * outStride, hsum(acc3));
      }
    }
    for (; t < T; t++) store<f32>(o + <usize>t * outStride, row_dot_q(wr, x + <usize>t * xRowBytes, nb, q4));
  }
}

// @ts-ignore: decorator
@inline function load_w4(w: usize, i: i32, half: bool): v128 {
  if (half) {
    // 4 halves (8 bytes) -> 4 f32
    const h = v128.load64_zero(w + (<usize>i << 1));
    return f16x4_to_f32x4(i32x4.extend_low_i16x8_u(h));
  }
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
