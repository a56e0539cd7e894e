// Masked SwiGLU FFN over packed neuron bundles (DESIGN §2, §3).
//
//   bundles: k rows, row j = [gate_j | up_j | down_j], each part a row of dim weights of the bundle
//            type (f32, or dim/32 Q8_0 / Q4_0 blocks); down_j is column j of ffn_down.
//   x:       (T, dim) activations: f32 rows for f32 bundles, Q8_0 rows for quantized bundles.
//   out:     (T, dim) f32, accumulated:  out_t += Σ_j silu(gate_j·x_t) · (up_j·x_t) · down_j
// PyTorch: out += w2(F.silu(w1(x)) * w3(x)) restricted to the k selected neurons.
// The runtime's active sets are in the grouped layout (grouped.ts: each group of 16 bundles reordered so
// the kernel reads it front to back), run by ffn_swiglu_grouped_*; ffn_swiglu_masked_* read plain rows.
// Density changes only k, the loop count. SIMD, quantized (ffn_groups_q): groups of 16 bundles, each read
// from memory once per call while every token uses it; gate/up as integer dots over the Q8_0 x (register
// tiles of 2 rows × 4 tokens in prefill), down accumulated in integers too, each widened down weight used by
// the 4 tokens of a prefill tile (down_tile). The rest (f32
// bundles, the scalar build, the last k % 4 bundles): tiles of 4 tokens, one bundle at a time.
import { QK, Q8_0_BLOCK_BYTES, Q4_0_BLOCK_BYTES, f16_to_f32, exp4 } from './common';
import { row_dot_q, row_dot_f, x_lanes, q4_centered, dot4_q, scales4, tile2x4_dot, tile_acc_b, dot_block, sum4_i32x4 } from './dot';
import { GROUP, GROUPED } from './grouped';

const KIND_F32: i32 = 0;
const KIND_Q8_0: i32 = 1;
const KIND_Q4_0: i32 = 2;

/** bundles: k × 3 × dim f32; x: (T, dim) f32. */
export function ffn_swiglu_masked_f32(out: usize, bundles: usize, x: usize, k: i32, dim: i32, T: i32): void {
  ffn_swiglu(out, bundles, x, k, dim, T, KIND_F32, false);
}

/** bundles: k × 3 × (dim/32) Q8_0 blocks; x: (T, dim/32) Q8_0 blocks. */
export function ffn_swiglu_masked_q8_0(out: usize, bundles: usize, x: usize, k: i32, dim: i32, T: i32): void {
  ffn_swiglu(out, bundles, x, k, dim, T, KIND_Q8_0, false);
}

/** bundles: k × 3 × (dim/32) Q4_0 blocks; x: (T, dim/32) Q8_0 blocks. */
export function ffn_swiglu_masked_q4_0(out: usize, bundles: usize, x: usize, k: i32, dim: i32, T: i32): void {
  ffn_swiglu(out, bundles, x, k, dim, T, KIND_Q4_0, false);
}

/** As ffn_swiglu_masked_q8_0, the k bundles in the grouped layout (grouped.ts); the same result, bit for bit. */
export function ffn_swiglu_grouped_q8_0(out: usize, bundles: usize, x: usize, k: i32, dim: i32, T: i32): void {
  ffn_swiglu(out, bundles, x, k, dim, T, KIND_Q8_0, true);
}

/** As ffn_swiglu_masked_q4_0, the k bundles in the grouped layout (grouped.ts); the same result, bit for bit. */
export function ffn_swiglu_grouped_q4_0(out: usize, bundles: usize, x: usize, k: i32, dim: i32, T: i32): void {
  ffn_swiglu(out, bundles, x, k, dim, T, KIND_Q4_0, true);
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
@inline function ffn_swiglu(out: usize, bundles: usize, x: usize, k: i32, dim: i32, T: i32, kind: i32, grouped: bool): void {
  const partBytes: usize =
    kind == KIND_F32 ? <usize>dim << 2 : <usize>(dim / QK) * (kind == KIND_Q4_0 ? Q4_0_BLOCK_BYTES : Q8_0_BLOCK_BYTES);
  const xRowBytes: usize = kind == KIND_F32 ? <usize>dim << 2 : <usize>(dim / QK) * Q8_0_BLOCK_BYTES;
  const outRowBytes: usize = <usize>dim << 2;
  let j0 = 0;
  if (ASC_FEATURE_SIMD) {
    if (kind != KIND_F32) j0 = ffn_groups_q(out, bundles, partBytes, x, xRowBytes, outRowBytes, k, dim / QK, T, kind == KIND_Q4_0, grouped && GROUPED);
  }
  // the rest (the scalar build: all of it; plain rows in either layout), in tiles of 4 tokens so each
  // bundle is read once per tile
  for (let t0 = 0; t0 < T; t0 += 4) {
    const nt = min(4, T - t0);
    const xt = x + <usize>t0 * xRowBytes;
    const ot = out + <usize>t0 * outRowBytes;
    for (let j = j0; j < k; j++) {
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

/**
 * The SIMD path for Q8_0 / Q4_0 bundles: the first k - k % 4 bundles, in groups of 16 (then 4); returns
 * how many bundles it did. For each group:
 *   h_j = silu(gate_j·x_t)·(up_j·x_t)      integer dots over the Q8_0 x_t: in tiles of 4 tokens, gate and
 *                                           up of one bundle as the 2 rows of a 2-row × 4-token register
 *                                           tile (gate_up4); single tokens 4 bundles at a time (dot4_q)
 *   out_t += Σ_j h_j·down_j                 in integers, block by block, each widened down block used by
 *                                           every token of the tile (down_tile)
 * A group's rows (16 × 3 parts: 29 KiB at dim 576 Q8_0) stay in cache while every token of the call
 * uses them, so prefill reads each bundle from memory once, not once per token tile.
 *
 * Memory (decode from DRAM): a grouped set (grouped.ts) is read front to back, one stream the hardware
 * prefetcher follows, so its loads overlap the arithmetic. Plain rows are 16 streams it does not follow;
 * for them the next group is touched before each group (one load per 64-byte line, in order), a sweep
 * that does not overlap the arithmetic: measured 1.1-1.3× faster than touching inside the dot products
 * or not at all, but 0.55-0.7× the standard layout at density 1, where the grouped layout reaches
 * parity (docs/performance.md, "Masked FFN kernel"). Both layouts run the same arithmetic in the same
 * order, so their results are identical.
 */
// @ts-ignore: decorator
@inline function ffn_groups_q(out: usize, bundles: usize, partBytes: usize, x: usize, xRowBytes: usize, outRowBytes: usize, k: i32, nb: i32, T: i32, q4: bool, grouped: bool): i32 {
  const bb: usize = 3 * partBytes;
  const groupBytes: usize = <usize>GROUP * bb;
  let j = 0;
  for (; j + GROUP <= k; j += GROUP) {
    const g = bundles + <usize>j * bb;
    const down = g + (grouped ? 32 : 2) * partBytes;
    if (!grouped && j + 2 * GROUP <= k) {
      const next = g + groupBytes;
      for (let o: usize = 0; o < groupBytes; o += 64) load<u8>(next + o);
    }
    let t = 0;
    for (; t + 4 <= T; t += 4) {
      h_call(g, partBytes, x + <usize>t * xRowBytes, xRowBytes, nb, q4, 4, grouped);
      down_call(out + <usize>t * outRowBytes, outRowBytes, down, bb, nb, q4, 4, 4, grouped);
    }
    for (; t < T; t++) {
      h_call(g, partBytes, x + <usize>t * xRowBytes, xRowBytes, nb, q4, 1, grouped);
      down_call(out + <usize>t * outRowBytes, outRowBytes, down, bb, nb, q4, 4, 1, grouped);
    }
  }
  // the last k mod 16 (plain rows in either layout)
  for (; j + 4 <= k; j += 4) {
    const g = bundles + <usize>j * bb;
    for (let t = 0; t < T; t++) {
      const xt = x + <usize>t * xRowBytes;
      v128.store(H, swiglu4(dot4_q(g, bb, xt, nb, q4, false, 0, 0), dot4_q(g + partBytes, bb, xt, nb, q4, false, 0, 0)));
      down_call(out + <usize>t * outRowBytes, outRowBytes, g + 2 * partBytes, bb, nb, q4, 1, 1, false);
    }
  }
  return j;
}

/**
 * H (see there) for a group of 16 bundles at g: with nt = 4 tokens (x rows xStride apart) H[j] = h_j
 * (lane = token), gate and up of each bundle as one 2-row × 4-token tile; with one token H[q] = h of
 * bundles 4q..4q+3 (lane = bundle), 4 gate rows and 4 up rows at a time. nt and grouped are constants.
 */
// @ts-ignore: decorator
@inline function group_h(g: usize, partBytes: usize, x: usize, xStride: usize, nb: i32, q4: bool, nt: i32, grouped: bool): void {
  const wb: usize = q4 ? Q4_0_BLOCK_BYTES : Q8_0_BLOCK_BYTES;
  const bb: usize = 3 * partBytes;
  if (nt == 4) {
    for (let i = 0; i < GROUP; i++) {
      // grouped: bundle i's gate block b at quad (i >> 2), block b, slot (i & 3); its up block 4 slots on
      const pg = grouped ? g + <usize>(i >> 2) * 8 * partBytes + <usize>(i & 3) * wb : g + <usize>i * bb;
      const gate = tile2x4_dot(pg, pg + (grouped ? 4 * wb : partBytes), x, xStride, nb, q4, grouped ? 8 * wb : wb);
      v128.store(H + (<usize>i << 4), swiglu4(gate, tile_acc_b()));
    }
  } else if (grouped) {
    for (let q = 0; q < 4; q++) v128.store(H + (<usize>q << 4), quad_h_grouped(g + <usize>q * 8 * partBytes, x, nb, q4));
  } else {
    for (let q = 0; q < 4; q++) {
      const gq = g + <usize>(4 * q) * bb;
      v128.store(H + (<usize>q << 4), swiglu4(dot4_q(gq, bb, x, nb, q4, false, 0, 0), dot4_q(gq + partBytes, bb, x, nb, q4, false, 0, 0)));
    }
  }
}

/**
 * h of the 4 bundles of a grouped quad at p (lane = bundle) for one token (Q8_0 row x): per block the 4
 * gate blocks and the 4 up blocks that follow them, each widened activation block shared by all 8, read
 * front to back. The same arithmetic in the same order as dot4_q on plain rows (even and odd blocks in
 * two accumulators), so the result is identical.
 */
// @ts-ignore: decorator
@inline function quad_h_grouped(p: usize, x: usize, nb: i32, q4: bool): v128 {
  const wb: usize = q4 ? Q4_0_BLOCK_BYTES : Q8_0_BLOCK_BYTES;
  let g0 = f32x4.splat(0), g1 = g0, u0 = g0, u1 = g0;
  let b = 0;
  for (; b + 2 <= nb; b += 2) {
    let x0 = x_lanes(x, 0), x1 = x_lanes(x, 1), x2 = x_lanes(x, 2), x3 = x_lanes(x, 3);
    let dx = f32x4.splat(f16_to_f32(load<u16>(x)));
    g0 = f32x4.add(g0, quad_dot(p, q4, x0, x1, x2, x3, dx));
    u0 = f32x4.add(u0, quad_dot(p + 4 * wb, q4, x0, x1, x2, x3, dx));
    const x_ = x + Q8_0_BLOCK_BYTES;
    x0 = x_lanes(x_, 0); x1 = x_lanes(x_, 1); x2 = x_lanes(x_, 2); x3 = x_lanes(x_, 3);
    dx = f32x4.splat(f16_to_f32(load<u16>(x_)));
    g1 = f32x4.add(g1, quad_dot(p + 8 * wb, q4, x0, x1, x2, x3, dx));
    u1 = f32x4.add(u1, quad_dot(p + 12 * wb, q4, x0, x1, x2, x3, dx));
    p += 16 * wb;
    x += 2 * Q8_0_BLOCK_BYTES;
  }
  if (b < nb) {
    const x0 = x_lanes(x, 0), x1 = x_lanes(x, 1), x2 = x_lanes(x, 2), x3 = x_lanes(x, 3);
    const dx = f32x4.splat(f16_to_f32(load<u16>(x)));
    g0 = f32x4.add(g0, quad_dot(p, q4, x0, x1, x2, x3, dx));
    u0 = f32x4.add(u0, quad_dot(p + 4 * wb, q4, x0, x1, x2, x3, dx));
  }
  return swiglu4(f32x4.add(g0, g1), f32x4.add(u0, u1));
}

/** d_w·d_x·Σ q_w·q_x of 4 consecutive weight blocks at p (lane = block) with one widened activation
 * block (x0..x3, scale dx splatted): dot.ts block_dot4's arithmetic. */
// @ts-ignore: decorator
@inline function quad_dot(p: usize, q4: bool, x0: v128, x1: v128, x2: v128, x3: v128, dx: v128): v128 {
  const wb: usize = q4 ? Q4_0_BLOCK_BYTES : Q8_0_BLOCK_BYTES;
  const t = sum4_i32x4(dot_block(p, q4, x0, x1, x2, x3), dot_block(p + wb, q4, x0, x1, x2, x3), dot_block(p + 2 * wb, q4, x0, x1, x2, x3), dot_block(p + 3 * wb, q4, x0, x1, x2, x3));
  return f32x4.mul(f32x4.convert_i32x4_s(t), f32x4.mul(scales4(p, p + wb, p + 2 * wb, p + 3 * wb), dx));
}

/**
 * Scratch of the down sums, static memory (the kernels never allocate):
 *   H      16 × f32x4   the group's h: with 4 tokens H[j] = h_j (lane t = token t); with one token
 *                       H[q] = h of bundles 4q..4q+3 (lane = bundle)
 *   SBUF   16 × f32x4   4 tokens: s_j = h_j·d_j of the current block
 *   COEF   8 × 16 bytes the current block's i16 coefficients c_j = round(s_j / S): one token: c_0..c_15 in
 *                       order (pair p = bundles 2p, 2p + 1 is the i32 at 4p); 4 tokens: i32 lane t of row p
 *                       is token t's pair (c_2p, c_2p+1)
 *   SCALE  f32x4        the block's S per token (lane t; one token: lane 0)
 * TODO(#11): one scratch per instance; threads sharing a memory need one per thread (as tile_acc_b).
 */
const SCRATCH: usize = memory.data(256 + 256 + 128 + 16, 16);
const H: usize = SCRATCH;
const SBUF: usize = SCRATCH + 256;
const COEF: usize = SCRATCH + 512;
const SCALE: usize = SCRATCH + 640;

/** The largest |i16| a coefficient may take. */
const S_MAX: f32 = 32767;

/**
 * out_t (dim f32, nt tokens at out, outStride apart) += Σ_j h_tj·down_j over 4·nq bundles, h in H (see
 * there); nq = 1 or 4, nt = 1 or 4, grouped: constants. The down blocks: plain rows at down, bb bytes
 * apart, or grouped (grouped.ts: block b of the 16 bundles at down + 16·b·wb, consecutive).
 *
 * Integer accumulation, block by block: for block b and token t, s_j = h_tj·d_jb (d_jb: the fp16 scale of
 * bundle j's block b) is rounded to an i16 c_j with one scale per block, token and group,
 * S = max_j |s_j| / 32767, so out_t[32b + i] += S · Σ_j c_j·q_ji, the sum in i32 lanes. Two bundles'
 * weights are interleaved (i16 lanes a0 b0 a1 b1 …) so one i32x4.dot_i16x8_s multiplies and adds both
 * with [c_a, c_b, c_a, c_b, …]; each interleaved weight vector is widened once per tile and used by its
 * nt tokens. Error per term ≤ S/2·|q|, i.e. ≤ 2^-16 of the group's largest term (the standard layout
 * rounds h to 8 bits before its down matvec). |Σ| ≤ 16 bundles × 128 × 32767 < 2^26: no overflow.
 * A token whose s are all zero (or not all finite) in a block gets nothing added there.
 */
// @ts-ignore: decorator
@inline function down_tile(out: usize, outStride: usize, down: usize, bb: usize, nb: i32, q4: bool, nq: i32, nt: i32, grouped: bool): void {
  const wb: usize = q4 ? Q4_0_BLOCK_BYTES : Q8_0_BLOCK_BYTES;
  // bundle j's block b at down + b·blockStride + j·stride
  const blockStride: usize = grouped ? <usize>GROUP * wb : wb;
  const stride: usize = grouped ? wb : bb;
  for (let b = 0; b < nb; b++) {
    const p = down + <usize>b * blockStride;
    if (nt == 1) {
      if (!coef1(p, stride, nq)) continue;
    } else {
      coef4(p, stride);
    }
    // elements 0..15 (Q4_0: the low nibbles), then 16..31, 8 at a time
    const o = out + ((<usize>b) << 7);
    down_octet(o, outStride, p, stride, q4, nq, nt, false);
    down_octet(o + 32, outStride, p + 8, stride, q4, nq, nt, false);
    down_octet(o + 64, outStride, p, stride, q4, nq, nt, true);
    down_octet(o + 96, outStride, p + 8, stride, q4, nq, nt, true);
  }
}

/** One token: COEF and SCALE of the block at p from H; false if it adds nothing (all s zero or not finite). */
// @ts-ignore: decorator
@inline function coef1(p: usize, bb: usize, nq: i32): bool {
  const s0 = f32x4.mul(v128.load(H), scales4(p, p + bb, p + 2 * bb, p + 3 * bb));
  let m = f32x4.abs(s0);
  let s1 = s0, s2 = s0, s3 = s0;
  if (nq > 1) {
    s1 = f32x4.mul(v128.load(H, 16), scales4(p + 4 * bb, p + 5 * bb, p + 6 * bb, p + 7 * bb));
    s2 = f32x4.mul(v128.load(H, 32), scales4(p + 8 * bb, p + 9 * bb, p + 10 * bb, p + 11 * bb));
    s3 = f32x4.mul(v128.load(H, 48), scales4(p + 12 * bb, p + 13 * bb, p + 14 * bb, p + 15 * bb));
    m = max_abs(max_abs(m, s1), max_abs(s2, s3));
  }
  m = i32x4.max_s(m, v128.shuffle<i32>(m, m, 2, 3, 0, 1));
  const mx = f32x4.extract_lane(i32x4.max_s(m, v128.shuffle<i32>(m, m, 1, 0, 3, 2)), 0);
  if (!(mx > 0) || mx == Infinity) return false;
  const inv = f32x4.splat(S_MAX / mx);
  v128.store(COEF, i16x8.narrow_i32x4_s(round_i32(s0, inv), round_i32(s1, inv)));
  if (nq > 1) v128.store(COEF, i16x8.narrow_i32x4_s(round_i32(s2, inv), round_i32(s3, inv)), 16);
  store<f32>(SCALE, mx / S_MAX);
  return true;
}

/** max(|a|, |b|) lane-wise, as the i32 max of the bit patterns: for floats without sign bits the two
 * orders agree, and NaN (above +inf) wins, as the callers' finiteness checks need. One instruction where
 * f32x4.max, which must propagate NaN, is eight in V8 (x64). */
// @ts-ignore: decorator
@inline function max_abs(a: v128, b: v128): v128 {
  return i32x4.max_s(f32x4.abs(a), f32x4.abs(b));
}

/** Four tokens: SBUF, COEF and SCALE of the block at p (16 bundles) from H; a token whose s are all zero or
 * not all finite gets S = 0 and c = 0. */
// @ts-ignore: decorator
@inline function coef4(p: usize, bb: usize): void {
  let m = f32x4.splat(0);
  for (let q = 0; q < 4; q++) {
    const pq = p + <usize>(4 * q) * bb;
    const d = scales4(pq, pq + bb, pq + 2 * bb, pq + 3 * bb);
    const hq = H + (<usize>q << 6);
    const sq = SBUF + (<usize>q << 6);
    const s0 = f32x4.mul(v128.load(hq), v128.shuffle<i32>(d, d, 0, 0, 0, 0));
    const s1 = f32x4.mul(v128.load(hq, 16), v128.shuffle<i32>(d, d, 1, 1, 1, 1));
    const s2 = f32x4.mul(v128.load(hq, 32), v128.shuffle<i32>(d, d, 2, 2, 2, 2));
    const s3 = f32x4.mul(v128.load(hq, 48), v128.shuffle<i32>(d, d, 3, 3, 3, 3));
    v128.store(sq, s0);
    v128.store(sq, s1, 16);
    v128.store(sq, s2, 32);
    v128.store(sq, s3, 48);
    m = i32x4.max_s(m, i32x4.max_s(max_abs(s0, s1), max_abs(s2, s3)));
  }
  // per token (lane): ok = 0 < m < inf (false for NaN)
  const ok = v128.and(f32x4.gt(m, f32x4.splat(0)), f32x4.lt(m, f32x4.splat(Infinity)));
  const inv = v128.and(f32x4.div(f32x4.splat(S_MAX), m), ok);
  v128.store(SCALE, v128.and(f32x4.div(m, f32x4.splat(S_MAX)), ok));
  for (let i = 0; i < 8; i++) {
    const sp = SBUF + (<usize>i << 5);
    const c = i16x8.narrow_i32x4_s(v128.and(round_i32(v128.load(sp), inv), ok), v128.and(round_i32(v128.load(sp, 16), inv), ok));
    v128.store(COEF + (<usize>i << 4), v128.shuffle<i16>(c, c, 0, 4, 1, 5, 2, 6, 3, 7));
  }
}

/**
 * out_t[0..7] (at o + t·outStride) += S_t · Σ_j c_tj·w_j over 8 elements of the 4·nq down blocks at p, bb
 * bytes apart: Q8_0 elements 8..15 past p's (p is the block or the block + 8: elements 0..7 or 8..15, and
 * hi adds 16); Q4_0 the 8 nibbles of the bytes past p's, low (hi false) or high.
 */
// @ts-ignore: decorator
@inline function down_octet(o: usize, outStride: usize, p: usize, bb: usize, q4: bool, nq: i32, nt: i32, hi: bool): void {
  let a0 = i32x4.splat(0), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0;
  for (let pp = 0; pp < 2 * nq; pp++) {
    const pa = p + <usize>(2 * pp) * bb;
    const wa = w_octet(pa, q4, hi);
    const wb = w_octet(pa + bb, q4, hi);
    const lo = v128.shuffle<i16>(wa, wb, 0, 8, 1, 9, 2, 10, 3, 11);
    const up = v128.shuffle<i16>(wa, wb, 4, 12, 5, 13, 6, 14, 7, 15);
    const c = COEF + (nt == 1 ? <usize>pp << 2 : <usize>pp << 4);
    let sc = v128.load32_splat(c);
    a0 = i32x4.add(a0, i32x4.dot_i16x8_s(lo, sc));
    b0 = i32x4.add(b0, i32x4.dot_i16x8_s(up, sc));
    if (nt > 1) {
      sc = v128.load32_splat(c, 4);
      a1 = i32x4.add(a1, i32x4.dot_i16x8_s(lo, sc));
      b1 = i32x4.add(b1, i32x4.dot_i16x8_s(up, sc));
      sc = v128.load32_splat(c, 8);
      a2 = i32x4.add(a2, i32x4.dot_i16x8_s(lo, sc));
      b2 = i32x4.add(b2, i32x4.dot_i16x8_s(up, sc));
      sc = v128.load32_splat(c, 12);
      a3 = i32x4.add(a3, i32x4.dot_i16x8_s(lo, sc));
      b3 = i32x4.add(b3, i32x4.dot_i16x8_s(up, sc));
    }
  }
  add_scaled(o, a0, b0, v128.load32_splat(SCALE));
  if (nt > 1) {
    add_scaled(o + outStride, a1, b1, v128.load32_splat(SCALE, 4));
    add_scaled(o + 2 * outStride, a2, b2, v128.load32_splat(SCALE, 8));
    add_scaled(o + 3 * outStride, a3, b3, v128.load32_splat(SCALE, 12));
  }
}

/** The 8 weights of a down block at p (see down_octet) as i16x8 (Q4_0: q - 8). */
// @ts-ignore: decorator
@inline function w_octet(p: usize, q4: bool, hi: bool): v128 {
  if (q4) {
    const v = v128.load64_zero(p, 2);
    return i16x8.extend_low_i8x16_s(i8x16.sub(hi ? i8x16.shr_u(v, 4) : v128.and(v, i8x16.splat(0x0f)), i8x16.splat(8)));
  }
  return hi ? v128.load8x8_s(p, 18) : v128.load8x8_s(p, 2);
}

/** out[0..7] (f32 at o) += S · [a, b] (i32x4 each). */
// @ts-ignore: decorator
@inline function add_scaled(o: usize, a: v128, b: v128, S: v128): void {
  v128.store(o, f32x4.add(v128.load(o), f32x4.mul(f32x4.convert_i32x4_s(a), S)));
  v128.store(o, f32x4.add(v128.load(o, 16), f32x4.mul(f32x4.convert_i32x4_s(b), S)), 16);
}

/** round(s · inv) as i32x4 (|s · inv| ≤ 32767). */
// @ts-ignore: decorator
@inline function round_i32(s: v128, inv: v128): v128 {
  // adding 1.5·2^23 leaves round-to-nearest-even(v) in the low mantissa bits for |v| < 2^22
  return i32x4.sub(f32x4.add(f32x4.mul(s, inv), f32x4.splat(12582912)), i32x4.splat(0x4b400000));
}

/** silu(g) · u lane-wise (silu(g) = g / (1 + e^-g), as ops.ts silu_f32). */
// @ts-ignore: decorator
@inline function swiglu4(g: v128, u: v128): v128 {
  return f32x4.mul(f32x4.div(g, f32x4.add(f32x4.splat(1), exp4(f32x4.neg(g)))), u);
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

/** down_tile with constant q4, nq and nt, in functions of their own rather than inlined into the kernel:
 * V8 allocated registers worse in the one large function (measured: the same kernel 1.1-1.2× slower at
 * dim 896, T = 1 and 32, from DRAM; a larger function also slowed an unchanged path). */
// @ts-ignore: decorator
@inline function down_call(out: usize, outStride: usize, down: usize, bb: usize, nb: i32, q4: bool, nq: i32, nt: i32, grouped: bool): void {
  if (q4) {
    if (grouped) {
      if (nt > 1) down16x4_q4_g(out, outStride, down, nb);
      else down16_q4_g(out, down, nb);
    } else if (nt > 1) down16x4_q4(out, outStride, down, bb, nb);
    else if (nq > 1) down16_q4(out, down, bb, nb);
    else down4_q4(out, down, bb, nb);
  } else {
    if (grouped) {
      if (nt > 1) down16x4_q8_g(out, outStride, down, nb);
      else down16_q8_g(out, down, nb);
    } else if (nt > 1) down16x4_q8(out, outStride, down, bb, nb);
    else if (nq > 1) down16_q8(out, down, bb, nb);
    else down4_q8(out, down, bb, nb);
  }
}
/** group_h with constant q4, nt and grouped, in functions of their own (as down_call). */
// @ts-ignore: decorator
@inline function h_call(g: usize, partBytes: usize, x: usize, xStride: usize, nb: i32, q4: bool, nt: i32, grouped: bool): void {
  if (q4) {
    if (grouped) {
      if (nt > 1) h16x4_q4_g(g, partBytes, x, xStride, nb);
      else h16_q4_g(g, partBytes, x, nb);
    } else if (nt > 1) h16x4_q4(g, partBytes, x, xStride, nb);
    else h16_q4(g, partBytes, x, nb);
  } else {
    if (grouped) {
      if (nt > 1) h16x4_q8_g(g, partBytes, x, xStride, nb);
      else h16_q8_g(g, partBytes, x, nb);
    } else if (nt > 1) h16x4_q8(g, partBytes, x, xStride, nb);
    else h16_q8(g, partBytes, x, nb);
  }
}
function h16x4_q8(g: usize, partBytes: usize, x: usize, xStride: usize, nb: i32): void {
  group_h(g, partBytes, x, xStride, nb, false, 4, false);
}
function h16_q8(g: usize, partBytes: usize, x: usize, nb: i32): void {
  group_h(g, partBytes, x, 0, nb, false, 1, false);
}
function h16x4_q4(g: usize, partBytes: usize, x: usize, xStride: usize, nb: i32): void {
  group_h(g, partBytes, x, xStride, nb, true, 4, false);
}
function h16_q4(g: usize, partBytes: usize, x: usize, nb: i32): void {
  group_h(g, partBytes, x, 0, nb, true, 1, false);
}
function h16x4_q8_g(g: usize, partBytes: usize, x: usize, xStride: usize, nb: i32): void {
  group_h(g, partBytes, x, xStride, nb, false, 4, true);
}
function h16_q8_g(g: usize, partBytes: usize, x: usize, nb: i32): void {
  group_h(g, partBytes, x, 0, nb, false, 1, true);
}
function h16x4_q4_g(g: usize, partBytes: usize, x: usize, xStride: usize, nb: i32): void {
  group_h(g, partBytes, x, xStride, nb, true, 4, true);
}
function h16_q4_g(g: usize, partBytes: usize, x: usize, nb: i32): void {
  group_h(g, partBytes, x, 0, nb, true, 1, true);
}

function down16x4_q8(out: usize, outStride: usize, down: usize, bb: usize, nb: i32): void {
  down_tile(out, outStride, down, bb, nb, false, 4, 4, false);
}
function down16_q8(out: usize, down: usize, bb: usize, nb: i32): void {
  down_tile(out, 0, down, bb, nb, false, 4, 1, false);
}
function down4_q8(out: usize, down: usize, bb: usize, nb: i32): void {
  down_tile(out, 0, down, bb, nb, false, 1, 1, false);
}
function down16x4_q4(out: usize, outStride: usize, down: usize, bb: usize, nb: i32): void {
  down_tile(out, outStride, down, bb, nb, true, 4, 4, false);
}
function down16_q4(out: usize, down: usize, bb: usize, nb: i32): void {
  down_tile(out, 0, down, bb, nb, true, 4, 1, false);
}
function down4_q4(out: usize, down: usize, bb: usize, nb: i32): void {
  down_tile(out, 0, down, bb, nb, true, 1, 1, false);
}
function down16x4_q8_g(out: usize, outStride: usize, down: usize, nb: i32): void {
  down_tile(out, outStride, down, 0, nb, false, 4, 4, true);
}
function down16_q8_g(out: usize, down: usize, nb: i32): void {
  down_tile(out, 0, down, 0, nb, false, 4, 1, true);
}
function down16x4_q4_g(out: usize, outStride: usize, down: usize, nb: i32): void {
  down_tile(out, outStride, down, 0, nb, true, 4, 4, true);
}
function down16_q4_g(out: usize, down: usize, nb: i32): void {
  down_tile(out, 0, down, 0, nb, true, 4, 1, true);
}
