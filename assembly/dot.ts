// Block dot products shared by matvec, matmul and the masked FFN: one implementation per weight type.
//
// Integer path (as llama.cpp on CPUs): the activation row is quantized to Q8_0 once; the 32 int8
// values of a block are loaded already widened to i16 (v128.load8x8_s: 4 vectors of 8, x0 = elements
// 0..7 ... x3 = 24..31) and multiplied pairwise into i32 lanes with i32x4.dot_i16x8_s. |w|, |x| ≤ 127
// (Q4_0: 0..15 before the -8 offset) so no lane overflows.
import { QK, Q8_0_BLOCK_BYTES, Q4_0_BLOCK_BYTES, f16_to_f32 } from './common';

/** Widened lanes e of a weight block at p (e = 0..3: elements 8e..8e+7), as i16x8.
 * Q8_0: the int8 q. Q4_0: the raw nibble 0..15 (the -8 offset is applied by the caller: q4_centered
 * or q4_offset). Q4_0 byte j holds element j (low nibble) and element j+16 (high nibble). */
// @ts-ignore: decorator
@inline export function w_lanes(p: usize, e: i32, q4: bool): v128 {
  if (!q4) return v128.load8x8_s(p + 2 + (<usize>e << 3));
  const bytes = v128.load8x8_u(p + 2 + (<usize>(e & 1) << 3));
  return e < 2 ? v128.and(bytes, i16x8.splat(0x0f)) : i16x8.shr_u(bytes, 4);
}

/** Q4_0 lanes with the -8 offset applied: elements as signed i16 in [-8, 7]. */
// @ts-ignore: decorator
@inline export function w_lanes_centered(p: usize, e: i32, q4: bool): v128 {
  const v = w_lanes(p, e, q4);
  return q4 ? i16x8.sub(v, i16x8.splat(8)) : v;
}

/** Activation lanes of a Q8_0 block at p (e = 0..3), as i16x8. */
// @ts-ignore: decorator
@inline export function x_lanes(p: usize, e: i32): v128 {
  return v128.load8x8_s(p + 2 + (<usize>e << 3));
}

/** Σ_j w_j·x_j of a weight block and widened activations, as 4 i32 partial sums (raw Q4_0 nibbles). */
// @ts-ignore: decorator
@inline export function dot_block(pw: usize, q4: bool, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  const s0 = i32x4.dot_i16x8_s(w_lanes(pw, 0, q4), x0);
  const s1 = i32x4.dot_i16x8_s(w_lanes(pw, 1, q4), x1);
  const s2 = i32x4.dot_i16x8_s(w_lanes(pw, 2, q4), x2);
  const s3 = i32x4.dot_i16x8_s(w_lanes(pw, 3, q4), x3);
  return i32x4.add(i32x4.add(s0, s1), i32x4.add(s2, s3));
}

/** 8·Σ x over an activation block as 4 i32 partial sums: Σ (q - 8)·x = Σ q·x - 8·Σ x for Q4_0. */
// @ts-ignore: decorator
@inline export function x_sum8(x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  return i32x4.shl(i32x4.dot_i16x8_s(i16x8.add(i16x8.add(x0, x1), i16x8.add(x2, x3)), i16x8.splat(1)), 3);
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
      const x0 = x_lanes(px, 0);
      const x1 = x_lanes(px, 1);
      const x2 = x_lanes(px, 2);
      const x3 = x_lanes(px, 3);
      let s = dot_block(pw, q4, x0, x1, x2, x3);
      if (q4) s = i32x4.sub(s, x_sum8(x0, x1, x2, x3));
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

/** [Σ s0, Σ s1, Σ s2, Σ s3]: the lane sums of four i32x4, by a 4×4 transpose-add. */
// @ts-ignore: decorator
@inline export function sum4_i32x4(s0: v128, s1: v128, s2: v128, s3: v128): v128 {
  const u = i32x4.add(v128.shuffle<i32>(s0, s1, 0, 1, 4, 5), v128.shuffle<i32>(s0, s1, 2, 3, 6, 7));
  const v = i32x4.add(v128.shuffle<i32>(s2, s3, 0, 1, 4, 5), v128.shuffle<i32>(s2, s3, 2, 3, 6, 7));
  return i32x4.add(v128.shuffle<i32>(u, v, 0, 2, 4, 6), v128.shuffle<i32>(u, v, 1, 3, 5, 7));
}

/** The fp16 scales of four blocks as f32x4 (exact, lane-wise f16_to_f32). */
// @ts-ignore: decorator
@inline export function scales4(p0: usize, p1: usize, p2: usize, p3: usize): v128 {
  let h = i32x4.splat(<i32>load<u16>(p0));
  h = i32x4.replace_lane(h, 1, <i32>load<u16>(p1));
  h = i32x4.replace_lane(h, 2, <i32>load<u16>(p2));
  h = i32x4.replace_lane(h, 3, <i32>load<u16>(p3));
  return f16x4_to_f32x4(h);
}

/**
 * The dot products of 4 weight rows (Q8_0 or Q4_0) at w, w + stride, w + 2·stride, w + 3·stride with one
 * Q8_0 activation row, as f32x4 (lane i = row i). The rows share each widened activation block, and
 * their 4 block sums are reduced together and scaled with one vector multiply.
 */
// @ts-ignore: decorator
@inline export function dot4_q(w: usize, stride: usize, x: usize, nb: i32, q4: bool): v128 {
  const wb: usize = q4 ? Q4_0_BLOCK_BYTES : Q8_0_BLOCK_BYTES;
  let p0 = w;
  let p1 = p0 + stride;
  let p2 = p1 + stride;
  let p3 = p2 + stride;
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
  return acc;
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
