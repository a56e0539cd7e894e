/**
 * Token sampling: greedy, temperature, top-k and top-p (nucleus), drawn with a seeded RNG.
 *
 * One pass finds the argmax (and catches NaN); temperature 0 returns it. Otherwise, as llama2.c's run.c
 * `sample`: logits / temperature → softmax (max subtracted) → top-k → top-p → one draw with a coin in
 * [0, 1). The softmax numerators exp((x - max) / T) are written over the logits in place and never
 * normalised: every step works with the unnormalised mass `sum`, which is the same distribution.
 *
 * Cost for a vocabulary of n (152k for Qwen), with nothing sorted: O(n) for greedy and plain sampling;
 * top-k keeps a min-heap of k ids, O(n log k); top-p prefilters with llama2.c's cutoff, then finds the
 * nucleus boundary by weighted quickselect, O(n) expected (run.c sorts the survivors, which for a flat
 * distribution is nearly the whole vocabulary: ~50 ms a token at 152k). The kept tokens are then drawn in
 * id order. Scratch (one Int32Array of n ids, or k with top-k) is allocated once, in the constructor.
 *
 * Reproducibility: the RNG is mulberry32 on 32-bit integer math, so a seed gives the same coin stream on
 * every runtime. Tokens also depend on Math.exp, which the spec lets engines approximate; V8 (Node, Deno,
 * workerd, Chromium) is one implementation, and elsewhere a last-ulp difference changes a token only when
 * a coin lands within an ulp of a bucket edge.
 */
import { IfpruneError } from '../errors.ts';
import { DEFAULTS } from '../defaults.ts';

export interface SamplerOptions {
  /** 0 = greedy argmax; otherwise logits are divided by it (< 1 sharpens, > 1 flattens). */
  temperature: number;
  /** Nucleus mass in (0, 1]; 1 = off. */
  topP: number;
  /** Keep the k most probable tokens; 0 (or ≥ vocabulary size) = off. */
  topK: number;
  /** RNG seed, any finite number, reduced to 32 bits with ToUint32 (`seed >>> 0`: 1.5 → 1, -1 → 2³² - 1). */
  seed: number;
}

/**
 * The defaults generate() applies when an option is not given: temperature 0.8 and top-p 0.9 as llama2.c's
 * run.c, top-k off, and a fixed seed (42) rather than the clock, so two runs of one prompt agree.
 */
export const DEFAULT_SAMPLING: Readonly<SamplerOptions> = Object.freeze({ temperature: DEFAULTS.temperature, topP: DEFAULTS.topP, topK: DEFAULTS.topK, seed: DEFAULTS.seed });


/**
 * mulberry32 (Tommy Ettinger, public domain): a 32-bit state advanced by a Weyl step of 0x6D2B79F5 and
 * mixed by two multiply-xorshift rounds. Returns uint32 / 2³², a float in [0, 1) with 32 bits of
 * resolution. Integer math only (Math.imul, >>> 0), hence identical on every JS runtime.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function badOption(name: string, value: unknown, allowed: string): IfpruneError {
  return new IfpruneError('bad_option', `sampling option ${name} = ${String(value)} is invalid: expected ${allowed}`);
}

/** Throws IfpruneError 'bad_option' naming the first invalid option, its value and the allowed range. */
export function validateSamplerOptions(opts: SamplerOptions): void {
  const { temperature, topP, topK, seed } = opts;
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature < 0) {
    throw badOption('temperature', temperature, 'a finite number ≥ 0 (0 = greedy)');
  }
  if (typeof topP !== 'number' || !(topP > 0 && topP <= 1)) {
    throw badOption('topP', topP, 'a number in (0, 1] (1 = off)');
  }
  if (typeof topK !== 'number' || !Number.isInteger(topK) || topK < 0) {
    throw badOption('topK', topK, 'an integer ≥ 0 (0 = off)');
  }
  if (typeof seed !== 'number' || !Number.isFinite(seed)) {
    throw badOption('seed', seed, 'a finite number (used modulo 2^32)');
  }
}

export class Sampler {
  readonly vocabSize: number;
  private readonly temperature: number;
  private readonly topP: number;
  /** 0 when off (topK = 0 or ≥ vocabSize). */
  private readonly topK: number;
  private readonly rng: () => number;
  /** (vocabSize) candidate token ids for top-k / top-p; only a prefix is used per call. */
  private readonly cand: Int32Array;

  constructor(opts: SamplerOptions, vocabSize: number) {
    validateSamplerOptions(opts);
    if (!Number.isInteger(vocabSize) || vocabSize < 1) {
      throw badOption('vocabSize', vocabSize, 'an integer ≥ 1 (the model vocabulary size)');
    }
    this.vocabSize = vocabSize;
    this.temperature = opts.temperature;
    this.topP = opts.topP;
    this.topK = opts.topK < vocabSize ? opts.topK : 0;
    this.rng = mulberry32(opts.seed);
    this.cand = new Int32Array(this.topK > 0 ? this.topK : this.topP < 1 ? vocabSize : 0);
  }

  /**
   * Picks the next token from `logits` (length ≥ vocabSize; entries past vocabSize are ignored).
   * May overwrite logits[0, vocabSize) with unnormalised probabilities (it does whenever it samples rather
   * than taking the argmax): copy them first if they are needed afterwards.
   * Draws one coin per call whenever temperature > 0, so the RNG position depends only on the call count.
   * Ties are broken towards the lower token id everywhere (argmax, top-k boundary, nucleus boundary).
   */
  sample(logits: Float32Array): number {
    const n = this.vocabSize;
    if (logits.length < n) {
      throw badOption('logits.length', logits.length, `at least vocabSize = ${n}; the logits do not match this sampler's vocabulary`);
    }

    // ---- argmax (first maximum); NaN fails `x <= max`, so it is caught without a test per element
    let best = 0;
    let max = logits[0]!;
    if (max !== max) throw nanLogits(0);
    for (let i = 1; i < n; i++) {
      const x = logits[i]!;
      if (!(x <= max)) {
        if (x !== x) throw nanLogits(i);
        max = x;
        best = i;
      }
    }
    if (this.temperature === 0) return best;

    const coin = this.rng();
    if (this.topK === 1 || n === 1 || max === Infinity) return best; // a point mass (on the first +∞)
    if (max === -Infinity) {
      throw new IfpruneError('numeric', `every logit is -Infinity, so there is no token to sample; check the logit mask (or the model's output)`);
    }

    // ---- softmax numerators, in place: p[i] = exp((x[i] - max) / T), p[best] = 1
    const T = this.temperature;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const p = Math.fround(Math.exp((logits[i]! - max) / T));
      logits[i] = p;
      sum += p;
    }

    // ---- the kept set: every id with p > v, plus the `ties` lowest ids with p === v
    let v: number;
    let ties: number;
    const cand = this.cand;
    if (this.topK > 0) {
      const k = this.topK;
      selectTopK(logits, n, k, cand);
      if (this.topP < 1) {
        let massK = 0;
        for (let i = 0; i < k; i++) massK += logits[cand[i]!]!;
        [v, ties] = nucleusBoundary(logits, cand, k, this.topP * massK);
      } else {
        v = logits[cand[0]!]!; // the heap's root is its least probable id
        ties = 0;
        for (let i = 0; i < k; i++) if (logits[cand[i]!] === v) ties++;
      }
    } else if (this.topP < 1) {
      // llama2.c's prefilter: ids with p < (1 - topP) / (n - 1) of the mass cannot be in the nucleus, since
      // at most n - 1 of them (best is always kept) hold < (1 - topP) of it, so the rest hold > topP.
      const cutoff = ((1 - this.topP) / (n - 1)) * sum;
      let m = 0;
      for (let i = 0; i < n; i++) if (logits[i]! >= cutoff || i === best) cand[m++] = i;
      [v, ties] = nucleusBoundary(logits, cand, m, this.topP * sum);
    } else {
      return sampleMult(logits, n, sum, coin);
    }
    return sampleKept(logits, n, v, ties, coin);
  }
}

function nanLogits(i: number): IfpruneError {
  return new IfpruneError('numeric', `the model produced NaN logits (first at token ${i}); the weights or an activation overflowed or are corrupt`);
}

/** run.c `sample_mult`: the first i whose cumulative mass exceeds coin · sum. */
export function sampleMult(probs: Float32Array, n: number, sum: number, coin: number): number {
  const r = coin * sum;
  let cdf = 0;
  for (let i = 0; i < n; i++) {
    cdf += probs[i]!;
    if (r < cdf) return i;
  }
  for (let i = n - 1; i > 0; i--) if (probs[i]! > 0) return i; // rounding: the last token with mass
  return 0;
}

/** true when id a ranks below id b: less probable, or equally probable with a higher id. */
function worse(p: Float32Array, a: number, b: number): boolean {
  return p[a]! < p[b]! || (p[a] === p[b] && a > b);
}

/** Leaves the k most probable ids of probs[0, n) in heap[0, k) (a min-heap; order unspecified). */
export function selectTopK(probs: Float32Array, n: number, k: number, heap: Int32Array): void {
  for (let i = 0; i < k; i++) {
    // sift up
    let c = i;
    while (c > 0) {
      const parent = (c - 1) >> 1;
      if (!worse(probs, i, heap[parent]!)) break;
      heap[c] = heap[parent]!;
      c = parent;
    }
    heap[c] = i;
  }
  for (let i = k; i < n; i++) {
    if (!(probs[i]! > probs[heap[0]!]!)) continue; // ties keep the lower id already held
    // replace the root, sift down
    let c = 0;
    for (;;) {
      const l = 2 * c + 1;
      if (l >= k) break;
      const r = l + 1;
      const child = r < k && worse(probs, heap[r]!, heap[l]!) ? r : l;
      if (!worse(probs, heap[child]!, i)) break;
      heap[c] = heap[child]!;
      c = child;
    }
    heap[c] = i;
  }
}

/**
 * The nucleus of the ids cand[0, m): the smallest set of most probable ids whose mass ≥ threshold, ties
 * broken towards lower ids. Returned as [v, ties]: the set is every id with p > v and the `ties` lowest ids
 * with p === v. Weighted quickselect (three-way partition around a median-of-three pivot, as
 * std::nth_element but stopping where the running mass crosses the threshold): O(m) expected, no sort,
 * which matters when a flat distribution leaves most of a 152k vocabulary in the nucleus. Reorders cand.
 */
export function nucleusBoundary(p: Float32Array, cand: Int32Array, m: number, threshold: number): [v: number, ties: number] {
  let lo = 0;
  let hi = m;
  let need = threshold; // mass still to collect from cand[lo, hi)
  while (lo < hi) {
    const a = p[cand[lo]!]!;
    const b = p[cand[(lo + hi) >> 1]!]!;
    const c = p[cand[hi - 1]!]!;
    const pivot = Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
    // partition cand[lo, hi) into  p > pivot: [lo, gt)  |  p == pivot: [gt, lt)  |  p < pivot: [lt, hi)
    let gt = lo;
    let lt = hi;
    let massGt = 0;
    for (let i = lo; i < lt; ) {
      const id = cand[i]!;
      const q = p[id]!;
      if (q > pivot) {
        cand[i++] = cand[gt]!;
        cand[gt++] = id;
        massGt += q;
      } else if (q < pivot) {
        cand[i] = cand[--lt]!;
        cand[lt] = id;
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
    if (cum >= need) return [pivot, ties];
    need -= cum;
    lo = lt; // take all of [lo, lt) and look further down
  }
  // rounding left the threshold unreached: keep every candidate
  let v = Infinity;
  for (let i = 0; i < m; i++) v = Math.min(v, p[cand[i]!]!);
  return [v, m];
}

/** Draws from the ids with p > v and the `ties` lowest ids with p === v, renormalised, in id order. */
export function sampleKept(p: Float32Array, n: number, v: number, ties: number, coin: number): number {
  let mass = 0;
  for (let i = 0, t = 0; i < n; i++) {
    const q = p[i]!;
    if (q > v || (q === v && t++ < ties)) mass += q;
  }
  const r = coin * mass;
  let cdf = 0;
  let last = -1;
  for (let i = 0, t = 0; i < n; i++) {
    const q = p[i]!;
    if (q > v || (q === v && t++ < ties)) {
      cdf += q;
      if (r < cdf) return i;
      if (q > 0) last = i;
    }
  }
  return last; // rounding: the last kept id with mass
}
