// Quantization of f32 rows to GGUF blocks and back. Bit-exact with ggml-quants.c
// quantize_row_q8_0_ref / quantize_row_q4_0_ref (round half away from zero, fp16 scale rounded to
// nearest even); the TS twins are in src/reference/quant.ts.
import { QK, Q8_0_BLOCK_BYTES, Q4_0_BLOCK_BYTES, f16_to_f32, f32_to_f16, roundf } from './common';

/**
 * dst (n/32 blocks of 34 bytes: f16 d | i8 q[32]) = Q8_0(src (n f32)); n a multiple of 32.
 * d = max|x| / 127, q = round(x / d).  see: ggml-quants.c quantize_row_q8_0_ref
 */
export function quantize_row_q8_0(dst: usize, src: usize, n: i32): void {
  const nb = n / QK;
  for (let b = 0; b < nb; b++) {
    const x = src + ((<usize>b) << 7); // 32 f32 per block
    const y = dst + <usize>(b * Q8_0_BLOCK_BYTES);
    if (ASC_FEATURE_SIMD) {
      let m = f32x4.abs(v128.load(x));
      for (let j = 16; j < 128; j += 16) m = f32x4.max(m, f32x4.abs(v128.load(x + j)));
      const amax = Mathf.max(Mathf.max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), Mathf.max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
      const d: f32 = amax / 127;
      const id: f32 = d != 0 ? (<f32>1.0) / d : 0;
      store<u16>(y, <u16>f32_to_f16(d));
      const vid = f32x4.splat(id);
      // 32 values -> 8 x i32x4 -> 4 x i16x8 -> 2 x i8x16
      for (let h = 0; h < 2; h++) {
        const xs = x + (<usize>h << 6);
        const a = round_i32x4(f32x4.mul(v128.load(xs), vid));
        const bq = round_i32x4(f32x4.mul(v128.load(xs, 16), vid));
        const c = round_i32x4(f32x4.mul(v128.load(xs, 32), vid));
        const e = round_i32x4(f32x4.mul(v128.load(xs, 48), vid));
        const q = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(a, bq), i16x8.narrow_i32x4_s(c, e));
        v128.store(y + 2 + (<usize>h << 4), q);
      }
    } else {
      let amax: f32 = 0;
      for (let j = 0; j < QK; j++) amax = Mathf.max(amax, Mathf.abs(load<f32>(x + (<usize>j << 2))));
      const d: f32 = amax / 127;
      const id: f32 = d != 0 ? (<f32>1.0) / d : 0;
      store<u16>(y, <u16>f32_to_f16(d));
      for (let j = 0; j < QK; j++) {
        store<i8>(y + 2 + j, <i8>(<i32>roundf(load<f32>(x + (<usize>j << 2)) * id)));
      }
    }
  }
}

/** Round half away from zero, lane-wise, to i32 (see roundf in common.ts for why not floor(|x|+0.5)). */
// @ts-ignore: decorator
@inline function round_i32x4(v: v128): v128 {
  const a = f32x4.abs(v);
  const t = f32x4.floor(a);
  const up = v128.and(f32x4.ge(f32x4.sub(a, t), f32x4.splat(0.5)), f32x4.splat(1.0));
  const r = f32x4.add(t, up);
  // copy the sign of v onto r
  return i32x4.trunc_sat_f32x4_s(v128.or(r, v128.and(v, i32x4.splat(0x80000000))));
}

/**
 * dst (n/32 blocks of 18 bytes: f16 d | u8 qs[16]) = Q4_0(src (n f32)); n a multiple of 32.
 * d = m / -8 where m is the value of largest magnitude; q = min(15, trunc(fma(x, 1/d, 8.5)));
 * byte j holds q[j] in its low nibble and q[j+16] in its high nibble.
 * see: ggml-quants.c quantize_row_q4_0_ref. (Offline conversion only: scalar in both builds.)
 */
export function quantize_row_q4_0(dst: usize, src: usize, n: i32): void {
  const nb = n / QK;
  for (let b = 0; b < nb; b++) {
    const x = src + ((<usize>b) << 7);
    const y = dst + <usize>(b * Q4_0_BLOCK_BYTES);
    let amax: f32 = 0;
    let mx: f32 = 0;
    for (let j = 0; j < QK; j++) {
      const v = load<f32>(x + (<usize>j << 2));
      if (amax < Mathf.abs(v)) {
        amax = Mathf.abs(v);
        mx = v;
      }
    }
    const d: f32 = mx / -8;
    const id: f32 = d != 0 ? (<f32>1.0) / d : 0;
    store<u16>(y, <u16>f32_to_f16(d));
    for (let j = 0; j < 16; j++) {
      // x·id + 8.5 rounded once to f32, as ggml built with FMA contraction (the usual -O3 build on
      // x86-64/arm64) and gguf-py's reimplementation compute it; the product is exact in f64.
      const v0 = <f32>(<f64>load<f32>(x + (<usize>j << 2)) * <f64>id + 8.5);
      const v1 = <f32>(<f64>load<f32>(x + (<usize>(j + 16) << 2)) * <f64>id + 8.5);
      const q0 = min(15, <i32>v0);
      const q1 = min(15, <i32>v1);
      store<u8>(y + 2 + j, <u8>(q0 | (q1 << 4)));
    }
  }
}

/** dst (n f16, round to nearest even) = src (n f32); any n. */
export function quantize_row_f16(dst: usize, src: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<u16>(dst + (<usize>i << 1), <u16>f32_to_f16(load<f32>(src + (<usize>i << 2))));
}

/** dst (n f32) = src (n f16); any n. */
export function dequantize_row_f16(dst: usize, src: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(dst + (<usize>i << 2), f16_to_f32(load<u16>(src + (<usize>i << 1))));
}

/** dst (n f32) = d * q over n/32 Q8_0 blocks. */
export function dequantize_row_q8_0(dst: usize, src: usize, n: i32): void {
  const nb = n / QK;
  for (let b = 0; b < nb; b++) {
    const y = src + <usize>(b * Q8_0_BLOCK_BYTES);
    const d = f16_to_f32(load<u16>(y));
    const o = dst + ((<usize>b) << 7);
    for (let j = 0; j < QK; j++) store<f32>(o + (<usize>j << 2), d * <f32>load<i8>(y + 2 + j));
  }
}

/** dst (n f32) = d * (q - 8) over n/32 Q4_0 blocks. */
export function dequantize_row_q4_0(dst: usize, src: usize, n: i32): void {
  const nb = n / QK;
  for (let b = 0; b < nb; b++) {
    const y = src + <usize>(b * Q4_0_BLOCK_BYTES);
    const d = f16_to_f32(load<u16>(y));
    const o = dst + ((<usize>b) << 7);
    for (let j = 0; j < 16; j++) {
      const byte = <i32>load<u8>(y + 2 + j);
      store<f32>(o + (<usize>j << 2), d * <f32>((byte & 0x0f) - 8));
      store<f32>(o + (<usize>(j + 16) << 2), d * <f32>((byte >> 4) - 8));
    }
  }
}
