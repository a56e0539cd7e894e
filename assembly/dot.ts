// Block dot products shared by matvec, matmul and the masked FFN: one implementation per weight type.
//
// Integer path (as llama.cpp on CPUs): the activation row is quantized to Q8_0 once; the 32 int8
// values of a block are loaded already widened to i16 (v128.load8x8_s: 4 vectors of 8, x0 = elements
// 0..7 ... x3 = 24..31) and multiplied pairwise into i32 lanes with i32x4.dot_i16x8_s. |w|, |x| ≤ 127
// (Q4_0 weights are centered to q - 8 in [-8, 7] as bytes, then widened) so no lane overflows.
//
// Relaxed build (--enable relaxed-simd, ASC_FEATURE_RELAXED_SIMD; docs/relaxed-simd.md): Q4_0 blocks skip the
// centering and widening. i16x8.relaxed_dot_i8x16_i7x16_s multiplies the activation bytes (i8) by the
// unsigned nibbles q in [0, 15] (the i7 operand, where every engine agrees) and Σ x·(q - 8) = Σ x·q - 8·Σ x,
// with 8·Σ x taken per activation block (x_offset8). Integer sums are the same integers, so every result
// equals the SIMD build's bit for bit; dot_block keeps the SIMD build's lanes (see there). The i32x4
// relaxed dot-add is not used: Node 20's Liftoff computes it twice over (../shared/PLATFORMS.md).
// Q8_0 blocks stay on the SIMD path in every build (RELAXED_Q8 says why).
import { QK, Q8_0_BLOCK_BYTES, Q4_0_BLOCK_BYTES, f16_to_f32 } from './common';

// Loads take the block's field offsets as wasm immediate offsets (`v128.load8x8_s(p, 10)`), not as
// `p + 10`: an i32.add in the address costs V8 an extra instruction per load (it cannot fold a
// wrapping add into the addressing mode). AS requires the immediate to be a literal at the call
// site (`v128.load8x8_s(p, 2 + (e << 3))` inside an @inline helper fails with AS220 "Expression must
// be a compile-time constant", asc 0.28.20), so the helpers below branch on the constant e and
// binaryen folds the branch after inlining.

/** Activation lanes e of a Q8_0 block at p (e = 0..3: elements 8e..8e+7), as i16x8. */
// @ts-ignore: decorator
@inline export function x_lanes(p: usize, e: i32): v128 {
  if (e == 0) return v128.load8x8_s(p, 2);
  if (e == 1) return v128.load8x8_s(p, 10);
  if (e == 2) return v128.load8x8_s(p, 18);
  return v128.load8x8_s(p, 26);
}

/** The 16 Q4_0 nibble bytes at p as i8x16 q - 8 in [-8, 7]: low nibbles (elements 0..15) or high (16..31).
 * Q4_0 byte j holds element j (low nibble) and element j+16 (high nibble). */
// @ts-ignore: decorator
@inline export function q4_centered(p: usize, high: bool): v128 {
  const v = v128.load(p, 2);
  return i8x16.sub(high ? i8x16.shr_u(v, 4) : v128.and(v, i8x16.splat(0x0f)), i8x16.splat(8));
}

/** Widened weight lanes e of a block at p (e = 0..3: elements 8e..8e+7), as i16x8: the int8 q of Q8_0,
 * or q - 8 of Q4_0. */
// @ts-ignore: decorator
@inline export function w_lanes_centered(p: usize, e: i32, q4: bool): v128 {
  if (!q4) return x_lanes(p, e);
  const c = q4_centered(p, e >= 2);
  return (e & 1) == 0 ? i16x8.extend_low_i8x16_s(c) : i16x8.extend_high_i8x16_s(c);
}

/**
 * Whether Q8_0 weight blocks take the relaxed dot too (|w| as the i7 operand, x with w's sign as the i8
 * one). Off: measured slower than the widened SIMD dot (bench/relaxed.ts, docs/relaxed-simd.md), since
 * applying the sign costs more per block than the widening it replaces; kept as one switch so the
 * measurement can be repeated.
 */
const RELAXED_Q8: bool = false;

/** Whether blocks of this weight type use the relaxed dot in this build (a compile-time constant). */
// @ts-ignore: decorator
@inline function relaxed(q4: bool): bool {
  return ASC_FEATURE_RELAXED_SIMD && (q4 || RELAXED_Q8);
}

/** The raw int8 activations of the Q8_0 block at p: elements 0..15 (high = false) or 16..31. */
// @ts-ignore: decorator
@inline function x_bytes(p: usize, high: bool): v128 {
  return high ? v128.load(p, 18) : v128.load(p, 2);
}

/** 8·(x_2j + x_2j+1 + x_16+2j + x_17+2j) in i16 lane j, from a block's raw activations lo = x_0..15,
 * hi = x_16..31: the Q4_0 offset of q4_dot16 (|lane| ≤ 4096). */
// @ts-ignore: decorator
@inline function x_offset8(lo: v128, hi: v128): v128 {
  return i16x8.shl(i16x8.add(i16x8.extadd_pairwise_i8x16_s(lo), i16x8.extadd_pairwise_i8x16_s(hi)), 3);
}

/**
 * i16 lane j = a_2j·b_2j + a_2j+1·b_2j+1 for int8 a and b in [0, 127] (the i7 operand):
 * i16x8.relaxed_dot_i8x16_i7x16_s in the relaxed build. asc compiles a builtin of a disabled feature as an error even inside a branch that folds
 * away (only a direct ASC_FEATURE_* condition is folded before the check), so the other builds get the same
 * product in SIMD128 (even and odd bytes sign-extended to i16); no caller reaches it there (relaxed()).
 */
// @ts-ignore: decorator
@inline function dot_i8_i7(a: v128, b: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i16x8.relaxed_dot_i8x16_i7x16_s(a, b);
  const even = i16x8.mul(i16x8.shr_s(i16x8.shl(a, 8), 8), i16x8.shr_s(i16x8.shl(b, 8), 8));
  return i16x8.add(even, i16x8.mul(i16x8.shr_s(a, 8), i16x8.shr_s(b, 8)));
}

/** The relaxed dot's weight operand: the block at pw's low (high = false) or high nibbles as bytes 0..15
 * (Q4_0, elements 0..15 or 16..31), or its int8 elements 0..15 or 16..31 (Q8_0). */
// @ts-ignore: decorator
@inline function w_bytes(pw: usize, q4: bool, high: bool): v128 {
  if (!q4) return x_bytes(pw, high);
  const v = v128.load(pw, 2);
  return high ? i8x16.shr_u(v, 4) : v128.and(v, i8x16.splat(0x0f));
}

/**
 * Relaxed Q4_0 block dot from the nibbles wlo, whi (w_bytes), the activations xlo, xhi (x_bytes) and their
 * x_offset8: i16 lane j = Σ (q_i - 8)·x_i over i in {2j, 2j+1, 16+2j, 17+2j}. The nibbles are the i7
 * operand (0..15); |x·q + x·q| ≤ 3840 per relaxed dot lane, so no i16 lane overflows or saturates
 * (|lane| ≤ 7680 before the offset, ≤ 4096 after).
 */
// @ts-ignore: decorator
@inline function q4_dot16(wlo: v128, whi: v128, xlo: v128, xhi: v128, off8: v128): v128 {
  const lo = dot_i8_i7(xlo, wlo);
  const hi = dot_i8_i7(xhi, whi);
  return i16x8.sub(i16x8.add(lo, hi), off8);
}

/** x with the sign of w (x·sign(w); where w = 0 the product is 0 anyway), for the Q8_0 relaxed dot.
 * Exact for x, w in [-127, 127] (Q8_0 as ggml and quantize_row_q8_0 quantize). */
// @ts-ignore: decorator
@inline function x_signed_by(x: v128, w: v128): v128 {
  const m = i8x16.shr_s(w, 7);
  return i8x16.sub(v128.xor(x, m), m);
}

/**
 * A block's Σ w·x for relaxed(q4) types from its weight operands (w_bytes) and activation operands, as 4 i32
 * partial sums whose lanes differ from dot_block's (only their total is the same): for sum4_i32x4 and other
 * whole-block consumers. Q8_0: |w| as the i7 operand, x·sign(w) as the i8 one; two products per i16 lane
 * (≤ 2·127·127) are widened before the halves are added.
 */
// @ts-ignore: decorator
@inline function relaxed_dot(wlo: v128, whi: v128, q4: bool, xlo: v128, xhi: v128, off8: v128): v128 {
  if (q4) return i32x4.extadd_pairwise_i16x8_s(q4_dot16(wlo, whi, xlo, xhi, off8));
  const lo = dot_i8_i7(x_signed_by(xlo, wlo), i8x16.abs(wlo));
  const hi = dot_i8_i7(x_signed_by(xhi, whi), i8x16.abs(whi));
  return i32x4.add(i32x4.extadd_pairwise_i16x8_s(lo), i32x4.extadd_pairwise_i16x8_s(hi));
}

/** relaxed_dot of the weight block at pw. */
// @ts-ignore: decorator
@inline function relaxed_block(pw: usize, q4: bool, xlo: v128, xhi: v128, off8: v128): v128 {
  return relaxed_dot(w_bytes(pw, q4, false), w_bytes(pw, q4, true), q4, xlo, xhi, off8);
}

/** The Q4_0 offset operand of an activation block for relaxed_dot (zero for Q8_0 weights, which need none). */
// @ts-ignore: decorator
@inline function x_offset(q4: bool, xlo: v128, xhi: v128): v128 {
  return q4 ? x_offset8(xlo, xhi) : i32x4.splat(0);
}

/** Q4_0 relaxed dot of the block at pw in dot_block's lanes: SIMD lane i = i16 lanes i and i + 4 of q4_dot16. */
// @ts-ignore: decorator
@inline function q4_dot_lanes(pw: usize, xlo: v128, xhi: v128): v128 {
  const v = q4_dot16(w_bytes(pw, true, false), w_bytes(pw, true, true), xlo, xhi, x_offset8(xlo, xhi));
  return i32x4.add(i32x4.extend_low_i16x8_s(v), i32x4.extend_high_i16x8_s(v));
}

/**
 * Σ_j w_j·x_j of a weight block at pw (Q4_0: q - 8) and widened activations (x_lanes), as 4 i32 partial
 * sums, lane i over elements 2i, 2i+1 (+ 8, 16, 24): the same lanes in every build, so a caller may convert
 * lanes to float before adding them. The relaxed build narrows x back to bytes for the Q4_0 relaxed dot
 * (callers that share x among several blocks get the narrowing computed once by V8's value numbering).
 */
// @ts-ignore: decorator
@inline export function dot_block(pw: usize, q4: bool, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD && q4) return q4_dot_lanes(pw, i8x16.narrow_i16x8_s(x0, x1), i8x16.narrow_i16x8_s(x2, x3));
  let w0: v128, w1: v128, w2: v128, w3: v128;
  if (q4) {
    // one 16-byte load for all 32 nibbles
    const lo = q4_centered(pw, false);
    const hi = q4_centered(pw, true);
    w0 = i16x8.extend_low_i8x16_s(lo);
    w1 = i16x8.extend_high_i8x16_s(lo);
    w2 = i16x8.extend_low_i8x16_s(hi);
    w3 = i16x8.extend_high_i8x16_s(hi);
  } else {
    w0 = x_lanes(pw, 0);
    w1 = x_lanes(pw, 1);
    w2 = x_lanes(pw, 2);
    w3 = x_lanes(pw, 3);
  }
  const s01 = i32x4.add(i32x4.dot_i16x8_s(w0, x0), i32x4.dot_i16x8_s(w1, x1));
  return i32x4.add(s01, i32x4.add(i32x4.dot_i16x8_s(w2, x2), i32x4.dot_i16x8_s(w3, x3)));
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
      let s: v128;
      if (ASC_FEATURE_RELAXED_SIMD && q4) s = q4_dot_lanes(pw, x_bytes(px, false), x_bytes(px, true));
      else s = dot_block(pw, q4, x_lanes(px, 0), x_lanes(px, 1), x_lanes(px, 2), x_lanes(px, 3));
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
  let h = v128.load16_lane(p0, i16x8.splat(0), 0);
  h = v128.load16_lane(p1, h, 1);
  h = v128.load16_lane(p2, h, 2);
  h = v128.load16_lane(p3, h, 3);
  return f16x4_to_f32x4(i32x4.extend_low_i16x8_u(h));
}

/** d_w·d_x·Σ q_w·q_x of one block of 4 weight rows (at p0..p3) and one activation block (px), as f32x4. */
// @ts-ignore: decorator
@inline function block_dot4(p0: usize, p1: usize, p2: usize, p3: usize, px: usize, q4: bool): v128 {
  let t: v128;
  if (relaxed(q4)) {
    const xlo = x_bytes(px, false);
    const xhi = x_bytes(px, true);
    const off8 = x_offset(q4, xlo, xhi);
    t = sum4_i32x4(relaxed_block(p0, q4, xlo, xhi, off8), relaxed_block(p1, q4, xlo, xhi, off8), relaxed_block(p2, q4, xlo, xhi, off8), relaxed_block(p3, q4, xlo, xhi, off8));
  } else {
    const x0 = x_lanes(px, 0);
    const x1 = x_lanes(px, 1);
    const x2 = x_lanes(px, 2);
    const x3 = x_lanes(px, 3);
    t = sum4_i32x4(dot_block(p0, q4, x0, x1, x2, x3), dot_block(p1, q4, x0, x1, x2, x3), dot_block(p2, q4, x0, x1, x2, x3), dot_block(p3, q4, x0, x1, x2, x3));
  }
  const d = f32x4.mul(scales4(p0, p1, p2, p3), f32x4.splat(f16_to_f32(load<u16>(px))));
  return f32x4.mul(f32x4.convert_i32x4_s(t), d);
}

/**
 * The dot products of 4 weight rows (Q8_0 or Q4_0) at w, w + stride, w + 2·stride, w + 3·stride with one
 * Q8_0 activation row, as f32x4 (lane i = row i). The rows share each widened activation block, and
 * their 4 block sums are reduced together and scaled with one vector multiply; 2 blocks per iteration.
 *
 * Prefetch (`touch`): walking 4 rows at once is 4 interleaved streams, and when the rows are short
 * (several rows per 4 KiB page) the hardware prefetcher does not follow them: 64 copies of a
 * 1536×576 Q8_0 matrix streamed from DRAM at ~3.5 GB/s this way, against ~10 GB/s one row at a time.
 * With `touch`, each iteration also loads one byte per 64-byte line of [t, t + touchRows·rowBytes),
 * in order, at touchRows/4 times the rate these rows are consumed: one sequential stream, which the
 * prefetcher does follow. The caller points t at the rows it will dot next (contiguous after these
 * for matvec: touchRows = 4), so they are in cache when their turn comes; the range must lie in
 * memory (a dropped load is kept by binaryen and V8 because it may trap). Wasm has no prefetch
 * instruction. Long rows (≥ 4 KiB, see touch_ahead) stream well without touching and are slower with it.
 */
// @ts-ignore: decorator
@inline export function dot4_q(w: usize, stride: usize, x: usize, nb: i32, q4: bool, touch: bool, t: usize, touchRows: i32): v128 {
  const wb: usize = q4 ? Q4_0_BLOCK_BYTES : Q8_0_BLOCK_BYTES;
  let p0 = w;
  let p1 = p0 + stride;
  let p2 = p1 + stride;
  let p3 = p2 + stride;
  let acc0 = f32x4.splat(0);
  let acc1 = f32x4.splat(0);
  let px = x;
  let b = 0;
  for (; b + 2 <= nb; b += 2) {
    if (touch) {
      touch_lines(t, 2 * touchRows * wb);
      t += 2 * <usize>touchRows * wb;
    }
    acc0 = f32x4.add(acc0, block_dot4(p0, p1, p2, p3, px, q4));
    acc1 = f32x4.add(acc1, block_dot4(p0 + wb, p1 + wb, p2 + wb, p3 + wb, px + Q8_0_BLOCK_BYTES, q4));
    px += 2 * Q8_0_BLOCK_BYTES;
    p0 += 2 * wb;
    p1 += 2 * wb;
    p2 += 2 * wb;
    p3 += 2 * wb;
  }
  if (b < nb) acc0 = f32x4.add(acc0, block_dot4(p0, p1, p2, p3, px, q4));
  return f32x4.add(acc0, acc1);
}

/** Loads one byte of each 64-byte line of [t, t + bytes), bytes ≤ 512 and a compile-time constant. */
// @ts-ignore: decorator
@inline function touch_lines(t: usize, bytes: usize): void {
  load<u8>(t);
  if (bytes > 64) load<u8>(t, 64);
  if (bytes > 128) load<u8>(t, 128);
  if (bytes > 192) load<u8>(t, 192);
  if (bytes > 256) load<u8>(t, 256);
  if (bytes > 320) load<u8>(t, 320);
  if (bytes > 384) load<u8>(t, 384);
  if (bytes > 448) load<u8>(t, 448);
}

/** Whether dot4_q over rows of rowBytes should touch the next 4 rows (see dot4_q). */
// @ts-ignore: decorator
@inline export function touch_ahead(rowBytes: usize): bool {
  return rowBytes < 4096;
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

/** Row b's sums of the last tile2x4_dot (its second return value): 16 bytes of static memory (a v128
 * global would not compile in the scalar build). */
const TILE_ACC_B: usize = memory.data(16, 16);

// @ts-ignore: decorator
@inline export function tile_acc_b(): v128 {
  return v128.load(TILE_ACC_B);
}

/** acc + Σ w·x of 8 int16 pairs (4 i32 partial sums). */
// @ts-ignore: decorator
@inline export function mac(acc: v128, w: v128, x: v128): v128 {
  return i32x4.add(acc, i32x4.dot_i16x8_s(w, x));
}

/** Widened weight lanes e (elements 8e..8e+7) of the block at p; for Q4_0 from c, the block's centered
 * low (e < 2) or high (e ≥ 2) nibbles (q4_centered), so each 16-byte load is centered once. */
// @ts-ignore: decorator
@inline export function w_lanes_from(p: usize, e: i32, q4: bool, c: v128): v128 {
  if (!q4) return x_lanes(p, e);
  return (e & 1) == 0 ? i16x8.extend_low_i8x16_s(c) : i16x8.extend_high_i8x16_s(c);
}

/**
 * A 2-row × 4-token register tile of integer dot products: rows a, b (Q8_0 or Q4_0 weights at pa, pb,
 * nb blocks) × tokens 0..3 (Q8_0 activation rows at px, px + xStride, ...). Per block, each widened
 * weight vector is used by 4 tokens and each widened activation vector by both rows: 8 i32x4 sums
 * (a0..a3, b0..b3), reduced once per block with two transpose-adds and scaled by d_w[row]·d_x[t0..t3] in
 * one f32x4 multiply per row. Returns row a's 4 token sums (lane t = token t) and leaves row b's for
 * tile_acc_b(). Consecutive blocks of a row lie blockStride bytes apart (a row's block size for a
 * matrix; 8 blocks in the masked FFN's grouped layout). The matmul (matvec.ts tile2x4_q) and the masked
 * FFN's gate/up (ffn.ts gate_up4) both run it. Relaxed build, Q4_0: per block the 8 sums are relaxed_dot
 * (the same totals in other lanes, so the same result).
 */
// @ts-ignore: decorator
@inline export function tile2x4_dot(pa: usize, pb: usize, px: usize, xStride: usize, nb: i32, q4: bool, blockStride: usize): v128 {
  let px0 = px;
  let px1 = px0 + xStride;
  let px2 = px1 + xStride;
  let px3 = px2 + xStride;
  let accA = f32x4.splat(0);
  let accB = f32x4.splat(0);
  for (let blk = 0; blk < nb; blk++) {
    // ta, tb: rows a, b's block sums per token (lane t = token t)
    let ta: v128, tb: v128;
    if (relaxed(q4)) {
      // each row's weight operands taken once, each token's activation operands once, then 8 relaxed_dot
      const alo = w_bytes(pa, q4, false);
      const ahi = w_bytes(pa, q4, true);
      const blo = w_bytes(pb, q4, false);
      const bhi = w_bytes(pb, q4, true);
      let xlo = x_bytes(px0, false);
      let xhi = x_bytes(px0, true);
      let off = x_offset(q4, xlo, xhi);
      const ra0 = relaxed_dot(alo, ahi, q4, xlo, xhi, off);
      const rb0 = relaxed_dot(blo, bhi, q4, xlo, xhi, off);
      xlo = x_bytes(px1, false);
      xhi = x_bytes(px1, true);
      off = x_offset(q4, xlo, xhi);
      const ra1 = relaxed_dot(alo, ahi, q4, xlo, xhi, off);
      const rb1 = relaxed_dot(blo, bhi, q4, xlo, xhi, off);
      xlo = x_bytes(px2, false);
      xhi = x_bytes(px2, true);
      off = x_offset(q4, xlo, xhi);
      const ra2 = relaxed_dot(alo, ahi, q4, xlo, xhi, off);
      const rb2 = relaxed_dot(blo, bhi, q4, xlo, xhi, off);
      xlo = x_bytes(px3, false);
      xhi = x_bytes(px3, true);
      off = x_offset(q4, xlo, xhi);
      ta = sum4_i32x4(ra0, ra1, ra2, relaxed_dot(alo, ahi, q4, xlo, xhi, off));
      tb = sum4_i32x4(rb0, rb1, rb2, relaxed_dot(blo, bhi, q4, xlo, xhi, off));
    } else {
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
      ta = sum4_i32x4(a0, a1, a2, a3);
      tb = sum4_i32x4(b0, b1, b2, b3);
    }
    // lane t = token t; scales d_w[row]·d_x[t]
    const dx = scales4(px0, px1, px2, px3);
    const da = f32x4.mul(dx, f32x4.splat(f16_to_f32(load<u16>(pa))));
    const db = f32x4.mul(dx, f32x4.splat(f16_to_f32(load<u16>(pb))));
    accA = f32x4.add(accA, f32x4.mul(f32x4.convert_i32x4_s(ta), da));
    accB = f32x4.add(accB, f32x4.mul(f32x4.convert_i32x4_s(tb), db));
    px0 += Q8_0_BLOCK_BYTES;
    px1 += Q8_0_BLOCK_BYTES;
    px2 += Q8_0_BLOCK_BYTES;
    px3 += Q8_0_BLOCK_BYTES;
    pa += blockStride;
    pb += blockStride;
  }
  v128.store(TILE_ACC_B, accB);
  return accA;
}

