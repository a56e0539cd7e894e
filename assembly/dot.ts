// Block dot products shared by matvec, matmul and the masked FFN: one implementation per weight type.
//
// Integer path (as llama.cpp on CPUs): the activation row is quantized to Q8_0 once; a weight block
// is unpacked to 32 int8 lanes (a = elements 0..15, b = 16..31), widened to i16 and multiplied
// pairwise into i32 with i32x4.dot_i16x8_s. |w|, |x| <= 127 (Q4_0: [-8, 7]) so nothing overflows.
import { QK, Q8_0_BLOCK_BYTES, Q4_0_BLOCK_BYTES, f16_to_f32 } from './common';

/** Σ over 32 int8 pairs, as 4 i32 partial sums: (a, b) weight lanes, (x0..x3) widened activations. */
// @ts-ignore: decorator
@inline export function dot_i8_widened(a: v128, b: v128, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  const s0 = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(a), x0);
  const s1 = i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(a), x1);
  const s2 = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(b), x2);
  const s3 = i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(b), x3);
  return i32x4.add(i32x4.add(s0, s1), i32x4.add(s2, s3));
}

/** Weight lanes of a Q4_0 block at p: low nibbles -> elements 0..15, high nibbles -> 16..31, minus 8. */
// @ts-ignore: decorator
@inline export function q4_0_lo(p: usize): v128 {
  return i8x16.sub(v128.and(v128.load(p, 2), i8x16.splat(0x0f)), i8x16.splat(8));
}
// @ts-ignore: decorator
@inline export function q4_0_hi(p: usize): v128 {
  return i8x16.sub(i8x16.shr_u(v128.load(p, 2), 4), i8x16.splat(8));
}

/** Scalar Σ q_w·q_x over one block (the reference loop; also the scalar build's whole kernel). */
// @ts-ignore: decorator
@inline export function block_isum_scalar(w: usize, x: usize, q4: bool): i32 {
  let s: i32 = 0;
  if (q4) {
    for (let j = 0; j < 16; j++) {
      const byte = <i32>load<u8>(w + 2 + j);
      s += ((byte & 0x0f) - 8) * <i32>load<i8>(x + 2 + j);
      s += ((byte >> 4) - 8) * <i32>load<i8>(x + 2 + 16 + j);
    }
  } else {
    for (let j = 0; j < QK; j++) s += <i32>load<i8>(w + 2 + j) * <i32>load<i8>(x + 2 + j);
  }
  return s;
}

/**
 * Σ_b d_w[b]·d_x[b]·Σ q_w·q_x over nb blocks of one weight row (Q8_0 or Q4_0) and one Q8_0 activation row.
 */
// @ts-ignore: decorator
@inline export function row_dot_q(w: usize, x: usize, nb: i32, q4: bool): f32 {
  const wb: usize = q4 ? Q4_0_BLOCK_BYTES : Q8_0_BLOCK_BYTES;
  if (ASC_FEATURE_SIMD) {
    let acc = f32x4.splat(0);
    for (let b = 0; b < nb; b++) {
      const px = x + <usize>(b * Q8_0_BLOCK_BYTES);
      const pw = w + <usize>b * wb;
      const xa = v128.load(px, 2);
      const xb = v128.load(px, 18);
      const a = q4 ? q4_0_lo(pw) : v128.load(pw, 2);
      const bb = q4 ? q4_0_hi(pw) : v128.load(pw, 18);
      const s = dot_i8_widened(a, bb, i16x8.extend_low_i8x16_s(xa), i16x8.extend_high_i8x16_s(xa), i16x8.extend_low_i8x16_s(xb), i16x8.extend_high_i8x16_s(xb));
      const d = f16_to_f32(load<u16>(pw)) * f16_to_f32(load<u16>(px));
      acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.splat(d)));
    }
    return hsum(acc);
  } else {
    let sum: f32 = 0;
    for (let b = 0; b < nb; b++) {
      const px = x + <usize>(b * Q8_0_BLOCK_BYTES);
      const pw = w + <usize>b * wb;
      sum += <f32>block_isum_scalar(pw, px, q4) * (f16_to_f32(load<u16>(pw)) * f16_to_f32(load<u16>(px)));
    }
    return sum;
  }
}

/** Horizontal sum of an f32x4. */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** 4 f16 (in the low 16 bits of each i32 lane) -> f32x4, exact (the lane-wise f16_to_f32). */
// @ts-ignore: decorator
@inline export function f16x4_to_f32x4(h: v128): v128 {
  const sign = i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16);
  const mag = v128.and(h, i32x4.splat(0x7fff));
  const shifted = i32x4.shl(mag, 13);
  const normal = f32x4.mul(shifted, f32x4.splat(5.192296858534828e33));
  const special = v128.or(shifted, i32x4.splat(0x7f800000));
  return v128.or(v128.bitselect(special, normal, i32x4.ge_s(mag, i32x4.splat(0x7c00))), sign);
}

/** Σ w·x over n floats (f32 or f16 weights, f32 activations). */
// @ts-ignore: decorator
@inline export function row_dot_f(w: usize, x: usize, n: i32, half: bool): f32 {
  let i = 0;
  let sum: f32 = 0;
  if (ASC_FEATURE_SIMD) {
    let acc0 = f32x4.splat(0);
    let acc1 = f32x4.splat(0);
    for (; i + 8 <= n; i += 8) {
      const px = x + (<usize>i << 2);
      let w0: v128, w1: v128;
      if (half) {
        const h = v128.load(w + (<usize>i << 1));
        w0 = f16x4_to_f32x4(i32x4.extend_low_i16x8_u(h));
        w1 = f16x4_to_f32x4(i32x4.extend_high_i16x8_u(h));
      } else {
        w0 = v128.load(w + (<usize>i << 2));
        w1 = v128.load(w + (<usize>i << 2), 16);
      }
      acc0 = f32x4.add(acc0, f32x4.mul(w0, v128.load(px)));
      acc1 = f32x4.add(acc1, f32x4.mul(w1, v128.load(px, 16)));
    }
    sum = hsum(f32x4.add(acc0, acc1));
  }
  for (; i < n; i++) {
    const wv: f32 = half ? f16_to_f32(load<u16>(w + (<usize>i << 1))) : load<f32>(w + (<usize>i << 2));
    sum += wv * load<f32>(x + (<usize>i << 2));
  }
  return sum;
}
