// Elementwise ops and attention (f32). See src/engine/kernels.ts for the ABI and src/reference/ops.ts
// for the plain-TS versions these are tested against (test/ops.test.ts).
//
// Every export takes byte offsets into linear memory (usize) and i32 counts; regions are f32,
// row-major. Each kernel has a v128 path under `if (ASC_FEATURE_SIMD)` (compiled only into the SIMD
// build) followed by the scalar loop, which is also the SIMD path's tail for counts not a multiple of 4.
// Helpers are not exported: everything exported here becomes a wasm export (assembly/index.ts).
import { exp4 } from './common';

/** Sum of the four lanes of an f32x4. */
// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** a · b over n f32 (a, b byte offsets). SIMD: four independent f32x4 accumulators, 16 floats a step. */
// @ts-ignore: decorator
@inline function dot(a: usize, b: usize, n: i32): f32 {
  let sum: f32 = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let acc0 = f32x4.splat(0);
    let acc1 = f32x4.splat(0);
    let acc2 = f32x4.splat(0);
    let acc3 = f32x4.splat(0);
    for (; i + 16 <= n; i += 16) {
      const pa = a + (<usize>i << 2);
      const pb = b + (<usize>i << 2);
      acc0 = f32x4.add(acc0, f32x4.mul(v128.load(pa), v128.load(pb)));
      acc1 = f32x4.add(acc1, f32x4.mul(v128.load(pa, 16), v128.load(pb, 16)));
      acc2 = f32x4.add(acc2, f32x4.mul(v128.load(pa, 32), v128.load(pb, 32)));
      acc3 = f32x4.add(acc3, f32x4.mul(v128.load(pa, 48), v128.load(pb, 48)));
    }
    for (; i + 4 <= n; i += 4) {
      acc0 = f32x4.add(acc0, f32x4.mul(v128.load(a + (<usize>i << 2)), v128.load(b + (<usize>i << 2))));
    }
    sum = hsum(f32x4.add(f32x4.add(acc0, acc1), f32x4.add(acc2, acc3)));
  }
  for (; i < n; i++) sum += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  return sum;
}

/** In place x = softmax(x) over n f32, max subtracted first (see llama2.c softmax). */
// @ts-ignore: decorator
@inline function softmax(x: usize, n: i32): void {
  if (n <= 0) return;
  // max
  let max = load<f32>(x);
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    if (n >= 4) {
      // two chains of pmax (one instruction; a NaN in x reaches the output through exp anyway)
      let m0 = v128.load(x);
      let m1 = m0;
      for (i = 4; i + 8 <= n; i += 8) {
        const p = x + (<usize>i << 2);
        m0 = f32x4.pmax(m0, v128.load(p));
        m1 = f32x4.pmax(m1, v128.load(p, 16));
      }
      for (; i + 4 <= n; i += 4) m0 = f32x4.pmax(m0, v128.load(x + (<usize>i << 2)));
      const m = f32x4.pmax(m0, m1);
      max = Mathf.max(Mathf.max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), Mathf.max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
    }
  }
  for (; i < n; i++) max = Mathf.max(max, load<f32>(x + (<usize>i << 2)));
  // exp and sum
  let sum: f32 = 0;
  i = 0;
  if (ASC_FEATURE_SIMD) {
    const m = f32x4.splat(max);
    let acc = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      const p = x + (<usize>i << 2);
      const e = exp4(f32x4.sub(v128.load(p), m));
      v128.store(p, e);
      acc = f32x4.add(acc, e);
    }
    sum = hsum(acc);
  }
  for (; i < n; i++) {
    const p = x + (<usize>i << 2);
    const e = Mathf.exp(load<f32>(p) - max);
    store<f32>(p, e);
    sum += e;
  }
  // normalize
  i = 0;
  if (ASC_FEATURE_SIMD) {
    const s = f32x4.splat(sum);
    for (; i + 4 <= n; i += 4) {
      const p = x + (<usize>i << 2);
      v128.store(p, f32x4.div(v128.load(p), s));
    }
  }
  for (; i < n; i++) {
    const p = x + (<usize>i << 2);
    store<f32>(p, load<f32>(p) / sum);
  }
}

/**
 * RMS normalisation: out = x / sqrt(mean(x²) + eps) * w.
 *   out (n) f32 — may equal x
 *   x   (n) f32
 *   w   (n) f32  the norm weight (attn_norm, ffn_norm, output_norm)
 */
export function rmsnorm_f32(out: usize, x: usize, w: usize, n: i32, eps: f32): void {
  // sum of squares
  let ss: f32 = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let acc0 = f32x4.splat(0);
    let acc1 = f32x4.splat(0);
    for (; i + 8 <= n; i += 8) {
      const p = x + (<usize>i << 2);
      const a = v128.load(p);
      const b = v128.load(p, 16);
      acc0 = f32x4.add(acc0, f32x4.mul(a, a));
      acc1 = f32x4.add(acc1, f32x4.mul(b, b));
    }
    for (; i + 4 <= n; i += 4) {
      const a = v128.load(x + (<usize>i << 2));
      acc0 = f32x4.add(acc0, f32x4.mul(a, a));
    }
    ss = hsum(f32x4.add(acc0, acc1));
  }
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    ss += v * v;
  }
  const scale: f32 = 1 / Mathf.sqrt(ss / <f32>n + eps);
  // out = w * (scale * x)
  i = 0;
  if (ASC_FEATURE_SIMD) {
    const s = f32x4.splat(scale);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(out + o, f32x4.mul(v128.load(w + o), f32x4.mul(s, v128.load(x + o))));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(w + o) * (scale * load<f32>(x + o)));
  }
}

/**
 * Rotary position embedding, in place.
 *   x (nHeads, headSize) f32; the first ropeDim (even, ≤ headSize) dims of each head are rotated,
 *   the rest are left alone.
 *   neox = 0: pairs (2i, 2i+1), as llama2.c run.c and GGUF llama (q/k weights permuted by convert);
 *   neox = 1: pairs (i, i + ropeDim/2), as GPT-NeoX / Qwen2 / HF rotate_half.
 *   Pair i turns by theta = pos · freqBase^(-2i/ropeDim), computed in f64 and rounded to f32.
 * Scalar in both builds: the cos/sin per pair (shared by all heads) dominate, not the rotation.
 */
export function rope_f32(x: usize, nHeads: i32, headSize: i32, ropeDim: i32, pos: i32, freqBase: f32, neox: i32): void {
  const half = ropeDim >> 1;
  const headBytes = <usize>headSize << 2;
  for (let i = 0; i < half; i++) {
    const theta = <f64>pos * Math.pow(<f64>freqBase, -<f64>(2 * i) / <f64>ropeDim);
    const c = <f32>Math.cos(theta);
    const s = <f32>Math.sin(theta);
    // byte offsets of the pair within a head
    const o0: usize = neox ? <usize>i << 2 : <usize>(2 * i) << 2;
    const o1: usize = neox ? <usize>(i + half) << 2 : <usize>(2 * i + 1) << 2;
    let head = x;
    for (let h = 0; h < nHeads; h++, head += headBytes) {
      const v0 = load<f32>(head + o0);
      const v1 = load<f32>(head + o1);
      store<f32>(head + o0, v0 * c - v1 * s);
      store<f32>(head + o1, v0 * s + v1 * c);
    }
  }
}

/** In place: x = softmax(x).  x (n) f32. */
export function softmax_f32(x: usize, n: i32): void {
  softmax(x, n);
}

/** In place: x = x · sigmoid(x) (SiLU).  x (n) f32. */
export function silu_f32(x: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const one = f32x4.splat(1);
    for (; i + 4 <= n; i += 4) {
      const p = x + (<usize>i << 2);
      const v = v128.load(p);
      v128.store(p, f32x4.mul(v, f32x4.div(one, f32x4.add(one, exp4(f32x4.neg(v))))));
    }
  }
  for (; i < n; i++) {
    const p = x + (<usize>i << 2);
    const v = load<f32>(p);
    store<f32>(p, v * (1 / (1 + Mathf.exp(-v))));
  }
}

const OP_ADD = 0;
const OP_MUL = 1;

/** out = out (op) x elementwise, op a compile-time constant (inlined into each export). */
// @ts-ignore: decorator
@inline function elementwise(out: usize, x: usize, n: i32, op: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const o = out + (<usize>i << 2);
      const a = v128.load(o);
      const b = v128.load(x + (<usize>i << 2));
      v128.store(o, op == OP_ADD ? f32x4.add(a, b) : f32x4.mul(a, b));
    }
  }
  for (; i < n; i++) {
    const o = out + (<usize>i << 2);
    const a = load<f32>(o);
    const b = load<f32>(x + (<usize>i << 2));
    store<f32>(o, op == OP_ADD ? a + b : a * b);
  }
}

/** out += x (the residual).  out (n) f32, x (n) f32. */
export function add_f32(out: usize, x: usize, n: i32): void {
  elementwise(out, x, n, OP_ADD);
}

/** out *= x (the SwiGLU gate: silu(gate) · up).  out (n) f32, x (n) f32. */
export function mul_f32(out: usize, x: usize, n: i32): void {
  elementwise(out, x, n, OP_MUL);
}

/**
 * Index of the first maximum of x (n ≥ 1) — greedy sampling.  x (n) f32.
 * Same answer as the scalar `if (x[i] > max)` scan, NaN included (a NaN is never picked unless it is
 * x[0]): every lane starts at (x[0], 0) and takes a value only when strictly greater, so each lane
 * keeps its first maximum, and lanes tie-break on the lower index.
 */
export function argmax_f32(x: usize, n: i32): i32 {
  if (n <= 0) return 0;
  let max = load<f32>(x);
  let best = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    if (n >= 4) {
      let vmax = f32x4.splat(max);
      let vidx = i32x4.splat(0);
      let idx = i32x4(0, 1, 2, 3);
      const four = i32x4.splat(4);
      for (; i + 4 <= n; i += 4) {
        const v = v128.load(x + (<usize>i << 2));
        const gt = f32x4.gt(v, vmax);
        vmax = v128.bitselect(v, vmax, gt);
        vidx = v128.bitselect(idx, vidx, gt);
        idx = i32x4.add(idx, four);
      }
      // lane 0 first; a later lane wins if greater, or equal with a lower index
      max = f32x4.extract_lane(vmax, 0);
      best = i32x4.extract_lane(vidx, 0);
      const m1 = f32x4.extract_lane(vmax, 1), k1 = i32x4.extract_lane(vidx, 1);
      if (m1 > max || (m1 == max && k1 < best)) { max = m1; best = k1; }
      const m2 = f32x4.extract_lane(vmax, 2), k2 = i32x4.extract_lane(vidx, 2);
      if (m2 > max || (m2 == max && k2 < best)) { max = m2; best = k2; }
      const m3 = f32x4.extract_lane(vmax, 3), k3 = i32x4.extract_lane(vidx, 3);
      if (m3 > max || (m3 == max && k3 < best)) { max = m3; best = k3; }
    }
  }
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    if (v > max) {
      max = v;
      best = i;
    }
  }
  return best;
}

/**
 * Grouped-query attention of one new token (llama2.c run.c "multihead attention").
 *   out    (nHeads, headSize) f32
 *   q      (nHeads, headSize) f32            the new token's query, RoPE applied
 *   kCache (nPos, nKvHeads·headSize) f32     keys of positions 0..nPos-1 (the new one last)
 *   vCache (nPos, nKvHeads·headSize) f32     values, same layout
 *   att    (nPos) f32                        scratch, reused per head
 * Query head h reads kv head g = h / (nHeads / nKvHeads):
 *   att[t] = q_h · k[t, g] / √headSize;  att = softmax(att);  out_h = Σ_t att[t] · v[t, g]
 * nHeads must be a multiple of nKvHeads ≥ 1 (Kernels.fn checks; through raw, a zero divisor traps).
 */
export function attention_f32(out: usize, q: usize, kCache: usize, vCache: usize, att: usize, nHeads: i32, nKvHeads: i32, headSize: i32, nPos: i32): void {
  const kvMul = nHeads / nKvHeads; // query heads per kv head
  const headBytes = <usize>headSize << 2;
  const rowBytes = <usize>(nKvHeads * headSize) << 2; // one position of the cache
  const sqrtHead = Mathf.sqrt(<f32>headSize);
  for (let h = 0; h < nHeads; h++) {
    const qh = q + <usize>h * headBytes;
    const oh = out + <usize>h * headBytes;
    const g = h / kvMul;
    const kg = kCache + <usize>g * headBytes;
    const vg = vCache + <usize>g * headBytes;
    // scores: att (nPos)
    let t = 0;
    if (ASC_FEATURE_SIMD) {
      if ((headSize & 3) == 0) {
        // four positions at once: q_h is loaded once for all four, and one transpose-add turns the
        // four accumulators into four scores stored together
        const sq = f32x4.splat(sqrtHead);
        for (; t + 4 <= nPos; t += 4) {
          const k0 = kg + <usize>t * rowBytes;
          const k1 = k0 + rowBytes;
          const k2 = k1 + rowBytes;
          const k3 = k2 + rowBytes;
          let a0 = f32x4.splat(0);
          let a1 = f32x4.splat(0);
          let a2 = f32x4.splat(0);
          let a3 = f32x4.splat(0);
          for (let i = 0; i < headSize; i += 4) {
            const o = <usize>i << 2;
            const qv = v128.load(qh + o);
            a0 = f32x4.add(a0, f32x4.mul(qv, v128.load(k0 + o)));
            a1 = f32x4.add(a1, f32x4.mul(qv, v128.load(k1 + o)));
            a2 = f32x4.add(a2, f32x4.mul(qv, v128.load(k2 + o)));
            a3 = f32x4.add(a3, f32x4.mul(qv, v128.load(k3 + o)));
          }
          // [a0+a2, a1+a3 interleaved] then lane j = Σ lanes of a_j
          const s01 = f32x4.add(v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), v128.shuffle<f32>(a0, a1, 2, 6, 3, 7));
          const s23 = f32x4.add(v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), v128.shuffle<f32>(a2, a3, 2, 6, 3, 7));
          const sc = f32x4.add(v128.shuffle<f32>(s01, s23, 0, 1, 4, 5), v128.shuffle<f32>(s01, s23, 2, 3, 6, 7));
          v128.store(att + (<usize>t << 2), f32x4.div(sc, sq));
        }
      }
    }
    for (; t < nPos; t++) {
      store<f32>(att + (<usize>t << 2), dot(qh, kg + <usize>t * rowBytes, headSize) / sqrtHead);
    }
    softmax(att, nPos);
    // out_h (headSize) = Σ_t att[t] · v[t, g], summed in t order for every element d
    let d = 0;
    if (ASC_FEATURE_SIMD) {
      // 32 elements of out_h in eight registers, then 16 in four, then 4, across all t
      for (; d + 32 <= headSize; d += 32) {
        let acc0 = f32x4.splat(0);
        let acc1 = f32x4.splat(0);
        let acc2 = f32x4.splat(0);
        let acc3 = f32x4.splat(0);
        let acc4 = f32x4.splat(0);
        let acc5 = f32x4.splat(0);
        let acc6 = f32x4.splat(0);
        let acc7 = f32x4.splat(0);
        let p = vg + (<usize>d << 2);
        for (let t = 0; t < nPos; t++, p += rowBytes) {
          const a = f32x4.splat(load<f32>(att + (<usize>t << 2)));
          acc0 = f32x4.add(acc0, f32x4.mul(a, v128.load(p)));
          acc1 = f32x4.add(acc1, f32x4.mul(a, v128.load(p, 16)));
          acc2 = f32x4.add(acc2, f32x4.mul(a, v128.load(p, 32)));
          acc3 = f32x4.add(acc3, f32x4.mul(a, v128.load(p, 48)));
          acc4 = f32x4.add(acc4, f32x4.mul(a, v128.load(p, 64)));
          acc5 = f32x4.add(acc5, f32x4.mul(a, v128.load(p, 80)));
          acc6 = f32x4.add(acc6, f32x4.mul(a, v128.load(p, 96)));
          acc7 = f32x4.add(acc7, f32x4.mul(a, v128.load(p, 112)));
        }
        const o = oh + (<usize>d << 2);
        v128.store(o, acc0);
        v128.store(o, acc1, 16);
        v128.store(o, acc2, 32);
        v128.store(o, acc3, 48);
        v128.store(o, acc4, 64);
        v128.store(o, acc5, 80);
        v128.store(o, acc6, 96);
        v128.store(o, acc7, 112);
      }
      if (d + 16 <= headSize) {
        let acc0 = f32x4.splat(0);
        let acc1 = f32x4.splat(0);
        let acc2 = f32x4.splat(0);
        let acc3 = f32x4.splat(0);
        let p = vg + (<usize>d << 2);
        for (let t = 0; t < nPos; t++, p += rowBytes) {
          const a = f32x4.splat(load<f32>(att + (<usize>t << 2)));
          acc0 = f32x4.add(acc0, f32x4.mul(a, v128.load(p)));
          acc1 = f32x4.add(acc1, f32x4.mul(a, v128.load(p, 16)));
          acc2 = f32x4.add(acc2, f32x4.mul(a, v128.load(p, 32)));
          acc3 = f32x4.add(acc3, f32x4.mul(a, v128.load(p, 48)));
        }
        const o = oh + (<usize>d << 2);
        v128.store(o, acc0);
        v128.store(o, acc1, 16);
        v128.store(o, acc2, 32);
        v128.store(o, acc3, 48);
        d += 16;
      }
      for (; d + 4 <= headSize; d += 4) {
        let acc = f32x4.splat(0);
        let p = vg + (<usize>d << 2);
        for (let t = 0; t < nPos; t++, p += rowBytes) {
          acc = f32x4.add(acc, f32x4.mul(f32x4.splat(load<f32>(att + (<usize>t << 2))), v128.load(p)));
        }
        v128.store(oh + (<usize>d << 2), acc);
      }
    }
    for (; d < headSize; d++) {
      let acc: f32 = 0;
      let p = vg + (<usize>d << 2);
      for (let t = 0; t < nPos; t++, p += rowBytes) acc += load<f32>(att + (<usize>t << 2)) * load<f32>(p);
      store<f32>(oh + (<usize>d << 2), acc);
    }
  }
}

/**
 * Memory-bandwidth probe: the sum of n f32, read once front to back.  x (n) f32.
 * SIMD: eight independent f32x4 accumulators over 128 bytes a step (enough adds in flight that the
 * loop is bound by loads, not by add latency), then 4 at a time, then a scalar tail for n % 4.
 */
export function mem_read_f32(x: usize, n: i32): f32 {
  let sum: f32 = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    let a4 = f32x4.splat(0);
    let a5 = f32x4.splat(0);
    let a6 = f32x4.splat(0);
    let a7 = f32x4.splat(0);
    let p = x;
    const end = x + (<usize>(n & ~31) << 2);
    for (; p < end; p += 128) {
      a0 = f32x4.add(a0, v128.load(p));
      a1 = f32x4.add(a1, v128.load(p, 16));
      a2 = f32x4.add(a2, v128.load(p, 32));
      a3 = f32x4.add(a3, v128.load(p, 48));
      a4 = f32x4.add(a4, v128.load(p, 64));
      a5 = f32x4.add(a5, v128.load(p, 80));
      a6 = f32x4.add(a6, v128.load(p, 96));
      a7 = f32x4.add(a7, v128.load(p, 112));
    }
    i = n & ~31;
    for (; i + 4 <= n; i += 4) a0 = f32x4.add(a0, v128.load(x + (<usize>i << 2)));
    sum = hsum(f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7))));
  } else {
    // four scalar accumulators (the scalar build's best; also keeps the chain short)
    let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
    for (; i + 4 <= n; i += 4) {
      const p = x + (<usize>i << 2);
      s0 += load<f32>(p);
      s1 += load<f32>(p, 4);
      s2 += load<f32>(p, 8);
      s3 += load<f32>(p, 12);
    }
    sum = (s0 + s1) + (s2 + s3);
  }
  for (; i < n; i++) sum += load<f32>(x + (<usize>i << 2));
  return sum;
}
