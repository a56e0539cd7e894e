// Masked SwiGLU FFN over packed neuron bundles (DESIGN §2, §3).
//
//   bundles: k rows, row j = [gate_j | up_j | down_j], each part a row of dim weights of the bundle
//            type (f32, or dim/32 Q8_0 / Q4_0 blocks); down_j is column j of ffn_down.
//   x:       (T, dim) activations: f32 rows for f32 bundles, Q8_0 rows for quantized bundles.
//   out:     (T, dim) f32, accumulated:  out_t += Σ_j silu(gate_j·x_t) · (up_j·x_t) · down_j
// PyTorch: out += w2(F.silu(w1(x)) * w3(x)) restricted to the k selected neurons.
// Density changes only k, the loop count. SIMD, quantized (ffn_groups_q): groups of 16 bundles, each read
// from memory once per call while every token uses it; gate/up as integer dots over the Q8_0 x (register
// tiles of 2 rows × 4 tokens in prefill), down accumulated in integers too (down_ints). The rest (f32
// bundles, the scalar build, the last k % 4 bundles): tiles of 4 tokens, one bundle at a time.
import { QK, Q8_0_BLOCK_BYTES, Q4_0_BLOCK_BYTES, f16_to_f32 } from './common';
import { row_dot_q, row_dot_f, x_lanes, q4_centered, dot4_q, scales4, sum4_i32x4, tile2x4_dot, tile_acc_b } from './dot';

const KIND_F32: i32 = 0;
const KIND_Q8_0: i32 = 1;
const KIND_Q4_0: i32 = 2;

/** bundles: k × 3 × dim f32; x: (T, dim) f32. */
export function ffn_swiglu_masked_f32(out: usize, bundles: usize, x: usize, k: i32, dim: i32, T: i32): void {
  ffn_swiglu(out, bundles, x, k, dim, T, KIND_F32);
}

/** bundles: k × 3 × (dim/32) Q8_0 blocks; x: (T, dim/32) Q8_0 blocks. */
export function ffn_swiglu_masked_q8_0(out: usize, bundles: usize, x: usize, k: i32, dim: i32, T: i32): void {
  ffn_swiglu(out, bundles, x, k, dim, T, KIND_Q8_0);
}

/** bundles: k × 3 × (dim/32) Q4_0 blocks; x: (T, dim/32) Q8_0 blocks. */
export function ffn_swiglu_masked_q4_0(out: usize, bundles: usize, x: usize, k: i32, dim: i32, T: i32): void {
  ffn_swiglu(out, bundles, x, k, dim, T, KIND_Q4_0);
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
@inline function ffn_swiglu(out: usize, bundles: usize, x: usize, k: i32, dim: i32, T: i32, kind: i32): void {
  const partBytes: usize =
    kind == KIND_F32 ? <usize>dim << 2 : <usize>(dim / QK) * (kind == KIND_Q4_0 ? Q4_0_BLOCK_BYTES : Q8_0_BLOCK_BYTES);
  const xRowBytes: usize = kind == KIND_F32 ? <usize>dim << 2 : <usize>(dim / QK) * Q8_0_BLOCK_BYTES;
  const outRowBytes: usize = <usize>dim << 2;
  let j0 = 0;
  if (ASC_FEATURE_SIMD) {
    if (kind != KIND_F32) j0 = ffn_groups_q(out, bundles, partBytes, x, xRowBytes, outRowBytes, k, dim / QK, T, kind == KIND_Q4_0);
  }
  // the rest (the scalar build: all of it), in tiles of 4 tokens so each bundle is read once per tile
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

/** Bundles per group of the SIMD quantized path: 4 quads, whose down rows are summed in integers. */
const GROUP: i32 = 16;

/**
 * The SIMD path for Q8_0 / Q4_0 bundles: the first k - k % 4 bundles, in groups of 16 (then 4); returns
 * how many bundles it did. For each group and token t:
 *   h_j = silu(gate_j·x_t)·(up_j·x_t)      integer dots over the Q8_0 x_t: 2 rows × 4 tokens per register
 *                                           tile (gate_up4) in tiles of 4 tokens, else 4 bundles at a time
 *                                           (dot4_q)
 *   out_t += Σ_j h_j·down_j                 integer too, block by block (down_ints): see there.
 * A group's rows (16 × 3 parts: 29 KiB at dim 576 Q8_0) stay in cache while every token of the call
 * uses them, so prefill reads each bundle from memory once, not once per token tile. Before a group,
 * the next one is touched (one load per 64-byte line, in order): the group's rows are 16 streams that
 * the hardware prefetcher does not follow, but one sequential sweep it does. Measured at T = 1 from DRAM:
 * 1.1-1.3× faster than touching inside the dot products (dot4_q's `touch`) or not at all.
 */
// @ts-ignore: decorator
@inline function ffn_groups_q(out: usize, bundles: usize, partBytes: usize, x: usize, xRowBytes: usize, outRowBytes: usize, k: i32, nb: i32, T: i32, q4: bool): i32 {
  const bb: usize = 3 * partBytes;
  const groupBytes: usize = <usize>GROUP * bb;
  let j = 0;
  for (; j + GROUP <= k; j += GROUP) {
    const g = bundles + <usize>j * bb;
    if (j + 2 * GROUP <= k) {
      const next = g + groupBytes;
      for (let o: usize = 0; o < groupBytes; o += 64) load<u8>(next + o);
    }
    let t = 0;
    for (; t + 4 <= T; t += 4) group_tile4(out + <usize>t * outRowBytes, outRowBytes, g, partBytes, x + <usize>t * xRowBytes, xRowBytes, nb, q4);
    for (; t < T; t++) {
      const xt = x + <usize>t * xRowBytes;
      const h0 = swiglu4(dot4_q(g, bb, xt, nb, q4, false, 0, 0), dot4_q(g + partBytes, bb, xt, nb, q4, false, 0, 0));
      const g1 = g + 4 * bb;
      const h1 = swiglu4(dot4_q(g1, bb, xt, nb, q4, false, 0, 0), dot4_q(g1 + partBytes, bb, xt, nb, q4, false, 0, 0));
      const g2 = g + 8 * bb;
      const h2 = swiglu4(dot4_q(g2, bb, xt, nb, q4, false, 0, 0), dot4_q(g2 + partBytes, bb, xt, nb, q4, false, 0, 0));
      const g3 = g + 12 * bb;
      const h3 = swiglu4(dot4_q(g3, bb, xt, nb, q4, false, 0, 0), dot4_q(g3 + partBytes, bb, xt, nb, q4, false, 0, 0));
      down_call(out + <usize>t * outRowBytes, g + 2 * partBytes, bb, nb, q4, h0, h1, h2, h3, 4);
    }
  }
  for (; j + 4 <= k; j += 4) {
    const g = bundles + <usize>j * bb;
    for (let t = 0; t < T; t++) {
      const xt = x + <usize>t * xRowBytes;
      const h0 = swiglu4(dot4_q(g, bb, xt, nb, q4, false, 0, 0), dot4_q(g + partBytes, bb, xt, nb, q4, false, 0, 0));
      const z = f32x4.splat(0);
      down_call(out + <usize>t * outRowBytes, g + 2 * partBytes, bb, nb, q4, h0, z, z, z, 1);
    }
  }
  return j;
}

/** A group of 16 bundles at g × 4 tokens (x rows at x, xStride apart; out rows at out, outStride apart). */
// @ts-ignore: decorator
@inline function group_tile4(out: usize, outStride: usize, g: usize, partBytes: usize, x: usize, xStride: usize, nb: i32, q4: bool): void {
  const bb: usize = 3 * partBytes;
  // hj: bundle j's h for tokens 0..3 (lane t)
  const h0 = gate_up4(g, partBytes, x, xStride, nb, q4);
  const h1 = gate_up4(g + bb, partBytes, x, xStride, nb, q4);
  const h2 = gate_up4(g + 2 * bb, partBytes, x, xStride, nb, q4);
  const h3 = gate_up4(g + 3 * bb, partBytes, x, xStride, nb, q4);
  const h4 = gate_up4(g + 4 * bb, partBytes, x, xStride, nb, q4);
  const h5 = gate_up4(g + 5 * bb, partBytes, x, xStride, nb, q4);
  const h6 = gate_up4(g + 6 * bb, partBytes, x, xStride, nb, q4);
  const h7 = gate_up4(g + 7 * bb, partBytes, x, xStride, nb, q4);
  const h8 = gate_up4(g + 8 * bb, partBytes, x, xStride, nb, q4);
  const h9 = gate_up4(g + 9 * bb, partBytes, x, xStride, nb, q4);
  const h10 = gate_up4(g + 10 * bb, partBytes, x, xStride, nb, q4);
  const h11 = gate_up4(g + 11 * bb, partBytes, x, xStride, nb, q4);
  const h12 = gate_up4(g + 12 * bb, partBytes, x, xStride, nb, q4);
  const h13 = gate_up4(g + 13 * bb, partBytes, x, xStride, nb, q4);
  const h14 = gate_up4(g + 14 * bb, partBytes, x, xStride, nb, q4);
  const h15 = gate_up4(g + 15 * bb, partBytes, x, xStride, nb, q4);
  const down = g + 2 * partBytes;
  // token t: lane t of each, as 4 vectors of 4 bundles
  down_call(out, down, bb, nb, q4, lanes(h0, h1, h2, h3, 0), lanes(h4, h5, h6, h7, 0), lanes(h8, h9, h10, h11, 0), lanes(h12, h13, h14, h15, 0), 4);
  down_call(out + outStride, down, bb, nb, q4, lanes(h0, h1, h2, h3, 1), lanes(h4, h5, h6, h7, 1), lanes(h8, h9, h10, h11, 1), lanes(h12, h13, h14, h15, 1), 4);
  down_call(out + 2 * outStride, down, bb, nb, q4, lanes(h0, h1, h2, h3, 2), lanes(h4, h5, h6, h7, 2), lanes(h8, h9, h10, h11, 2), lanes(h12, h13, h14, h15, 2), 4);
  down_call(out + 3 * outStride, down, bb, nb, q4, lanes(h0, h1, h2, h3, 3), lanes(h4, h5, h6, h7, 3), lanes(h8, h9, h10, h11, 3), lanes(h12, h13, h14, h15, 3), 4);
}

/** [a_l, b_l, c_l, d_l] (l a constant). */
// @ts-ignore: decorator
@inline function lanes(a: v128, b: v128, c: v128, d: v128, l: i32): v128 {
  if (l == 0) return v128.shuffle<i32>(v128.shuffle<i32>(a, b, 0, 4, 0, 4), v128.shuffle<i32>(c, d, 0, 4, 0, 4), 0, 1, 4, 5);
  if (l == 1) return v128.shuffle<i32>(v128.shuffle<i32>(a, b, 1, 5, 1, 5), v128.shuffle<i32>(c, d, 1, 5, 1, 5), 0, 1, 4, 5);
  if (l == 2) return v128.shuffle<i32>(v128.shuffle<i32>(a, b, 2, 6, 2, 6), v128.shuffle<i32>(c, d, 2, 6, 2, 6), 0, 1, 4, 5);
  return v128.shuffle<i32>(v128.shuffle<i32>(a, b, 3, 7, 3, 7), v128.shuffle<i32>(c, d, 3, 7, 3, 7), 0, 1, 4, 5);
}

/**
 * h = silu(gate·x_t)·(up·x_t) of one bundle (gate row at pg, up row partBytes after it) for 4 tokens (Q8_0
 * rows at x, xStride apart), lane t = token t: the gate and up rows as the two rows of the register tile
 * dot.ts tile2x4_dot (the matmul's).
 */
// @ts-ignore: decorator
@inline function gate_up4(pg: usize, partBytes: usize, x: usize, xStride: usize, nb: i32, q4: bool): v128 {
  const gate = tile2x4_dot(pg, pg + partBytes, x, xStride, nb, q4);
  return swiglu4(gate, tile_acc_b());
}

/** The largest |i16| a scaled activation may take in down_ints. */
const S_MAX: f32 = 32767;

/**
 * out (dim f32) += Σ_j h_j·down_j over 4·nq bundles (nq = 1 or 4, a constant) whose down rows start at
 * down, bb bytes apart; h_j is lane j % 4 of h(j / 4).
 *
 * Integer accumulation, block by block: for block b, s_j = h_j·d_jb (d_jb: the fp16 scale of bundle j's
 * block b) is rounded to an i16 with one scale per block and group, S = max_j |s_j| / 32767, so
 * out[32b + i] += S · Σ_j round(s_j / S)·q_ji, and the sum runs in i32 lanes. Two bundles' weights are
 * interleaved (i16 lanes a0 b0 a1 b1 …) so one i32x4.dot_i16x8_s multiplies and adds both with
 * [s_a, s_b, s_a, s_b, …]. Error per term ≤ S/2·|q|, i.e. ≤ 2^-16 of the group's largest term (the standard
 * layout rounds h to 8 bits before its down matvec). |Σ| ≤ 16 bundles × 128 × 32767 < 2^26: no overflow.
 * A block whose s are all zero (or not finite) adds nothing.
 */
// @ts-ignore: decorator
@inline function down_ints(out: usize, down: usize, bb: usize, nb: i32, q4: bool, h0: v128, h1: v128, h2: v128, h3: v128, nq: i32): void {
  const wb: usize = q4 ? Q4_0_BLOCK_BYTES : Q8_0_BLOCK_BYTES;
  for (let b = 0; b < nb; b++) {
    const p = down + <usize>b * wb;
    const s0 = f32x4.mul(h0, scales4(p, p + bb, p + 2 * bb, p + 3 * bb));
    let m = f32x4.abs(s0);
    let s1 = s0, s2 = s0, s3 = s0;
    if (nq > 1) {
      s1 = f32x4.mul(h1, scales4(p + 4 * bb, p + 5 * bb, p + 6 * bb, p + 7 * bb));
      s2 = f32x4.mul(h2, scales4(p + 8 * bb, p + 9 * bb, p + 10 * bb, p + 11 * bb));
      s3 = f32x4.mul(h3, scales4(p + 12 * bb, p + 13 * bb, p + 14 * bb, p + 15 * bb));
      m = f32x4.max(f32x4.max(m, f32x4.abs(s1)), f32x4.max(f32x4.abs(s2), f32x4.abs(s3)));
    }
    m = f32x4.max(m, v128.shuffle<i32>(m, m, 2, 3, 0, 1));
    const mx = f32x4.extract_lane(f32x4.max(m, v128.shuffle<i32>(m, m, 1, 0, 3, 2)), 0);
    if (!(mx > 0) || mx == Infinity) continue;
    const inv = f32x4.splat(S_MAX / mx);
    // i16 s of bundles 0..7 and 8..15
    const qa = i16x8.narrow_i32x4_s(round_i32(s0, inv), round_i32(s1, inv));
    const qb = nq > 1 ? i16x8.narrow_i32x4_s(round_i32(s2, inv), round_i32(s3, inv)) : qa;
    const S = f32x4.splat(mx / S_MAX);
    // two passes of 16 elements: 4 accumulators each, so the pair loop runs in registers
    const o = out + ((<usize>b) << 7);
    down_half(o, p, bb, q4, qa, qb, S, nq, false);
    down_half(o + 64, p, bb, q4, qa, qb, S, nq, true);
  }
}

/** out[0..15] += S · Σ_j q16_j · w_j over elements 0..15 (or 16..31 if hi) of the 4·nq down blocks at p, bb
 * bytes apart; q16_j is i16 lane j of qa (j < 8) or qb. Pairs (2i, 2i + 1) unrolled: a loop here made V8
 * spill the accumulators at every back edge. */
// @ts-ignore: decorator
@inline function down_half(o: usize, p: usize, bb: usize, q4: bool, qa: v128, qb: v128, S: v128, nq: i32, hi: bool): void {
  let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  // pair (2i, 2i + 1): its two i16 s broadcast as one i32 lane
  let sc: v128;
  let pa: usize;
    sc = v128.shuffle<i32>(qa, qa, 0, 0, 0, 0);
    pa = p + 0 * bb;
    a0 = acc_pair(a0, pa, bb, q4, hi, 0, sc);
    a1 = acc_pair(a1, pa, bb, q4, hi, 1, sc);
    a2 = acc_pair(a2, pa, bb, q4, hi, 2, sc);
    a3 = acc_pair(a3, pa, bb, q4, hi, 3, sc);
    sc = v128.shuffle<i32>(qa, qa, 1, 1, 1, 1);
    pa = p + 2 * bb;
    a0 = acc_pair(a0, pa, bb, q4, hi, 0, sc);
    a1 = acc_pair(a1, pa, bb, q4, hi, 1, sc);
    a2 = acc_pair(a2, pa, bb, q4, hi, 2, sc);
    a3 = acc_pair(a3, pa, bb, q4, hi, 3, sc);
    if (nq > 1) {
      sc = v128.shuffle<i32>(qa, qa, 2, 2, 2, 2);
      pa = p + 4 * bb;
      a0 = acc_pair(a0, pa, bb, q4, hi, 0, sc);
      a1 = acc_pair(a1, pa, bb, q4, hi, 1, sc);
      a2 = acc_pair(a2, pa, bb, q4, hi, 2, sc);
      a3 = acc_pair(a3, pa, bb, q4, hi, 3, sc);
      sc = v128.shuffle<i32>(qa, qa, 3, 3, 3, 3);
      pa = p + 6 * bb;
      a0 = acc_pair(a0, pa, bb, q4, hi, 0, sc);
      a1 = acc_pair(a1, pa, bb, q4, hi, 1, sc);
      a2 = acc_pair(a2, pa, bb, q4, hi, 2, sc);
      a3 = acc_pair(a3, pa, bb, q4, hi, 3, sc);
      sc = v128.shuffle<i32>(qb, qb, 0, 0, 0, 0);
      pa = p + 8 * bb;
      a0 = acc_pair(a0, pa, bb, q4, hi, 0, sc);
      a1 = acc_pair(a1, pa, bb, q4, hi, 1, sc);
      a2 = acc_pair(a2, pa, bb, q4, hi, 2, sc);
      a3 = acc_pair(a3, pa, bb, q4, hi, 3, sc);
      sc = v128.shuffle<i32>(qb, qb, 1, 1, 1, 1);
      pa = p + 10 * bb;
      a0 = acc_pair(a0, pa, bb, q4, hi, 0, sc);
      a1 = acc_pair(a1, pa, bb, q4, hi, 1, sc);
      a2 = acc_pair(a2, pa, bb, q4, hi, 2, sc);
      a3 = acc_pair(a3, pa, bb, q4, hi, 3, sc);
      sc = v128.shuffle<i32>(qb, qb, 2, 2, 2, 2);
      pa = p + 12 * bb;
      a0 = acc_pair(a0, pa, bb, q4, hi, 0, sc);
      a1 = acc_pair(a1, pa, bb, q4, hi, 1, sc);
      a2 = acc_pair(a2, pa, bb, q4, hi, 2, sc);
      a3 = acc_pair(a3, pa, bb, q4, hi, 3, sc);
      sc = v128.shuffle<i32>(qb, qb, 3, 3, 3, 3);
      pa = p + 14 * bb;
      a0 = acc_pair(a0, pa, bb, q4, hi, 0, sc);
      a1 = acc_pair(a1, pa, bb, q4, hi, 1, sc);
      a2 = acc_pair(a2, pa, bb, q4, hi, 2, sc);
      a3 = acc_pair(a3, pa, bb, q4, hi, 3, sc);
    }
  v128.store(o, f32x4.add(v128.load(o), f32x4.mul(f32x4.convert_i32x4_s(a0), S)));
  v128.store(o, f32x4.add(v128.load(o, 16), f32x4.mul(f32x4.convert_i32x4_s(a1), S)), 16);
  v128.store(o, f32x4.add(v128.load(o, 32), f32x4.mul(f32x4.convert_i32x4_s(a2), S)), 32);
  v128.store(o, f32x4.add(v128.load(o, 48), f32x4.mul(f32x4.convert_i32x4_s(a3), S)), 48);
}

/** acc + dot(u, sc) where u interleaves elements 4w..4w+3 of the half (hi: elements 16..31) of the down
 * blocks at pa and pa + bb as i16 (a0 b0 a1 b1 …). */
// @ts-ignore: decorator
@inline function acc_pair(acc: v128, pa: usize, bb: usize, q4: bool, hi: bool, w: i32, sc: v128): v128 {
  const pb = pa + bb;
  let u: v128;
  if (q4) {
    const la = q4_centered(pa, hi), lb = q4_centered(pb, hi);
    const i8s = w < 2
      ? v128.shuffle<i8>(la, lb, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
      : v128.shuffle<i8>(la, lb, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    u = (w & 1) == 0 ? i16x8.extend_low_i8x16_s(i8s) : i16x8.extend_high_i8x16_s(i8s);
  } else {
    const e = (hi ? 2 : 0) + (w >> 1);
    const wa = x_lanes(pa, e), wb = x_lanes(pb, e);
    u = (w & 1) == 0 ? v128.shuffle<i16>(wa, wb, 0, 8, 1, 9, 2, 10, 3, 11) : v128.shuffle<i16>(wa, wb, 4, 12, 5, 13, 6, 14, 7, 15);
  }
  return i32x4.add(acc, i32x4.dot_i16x8_s(u, sc));
}

/** round(s · inv) as i32x4 (|s · inv| ≤ 32767). */
// @ts-ignore: decorator
@inline function round_i32(s: v128, inv: v128): v128 {
  // adding 1.5·2^23 leaves round-to-nearest-even(v) in the low mantissa bits for |v| < 2^22
  return i32x4.sub(f32x4.add(f32x4.mul(s, inv), f32x4.splat(12582912)), i32x4.splat(0x4b400000));
}

/** silu(g) · u lane-wise. */
// @ts-ignore: decorator
@inline function swiglu4(g: v128, u: v128): v128 {
  let s = f32x4.splat(silu(f32x4.extract_lane(g, 0)));
  s = f32x4.replace_lane(s, 1, silu(f32x4.extract_lane(g, 1)));
  s = f32x4.replace_lane(s, 2, silu(f32x4.extract_lane(g, 2)));
  s = f32x4.replace_lane(s, 3, silu(f32x4.extract_lane(g, 3)));
  return f32x4.mul(s, u);
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

/** down_ints with constant q4 and nq, in four functions of their own (down16_q8 …) rather than inlined
 * into the kernel: V8 allocated registers worse in the one large function (measured: the same kernel
 * 1.1-1.2× slower at dim 896, T = 1 and 32, from DRAM; a larger function also slowed an unchanged path). */
// @ts-ignore: decorator
@inline function down_call(out: usize, down: usize, bb: usize, nb: i32, q4: bool, h0: v128, h1: v128, h2: v128, h3: v128, nq: i32): void {
  if (q4) {
    if (nq > 1) down16_q4(out, down, bb, nb, h0, h1, h2, h3);
    else down4_q4(out, down, bb, nb, h0);
  } else {
    if (nq > 1) down16_q8(out, down, bb, nb, h0, h1, h2, h3);
    else down4_q8(out, down, bb, nb, h0);
  }
}
function down16_q8(out: usize, down: usize, bb: usize, nb: i32, h0: v128, h1: v128, h2: v128, h3: v128): void {
  down_ints(out, down, bb, nb, false, h0, h1, h2, h3, 4);
}

function down16_q4(out: usize, down: usize, bb: usize, nb: i32, h0: v128, h1: v128, h2: v128, h3: v128): void {
  down_ints(out, down, bb, nb, true, h0, h1, h2, h3, 4);
}

function down4_q8(out: usize, down: usize, bb: usize, nb: i32, h0: v128): void {
  const z = f32x4.splat(0);
  down_ints(out, down, bb, nb, false, h0, z, z, z, 1);
}

function down4_q4(out: usize, down: usize, bb: usize, nb: i32, h0: v128): void {
  const z = f32x4.splat(0);
  down_ints(out, down, bb, nb, true, h0, z, z, z, 1);
}
