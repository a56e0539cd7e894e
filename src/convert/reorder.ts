/**
 * Neuron reordering: permute a layer's bundle rows so that neurons often selected together are adjacent,
 * so a selection is fewer, longer byte ranges (fewer requests, less read-through).
 *
 * The objective, exactly: for a selected set S in row order π, the number of contiguous ranges is
 *   ranges(S) = |S| - #{r : π[r] ∈ S and π[r+1] ∈ S}.
 * Averaged over calibration selections, E[ranges] = E|S| - Σ_r C[π[r], π[r+1]] / N, where C[i][j] counts
 * the selections holding both i and j (N selections). So minimising the mean range count is finding
 * the Hamiltonian path of maximum co-selection weight through the neurons (a travelling-salesman path).
 * reorderNeurons uses the classic greedy nearest-neighbour chain for it: start at the most often
 * selected neuron, repeatedly append the unplaced neuron most often co-selected with the last one
 * (ties: the more often selected, then the lower id); when nothing unplaced was ever co-selected with
 * it, start a new chain at the most often selected unplaced neuron. O(n²) time on the n × n counts.
 * A spectral (Fiedler-vector) ordering optimises Σ C_ij (π_i - π_j)² instead, which rewards "near" as
 * much as "adjacent"; range counts care only about adjacency, hence the chain.
 *
 * Above MAX_DENSE_NFF neurons the n × n counts get too large to hold (4·n² bytes); the order is then by
 * selection frequency alone (always-selected neurons first, never-selected last), which still packs the
 * dense part of every selection together.
 */
import { IfpruneError } from '../errors.ts';

/** Largest FFN width for which the co-selection matrix is kept (4 · 8192² bytes = 256 MiB). */
export const MAX_DENSE_NFF = 8192;

/** Co-selection counts of one layer's neurons over calibration selections. */
export class CoSelection {
  /** counts[i · nFF + j]: selections holding both i and j; the diagonal counts selections of i. Null above MAX_DENSE_NFF. */
  readonly counts: Uint32Array | null;
  /** freq[i]: selections holding i. */
  readonly freq: Uint32Array;
  /** Selections added. */
  examples = 0;

  constructor(readonly nFF: number) {
    if (!(Number.isSafeInteger(nFF) && nFF > 0)) throw new IfpruneError('bad_option', `nFF = ${nFF} must be a positive integer`);
    this.counts = nFF <= MAX_DENSE_NFF ? new Uint32Array(nFF * nFF) : null;
    this.freq = new Uint32Array(nFF);
  }

  /** Adds one selection: the ids of the neurons selected together (distinct, any order). */
  add(selected: ArrayLike<number>): void {
    const n = this.nFF;
    const ids = Uint32Array.from(selected);
    for (let a = 0; a < ids.length; a++) {
      const i = ids[a]!;
      if (!(i < n)) throw new IfpruneError('bad_option', `neuron id ${i} is outside 0..${n - 1}`);
      this.freq[i]!++;
    }
    const c = this.counts;
    if (c) {
      for (let a = 0; a < ids.length; a++) {
        const row = ids[a]! * n;
        for (let b = 0; b < ids.length; b++) c[row + ids[b]!]!++;
      }
    }
    this.examples++;
  }

  /**
   * Mean number of contiguous row ranges per added selection with rows in `perm` order (identity when
   * null): E|S| - Σ_r C[perm[r]][perm[r+1]] / N, exact from the counts. Null above MAX_DENSE_NFF.
   */
  meanRanges(perm: ArrayLike<number> | null): number | null {
    const c = this.counts;
    if (!c || this.examples === 0) return null;
    const n = this.nFF;
    let selected = 0;
    for (let i = 0; i < n; i++) selected += this.freq[i]!;
    let adjacent = 0;
    for (let r = 0; r + 1 < n; r++) adjacent += c[(perm ? perm[r]! : r) * n + (perm ? perm[r + 1]! : r + 1)]!;
    return (selected - adjacent) / this.examples;
  }
}

/**
 * A permutation of 0..nFF-1 (perm[r] = the neuron placed at row r) putting frequently co-selected
 * neurons next to each other; see the file comment for the objective and the algorithm.
 */
export function reorderNeurons(stats: CoSelection): Uint32Array {
  const n = stats.nFF;
  const freq = stats.freq;
  const c = stats.counts;
  const perm = new Uint32Array(n);
  // Frequency order: the fallback, and the order new chains start in.
  const byFreq = Uint32Array.from({ length: n }, (_, i) => i).sort((a, b) => freq[b]! - freq[a]! || a - b);
  if (!c) return byFreq;

  const placed = new Uint8Array(n);
  let nextStart = 0; // index into byFreq of the next chain start candidate
  let cur = byFreq[0]!;
  for (let r = 0; r < n; r++) {
    perm[r] = cur;
    placed[cur] = 1;
    if (r === n - 1) break;
    // most co-selected unplaced neighbour of cur
    const row = cur * n;
    let best = -1;
    let bestC = 0;
    for (let j = 0; j < n; j++) {
      if (placed[j]) continue;
      const cj = c[row + j]!;
      if (cj > bestC || (cj === bestC && cj > 0 && (freq[j]! > freq[best]! || (freq[j] === freq[best] && j < best)))) {
        best = j;
        bestC = cj;
      }
    }
    if (best < 0) {
      while (placed[byFreq[nextStart]!]) nextStart++;
      best = byFreq[nextStart]!;
    }
    cur = best;
  }
  return perm;
}

/** The inverse permutation: inv[perm[r]] = r (the row holding each neuron). */
export function invertPermutation(perm: ArrayLike<number>): Uint32Array {
  const inv = new Uint32Array(perm.length);
  for (let r = 0; r < perm.length; r++) inv[perm[r]!] = r;
  return inv;
}

/** Contiguous row ranges a selection of neurons occupies when rows are in `perm` order (identity when null). */
export function countRanges(selected: ArrayLike<number>, perm: ArrayLike<number> | null, nFF: number): number {
  const inv = perm ? invertPermutation(perm) : null;
  const rows = new Uint8Array(nFF + 1);
  for (let a = 0; a < selected.length; a++) rows[inv ? inv[selected[a]!]! : selected[a]!] = 1;
  let ranges = 0;
  for (let r = 0; r < nFF; r++) if (rows[r] && !rows[r + 1]) ranges++;
  return ranges;
}
