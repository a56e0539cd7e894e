// Matrix-vector (decode) and matrix-matrix (prefill) products. Weights are row-major (rows, cols),
// one row = cols/32 blocks for Q8_0/Q4_0, cols f16 or f32 otherwise. For quantized weights the
// activations are Q8_0 rows (quantize_row_q8_0), dotted with integer SIMD (see dot.ts).
import { QK, Q8_0_BLOCK_BYTES, Q4_0_BLOCK_BYTES, f16_to_f32 } from './common';
import { dot_i8_widened, q4_0_lo, q4_0_hi, row_dot_q, row_dot_f, hsum, f16x4_to_f32x4 } from './dot';

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
@inline function weight_lanes_a(p: usize, q4: bool): v128 {
  return q4 ? q4_0_lo(p) : v128.load(p, 2);
}
// @ts-ignore: decorator
@inline function weight_lanes_b(p: usize, q4: bool): v128 {
  return q4 ? q4_0_hi(p) : v128.load(p, 18);
}

/** One row-block's contribution: acc + (Σ q_w·q_x) · d_w·d_x, for weight block pw. */
// @ts-ignore: decorator
@inline function acc_block(acc: v128, pw: usize, q4: bool, x0: v128, x1: v128, x2: v128, x3: v128, dx: f32): v128 {
  const s = dot_i8_widened(weight_lanes_a(pw, q4), weight_lanes_b(pw, q4), x0, x1, x2, x3);
  return f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.splat(f16_to_f32(load<u16>(pw)) * dx)));
}

// @ts-ignore: decorator
@inline function matvec_q(out: usize, w: usize, x: usize, rows: i32, cols: i32, q4: bool): void {
  const nb = cols / QK;
  const rowBytes: usize = <usize>nb * (q4 ? Q4_0_BLOCK_BYTES : Q8_0_BLOCK_BYTES);
  const wb: usize = q4 ? Q4_0_BLOCK_BYTES : Q8_0_BLOCK_BYTES;
  let r = 0;
  if (ASC_FEATURE_SIMD) {
    // 4 rows at a time share the widened activation block.
    for (; r + 4 <= rows; r += 4) {
      let p0 = w + <usize>r * rowBytes;
      let p1 = p0 + rowBytes;
      let p2 = p1 + rowBytes;
      let p3 = p2 + rowBytes;
      let acc0 = f32x4.splat(0);
      let acc1 = f32x4.splat(0);
      let acc2 = f32x4.splat(0);
      let acc3 = f32x4.splat(0);
      let px = x;
      for (let b = 0; b < nb; b++) {
        const xa = v128.load(px, 2);
        const xb = v128.load(px, 18);
        const x0 = i16x8.extend_low_i8x16_s(xa);
        const x1 = i16x8.extend_high_i8x16_s(xa);
        const x2 = i16x8.extend_low_i8x16_s(xb);
        const x3 = i16x8.extend_high_i8x16_s(xb);
        const dx = f16_to_f32(load<u16>(px));
        acc0 = acc_block(acc0, p0, q4, x0, x1, x2, x3, dx);
        acc1 = acc_block(acc1, p1, q4, x0, x1, x2, x3, dx);
        acc2 = acc_block(acc2, p2, q4, x0, x1, x2, x3, dx);
        acc3 = acc_block(acc3, p3, q4, x0, x1, x2, x3, dx);
        px += Q8_0_BLOCK_BYTES;
        p0 += wb;
        p1 += wb;
        p2 += wb;
        p3 += wb;
      }
      const o = out + (<usize>r << 2);
      store<f32>(o, hsum(acc0));
      store<f32>(o, hsum(acc1), 4);
      store<f32>(o, hsum(acc2), 8);
      store<f32>(o, hsum(acc3), 12);
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
  const s = dot_i8_widened(v128.load(px, 2), v128.load(px, 18), w0, w1, w2, w3);
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
          const a = weight_lanes_a(pw, q4);
          const bb = weight_lanes_b(pw, q4);
          const w0 = i16x8.extend_low_i8x16_s(a);
          const w1 = i16x8.extend_high_i8x16_s(a);
          const w2 = i16x8.extend_low_i8x16_s(bb);
          const w3 = i16x8.extend_high_i8x16_s(bb);
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
