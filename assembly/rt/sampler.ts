// Token sampling, the AssemblyScript port of src/engine/sampler.ts (which stays its test oracle:
// test/rt-sampler.test.ts requires identical token ids for the same logits, options and seed).
//
// sample(logits) picks one id from vocabSize f32 logits:
//   temperature 0        → argmax (the first maximum)
//   otherwise            → p[i] = fround(exp((x[i] - max) / T)), then the kept set
//       topK > 0         → the k most probable ids (selectTopK), then, if topP < 1, their nucleus
//       topP < 1         → the nucleus (nucleusBoundary) of the ids surviving llama2.c's prefilter
//       neither          → every id (sampleMult)
//   and one mulberry32 coin (drawn on every call with T > 0) chooses within the kept set, in id order.
// Ties go to the lower id everywhere (argmax, top-k boundary, nucleus boundary).
//
// Bit-exactness with the TS sampler: JS numbers are f64, so every sum, threshold and coin is f64 here
// too; probabilities are stored as f32 in place of the logits (TS writes them into the Float32Array);
// mulberry32 is u32 arithmetic (wasm i32.mul is Math.imul); and exp is expFdlibm below, fdlibm's
// algorithm, which is V8's Math.exp bit for bit (AssemblyScript's Math.exp is musl's table-driven exp,
// which differs from it in the last f64 bit for about 1 input in 10). SIMD builds run the same exp two
// lanes at a time (expNonPositiveF64x2): the exp loop is most of sample()'s time.
import { fail } from './error';

/** generate()'s defaults, as src/engine/sampler.ts DEFAULT_SAMPLING (llama2.c run.c's 0.8 / 0.9, top-k off, seed 42). */
export const DEFAULT_TEMPERATURE: f64 = 0.8;
export const DEFAULT_TOP_P: f64 = 0.9;
export const DEFAULT_TOP_K: i32 = 0;
export const DEFAULT_SEED: f64 = 42;

/**
 * Largest vocabulary a Sampler accepts (2^24 ids; the largest real vocabularies are ~256k). Guards the
 * (vocabSize) candidate array allocation against a nonsense size: that must be a bad_option, not an
 * out-of-memory trap.
 */
export const MAX_VOCAB_SIZE: i32 = 1 << 24;

// ---- mulberry32

/**
 * ToUint32 of a finite number (JS `x >>> 0`): truncate towards zero, then modulo 2^32
 * (1.5 → 1, -1 → 2^32 - 1, 2^32 + 5 → 5). f64 `%` is exact, so this holds for any magnitude.
 */
export function toUint32(x: f64): u32 {
  let t = Math.trunc(x) % 4294967296.0;
  if (t < 0) t += 4294967296.0;
  return <u32>(<i64>t);
}

/**
 * mulberry32 (Tommy Ettinger, public domain): a 32-bit state advanced by a Weyl step of 0x6D2B79F5 and
 * mixed by two multiply-xorshift rounds; next() is uint32 / 2^32, in [0, 1). The same stream as
 * src/engine/sampler.ts mulberry32(seed): u32 wrap-around where JS has Math.imul, `>>> 0` and `^=`.
 */
export class Mulberry32 {
  private a: u32;

  constructor(seed: f64) {
    this.a = toUint32(seed);
  }

  next(): f64 {
    const a = (this.a += 0x6d2b79f5);
    let t = a;
    t = (t ^ (t >>> 15)) * (t | 1);
    t ^= t + (t ^ (t >>> 7)) * (t | 61);
    return <f64>(t ^ (t >>> 14)) / 4294967296.0;
  }
}

// ---- exp

/**
 * e^x exactly as fdlibm's e_exp.c computes it, which is what V8 (Node, Deno, workerd, Chromium) returns
 * for Math.exp (see: v8/src/base/ieee754.cc `exp`, including its exp(1) = E special case). Argument
 * reduction x = k·ln2 + r with |r| ≤ ln2/2, a degree-5 Remez rational for e^r, then scaling by 2^k.
 * Error < 1 ulp; the point is not accuracy but agreeing with the TS oracle in every bit.
 */
export function expFdlibm(x: f64): f64 {
  const ln2HI = reinterpret<f64>(0x3fe62e42fee00000); //  6.93147180369123816490e-01
  const ln2LO = reinterpret<f64>(0x3dea39ef35793c76); //  1.90821492927058770002e-10
  const invln2 = reinterpret<f64>(0x3ff71547652b82fe); // 1.44269504088896338700e+00
  const P1 = reinterpret<f64>(0x3fc555555555553e); //     1.66666666666666019037e-01
  const P2 = reinterpret<f64>(0xbf66c16c16bebd93); //    -2.77777777770155933842e-03
  const P3 = reinterpret<f64>(0x3f11566aaf25de2c); //     6.61375632143793436117e-05
  const P4 = reinterpret<f64>(0xbebbbd41c5d26bf1); //    -1.65339022054652515390e-06
  const P5 = reinterpret<f64>(0x3e66376972bea4d0); //     4.13813679705723846039e-08
  const oThreshold = reinterpret<f64>(0x40862e42fefa39ef); //  7.09782712893383973096e+02
  const uThreshold = reinterpret<f64>(0xc0874910d52d3051); // -7.45133219101941108420e+02
  const E = reinterpret<f64>(0x4005bf0a8b145769); //      2.718281828459045
  const twom1000 = reinterpret<f64>(0x0170000000000000); // 2^-1000
  const two1023 = reinterpret<f64>(0x7fe0000000000000); //  2^1023

  const bits = reinterpret<u64>(x);
  let hx = <u32>(bits >>> 32);
  const xsb = <i32>(hx >>> 31); // sign bit of x
  hx &= 0x7fffffff; // high word of |x|

  // ---- non-finite, overflow, underflow
  if (hx >= 0x40862e42) {
    // |x| ≥ 709.78...
    if (hx >= 0x7ff00000) {
      if (((hx & 0xfffff) | <u32>bits) != 0) return x + x; // NaN
      return xsb == 0 ? x : 0.0; // exp(±∞) = {∞, 0}
    }
    if (x > oThreshold) return Infinity;
    if (x < uThreshold) return 0.0;
  }

  // ---- argument reduction: x = k·ln2 + (hi - lo)
  let hi: f64 = 0;
  let lo: f64 = 0;
  let k: i32 = 0;
  if (hx > 0x3fd62e42) {
    // |x| > ln2 / 2
    if (hx < 0x3ff0a2b2) {
      // and |x| < 1.5 ln2
      if (x == 1.0) return E;
      hi = xsb == 0 ? x - ln2HI : x + ln2HI;
      lo = xsb == 0 ? ln2LO : -ln2LO;
      k = 1 - xsb - xsb;
    } else {
      k = <i32>(invln2 * x + (xsb == 0 ? 0.5 : -0.5)); // C's (int) truncation
      const t = <f64>k;
      hi = x - t * ln2HI; // t·ln2HI is exact here
      lo = t * ln2LO;
    }
    x = hi - lo;
  } else if (hx < 0x3e300000) {
    // |x| < 2^-28
    return 1.0 + x;
  }

  // ---- x is now in the primary range
  const t = x * x;
  const twopk = reinterpret<f64>(<u64>(0x3ff00000 + ((k >= -1021 ? k : k + 1000) << 20)) << 32);
  const c = x - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
  if (k == 0) return 1.0 - ((x * c) / (c - 2.0) - x);
  const y = 1.0 - ((lo - (x * c) / (2.0 - c)) - hi);
  if (k >= -1021) {
    if (k == 1024) return y * 2.0 * two1023;
    return y * twopk;
  }
  return y * twopk * twom1000;
}

/**
 * e^x for the two f64 lanes of x, each ≤ 0 and not NaN, rounded to f32 exactly as <f32>expFdlibm(x) is:
 * fdlibm's operations lane by lane, its branches turned into lane selects. A lane takes
 *   |x| < 2^-28                  1 + x
 *   |x| ≤ ln2 / 2                k = 0   (hi = x, lo = 0 makes the k ≠ 0 formula fdlibm's k = 0 one)
 *   |x| < 1.5 ln2                k = -1
 *   otherwise                    k = trunc(x / ln2 - 0.5)
 *   x < -104                     0       (e^-104 < 2^-150: every result there rounds to f32 0)
 * The results are f64; the caller rounds them to f32 (only there is the x < -104 shortcut exact).
 */
// @ts-ignore: decorator
@inline function expNonPositiveF64x2(x: v128): v128 {
  const ln2HI = f64x2.splat(reinterpret<f64>(0x3fe62e42fee00000));
  const ln2LO = f64x2.splat(reinterpret<f64>(0x3dea39ef35793c76));
  const invln2 = f64x2.splat(reinterpret<f64>(0x3ff71547652b82fe));
  const P1 = f64x2.splat(reinterpret<f64>(0x3fc555555555553e));
  const P2 = f64x2.splat(reinterpret<f64>(0xbf66c16c16bebd93));
  const P3 = f64x2.splat(reinterpret<f64>(0x3f11566aaf25de2c));
  const P4 = f64x2.splat(reinterpret<f64>(0xbebbbd41c5d26bf1));
  const P5 = f64x2.splat(reinterpret<f64>(0x3e66376972bea4d0));
  const one = f64x2.splat(1.0);

  // ---- which of fdlibm's branches each lane takes (the high-word tests as |x| bounds)
  const ax = f64x2.abs(x);
  const isTiny = f64x2.lt(ax, f64x2.splat(reinterpret<f64>(0x3e30000000000000))); // hx < 0x3e300000
  const isReduced = f64x2.ge(ax, f64x2.splat(reinterpret<f64>(0x3fd62e4300000000))); // hx > 0x3fd62e42
  const isGeneral = f64x2.ge(ax, f64x2.splat(reinterpret<f64>(0x3ff0a2b200000000))); // hx ≥ 0x3ff0a2b2
  const isZero = f64x2.lt(x, f64x2.splat(-104.0));

  // ---- argument reduction: x = k·ln2 + (hi - lo)
  const kGeneral = f64x2.trunc(f64x2.sub(f64x2.mul(invln2, x), f64x2.splat(0.5)));
  const k = v128.bitselect(kGeneral, v128.and(f64x2.splat(-1.0), isReduced), isGeneral);
  const hi = f64x2.sub(x, f64x2.mul(k, ln2HI));
  const lo = f64x2.mul(k, ln2LO);
  const r = f64x2.sub(hi, lo);

  // ---- e^r, then · 2^k (k ≥ -151 in the lanes kept, so 2^k is a normal f64)
  const t = f64x2.mul(r, r);
  const c = f64x2.sub(r, f64x2.mul(t, f64x2.add(P1, f64x2.mul(t, f64x2.add(P2, f64x2.mul(t, f64x2.add(P3, f64x2.mul(t, f64x2.add(P4, f64x2.mul(t, P5))))))))));
  const y = f64x2.sub(one, f64x2.sub(f64x2.sub(lo, f64x2.div(f64x2.mul(r, c), f64x2.sub(f64x2.splat(2.0), c))), hi));
  const twopk = i64x2.shl(i64x2.add(i64x2.extend_low_i32x4_s(i32x4.trunc_sat_f64x2_s_zero(k)), i64x2.splat(1023)), 52);
  const e = v128.bitselect(f64x2.add(one, x), f64x2.mul(y, twopk), isTiny);
  return v128.andnot(e, isZero);
}

/**
 * The softmax numerators in place: x[i] = fround(exp((x[i] - max) / T)) for the n f32 at x, as the TS
 * sampler computes them (f64 difference and quotient, fdlibm exp, f32 storage), given max = the largest
 * x[i] (finite) and T > 0. Returns their sum, accumulated in f64 in index order. SIMD builds do 4 logits
 * a step (expNonPositiveF64x2); the scalar loop is the reference and the tail.
 */
export function softmaxNumerators(x: usize, n: i32, max: f32, T: f64): f64 {
  const maxD = <f64>max;
  let sum: f64 = 0;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const maxV = f64x2.splat(maxD);
    const tV = f64x2.splat(T);
    for (; i + 4 <= n; i += 4) {
      const l = v128.load(x + (<usize>i << 2)); // 4 f32
      const a = f64x2.div(f64x2.sub(f64x2.promote_low_f32x4(l), maxV), tV);
      const b = f64x2.div(f64x2.sub(f64x2.promote_low_f32x4(i32x4.shuffle(l, l, 2, 3, 0, 1)), maxV), tV);
      const p = i32x4.shuffle(f32x4.demote_f64x2_zero(expNonPositiveF64x2(a)), f32x4.demote_f64x2_zero(expNonPositiveF64x2(b)), 0, 1, 4, 5);
      v128.store(x + (<usize>i << 2), p);
      sum += <f64>f32x4.extract_lane(p, 0);
      sum += <f64>f32x4.extract_lane(p, 1);
      sum += <f64>f32x4.extract_lane(p, 2);
      sum += <f64>f32x4.extract_lane(p, 3);
    }
  }
  for (; i < n; i++) {
    const p = <f32>expFdlibm((<f64>at(x, i) - maxD) / T);
    store<f32>(x + (<usize>i << 2), p);
    sum += p;
  }
  return sum;
}

// ---- options

/**
 * A number as JS String(x) writes it, for messages that must read like the TS ones: integers without
 * ".0", -0 as "0". (Non-integers use AssemblyScript's Grisu2, which can differ from JS's shortest form in
 * the last digit for rare values.)
 */
export function jsNumber(x: f64): string {
  if (x == 0) return '0';
  if (Math.trunc(x) == x && Math.abs(x) < 9007199254740992.0) return (<i64>x).toString();
  const s = x.toString();
  return s.endsWith('.0') ? s.slice(0, s.length - 2) : s;
}

function badOption(name: string, value: string, allowed: string): bool {
  return fail('bad_option', 'sampling option ' + name + ' = ' + value + ' is invalid: expected ' + allowed);
}

/**
 * Checks sampling options as src/engine/sampler.ts validateSamplerOptions does: false with
 * fail('bad_option', …) naming the first invalid option, its value and the allowed range. topK is f64 so
 * a host's 2.5 is reported rather than silently truncated.
 */
export function validateSamplerOptions(temperature: f64, topP: f64, topK: f64, seed: f64): bool {
  if (!isFinite(temperature) || temperature < 0) {
    return badOption('temperature', jsNumber(temperature), 'a finite number ≥ 0 (0 = greedy)');
  }
  if (!(topP > 0 && topP <= 1)) return badOption('topP', jsNumber(topP), 'a number in (0, 1] (1 = off)');
  if (!isFinite(topK) || Math.trunc(topK) != topK || topK < 0) {
    return badOption('topK', jsNumber(topK), 'an integer ≥ 0 (0 = off)');
  }
  if (!isFinite(seed)) return badOption('seed', jsNumber(seed), 'a finite number (used modulo 2^32)');
  return true;
}

// ---- the sampler

export class Sampler {
  readonly vocabSize: i32;
  private temperature: f64;
  private topP: f64;
  /** 0 when off (topK = 0 or ≥ vocabSize). */
  private topK: i32;
  private rng: Mulberry32;
  /** (topK, or vocabSize for top-p alone, or 0) candidate token ids; only a prefix is used per call. */
  private cand: StaticArray<i32>;

  /**
   * A sampler for a vocabulary of vocabSize ids, or null with fail('bad_option', the TS message) for bad
   * options (see validateSamplerOptions) or a vocabSize outside [1, MAX_VOCAB_SIZE]. topK is an integer
   * held in an f64 (an i32 argument converts implicitly); topK ≥ vocabSize means off, as 0 does.
   */
  static create(temperature: f64, topP: f64, topK: f64, seed: f64, vocabSize: i32): Sampler | null {
    if (!validateSamplerOptions(temperature, topP, topK, seed)) return null;
    if (vocabSize < 1) {
      badOption('vocabSize', vocabSize.toString(), 'an integer ≥ 1 (the model vocabulary size)');
      return null;
    }
    if (vocabSize > MAX_VOCAB_SIZE) {
      badOption('vocabSize', vocabSize.toString(), 'an integer in [1, ' + MAX_VOCAB_SIZE.toString() + '] (the model vocabulary size)');
      return null;
    }
    return new Sampler(temperature, topP, topK < <f64>vocabSize ? <i32>topK : 0, seed, vocabSize);
  }

  /** Use create(), which validates; this assumes valid options and 0 < topK < vocabSize or topK = 0. */
  private constructor(temperature: f64, topP: f64, topK: i32, seed: f64, vocabSize: i32) {
    this.vocabSize = vocabSize;
    this.temperature = temperature;
    this.topP = topP;
    this.topK = topK;
    this.rng = new Mulberry32(seed);
    this.cand = new StaticArray<i32>(topK > 0 ? topK : topP < 1 ? vocabSize : 0);
  }

  /**
   * The next token id from the vocabSize f32 logits at `logits` (the caller guarantees vocabSize * 4
   * bytes there). Overwrites logits[0, vocabSize) with unnormalised probabilities whenever it samples
   * rather than taking the argmax, as the TS sampler does. Draws one coin per call whenever T > 0, so
   * the RNG position depends only on the call count. Returns -1 with fail('numeric', …) for a NaN logit
   * or all logits -Infinity (the TS messages).
   */
  sample(logits: usize): i32 {
    const n = this.vocabSize;

    // ---- argmax (first maximum); NaN fails `x <= max`, so it is caught without a test per element
    let best = 0;
    let max = at(logits, 0);
    if (isNaN(max)) return nanLogits(0);
    for (let i = 1; i < n; i++) {
      const x = at(logits, i);
      if (!(x <= max)) {
        if (isNaN(x)) return nanLogits(i);
        max = x;
        best = i;
      }
    }
    if (this.temperature == 0) return best;

    const coin = this.rng.next();
    if (this.topK == 1 || n == 1 || max == Infinity) return best; // a point mass (on the first +∞)
    if (max == -Infinity) {
      fail('numeric', "every logit is -Infinity, so there is no token to sample; check the logit mask (or the model's output)");
      return -1;
    }

    // ---- softmax numerators, in place: p[i] = exp((x[i] - max) / T), p[best] = 1
    const sum = softmaxNumerators(logits, n, max, this.temperature);

    // ---- the kept set: every id with p > v, plus the `ties` lowest ids with p == v
    const cand = changetype<usize>(this.cand);
    if (this.topK > 0) {
      const k = this.topK;
      selectTopK(logits, n, k, cand);
      if (this.topP < 1) {
        let massK: f64 = 0;
        for (let i = 0; i < k; i++) massK += at(logits, id(cand, i));
        nucleusBoundary(logits, cand, k, this.topP * massK);
      } else {
        const v = at(logits, id(cand, 0)); // the heap's root is its least probable id
        let ties = 0;
        for (let i = 0; i < k; i++) if (at(logits, id(cand, i)) == v) ties++;
        boundary.v = v;
        boundary.ties = ties;
      }
    } else if (this.topP < 1) {
      // llama2.c's prefilter: ids with p < (1 - topP) / (n - 1) of the mass cannot be in the nucleus, since
      // at most n - 1 of them (best is always kept) hold < (1 - topP) of it, so the rest hold > topP.
      const cutoff = ((1 - this.topP) / <f64>(n - 1)) * sum;
      let m = 0;
      for (let i = 0; i < n; i++) {
        if (<f64>at(logits, i) >= cutoff || i == best) setId(cand, m++, i);
      }
      nucleusBoundary(logits, cand, m, this.topP * sum);
    } else {
      return sampleMult(logits, n, sum, coin);
    }
    return sampleKept(logits, n, boundary.v, boundary.ties, coin);
  }
}

function nanLogits(i: i32): i32 {
  fail('numeric', 'the model produced NaN logits (first at token ' + i.toString() + '); the weights or an activation overflowed or are corrupt');
  return -1;
}

// ---- the kept set, over raw addresses: probs (n f32), candidate ids (i32)

// @ts-ignore: decorator
@inline function at(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function id(cand: usize, i: i32): i32 {
  return load<i32>(cand + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function setId(cand: usize, i: i32, v: i32): void {
  store<i32>(cand + (<usize>i << 2), v);
}

/** run.c `sample_mult`: the first i whose cumulative mass exceeds coin · sum. */
export function sampleMult(probs: usize, n: i32, sum: f64, coin: f64): i32 {
  const r = coin * sum;
  let cdf: f64 = 0;
  for (let i = 0; i < n; i++) {
    cdf += at(probs, i);
    if (r < cdf) return i;
  }
  for (let i = n - 1; i > 0; i--) if (at(probs, i) > 0) return i; // rounding: the last token with mass
  return 0;
}

/** true when id a ranks below id b: less probable, or equally probable with a higher id. */
// @ts-ignore: decorator
@inline function worse(p: usize, a: i32, b: i32): bool {
  const pa = at(p, a);
  const pb = at(p, b);
  return pa < pb || (pa == pb && a > b);
}

/** Leaves the k most probable ids of probs[0, n) in heap[0, k) (a min-heap; order unspecified). */
export function selectTopK(probs: usize, n: i32, k: i32, heap: usize): void {
  for (let i = 0; i < k; i++) {
    // sift up
    let c = i;
    while (c > 0) {
      const parent = (c - 1) >> 1;
      if (!worse(probs, i, id(heap, parent))) break;
      setId(heap, c, id(heap, parent));
      c = parent;
    }
    setId(heap, c, i);
  }
  for (let i = k; i < n; i++) {
    if (!(at(probs, i) > at(probs, id(heap, 0)))) continue; // ties keep the lower id already held
    // replace the root, sift down
    let c = 0;
    for (;;) {
      const l = 2 * c + 1;
      if (l >= k) break;
      const r = l + 1;
      const child = r < k && worse(probs, id(heap, r), id(heap, l)) ? r : l;
      if (!worse(probs, id(heap, child), i)) break;
      setId(heap, c, id(heap, child));
      c = child;
    }
    setId(heap, c, i);
  }
}

/** The result of nucleusBoundary: the kept set is every id with p > v and the `ties` lowest ids with p == v. */
export class Boundary {
  v: f64 = 0;
  ties: i32 = 0;
}
export const boundary = new Boundary();

/**
 * The nucleus of the ids cand[0, m): the smallest set of most probable ids whose mass ≥ threshold, ties
 * broken towards lower ids, left in `boundary` as (v, ties). Weighted quickselect (three-way partition
 * around a median-of-three pivot, as std::nth_element but stopping where the running mass crosses the
 * threshold): O(m) expected, no sort. Reorders cand.
 */
export function nucleusBoundary(p: usize, cand: usize, m: i32, threshold: f64): void {
  let lo = 0;
  let hi = m;
  let need = threshold; // mass still to collect from cand[lo, hi)
  while (lo < hi) {
    const a = at(p, id(cand, lo));
    const b = at(p, id(cand, (lo + hi) >> 1));
    const c = at(p, id(cand, hi - 1));
    const pivot = max(min(a, b), min(max(a, b), c));
    // partition cand[lo, hi) into  p > pivot: [lo, gt)  |  p == pivot: [gt, lt)  |  p < pivot: [lt, hi)
    let gt = lo;
    let lt = hi;
    let massGt: f64 = 0;
    for (let i = lo; i < lt; ) {
      const x = id(cand, i);
      const q = at(p, x);
      if (q > pivot) {
        setId(cand, i++, id(cand, gt));
        setId(cand, gt++, x);
        massGt += q;
      } else if (q < pivot) {
        setId(cand, i, id(cand, --lt));
        setId(cand, lt, x);
      } else i++;
    }
    if (massGt >= need) {
      hi = gt; // the boundary lies among the more probable ids
      continue;
    }
    let cum = massGt;
    let ties = 0;
    while (ties < lt - gt && cum < need) {
      cum += pivot;
      ties++;
    }
    if (cum >= need) {
      boundary.v = pivot;
      boundary.ties = ties;
      return;
    }
    need -= cum;
    lo = lt; // take all of [lo, lt) and look further down
  }
  // rounding left the threshold unreached: keep every candidate
  let v: f64 = Infinity;
  for (let i = 0; i < m; i++) v = min(v, <f64>at(p, id(cand, i)));
  boundary.v = v;
  boundary.ties = m;
}

/** Draws from the ids with p > v and the `ties` lowest ids with p == v, renormalised, in id order. */
export function sampleKept(p: usize, n: i32, v: f64, ties: i32, coin: f64): i32 {
  let mass: f64 = 0;
  for (let i = 0, t = 0; i < n; i++) {
    const q = <f64>at(p, i);
    if (q > v || (q == v && t++ < ties)) mass += q;
  }
  const r = coin * mass;
  let cdf: f64 = 0;
  let last = -1;
  for (let i = 0, t = 0; i < n; i++) {
    const q = <f64>at(p, i);
    if (q > v || (q == v && t++ < ties)) {
      cdf += q;
      if (r < cdf) return i;
      if (q > 0) last = i;
    }
  }
  return last; // rounding: the last kept id with mass
}
