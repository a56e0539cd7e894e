/**
 * Turning neuron scores into the per-layer neuron sets a predictor hands the engine: top-k by score,
 * optionally after an always-on ("shared") set, as production IFPruning systems keep a few neurons
 * resident for every instruction and route the rest.
 */
import { IfpruneError } from '../errors.ts';

/** Neurons per layer at `density` of n_ff (at least 1 when density > 0). */
export function neuronsAt(density: number, nff: number): number {
  if (!(density >= 0 && density <= 1)) throw new IfpruneError('bad_option', `density = ${density}: expected a number in [0, 1]`);
  return density === 0 ? 0 : Math.max(1, Math.round(density * nff));
}

/** The ids of the k largest scores (ties: lower id first), ascending. */
export function topK(scores: ArrayLike<number>, k: number, exclude?: Uint8Array): Int32Array {
  const n = scores.length;
  const idx: number[] = [];
  for (let j = 0; j < n; j++) if (!exclude?.[j]) idx.push(j);
  idx.sort((a, b) => scores[b]! - scores[a]! || a - b);
  return Int32Array.from(idx.slice(0, k)).sort();
}

/**
 * Per layer: the shared ids (always on, up to k of them) plus the top scores among the rest, k in all.
 * `shared[l]` may be empty.
 */
export function selectLayers(scores: ArrayLike<number>[], k: number, shared?: Int32Array[]): Int32Array[] {
  return scores.map((s, l) => {
    const sh = shared?.[l] ?? new Int32Array(0);
    if (sh.length >= k) return Int32Array.from(sh.subarray(0, k)).sort();
    const mask = new Uint8Array(s.length);
    for (const j of sh) mask[j] = 1;
    const routed = topK(s, k - sh.length, mask);
    return Int32Array.from([...sh, ...routed]).sort();
  });
}

/** |a ∩ b| / |b| for sorted id sets. */
export function recall(a: Int32Array, b: Int32Array): number {
  if (b.length === 0) return 1;
  let i = 0;
  let j = 0;
  let hit = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) hit++, i++, j++;
    else if (a[i]! < b[j]!) i++;
    else j++;
  }
  return hit / b.length;
}
