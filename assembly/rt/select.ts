// Turning neuron scores into the per-layer neuron sets the engine runs: top-k by score, optionally after
// an always-on ("shared") set. The TS oracle is src/pruning/select.ts; results are identical (same ids,
// same order) for scores without NaN.
import { fail } from './error';

/** Neurons per layer at `density` of n_ff (at least 1 when density > 0); -1 with fail('bad_option')
 * when density is not in [0, 1]. Math.round: halves up, as in JS. */
export function neuronsAt(density: f64, nff: i32): i32 {
  if (!(density >= 0 && density <= 1)) {
    fail('bad_option', 'density = ' + density.toString() + ': expected a number in [0, 1]');
    return -1;
  }
  return density == 0 ? 0 : max<i32>(1, <i32>Math.round(density * <f64>nff));
}

/**
 * A sort key per neuron: ascending keys = descending score, ties by ascending id.
 *   key (u64) = [ ~order(score) (u32) | id (u32) ]
 * order() maps f32 bits to a u32 that sorts as the floats do (-0 counted as +0, NaN below everything,
 * so NaN scores come last; the TS comparator gives NaN no defined place).
 */
// @ts-ignore: decorator
@inline function scoreKey(score: f32, id: i32): u64 {
  let order: u32 = 0; // NaN
  if (score == score) {
    const bits = reinterpret<u32>(score == 0 ? <f32>0 : score);
    order = (bits & 0x80000000) != 0 ? ~bits : bits | 0x80000000;
  }
  return ((<u64>~order) << 32) | <u64><u32>id;
}

/** The ids of the k largest scores (ties: lower id first), ascending. `exclude[j]` != 0 leaves neuron j
 * out (a shorter mask excludes nothing past its end). k is clamped to [0, candidates]. */
export function topK(scores: Float32Array, k: i32, exclude: Uint8Array | null): Int32Array {
  const n = scores.length;
  const keys = new Uint64Array(n);
  let m = 0;
  for (let j = 0; j < n; j++) {
    if (exclude !== null && j < exclude.length && exclude[j] != 0) continue;
    keys[m++] = scoreKey(scores[j], j);
  }
  const candidates = keys.subarray(0, m).sort();
  const take = min<i32>(max<i32>(k, 0), m);
  const out = new Int32Array(take);
  for (let i = 0; i < take; i++) out[i] = <i32><u32>candidates[i];
  return out.sort();
}

/**
 * Per layer: the shared ids (always on, up to k of them) plus the top scores among the rest, k in all,
 * ascending. `shared[l]` may be empty or missing (shared shorter than scores).
 *   scores (nLayers) × (n_ff) → sets (nLayers) × (≤ k)
 */
export function selectLayers(scores: Array<Float32Array>, k: i32, shared: Array<Array<i32>>): Array<Int32Array> {
  const out = new Array<Int32Array>(scores.length);
  for (let l = 0; l < scores.length; l++) {
    const s = scores[l];
    const sh = l < shared.length ? shared[l] : new Array<i32>(0);
    if (sh.length >= k) {
      const take = max<i32>(k, 0);
      const set = new Int32Array(take);
      for (let i = 0; i < take; i++) set[i] = sh[i];
      out[l] = set.sort();
      continue;
    }
    const mask = new Uint8Array(s.length);
    for (let i = 0; i < sh.length; i++) {
      const j = sh[i];
      if (j >= 0 && j < s.length) mask[j] = 1; // (an id outside the layer stays in the set, as in TS)
    }
    const routed = topK(s, k - sh.length, mask);
    const set = new Int32Array(sh.length + routed.length);
    for (let i = 0; i < sh.length; i++) set[i] = sh[i];
    for (let i = 0; i < routed.length; i++) set[sh.length + i] = routed[i];
    out[l] = set.sort();
  }
  return out;
}

/** Every neuron of every layer: (nLayers) × [0, 1, …, nff-1] (the dense selection). */
export function allNeurons(nLayers: i32, nff: i32): Array<Int32Array> {
  const out = new Array<Int32Array>(max<i32>(nLayers, 0));
  for (let l = 0; l < out.length; l++) {
    const ids = new Int32Array(max<i32>(nff, 0));
    for (let j = 0; j < ids.length; j++) ids[j] = j;
    out[l] = ids;
  }
  return out;
}
